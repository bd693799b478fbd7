import Autograd
import Checkpoints
import Compute
import Datasets
import Foundation
import NeuralNetworks
import Pretrained
import Testing
import TestSupport

/// A random CLIP (text 40 wide, vision 36 wide with 3 heads, quick_gelu, projection 24)
/// against `get_text_features` / `get_image_features` for the same inputs.
@Suite struct CLIPModelTests {
    func load(on backend: any Backend) throws -> CLIPModel {
        let folder = try ModelFolder(HFFixtures.folder("clip-tiny"))
        let model = try CLIPModel(CLIPConfig(folder.config), initializer: Initializer(seed: 1, backend: backend))
        try model.load(folder.weights(), path: folder.url.path)
        return model
    }

    func textFeatures(backend name: String) throws {
        let backend = try TestBackends.named(name)
        let model = try load(on: backend)
        let (shape, ids) = try HFFixtures.ints("clip-tiny", "input_ids.npy")
        let mask = try HFFixtures.floats("clip-tiny", "attention_mask.npy").values
        let (tokens, features) = try Autograd.withoutGradients { try model.text(ids: ids, batch: shape[0], mask: mask, on: backend) }
        #expect(normwiseError(try features.values(), try HFFixtures.floats("clip-tiny", "text_features.npy").values) <= 1e-4, "\(name) text features")
        // Only the real tokens: transformers' padded rows see the same causal prefix, but compare what a user reads.
        let expected = try HFFixtures.floats("clip-tiny", "last_hidden_state_text.npy").values
        let got = try tokens.values(), width = model.config.text.width
        let kept = (0..<mask.count).filter { mask[$0] != 0 }
        #expect(normwiseError(kept.flatMap { got[($0 * width)..<(($0 + 1) * width)] }, kept.flatMap { expected[($0 * width)..<(($0 + 1) * width)] }) <= 1e-4)
        #expect(abs(try model.logitScaleLog.values()[0] - 3.0822534561157227) < 1e-6)
    }

    func imageFeatures(backend name: String) throws {
        let backend = try TestBackends.named(name)
        let model = try load(on: backend)
        let (shape, pixels) = try HFFixtures.floats("clip-tiny", "pixel_values.npy")
        let features = try Autograd.withoutGradients { try model.vision(pixels: pixels, batch: shape[0], on: backend).features }
        #expect(normwiseError(try features.values(), try HFFixtures.floats("clip-tiny", "image_features.npy").values) <= 1e-4, "\(name) image features")
    }

    @Test func textTowerMatchesTransformersOnCPU() throws { try textFeatures(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func textTowerMatchesTransformersOnOpenCL() throws { try textFeatures(backend: "opencl") }
    @Test func imageTowerMatchesTransformersOnCPU() throws { try imageFeatures(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func imageTowerMatchesTransformersOnOpenCL() throws { try imageFeatures(backend: "opencl") }

    /// The vision tower as an image tower trains through its patch entry: gradients of the
    /// pooled class token against central differences, through pre- and post-norm, the class
    /// token, the patch GEMM and quick_gelu MLPs.
    @Test func visionGradientsMatchFiniteDifferences() throws {
        let backend = TestBackends.cpu
        let model = try load(on: backend)
        let (shape, pixels) = try HFFixtures.floats("clip-tiny", "pixel_values.npy")
        let batch = 2, count = model.config.patchesPerSide * model.config.patchesPerSide
        let patches = try Tensor(Array(model.vision.unfold(pixels, batch: shape[0]).prefix(batch * count * 108)), shape: [batch, count, 108], on: backend)
        var random = SeededValues(seed: 9)
        let weights = try Tensor(random.array(batch * 36), shape: [batch, 36], on: backend)
        func loss() throws -> Tensor { try (model.vision(patches: patches).pooled * weights).sum() }
        try loss().backward()
        let names = ["vision_model.embeddings.class_embedding", "vision_model.pre_layrnorm.weight", "vision_model.embeddings.patch_embedding.weight",
                     "vision_model.encoder.layers.1.mlp.fc1.bias", "vision_model.post_layernorm.bias", "vision_model.embeddings.position_embedding.weight"]
        let checked = model.vision.namedParameters.filter { names.contains($0.name) }
        #expect(checked.count == names.count)
        for (name, tensor) in checked {
            let analytic = try tensor.gradientValues(), indices = Array(0..<min(30, tensor.count))
            let numeric = try centralDifferences(tensor, indices: indices, loss: loss)
            #expect(normwiseError(indices.map { analytic[$0] }, numeric) <= 2e-2, "\(name)")
        }
        // Without a gradient, the projection of the pooled token is `get_image_features`.
        let features = try Autograd.withoutGradients { try model.vision.project(model.vision(patches: patches).pooled) }
        let expected = try HFFixtures.floats("clip-tiny", "image_features.npy").values
        #expect(normwiseError(try features.values(), Array(expected.prefix(batch * 24))) <= 1e-4)
    }

    @Test func aMismatchListsEveryProblem() throws {
        let folder = try ModelFolder(HFFixtures.folder("clip-tiny"))
        var weights = try folder.weights()
        weights["text_projection.weight"] = nil
        weights["logit_scale"] = try SafeTensor(int32: [1], shape: [])
        weights["visual_projection.weight"] = try SafeTensor(float32: [Float](repeating: 0, count: 24 * 35), shape: [24, 35])
        let model = try CLIPModel(CLIPConfig(folder.config), initializer: Initializer(seed: 1, backend: TestBackends.cpu))
        do {
            try model.load(weights, path: "clip")
            Issue.record("a broken file loaded")
        } catch let error as PretrainedError {
            let text = "\(error)"
            #expect(text.contains("missing text_projection.weight: expected shape [24, 40]"), "\(text)")
            #expect(text.contains("logit_scale: expected a floating-point dtype"), "\(text)")
            #expect(text.contains("visual_projection.weight: expected shape [24, 36], found [24, 35]"), "\(text)")
        }
    }
}
