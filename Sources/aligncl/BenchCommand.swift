import ArgumentParser
import Benchmarking
import Compute
import Foundation
import Training

enum BenchFamily: String, ExpressibleByArgument, CaseIterable {
    case gemm, softmax, attention, infonce, layernorm, trainStep = "train-step", dispatch, copy
}

enum BenchPreset: String, ExpressibleByArgument, CaseIterable {
    case quick, standard, large
}

enum BenchFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time kernels and a training step on OpenCL and the CPU path, after checking each result against the other backend.",
        discussion: """
        Families (default: all): gemm (N or MxNxK), softmax (ROWSxCOLUMNS; forward and backward), \
        attention (BxHxLxD self-attention; fwd and fwd+bwd), infonce (NxD symmetric diagonal loss, \
        τ = 0.07; fwd and fwd+bwd), layernorm (ROWSxCOLUMNS; fwd and fwd+bwd), train-step (BATCH, or \
        BATCHxWIDTHxLAYERS: one CLIP step — forward, backward, AdamW — of a text transformer and a ViT, \
        default 4 layers of width 256), dispatch (a count of tiny kernels chained with one wait: the \
        per-op cost), copy (a float count: the memory bandwidth the others are bounded by).

        Presets: quick (small sizes, under 2 minutes on a 2-core CPU), standard (the sizes of \
        docs/performance.md and the peer comparison), large. --sizes replaces the preset's sizes \
        and needs exactly one family.

        Before timing, each case's result is checked (max-abs error / max-abs value ≤ 1e-4) against \
        a float64 reference computed on the host (sampled entries for GEMM, softmax and attention). \
        The training step has no host reference: its three losses are checked against the other \
        backend (≤ 1e-3) when both run, and reported unchecked when one runs alone. The report's \
        "checked against" column says which. A mismatch is reported, the case is marked failed and \
        not timed. Then --warmup runs and --repetitions timed runs (wall clock, waiting for the \
        device). Results on stdout or --output; progress on stderr.
        """)

    @Argument(help: "Families to run: \(BenchFamily.allCases.map(\.rawValue).joined(separator: ", ")) (default: all).")
    var families: [BenchFamily] = []

    @Option(help: "Sizes: quick, standard or large.")
    var preset: BenchPreset = .standard

    @Option(parsing: .upToNextOption, help: "Explicit sizes for the one family given (see above).")
    var sizes: [String] = []

    @Option(help: "Comma-separated backends to time: opencl, cpu (without a usable OpenCL device, the CPU path alone, said on stderr).")
    var backends = "opencl,cpu"

    @Option(help: "Untimed runs before timing.")
    var warmup = 2

    @Option(help: "Timed runs per case and backend (default: 10, 3 for the large preset).")
    var repetitions: Int?

    @Option(help: "Output format: table, json or csv.")
    var format: BenchFormat = .table

    @Option(help: "Write the results to this file instead of stdout (atomically).")
    var output: String?

    @Option(help: "Also write an SVG chart of throughput per case and backend.")
    var plot: String?

    @Flag(help: "OpenCL: print on stderr where each case's kernel time goes, per kernel.")
    var profile = false

    @OptionGroup var backendOptions: BackendOptions

    func validate() throws {
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more, got \(warmup)") }
        if let repetitions, repetitions < 1 { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
        if !sizes.isEmpty, families.count != 1 {
            throw ValidationError("--sizes needs exactly one family (e.g. `aligncl bench gemm --sizes 512 1024`), got \(families.count)")
        }
    }

    func run() throws {
        let backendsToRun = try selectBackends()
        let cases = try (families.isEmpty ? BenchFamily.allCases : families).flatMap { try BenchSizes.cases($0, preset: preset, sizes: sizes) }
        let repetitions = self.repetitions ?? (preset == .large ? 3 : 10)
        var results: [BenchResult] = []
        for (index, benchCase) in cases.enumerated() {
            let outputs = try backendsToRun.map { try benchCase.run(on: $0) }
            let expected = benchCase.expected?()
            for (position, (backend, output)) in zip(backendsToRun, outputs).enumerated() {
                printError("aligncl: bench [\(index + 1)/\(cases.count)] \(benchCase.name) on \(backend.summary.kind.rawValue)…")
                var result = BenchResult(benchCase, backend: backend.summary.kind.rawValue)
                let other = backendsToRun.indices.first { $0 != position }.map { (backendsToRun[$0].summary.kind.rawValue, outputs[$0]) }
                result.check(output, expected: expected, other: other)
                if let failure = result.failure {
                    printError("aligncl: bench \(benchCase.name) on \(result.backend): FAILED check: \(failure)")
                } else {
                    try measure(benchCase, on: backend, into: &result, repetitions: repetitions)
                }
                results.append(result)
            }
        }
        backendsToRun.forEach(backendOptions.reportUsage)
        let text: String
        switch format {
        case .table: text = BenchResult.table(results)
        case .json: text = try BenchResult.json(results)
        case .csv: text = BenchResult.csv(results)
        }
        if let output {
            try OutputWriter.writeFile(text + "\n", to: URL(fileURLWithPath: output))
            printError("aligncl: wrote \(output)")
        } else {
            print(text)
        }
        if let plot {
            try OutputWriter.writeFile(BenchResult.chart(results), to: URL(fileURLWithPath: plot))
            printError("aligncl: wrote \(plot)")
        }
        if results.contains(where: { $0.failure != nil }) {
            throw CLIError("\(results.filter { $0.failure != nil }.count) case(s) failed their check (see the checked-against column)")
        }
    }

    /// The backends named by --backends (or --backend); OpenCL missing is said, and skipped.
    private func selectBackends() throws -> [any Backend] {
        var request = try backendOptions.request()
        let names = backendOptions.backend != nil ? [request.choice.rawValue] : backends.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var selected: [any Backend] = []
        for name in names {
            switch BackendChoice(rawValue: name) {
            case .cpu: selected.append(CPUBackend())
            case .opencl, .auto:
                request.choice = name == "auto" ? .auto : .opencl
                do {
                    selected.append(try backendOptions.resolve(request))
                } catch let error as BackendError {
                    guard names.contains("cpu") else { throw CLIError(error.description) }
                    printError("aligncl: bench: no usable OpenCL device, running the CPU path alone: \(error)")
                }
            case nil: throw CLIError("--backends takes opencl and cpu, got '\(name)'")
            }
        }
        return selected
    }

    private func measure(_ benchCase: BenchmarkCase, on backend: any Backend, into result: inout BenchResult, repetitions: Int) throws {
        let prepared = try benchCase.prepare(backend)
        for _ in 0..<warmup { try prepared() }
        var seconds: [Double] = []
        for _ in 0..<repetitions {
            let start = DispatchTime.now().uptimeNanoseconds
            try prepared()
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        seconds.sort()
        result.medianSeconds = seconds[seconds.count / 2]
        result.minSeconds = seconds.first
        result.maxSeconds = seconds.last
        result.throughput = benchCase.work / result.medianSeconds! / benchCase.unitScale
        // One more run under OpenCL profiling: how much of the wall time the kernels take on
        // the device (the rest is dispatch, host work and transfers).
        if let openCL = backend as? OpenCLBackend {
            let profile = try openCL.kernelProfile { try prepared() }
            result.kernelSeconds = profile.values.reduce(0, +)
            let transfers = try openCL.hostTransfers { try prepared() }
            (result.blockingReads, result.uploads) = (transfers.blockingReads, transfers.uploads)
            if self.profile {
                let top = profile.sorted { $0.value > $1.value }.prefix(8)
                    .map { String(format: "%@ %.2f ms (%.0f%%)", $0.key, $0.value * 1e3, 100 * $0.value / max(result.kernelSeconds!, 1e-12)) }
                printError("aligncl: bench \(benchCase.name): kernel time by kernel: \(top.joined(separator: ", "))")
                printError("aligncl: bench \(benchCase.name): per run, \(transfers.blockingReads) blocking host reads and \(transfers.uploads) uploads")
            }
        }
    }
}

/// The sizes of each family per preset, and parsing of explicit `--sizes`.
enum BenchSizes {
    static func defaults(_ family: BenchFamily, _ preset: BenchPreset) -> [String] {
        switch (family, preset) {
        case (.gemm, .quick): ["512"]
        case (.gemm, .standard): ["1024", "2048"]
        case (.gemm, .large): ["2048", "4096"]
        case (.softmax, .quick): ["1024x1024"]
        case (.softmax, .standard): ["4096x4096"]
        case (.softmax, .large): ["8192x8192"]
        case (.attention, .quick): ["2x4x256x64"]
        case (.attention, .standard): ["4x8x1024x64"]
        case (.attention, .large): ["8x8x2048x64"]
        case (.infonce, .quick): ["1024x256"]
        case (.infonce, .standard): ["4096x256"]
        case (.infonce, .large): ["8192x512"]
        case (.layernorm, .quick): ["4096x256"]
        case (.layernorm, .standard): ["16384x1024"]
        case (.layernorm, .large): ["65536x1024"]
        case (.trainStep, .quick): ["16x128x2"]
        case (.trainStep, .standard): ["64"]
        case (.trainStep, .large): ["256"]
        case (.dispatch, .quick), (.dispatch, .standard): ["1000"]
        case (.dispatch, .large): ["10000"]
        case (.copy, .quick): ["4194304"]
        case (.copy, .standard): ["16777216"]
        case (.copy, .large): ["67108864"]
        }
    }

    static func cases(_ family: BenchFamily, preset: BenchPreset, sizes: [String]) throws -> [BenchmarkCase] {
        try (sizes.isEmpty ? defaults(family, preset) : sizes).flatMap { text -> [BenchmarkCase] in
            let fields = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            let parts = fields.compactMap { Int($0) }
            func fail(_ expected: String) -> CLIError { CLIError("\(family.rawValue) size must be \(expected) with positive integers, got '\(text)'") }
            guard parts.count == fields.count, parts.allSatisfy({ $0 >= 1 }) else { throw fail("a number or numbers joined by x") }
            switch family {
            case .gemm:
                guard parts.count == 1 || parts.count == 3 else { throw fail("N or MxNxK") }
                return [try parts.count == 1 ? .gemm(m: parts[0], n: parts[0], k: parts[0]) : .gemm(m: parts[0], n: parts[1], k: parts[2])]
            case .softmax:
                guard parts.count == 2 else { throw fail("ROWSxCOLUMNS") }
                return try [false, true].map { try BenchmarkCase.softmax(rows: parts[0], columns: parts[1], backward: $0) }
            case .attention:
                guard parts.count == 4 else { throw fail("BxHxLxD") }
                return try [false, true].map { try BenchmarkCase.attention(batch: parts[0], heads: parts[1], length: parts[2], dimension: parts[3], backward: $0) }
            case .infonce:
                guard parts.count == 2 else { throw fail("NxD") }
                return try [false, true].map { try BenchmarkCase.infoNCE(rows: parts[0], dimension: parts[1], backward: $0) }
            case .layernorm:
                guard parts.count == 2 else { throw fail("ROWSxCOLUMNS") }
                return try [false, true].map { try BenchmarkCase.layerNorm(rows: parts[0], columns: parts[1], backward: $0) }
            case .trainStep:
                guard parts.count == 1 || parts.count == 3, parts.count == 1 || parts[1] % 4 == 0 else { throw fail("BATCH or BATCHxWIDTHxLAYERS (width a multiple of 4)") }
                return [parts.count == 1 ? TrainStepBenchmark.benchmarkCase(batch: parts[0])
                                         : TrainStepBenchmark.benchmarkCase(batch: parts[0], width: parts[1], layers: parts[2])]
            case .dispatch:
                guard parts.count == 1 else { throw fail("a kernel count") }
                return [.dispatch(kernels: parts[0])]
            case .copy:
                guard parts.count == 1 else { throw fail("a float count") }
                return [.copy(count: parts[0])]
            }
        }
    }
}
