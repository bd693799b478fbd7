import Autograd
import Compute
import NeuralNetworks
import Testing
import TestSupport

/// Gradients through whole layers — embedding, layer norms, multi-head attention with a
/// key-padding mask, the GELU MLP, residuals, reshapes and axis swaps — against central
/// differences of a float64 reference of the same block, on both backends.
@Suite struct LayerGradientTests {

    @Test func embeddingAndTransformerBlockMatchAFloat64ReferenceOnCPU() throws { try embeddingAndTransformerBlockMatchAFloat64Reference(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func embeddingAndTransformerBlockMatchAFloat64ReferenceOnOpenCL() throws { try embeddingAndTransformerBlockMatchAFloat64Reference(backend: "opencl") }
    func embeddingAndTransformerBlockMatchAFloat64Reference(backend name: String) throws {
        let backend = try TestBackends.named(name, fresh: true)
        let (batch, length, width, heads, hidden, vocabulary) = (2, 3, 8, 2, 16, 5)
        let initializer = Initializer(seed: 4, backend: backend)
        let embedding = try Embedding(count: vocabulary, dimensions: width, name: "tokens", initializer: initializer)
        let block = try TransformerBlock(dimensions: width, heads: heads, hidden: hidden, name: "block", initializer: initializer)
        // Non-trivial norm parameters, so their gradients are checked away from 1 and 0.
        var random = SeededValues(seed: 8)
        for norm in [block.attentionNorm, block.mlpNorm] {
            try norm.weight.assign(random.array(width).map { 1 + 0.5 * $0 })
            try norm.bias.assign(random.array(width, scale: 0.5))
        }
        let ids: [Int32] = [3, 0, 3, 4, 1, 2]
        let keyMask: [Float] = [1, 1, 0, 1, 1, 1]
        let weights = random.array(batch * length * width)

        let y = try block(embedding(ids, shape: [batch, length]), keyMask: keyMask)
        try (y * Tensor(weights, shape: y.shape, on: backend)).sum().backward()

        let named = Dictionary(uniqueKeysWithValues: try block.namedParameters.map { ($0.name, try $0.tensor.values().map(Double.init)) })
        let table = try embedding.table.values().map(Double.init)
        func loss(_ parameters: [String: [Double]], table: [Double]) -> Double {
            let x = ids.flatMap { table[(Int($0) * width)..<((Int($0) + 1) * width)] }
            let reference = TransformerBlockReference(parameters: parameters, width: width, heads: heads, hidden: hidden)
            let out = reference.forward(x, batch: batch, length: length, keyMask: keyMask.map(Double.init))
            return zip(out, weights).reduce(0.0) { $0 + $1.0 * Double($1.1) }
        }
        for (parameterName, tensor) in block.namedParameters {
            let numeric = finiteDifferenceGradient(of: { values in
                var shifted = named
                shifted[parameterName] = values
                return [loss(shifted, table: table)]
            }, at: named[parameterName]!, weights: [1])
            let error = normwiseError(try tensor.gradientValues(), numeric)
            #expect(error <= 1e-4, "\(name): \(parameterName) error \(error)")
        }
        // The key projection has no bias (its gradient would be rounding noise only).
        #expect(!block.namedParameters.contains { $0.name == "attention.key.bias" })
        let numericTable = finiteDifferenceGradient(of: { [loss(named, table: $0)] }, at: table, weights: [1])
        #expect(normwiseError(try embedding.table.gradientValues(), numericTable) <= 1e-4, "\(name): embedding table")
    }

    @Test func sumAndMeanGradients() throws {
        let x = try Tensor([1, 2, 3, 4], shape: [2, 2], on: CPUBackend(), requiresGradient: true)
        let mean = try x.mean()
        #expect(try mean.values() == [2.5])
        try mean.backward()
        #expect(try x.gradientValues() == [0.25, 0.25, 0.25, 0.25])
    }
}
