/// A vocabulary key compared byte for byte. `String` keys would compare by canonical
/// equivalence and find "Ω" (U+2126) under "Ω" (U+03A9); the Rust crate would not.
struct TokenKey: Hashable, Sendable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init(_ string: String) { bytes = Array(string.utf8) }
    init(_ scalars: some Sequence<Unicode.Scalar>) {
        var bytes: [UInt8] = []
        for scalar in scalars { bytes.append(contentsOf: UTF8.encode(scalar)!) }
        self.bytes = bytes
    }

    static func == (a: TokenKey, b: TokenKey) -> Bool { a.bytes == b.bytes }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

typealias Vocabulary = [TokenKey: Int32]

/// BERT's WordPiece: each word is cut greedily into the longest vocabulary entries from the
/// left, pieces after the first carrying the `##` prefix. A word with any uncoverable part, or
/// longer than `maxInputCharactersPerWord` scalars, becomes a single unknown token.
struct WordPieceModel: Sendable {
    let vocabulary: Vocabulary
    let unknownId: Int32
    let continuingSubwordPrefix: [UInt8]
    let maxInputCharactersPerWord: Int

    func tokenize(_ word: [Unicode.Scalar], into ids: inout [Int32]) {
        guard !word.isEmpty else { return }
        guard word.count <= maxInputCharactersPerWord else {
            ids.append(unknownId)
            return
        }
        // Byte offsets of scalar boundaries: candidates are cut at scalars, looked up as bytes.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(word.count * 2)
        var boundaries = [0]
        for scalar in word {
            if scalar.value < 0x80 { bytes.append(UInt8(scalar.value)) } else { bytes.append(contentsOf: UTF8.encode(scalar)!) }
            boundaries.append(bytes.count)
        }
        if let whole = vocabulary[TokenKey(bytes)] {
            ids.append(whole)
            return
        }
        let firstPiece = ids.count
        var start = 0
        var key = continuingSubwordPrefix
        while start < word.count {
            var end = word.count
            var found: Int32? = nil
            while start < end {
                let piece = bytes[boundaries[start]..<boundaries[end]]
                if start == 0 {
                    found = vocabulary[TokenKey(Array(piece))]
                } else {
                    key.removeSubrange(continuingSubwordPrefix.count...)
                    key.append(contentsOf: piece)
                    found = vocabulary[TokenKey(key)]
                }
                if found != nil { break }
                end -= 1
            }
            guard let id = found else {
                ids.removeSubrange(firstPiece...)
                ids.append(unknownId)
                return
            }
            ids.append(id)
            start = end
        }
    }
}
