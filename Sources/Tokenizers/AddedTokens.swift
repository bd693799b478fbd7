/// An entry of tokenizer.json's `added_tokens` (or tokenizer_config.json's
/// `added_tokens_decoder`): a string that, typed in the text, becomes its id directly instead
/// of going through the normalizer and the model.
struct AddedToken: Sendable, Equatable {
    var content: String
    var id: Int32
    var special: Bool
    /// Matched after normalization (against the normalized content) rather than on raw text.
    var normalized: Bool
    /// Absorbs the whitespace before / after it.
    var lstrip: Bool
    var rstrip: Bool
    /// Only matches when not inside a word.
    var singleWord: Bool
}

extension AddedToken {
    /// The ids the Rust crate gives added tokens, whatever ids the files wrote: a token already
    /// in the model's vocabulary keeps that id, any other gets the next id from the
    /// vocabulary's size on, in order. A repeated content keeps its first id and its last
    /// flags; empty contents are dropped.
    static func assigningIds(_ tokens: [AddedToken], vocabulary: Vocabulary) -> [AddedToken] {
        var result: [AddedToken] = []
        var indexByContent: [TokenKey: Int] = [:]
        var nextId = Int32(vocabulary.count)
        for var token in tokens where !token.content.isEmpty {
            let key = TokenKey(token.content)
            if let index = indexByContent[key] {
                token.id = result[index].id
                result[index] = token
                continue
            }
            if let id = vocabulary[key] {
                token.id = id
            } else {
                token.id = nextId
                nextId += 1
            }
            indexByContent[key] = result.count
            result.append(token)
        }
        return result
    }
}

/// Finds added tokens in text the way the Rust crate's `AddedVocabulary` does: leftmost-longest
/// non-overlapping matches; a `single_word` match that touches a word character is skipped
/// (the scan still resumes after it, so the skipped span stays plain text).
struct AddedTokenMatcher: Sendable {
    private struct Pattern: Sendable {
        let scalars: [Unicode.Scalar]
        let token: AddedToken
    }

    /// Patterns by first scalar, longest first, so the first hit at a position is the longest.
    private let byFirstScalar: [Unicode.Scalar: [Pattern]]

    var isEmpty: Bool { byFirstScalar.isEmpty }

    /// `patterns` pairs each token with the text to look for (its content, or its normalized
    /// content for tokens matched after normalization).
    init(_ patterns: [(scalars: [Unicode.Scalar], token: AddedToken)]) {
        var table: [Unicode.Scalar: [Pattern]] = [:]
        for (scalars, token) in patterns {
            guard let first = scalars.first else { continue }
            table[first, default: []].append(Pattern(scalars: scalars, token: token))
        }
        for key in table.keys { table[key]!.sort { $0.scalars.count > $1.scalars.count } }
        byFirstScalar = table
    }

    enum Segment {
        case text(Range<Int>)
        case token(Int32)
    }

    /// Cuts `text` into plain-text ranges and added-token ids, in order.
    func segments(of text: [Unicode.Scalar]) -> [Segment] {
        guard !byFirstScalar.isEmpty else { return [.text(0..<text.count)] }
        var segments: [Segment] = []
        var plainStart = 0
        var i = 0
        while i < text.count {
            guard let candidates = byFirstScalar[text[i]],
                let hit = candidates.first(where: { matches($0.scalars, in: text, at: i) })
            else {
                i += 1
                continue
            }
            var start = i
            var stop = i + hit.scalars.count
            let token = hit.token
            i = stop
            if token.singleWord {
                let wordBefore = start > 0 && CharacterClasses.isRegexWordCharacter(text[start - 1])
                let wordAfter = stop < text.count && CharacterClasses.isRegexWordCharacter(text[stop])
                if wordBefore || wordAfter { continue }
            }
            if token.lstrip {
                while start > plainStart, CharacterClasses.isWhitespace(text[start - 1]) { start -= 1 }
            }
            if token.rstrip {
                while stop < text.count, CharacterClasses.isWhitespace(text[stop]) { stop += 1 }
                i = stop
            }
            if plainStart < start { segments.append(.text(plainStart..<start)) }
            segments.append(.token(token.id))
            plainStart = stop
        }
        if plainStart < text.count { segments.append(.text(plainStart..<text.count)) }
        return segments
    }

    private func matches(_ pattern: [Unicode.Scalar], in text: [Unicode.Scalar], at i: Int) -> Bool {
        guard i + pattern.count <= text.count else { return false }
        for k in 1..<pattern.count where text[i + k] != pattern[k] { return false }
        return true
    }
}
