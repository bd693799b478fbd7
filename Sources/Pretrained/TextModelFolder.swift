import Foundation
import Tokenizers

/// A BERT-family or CLIP folder to fine-tune as a recipe's text tower (`aligncl train
/// --text-model`, `--init`): its sizes, its pooling (the one asked for, else a
/// sentence-transformers folder's own, else the model's default), the longest input it takes,
/// and its tokenizer in the shape training reads captions in.
public struct TextModelFolder: Sendable {
    /// The folder as given (a sentence-transformers folder, or the model folder itself).
    public let url: URL
    public let model: ModelFolder
    public let config: TextModelConfig
    public let pooling: Pooling
    /// Tokens, specials included: the model's positions, the tokenizer's and
    /// sentence-transformers' `max_seq_length`, whichever is least.
    public let maximumLength: Int
    public let tokenizer: PretrainedCaptionTokenizer

    /// The files that rebuild the model's shape and its tokenizer without the weights: a run
    /// keeps copies, so it is evaluated, resumed and exported after the folder is gone.
    public static let descriptionFiles = ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt",
                                          "special_tokens_map.json", "added_tokens.json"]

    public init(_ url: URL, pooling requested: Pooling? = nil) throws {
        let pipeline = try SentenceTransformersPipeline.read(url)
        let model = try ModelFolder(pipeline?.modelFolder ?? url)
        let config = try TextModelConfig(model.config, architecture: model.architecture)
        let tokenizer = try PretrainedTokenizer.load(folder: model.url)
        guard tokenizer.vocabularySize <= config.vocabularySize else {
            throw PretrainedError.tokenizerMismatch(folder: model.url.path,
                                                    reason: "the tokenizer has \(tokenizer.vocabularySize) tokens but the model's vocab_size is \(config.vocabularySize)")
        }
        let pooling = requested ?? pipeline?.pooling ?? config.defaultPooling
        guard config.trainablePoolings.contains(pooling) else {
            throw PretrainedError.invalidInput("\(url.path) pools by \(pooling.rawValue); this text tower is trained with \(config.trainablePoolings.map(\.rawValue).joined(separator: " or ")) pooling (--text-pooling)")
        }
        (self.url, self.model, self.config, self.pooling) = (url, model, config, pooling)
        self.tokenizer = PretrainedCaptionTokenizer(tokenizer)
        maximumLength = [config.maxPositions, tokenizer.maximumLength, pipeline?.maximumLength].compactMap { $0 }.min()!
    }

    /// Copies this model's `descriptionFiles` into `destination` (created).
    public func copyDescription(to destination: URL) throws { try Self.copyDescription(of: model.url, to: destination) }

    /// Copies the `descriptionFiles` that exist in `folder` into `destination` (created).
    public static func copyDescription(of folder: URL, to destination: URL) throws {
        try ModelFolder.copy(descriptionFiles, of: folder, to: destination)
    }
}
