import Foundation

/// Where values fall along one chart axis, and the "nice" tick values (1, 2 or 5 times a power
/// of ten) labelled on it, so a reader can interpolate between round numbers.
struct AxisScale {
    struct Tick {
        var value: Double
        var label: String
    }

    let lower: Double
    let upper: Double
    let isLogarithmic: Bool
    let ticks: [Tick]

    /// Position of `value` from 0 (lower end) to 1 (upper end).
    func fraction(_ value: Double) -> Double {
        if isLogarithmic { return (log10(value) - lower) / (upper - lower) }
        let span = upper - lower
        // Only reachable for a constant series at ±Double.greatestFiniteMagnitude, which cannot be padded.
        if span == 0 { return 0.5 }
        // Halving keeps the span finite for ranges near ±Double.greatestFiniteMagnitude.
        if !span.isFinite { return (value / 2 - lower / 2) / (upper / 2 - lower / 2) }
        return (value - lower) / span
    }

    /// Tolerance for rounding when a bound divided by the step should be a whole number
    /// (0.3 / 0.1 is 2.9999999999999996, which must not add a tick below the data).
    private static let wholeTolerance = 1e-9
    private static let maximumTicks = 60

    /// A linear axis covering `range`, widened to whole tick steps, with about `targetTicks` ticks.
    /// A range of one value is padded so a constant series sits in the middle, not on an edge.
    static func linear(_ range: ClosedRange<Double>, targetTicks: Int) -> AxisScale {
        var low = range.lowerBound, high = range.upperBound
        if high - low <= max(abs(low), abs(high)) * 1e-12 {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            if (low - pad).isFinite && (high + pad).isFinite { (low, high) = (low - pad, high + pad) }
        }
        let step = niceStep((high - low) / Double(max(1, targetTicks)))
        let first = (low / step + wholeTolerance).rounded(.down)
        let last = (high / step - wholeTolerance).rounded(.up)
        guard step.isFinite, step > 0, (first * step).isFinite, (last * step).isFinite,
              last - first < Double(maximumTicks) else {
            // Ranges too extreme for stepping (a span or a rounded-out end overflowing a Double):
            // label just the ends.
            return AxisScale(lower: low, upper: high, isLogarithmic: false,
                             ticks: [Tick(value: low, label: compactLabel(low)), Tick(value: high, label: compactLabel(high))])
        }
        let values = stride(from: first, through: last, by: 1).map { index -> Double in
            let value = index * step
            // A tick at -0.0 would print as "-0".
            return abs(value) < step * 1e-6 ? 0 : value
        }
        let labels = linearLabels(values, step: step)
        return AxisScale(lower: first * step, upper: last * step, isLogarithmic: false,
                         ticks: zip(values, labels).map { Tick(value: $0, label: $1) })
    }

    /// A base-10 logarithmic axis over whole decades covering `range` (all positive). Up to two
    /// decades also get ticks at 2× and 5×, since decades alone would leave only two or three labels.
    static func logarithmic(_ range: ClosedRange<Double>) -> AxisScale {
        // Decades whose powers of ten are finite and non-zero Doubles, or the tick values break.
        let (smallestExponent, largestExponent) = (-323.0, 308.0)
        var low = max(smallestExponent, log10(range.lowerBound).rounded(.down))
        var high = min(largestExponent, log10(range.upperBound).rounded(.up))
        if high <= low { (low, high) = (max(smallestExponent, low - 1), min(largestExponent, high + 1)) }
        let decades = high - low
        let decadeStride = max(1, (decades / 6).rounded(.up))
        var ticks: [Tick] = []
        for exponent in stride(from: low, through: high, by: decadeStride) {
            let decade = pow(10, exponent)
            ticks.append(Tick(value: decade, label: compactLabel(decade)))
            if decades <= 2 && exponent < high {
                for multiple in [2.0, 5.0] {
                    ticks.append(Tick(value: multiple * decade, label: compactLabel(multiple * decade)))
                }
            }
        }
        return AxisScale(lower: low, upper: high, isLogarithmic: true, ticks: ticks)
    }

    /// The 1, 2 or 5 times a power of ten nearest to `rawStep`. Nearest rather than next above:
    /// rounding up can leave a third of the axis empty (data to 49 on an axis to 60).
    static func niceStep(_ rawStep: Double) -> Double {
        guard rawStep.isFinite, rawStep > 0 else { return 1 }
        let magnitude = pow(10, log10(rawStep).rounded(.down))
        let leading = rawStep / magnitude
        let nice: Double = leading < 1.5 ? 1 : leading < 3 ? 2 : leading < 7 ? 5 : 10
        return nice * magnitude
    }

    /// Labels with just the decimals the step needs ("0.25" would not occur; "0.05" needs two),
    /// switching to exponent notation where fixed notation would be long.
    private static func linearLabels(_ values: [Double], step: Double) -> [String] {
        let decimals = max(0, Int((-log10(step) - wholeTolerance).rounded(.up)))
        let largest = values.map(abs).max() ?? 0
        if largest >= 1e6 || decimals > 5 { return values.map(compactLabel) }
        return values.map { String(format: "%.\(decimals)f", $0) }
    }

    /// Shortest general form: "0.001", "20", "1e+06".
    static func compactLabel(_ value: Double) -> String {
        String(format: "%g", value)
    }
}
