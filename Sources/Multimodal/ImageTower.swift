import Autograd
import Compute
import Checkpoints
import Foundation
import NeuralNetworks
import Pretrained

/// A recipe's image tower: per-patch outputs `[B, P, width]` (fusion, local MI) and one vector
/// per image `[B, width]` (the contrastive heads). Trained from scratch (`VisionTransformer`)
/// or fine-tuned from a pretrained model (`PretrainedImageEncoder`).
public protocol ImageTower: Module {
    /// `patches [B, P, 3·p·p]` (`Batch.patches`) → (patches, cls).
    func callAsFunction(patches: Tensor) throws -> (patches: Tensor, cls: Tensor)
    /// The parameters that came from a pretrained model (their own learning rate); [] when
    /// trained from scratch.
    var pretrainedParameters: [Tensor] { get }
}

extension VisionTransformer: ImageTower {
    public var pretrainedParameters: [Tensor] { [] }
}

/// A run's pretrained image tower, as stored in its `ModelConfig`.
public struct PretrainedImageConfig: Codable, Sendable, Equatable {
    /// The CLIP folder's `config.json`, verbatim, so a run rebuilds the tower without the folder.
    public var modelConfig: String
    /// false: frozen (`--freeze image`): its forward runs without gradients and the optimizer
    /// leaves it alone; the adapter still trains.
    public var trainable: Bool

    public init(modelConfig: String, trainable: Bool) { (self.modelConfig, self.trainable) = (modelConfig, trainable) }

    public func clipConfig() throws -> CLIPConfig {
        try CLIPConfig(JSONObject(data: Data(modelConfig.utf8), path: "the run's image-model config"))
    }
}

/// CLIP's vision tower as the image tower, and a learned linear adapter from its width to the
/// recipe's `--width`. The per-image vector is the class token after `post_layernorm` (what
/// CLIP projects); the per-patch outputs are the last hidden state's patch rows.
public final class PretrainedImageEncoder: ImageTower {
    public let tower: CLIPVisionModel
    public let adapter: Linear
    public let trainable: Bool

    init(config: ModelConfig, pretrained: PretrainedImageConfig, initializer: Initializer) throws {
        let clip = try pretrained.clipConfig()
        tower = try CLIPVisionModel(clip, initializer: initializer)
        adapter = try Linear(clip.vision.width, config.width, name: "image.adapter", initializer: initializer)
        trainable = pretrained.trainable
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { Self.prefixed("model", tower) + Self.prefixed("adapter", adapter) }

    public var pretrainedParameters: [Tensor] { tower.parameters }

    public func callAsFunction(patches: Tensor) throws -> (patches: Tensor, cls: Tensor) {
        let (hidden, pooled) = trainable ? try tower(patches: patches) : try Autograd.withoutGradients { try tower(patches: patches) }
        return (try adapter(hidden.sliced(axis: 1, 1..<hidden.shape[1])), try adapter(pooled))
    }

    /// Loads the pretrained weights of a model folder, `weights` read from `path` (a run's first
    /// step; later ones load checkpoints).
    public func loadWeights(_ weights: [String: SafeTensor], path: String) throws {
        try tower.load(weights, path: path)
    }
}

/// The image tower `config` asks for, initialised from `initializer` (a pretrained one gets its
/// weights afterwards, from its folder or a checkpoint).
func makeImageTower(config: ModelConfig, initializer: Initializer) throws -> any ImageTower {
    if let pretrained = config.pretrainedImage { return try PretrainedImageEncoder(config: config, pretrained: pretrained, initializer: initializer) }
    return try VisionTransformer(config: config, initializer: initializer)
}
