import Foundation
import Testing
import TestSupport

/// `aligncl bench` checks every case against the CPU path before timing it, and reports
/// machine-readable results on stdout.
@Suite struct BenchCommandTests {
    struct Row: Decodable {
        let name: String
        let backend: String
        let checkError: Double?
        let failure: String?
        let medianSeconds: Double?
        let throughput: Double?
    }

    @Test(arguments: [("gemm", "7x13x5"), ("softmax", "3x17"), ("attention", "1x2x17x8"), ("infonce", "9x5"), ("layernorm", "5x19"),
                      ("train-step", "4x8x1"), ("dispatch", "50"), ("copy", "1000")])
    func jsonReportsEveryBackend(family: String, size: String) throws {
        let result = try AlignCLBinary.run(["bench", family, "--sizes", size, "--repetitions", "2", "--warmup", "1", "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = try JSONDecoder().decode([Row].self, from: Data(result.stdout.utf8))
        let expectedBackends: Set = TestBackends.openCLShouldRun ? ["opencl", "cpu"] : ["cpu"]
        #expect(Set(rows.map(\.backend)) == expectedBackends)
        for row in rows {
            #expect(row.failure == nil && (row.checkError ?? 1) <= 1e-4, "\(row.name) \(row.backend)")
            #expect((row.medianSeconds ?? 0) > 0 && (row.throughput ?? 0) > 0, "\(row.name) \(row.backend)")
        }
    }

    /// The whole quick preset in one run: every family, JSON with every case, CSV, and the chart.
    @Test func quickPresetCoversEveryFamilyInEveryFormat() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-bench-\(UUID().uuidString)")
        let json = directory.appendingPathComponent("bench.json").path, svg = directory.appendingPathComponent("bench.svg").path
        let result = try AlignCLBinary.run(["bench", "--preset", "quick", "--repetitions", "1", "--warmup", "0", "--format", "json",
                                            "--output", json, "--plot", svg])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty, "the results went to --output")
        #expect(result.stderr.contains("[1/"), "a progress line per case")
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [[String: Any]]
        let families = Set(rows.compactMap { $0["family"] as? String })
        #expect(families == ["gemm", "softmax", "attention", "infonce", "layernorm", "train-step", "dispatch", "copy"], "\(families)")
        #expect(rows.allSatisfy { $0["failure"] == nil && $0["parameters"] is [String: Int] })
        let chart = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(chart.contains("<svg") && chart.contains("GFLOP/s") && chart.contains("samples/s"))
        let csv = try AlignCLBinary.run(["bench", "copy", "--sizes", "64", "--repetitions", "1", "--format", "csv", "--backends", "cpu"])
        #expect(csv.stdout.split(separator: "\n").first == "case,backend,median ms,min ms,max ms,kernel ms,throughput,unit,opencl/cpu", "\(csv.stdout)")
    }

    @Test func sizesNeedOneFamily() throws {
        let result = try AlignCLBinary.run(["bench", "gemm", "softmax", "--sizes", "8", "--backends", "cpu"])
        #expect(result.status != 0 && result.stderr.contains("exactly one family"), "\(result.stderr)")
    }

    @Test func badSizesAreOneLineErrors() throws {
        let result = try AlignCLBinary.run(["bench", "gemm", "--sizes", "12x0x3", "--backends", "cpu"])
        #expect(result.status != 0 && result.stderrLines.count == 1 && result.stderr.contains("'12x0x3'"), "\(result.stderr)")
    }
}
