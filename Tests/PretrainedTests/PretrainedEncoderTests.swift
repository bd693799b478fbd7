import Compute
import Foundation
import Pretrained
import Testing
import TestSupport

/// Folder to embedding, tokenizer included: the real all-MiniLM-L6-v2 (fetched by
/// scripts/fetch-minilm.sh; ALIGNCL_MINILM_DIR names it, and CI requires it), the tiny BERT,
/// and the errors a broken folder gives.
@Suite struct PretrainedEncoderTests {
    static let miniLM = ProcessInfo.processInfo.environment["ALIGNCL_MINILM_DIR"].map { URL(fileURLWithPath: $0) }
    static let miniLMShouldRun = miniLM != nil || TestBackends.openCLRequired

    func miniLMMatchesSentenceTransformers(backend name: String) throws {
        let folder = try #require(Self.miniLM, "set ALIGNCL_MINILM_DIR to the folder scripts/fetch-minilm.sh prints")
        let encoder = try PretrainedEncoder(folder: folder, backend: try TestBackends.named(name))
        #expect(encoder.pooling == .mean && encoder.normalize && encoder.maximumTextLength == 256)
        let texts = try HFFixtures.texts("minilm")
        #expect(normwiseError(try encoder.embed(texts: texts), try HFFixtures.floats("minilm", "embeddings.npy").values) <= 1e-4, "\(name)")
    }

    @Test(.enabled(if: miniLMShouldRun)) func miniLMMatchesSentenceTransformersOnCPU() throws { try miniLMMatchesSentenceTransformers(backend: "cpu") }
    @Test(.enabled(if: miniLMShouldRun && TestBackends.openCLShouldRun)) func miniLMMatchesSentenceTransformersOnOpenCL() throws {
        try miniLMMatchesSentenceTransformers(backend: "opencl")
    }

    /// Through the tokenizer: the ids transformers padded to 40 give the same masked mean.
    @Test func tinyBertEmbedsTextsAsTransformers() throws {
        let encoder = try PretrainedEncoder(folder: HFFixtures.folder("bert-tiny"), backend: TestBackends.cpu)
        #expect(encoder.pooling == .mean && !encoder.normalize)
        let got = try encoder.embed(texts: try HFFixtures.texts("bert-tiny"))
        #expect(normwiseError(got, try HFFixtures.floats("bert-tiny", "mean_pooled.npy").values) <= 1e-4)
        let pooled = try PretrainedEncoder(folder: HFFixtures.folder("bert-tiny"), backend: TestBackends.cpu, pooling: .pooler, normalize: true)
        let expected = normalizedRows(try HFFixtures.floats("bert-tiny", "pooler_output.npy").values, width: 52)
        #expect(normwiseError(try pooled.embed(texts: try HFFixtures.texts("bert-tiny")), expected) <= 1e-4)
    }

    @Test func clipEmbedsTextsAndImageFilesAsTransformers() throws {
        let encoder = try PretrainedEncoder(folder: HFFixtures.folder("clip-tiny"), backend: TestBackends.cpu)
        #expect(normwiseError(try encoder.embed(texts: try HFFixtures.texts("clip-tiny")), try HFFixtures.floats("clip-tiny", "text_features.npy").values) <= 1e-4)
        let images = try FileManager.default.contentsOfDirectory(atPath: HFFixtures.folder("clip-tiny/images").path).sorted()
            .map { HFFixtures.folder("clip-tiny/images").appendingPathComponent($0) }
        #expect(normwiseError(try encoder.embed(imageFiles: images), try HFFixtures.floats("clip-tiny", "image_features.npy").values) <= 1e-4)
    }

    func expectError(_ folder: URL, containing parts: [String]) {
        do {
            _ = try PretrainedEncoder(folder: folder, backend: TestBackends.cpu)
            Issue.record("\(folder.lastPathComponent) loaded")
        } catch {
            for part in parts { #expect("\(error)".contains(part), "\(error)") }
        }
    }

    @Test func brokenFoldersGiveClearErrors() throws {
        let binOnly = try HFFixtures.copy("bert-tiny")
        try FileManager.default.moveItem(at: binOnly.appendingPathComponent("model.safetensors"), to: binOnly.appendingPathComponent("pytorch_model.bin"))
        expectError(binOnly, containing: ["pytorch_model.bin", "pickle", "safe_serialization=True"])

        let missing = try HFFixtures.copy("bert-tiny")
        try FileManager.default.removeItem(at: missing.appendingPathComponent("model.safetensors"))
        expectError(missing, containing: ["model.safetensors", "not found"])

        let corrupt = try HFFixtures.copy("bert-tiny")
        let weights = corrupt.appendingPathComponent("model.safetensors")
        try Data(try Data(contentsOf: weights).prefix(5000)).write(to: weights)
        expectError(corrupt, containing: ["model.safetensors", "not a valid safetensors file"])

        let unknown = try HFFixtures.copy("bert-tiny")
        let config = unknown.appendingPathComponent("config.json")
        try String(contentsOf: config, encoding: .utf8).replacingOccurrences(of: "\"BertModel\"", with: "\"GPT2Model\"")
            .replacingOccurrences(of: "\"model_type\": \"bert\"", with: "\"model_type\": \"gpt2\"").write(to: config, atomically: true, encoding: .utf8)
        expectError(unknown, containing: ["GPT2Model", "supported: BertModel, CLIPModel"])

        // A vocabulary larger than the model's embedding table.
        let mismatch = try HFFixtures.copy("bert-tiny")
        let small = mismatch.appendingPathComponent("config.json")
        try String(contentsOf: small, encoding: .utf8).replacingOccurrences(of: "\"vocab_size\": 791", with: "\"vocab_size\": 700").write(to: small, atomically: true, encoding: .utf8)
        expectError(mismatch, containing: ["tokenizer", "791", "700"])
        for folder in [binOnly, missing, corrupt, unknown, mismatch] { try? FileManager.default.removeItem(at: folder) }
    }
}
