import Compute
import Pretrained
import Foundation

/// The sizes of a multimodal model, stored with a run as JSON (`config.json`, and later in
/// checkpoints) so it can be rebuilt exactly.
public struct ModelConfig: Codable, Sendable, Equatable {
    /// Feature width of every encoder and fusion layer.
    public var width = 64
    public var heads = 4
    public var textLayers = 2
    public var imageLayers = 2
    /// VLCDoC cross-modal layers (IntraMSA + InterMCA in both directions).
    public var fusionLayers = 1
    /// Hidden width of the MLPs = `mlpRatio · width`.
    public var mlpRatio = 2
    public var patchSize = 8
    public var imageSize = 32
    /// Token positions, [CLS] included.
    public var maxTextLength = 32
    public var vocabularySize = 64
    /// Width of the contrastive / MI projection heads.
    public var projection = 64
    public var classes = 2
    public var tagClasses = 2
    /// A pretrained text tower (`--text-model`) instead of `TextEncoder`; nil: from scratch.
    public var pretrainedText: PretrainedTextConfig?
    /// A pretrained image tower (`--image-model`) instead of `VisionTransformer`; nil: from scratch.
    public var pretrainedImage: PretrainedImageConfig?

    public init() {}

    public var patchesPerImage: Int { (imageSize / patchSize) * (imageSize / patchSize) }
    public var patchFeatures: Int { 3 * patchSize * patchSize }
    public var hidden: Int { mlpRatio * width }

    /// Throws naming the first size that cannot work.
    public func validate() throws {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "model config", message: message) }
        for (name, value) in [("width", width), ("heads", heads), ("mlp-ratio", mlpRatio), ("patch-size", patchSize), ("image-size", imageSize),
                              ("max-text-length", maxTextLength), ("vocabulary size", vocabularySize), ("projection", projection),
                              ("classes", classes), ("tag classes", tagClasses)] where value < 1 {
            throw fail("\(name) must be at least 1, got \(value)")
        }
        for (name, value) in [("text-layers", textLayers), ("image-layers", imageLayers), ("fusion-layers", fusionLayers)] where value < 0 {
            throw fail("\(name) must not be negative, got \(value)")
        }
        guard width % heads == 0 else { throw fail("width \(width) must be divisible by heads \(heads)") }
        guard imageSize % patchSize == 0 else { throw fail("image size \(imageSize) must be a multiple of the patch size \(patchSize)") }
        if let pretrainedText {
            let text = try pretrainedText.textModelConfig()
            guard maxTextLength <= text.maxPositions else {
                throw fail("texts of \(maxTextLength) tokens do not fit the text model's \(text.maxPositions) positions")
            }
        }
        if let pretrainedImage {
            let clip = try pretrainedImage.clipConfig()
            guard imageSize == clip.imageSize, patchSize == clip.patchSize else {
                throw fail("the image model takes \(clip.imageSize)-pixel images in \(clip.patchSize)-pixel patches, not \(imageSize) in \(patchSize)")
            }
        }
    }

    /// Ops whose support depends on this model's sizes, for `Backend.supports`: attention at
    /// each head width (the OpenCL kernels hold a head row in private memory), a pretrained
    /// tower's included.
    public var sizeDependentOps: [any OpDescriptor] {
        var headWidths = heads >= 1 && width % heads == 0 ? [width / heads] : []
        if let text = try? pretrainedText?.textModelConfig() { headWidths.append(text.headWidth) }
        if let clip = try? pretrainedImage?.clipConfig() { headWidths.append(clip.vision.width / clip.vision.heads) }
        return headWidths.compactMap {
            try? AttentionDescriptor(batch: 1, heads: 1, queryLength: 1, keyLength: 1, headDimension: $0, valueDimension: $0)
        }
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
