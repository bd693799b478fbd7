import Autograd
import Compute
import NeuralNetworks

/// CLIP: a text transformer and a ViT, projected and trained with the symmetric image–text
/// contrastive loss at a learnable logit scale.
public final class ClipModel: RecipeModel {
    public static let retrieves = true
    public let config: ModelConfig
    public let options: RecipeOptions
    public let text: any TextTower
    public let image: any ImageTower
    public let textProjection, imageProjection: Linear
    /// θ, with logit scale `exp(θ)`.
    public let logitScaleLog: Tensor

    public init(config: ModelConfig, options: RecipeOptions, initializer: Initializer) throws {
        (self.config, self.options) = (config, options)
        text = try makeTextTower(config: config, initializer: initializer)
        image = try makeImageTower(config: config, initializer: initializer)
        textProjection = try Linear(config.width, config.projection, name: "text_projection", initializer: initializer)
        imageProjection = try Linear(config.width, config.projection, name: "image_projection", initializer: initializer)
        logitScaleLog = try makeLogitScaleLog(initializer)
    }

    public var imageTower: (any ImageTower)? { image }
    public var logitScaleParameter: Tensor? { logitScaleLog }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        Self.prefixed("text", text) + Self.prefixed("image", image) + Self.prefixed("text_projection", textProjection)
            + Self.prefixed("image_projection", imageProjection) + [("logit_scale", logitScaleLog)]
    }

    public var undecayedParameters: [Tensor] { [logitScaleLog] }

    public func afterOptimizerStep() throws { try clampLogitScale(logitScaleLog) }

    public func loss(_ batch: Batch, shard: BatchShard, seed: UInt64) throws -> StepLoss {
        let (image, text, _) = try embed(batch)
        let itc = try contrastive(image!, text, logitScaleLog: logitScaleLog, shard: shard)
        return StepLoss(total: itc, parts: [("itc", itc)])
    }

    public func evaluate(_ batch: Batch, names: RecipeNames, into outputs: inout EvaluationOutputs) throws {
        try addEmbeddings(batch, into: &outputs)
    }

    public func predict(_ batch: Batch, names: RecipeNames, visualContext: Bool) throws -> Prediction {
        try similarityPrediction(batch)
    }

    public func embed(_ batch: Batch) throws -> (image: Tensor?, text: Tensor, width: Int) {
        (try imageProjection(image(patches: batch.patches).cls), try textProjection(text(ids: batch.ids, mask: batch.mask).cls), config.projection)
    }
}

extension Recipe {
    /// Image–text contrastive only (CLIP).
    public static let clip = Recipe(name: "clip", model: ClipModel.self)
}
