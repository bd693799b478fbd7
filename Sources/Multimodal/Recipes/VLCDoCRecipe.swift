import Autograd
import Compute
import NeuralNetworks

/// VLCDoC: cross-modal fusion blocks over each sample's own pair, a classifier, and intra- and
/// inter-modality supervised-contrastive alignment at temperature τ.
public final class VLCDoCModel: RecipeModel {
    public static let classifies = true
    public let config: ModelConfig
    public let options: RecipeOptions
    public let text: any TextTower
    public let image: any ImageTower
    public let fusion: FusionEncoder
    public let classifier: Linear
    /// The alignment projections: (image, text) × (intra, inter).
    public let imageIntra, textIntra, imageInter, textInter: Linear

    public init(config: ModelConfig, options: RecipeOptions, initializer: Initializer) throws {
        (self.config, self.options) = (config, options)
        text = try makeTextTower(config: config, initializer: initializer)
        image = try makeImageTower(config: config, initializer: initializer)
        fusion = try FusionEncoder(config: config, initializer: initializer)
        classifier = try Linear(2 * config.width, config.classes, name: "classifier", initializer: initializer)
        func projection(_ name: String) throws -> Linear {
            try Linear(config.width, config.projection, name: "alignment.\(name)", initializer: initializer)
        }
        (imageIntra, textIntra, imageInter, textInter) = (try projection("image_intra"), try projection("text_intra"),
                                                          try projection("image_inter"), try projection("text_inter"))
    }

    public var imageTower: (any ImageTower)? { image }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        Self.prefixed("text", text) + Self.prefixed("image", image) + Self.prefixed("fusion", fusion) + Self.prefixed("classifier", classifier)
            + Self.prefixed("alignment.image_inter", imageInter) + Self.prefixed("alignment.image_intra", imageIntra)
            + Self.prefixed("alignment.text_inter", textInter) + Self.prefixed("alignment.text_intra", textIntra)
    }

    /// Both encoders, then the fusion layers over each sample's own pair.
    func fused(_ batch: Batch) throws -> (pooled: Tensor, text: Tensor, image: Tensor) {
        try fusion(text: text(ids: batch.ids, mask: batch.mask).tokens, textMask: batch.mask, image: image(patches: batch.patches).patches, textPooling: .mean)
    }

    public func loss(_ batch: Batch, shard: BatchShard, seed: UInt64) throws -> StepLoss {
        let fused = try fused(batch)
        let task = try classifier(fused.pooled).crossEntropy(targets: batch.labels)
        let (imageFeatures, textFeatures) = (try maskedMean(fused.image, mask: nil), try maskedMean(fused.text, mask: batch.mask))
        let labels = batch.labels.map(Float.init)
        let allLabels = try shard.gathered(labels, "labels")
        let scale = try Tensor([1 / options.alignmentTemperature], shape: [1], on: fused.pooled.backend)
        // Supervised contrastive ("n-pairs"): row i's target is uniform over the samples of its
        // class in the global batch; this rank computes its own rows.
        func align(_ a: Tensor, _ b: Tensor) throws -> Tensor {
            try a.infoNCE(shard.gathered(b, "alignment features"), logitScale: scale, targets: .labels, labelsA: labels, labelsB: allLabels, direction: .rows)
        }
        let (imageIntraFeatures, textIntraFeatures) = (try imageIntra(imageFeatures), try textIntra(textFeatures))
        let (imageInterFeatures, textInterFeatures) = (try imageInter(imageFeatures), try textInter(textFeatures))
        let intra = try align(imageIntraFeatures, imageIntraFeatures) + align(textIntraFeatures, textIntraFeatures)
        let inter = try align(imageInterFeatures, textInterFeatures) + align(textInterFeatures, imageInterFeatures)
        return StepLoss(total: try task + intra + inter, parts: [("task", task), ("intra", intra), ("inter", inter)])
    }

    public func evaluate(_ batch: Batch, names: RecipeNames, into outputs: inout EvaluationOutputs) throws {
        outputs.predictions += argmax(try classifier(fused(batch).pooled).values(), classes: config.classes)
    }

    public func predict(_ batch: Batch, names: RecipeNames, visualContext: Bool) throws -> Prediction {
        var prediction = Prediction()
        classPrediction(try classifier(fused(batch).pooled).values(), names: names, into: &prediction)
        return prediction
    }

    /// The encoders' [CLS] tokens (before fusion).
    public func embed(_ batch: Batch) throws -> (image: Tensor?, text: Tensor, width: Int) {
        (try image(patches: batch.patches).cls, try text(ids: batch.ids, mask: batch.mask).cls, config.width)
    }
}

extension Recipe {
    /// VLCDoC: cross-modal fusion blocks, intra/inter-modality alignment, classifier.
    public static let vlcdoc = Recipe(name: "vlcdoc", model: VLCDoCModel.self)
}
