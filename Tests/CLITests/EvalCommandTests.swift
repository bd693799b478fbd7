import Foundation
import NumPyFiles
import Testing
import TestSupport

/// A user's folder end to end through the binary: train, stop with SIGINT and resume, eval
/// (JSON schema on stdout only), embed, predict.
@Suite struct EvalCommandTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-eval-\(UUID().uuidString)")
    static let tiny = ["--batch-size", "12", "--width", "16", "--heads", "2", "--text-layers", "1", "--image-layers", "1", "--image-size", "16",
                       "--projection", "8", "--lr", "3e-3", "--backend", "cpu"]

    @Test func trainEvaluateEmbedAndPredictOnAFolder() throws {
        let data = try ImageFolderFixture.write(to: base.appendingPathComponent("data"), perClass: 12)
        let run = base.appendingPathComponent("run").path
        let trained = try AlignCLBinary.run(["train", "--data", data.path, "--steps", "40", "--run-dir", run] + Self.tiny)
        #expect(trained.status == 0, "\(trained.stderr)")

        let eval = try AlignCLBinary.run(["eval", "--run-dir", run, "--format", "json", "--backend", "cpu"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any], "stdout is one JSON object: \(eval.stdout)")
        #expect(Set(report.keys) == ["accuracy", "macro_f1", "retrieval", "tagging", "split", "samples", "checkpoint"])
        #expect((report["accuracy"] as? Double ?? 0) >= 0.8, "\(report)")
        #expect(report["split"] as? String == "test" && report["samples"] as? Int == 12 && report["checkpoint"] as? String == "step-40")
        let retrieval = try #require(report["retrieval"] as? [String: [String: Double]])
        #expect(Set(retrieval.keys) == ["i2t", "t2i"] && retrieval["i2t"]?.keys.sorted() == ["r1", "r10", "r5"])
        #expect(report["tagging"] is NSNull)

        let out = base.appendingPathComponent("embeddings")
        let embed = try AlignCLBinary.run(["embed", "--run-dir", run, "--split", "validation", "--output-dir", out.path, "--backend", "cpu"])
        #expect(embed.status == 0, "\(embed.stderr)")
        #expect(try NPY.read(out.appendingPathComponent("image_embeddings.npy")).shape == [12, 8])
        #expect(try NPY.read(out.appendingPathComponent("text_embeddings.npy")).shape == [12, 8])
        #expect(try String(contentsOf: out.appendingPathComponent("index.jsonl"), encoding: .utf8).split(separator: "\n").count == 12)

        let image = data.appendingPathComponent("test/images/red-0.png").path
        let predict = try AlignCLBinary.run(["predict", "--run-dir", run, "--image", image, "--text", "a photo of a block", "--format", "json", "--backend", "cpu"])
        #expect(predict.status == 0, "\(predict.stderr)")
        let prediction = try #require(try JSONSerialization.jsonObject(with: Data(predict.stdout.utf8)) as? [String: Any])
        #expect(prediction["predictedClass"] as? String == "red", "\(prediction)")
        #expect((prediction["probabilities"] as? [String: Double])?.count == 3)

        let missing = try AlignCLBinary.run(["predict", "--run-dir", run, "--image", "/nonexistent.png", "--text", "x", "--backend", "cpu"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent.png"))
        let noRun = try AlignCLBinary.run(["eval", "--run-dir", base.path, "--backend", "cpu"])
        #expect(noRun.status != 0 && noRun.stderr.contains("config.json"), "\(noRun.stderr)")
    }

    @Test func sigintSavesACheckpointAndResumeFinishes() throws {
        let run = base.appendingPathComponent("interrupted").path
        let process = Process()
        process.executableURL = AlignCLBinary.url
        process.arguments = ["train", "--steps", "1000", "--train-samples", "48", "--eval-samples", "12", "--eval-every", "0", "--run-dir", run,
                             "--checkpoint-every", "0"] + Self.tiny
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait for training to start (the first progress line), then interrupt.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("step 1/") {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        kill(process.processIdentifier, SIGINT)
        seen += errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderr = String(decoding: seen, as: UTF8.self)
        #expect(process.terminationStatus == 130, "\(stderr)")
        #expect(stderr.contains("continue with: aligncl train --resume"), "\(stderr)")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: "\(run)/checkpoints").filter { $0.hasPrefix("step-") }
        #expect(checkpoints.count == 1, "\(checkpoints)")

        let resumed = try AlignCLBinary.run(["train", "--resume", run, "--backend", "cpu"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming at step"), "\(resumed.stderr)")
        #expect(resumed.stdout.contains("test (12)"))
    }
}
