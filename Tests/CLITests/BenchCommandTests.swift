import Benchmarking
import Foundation
import Testing
import TestSupport

/// `aligncl bench` checks every case against a float64 reference (the training step against the
/// other backend) before timing it, and reports machine-readable results on stdout.
@Suite struct BenchCommandTests {
    struct Row: Decodable {
        let name: String
        let backend: String
        let checkedAgainst: String
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
            // The training step alone has nothing to be checked against, and says so.
            let other = rows.first { $0.backend != row.backend }?.backend ?? "none"
            #expect(row.checkedAgainst == (family == "train-step" ? other : "float64 reference"), "\(row.name) \(row.backend)")
            #expect(row.failure == nil && (row.checkError ?? 1) <= 1e-4 || row.checkedAgainst == "none" && row.checkError == nil, "\(row.name) \(row.backend)")
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
        #expect(csv.stdout.split(separator: "\n").first == "case,backend,median ms,min ms,max ms,kernel ms,throughput,unit,opencl/cpu,checked against",
                "\(csv.stdout)")
    }

    /// The float64 references agree with the CPU path, and a result off by 0.1 % in one checked
    /// entry fails: the check can fail for every family that has a reference.
    @Test func referencesCatchAWrongEntry() throws {
        let cases: [BenchmarkCase] = try [.gemm(m: 7, n: 13, k: 5), .softmax(rows: 3, columns: 17, backward: false), .softmax(rows: 3, columns: 17, backward: true),
                                      .attention(batch: 1, heads: 2, length: 17, dimension: 8, backward: false),
                                      .attention(batch: 1, heads: 2, length: 17, dimension: 8, backward: true),
                                      .infoNCE(rows: 9, dimension: 5, backward: false), .infoNCE(rows: 9, dimension: 5, backward: true),
                                      .layerNorm(rows: 5, columns: 19, backward: false), .layerNorm(rows: 5, columns: 19, backward: true),
                                      .dispatch(kernels: 50), .copy(count: 1000)]
        for benchCase in cases {
            let expected = try #require(benchCase.expected?(), "\(benchCase.name) has a reference")
            var output = try benchCase.run(on: TestBackends.cpu)
            #expect(expected.error(of: output) <= 1e-5, "\(benchCase.name)")
            let checked = expected.indices ?? Array(output.indices)
            let largest = checked.max { abs(output[$0]) < abs(output[$1]) }!
            output[largest] *= 1.001
            #expect(expected.error(of: output) > 1e-4, "\(benchCase.name): a wrong entry passes")
        }
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
