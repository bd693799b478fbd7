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

    @Test(arguments: [("gemm", "7x13x5"), ("softmax", "3x17"), ("attention", "1x2x17x8"), ("copy", "1000")])
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

    @Test func badSizesAreOneLineErrors() throws {
        let result = try AlignCLBinary.run(["bench", "gemm", "--sizes", "12x0x3", "--backends", "cpu"])
        #expect(result.status != 0 && result.stderrLines.count == 1 && result.stderr.contains("'12x0x3'"), "\(result.stderr)")
    }
}
