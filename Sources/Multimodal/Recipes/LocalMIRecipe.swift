import Autograd
import Compute
import NeuralNetworks

/// Local mutual-information maximisation: a bound (InfoNCE, DV or JSD) between the text and each
/// image location (or the pooled image, `globalMI`), over the global batch.
public final class LocalMIModel: RecipeModel {
    public static let retrieves = true
    public let config: ModelConfig
    public let options: RecipeOptions
    public let text: any TextTower
    public let image: any ImageTower
    public let textProjection, imageProjection: Linear

    public init(config: ModelConfig, options: RecipeOptions, initializer: Initializer) throws {
        (self.config, self.options) = (config, options)
        text = try makeTextTower(config: config, initializer: initializer)
        image = try makeImageTower(config: config, initializer: initializer)
        textProjection = try Linear(config.width, config.projection, name: "text_projection", initializer: initializer)
        imageProjection = try Linear(config.width, config.projection, name: "image_projection", initializer: initializer)
    }

    public var imageTower: (any ImageTower)? { image }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        Self.prefixed("text", text) + Self.prefixed("image", image) + Self.prefixed("text_projection", textProjection)
            + Self.prefixed("image_projection", imageProjection)
    }

    /// Per-location (or pooled) score matrices `[G, B, B]` of the global batch: dot products of
    /// the image-location projections with the text projection, over √projection so the critic
    /// starts near 0. Every rank computes the whole matrix (the DV bound's log-mean is not a sum
    /// over rows), so the loss is the same on every rank; the reduce-scatter then gives each rank
    /// the sum of N identical gradients of its rows, and averaging over ranks undoes the N.
    func localScores(_ batch: Batch, _ shard: BatchShard) throws -> Tensor {
        let (size, width) = (shard.globalSize, config.projection)
        let textEmbedding = try shard.gathered(textProjection(text(ids: batch.ids, mask: batch.mask).cls), "text embeddings")
        let locations = try shard.gathered(imageProjection(image(patches: batch.patches).patches), "image locations")  // [B, P, E]
        let grouped = options.globalMI ? try maskedMean(locations, mask: nil).reshaped([1, size, width]) : try locations.transposed(0, 1)
        let groups = grouped.shape[0]
        let texts = try Tensor.concatenated([Tensor](repeating: try textEmbedding.reshaped([1, size, width]), count: groups), axis: 0)
        return try grouped.matmul(texts, transposeOther: true).scaled(1 / Float(width).squareRoot())
    }

    public func loss(_ batch: Batch, shard: BatchShard, seed: UInt64) throws -> StepLoss {
        let bound = try localScores(batch, shard).mutualInformation(estimator: options.estimator.descriptorEstimator).mean()
        return StepLoss(total: try bound.scaled(-1), parts: [("mi_bound", bound)])
    }

    public func evaluate(_ batch: Batch, names: RecipeNames, into outputs: inout EvaluationOutputs) throws {
        try addEmbeddings(batch, into: &outputs)
    }

    public func predict(_ batch: Batch, names: RecipeNames, visualContext: Bool) throws -> Prediction {
        try similarityPrediction(batch)
    }

    /// The text projection of [CLS], and the mean of the image-location projections.
    public func embed(_ batch: Batch) throws -> (image: Tensor?, text: Tensor, width: Int) {
        (try maskedMean(imageProjection(image(patches: batch.patches).patches), mask: nil),
         try textProjection(text(ids: batch.ids, mask: batch.mask).cls), config.projection)
    }
}

extension Recipe {
    /// Local mutual-information maximisation between image locations and the text.
    public static let localMI = Recipe(name: "local-mi", model: LocalMIModel.self)
}
