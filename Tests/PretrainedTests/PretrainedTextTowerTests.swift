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
        let tower = try PretrainedTextTower(bert, pooling: pooling)
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
            let analytic = try tensor.gradientValues(), original = try tensor.values()
            // The word embeddings: the rows of ids 7 and 300 (used) and 8 (unused: exactly zero).
            let indices = name.hasPrefix("embeddings.word") ? Array(7 * 52..<(9 * 52)) + Array(300 * 52..<(300 * 52 + 20)) : Array(0..<min(40, original.count))
            var numeric: [Double] = []
            // The query bias moves the loss little (a score shift the softmax mostly cancels), so
            // its difference needs a larger step to rise above float32 rounding.
            let step: Float = name.contains("query") ? 1e-1 : 1e-2
            for i in indices {
                func value(_ delta: Float) throws -> Double {
                    var shifted = original
                    shifted[i] += delta
                    try tensor.assign(shifted)
                    return Double(try Autograd.withoutGradients { try loss() }.values()[0])
                }
                numeric.append((try value(step) - value(-step)) / Double(2 * step))
            }
            try tensor.assign(original)
            #expect(normwiseError(indices.map { analytic[$0] }, numeric) <= 2e-2, "\(name) \(pooling)")
        }
    }
}
