import Autograd
import Compute
import Foundation
import Models
import NeuralNetworks

/// Everything a recipe trains: the encoders, the fusion layers and the heads it needs, under
/// stable dotted parameter names (`text.layers.0.attention.query.weight`).
public final class AlignmentModel: Module {
    public let config: ModelConfig
    public let recipe: Recipe
    public let options: RecipeOptions
    public let text: TextEncoder
    public let image: VisionTransformer?
    public let fusion: FusionEncoder?
    /// Task classes, ITM (2-way) and BIO tags.
    public let classifier, itmHead, tagger: Linear?
    /// Contrastive / MI projections of the text and the image.
    public let textProjection, imageProjection: Linear?
    /// VLCDoC's alignment projections: (image, text) × (intra, inter).
    public let alignment: [String: Linear]
    /// CLIP's θ with logit scale `s = exp(θ)`, initialised to ln(1/0.07), kept ≤ ln 100.
    public let logitScaleLog: Tensor?

    public static let maximumLogitScaleLog = Float(Foundation.log(100.0))

    public init(config: ModelConfig, recipe: Recipe, options: RecipeOptions, seed: UInt64, backend: any Backend) throws {
        try config.validate()
        try options.validate()
        (self.config, self.recipe, self.options) = (config, recipe, options)
        let initializer = Initializer(seed: seed, backend: backend)
        let (width, fused) = (config.width, 2 * config.width)
        text = try TextEncoder(config: config, initializer: initializer)
        image = recipe.usesImageEncoder ? try VisionTransformer(config: config, initializer: initializer) : nil
        fusion = recipe.usesFusion ? try FusionEncoder(config: config, initializer: initializer) : nil
        classifier = recipe.classifies ? try Linear(fused, config.classes, name: "classifier", initializer: initializer) : nil
        itmHead = recipe == .itcItm ? try Linear(fused, 2, name: "itm", initializer: initializer) : nil
        tagger = recipe == .ita ? try Linear(width, config.tagClasses, name: "tagger", initializer: initializer) : nil
        let projects = recipe == .clip || recipe == .itcItm || recipe == .localMI
        textProjection = projects ? try Linear(width, config.projection, name: "text_projection", initializer: initializer) : nil
        imageProjection = projects ? try Linear(width, config.projection, name: "image_projection", initializer: initializer) : nil
        var alignment: [String: Linear] = [:]
        if recipe == .vlcdoc {
            for name in ["image_intra", "text_intra", "image_inter", "text_inter"] {
                alignment[name] = try Linear(width, config.projection, name: "alignment.\(name)", initializer: initializer)
            }
        }
        self.alignment = alignment
        logitScaleLog = recipe == .clip || recipe == .itcItm
            ? try Tensor([Float(Foundation.log(1 / 0.07))], shape: [1], on: backend, requiresGradient: true) : nil
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        var all = Self.prefixed("text", text)
        if let image { all += Self.prefixed("image", image) }
        if let fusion { all += Self.prefixed("fusion", fusion) }
        for (name, head) in [("classifier", classifier), ("itm", itmHead), ("tagger", tagger),
                             ("text_projection", textProjection), ("image_projection", imageProjection)] {
            if let head { all += Self.prefixed(name, head) }
        }
        for name in alignment.keys.sorted() { all += Self.prefixed("alignment.\(name)", alignment[name]!) }
        if let logitScaleLog { all.append(("logit_scale", logitScaleLog)) }
        return all
    }


    /// Parameters that weight decay leaves alone: norms, biases, embeddings' positions are
    /// decayed as usual, but the logit scale must not shrink towards 0.
    public var undecayedParameters: [Tensor] { [logitScaleLog].compactMap { $0 } }

    /// After each optimizer step: CLIP's clamp θ ≤ ln 100 (prevents the known overflow).
    public func afterOptimizerStep() throws {
        guard let logitScaleLog else { return }
        try logitScaleLog.backend.map(.clamp(lower: 0, upper: Self.maximumLogitScaleLog), logitScaleLog.storage, into: logitScaleLog.storage, count: 1)
    }
}
