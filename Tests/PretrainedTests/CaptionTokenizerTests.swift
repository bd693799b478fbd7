import Foundation
import Pretrained
import Testing
import Tokenizers

/// Word-by-word tokenisation (what training needs for BIO tags) equals the whole text's, on
/// every fixture string, for BERT's WordPiece and CLIP's BPE.
@Suite struct CaptionTokenizerTests {
    @Test(arguments: ["wordpiece-uncased", "wordpiece-cased", "clip-tiny"]) func wordByWordEqualsWholeText(_ name: String) throws {
        let tokenizer = try PretrainedTokenizer.load(folder: HFFixtures.folder(name))
        let captions = PretrainedCaptionTokenizer(tokenizer)
        let strings = try JSONDecoder().decode([String].self, from: Data(contentsOf: HFFixtures.root.appendingPathComponent("strings.json")))
        var mismatches: [String] = []
        for text in strings {
            let whole = tokenizer.encode(text, maxLength: 64).ids
            let (ids, mask, wordIndex) = captions.encode(text, maxLength: 64)
            if Array(ids.prefix(whole.count)) != whole || mask.filter({ $0 != 0 }).count != whole.count { mismatches.append(text) }
            let words = text.split(whereSeparator: \.isWhitespace).count + text.unicodeScalars.filter { ["\u{0B}", "\u{0C}", "\u{85}"].contains($0) }.count
            // One token per word that has any (a word of control characters has none), in order.
            let starts = wordIndex.filter { $0 >= 0 }
            #expect(zip(starts, starts.dropFirst()).allSatisfy { $0 < $1 } && starts.allSatisfy { $0 < words }, "\(text.debugDescription)")
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(strings.count) differ, e.g. \(mismatches.prefix(3))")
    }

    @Test func aPairFollowsASeparatorAndCarriesNoWords() throws {
        let captions = PretrainedCaptionTokenizer(try PretrainedTokenizer.load(folder: HFFixtures.folder("wordpiece-uncased")))
        let (ids, mask, wordIndex) = captions.encode("top left", maxLength: 12, pair: "red circle")
        // [CLS] top left [SEP] red circle [SEP] and padding
        #expect(ids.prefix(7) == [101, 2327, 2187, 102, 2417, 4418, 102] && mask == [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], "\(ids)")
        #expect(wordIndex == [-1, 0, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1])
        #expect(captions.encode("top left", maxLength: 3).ids == [101, 2327, 102])
    }
}
