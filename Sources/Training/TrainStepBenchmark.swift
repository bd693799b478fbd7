import Autograd
import Benchmarking
import Compute
import DataParallel
import Foundation
import Multimodal
import NeuralNetworks

/// The training-step benchmark: the trainer's own CLIP step (forward, backward, gradient
/// clipping, AdamW, the logit-scale clamp; `OptimizationStep`) of a fixed model on random
/// inputs, the same model the peer comparison builds in PyTorch and tinygrad — text
/// transformer and ViT of 4 layers, width 256, 4 heads, 32 tokens, vocabulary 1000, 32×32 RGB
/// images in 4×4 patches, projections 256, symmetric InfoNCE, AdamW.
public enum TrainStepBenchmark {
    public static func config(width: Int = 256, layers: Int = 4) -> ModelConfig {
        var config = ModelConfig()
        (config.width, config.heads, config.textLayers, config.imageLayers, config.fusionLayers) = (width, 4, layers, layers, 0)
        (config.patchSize, config.imageSize, config.maxTextLength, config.vocabularySize, config.projection) = (4, 32, 32, 1000, width)
        return config
    }

    /// `batch` samples per step; `width`/`layers` shrink the model for quick runs.
    public static func benchmarkCase(batch: Int, width: Int = 256, layers: Int = 4) -> BenchmarkCase {
        let config = config(width: width, layers: layers)
        @Sendable func setUp(_ backend: any Backend) throws -> () throws -> Float {
            let options = TrainingOptions()
            let model = try Recipe.clip.makeModel(config: config, options: options.recipeOptions, seed: 1, backend: backend)
            let optimizer = AdamW(parameters: model.parameters, learningRate: 1e-4, weightDecay: options.weightDecay, undecayed: model.undecayedParameters)
            let step = OptimizationStep(model: model, optimizer: optimizer, clipNorm: options.clipNorm, seed: 1)
            let length = config.maxTextLength
            let ids = try Tensor((0..<(batch * length)).map { Int32(($0 * 7919) % config.vocabularySize) }, shape: [batch, length], on: backend)
            let patches = try Tensor(SeededValues.values(batch * config.patchesPerImage * config.patchFeatures, seed: 21),
                                     shape: [batch, config.patchesPerImage, config.patchFeatures], on: backend)
            let inputs = Batch(ids: ids, mask: [Float](repeating: 1, count: batch * length), patches: patches)
            var count = 0
            return {
                defer { count += 1 }
                // Read every step, as the trainer does on a logged step.
                let outcome = try step(inputs, shard: step.session.shard(step: count, globalIndices: Array(0..<batch)))
                return Float(try OptimizationStep.checkedLoss(outcome, step: count).value)
            }
        }
        let parameters = ["batch": batch, "width": width, "layers": layers]
        return BenchmarkCase(name: "train-step clip \(layers)x\(width) batch \(batch)", family: "train-step", parameters: parameters,
                             variant: "clip", unit: "samples/s", work: Double(batch), unitScale: 1,
                             prepare: { backend in let step = try setUp(backend); return { _ = try step() } },
                             // The check: the losses of three steps (forward, backward and update
                             // all feed into the later ones).
                             output: { backend in let step = try setUp(backend); return try (0..<3).map { _ in try step() } },
                             expected: nil)
    }
}
