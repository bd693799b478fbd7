// How results are compared, and the inputs they are computed from: shared by `aligncl bench`,
// the package benchmarks and the tests.

/// max |got − expected| / max(max |expected|, floor) over finite expected entries; infinity when
/// a NaN appears, an infinity differs, or the counts differ. The normwise measure every parity
/// test uses (elementwise bounds fail on near-zero entries of long reductions). `floor` keeps a
/// result that is zero up to rounding (the gradient of a saturated softmax) from dividing by ~0.
public func normwiseError(_ got: [Float], _ expected: [Double], floor: Double = 0) -> Double {
    guard got.count == expected.count else { return .infinity }
    var maxError = 0.0, maxValue = 0.0
    for (g, e) in zip(got, expected) {
        if g.isNaN || e.isNaN { return .infinity }
        if e.isInfinite || g.isInfinite {
            if Double(g) != e { return .infinity }
            continue
        }
        maxError = max(maxError, abs(Double(g) - e))
        maxValue = max(maxValue, abs(e))
    }
    let denominator = max(maxValue, floor)
    return denominator == 0 ? maxError : maxError / denominator
}

/// The same measure between two float64 arrays (finite-difference checks).
public func normwiseError(_ got: [Double], _ expected: [Double]) -> Double {
    normwiseError(got.map { Float($0) }, expected)
}

/// The same measure against a float32 result (one backend against another).
public func normwiseError(_ got: [Float], _ expected: [Float]) -> Double {
    normwiseError(got, expected.map(Double.init))
}

/// Reproducible values uniform in [-1, 1) (SplitMix64): the same inputs on every run and backend.
public struct SeededValues {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 }

    public mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }

    /// `count` values from a generator seeded with `seed`.
    public static func values(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var generator = SeededValues(seed: seed)
        return generator.array(count, scale: scale)
    }

    public mutating func array(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in next() * scale }
    }
}
