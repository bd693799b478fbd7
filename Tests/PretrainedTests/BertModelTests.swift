import Autograd
import Compute
import Foundation
import NeuralNetworks
import Pretrained
import Testing
import TestSupport

/// A random BERT with odd sizes (width 52, 4 heads of 13, intermediate 75) against
/// `transformers`' outputs for the same ids, as F32, F16 and sharded BF16 weights.
@Suite struct BertModelTests {
    func load(_ name: String, on backend: any Backend) throws -> BertModel {
        let folder = try ModelFolder(HFFixtures.folder(name))
        let model = try BertModel(BertConfig(folder.config), initializer: Initializer(seed: 1, backend: backend))
        try model.load(folder.weights(), path: folder.url.path)
        return model
    }

    func check(_ name: String, backend backendName: String, pooler: Bool) throws {
        let backend = try TestBackends.named(backendName)
        let model = try load(name, on: backend)
        let (shape, ids) = try HFFixtures.ints(name, "input_ids.npy")
        let mask = try HFFixtures.floats(name, "attention_mask.npy").values
        let (batch, length, width) = (shape[0], shape[1], model.config.width)
        let hidden = try Autograd.withoutGradients { try model(ids: Tensor(ids, shape: shape, on: backend), mask: mask) }
        let hiddenValues = try hidden.values()
        // Padded positions are compared too: transformers computes them, and so do we.
        #expect(normwiseError(hiddenValues, try HFFixtures.floats(name, "last_hidden_state.npy").values) <= 1e-4, "\(name) \(backendName) last hidden state")
        let mean = Pooling.mean.pool(hiddenValues, mask: mask, batch: batch, length: length, width: width)
        #expect(normwiseError(mean, try HFFixtures.floats(name, "mean_pooled.npy").values) <= 1e-4, "\(name) \(backendName) mean pooling")
        if pooler {
            let cls = try hidden.reshaped([batch * length, width]).gatherRows((0..<batch).map { Int32($0 * length) })
            #expect(normwiseError(try model.pooled(cls: cls), try HFFixtures.floats(name, "pooler_output.npy").values) <= 1e-4, "\(name) \(backendName) pooler")
            #expect(normwiseError(Pooling.cls.pool(hiddenValues, mask: mask, batch: batch, length: length, width: width),
                                  try HFFixtures.floats(name, "cls.npy").values) <= 1e-4)
        }
    }

    @Test func tinyBertMatchesTransformersOnCPU() throws { try check("bert-tiny", backend: "cpu", pooler: true) }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func tinyBertMatchesTransformersOnOpenCL() throws { try check("bert-tiny", backend: "opencl", pooler: true) }
    @Test func halfPrecisionWeightsAreWidenedOnLoad() throws { try check("bert-tiny-f16", backend: "cpu", pooler: false) }
    @Test func shardedBFloat16WeightsLoad() throws { try check("bert-tiny-bf16-sharded", backend: "cpu", pooler: false) }

    @Test func exportGivesTheFileBack() throws {
        let folder = try ModelFolder(HFFixtures.folder("bert-tiny"))
        let weights = try folder.weights()
        let exported = try load("bert-tiny", on: TestBackends.cpu).exportedTensors()
        for (name, tensor) in exported {
            let original = try #require(weights[name], "\(name) is not in the file")
            #expect(tensor.shape == original.shape, "\(name)")
            #expect(try tensor.floatValues() == original.floatValues(), "\(name)")
        }
    }
}
