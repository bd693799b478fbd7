import Checkpoints
import Foundation
import NumPyFiles
import Testing
import TestSupport

/// `train --text-model` on the committed tiny BERT (scripts/make-hf-fixtures.py): the tower
/// starts from the file, trains (or stays frozen), resumes exactly, and `export` writes a
/// folder whose tensors are the checkpoint's and whose embeddings are the tower's.
@Suite(.serialized) struct FineTuneCommandTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-finetune-\(UUID().uuidString)")
    static let bert = PretrainedCommandTests.fixtures.appendingPathComponent("bert-tiny")
    static let quick = ["--steps", "6", "--batch-size", "8", "--train-samples", "32", "--eval-samples", "16", "--eval-every", "0",
                        "--checkpoint-every", "3", "--warmup", "1", "--backend", "cpu"]

    func train(_ extra: [String], into run: URL) throws -> CommandResult {
        try AlignCLBinary.run(["train", "--text-model", Self.bert.path, "--run-dir", run.path] + Self.quick + extra)
    }

    func tensors(_ url: URL) throws -> [String: [Float]] {
        try SafeTensorsFile(contentsOf: url).tensors.mapValues { try $0.floatValues() }
    }

    @Test func theTowerStartsFromTheFileTrainsAndFreezes() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let original = try tensors(Self.bert.appendingPathComponent("model.safetensors"))
        for (freeze, name) in [("none", "tuned"), ("text", "frozen")] {
            let run = base.appendingPathComponent(name)
            let result = try train(["--freeze", freeze, "--pretrained-lr", "1e-3"], into: run)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("text-model/vocab.txt").path))
            let trained = try tensors(run.appendingPathComponent("checkpoints/step-6/model.safetensors"))
            let key = "encoder.layer.0.attention.self.query.weight"
            // The checkpoint keeps our layout ([in, out]); the file has transformers' [out, in].
            let fromFile = try #require(original[key]), fromRun = try #require(trained["text.model.\(key)"])
            let (rows, columns) = (52, fromFile.count / 52)
            let transposed = (0..<fromFile.count).map { fromFile[($0 % rows) * columns + $0 / rows] }
            let change = normwiseError(fromRun, transposed)
            if freeze == "text" { #expect(change == 0, "frozen weights moved by \(change)") } else { #expect(change > 1e-4 && change < 0.5, "\(change)") }
        }
    }

    /// Removes the run's last checkpoint (step 6), resumes from the one before, and expects the
    /// same weights bit for bit; returns them.
    @discardableResult
    func expectExactResume(_ run: URL) throws -> [String: [Float]] {
        let full = try tensors(run.appendingPathComponent("checkpoints/step-6/model.safetensors"))
        try FileManager.default.removeItem(at: run.appendingPathComponent("checkpoints/step-6"))
        let resumed = try AlignCLBinary.run(["train", "--resume", run.path, "--backend", "cpu"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let again = try tensors(run.appendingPathComponent("checkpoints/step-6/model.safetensors"))
        #expect(full.keys.sorted() == again.keys.sorted() && full.allSatisfy { again[$0.key] == $0.value }, "resume is exact")
        return again
    }

    @Test func resumeAndExportRoundTrip() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let run = base.appendingPathComponent("run")
        #expect(try train([], into: run).status == 0)
        let again = try expectExactResume(run)

        let exported = base.appendingPathComponent("exported")
        let export = try AlignCLBinary.run(["export", "--run-dir", run.path, "--output", exported.path, "--backend", "cpu"])
        #expect(export.status == 0, "\(export.stderr)")
        let files = try tensors(exported.appendingPathComponent("model.safetensors"))
        let towerKeys = again.keys.filter { $0.hasPrefix("text.model.") }
        let originalCount = try tensors(Self.bert.appendingPathComponent("model.safetensors")).count
        #expect(files.count == towerKeys.count && files.count == originalCount)
        // Every tensor has the checkpoint's values: as they are, or (linear weights) transposed back to [out, in].
        for (name, tensor) in try SafeTensorsFile(contentsOf: exported.appendingPathComponent("model.safetensors")).tensors {
            let values = try tensor.floatValues(), ours = try #require(again["text.model.\(name)"])
            let transposedBack = tensor.shape.count == 2 ? (0..<values.count).map { ours[($0 % tensor.shape[1]) * tensor.shape[0] + $0 / tensor.shape[1]] } : ours
            #expect(values == ours || values == transposedBack, "\(name)")
        }
        #expect(try AlignCLBinary.run(["export", "--run-dir", run.path, "--output", exported.path, "--backend", "cpu"]).stderr.contains("not empty"))

        // The exported folder embeds as a sentence-transformers folder (mean pooling), on both backends alike.
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let texts = base.appendingPathComponent("texts.txt")
        try "a red circle top left\nthe blue square\n".write(to: texts, atomically: true, encoding: .utf8)
        var embeddings: [[Float]] = []
        for backend in ["cpu"] + (TestBackends.openCLShouldRun ? ["opencl"] : []) {
            let out = base.appendingPathComponent("emb-\(backend)")
            let embed = try AlignCLBinary.run(["embed", "--model", exported.path, "--texts", texts.path, "--output-dir", out.path, "--backend", backend])
            #expect(embed.status == 0, "\(embed.stderr)")
            let array = try NPY.read(out.appendingPathComponent("text_embeddings.npy"))
            #expect(array.shape == [2, 52])
            embeddings.append(array.floatValues())
        }
        if embeddings.count == 2 { #expect(normwiseError(embeddings[0], embeddings[1]) <= 1e-4) }
    }

    /// `--image-model`: the tiny CLIP's vision tower starts from the file, trains or stays
    /// frozen, the run evaluates on both backends from its own image-model/ copy, and resumes exactly.
    @Test func theImageTowerStartsFromTheFileTrainsFreezesAndResumes() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let original = try tensors(PretrainedCommandTests.clip.appendingPathComponent("model.safetensors"))
        let key = "vision_model.encoder.layers.0.self_attn.q_proj.weight"
        for (freeze, recipe) in [("none", "itc-itm"), ("image", "clip"), ("none", "local-mi"), ("image", "vlcdoc")] {
            let run = base.appendingPathComponent("\(recipe)-\(freeze)")
            let result = try AlignCLBinary.run(["train", "--recipe", recipe, "--image-model", PretrainedCommandTests.clip.path, "--freeze", freeze,
                                                "--pretrained-lr", "1e-3", "--run-dir", run.path] + Self.quick)
            #expect(result.status == 0, "\(recipe): \(result.stderr)")
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("image-model/preprocessor_config.json").path))
            let trained = try tensors(run.appendingPathComponent("checkpoints/step-6/model.safetensors"))
            let fromFile = try #require(original[key]), fromRun = try #require(trained["image.model.\(key)"])
            let transposed = (0..<fromFile.count).map { fromFile[($0 % 36) * 36 + $0 / 36] }
            let change = normwiseError(fromRun, transposed)
            if freeze == "image" { #expect(change == 0, "\(recipe): frozen weights moved by \(change)") } else { #expect(change > 1e-4 && change < 0.5, "\(recipe): \(change)") }
            #expect(trained["image.adapter.weight"] != nil)
        }
        let run = base.appendingPathComponent("itc-itm-none")
        for backend in ["cpu"] + (TestBackends.openCLShouldRun ? ["opencl"] : []) {
            let eval = try AlignCLBinary.run(["eval", "--run-dir", run.path, "--backend", backend])
            #expect(eval.status == 0 && eval.stdout.contains("accuracy"), "\(backend): \(eval.stderr)")
        }
        try expectExactResume(run)
    }

    /// `--init`: both towers and the logit scale from the tiny CLIP (a learning rate so small
    /// that nothing moves measurably), CLIP's tokenizer for the captions, and an export that is
    /// the checkpoint's towers as a CLIPModel folder, embedding alike on both backends.
    @Test func initTakesBothTowersAndTheLogitScaleAndExportsACLIPFolder() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let clip = PretrainedCommandTests.clip
        let run = base.appendingPathComponent("init")
        let result = try AlignCLBinary.run(["train", "--recipe", "clip", "--init", clip.path, "--lr", "1e-12", "--pretrained-lr", "1e-12",
                                            "--run-dir", run.path] + Self.quick)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("text-model/merges.txt").path))
        let original = try tensors(clip.appendingPathComponent("model.safetensors"))
        let trained = try tensors(run.appendingPathComponent("checkpoints/step-6/model.safetensors"))
        for key in ["text_model.embeddings.token_embedding.weight", "vision_model.post_layernorm.weight"] {
            let fromRun = try #require(trained[(key.hasPrefix("text") ? "text.model." : "image.model.") + key])
            #expect(normwiseError(fromRun, try #require(original[key])) < 1e-6, "\(key)")
        }
        #expect(abs(try #require(trained["logit_scale"])[0] - 3.0822534) < 1e-4)

        let exported = base.appendingPathComponent("exported")
        let export = try AlignCLBinary.run(["export", "--run-dir", run.path, "--output", exported.path, "--backend", "cpu"])
        #expect(export.status == 0, "\(export.stderr)")
        let files = try tensors(exported.appendingPathComponent("model.safetensors"))
        #expect(Set(files.keys) == Set(original.keys), "the export holds exactly CLIPModel's tensors")
        #expect(files["logit_scale"] == trained["logit_scale"] && files["vision_model.post_layernorm.weight"] == trained["image.model.vision_model.post_layernorm.weight"])
        let texts = base.appendingPathComponent("texts.txt")
        try "a red circle top left\nthe blue square\n".write(to: texts, atomically: true, encoding: .utf8)
        var embeddings: [[Float]] = []
        for backend in ["cpu"] + (TestBackends.openCLShouldRun ? ["opencl"] : []) {
            let out = base.appendingPathComponent("emb-\(backend)")
            let embed = try AlignCLBinary.run(["embed", "--model", exported.path, "--texts", texts.path, "--images", clip.appendingPathComponent("images").path,
                                               "--output-dir", out.path, "--backend", backend])
            #expect(embed.status == 0, "\(embed.stderr)")
            embeddings.append(try NPY.read(out.appendingPathComponent("text_embeddings.npy")).floatValues() + NPY.read(out.appendingPathComponent("image_embeddings.npy")).floatValues())
        }
        if embeddings.count == 2 { #expect(normwiseError(embeddings[0], embeddings[1]) <= 1e-4) }
    }

    @Test func badFlagsFailClearly() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let scratch = base.appendingPathComponent("scratch")
        let unknown = base.appendingPathComponent("gpt2")
        try FileManager.default.createDirectory(at: unknown, withIntermediateDirectories: true)
        try #"{"architectures": ["GPT2Model"], "model_type": "gpt2"}"#.write(to: unknown.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["train", "--freeze", "text", "--steps", "1", "--run-dir", scratch.path], "--freeze text needs a pretrained text tower"),
            (["train", "--text-model", base.appendingPathComponent("nowhere").path, "--steps", "1"], "no such directory"),
            (["train", "--text-model", unknown.path, "--steps", "1", "--run-dir", scratch.path], "supported: BertModel, CLIPModel"),
            (["train", "--text-model", PretrainedCommandTests.clip.path, "--text-pooling", "cls", "--steps", "1", "--run-dir", scratch.path], "last or mean"),
            (["train", "--init", PretrainedCommandTests.clip.path, "--text-model", Self.bert.path, "--steps", "1", "--run-dir", scratch.path], "--init sets both towers"),
            (["train", "--recipe", "ita", "--init", PretrainedCommandTests.clip.path, "--steps", "1", "--run-dir", scratch.path], "use --text-model"),
            (["train", "--text-model", Self.bert.path, "--text-pooling", "max", "--steps", "1", "--run-dir", scratch.path], "cls or mean"),
            (["train", "--freeze", "image", "--steps", "1", "--run-dir", scratch.path], "--freeze image needs a pretrained image tower"),
            (["train", "--image-model", Self.bert.path, "--steps", "1", "--run-dir", scratch.path], "CLIPModel"),
            (["train", "--recipe", "ita", "--image-model", PretrainedCommandTests.clip.path, "--steps", "1", "--run-dir", scratch.path], "no image tower"),
            (["train", "--image-model", PretrainedCommandTests.clip.path, "--image-size", "32", "--steps", "1", "--run-dir", scratch.path], "leave them out"),
        ]
        for (arguments, message) in cases {
            let result = try AlignCLBinary.run(arguments + ["--backend", "cpu"])
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path), "\(arguments) wrote \(scratch.path)")
        }
        let fromScratch = base.appendingPathComponent("from-scratch")
        #expect(try AlignCLBinary.run(["train", "--run-dir", fromScratch.path] + Self.quick).status == 0)
        let export = try AlignCLBinary.run(["export", "--run-dir", fromScratch.path, "--output", base.appendingPathComponent("x").path, "--backend", "cpu"])
        #expect(export.status != 0 && export.stderr.contains("from scratch"), "\(export.stderr)")
        #expect(!FileManager.default.fileExists(atPath: base.appendingPathComponent("x").path))
    }
}
