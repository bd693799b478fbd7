import Autograd
import Compute
import NeuralNetworks
import Testing
import TestSupport

/// Gradients through whole layers (reshapes, axis swaps, attention, residuals, norms) against
/// central differences of the loss, and dropout's train/eval switch.
@Suite struct LayerGradientTests {
    @Test func transformerBlockGradientsMatchFiniteDifferences() throws {
        let backend = CPUBackend()
        let block = try TransformerBlock(dimensions: 8, heads: 2, hidden: 16, name: "block", initializer: Initializer(seed: 4, backend: backend))
        var random = SeededValues(seed: 8)
        let xValues = random.array(2 * 3 * 8)
        let x = try Tensor(xValues, shape: [2, 3, 8], on: backend, requiresGradient: true)
        let keyMask: [Float] = [1, 1, 1, 1, 0, 1]
        func loss(_ input: Tensor) throws -> Tensor { try (block(input, keyMask: keyMask) * block(input, keyMask: keyMask)).mean() }
        try loss(x).backward()
        let analytic = try x.gradientValues()
        let checked = [block.attention.query.weight, block.mlp.up.bias, block.attentionNorm.weight]
        let parameterGradients = try checked.map { try $0.gradientValues() }
        func numeric(_ tensor: Tensor, input: Tensor) throws -> [Double] {
            let original = try tensor.values()
            var result: [Double] = []
            for i in 0..<original.count {
                func value(_ delta: Float) throws -> Double {
                    var shifted = original
                    shifted[i] += delta
                    try shifted.withUnsafeBufferPointer { try backend.upload($0, to: tensor.storage) }
                    return Double(try Autograd.withoutGradients { try loss(input) }.values()[0])
                }
                result.append((try value(1e-2) - value(-1e-2)) / 2e-2)
            }
            try original.withUnsafeBufferPointer { try backend.upload($0, to: tensor.storage) }
            return result
        }
        #expect(normwiseError(analytic, try numeric(x, input: x)) <= 2e-2, "input")
        for (parameter, gradient) in zip(checked, parameterGradients) {
            #expect(normwiseError(gradient, try numeric(parameter, input: x)) <= 2e-2, "\(parameter.shape)")
        }
    }

    @Test func dropoutFollowsTrainAndEvalMode() throws {
        let backend = CPUBackend()
        let dropout = Dropout(probability: 0.5, seed: 3)
        let x = try Tensor([Float](repeating: 1, count: 100), shape: [100], on: backend)
        #expect(try dropout(x, step: 1).values().contains(0))
        dropout.train(false)
        #expect(try dropout(x, step: 1).values() == x.values())
        let block = try TransformerBlock(dimensions: 4, heads: 1, hidden: 8, name: "b", initializer: Initializer(seed: 1, backend: backend))
        #expect(block.submodules.count == 4 && block.mlp.submodules.count == 2)
    }

    @Test func sumAndMeanGradients() throws {
        let x = try Tensor([1, 2, 3, 4], shape: [2, 2], on: CPUBackend(), requiresGradient: true)
        let mean = try x.mean()
        #expect(try mean.values() == [2.5])
        try mean.backward()
        #expect(try x.gradientValues() == [0.25, 0.25, 0.25, 0.25])
    }
}
