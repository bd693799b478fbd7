import Autograd
import Compute
import Datasets
import Foundation
import NeuralNetworks
import Tokenizers

/// A Hugging Face model folder ready to embed texts and (CLIP) images: the model, its
/// tokenizer, its pooling and its image preprocessing, all read from the folder.
public final class PretrainedEncoder {
    public enum Architecture {
        case bert(BertModel)
        case clip(CLIPModel)
    }

    public let folder: URL
    public let architecture: Architecture
    public let tokenizer: any TextTokenizer
    /// BERT-family only (CLIP projects at its end-of-text token).
    public let pooling: Pooling
    public let normalize: Bool
    /// Texts are truncated to this many tokens, specials included.
    public let maximumTextLength: Int
    public let imagePreprocessor: CLIPImagePreprocessor?

    public static let supportedArchitectures = TextModelConfig.supportedArchitectures

    /// `pooling`/`normalize` nil: the folder's sentence-transformers pipeline, else `mean` and
    /// no normalisation. Given for a sentence-transformers folder, they replace its own.
    public init(folder url: URL, backend: any Backend, pooling: Pooling? = nil, normalize: Bool? = nil) throws {
        let pipeline = try SentenceTransformersPipeline.read(url)
        let modelFolder = try ModelFolder(pipeline?.modelFolder ?? url)
        folder = url
        let initializer = Initializer.placeholders(on: backend)
        let weightsPath = modelFolder.weightsPath
        tokenizer = try PretrainedTokenizer.load(folder: modelFolder.url)
        // Sizes first, so a tokenizer that cannot fit the model is reported before its weights.
        let configuration = try TextModelConfig(modelFolder.config, architecture: modelFolder.architecture)
        let (vocabulary, modelPositions) = (configuration.vocabularySize, configuration.maxPositions)
        guard tokenizer.vocabularySize <= vocabulary else {
            throw PretrainedError.tokenizerMismatch(folder: modelFolder.url.path,
                                                    reason: "the tokenizer has \(tokenizer.vocabularySize) tokens but the model's vocab_size is \(vocabulary)")
        }
        let weights = try modelFolder.weights()
        switch configuration {
        case .bert(let config):
            let model = try BertModel(config, initializer: initializer)
            try model.load(weights, prefixes: configuration.weightPrefixes, path: weightsPath)
            architecture = .bert(model)
            imagePreprocessor = nil
        case .clip(let config):
            let model = try CLIPModel(config, initializer: initializer)
            try model.load(weights, path: weightsPath)
            architecture = .clip(model)
            imagePreprocessor = modelFolder.exists("preprocessor_config.json") ? try modelFolder.imagePreprocessor(for: config) : nil
        }
        var positions = modelPositions
        positions = min(positions, tokenizer.maximumLength ?? positions)
        maximumTextLength = min(positions, pipeline?.maximumLength ?? positions)
        self.pooling = pooling ?? pipeline?.pooling ?? .mean
        self.normalize = normalize ?? pipeline?.normalize ?? false
    }

    public var backend: any Backend {
        switch architecture {
        case .bert(let model): model.words.table.backend
        case .clip(let model): model.logitScaleLog.backend
        }
    }

    /// Width of the text embeddings.
    public var textWidth: Int {
        switch architecture {
        case .bert(let model): model.config.width
        case .clip(let model): model.config.projection
        }
    }

    /// `texts` padded to their longest in one batch: host ids `[B·L]`, the length, and the mask `[B·L]`.
    func tokenize(_ texts: [String]) -> (ids: [Int32], length: Int, mask: [Float]) {
        let batch = tokenizer.encodeBatch(texts, padding: .longest, maxLength: maximumTextLength)
        return (batch.ids, batch.length, batch.attentionMask.map(Float.init))
    }

    /// One batch of texts → `[B·width]` (pooled, or CLIP's projected features), then
    /// normalised when asked.
    public func embed(texts: [String]) throws -> [Float] {
        guard !texts.isEmpty else { return [] }
        let (ids, length, mask) = tokenize(texts)
        let batch = texts.count
        let values: [Float] = try Autograd.withoutGradients {
            switch architecture {
            case .bert(let model):
                let hidden = try model(ids: Tensor(ids, shape: [batch, length], on: backend), mask: mask)
                if pooling == .pooler {
                    return try model.pooled(cls: hidden.reshaped([batch * length, model.config.width]).gatherRows((0..<batch).map { Int32($0 * length) }))
                }
                return pooling.pool(try hidden.values(), mask: mask, batch: batch, length: length, width: model.config.width)
            case .clip(let model):
                return try model.text(ids: ids, batch: batch, mask: mask, on: backend).features.values()
            }
        }
        return normalize ? normalizedRows(values, width: textWidth) : values
    }

    /// One batch of image files → CLIP's projected image features `[B·projection]`.
    public func embed(imageFiles: [URL]) throws -> [Float] {
        guard case .clip(let model) = architecture, let imagePreprocessor else {
            throw PretrainedError.invalidInput("\(folder.path) has no image tower (a CLIPModel folder with preprocessor_config.json has one)")
        }
        guard !imageFiles.isEmpty else { return [] }
        let pixels = try imageFiles.flatMap { try imagePreprocessor.pixelValues(imageFile: $0) }
        let values = try Autograd.withoutGradients { try model.vision(pixels: pixels, batch: imageFiles.count, on: backend).features.values() }
        return normalize ? normalizedRows(values, width: model.config.projection) : values
    }
}

extension PretrainedEncoder {
    /// The attention head widths of the model in `folder` (to pick a backend that runs them),
    /// or [] when the config cannot be read (loading then reports why).
    public static func headWidths(folder url: URL) -> [Int] {
        let modelURL = (try? SentenceTransformersPipeline.read(url))??.modelFolder ?? url
        guard let folder = try? ModelFolder(modelURL) else { return [] }
        if let bert = try? BertConfig(folder.config) { return [bert.width / bert.heads] }
        if let clip = try? CLIPConfig(folder.config) { return [clip.text.width / clip.text.heads, clip.vision.width / clip.vision.heads] }
        return []
    }
}

extension PretrainedEncoder {
    /// CLIP zero-shot classification: `softmax(exp(logit_scale) · cos(image, label text))` over
    /// the labels, as `logits_per_image` in `transformers` (the labels are the texts as given:
    /// write "a photo of a cat" for CLIP's prompt style).
    public func zeroShot(imageFile: URL, labels: [String]) throws -> [(label: String, probability: Double)] {
        guard case .clip(let model) = architecture else {
            throw PretrainedError.invalidInput("\(folder.path) is not a CLIPModel: zero-shot classification needs both towers")
        }
        guard !labels.isEmpty else { throw PretrainedError.invalidInput("give at least one label") }
        let width = model.config.projection
        let image = normalizedRows(try embed(imageFiles: [imageFile]), width: width)
        let texts = normalizedRows(try embed(texts: labels), width: width)
        let scale = Foundation.exp(Double(try model.logitScaleLog.values()[0]))
        let logits = labels.indices.map { row in
            scale * (0..<width).reduce(0.0) { $0 + Double(image[$1]) * Double(texts[row * width + $1]) }
        }
        // Max subtracted first: exp(logit_scale) reaches 100, so raw exps overflow float32 easily.
        let top = logits.max() ?? 0
        let exps = logits.map { Foundation.exp($0 - top) }
        let total = exps.reduce(0, +)
        return zip(labels, exps).map { ($0, $1 / total) }
    }
}
