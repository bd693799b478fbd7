import Benchmarking
import Foundation
import Reporting

/// One row of the bench report.
struct BenchResult: Codable {
    let name: String
    let family: String
    let parameters: [String: Int]
    let variant: String?
    let backend: String
    let unit: String
    /// What the output was checked against: "float64 reference", "cpu"/"opencl" (the other
    /// backend), or "none" (no host reference and no other backend).
    var checkedAgainst = "none"
    var checkError: Double?
    var failure: String?
    var medianSeconds: Double?
    var minSeconds: Double?
    var maxSeconds: Double?
    var throughput: Double?
    /// OpenCL only: the kernels' device time in one run (profiling events).
    var kernelSeconds: Double?
    /// OpenCL only: host reads that wait for the queue, and uploads, in one run.
    var blockingReads: Int?
    var uploads: Int?
    /// OpenCL's speed relative to the CPU path on the same case (CPU time / OpenCL time).
    var speedupOverCPU: Double?

    init(_ benchCase: BenchmarkCase, backend: String) {
        (name, family, parameters, variant, unit) = (benchCase.name, benchCase.family, benchCase.parameters, benchCase.variant, benchCase.unit)
        self.backend = backend
    }

    /// Checks `output` against the float64 reference when the case has one, else against the
    /// other backend's output when there is one (the training step, looser: its losses go through
    /// three steps of float32 rounding on two different paths).
    mutating func check(_ output: [Float], expected: ExpectedOutput?, other: (backend: String, output: [Float])?) {
        let tolerance: Double
        if let expected {
            (checkedAgainst, checkError, tolerance) = ("float64 reference", expected.error(of: output), 1e-4)
        } else if let other {
            (checkedAgainst, checkError, tolerance) = (other.backend, normwiseError(output, other.output), 1e-3)
        } else {
            return
        }
        if let checkError, !(checkError <= tolerance) {
            failure = "max-abs error / max-abs value \(checkError) > \(tolerance) against the \(checkedAgainst == "float64 reference" ? checkedAgainst : "\(checkedAgainst) backend")"
        }
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

    static let headers = ["case", "backend", "median ms", "min ms", "max ms", "kernel ms", "throughput", "unit", "opencl/cpu", "checked against"]

    /// The cells of each row (failed cases say so in place of the times).
    static func rows(_ results: [BenchResult]) -> [[String]] {
        withRatios(results).map { r in
            guard r.failure == nil, let median = r.medianSeconds else { return [r.name, r.backend, "FAILED", "", "", "", "", "", "", r.failure ?? ""] }
            return [r.name, r.backend, String(format: "%.3f", median * 1e3), String(format: "%.3f", (r.minSeconds ?? 0) * 1e3),
                    String(format: "%.3f", (r.maxSeconds ?? 0) * 1e3), r.kernelSeconds.map { String(format: "%.3f", $0 * 1e3) } ?? "",
                    String(format: "%.1f", r.throughput ?? 0), r.unit,
                    r.speedupOverCPU.map { String(format: "%.3gx", $0) } ?? "",
                    r.checkError.map { String(format: "%@ (%.1e)", r.checkedAgainst, $0) } ?? r.checkedAgainst]
        }
    }

    static func table(_ results: [BenchResult]) -> String {
        TextTable.render(headers: headers, rows: rows(results), alignRight: [2, 3, 4, 5, 6, 8])
    }

    static func csv(_ results: [BenchResult]) -> String {
        func field(_ text: String) -> String { text.contains(where: { $0 == "," || $0 == "\"" }) ? "\"\(text.replacingOccurrences(of: "\"", with: "\"\""))\"" : text }
        return ([headers] + rows(results)).map { $0.map(field).joined(separator: ",") }.joined(separator: "\n")
    }

    static func json(_ results: [BenchResult]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(withRatios(results)), as: UTF8.self)
    }

    /// Throughput per case and backend, one panel per unit.
    static func chart(_ results: [BenchResult]) -> String {
        let units = results.map(\.unit).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let panels = units.map { unit in
            let names = results.filter { $0.unit == unit }.map(\.name).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return BarPanel(title: unit, unit: unit, groups: names.map { name in
                BarGroup(label: name, values: Dictionary(results.filter { $0.name == name }.map { ($0.backend, $0.throughput ?? .nan) }, uniquingKeysWith: { a, _ in a }))
            })
        }
        let series = results.map(\.backend).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        return BarChartSVG.render(title: "aligncl bench: throughput by case and backend", series: series, panels: panels)
    }
}
