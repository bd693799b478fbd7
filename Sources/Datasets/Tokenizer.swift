import Foundation

/// A word-level tokenizer: lowercase words and single punctuation characters, with a vocabulary
/// counted from training texts. Ids are `Int32` because that is what embedding lookups take.
public struct Tokenizer: Sendable, Equatable {
    public static let padToken = "[PAD]"
    public static let unknownToken = "[UNK]"
    public static let classToken = "[CLS]"
    public static let separatorToken = "[SEP]"
    /// Specials sit at fixed ids 0…3 in this order, so models and saved vocabularies agree on them.
    public static let specialTokens = [padToken, unknownToken, classToken, separatorToken]
    public static let padID: Int32 = 0
    public static let unknownID: Int32 = 1
    public static let classID: Int32 = 2
    public static let separatorID: Int32 = 3

    /// The version written to and accepted from vocabulary files.
    public static let fileVersion = 1

    /// Tokens in id order: `tokens[id]`.
    public let tokens: [String]
    private let ids: [String: Int32]

    public var count: Int { tokens.count }

    /// Builds the vocabulary from `texts`: words seen at least `minCount` times, most frequent
    /// first with ties broken alphabetically (so the same texts always give the same ids),
    /// cut so that the vocabulary including the 4 specials has at most `maxSize` entries.
    public init(buildingFrom texts: [String], maxSize: Int = 10_000, minCount: Int = 1) throws {
        guard maxSize >= Self.specialTokens.count + 1 else {
            throw DatasetError.invalidTokenizerSetting(
                name: "maxSize", value: maxSize, requirement: "≥ \(Self.specialTokens.count + 1) (4 special tokens and at least one word)")
        }
        guard minCount >= 1 else {
            throw DatasetError.invalidTokenizerSetting(name: "minCount", value: minCount, requirement: "≥ 1")
        }
        var wordCounts: [String: Int] = [:]
        for text in texts {
            for word in Self.words(text) { wordCounts[word, default: 0] += 1 }
        }
        let specials = Set(Self.specialTokens)
        let kept = wordCounts
            .filter { $0.value >= minCount && !specials.contains($0.key) }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(maxSize - Self.specialTokens.count)
            .map(\.key)
        self.init(validatedTokens: Self.specialTokens + kept)
    }

    /// Reads a vocabulary written by `jsonData()`.
    public init(jsonData: Data) throws {
        let file: VocabularyFile
        do {
            file = try JSONDecoder().decode(VocabularyFile.self, from: jsonData)
        } catch {
            throw DatasetError.invalidVocabulary(
                reason: "expected a JSON object {\"version\": 1, \"tokens\": [...]} (\(Self.reason(error)))")
        }
        guard file.version == Self.fileVersion else {
            throw DatasetError.invalidVocabulary(reason: "version \(file.version) is not supported (expected \(Self.fileVersion))")
        }
        guard file.tokens.count >= Self.specialTokens.count,
              Array(file.tokens.prefix(Self.specialTokens.count)) == Self.specialTokens
        else {
            throw DatasetError.invalidVocabulary(
                reason: "the first tokens must be \(Self.specialTokens.joined(separator: ", ")) at ids 0…3, got \(file.tokens.prefix(Self.specialTokens.count).joined(separator: ", "))")
        }
        guard file.tokens.count <= Int(Int32.max) else {
            throw DatasetError.invalidVocabulary(reason: "\(file.tokens.count) tokens do not fit Int32 ids")
        }
        var seen = Set<String>()
        for (id, token) in file.tokens.enumerated() {
            guard !token.isEmpty else {
                throw DatasetError.invalidVocabulary(reason: "token \(id) is empty")
            }
            guard seen.insert(token).inserted else {
                throw DatasetError.invalidVocabulary(reason: "token \"\(token)\" appears more than once (again at id \(id))")
            }
        }
        self.init(validatedTokens: file.tokens)
    }

    /// The decoder's own explanation, without Foundation's generic "could not be read" wrapper.
    private static func reason(_ error: Error) -> String {
        switch error as? DecodingError {
        case .dataCorrupted(let context), .keyNotFound(_, let context),
             .typeMismatch(_, let context), .valueNotFound(_, let context):
            context.debugDescription
        default:
            String(describing: error)
        }
    }

    private init(validatedTokens: [String]) {
        tokens = validatedTokens
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(validatedTokens.count)
        for (id, token) in validatedTokens.enumerated() { ids[token] = Int32(id) }
        self.ids = ids
    }

    /// `{"version":1,"tokens":[...]}` with tokens in id order; keys sorted so files diff cleanly.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(VocabularyFile(version: Self.fileVersion, tokens: tokens))
    }

    /// The id of an already-normalised word (as produced by `words`); unknown words get `[UNK]`.
    public func id(_ word: String) -> Int32 { ids[word] ?? Self.unknownID }

    /// The token for an id, or `[UNK]` for ids outside the vocabulary.
    public func token(_ id: Int32) -> String {
        id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : Self.unknownToken
    }

    // MARK: - Normalisation

    /// Lowercases, splits on whitespace, and splits each punctuation or symbol character off as
    /// its own token: "Top left, please!" → ["top", "left", ",", "please", "!"].
    public static func words(_ text: String) -> [String] {
        text.split(whereSeparator: \.isWhitespace).flatMap { splitPunctuation(String($0)) }
    }

    /// Tokens of one whitespace-free chunk.
    private static func splitPunctuation(_ chunk: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        for character in chunk.lowercased() {
            if character.isPunctuation || character.isSymbol {
                if !current.isEmpty { pieces.append(current); current = "" }
                pieces.append(String(character))
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    // MARK: - Encoding

    /// Encodes `[CLS] text… ([SEP] pair…)`, truncated to `maxLength` and padded with `[PAD]`.
    ///
    /// - Returns: exactly `max(0, maxLength)` ids; `mask` 1 for real tokens and 0 for padding;
    ///   `wordIndex[i]` the index of the whitespace word of `text` that token i starts, or −1
    ///   for specials, padding, pair tokens and the later pieces of a word split at punctuation
    ///   (so word-level labels such as BIO tags land on exactly one token per word).
    public func encode(_ text: String, maxLength: Int, pair: String? = nil) -> (ids: [Int32], mask: [Float], wordIndex: [Int]) {
        let length = max(0, maxLength)
        var ids: [Int32] = [Self.classID]
        var wordIndex: [Int] = [-1]
        ids.reserveCapacity(length)
        wordIndex.reserveCapacity(length)

        for (index, word) in text.split(whereSeparator: \.isWhitespace).enumerated() {
            guard ids.count < length else { break }
            for (piece, token) in Self.splitPunctuation(String(word)).enumerated() {
                ids.append(id(token))
                wordIndex.append(piece == 0 ? index : -1)
            }
        }
        if let pair, ids.count < length {
            ids.append(Self.separatorID)
            wordIndex.append(-1)
            for token in Self.words(pair) {
                guard ids.count < length else { break }
                ids.append(id(token))
                wordIndex.append(-1)
            }
        }

        return paddedCaption(Array(ids.prefix(length)), wordIndex: Array(wordIndex.prefix(length)), length: length, padId: Self.padID)
    }
}

/// The on-disk shape of a vocabulary.
private struct VocabularyFile: Codable {
    var version: Int
    var tokens: [String]
}
