import Datasets
import Foundation
import Tokenizers

/// A pretrained tokenizer in the shape training reads captions in (`Datasets.Tokenizer`'s
/// `encode`): ids padded to a fixed length, a mask, and for each token the whitespace word of
/// the text it starts (BIO tags land on one token per word), with an optional pair (ITA's
/// visual context) after a separator.
///
/// Words are tokenised one at a time: both BERT's and CLIP's pipelines split on whitespace
/// before anything else, so the concatenation equals tokenising the whole text (tested on the
/// fixture strings), and the word a token belongs to is known without character offsets.
public struct PretrainedCaptionTokenizer: CaptionTokenizer {
    public let tokenizer: any TextTokenizer
    /// What the model expects around a text: [CLS] … [SEP], or <|startoftext|> … <|endoftext|>.
    public let prefix: [Int32], suffix: [Int32]

    public init(_ tokenizer: any TextTokenizer) {
        self.tokenizer = tokenizer
        // The specials of an empty text are the template's: one before, the rest after.
        let specials = tokenizer.encode("", maxLength: nil).ids
        prefix = Array(specials.prefix(1))
        suffix = Array(specials.dropFirst())
    }

    /// Split only where every pipeline splits: space, tab, newline, return and Unicode space
    /// separators (BERT drops U+000B, U+000C and U+0085 as control characters instead, so a
    /// word they sit in stays one word, and the tokenizer treats them inside it).
    static func words(_ text: String) -> [Substring.UnicodeScalarView] {
        text.unicodeScalars.split { [" ", "\t", "\n", "\r"].contains($0) || $0.properties.generalCategory == .spaceSeparator }
    }

    public var count: Int { tokenizer.vocabularySize }

    public func length(_ text: String, pair: String) -> Int {
        let words = Self.words(text) + Self.words(pair)
        return prefix.count + suffix.count * (pair.isEmpty ? 1 : 2) + words.reduce(0) { $0 + tokenizer.tokenIds(String(String.UnicodeScalarView($1))).count }
    }

    /// The vocabulary size, the specials and the ids of a probe text with accents, CJK,
    /// punctuation and an emoji: tokenizers that agree on these agree in practice.
    public func identity() throws -> Data {
        let probe = tokenizer.tokenIds("Héllo, wörld! 東京 2024 🙂 don't")
        return Data(([Int32(count)] + prefix + [-1] + suffix + [-1] + probe).flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
    }

    public func encode(_ text: String, maxLength: Int, pair: String?) -> (ids: [Int32], mask: [Float], wordIndex: [Int]) {
        let length = max(0, maxLength)
        // The closing specials are kept whenever they fit (as transformers truncates).
        let closing = length >= prefix.count + suffix.count ? suffix : []
        let room = length - closing.count
        var ids = prefix, wordIndex = [Int](repeating: -1, count: prefix.count)
        for (index, word) in Self.words(text).enumerated() where ids.count < room {
            for (piece, id) in tokenizer.tokenIds(String(String.UnicodeScalarView(word))).enumerated() {
                ids.append(id)
                wordIndex.append(piece == 0 ? index : -1)
            }
        }
        if let pair, ids.count < room {
            var pairIds = suffix
            for word in Self.words(pair) { pairIds += tokenizer.tokenIds(String(String.UnicodeScalarView(word))) }
            ids += pairIds
            wordIndex += [Int](repeating: -1, count: pairIds.count)
        }
        return paddedCaption(Array(ids.prefix(room)) + closing, wordIndex: Array(wordIndex.prefix(room)) + [Int](repeating: -1, count: closing.count),
                             length: length, padId: tokenizer.padId)
    }
}
