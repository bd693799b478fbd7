import Foundation
import Testing
import TestSupport

/// `aligncl train` as a user runs it: a tiny run writes its files and prints the test table;
/// bad flags and an occupied run directory fail with one line naming the flag.
@Suite struct TrainCommandTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-train-\(UUID().uuidString)")
    static let tiny = ["--steps", "2", "--batch-size", "8", "--train-samples", "32", "--eval-samples", "16", "--width", "16", "--heads", "2",
                       "--text-layers", "1", "--image-layers", "1", "--image-size", "16", "--projection", "8", "--backend", "cpu"]

    @Test func tinyRunWritesItsFilesAndRefusesToMixRuns() throws {
        let run = base.appendingPathComponent("run").path
        let result = try AlignCLBinary.run(["train", "--recipe", "clip", "--run-dir", run] + Self.tiny)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("i2t_r1") && result.stdout.contains("test (16)"), "\(result.stdout)")
        #expect(result.stderr.contains("step 2/2"), "plain progress lines when not on a terminal")
        for name in ["config.json", "metrics.jsonl", "plot.svg"] {
            #expect(FileManager.default.fileExists(atPath: "\(run)/\(name)"), "\(name)")
        }
        let again = try AlignCLBinary.run(["train", "--recipe", "clip", "--run-dir", run] + Self.tiny)
        #expect(again.status != 0 && again.stderr.contains("--overwrite"), "\(again.stderr)")
        let overwritten = try AlignCLBinary.run(["train", "--recipe", "clip", "--run-dir", run, "--overwrite"] + Self.tiny)
        #expect(overwritten.status == 0, "\(overwritten.stderr)")
    }

    @Test(arguments: [
        (["--recipe", "bert"], "recipe"),
        (["--steps", "0"], "--steps"),
        (["--batch-size", "1"], "--batch-size"),
        (["--heads", "3"], "divisible"),
        (["--data", "/nowhere"], "--data"),
        (["--cva-rate", "2"], "--cva-rate"),
    ])
    func badFlagsFailWithOneLine(arguments: [String], mentions: String) throws {
        let result = try AlignCLBinary.run(["train", "--run-dir", base.appendingPathComponent(UUID().uuidString).path] + Self.tiny + arguments)
        #expect((1...127).contains(result.status))
        #expect(result.stderrLines.last?.contains(mentions) == true, "\(result.stderr)")
        #expect(result.stderrLines.filter { $0.contains("error") }.count == 1, "\(result.stderr)")
    }
}
