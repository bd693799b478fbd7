import Foundation

/// Byte-pair encoding as the Rust crate's `BPE` model does it: a word starts as one symbol per
/// scalar (the last one carrying `end_of_word_suffix`, "</w>" for CLIP), then the adjacent pair
/// with the lowest merge rank is merged, leftmost first, until no pair has a merge.
final class BPEModel: @unchecked Sendable {
    struct Merge: Sendable {
        let rank: Int32
        let newId: Int32
    }

    let vocabulary: Vocabulary
    /// Keyed by `pairKey(left, right)`.
    let merges: [UInt64: Merge]
    let unknownId: Int32?
    let continuingSubwordPrefix: [UInt8]?
    let endOfWordSuffix: [UInt8]?
    let fuseUnknown: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool

    // Words repeat a lot in real text, and merging is the costly step, so results are kept.
    // A lock rather than an actor because `encode` is synchronous; @unchecked Sendable is
    // justified by every access to `cache` going through `lock`.
    private let lock = NSLock()
    private var cache: [TokenKey: [Int32]] = [:]
    private static let cacheCapacity = 20_000
    /// Longer words are rare and would crowd the cache (the Rust crate's limit too).
    private static let cachedWordLength = 256

    init(
        vocabulary: Vocabulary, merges: [UInt64: Merge], unknownId: Int32?, continuingSubwordPrefix: [UInt8]?,
        endOfWordSuffix: [UInt8]?, fuseUnknown: Bool, byteFallback: Bool, ignoreMerges: Bool
    ) {
        self.vocabulary = vocabulary
        self.merges = merges
        self.unknownId = unknownId
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
    }

    @inline(__always)
    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    func tokenize(_ word: [Unicode.Scalar], into ids: inout [Int32]) {
        guard !word.isEmpty else { return }
        let key = TokenKey(word)
        if ignoreMerges, let id = vocabulary[key] {
            ids.append(id)
            return
        }
        let cacheable = key.bytes.count < Self.cachedWordLength
        if cacheable {
            lock.lock()
            let hit = cache[key]
            lock.unlock()
            if let hit {
                ids.append(contentsOf: hit)
                return
            }
        }
        let result = merge(initialSymbols(word))
        if cacheable {
            lock.lock()
            if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
            cache[key] = result
            lock.unlock()
        }
        ids.append(contentsOf: result)
    }

    /// One symbol per scalar, with the prefix/suffix decorations, unknown scalars handled by
    /// byte fallback or the unknown token (fused into one when `fuseUnknown`), or dropped
    /// when the model has no unknown token: all as in the Rust crate's `merge_word`.
    private func initialSymbols(_ word: [Unicode.Scalar]) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        var pendingUnknown = false
        var bytes: [UInt8] = []
        for (index, scalar) in word.enumerated() {
            bytes.removeAll(keepingCapacity: true)
            if index > 0, let prefix = continuingSubwordPrefix { bytes.append(contentsOf: prefix) }
            bytes.append(contentsOf: UTF8.encode(scalar)!)
            if index == word.count - 1, let suffix = endOfWordSuffix { bytes.append(contentsOf: suffix) }
            if let id = vocabulary[TokenKey(bytes)] {
                if pendingUnknown, let unknownId { symbols.append(unknownId) }
                pendingUnknown = false
                symbols.append(id)
                continue
            }
            if byteFallback {
                let fallback = bytes.map { vocabulary[TokenKey(String(format: "<0x%02X>", $0))] }
                if fallback.allSatisfy({ $0 != nil }) {
                    symbols.append(contentsOf: fallback.map { $0! })
                    continue
                }
            }
            guard let unknownId else { continue }
            if pendingUnknown && !fuseUnknown { symbols.append(unknownId) }
            pendingUnknown = true
        }
        if pendingUnknown, let unknownId { symbols.append(unknownId) }
        return symbols
    }

    private func merge(_ start: [Int32]) -> [Int32] {
        var symbols = start
        guard symbols.count > 1 else { return symbols }
        // ranks[i] is the merge rank of (symbols[i], symbols[i+1]), Int32.max when none; only
        // the two neighbours of a merge need recomputing.
        var ranks = [Int32](repeating: .max, count: symbols.count - 1)
        var newIds = [Int32](repeating: 0, count: symbols.count - 1)
        func refresh(_ i: Int) {
            if let merge = merges[Self.pairKey(symbols[i], symbols[i + 1])] {
                ranks[i] = merge.rank
                newIds[i] = merge.newId
            } else {
                ranks[i] = .max
            }
        }
        for i in 0..<ranks.count { refresh(i) }
        while true {
            var best = -1
            var bestRank = Int32.max
            for i in 0..<ranks.count where ranks[i] < bestRank {
                bestRank = ranks[i]
                best = i
            }
            guard best >= 0 else { break }
            symbols[best] = newIds[best]
            symbols.remove(at: best + 1)
            ranks.remove(at: best)
            newIds.remove(at: best)
            if best < ranks.count { refresh(best) }
            if best > 0 { refresh(best - 1) }
        }
        return symbols
    }
}
