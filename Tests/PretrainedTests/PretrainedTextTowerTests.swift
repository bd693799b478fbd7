import Autograd
import Compute
import NeuralNetworks
import Pretrained
import Testing
import TestSupport

/// The tiny BERT as a trainable text tower: gradients of both poolings against central
/// differences of the loss, through post-norm layers, key biases and the embeddings.
@Suite struct PretrainedTextTowerTests {
    @Test(arguments: [Pooling.mean, .cls]) func gradientsMatchFiniteDifferences(_ pooling: Pooling) throws {
        let backend = CPUBackend()
        let folder = try ModelFolder(HFFixtures.folder("bert-tiny"))
        let bert = try BertModel(BertConfig(folder.config), initializer: Initializer(seed: 3, backend: backend))
        try bert.load(folder.weights(), path: folder.url.path)
        let tower = try PretrainedTextTower(bert, pooling: pooling, allowed: TextModelConfig.bert(bert.config).trainablePoolings)
        let ids = try Tensor([101, 7, 300, 512, 102, 0, 101, 45, 102, 0, 0, 0].map(Int32.init), shape: [2, 6], on: backend)
        let mask: [Float] = [1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0]
        var random = SeededValues(seed: 5)
        let weights = try Tensor(random.array(2 * 52), shape: [2, 52], on: backend)
        func loss() throws -> Tensor { try (tower(ids: ids, mask: mask).pooled * weights).sum() }
        try loss().backward()
        let names = ["embeddings.LayerNorm.weight", "encoder.layer.0.attention.self.query.bias", "encoder.layer.1.intermediate.dense.bias",
                     "encoder.layer.1.output.LayerNorm.bias", "embeddings.word_embeddings.weight"]
        let checked = tower.namedParameters.filter { names.contains($0.name) }
        #expect(checked.count == names.count)
        for (name, tensor) in checked {
            let analytic = try tensor.gradientValues()
            // The word embeddings: the rows of ids 7 and 300 (used) and 8 (unused: exactly zero).
            let indices = name.hasPrefix("embeddings.word") ? Array(7 * 52..<(9 * 52)) + Array(300 * 52..<(300 * 52 + 20)) : Array(0..<min(40, tensor.count))
            // The query bias moves the loss little (a score shift the softmax mostly cancels), so
            // its difference needs a larger step to rise above float32 rounding.
            let numeric = try centralDifferences(tensor, indices: indices, step: name.contains("query") ? 1e-1 : 1e-2, loss: loss)
            #expect(normwiseError(indices.map { analytic[$0] }, numeric) <= 2e-2, "\(name) \(pooling)")
        }
    }

    /// CLIP's text transformer as a trainable tower: at its end-of-text token, its projection
    /// is `get_text_features`; gradients of both poolings through the causal layers.
    @Test(arguments: [Pooling.lastToken, .mean]) func clipTextTowerMatchesTransformersAndFiniteDifferences(_ pooling: Pooling) throws {
        let backend = CPUBackend()
        let folder = try ModelFolder(HFFixtures.folder("clip-tiny"))
        let config = try TextModelConfig(folder.config, architecture: folder.architecture)
        let clip = try #require(try config.makeModel(initializer: Initializer(seed: 3, backend: backend)) as? CLIPTextModel)
        try clip.load(folder.weights(), path: folder.url.path)
        let tower = try PretrainedTextTower(clip, pooling: pooling, allowed: config.trainablePoolings)
        let (shape, ids) = try HFFixtures.ints("clip-tiny", "input_ids.npy")
        let mask = try HFFixtures.floats("clip-tiny", "attention_mask.npy").values
        let idTensor = try Tensor(ids, shape: shape, on: backend)
        if pooling == .lastToken {
            let features = try Autograd.withoutGradients { try clip.project(tower(ids: idTensor, mask: mask).pooled) }
            #expect(normwiseError(try features.values(), try HFFixtures.floats("clip-tiny", "text_features.npy").values) <= 1e-4)
        }
        var random = SeededValues(seed: 6)
        let weights = try Tensor(random.array(shape[0] * 40), shape: [shape[0], 40], on: backend)
        func loss() throws -> Tensor { try (tower(ids: idTensor, mask: mask).pooled * weights).sum() }
        try loss().backward()
        let names = ["text_model.embeddings.position_embedding.weight", "text_model.encoder.layers.0.self_attn.v_proj.bias",
                     "text_model.encoder.layers.1.mlp.fc2.weight", "text_model.final_layer_norm.weight"]
        let checked = tower.namedParameters.filter { names.contains($0.name) }
        #expect(checked.count == names.count)
        for (name, tensor) in checked {
            let analytic = try tensor.gradientValues()
            // Position 1, where two of the texts end (position 0's gradient is tiny, all attention).
            let indices = name.contains("position") ? Array(40..<70) : Array(0..<min(30, tensor.count))
            let numeric = try centralDifferences(tensor, indices: indices, loss: loss)
            #expect(normwiseError(indices.map { analytic[$0] }, numeric) <= 2e-2, "\(name) \(pooling)")
        }
        #expect(throws: PretrainedError.self) { try PretrainedTextTower(clip, pooling: .cls, allowed: config.trainablePoolings) }
    }
}
