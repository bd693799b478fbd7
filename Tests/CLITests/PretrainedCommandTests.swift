import Foundation
import NumPyFiles
import Testing
import TestSupport

/// `embed --model` and `predict --model` through the binary, on the committed tiny CLIP
/// (scripts/make-hf-fixtures.py), and the errors that must write nothing.
@Suite struct PretrainedCommandTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-pretrained-\(UUID().uuidString)")
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/hf")
    static let clip = fixtures.appendingPathComponent("clip-tiny")

    func texts() throws -> URL {
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let file = base.appendingPathComponent("texts.txt")
        try "a red square\r\nthe blue circle on the left\n\nünïcödé 猫 🐈\n".write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test(arguments: ["cpu", "opencl"]) func embedWritesTextAndImageEmbeddingsInInputOrder(backend: String) throws {
        guard backend == "cpu" || TestBackends.openCLShouldRun else { return }
        defer { try? FileManager.default.removeItem(at: base) }
        let out = base.appendingPathComponent("out-\(backend)")
        let result = try AlignCLBinary.run(["embed", "--model", Self.clip.path, "--texts", try texts().path, "--images", Self.clip.appendingPathComponent("images").path,
                                            "--output-dir", out.path, "--batch-size", "4", "--backend", backend])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try NPY.read(out.appendingPathComponent("text_embeddings.npy")).shape == [4, 24])
        let images = try NPY.read(out.appendingPathComponent("image_embeddings.npy"))
        #expect(images.shape == [6, 24])
        let expected = try NPY.read(Self.clip.appendingPathComponent("image_features.npy")).floatValues()
        #expect(normwiseError(images.floatValues(), expected) <= 1e-4, "image rows in sorted file-name order")
        let index = try String(contentsOf: out.appendingPathComponent("index.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(index.count == 10 && index[2] == #"{"kind":"text","row":2,"text":""}"# && index[4].contains(#""file":"00_rgb_45x60.png""#), "\(index)")
    }

    @Test func zeroShotPrintsProbabilitiesThatSumToOne() throws {
        let result = try AlignCLBinary.run(["predict", "--model", Self.clip.path, "--image", Self.clip.appendingPathComponent("images/00_rgb_45x60.png").path,
                                            "--labels", "a red square, a blue circle,a photo of a dog", "--format", "json", "--backend", "cpu"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let probabilities = try #require(object["probabilities"] as? [String: Double])
        #expect(Set(probabilities.keys) == ["a red square", "a blue circle", "a photo of a dog"])
        #expect(abs(probabilities.values.reduce(0, +) - 1) < 1e-9)
        // transformers' logits_per_image.softmax for this image and these labels (checked by hand).
        #expect(abs((probabilities["a red square"] ?? 0) - 0.7468) < 1e-3, "\(probabilities)")
    }

    @Test func badInputFailsClearlyAndWritesNothing() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let texts = try texts()
        let broken = base.appendingPathComponent("bin-only")
        try FileManager.default.copyItem(at: Self.clip, to: broken)
        try FileManager.default.moveItem(at: broken.appendingPathComponent("model.safetensors"), to: broken.appendingPathComponent("pytorch_model.bin"))
        let cases: [([String], String)] = [
            (["--model", broken.path, "--texts", texts.path], "pickle"),
            (["--model", base.appendingPathComponent("nowhere").path, "--texts", texts.path], "not found"),
            (["--model", Self.clip.path], "--texts FILE and/or --images DIR"),
            (["--model", Self.clip.path, "--texts", base.appendingPathComponent("missing.txt").path], "cannot be read"),
            (["--model", Self.clip.path, "--images", base.path], "no .png, .jpg"),
            (["--texts", texts.path], "need --model"),
        ]
        for (arguments, message) in cases {
            let out = base.appendingPathComponent("out")
            let result = try AlignCLBinary.run(["embed"] + arguments + ["--output-dir", out.path, "--backend", "cpu"])
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out.path), "\(arguments) wrote \(out.path)")
        }
    }
}
