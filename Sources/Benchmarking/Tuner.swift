import CLRuntime
import Compute
import Foundation

/// A kernel family `aligncl tune` searches, with its parameters and the shapes it times.
public enum TuningFamily: String, CaseIterable, Sendable {
    case gemm, attention, softmax

    /// The cases a candidate is checked and timed on: `quick` for tests and CI, otherwise
    /// shapes like a training step's (square and skinny GEMMs, a ViT-sized attention).
    public func shapes(quick: Bool) throws -> [BenchmarkCase] {
        switch (self, quick) {
        case (.gemm, true): [try .gemm(m: 192, n: 160, k: 128), try .gemm(m: 300, n: 64, k: 96)]
        case (.gemm, false): [try .gemm(m: 1024, n: 1024, k: 1024), try .gemm(m: 4096, n: 256, k: 256)]
        case (.attention, true): [try .attention(batch: 1, heads: 2, length: 96, dimension: 32, backward: true)]
        case (.attention, false): [try .attention(batch: 2, heads: 8, length: 512, dimension: 64, backward: true)]
        case (.softmax, true): [try .softmax(rows: 64, columns: 500, backward: false)]
        case (.softmax, false): [try .softmax(rows: 2048, columns: 2048, backward: false)]
        }
    }

    /// One axis of the search: a parameter's name and the tunings for each of its values.
    struct Axis {
        let name: String
        let values: [Int]
        let set: (inout OpenCLTuning, Int) -> Void
        let get: (OpenCLTuning) -> Int
    }

    /// The axes searched on `base`'s variant, each value bounded by the device's limits; empty
    /// where the variant has nothing to tune in this family.
    func axes(for base: OpenCLTuning) -> [Axis] {
        let limits = base.limits
        switch (self, base.variant) {
        case (.gemm, .cpu):
            return [
                Axis(name: "micro-tile rows", values: [4, 6, 8, 12], set: { $0.gemmMicroRows = $1 }, get: \.gemmMicroRows),
                Axis(name: "micro-tile columns", values: [16, 32], set: { $0.gemmMicroColumns = $1 }, get: \.gemmMicroColumns),
                Axis(name: "tiles per item (M)", values: [4, 8, 16, 32], set: { $0.gemmTilesPerItemM = $1 }, get: \.gemmTilesPerItemM),
                Axis(name: "tiles per item (N)", values: [1, 2], set: { $0.gemmTilesPerItemN = $1 }, get: \.gemmTilesPerItemN),
            ]
        case (.gemm, .gpu):
            // Tile lists, preferred first; each must fit the device's work-group and `__local` memory.
            let options = GEMMTile.tuningCandidates.filter { tiles in
                tiles.allSatisfy { $0.workGroupSize <= limits.maxWorkGroupSize && $0.localBytes <= limits.localMemoryBytes }
            }
            return [Axis(name: "tile list", values: Array(options.indices), set: { $0.gemmTiles = options[$1] },
                         get: { tuning in options.firstIndex { $0 == tuning.gemmTiles } ?? -1 })]
        case (.attention, .cpu):
            return [
                Axis(name: "key block", values: [32, 48, 64, 96], set: { $0.attentionKeyBlock = $1 }, get: \.attentionKeyBlock),
                Axis(name: "query block", values: [32, 48, 64, 96], set: { $0.attentionQueryBlock = $1 }, get: \.attentionQueryBlock),
                Axis(name: "register tile", values: [4, 6, 8], set: { $0.attentionRegisterTile = $1 }, get: \.attentionRegisterTile),
            ]
        case (.attention, .gpu):
            return []
        case (.softmax, .cpu):
            return [Axis(name: "rows per group", values: [1, 2, 4, 8, 16], set: { $0.softmaxRowsPerGroup = $1 }, get: \.softmaxRowsPerGroup)]
        case (.softmax, .gpu):
            let sizes = [64, 128, 256, 512, 1024].filter { $0 <= limits.maxWorkGroupSize }
            return [Axis(name: "row work-group", values: sizes, set: { $0.rowWorkGroup = $1 }, get: \.rowWorkGroup)]
        }
    }
}

/// What tuning one family found.
public struct FamilyTuningResult: Sendable {
    public let family: TuningFamily
    /// The defaults' and the best candidate's time over the family's shapes (sums of medians).
    public let defaultSeconds: Double, bestSeconds: Double
    public let best: OpenCLTuning
    /// Candidates checked against the CPU path and timed; dropped as wrong or failing.
    public let timed: Int, dropped: Int
    /// The first few reasons candidates were dropped.
    public let dropReasons: [String]
    /// Whether the budget ran out before every candidate was tried.
    public let budgetExhausted: Bool
    /// Set when the variant has nothing to tune in this family.
    public let skipped: String?

    public var speedup: Double { bestSeconds > 0 ? defaultSeconds / bestSeconds : 1 }
}

/// Searches kernel parameters on one OpenCL device, as CLBlast's tuners do: every candidate is
/// built, run, checked against the CPU path (normwise ≤ 1e-4) and only then timed; the
/// search walks one parameter at a time from the defaults (coordinate descent), keeping a
/// change only when it is faster.
public struct Tuner {
    public let device: CLDevice
    public let programCache: ProgramCache?
    public let base: OpenCLTuning
    public let quick: Bool
    public var repetitions = 5
    /// Progress lines (stderr in the CLI).
    public var progress: (String) -> Void = { _ in }
    /// Candidates made by the caller, tried first, before the search (tests add failing ones here).
    public var extraCandidates: [TuningFamily: [OpenCLTuning]] = [:]

    public init(device: CLDevice, programCache: ProgramCache?, base: OpenCLTuning, quick: Bool) {
        (self.device, self.programCache, self.base, self.quick) = (device, programCache, base, quick)
    }

    /// Tunes `family` within `budget` seconds (the defaults are always measured, whatever the budget).
    public func tune(_ family: TuningFamily, budget: Double) throws -> FamilyTuningResult {
        let axes = family.axes(for: base)
        let start = Date()
        guard !axes.isEmpty else {
            return FamilyTuningResult(family: family, defaultSeconds: 0, bestSeconds: 0, best: base, timed: 0, dropped: 0, dropReasons: [],
                                      budgetExhausted: false, skipped: "the \(base.variant.rawValue) variant has no \(family.rawValue) parameters to tune")
        }
        let shapes = try family.shapes(quick: quick)
        let cpu = CPUBackend()
        let expected = try shapes.map { try $0.run(on: cpu) }
        var (timed, dropped, reasons) = (0, 0, [String]())
        // Candidates that build the same programs are one: keyed by their tunable parameters.
        var tried = Set<TunedParameters>()

        func measure(_ candidate: OpenCLTuning) -> Double? {
            do {
                let backend = try OpenCLBackend(device: device, programCache: programCache, tuning: candidate)
                var total = 0.0
                for (shape, reference) in zip(shapes, expected) {
                    let error = normwiseError(try shape.run(on: backend), reference)
                    guard error <= 1e-4 else { throw TuningDrop("\(shape.name): differs from the CPU path by \(error) normwise") }
                    let run = try shape.prepare(backend)
                    try run()
                    // At least `repetitions` runs and 20 ms in all, so tiny shapes are not timer noise.
                    var seconds: [Double] = []
                    while seconds.count < repetitions || seconds.reduce(0, +) < 0.02 {
                        let began = DispatchTime.now().uptimeNanoseconds
                        try run()
                        seconds.append(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9)
                    }
                    total += seconds.sorted()[seconds.count / 2]
                }
                timed += 1
                return total
            } catch {
                dropped += 1
                if reasons.count < 5 { reasons.append("\(candidate.describe(family)): \(String(describing: error).prefix(300))") }
                return nil
            }
        }

        tried.insert(base.tunableParameters)
        guard let defaultSeconds = measure(base) else {
            throw TuningDrop("the default \(family.rawValue) parameters failed on this device: \(reasons.first ?? "")")
        }
        var (best, bestSeconds) = (base, defaultSeconds)
        progress("tune \(family.rawValue): defaults (\(base.describe(family))) take \(Self.milliseconds(defaultSeconds)) over \(shapes.count) shape(s)")
        let extras = extraCandidates[family] ?? []
        var planned = axes.reduce(0) { $0 + $1.values.count - 1 } + extras.count
        var (exhausted, tries, improved) = (false, 0, false)
        /// Measures `trial` unless the budget is spent; false once it is.
        func attempt(_ trial: OpenCLTuning) -> Bool {
            let elapsed = Date().timeIntervalSince(start)
            guard elapsed <= budget else { exhausted = true; return false }
            guard tried.insert(trial.tunableParameters).inserted else { return true }
            tries += 1
            guard let seconds = measure(trial) else { return true }
            if seconds < bestSeconds { (best, bestSeconds, improved) = (trial, seconds, true) }
            let left = max(0, min(budget - elapsed, elapsed / Double(tries) * Double(max(planned - tries, 0))))
            progress(String(format: "tune %@ [%d/%d]: %@: %@ (%.2f× the defaults' speed), best %.2f×, ETA %@", family.rawValue, tries, max(planned, tries),
                            trial.describe(family), Self.milliseconds(seconds), defaultSeconds / seconds, defaultSeconds / bestSeconds, Self.duration(left)))
            return true
        }
        // Coordinate descent: every value of one parameter with the others at the best so far,
        // parameter after parameter; a second sweep when the first changed something.
        for extra in extras { guard attempt(extra) else { break } }
        search: for _ in 0..<2 {
            improved = false
            for axis in axes {
                for value in axis.values where value != axis.get(best) {
                    var trial = best
                    axis.set(&trial, value)
                    guard attempt(trial) else { break search }
                }
            }
            if !improved { break }
            planned += axes.reduce(0) { $0 + $1.values.count - 1 }
        }
        return FamilyTuningResult(family: family, defaultSeconds: defaultSeconds, bestSeconds: bestSeconds, best: best, timed: timed,
                                  dropped: dropped, dropReasons: reasons, budgetExhausted: exhausted, skipped: nil)
    }

    static func milliseconds(_ seconds: Double) -> String { String(format: "%.2f ms", seconds * 1e3) }
    static func duration(_ seconds: Double) -> String { seconds >= 60 ? String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60) : String(format: "%.0fs", seconds) }
}

/// Why a candidate (or the defaults) was not timed.
public struct TuningDrop: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension OpenCLTuning {
    /// The family's parameters in words, for progress lines and `aligncl devices`.
    public func describe(_ family: TuningFamily) -> String {
        switch (family, variant) {
        case (.gemm, .cpu): "micro-tile \(gemmMicroRows)×\(gemmMicroColumns), \(gemmTilesPerItemM)×\(gemmTilesPerItemN) tiles per item"
        case (.gemm, .gpu): "tiles " + gemmTiles.map(\.description).joined(separator: " or ")
        case (.attention, _): "key block \(attentionKeyBlock), query block \(attentionQueryBlock), register tile \(attentionRegisterTile)"
        case (.softmax, .cpu): "\(softmaxRowsPerGroup) rows per group"
        case (.softmax, .gpu): "row work-group \(rowWorkGroup)"
        }
    }
}
