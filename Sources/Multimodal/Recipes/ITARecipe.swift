import Autograd
import Compute
import NeuralNetworks

/// ITA: the image's visual context as text after the sentence, BIO token tagging, and cross-view
/// alignment (the text-only view learns from the cross view by T²·KL).
public final class ITAModel: RecipeModel {
    public static let hasImageTower = false
    public let config: ModelConfig
    public let options: RecipeOptions
    public let text: any TextTower
    public let tagger: Linear

    public init(config: ModelConfig, options: RecipeOptions, initializer: Initializer) throws {
        (self.config, self.options) = (config, options)
        text = try makeTextTower(config: config, initializer: initializer)
        tagger = try Linear(config.width, config.tagClasses, name: "tagger", initializer: initializer)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { Self.prefixed("text", text) + Self.prefixed("tagger", tagger) }

    /// Tag logits `[B·L, tags]` of a view.
    func tagLogits(ids: Tensor, mask: [Float]) throws -> Tensor {
        let tokens = try text(ids: ids, mask: mask).tokens
        return try tagger(tokens).reshaped([tokens.shape[0] * tokens.shape[1], config.tagClasses])
    }

    public func loss(_ batch: Batch, shard: BatchShard, seed: UInt64) throws -> StepLoss {
        let cross = try tagLogits(ids: batch.crossIds, mask: batch.crossMask)
        // Cross-view alignment on the sentence's tagged tokens: the text-only view learns from
        // the cross view (the teacher, detached), T²·KL(teacher ‖ student).
        let tagged = batch.tagTargets.enumerated().filter { $0.element != EncodedSplit.ignoreIndex }.map { Int32($0.offset) }
        // Both terms are means over the global batch's tagged tokens.
        let weight = try shard.meanWeight(count: tagged.count, "tagged tokens")
        let tagging = try cross.crossEntropy(targets: batch.tagTargets, ignoreIndex: EncodedSplit.ignoreIndex).scaled(weight)
        // A rank whose samples have no tagged token adds nothing (0, not the mean of no rows);
        // its parameters still get (zero) gradients through the tagging term.
        let cva = tagged.isEmpty ? try tagging.scaled(0)
            : try tagLogits(ids: batch.ids, mask: batch.mask).gatherRows(tagged)
                .klDivergence(teacher: cross.gatherRows(tagged).detached(), temperature: options.cvaTemperature).scaled(weight)
        let rate = options.cvaRate
        return StepLoss(total: try tagging.scaled(1 - rate) + cva.scaled(rate), parts: [("tagging", tagging), ("cva", cva)])
    }

    /// The predicted tag of each word (its first token) of each sample.
    func tags(_ logits: Tensor, _ batch: Batch, names: RecipeNames) throws -> [[String]] {
        let predicted = argmax(try logits.values(), classes: config.tagClasses)
        return (0..<batch.size).map { b in
            (0..<batch.length).compactMap { l in
                let position = b * batch.length + l
                return batch.tagTargets[position] == EncodedSplit.ignoreIndex ? nil : names.tags[predicted[position]]
            }
        }
    }

    public func evaluate(_ batch: Batch, names: RecipeNames, into outputs: inout EvaluationOutputs) throws {
        outputs.predictedTags += try tags(tagLogits(ids: batch.crossIds, mask: batch.crossMask), batch, names: names)
        outputs.predictedTagsTextOnly += try tags(tagLogits(ids: batch.ids, mask: batch.mask), batch, names: names)
    }

    public func predict(_ batch: Batch, names: RecipeNames, visualContext: Bool) throws -> Prediction {
        let logits = try visualContext ? tagLogits(ids: batch.crossIds, mask: batch.crossMask) : tagLogits(ids: batch.ids, mask: batch.mask)
        var prediction = Prediction()
        prediction.tags = try tags(logits, batch, names: names).first
        return prediction
    }

    /// The [CLS] of the cross view (the sentence with its visual context); no image tower.
    public func embed(_ batch: Batch) throws -> (image: Tensor?, text: Tensor, width: Int) {
        (nil, try text(ids: batch.crossIds, mask: batch.crossMask).cls, config.width)
    }
}

extension Recipe {
    /// ITA: visual context as text, token tagging, cross-view KL.
    public static let ita = Recipe(name: "ita", model: ITAModel.self)
}
