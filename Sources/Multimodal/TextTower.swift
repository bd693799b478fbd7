import Autograd
import Compute
import Checkpoints
import Foundation
import NeuralNetworks
import Pretrained

/// A recipe's text tower: per-token outputs `[B, L, width]` (fusion, tagging, local MI) and one
/// vector per text `[B, width]` (the contrastive heads). Trained from scratch (`TextEncoder`)
/// or fine-tuned from a pretrained model (`PretrainedTextEncoder`).
public protocol TextTower: Module {
    /// `ids [B, L]` (int32), `mask [B·L]` (1 = token, 0 = padding) → (tokens, cls).
    func callAsFunction(ids: Tensor, mask: [Float]) throws -> (tokens: Tensor, cls: Tensor)
    /// The parameters that came from a pretrained model (their own learning rate); [] when
    /// trained from scratch.
    var pretrainedParameters: [Tensor] { get }
}

extension TextEncoder: TextTower {
    public var pretrainedParameters: [Tensor] { [] }
}

/// A run's pretrained text tower, as stored in its `ModelConfig`.
public struct PretrainedTextConfig: Codable, Sendable, Equatable {
    /// The model folder's `config.json`, verbatim, so a run rebuilds the tower without the folder.
    public var modelConfig: String
    public var pooling: Pooling
    /// false: frozen (`--freeze text`): its forward runs without gradients and the optimizer
    /// leaves it alone; the adapter still trains.
    public var trainable: Bool

    public init(modelConfig: String, pooling: Pooling, trainable: Bool) {
        (self.modelConfig, self.pooling, self.trainable) = (modelConfig, pooling, trainable)
    }

    public func textModelConfig() throws -> TextModelConfig {
        try TextModelConfig(configText: modelConfig, path: "the run's text-model config")
    }
}

/// A pretrained text model (BERT-family, or CLIP's text transformer) as the text tower, and a
/// learned linear adapter from its width to the recipe's `--width` (what fusion and the heads are built for). The tower is
/// pooled after the adapter: both are linear, so this is the adapter of the pooled vector.
public final class PretrainedTextEncoder: TextTower {
    public let tower: PretrainedTextTower
    public let adapter: Linear
    public let trainable: Bool
    let weightPrefixes: [String]

    init(config: ModelConfig, pretrained: PretrainedTextConfig, initializer: Initializer) throws {
        let modelConfig = try pretrained.textModelConfig()
        let model = try modelConfig.makeModel(initializer: initializer)
        tower = try PretrainedTextTower(model, pooling: pretrained.pooling, allowed: modelConfig.trainablePoolings)
        adapter = try Linear(model.width, config.width, name: "text.adapter", initializer: initializer)
        weightPrefixes = modelConfig.weightPrefixes
        trainable = pretrained.trainable
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { Self.prefixed("model", tower) + Self.prefixed("adapter", adapter) }

    public var pretrainedParameters: [Tensor] { tower.parameters }

    public func callAsFunction(ids: Tensor, mask: [Float]) throws -> (tokens: Tensor, cls: Tensor) {
        let hidden = trainable ? try tower.model(ids: ids, mask: mask) : try Autograd.withoutGradients { try tower.model(ids: ids, mask: mask) }
        let tokens = try adapter(hidden)
        return (tokens, try tower.pool(tokens, ids: ids, mask: mask))
    }

    /// Loads the pretrained weights of a model folder, `weights` read from `path` (a run's first
    /// step; later ones load checkpoints).
    public func loadWeights(_ weights: [String: SafeTensor], path: String) throws {
        try tower.load(weights, prefixes: weightPrefixes, path: path)
    }
}

/// The text tower `config` asks for, initialised from `initializer` (a pretrained one gets its
/// weights afterwards, from its folder or a checkpoint).
func makeTextTower(config: ModelConfig, initializer: Initializer) throws -> any TextTower {
    if let pretrained = config.pretrainedText { return try PretrainedTextEncoder(config: config, pretrained: pretrained, initializer: initializer) }
    return try TextEncoder(config: config, initializer: initializer)
}
