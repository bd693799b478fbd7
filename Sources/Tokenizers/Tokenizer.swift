import Foundation

/// The ids of one text, with its attention mask (1 for every real token; padding adds 0s).
public struct TokenizedText: Sendable, Equatable {
    public var ids: [Int32]
    public var attentionMask: [Int32]

    public init(ids: [Int32], attentionMask: [Int32]) {
        self.ids = ids
        self.attentionMask = attentionMask
    }
}

/// A batch padded to one length: `ids` and `attentionMask` are row-major `[batchSize · length]`.
public struct TokenizedBatch: Sendable, Equatable {
    public var ids: [Int32]
    public var attentionMask: [Int32]
    public var batchSize: Int
    public var length: Int
}

/// How a batch is padded (always on the right, as the fast tokenizers do by default).
public enum BatchPadding: Sendable, Equatable {
    /// To the longest sequence of the batch.
    case longest
    /// To exactly this many tokens; longer sequences are truncated to it first.
    case fixed(Int)
}

/// A text tokenizer that gives the same ids as `transformers`' fast tokenizer for its folder.
public protocol TextTokenizer: Sendable {
    /// One past the largest id the tokenizer can produce: the size an embedding table needs.
    var vocabularySize: Int { get }
    /// The padding token's id (the folder's pad token; 0 when it names none).
    var padId: Int32 { get }
    /// The model's maximum length from the folder (`model_max_length`), nil if absent or
    /// the "unlimited" placeholder.
    var maximumLength: Int? { get }
    /// `text` with the special tokens ([CLS] … [SEP], <|startoftext|> … <|endoftext|>), cut
    /// to at most `maxLength` ids including those specials (as `truncation=True,
    /// max_length=…` does); nil means no truncation.
    func encode(_ text: String, maxLength: Int?) -> TokenizedText
    /// The ids of `text` without special tokens and without truncation.
    func tokenIds(_ text: String) -> [Int32]
}

extension TextTokenizer {
    /// Truncated to the model's maximum length when the folder gives one.
    public func encode(_ text: String) -> TokenizedText { encode(text, maxLength: maximumLength) }

    /// Encodes every text, truncated to the model's maximum length when the folder gives one,
    /// and pads them to a common length (see `encodeBatch(_:padding:maxLength:)`).
    public func encodeBatch(_ texts: [String], padding: BatchPadding = .longest) -> TokenizedBatch {
        encodeBatch(texts, padding: padding, maxLength: maximumLength)
    }

    /// Encodes every text (each truncated to `maxLength`, nil for no limit, and to the fixed
    /// length when padding to one) and pads on the right with `padId`, mask 0.
    public func encodeBatch(_ texts: [String], padding: BatchPadding, maxLength: Int?) -> TokenizedBatch {
        var limit = maxLength
        if case .fixed(let length) = padding { limit = min(limit ?? length, max(0, length)) }
        let encoded = texts.map { encode($0, maxLength: limit) }
        let length: Int
        switch padding {
        case .longest: length = encoded.map(\.ids.count).max() ?? 0
        case .fixed(let fixed): length = max(0, fixed)
        }
        var ids = [Int32](repeating: padId, count: texts.count * length)
        var mask = [Int32](repeating: 0, count: texts.count * length)
        for (row, text) in encoded.enumerated() {
            // Specials can exceed a fixed length shorter than themselves; the row keeps its first ids.
            let count = min(text.ids.count, length)
            for column in 0..<count {
                ids[row * length + column] = text.ids[column]
                mask[row * length + column] = text.attentionMask[column]
            }
        }
        return TokenizedBatch(ids: ids, attentionMask: mask, batchSize: texts.count, length: length)
    }
}

/// The model step of a pipeline.
enum TokenizerModel: Sendable {
    case wordPiece(WordPieceModel)
    case bpe(BPEModel)

    var vocabulary: Vocabulary {
        switch self {
        case .wordPiece(let model): model.vocabulary
        case .bpe(let model): model.vocabulary
        }
    }

    func tokenize(_ word: [Unicode.Scalar], into ids: inout [Int32]) {
        switch self {
        case .wordPiece(let model): model.tokenize(word, into: &ids)
        case .bpe(let model): model.tokenize(word, into: &ids)
        }
    }
}

/// The tokenizers-crate pipeline: added tokens on the raw text, normalizer, added tokens on
/// the normalized text, pre-tokenizer, model, then the template's special tokens.
struct TokenizerPipeline: Sendable {
    var rawAddedTokens: AddedTokenMatcher
    var normalizedAddedTokens: AddedTokenMatcher
    var normalizer: Normalizer?
    var preTokenizer: PreTokenizer?
    var model: TokenizerModel
    /// The single-sequence template: ids before and after the text.
    var prefix: [Int32]
    var suffix: [Int32]
    var vocabularySize: Int
    var padId: Int32
    var maximumLength: Int?

    func tokenIds(_ text: String) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        ids.reserveCapacity(scalars.count / 3 + 4)
        var words: [[Unicode.Scalar]] = []
        for segment in rawAddedTokens.segments(of: scalars) {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let range):
                var piece = Array(scalars[range])
                normalizer?.apply(&piece)
                for inner in normalizedAddedTokens.segments(of: piece) {
                    switch inner {
                    case .token(let id): ids.append(id)
                    case .text(let innerRange):
                        words.removeAll(keepingCapacity: true)
                        let part = innerRange == piece.indices ? piece : Array(piece[innerRange])
                        if let preTokenizer { preTokenizer.split(part, into: &words) } else { words.append(part) }
                        for word in words { model.tokenize(word, into: &ids) }
                    }
                }
            }
        }
        return ids
    }

    func encode(_ text: String, maxLength: Int?) -> TokenizedText {
        var content = tokenIds(text)
        if let maxLength {
            // The specials always stay; the text gives way (a limit below their count keeps only them).
            let room = max(0, maxLength - prefix.count - suffix.count)
            if content.count > room { content.removeSubrange(room...) }
        }
        let ids = prefix + content + suffix
        return TokenizedText(ids: ids, attentionMask: [Int32](repeating: 1, count: ids.count))
    }
}

/// The two tokenizer types are one pipeline each; this gives them its members.
protocol PipelineTokenizer: TextTokenizer {
    var pipeline: TokenizerPipeline { get }
}

extension PipelineTokenizer {
    public var vocabularySize: Int { pipeline.vocabularySize }
    public var padId: Int32 { pipeline.padId }
    public var maximumLength: Int? { pipeline.maximumLength }
    public func encode(_ text: String, maxLength: Int?) -> TokenizedText { pipeline.encode(text, maxLength: maxLength) }
    public func tokenIds(_ text: String) -> [Int32] { pipeline.tokenIds(text) }
}

/// A WordPiece (BERT-family) tokenizer.
public struct WordPieceTokenizer: PipelineTokenizer {
    let pipeline: TokenizerPipeline

    /// From the folder's tokenizer.json, or from vocab.txt and tokenizer_config.json without one.
    public static func load(folder: URL) throws(TokenizerError) -> WordPieceTokenizer {
        let pipeline = try TokenizerLoader.load(folder: folder)
        guard case .wordPiece = pipeline.model else {
            throw .unsupported(path: folder.path, component: "model", found: "BPE", supported: ["WordPiece"])
        }
        return WordPieceTokenizer(pipeline: pipeline)
    }
}

/// A byte-pair-encoding (CLIP-style) tokenizer.
public struct BPETokenizer: PipelineTokenizer {
    let pipeline: TokenizerPipeline

    /// From the folder's tokenizer.json, or from vocab.json, merges.txt and
    /// tokenizer_config.json without one.
    public static func load(folder: URL) throws(TokenizerError) -> BPETokenizer {
        let pipeline = try TokenizerLoader.load(folder: folder)
        guard case .bpe = pipeline.model else {
            throw .unsupported(path: folder.path, component: "model", found: "WordPiece", supported: ["BPE"])
        }
        return BPETokenizer(pipeline: pipeline)
    }
}

public enum PretrainedTokenizer {
    /// The tokenizer a Hugging Face folder describes, WordPiece or BPE according to its files:
    /// tokenizer.json when present, else vocab.txt (WordPiece) or vocab.json + merges.txt (BPE).
    public static func load(folder: URL) throws(TokenizerError) -> any TextTokenizer {
        let pipeline = try TokenizerLoader.load(folder: folder)
        switch pipeline.model {
        case .wordPiece: return WordPieceTokenizer(pipeline: pipeline)
        case .bpe: return BPETokenizer(pipeline: pipeline)
        }
    }
}
