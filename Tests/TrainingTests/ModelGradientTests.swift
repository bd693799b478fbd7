import Autograd
import Compute
import Multimodal
import NeuralNetworks
import Testing
import TestSupport

/// Gradients through the fusion layers (IntraMSA, InterMCA with a masked other stream, the
/// gate x ⊙ c, masked mean pooling) against central differences of the loss.
@Suite struct ModelGradientTests {
    @Test(arguments: [FusedTextPooling.mean, .firstToken])
    func fusionGradientsMatchFiniteDifferences(textPooling: FusedTextPooling) throws {
        let backend = CPUBackend()
        var config = ModelConfig()
        (config.width, config.heads, config.fusionLayers, config.mlpRatio) = (8, 2, 1, 2)
        let fusion = try FusionEncoder(config: config, initializer: Initializer(seed: 12, backend: backend))
        var random = SeededValues(seed: 21)
        let text = try Tensor(random.array(2 * 3 * 8), shape: [2, 3, 8], on: backend, requiresGradient: true)
        let image = try Tensor(random.array(2 * 4 * 8), shape: [2, 4, 8], on: backend, requiresGradient: true)
        let mask: [Float] = [1, 1, 0, 1, 0, 0]
        let weights = try Tensor(random.array(2 * 16), shape: [2, 16], on: backend)
        func loss() throws -> Tensor { try (fusion(text: text, textMask: mask, image: image, textPooling: textPooling).pooled * weights).sum() }
        try loss().backward()
        let checked: [(String, Tensor)] = [("text", text), ("image", image)]
            + fusion.namedParameters.filter { ["text.0.inter.query.weight", "image.0.inter.value.weight", "text.0.mlp.up.bias", "image.0.intra_norm.weight"].contains($0.name) }
        #expect(checked.count == 6)
        for (name, tensor) in checked {
            let analytic = try tensor.gradientValues()
            let numeric = try centralDifferences(tensor, indices: Array(0..<tensor.count), loss: loss)
            #expect(normwiseError(analytic, numeric) <= 1e-2, "\(name)")
        }
        // Padding positions of the text reach nothing: not pooled, masked as keys in both
        // directions. Their gradient is exactly zero; a real token's is not.
        let textGradient = try text.gradientValues()
        #expect(textGradient[16..<24].allSatisfy { $0 == 0 } && textGradient[32..<48].allSatisfy { $0 == 0 })
        #expect(textGradient[0..<8].contains { $0 != 0 })
        // The pooled text half is the fused stream's first token, or its mean over real tokens.
        let fused = try fusion(text: text, textMask: mask, image: image, textPooling: textPooling)
        let (pooled, stream) = (try fused.pooled.values(), try fused.text.values())
        for b in 0..<2 {
            let tokens = (0..<3).filter { mask[b * 3 + $0] != 0 }
            for d in 0..<8 {
                let expected = textPooling == .firstToken ? stream[b * 24 + d] : tokens.map { stream[b * 24 + $0 * 8 + d] }.reduce(0, +) / Float(tokens.count)
                #expect(abs(pooled[b * 16 + d] - expected) <= 1e-5, "sample \(b), feature \(d)")
            }
        }
    }
}
