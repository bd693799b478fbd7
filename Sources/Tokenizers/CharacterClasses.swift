/// Character classes exactly as the Rust `tokenizers` crate (behind `transformers`' fast
/// tokenizers) sees them.
///
/// The crate does not use one Unicode version: its BERT normalizer and pre-tokenizer take
/// categories from the `unicode_categories` crate, whose tables are frozen at Unicode 8.0;
/// its regexes run on Oniguruma, whose tables are Unicode 16.0; `char::is_whitespace` is the
/// (stable) White_Space property. Swift's own tables are newer than both, so each class below
/// pins the Unicode version it answers for: a scalar assigned after that version counts as
/// unassigned, which is what the older table says about it. The few scalars whose category
/// changed between versions are listed explicitly. Verified code point by code point against
/// the Rust crate (tokenizers 0.23.3, all 1,112,064 scalars, every class below but
/// `isRegexWordCharacter`); Tests/TokenizersTests/UnicodeEdgeCaseTests.swift keeps the cases
/// that differ.
enum CharacterClasses {
    /// General category as the `unicode_categories` crate (Unicode 8.0) reports it.
    static func legacyCategory(_ scalar: Unicode.Scalar) -> Unicode.GeneralCategory {
        if let changed = legacyRecategorized[scalar.value] { return changed }
        return category(scalar, assignedBy: (8, 0))
    }

    /// General category as Oniguruma's tables (Unicode 16.0) report it.
    static func regexCategory(_ scalar: Unicode.Scalar) -> Unicode.GeneralCategory {
        category(scalar, assignedBy: (16, 0))
    }

    private static func category(_ scalar: Unicode.Scalar, assignedBy version: (Int, Int)) -> Unicode.GeneralCategory {
        let properties = scalar.properties
        guard let age = properties.age, (age.major, age.minor) <= version else { return .unassigned }
        return properties.generalCategory
    }

    /// Scalars assigned by Unicode 8.0 whose category changed later: the old table still has
    /// the old category (found by the code-point-by-code-point comparison).
    private static let legacyRecategorized: [UInt32: Unicode.GeneralCategory] = [
        0x166D: .otherPunctuation,  // CANADIAN SYLLABICS CHI SIGN, now So
        0x111C9: .otherPunctuation,  // SHARADA SANDHI MARK, now Mn
        0x1734: .nonspacingMark,  // HANUNOO SIGN PAMUDPOD, now Mc
        0x1885: .otherLetter, 0x1886: .otherLetter,  // MONGOLIAN LETTER ALI GALI BALUDA / THREE BALUDA, now Mn
        0xA9BD: .spacingMark,  // JAVANESE CONSONANT SIGN KERET, now Mn
        0x1171E: .nonspacingMark,  // AHOM CONSONANT SIGN MEDIAL RA, now Mc
    ]

    /// Rust's `char::is_whitespace`, Oniguruma's `\s` and the `regex` crate's `\s`: the
    /// White_Space property, which is stable across Unicode versions.
    @inline(__always)
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return v == 0x20 || (0x09...0x0D).contains(v) }
        return scalar.properties.isWhitespace
    }

    /// BERT's whitespace: tab, newline and carriage return are control characters in Unicode,
    /// but BERT treats them as spaces.
    @inline(__always)
    static func isBertWhitespace(_ scalar: Unicode.Scalar) -> Bool { isWhitespace(scalar) }

    /// BERT's "control": Cc, Cf or Co (not Cn, not Cs), except the three whitespace controls.
    @inline(__always)
    static func isBertControl(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return (v < 0x20 && v != 0x09 && v != 0x0A && v != 0x0D) || v == 0x7F }
        switch legacyCategory(scalar) {
        case .control, .format, .privateUse: return true
        default: return false
        }
    }

    /// BERT's punctuation: every non-alphanumeric printable ASCII character (so "$", "+", "^"
    /// and "`", which Unicode files under symbols, split words too) plus the P* categories.
    @inline(__always)
    static func isBertPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v) || (0x7B...0x7E).contains(v) }
        switch legacyCategory(scalar) {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default: return false
        }
    }

    /// The CJK ideograph blocks that BERT pads with spaces so that each ideograph is a word.
    /// These are the Rust crate's ranges (they differ from the Python BERT tokenizer's in the
    /// Extension C/D boundary).
    @inline(__always)
    static func isChineseIdeograph(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x3400 { return false }
        return (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B920...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    /// Mn as the BERT accent stripper sees it (Unicode 8.0 tables).
    @inline(__always)
    static func isNonspacingMark(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value >= 0x300 && legacyCategory(scalar) == .nonspacingMark
    }

    /// Oniguruma's `\p{L}`.
    @inline(__always)
    static func isRegexLetter(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v) }
        switch regexCategory(scalar) {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// Oniguruma's `\p{N}`.
    @inline(__always)
    static func isRegexNumber(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return (0x30...0x39).contains(v) }
        switch regexCategory(scalar) {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// The `regex` crate's `\w` (Alphabetic, marks, Nd, Pc, Join_Control), used to decide
    /// whether a `single_word` added token stands alone.
    static func isRegexWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v) || v == 0x5F }
        let properties = scalar.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
