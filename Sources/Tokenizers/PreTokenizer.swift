/// The pre-tokenizers of a tokenizer.json that BERT- and CLIP-style tokenizers use. Each turns
/// one normalized piece of text into the words the model tokenizes independently.
indirect enum PreTokenizer: Sendable {
    /// Splits on whitespace (dropped) and around every punctuation character (kept alone).
    case bert
    /// Splits on whitespace only.
    case whitespaceSplit
    /// `Split` with one of the known regexes; `keepMatchesOnly` is `behavior: Removed, invert:
    /// true` (keep what matches, drop the rest), otherwise `behavior: Isolated`.
    case split(SplitPattern, keepMatchesOnly: Bool)
    /// Maps each UTF-8 byte to its printable stand-in (GPT-2's table); with `useRegex` it first
    /// splits with the GPT-2 pattern, with `addPrefixSpace` it first puts a space before each
    /// piece that does not start with one.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case sequence([PreTokenizer])

    func split(_ piece: [Unicode.Scalar], into words: inout [[Unicode.Scalar]]) {
        switch self {
        case .bert: Self.bertSplit(piece, into: &words)
        case .whitespaceSplit:
            var current: [Unicode.Scalar] = []
            for scalar in piece {
                if CharacterClasses.isWhitespace(scalar) {
                    if !current.isEmpty { words.append(current); current.removeAll(keepingCapacity: true) }
                } else {
                    current.append(scalar)
                }
            }
            if !current.isEmpty { words.append(current) }
        case .split(let pattern, let keepMatchesOnly):
            var start = 0
            pattern.forEachMatch(in: piece) { range in
                if !keepMatchesOnly, start < range.lowerBound { words.append(Array(piece[start..<range.lowerBound])) }
                words.append(Array(piece[range]))
                start = range.upperBound
            }
            if !keepMatchesOnly, start < piece.count { words.append(Array(piece[start...])) }
        case .byteLevel(let addPrefixSpace, let useRegex):
            var piece = piece
            if addPrefixSpace, piece.first != " " { piece.insert(" ", at: 0) }
            if useRegex {
                SplitPattern.gpt2.forEachMatch(in: piece) { range in words.append(ByteLevel.encode(piece[range])) }
            } else if !piece.isEmpty {
                words.append(ByteLevel.encode(piece[...]))
            }
        case .sequence(let steps):
            var current = [piece]
            for step in steps {
                var next: [[Unicode.Scalar]] = []
                for part in current { step.split(part, into: &next) }
                current = next
            }
            words.append(contentsOf: current)
        }
    }

    private static func bertSplit(_ piece: [Unicode.Scalar], into words: inout [[Unicode.Scalar]]) {
        var start = -1
        for (index, scalar) in piece.enumerated() {
            if CharacterClasses.isWhitespace(scalar) {
                if start >= 0 { words.append(Array(piece[start..<index])); start = -1 }
            } else if CharacterClasses.isBertPunctuation(scalar) {
                if start >= 0 { words.append(Array(piece[start..<index])); start = -1 }
                words.append([scalar])
            } else if start < 0 {
                start = index
            }
        }
        if start >= 0 { words.append(Array(piece[start...])) }
    }
}

/// The split regexes of CLIP and GPT-2, scanned by hand. A general regex engine would have to
/// reproduce Oniguruma's Unicode classes, which differ from NSRegularExpression's (ICU) and
/// from Swift's newer tables; the scanners below follow the alternation order of each pattern
/// exactly and take their classes from `CharacterClasses`.
enum SplitPattern: Sendable, Equatable {
    /// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
    case clip
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2

    /// The regex source each case stands for, as written in tokenizer.json files.
    static let sources: [(String, SplitPattern)] = [
        (#"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#, .clip),
        (#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#, .gpt2),
    ]

    private static let startOfText = Array("<|startoftext|>".unicodeScalars)
    private static let endOfText = Array("<|endoftext|>".unicodeScalars)

    /// Calls `body` with each match, left to right, as the regex engine would find them.
    func forEachMatch(in text: [Unicode.Scalar], _ body: (Range<Int>) -> Void) {
        var i = 0
        let n = text.count
        while i < n {
            if let end = self == .clip ? clipMatch(text, at: i) : gpt2Match(text, at: i) {
                body(i..<end)
                i = end
            } else {
                i += 1
            }
        }
    }

    @inline(__always)
    private static func isOther(_ s: Unicode.Scalar) -> Bool {
        !CharacterClasses.isWhitespace(s) && !CharacterClasses.isRegexLetter(s) && !CharacterClasses.isRegexNumber(s)
    }

    /// The end of a contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) starting at `i`.
    /// Case-sensitive, as in the patterns (CLIP lowercases before splitting).
    private static func contraction(_ text: [Unicode.Scalar], at i: Int) -> Int? {
        guard text[i] == "'", i + 1 < text.count else { return nil }
        switch text[i + 1] {
        case "s", "t", "m", "d": return i + 2
        case "r", "v":
            return i + 2 < text.count && text[i + 2] == "e" ? i + 3 : nil
        case "l":
            return i + 2 < text.count && text[i + 2] == "l" ? i + 3 : nil
        default: return nil
        }
    }

    private static func run(_ text: [Unicode.Scalar], from i: Int, while test: (Unicode.Scalar) -> Bool) -> Int {
        var j = i
        while j < text.count, test(text[j]) { j += 1 }
        return j
    }

    private static func hasPrefix(_ text: [Unicode.Scalar], _ prefix: [Unicode.Scalar], at i: Int) -> Bool {
        i + prefix.count <= text.count && text[i..<i + prefix.count].elementsEqual(prefix)
    }

    private func clipMatch(_ text: [Unicode.Scalar], at i: Int) -> Int? {
        let s = text[i]
        if s == "<" {
            if Self.hasPrefix(text, Self.startOfText, at: i) { return i + Self.startOfText.count }
            if Self.hasPrefix(text, Self.endOfText, at: i) { return i + Self.endOfText.count }
        }
        if let end = Self.contraction(text, at: i) { return end }
        if CharacterClasses.isRegexLetter(s) { return Self.run(text, from: i, while: CharacterClasses.isRegexLetter) }
        if CharacterClasses.isRegexNumber(s) { return i + 1 }
        // Whitespace matches nothing; once an "other" run starts it swallows apostrophes and
        // "<" too: alternation is only tried where a match begins.
        if Self.isOther(s) { return Self.run(text, from: i, while: Self.isOther) }
        return nil
    }

    private func gpt2Match(_ text: [Unicode.Scalar], at i: Int) -> Int? {
        if let end = Self.contraction(text, at: i) { return end }
        // " ?" lets one leading plain space join the letter, number or symbol run after it.
        let start = text[i] == " " && i + 1 < text.count && !CharacterClasses.isWhitespace(text[i + 1]) ? i + 1 : i
        let s = text[start]
        if CharacterClasses.isRegexLetter(s) { return Self.run(text, from: start, while: CharacterClasses.isRegexLetter) }
        if CharacterClasses.isRegexNumber(s) { return Self.run(text, from: start, while: CharacterClasses.isRegexNumber) }
        if Self.isOther(s) { return Self.run(text, from: start, while: Self.isOther) }
        // `\s+(?!\S)`: a whitespace run, less its last character when a word follows (that one
        // goes with the word, or alone through the final `\s+`).
        let end = Self.run(text, from: i, while: CharacterClasses.isWhitespace)
        if end == text.count || end - i == 1 { return end }
        return end - 1
    }
}

/// GPT-2's reversible byte-to-character table: printable Latin-1 bytes stand for themselves,
/// the rest are shifted to U+0100 and up so that no byte becomes whitespace or a control.
enum ByteLevel {
    static let characters: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    static func encode(_ text: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for scalar in text {
            if scalar.value < 0x80 {
                out.append(characters[Int(scalar.value)])
            } else {
                for byte in UTF8.encode(scalar)! { out.append(characters[Int(byte)]) }
            }
        }
        return out
    }
}
