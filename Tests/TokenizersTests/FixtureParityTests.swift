import Foundation
import Testing
import Tokenizers

/// Every string of strings.json through each fixture tokenizer, against the fast tokenizer's
/// ids, loading the folder three ways.
@Suite struct FixtureParityTests {
    enum Source: String, CaseIterable, Sendable {
        /// The whole folder: the config names the class, which takes the vocabulary from tokenizer.json.
        case folder = "the folder"
        /// tokenizer.json alone, read as the `tokenizers` library reads it.
        case tokenizerJSONOnly = "tokenizer.json alone"
        /// No tokenizer.json: vocab.txt, or vocab.json + merges.txt, with the config.
        case vocabularyFiles = "the vocabulary files"
    }

    static let fixtures: [(folder: String, expected: String)] = [
        ("wordpiece-uncased", "expected_ids.json"),
        ("wordpiece-cased", "expected_ids.json"),
        ("clip-tiny", "clip_expected_ids.json"),
    ]

    /// What transformers needs when tokenizer.json is absent.
    static let vocabularyFiles = ["vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]

    static func load(_ folder: String, from source: Source) throws -> any TextTokenizer {
        switch source {
        case .folder: return try PretrainedTokenizer.load(folder: TokenizerFixtures.folder(folder))
        case .tokenizerJSONOnly: return try PretrainedTokenizer.load(folder: TokenizerFixtures.copy(folder, only: ["tokenizer.json"]))
        case .vocabularyFiles: return try PretrainedTokenizer.load(folder: TokenizerFixtures.copy(folder, only: vocabularyFiles))
        }
    }

    @Test(arguments: fixtures.map(\.folder), Source.allCases)
    func everyStringMatchesTheFastTokenizer(folder: String, source: Source) throws {
        let expected = try TokenizerFixtures.expectedIds(folder, Self.fixtures.first { $0.folder == folder }!.expected)
        let strings = try TokenizerFixtures.strings()
        try #require(expected.ids.count == strings.count, "\(folder): \(expected.ids.count) expected rows for \(strings.count) strings")
        let tokenizer = try Self.load(folder, from: source)

        var mismatches: [String] = []
        for (index, text) in strings.enumerated() {
            let encoded = tokenizer.encode(text, maxLength: expected.max_length)
            #expect(encoded.attentionMask == [Int32](repeating: 1, count: encoded.ids.count))
            if encoded.ids != expected.ids[index] {
                mismatches.append("#\(index) \"\(TokenizerFixtures.escaped(text))\"\n    got      \(encoded.ids)\n    expected \(expected.ids[index])")
            }
        }
        let matched = strings.count - mismatches.count
        #expect(
            mismatches.isEmpty,
            "\(folder) from \(source.rawValue): \(matched)/\(strings.count) match; first mismatches:\n\(mismatches.prefix(5).joined(separator: "\n"))")
    }

    /// The model folders' own inputs (written by transformers with padding): the batch helper
    /// must give the same ids and masks, padding and truncation included.
    @Test(arguments: [
        ("bert-tiny", BatchPadding.fixed(40), Int?.none),
        ("clip-tiny", BatchPadding.fixed(77), Int?.none),
        // sentence-transformers: truncation at max_seq_length 256, padding to the longest.
        ("minilm", BatchPadding.longest, Int?.some(256)),
    ])
    func batchesMatchTheFixtureInputs(folder: String, padding: BatchPadding, maxLength: Int?) throws {
        let tokenizerFolder = folder == "minilm" ? "wordpiece-uncased" : folder
        let tokenizer = try PretrainedTokenizer.load(folder: TokenizerFixtures.folder(tokenizerFolder))
        let texts = try TokenizerFixtures.texts(folder)
        let ids = try TokenizerFixtures.int32Array(folder, "input_ids.npy")
        let mask = try TokenizerFixtures.int32Array(folder, "attention_mask.npy")

        let batch = tokenizer.encodeBatch(texts, padding: padding, maxLength: maxLength)
        #expect([batch.batchSize, batch.length] == ids.shape)
        for row in 0..<min(texts.count, ids.shape[0]) where batch.length == ids.shape[1] {
            let range = row * batch.length..<(row + 1) * batch.length
            #expect(Array(batch.ids[range]) == Array(ids.values[range]), "\(folder) text \(row): \"\(TokenizerFixtures.escaped(texts[row]))\"")
            #expect(Array(batch.attentionMask[range]) == Array(mask.values[range]), "\(folder) text \(row) mask")
        }
    }

    @Test func folderSettingsAreRead() throws {
        let uncased = try PretrainedTokenizer.load(folder: TokenizerFixtures.folder("wordpiece-uncased"))
        #expect(uncased is WordPieceTokenizer)
        #expect(uncased.vocabularySize == 30522)
        #expect(uncased.padId == 0)
        #expect(uncased.maximumLength == 512)
        // model_max_length 1e30 is transformers' "no limit" placeholder.
        #expect(try PretrainedTokenizer.load(folder: TokenizerFixtures.folder("wordpiece-cased")).maximumLength == nil)

        let clip = try PretrainedTokenizer.load(folder: TokenizerFixtures.folder("clip-tiny"))
        #expect(clip is BPETokenizer)
        #expect(clip.vocabularySize == 2514)
        #expect(clip.padId == 2513)
        #expect(clip.maximumLength == 77)
        #expect(try BPETokenizer.load(folder: TokenizerFixtures.folder("clip-tiny")).encode("a photo").ids.first == 2512)
    }

    /// The task's performance bar: thousands of sentences well under a second (release build;
    /// a debug build is several times slower, hence the loose bound).
    @Test func tokenizingIsFast() throws {
        let strings = try TokenizerFixtures.strings()
        for folder in ["wordpiece-uncased", "clip-tiny"] {
            let tokenizer = try PretrainedTokenizer.load(folder: TokenizerFixtures.folder(folder))
            let start = Date()
            var count = 0
            for text in strings { count += tokenizer.encode(text, maxLength: nil).ids.count }
            let seconds = Date().timeIntervalSince(start)
            #expect(count > strings.count)
            #expect(seconds < 5, "\(folder): \(strings.count) strings took \(seconds) s")
        }
    }
}
