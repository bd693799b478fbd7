import Foundation

/// The normalizers of a tokenizer.json that BERT- and CLIP-style tokenizers use. Text travels
/// through the pipeline as `[Unicode.Scalar]` because every rule here (and in the Rust crate)
/// is defined per scalar, not per grapheme cluster as Swift's `Character` would be.
indirect enum Normalizer: Sendable {
    case bert(cleanText: Bool, handleChineseCharacters: Bool, stripAccents: Bool, lowercase: Bool)
    case sequence([Normalizer])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    /// The standalone StripAccents normalizer: drops nonspacing marks without decomposing first.
    case stripAccents
    case strip(left: Bool, right: Bool)
    /// `Replace` with the regex `\s+`: each whitespace run becomes `content`.
    case replaceWhitespaceRuns(with: [Unicode.Scalar])
    /// `Replace` with a literal pattern: non-overlapping occurrences, left to right.
    case replaceLiteral(pattern: [Unicode.Scalar], with: [Unicode.Scalar])

    func apply(_ text: inout [Unicode.Scalar]) {
        switch self {
        case .bert(let clean, let chinese, let strip, let lower):
            if clean { Self.cleanText(&text) }
            if chinese { Self.padChineseCharacters(&text) }
            if strip { text = UnicodeForms.nfd(text).filter { !CharacterClasses.isNonspacingMark($0) } }
            if lower { Self.lowercase(&text) }
        case .sequence(let normalizers):
            for normalizer in normalizers { normalizer.apply(&text) }
        case .nfc: text = UnicodeForms.nfc(text)
        case .nfd: text = UnicodeForms.nfd(text)
        case .nfkc: text = UnicodeForms.nfkc(text)
        case .nfkd: text = UnicodeForms.nfkd(text)
        case .lowercase: Self.lowercase(&text)
        case .stripAccents: text.removeAll { CharacterClasses.isNonspacingMark($0) }
        case .strip(let left, let right):
            if right { while let last = text.last, CharacterClasses.isWhitespace(last) { text.removeLast() } }
            if left, let first = text.firstIndex(where: { !CharacterClasses.isWhitespace($0) }) {
                text.removeFirst(first)
            } else if left {
                text.removeAll()
            }
        case .replaceWhitespaceRuns(let content):
            guard text.contains(where: CharacterClasses.isWhitespace) else { return }
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(text.count)
            var inRun = false
            for scalar in text {
                if CharacterClasses.isWhitespace(scalar) {
                    if !inRun { out.append(contentsOf: content) }
                    inRun = true
                } else {
                    out.append(scalar)
                    inRun = false
                }
            }
            text = out
        case .replaceLiteral(let pattern, let content):
            guard !pattern.isEmpty, text.count >= pattern.count else { return }
            var out: [Unicode.Scalar] = []
            var i = 0
            while i < text.count {
                if i + pattern.count <= text.count, text[i..<i + pattern.count].elementsEqual(pattern) {
                    out.append(contentsOf: content)
                    i += pattern.count
                } else {
                    out.append(text[i])
                    i += 1
                }
            }
            text = out
        }
    }

    /// BERT's clean-up: drop NUL, U+FFFD and control characters; every whitespace becomes a
    /// plain space. The removal test runs first, so U+0085 (a control that is also White_Space)
    /// is dropped, not turned into a space.
    private static func cleanText(_ text: inout [Unicode.Scalar]) {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for scalar in text {
            let v = scalar.value
            if v == 0 || v == 0xFFFD || CharacterClasses.isBertControl(scalar) { continue }
            out.append(CharacterClasses.isBertWhitespace(scalar) ? " " : scalar)
        }
        text = out
    }

    private static func padChineseCharacters(_ text: inout [Unicode.Scalar]) {
        guard text.contains(where: CharacterClasses.isChineseIdeograph) else { return }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count + 16)
        for scalar in text {
            if CharacterClasses.isChineseIdeograph(scalar) {
                out.append(" "); out.append(scalar); out.append(" ")
            } else {
                out.append(scalar)
            }
        }
        text = out
    }

    /// Rust's `char::to_lowercase`, one scalar at a time: the full (multi-scalar) mappings
    /// such as "İ" → "i̇", but no context rules, so "Σ" is always "σ", never a final "ς".
    static func lowercase(_ text: inout [Unicode.Scalar]) {
        var out: [Unicode.Scalar]? = nil
        for (index, scalar) in text.enumerated() {
            let v = scalar.value
            if v < 0x80 {
                let lowered = (0x41...0x5A).contains(v) ? Unicode.Scalar(v + 0x20)! : scalar
                if out != nil { out!.append(lowered) } else if lowered != scalar { out = Array(text[..<index]); out!.append(lowered) }
                continue
            }
            // The binary property is a cheap test; the mapping builds a String.
            let properties = scalar.properties
            guard properties.changesWhenLowercased else {
                out?.append(scalar)
                continue
            }
            if out == nil { out = Array(text[..<index]) }
            out!.append(contentsOf: properties.lowercaseMapping.unicodeScalars)
        }
        if let out { text = out }
    }
}

/// Unicode normal forms as the Rust crate computes them, with Foundation doing the work.
///
/// Three things keep Foundation's answer from being the crate's, found by checking every
/// scalar, alone and between marks and jamo, against it (UnicodeEdgeCaseTests keeps them):
/// * The crate's normalization tables are Unicode 9.0 (`tableVersion`): a scalar assigned later (or
///   unassigned) has no decomposition and combining class 0 there, so it blocks reordering
///   and composition around it. Such scalars are passed through untouched, and the text on
///   either side is normalized separately.
/// * Foundation's composition (Swift 6.3, Linux) reads a supplementary-plane starter by its low
///   16 bits: U+10041 or U+E0041 followed by U+0301 comes out as "Á"; and its Hangul
///   composition takes the ranges' ends as inclusive, composing U+1113, U+1176, U+11A7 and
///   U+11C3 (U+1100 U+1161 U+11A7 becomes U+AC00, losing the U+11A7). So composition runs on
///   the decomposed text cut at each such scalar (none takes part in a canonical composition,
///   so the cut changes nothing else).
/// * Foundation's decomposition leaves the marks out of canonical order after U+0F73, U+0F75 and
///   U+0F81 (each two marks), so decomposed text is reordered by combining class again.
enum UnicodeForms {
    static let tableVersion = (major: 9, minor: 0)

    /// The supplementary-plane scalars that occur in a canonical composition (as either part).
    private static let supplementaryCompositionParts: Set<UInt32> = [
        0x11099, 0x1109B, 0x110A5, 0x110BA, 0x11127, 0x11131, 0x11132, 0x1133E, 0x11347, 0x11357,
        0x114B0, 0x114B9, 0x114BA, 0x114BD, 0x115AF, 0x115B8, 0x115B9,
    ]

    /// Jamo at the ends of the Hangul composition ranges, which Foundation composes wrongly.
    private static let hangulRangeEnds: Set<UInt32> = [0x1113, 0x1176, 0x11A7, 0x11C3]

    /// Unknown to the crate's tables: copied through as an inert starter.
    @inline(__always)
    private static func isUnknown(_ scalar: Unicode.Scalar) -> Bool {
        guard let age = scalar.properties.age else { return true }
        return (age.major, age.minor) > tableVersion
    }

    static func nfd(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // Nothing below U+00C0 decomposes, so plain ASCII and most punctuation skip Foundation.
        if text.allSatisfy({ $0.value < 0xC0 }) { return text }
        return normalizing(text, keeping: isUnknown, reorder: true) { $0.decomposedStringWithCanonicalMapping }
    }

    static func nfkd(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if text.allSatisfy({ $0.value < 0xA0 }) { return text }
        return normalizing(text, keeping: isUnknown, reorder: true) { $0.decomposedStringWithCompatibilityMapping }
    }

    static func nfc(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // Below U+0300 there are no combining marks and no singletons: already composed.
        if text.allSatisfy({ $0.value < 0x300 }) { return text }
        return compose(nfd(text))
    }

    static func nfkc(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if text.allSatisfy({ $0.value < 0xA0 }) { return text }
        return compose(nfkd(text))
    }

    /// Canonical composition of decomposed text (NFC of NFD text).
    private static func compose(_ decomposed: [Unicode.Scalar]) -> [Unicode.Scalar] {
        normalizing(decomposed, keeping: { scalar in
            if hangulRangeEnds.contains(scalar.value) { return true }
            if scalar.value >= 0x10000, scalar.properties.canonicalCombiningClass.rawValue == 0,
                !supplementaryCompositionParts.contains(scalar.value)
            {
                return true
            }
            return scalar.value >= 0x300 && isUnknown(scalar)
        }, reorder: false) { $0.precomposedStringWithCanonicalMapping }
    }

    /// Applies `transform` to the runs between scalars for which `keep` holds; those are
    /// copied as they are. All of them are starters, so no reordering crosses them.
    private static func normalizing(
        _ text: [Unicode.Scalar], keeping keep: (Unicode.Scalar) -> Bool, reorder: Bool, _ transform: (String) -> String
    ) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count + 8)
        var runStart = 0
        func flush(_ end: Int) {
            guard runStart < end else { return }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: text[runStart..<end])
            let first = out.count
            out.append(contentsOf: transform(String(view)).unicodeScalars)
            if reorder { canonicallyOrder(&out, from: first) }
        }
        for (index, scalar) in text.enumerated() where scalar.value >= 0x300 && keep(scalar) {
            flush(index)
            out.append(scalar)
            runStart = index + 1
        }
        flush(text.count)
        return out
    }

    private static func combiningClass(_ scalar: Unicode.Scalar) -> UInt8 {
        scalar.value < 0x300 ? 0 : scalar.properties.canonicalCombiningClass.rawValue
    }

    /// Stable-sorts each run of non-starters in `text[start...]` by combining class.
    private static func canonicallyOrder(_ text: inout [Unicode.Scalar], from start: Int) {
        var i = start + 1
        while i < text.count {
            let ccc = combiningClass(text[i])
            // Insertion sort: runs are a few marks long, and already ordered almost always.
            if ccc != 0 {
                var j = i
                while j > start, combiningClass(text[j - 1]) > ccc {
                    text.swapAt(j, j - 1)
                    j -= 1
                }
            }
            i += 1
        }
    }
}
