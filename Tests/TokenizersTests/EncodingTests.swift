import Foundation
import Testing
import Tokenizers

/// Truncation, masks, padding and special tokens typed in the text. Ids are the real
/// all-MiniLM-L6-v2 vocabulary's ([CLS] 101, [SEP] 102, [PAD] 0, [UNK] 100) and the tiny CLIP
/// vocabulary's (<|startoftext|> 2512, <|endoftext|> 2513).
@Suite struct EncodingTests {
    static func bert() throws -> any TextTokenizer { try PretrainedTokenizer.load(folder: TokenizerFixtures.folder("wordpiece-uncased")) }
    static func clip() throws -> any TextTokenizer { try PretrainedTokenizer.load(folder: TokenizerFixtures.folder("clip-tiny")) }

    @Test func specialsWrapTheText() throws {
        let bert = try Self.bert()
        let words = bert.tokenIds("Hello, world!")
        #expect(words == [7592, 1010, 2088, 999])
        #expect(bert.encode("Hello, world!", maxLength: nil).ids == [101] + words + [102])
        #expect(bert.encode("", maxLength: nil) == TokenizedText(ids: [101, 102], attentionMask: [1, 1]))
        let clip = try Self.clip()
        #expect(clip.encode("", maxLength: nil).ids == [2512, 2513])
    }

    @Test func truncationKeepsTheSpecials() throws {
        let bert = try Self.bert()
        let text = "one two three four five six seven eight"
        let full = bert.encode(text, maxLength: nil)
        #expect(full.ids.count == 10)
        for limit in [2, 3, 5, 9, 10, 11, 100] {
            let cut = bert.encode(text, maxLength: limit)
            #expect(cut.ids.count == min(limit, 10))
            #expect(cut.ids.first == 101 && cut.ids.last == 102)
            #expect(Array(cut.ids.dropLast()) == Array(full.ids.prefix(cut.ids.count - 1)))
            #expect(cut.attentionMask == [Int32](repeating: 1, count: cut.ids.count))
        }
        // A limit below the specials' count keeps just them. (transformers logs an error and
        // does not truncate at all there; a result longer than asked for helps no model.)
        #expect(bert.encode(text, maxLength: 1).ids == [101, 102])
        // encode(_:) uses the folder's model_max_length (512).
        let long = String(repeating: "word ", count: 600)
        #expect(bert.encode(long).ids.count == 512)
    }

    @Test func batchesPadOnTheRight() throws {
        let bert = try Self.bert()
        let texts = ["a", "hello world", ""]
        let longest = bert.encodeBatch(texts)
        #expect(longest.batchSize == 3 && longest.length == 4)
        #expect(longest.ids == [101, 1037, 102, 0, 101, 7592, 2088, 102, 101, 102, 0, 0])
        #expect(longest.attentionMask == [1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0])

        let fixed = bert.encodeBatch(texts, padding: .fixed(3))
        #expect(fixed.length == 3)
        // "hello world" is truncated to fit, keeping [SEP].
        #expect(fixed.ids == [101, 1037, 102, 101, 7592, 102, 101, 102, 0])
        #expect(fixed.attentionMask == [1, 1, 1, 1, 1, 1, 1, 1, 0])

        let clip = try Self.clip()
        let padded = clip.encodeBatch(["a", ""], padding: .fixed(4))
        #expect(padded.ids == [2512, 320, 2513, 2513, 2512, 2513, 2513, 2513])
        #expect(padded.attentionMask == [1, 1, 1, 0, 1, 1, 0, 0])
        #expect(clip.encodeBatch([]).ids.isEmpty)
    }

    @Test func specialTokensTypedInTheTextAreSingleIds() throws {
        let bert = try Self.bert()
        // Matched on the raw text before normalization: "[cls]" is plain text, "[CLS]" the token.
        #expect(bert.tokenIds("a[CLS]b") == [1037, 101, 1038])
        #expect(bert.tokenIds("[cls]") == [1031, 18856, 2015, 1033])
        #expect(bert.tokenIds(" [SEP] [PAD][MASK]") == [102, 0, 103])
        let clip = try Self.clip()
        #expect(clip.tokenIds("<|endoftext|>x") == [2513, 343])
        #expect(clip.tokenIds("<|startoftext|><|endoftext|>") == [2512, 2513])
        #expect(clip.tokenIds("<|ENDOFTEXT|>") != [2513])
    }

    /// Added tokens with each flag, in a tokenizer.json read on its own. The ids written in the
    /// file (40000…) are not used: as in the Rust crate, a token in the vocabulary takes its id
    /// ("cat", "dog") and any other the next one from the vocabulary's size (30522…). Expected
    /// ids from `tokenizers.Tokenizer.from_file` (0.23.3).
    @Test func addedTokenFlagsFollowTheCrate() throws {
        let folder = try TokenizerFixtures.copy("wordpiece-uncased", only: ["tokenizer.json"])
        let url = folder.appendingPathComponent("tokenizer.json")
        let extra = [
            #"{"id":40000,"content":"<mask>","single_word":false,"lstrip":true,"rstrip":false,"normalized":false,"special":true}"#,
            #"{"id":40001,"content":"[R]","single_word":false,"lstrip":false,"rstrip":true,"normalized":false,"special":false}"#,
            #"{"id":40002,"content":"ÉTÉ","single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":false}"#,
            #"{"id":40003,"content":"cat","single_word":true,"lstrip":false,"rstrip":false,"normalized":true,"special":false}"#,
            #"{"id":40004,"content":"dog","single_word":true,"lstrip":true,"rstrip":true,"normalized":false,"special":false}"#,
            #"{"id":40005,"content":"<mask>x","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":false}"#,
        ]
        let json = try String(contentsOf: url, encoding: .utf8)
        try #require(json.contains(#""added_tokens":["#))
        try json.replacingOccurrences(of: #""added_tokens":["#, with: #""added_tokens":["# + extra.joined(separator: ",") + ",")
            .write(to: url, atomically: true, encoding: .utf8)
        let tokenizer = try PretrainedTokenizer.load(folder: folder)
        let cases: [(String, [Int32])] = [
            ("a <mask> b", [1037, 30522, 1038]),  // lstrip absorbs the space before
            ("a  <mask>x", [1037, 30525]),  // leftmost-longest: "<mask>x" over "<mask>"
            ("[R]   x", [30523, 1060]),  // rstrip absorbs the spaces after
            ("ÉTÉ été ete", [30524, 30524, 30524]),  // normalized: matched as "ete" after normalization
            ("cat Cat concat cat!", [4937, 4937, 9530, 11266, 4937, 999]),  // single_word: not inside "concat"
            ("hotdog dog  dogs", [2980, 16168, 3899, 6077]),
            ("x<mask>x<mask>", [1060, 30525, 30522]),
            ("", []),
        ]
        for (text, expected) in cases {
            #expect(tokenizer.tokenIds(text) == expected, "\"\(text)\"")
        }
        #expect(tokenizer.vocabularySize == 30526)
    }

    /// As in transformers, tokenizer_config.json's do_lower_case wins over tokenizer.json's
    /// normalizer for BertTokenizer; tokenizer.json alone is read as the tokenizers library does.
    @Test func theConfigDecidesForKnownClasses() throws {
        let folder = try TokenizerFixtures.copy("wordpiece-uncased", only: ["tokenizer.json", "tokenizer_config.json"])
        let config = folder.appendingPathComponent("tokenizer_config.json")
        let text = try String(contentsOf: config, encoding: .utf8)
        try text.replacingOccurrences(of: #""do_lower_case": true"#, with: #""do_lower_case": false"#).write(to: config, atomically: true, encoding: .utf8)
        // "Hello" and "World" are not in the uncased vocabulary.
        #expect(try PretrainedTokenizer.load(folder: folder).encode("Hello World", maxLength: nil).ids == [101, 100, 100, 102])

        try FileManager.default.removeItem(at: config)
        #expect(try PretrainedTokenizer.load(folder: folder).encode("Hello World", maxLength: nil).ids == [101, 7592, 2088, 102])
    }

    @Test func concurrentEncodingAgrees() async throws {
        // The BPE word cache is shared; tasks encoding at once must see consistent results.
        let clip = try Self.clip()
        let strings = Array(try TokenizerFixtures.strings().prefix(300))
        let serial = strings.map { clip.tokenIds($0) }
        let parallel = await withTaskGroup(of: (Int, [Int32]).self) { group in
            for (index, text) in strings.enumerated() { group.addTask { (index, clip.tokenIds(text)) } }
            var results = [[Int32]](repeating: [], count: strings.count)
            for await (index, ids) in group { results[index] = ids }
            return results
        }
        #expect(parallel == serial)
    }
}
