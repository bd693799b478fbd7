import Foundation

/// What training reads captions with: the word-level `Tokenizer` built from the training texts,
/// or a pretrained model's tokenizer (`Pretrained.PretrainedCaptionTokenizer`).
public protocol CaptionTokenizer: Sendable {
    /// The number of ids it can give (the size of a text model's embedding table).
    var count: Int { get }

    /// `[start] text… ([separator] pair…) [end]`, truncated and padded to exactly `maxLength`
    /// ids; `mask` 1 for real tokens and 0 for padding; `wordIndex[i]` the whitespace word of
    /// `text` that token i starts, or −1 (specials, padding, pair tokens, later pieces of a word).
    func encode(_ text: String, maxLength: Int, pair: String?) -> (ids: [Int32], mask: [Float], wordIndex: [Int])

    /// The tokens `text` followed by `pair` takes, specials included, before truncation: what
    /// sizes a run's text length.
    func length(_ text: String, pair: String) -> Int

    /// Bytes that identify the vocabulary and its rules (ranks compare their hashes to check
    /// they tokenise alike).
    func identity() throws -> Data
}

extension CaptionTokenizer {
    public func encode(_ text: String, maxLength: Int) -> (ids: [Int32], mask: [Float], wordIndex: [Int]) {
        encode(text, maxLength: maxLength, pair: nil)
    }
}

/// `ids` and their `wordIndex` (already at most `length`) padded to exactly `length` with
/// `padId`, and the mask (1 = token, 0 = padding): the end of every `encode`.
public func paddedCaption(_ ids: [Int32], wordIndex: [Int], length: Int, padId: Int32) -> (ids: [Int32], mask: [Float], wordIndex: [Int]) {
    let padding = length - ids.count
    return (ids + repeatElement(padId, count: padding), [Float](repeating: 1, count: ids.count) + repeatElement(0, count: padding),
            wordIndex + repeatElement(-1, count: padding))
}

extension Tokenizer: CaptionTokenizer {
    /// `[CLS]`, the words, `[SEP]`, the pair's words.
    public func length(_ text: String, pair: String) -> Int { 2 + Self.words(text).count + Self.words(pair).count }

    public func identity() throws -> Data { try jsonData() }
}
