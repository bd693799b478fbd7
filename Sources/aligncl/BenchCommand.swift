import ArgumentParser
import Benchmarking
import Compute
import Foundation

enum BenchFamily: String, ExpressibleByArgument, CaseIterable {
    case gemm, softmax, attention, infonce, copy
}

enum BenchFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time kernels on OpenCL and the CPU path, after checking each result against the CPU path.",
        discussion: """
        Sizes: gemm takes N (an N×N×N product) or MxNxK; softmax takes ROWSxCOLUMNS and times the \
        forward and the backward; attention takes BxHxLxD (self-attention) and times the forward and \
        forward+backward; infonce takes NxD (symmetric diagonal loss of N×D against N×D, τ = 0.07) and \
        times the forward and forward+backward; copy takes a float count and measures the memory bandwidth the \
        other cases are bounded by. Defaults: gemm 1024 and 2048, softmax 4096x4096, attention 8x8x256x64 and \
        4x8x1024x64, infonce 256x512, 1024x512 and 4096x256, copy 16777216. Each case is \
        checked once (max-abs error / max-abs value ≤ 1e-4 against the CPU path); a mismatch is \
        reported and the case is not timed. Then --warmup runs, then --repetitions timed runs \
        (wall clock including the wait for the device). Results on stdout, progress on stderr.
        """)

    @Argument(help: "Kernel family: \(BenchFamily.allCases.map(\.rawValue).joined(separator: ", ")).")
    var family: BenchFamily

    @Option(help: "Comma-separated backends to time: opencl, cpu.")
    var backends = "opencl,cpu"

    @Option(parsing: .upToNextOption, help: "Sizes to run (see above).")
    var sizes: [String] = []

    @Option(help: "Untimed runs before timing.")
    var warmup = 2

    @Option(help: "Timed runs per case and backend.")
    var repetitions = 10

    @Option(help: "Output format: table or json.")
    var format: BenchFormat = .table

    @OptionGroup var backendOptions: BackendOptions

    func validate() throws {
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more, got \(warmup)") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
    }

    func run() throws {
        let backendsToRun = try selectBackends()
        let reference = CPUBackend()
        let cases = try benchmarkCases()
        var results: [BenchResult] = []
        for benchCase in cases {
            let expected = try benchCase.run(on: reference)
            for backend in backendsToRun {
                printError("aligncl: bench \(benchCase.name) on \(backend.summary.kind.rawValue)…")
                results.append(try measure(benchCase, on: backend, expected: expected))
            }
        }
        backendsToRun.forEach(backendOptions.reportUsage)
        switch format {
        case .table: print(BenchResult.table(results))
        case .json: print(try BenchResult.json(results))
        }
        if results.contains(where: { $0.failure != nil }) {
            throw CLIError("\(results.filter { $0.failure != nil }.count) case(s) failed the check against the CPU path")
        }
    }

    /// The backends named by --backends (or --backend); OpenCL missing is said, and skipped.
    private func selectBackends() throws -> [any Backend] {
        var request = try backendOptions.request()
        let names: [String]
        if backendOptions.backend != nil {
            names = [request.choice.rawValue]
        } else {
            names = backends.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
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
                    printError("aligncl: bench: skipping opencl: \(error)")
                }
            case nil: throw CLIError("--backends takes opencl and cpu, got '\(name)'")
            }
        }
        return selected
    }

    private func benchmarkCases() throws -> [BenchmarkCase] {
        switch family {
        case .gemm:
            let shapes = try (sizes.isEmpty ? ["1024", "2048"] : sizes).map { text -> (Int, Int, Int) in
                let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
                guard text.lowercased().split(separator: "x").count == parts.count, parts.allSatisfy({ $0 >= 1 }) else {
                    throw CLIError("gemm size must be N or MxNxK with positive integers, got '\(text)'")
                }
                switch parts.count {
                case 1: return (parts[0], parts[0], parts[0])
                case 3: return (parts[0], parts[1], parts[2])
                default: throw CLIError("gemm size must be N or MxNxK, got '\(text)'")
                }
            }
            return shapes.map { BenchmarkCase.gemm(m: $0.0, n: $0.1, k: $0.2) }
        case .attention:
            return try (sizes.isEmpty ? ["8x8x256x64", "4x8x1024x64"] : sizes).flatMap { text -> [BenchmarkCase] in
                let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
                guard parts.count == 4, text.lowercased().split(separator: "x").count == 4, parts.allSatisfy({ $0 >= 1 }) else {
                    throw CLIError("attention size must be BxHxLxD with positive integers, got '\(text)'")
                }
                return [false, true].map { BenchmarkCase.attention(batch: parts[0], heads: parts[1], length: parts[2], dimension: parts[3], backward: $0) }
            }
        case .infonce:
            return try (sizes.isEmpty ? ["256x512", "1024x512", "4096x256"] : sizes).flatMap { text -> [BenchmarkCase] in
                let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
                guard parts.count == 2, text.lowercased().split(separator: "x").count == 2, parts.allSatisfy({ $0 >= 1 }) else {
                    throw CLIError("infonce size must be NxD with positive integers, got '\(text)'")
                }
                return [false, true].map { BenchmarkCase.infoNCE(rows: parts[0], dimension: parts[1], backward: $0) }
            }
        case .copy:
            return try (sizes.isEmpty ? ["16777216"] : sizes).map { text in
                guard let count = Int(text), count >= 1 else { throw CLIError("copy size must be a positive float count, got '\(text)'") }
                return BenchmarkCase.copy(count: count)
            }
        case .softmax:
            let shapes = try (sizes.isEmpty ? ["4096x4096"] : sizes).map { text -> (Int, Int) in
                let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
                guard parts.count == 2, text.lowercased().split(separator: "x").count == 2, parts.allSatisfy({ $0 >= 1 }) else {
                    throw CLIError("softmax size must be ROWSxCOLUMNS with positive integers, got '\(text)'")
                }
                return (parts[0], parts[1])
            }
            return shapes.flatMap { [BenchmarkCase.softmax(rows: $0.0, columns: $0.1, backward: false),
                                     BenchmarkCase.softmax(rows: $0.0, columns: $0.1, backward: true)] }
        }
    }

    private func measure(_ benchCase: BenchmarkCase, on backend: any Backend, expected: [Float]) throws -> BenchResult {
        var result = BenchResult(name: benchCase.name, backend: backend.summary.kind.rawValue, unit: benchCase.unit)
        let got = try benchCase.run(on: backend)
        let error = normwiseError(got, expected)
        result.checkError = error
        guard error <= 1e-4 else {
            result.failure = "max-abs error / max-abs value \(error) > 1e-4 against the CPU path"
            printError("aligncl: bench \(benchCase.name) on \(result.backend): FAILED check: \(result.failure!)")
            return result
        }
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
        result.throughput = benchCase.work / result.medianSeconds! / 1e9
        return result
    }
}

/// One row of the report.
struct BenchResult: Codable {
    let name: String
    let backend: String
    let unit: String
    var checkError: Double?
    var failure: String?
    var medianSeconds: Double?
    var minSeconds: Double?
    var maxSeconds: Double?
    var throughput: Double?
    /// OpenCL's speed relative to the CPU path on the same case (CPU time / OpenCL time).
    var speedupOverCPU: Double?

    init(name: String, backend: String, unit: String) {
        self.name = name
        self.backend = backend
        self.unit = unit
    }

    static func withRatios(_ results: [BenchResult]) -> [BenchResult] {
        results.map { result in
            var result = result
            if result.backend == "opencl", let time = result.medianSeconds,
               let cpu = results.first(where: { $0.name == result.name && $0.backend == "cpu" })?.medianSeconds {
                result.speedupOverCPU = cpu / time
            }
            return result
        }
    }

    static func table(_ results: [BenchResult]) -> String {
        let header = ["case", "backend", "median ms", "min ms", "max ms", "throughput", "opencl/cpu"]
        let rows = withRatios(results).map { r -> [String] in
            guard r.failure == nil, let median = r.medianSeconds else {
                return [r.name, r.backend, "FAILED", "", "", r.failure ?? "", ""]
            }
            return [r.name, r.backend, String(format: "%.3f", median * 1e3), String(format: "%.3f", (r.minSeconds ?? 0) * 1e3),
                    String(format: "%.3f", (r.maxSeconds ?? 0) * 1e3), String(format: "%.1f %@", r.throughput ?? 0, r.unit),
                    r.speedupOverCPU.map { String(format: "%.2fx", $0) } ?? ""]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func json(_ results: [BenchResult]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(withRatios(results)), as: UTF8.self)
    }
}
