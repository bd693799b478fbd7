import Foundation
import Testing
import Tokenizers

/// Strings chosen where the Rust crate's Unicode handling differs from what Swift and
/// Foundation give by default (older category tables, Oniguruma's classes, normalization
/// tables and Foundation's composition slips); see CharacterClasses.swift and
/// Normalizer.swift. The expected ids are the fast tokenizer's (`tok(s,
/// add_special_tokens=False)`, transformers 5.25.0 / tokenizers 0.23.3) for, in order,
/// wordpiece-uncased, wordpiece-cased and clip-tiny. The CLIP column is the most telling: its
/// small vocabulary falls back to bytes, so it shows the normalized text byte for byte.
@Suite struct UnicodeEdgeCaseTests {
    static let cases: [(text: String, uncased: [Int32], cased: [Int32], clip: [Int32])] = [
        // U+0890/U+08E2 are Cf today but unassigned in the crate's Unicode 8.0 tables: kept
        ("\u{890}x\u{8E2}y", [100], [100], [156, 95, 494, 343, 156, 96, 351, 344]),
        // U+166D and U+111C9 were punctuation in Unicode 8.0
        ("a\u{166D}b\u{111C9}c", [1037, 100, 1038, 100, 1039], [1037, 100, 1038, 100, 1039], [320, 157, 247, 511, 321, 172, 239, 229, 487, 322]),
        // punctuation added after Unicode 8.0 does not split
        ("a\u{2E43}b\u{61D}c", [100], [100], [320, 158, 117, 481, 321, 148, 507, 322]),
        // marks whose category changed after Unicode 8.0 (accent stripping)
        ("a\u{1734}b\u{1885}c\u{A9BD}d\u{1171E}e", [100], [100], [320, 157, 250, 368, 321, 157, 95, 483, 322, 166, 99, 377, 323, 172, 239, 250, 508, 324]),
        // letters added after Oniguruma's Unicode 16.0 are not \p{L} for the CLIP split
        ("x\u{1E6C0}y\u{88F}z", [100], [100], [343, 172, 252, 249, 478, 344, 156, 95, 493, 345]),
        // a mark newer than the normalization tables blocks composition and reordering
        ("a\u{7FD}\u{316}\u{301}", [100], [100], [320, 155, 121, 136, 244, 136, 479]),
        // Foundation composes a supplementary starter by its low 16 bits
        ("\u{10041}\u{301} \u{E0041}\u{301}", [100], [100, 100], [172, 238, 223, 479, 136, 479, 175, 254, 223, 223, 136, 479]),
        // Hangul composition range ends
        ("\u{1100}\u{1161}\u{11A7} \u{1113}\u{1161} \u{1100}\u{1176} \u{1100}\u{1161}\u{11C3} \u{1100}\u{1161}\u{11A8}", [100, 100, 100, 100, 1455, 30006, 30020], [100, 100, 100, 100, 1455, 30006, 30020], [166, 108, 222, 157, 228, 356, 157, 226, 241, 157, 227, 350, 157, 226, 222, 157, 227, 370, 166, 108, 222, 157, 229, 481, 166, 108, 479]),
        // canonical reordering after multi-mark decompositions
        ("\u{F73}\u{316}\u{F73} \u{F75}\u{301}\u{F81}", [], [100, 100], [156, 121, 109, 156, 121, 109, 156, 121, 110, 156, 121, 110, 136, 500, 156, 121, 109, 156, 121, 109, 156, 122, 222, 156, 121, 112, 136, 479]),
        // Dives Akuru vowel sign O is not decomposed by the crate
        ("\u{11938} \u{11935}\u{11930}", [100, 100], [100, 100], [172, 239, 97, 372, 172, 239, 97, 113, 172, 239, 97, 364]),
        // canonical singletons: vocabulary lookups are byte-exact
        ("\u{2126} \u{3A9} \u{212B} \u{C5} \u{212A} K", [1179, 1179, 1037, 1037, 1047, 1047], [100, 100, 100, 100, 100, 100], [139, 487, 139, 487, 127, 354, 127, 354, 330, 330]),
        // capital sigma lowercases to σ, never final ς
        ("\u{39B}\u{38C}\u{393}\u{39F}\u{3A3} \u{3A3}\u{391}\u{3A3}", [1165, 29730, 29721, 29730, 29733, 1173, 14608, 29733], [100, 100], [138, 119, 139, 234, 138, 111, 138, 123, 139, 481, 139, 225, 138, 109, 139, 481]),
        // lowercase mappings that change length or case
        ("\u{130}stanbul \u{1E9E} \u{1C5}", [9960, 1096, 100], [100, 100, 100], [328, 136, 485, 2203, 609, 331, 127, 509, 131, 484]),
        // format characters: dropped by BERT, bytes for CLIP
        ("\u{FEFF}bom \u{200B}zw\u{200D}j", [8945, 2213, 1062, 2860, 3501], [8945, 2213, 1062, 2860, 3501], [171, 119, 379, 647, 332, 728, 489, 89, 342, 728, 491, 329]),
        // whitespace and control characters
        ("\u{85}x\u{A0}y\u{3000}z\u{2028}w\u{1B}\u{7F}", [1060, 1061, 1062, 1059], [1060, 1061, 1062, 1059], [343, 344, 345, 342, 215, 477]),
        // combining marks, ligature, compatibility characters (no NFKC)
        ("e\u{301} \u{E9} \u{FB01} \u{2460} \u{FF21}", [1041, 1041, 1984, 100, 100], [100, 100, 1984, 100, 100], [127, 358, 127, 358, 171, 105, 479, 158, 239, 510, 171, 121, 479]),
        // contractions are case-sensitive after lowercasing
        ("don't 'LL 're 's'd I'M", [2123, 1005, 1056, 1005, 2222, 1005, 2128, 1005, 1055, 1005, 1040, 1045, 1005, 1049], [2123, 1005, 1056, 1005, 100, 1005, 2128, 1005, 1055, 1005, 1040, 100, 1005, 100], [847, 713, 1342, 982, 568, 1896, 328, 880]),
        // CLIP specials in text, matched on raw text
        ("<|endoftext|>x<|startoftext|> <|ENDOFTEXT|>", [1026, 1064, 2203, 15794, 10288, 2102, 1064, 1028, 1060, 1026, 1064, 2707, 15794, 10288, 2102, 1064, 1028, 1026, 1064, 2203, 15794, 10288, 2102, 1064, 1028], [1026, 1064, 2203, 15794, 10288, 2102, 1064, 1028, 1060, 1026, 1064, 2707, 15794, 10288, 2102, 1064, 1028, 1026, 1064, 100, 1064, 1028], [2513, 343, 2512, 27, 347, 524, 639, 69, 600, 1052, 91, 285]),
        // BERT specials in text, matched on raw text
        ("[CLS]x[cls] [SEP][SEP]a[UNK]", [101, 1060, 1031, 18856, 2015, 1033, 102, 102, 1037, 100], [101, 1060, 1031, 18856, 2015, 1033, 102, 102, 1037, 100], [314, 969, 338, 316, 343, 314, 969, 338, 316, 314, 567, 335, 60, 314, 567, 335, 316, 320, 314, 569, 330, 316]),
        // emoji sequences
        ("\u{1F917} \u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467} \u{1F1EF}\u{1F1F5}", [100, 100, 100], [100, 100, 100], [1793, 501, 964, 102, 728, 235, 964, 102, 728, 235, 964, 356, 1173, 107, 1173, 369]),
        // CJK ideograph ranges (the crate's, not Python's)
        ("\u{4E2D}\u{6587}\u{2B920}\u{2B820}x\u{3042}", [1746, 1861, 100, 100], [1746, 1861, 100, 100], [160, 116, 255, 162, 244, 229, 172, 104, 97, 254, 172, 104, 254, 254, 87, 159, 223, 480]),
        // 100 characters is a word, 101 is [UNK]
        (String(repeating: "a", count: 100) + " " + String(repeating: "b", count: 101), [13360, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 2050, 100], [13360, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 11057, 2050, 100], [1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 1821, 64, 320, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 1174, 321]),
    ]

    @Test func edgeCasesMatchTheFastTokenizer() throws {
        let tokenizers = try ["wordpiece-uncased", "wordpiece-cased", "clip-tiny"].map {
            try PretrainedTokenizer.load(folder: TokenizerFixtures.folder($0))
        }
        for (text, uncased, cased, clip) in Self.cases {
            for (tokenizer, expected) in zip(tokenizers, [uncased, cased, clip]) {
                #expect(tokenizer.tokenIds(text) == expected, "\"\(TokenizerFixtures.escaped(text))\" with \(type(of: tokenizer))")
            }
        }
    }
}
