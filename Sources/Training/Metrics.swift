import Foundation

/// Evaluation metrics as pure functions over host arrays.
///
/// Conventions shared by every function (chosen so evaluation never traps on odd data):
/// - Empty or malformed inputs return defined values (documented per function), never crash.
/// - NaN scores rank below every real score, including -infinity.
public enum Metrics {

    /// Fraction of predictions equal to labels (0 when empty).
    /// If the lengths differ only the common prefix is compared, so a truncated
    /// prediction run is scored on what it produced rather than rejected.
    public static func accuracy(predictions: [Int], labels: [Int]) -> Double {
        let n = min(predictions.count, labels.count)
        guard n > 0 else { return 0 }
        var correct = 0
        for i in 0..<n where predictions[i] == labels[i] { correct += 1 }
        return Double(correct) / Double(n)
    }

    /// Unweighted mean over classes 0..<classCount of per-class F1.
    /// - A class with neither support nor predictions is skipped (its F1 is undefined).
    /// - A class with support but no predictions (or predictions but no support) gets F1 0.
    /// - Pairs are compared over the common prefix. Out-of-range ids still count against
    ///   the in-range side (a label 2 predicted as 99 is a false negative for class 2).
    /// - Returns 0 when classCount <= 0 or no class is defined (e.g. empty inputs).
    public static func macroF1(predictions: [Int], labels: [Int], classCount: Int) -> Double {
        guard classCount > 0 else { return 0 }
        var tp = [Int](repeating: 0, count: classCount)
        var fp = tp, fn = tp
        let range = 0..<classCount
        for i in 0..<min(predictions.count, labels.count) {
            let p = predictions[i], l = labels[i]
            if p == l {
                if range.contains(l) { tp[l] += 1 }
            } else {
                if range.contains(p) { fp[p] += 1 }
                if range.contains(l) { fn[l] += 1 }
            }
        }
        var sum = 0.0, defined = 0
        for c in range {
            // 2tp / (2tp + fp + fn) equals 2PR/(P+R) and is 0 exactly when tp == 0,
            // which avoids the 0/0 precision case for classes that were never predicted.
            let denom = 2 * tp[c] + fp[c] + fn[c]
            guard denom > 0 else { continue }
            sum += Double(2 * tp[c]) / Double(denom)
            defined += 1
        }
        return defined == 0 ? 0 : sum / Double(defined)
    }

    /// Retrieval recall@k from a row-major similarity matrix [count × count] whose correct
    /// candidate for query i is candidate i.
    /// Rank = 1 + number of candidates scoring strictly higher than the correct one, so ties
    /// count in the query's favour (a constant matrix gives recall 1 at every k >= 1).
    /// NaN is the lowest score: a NaN candidate never outranks, and a NaN correct score is
    /// outranked by every non-NaN candidate.
    /// Returns 0 for every k when count <= 0 or the matrix has fewer than count² entries;
    /// k <= 0 gives 0. Cost is O(count²).
    public static func recallAtK(similarity: [Float], count: Int, ks: [Int] = [1, 5, 10]) -> [Int: Double] {
        guard count > 0, similarity.count >= count * count else { return zeroRecall(ks) }
        return similarity.withUnsafeBufferPointer { s in
            recall(ranks: (0..<count).map { q in
                rank(of: q, count: count) { Double(s[q * count + $0]) }
            }, ks: ks)
        }
    }

    /// Image→text and text→image recall@k from image and text embeddings, each row-major
    /// [count × dimension]. Similarity is cosine, with norms and dot products in Double so
    /// Float accumulation error cannot create or break ties. A zero-norm row has cosine 0
    /// against everything. image→text ranks texts for each image row; text→image uses the
    /// transpose. Returns zeros (as `recallAtK`) when count <= 0, dimension <= 0, or either
    /// array holds fewer than count × dimension values. Cost is O(count² · dimension).
    public static func retrieval(imageEmbeddings: [Float], textEmbeddings: [Float], count: Int,
                                 dimension: Int, ks: [Int] = [1, 5, 10])
        -> (imageToText: [Int: Double], textToImage: [Int: Double]) {
        let n = count, d = dimension
        guard n > 0, d > 0, imageEmbeddings.count >= n * d, textEmbeddings.count >= n * d else {
            return (zeroRecall(ks), zeroRecall(ks))
        }
        let img = normalizedRows(imageEmbeddings, rows: n, dimension: d)
        let txt = normalizedRows(textEmbeddings, rows: n, dimension: d)
        var sim = [Double](repeating: 0, count: n * n) // sim[i*n + t] = cos(image i, text t)
        img.withUnsafeBufferPointer { a in
            txt.withUnsafeBufferPointer { b in
                for i in 0..<n {
                    for t in 0..<n {
                        // Four accumulators break the serial add chain (~3x faster at d = 512).
                        let x = a.baseAddress! + i * d, y = b.baseAddress! + t * d
                        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, k = 0
                        while k + 4 <= d {
                            s0 += x[k] * y[k]; s1 += x[k + 1] * y[k + 1]
                            s2 += x[k + 2] * y[k + 2]; s3 += x[k + 3] * y[k + 3]
                            k += 4
                        }
                        while k < d { s0 += x[k] * y[k]; k += 1 }
                        sim[i * n + t] = (s0 + s1) + (s2 + s3)
                    }
                }
            }
        }
        return sim.withUnsafeBufferPointer { s in
            let i2t = (0..<n).map { q in rank(of: q, count: n) { s[q * n + $0] } }
            let t2i = (0..<n).map { q in rank(of: q, count: n) { s[$0 * n + q] } }
            return (recall(ranks: i2t, ks: ks), recall(ranks: t2i, ks: ks))
        }
    }

    /// Entity-level micro precision/recall/F1 for BIO tag sequences, following conlleval:
    /// an entity is a maximal B-X (I-X)* span; an I-X that does not continue an X entity
    /// (after O, after another type, or at sentence start) starts a new X entity. Any tag
    /// not starting with "B-" or "I-" is treated as O. Entities never cross sentences.
    /// A predicted entity is correct only if sentence, type and exact boundaries all match.
    /// Sentences are paired by index; unpaired sentences still contribute their entities
    /// (as unmatched predictions or missed gold), and differing lengths need no special case.
    /// As in conlleval, precision is 0 when nothing was predicted, recall is 0 when there is
    /// no gold entity, and F1 is 0 when precision + recall is 0 — so both sides empty gives
    /// (0, 0, 0), not 1.
    public static func spanF1(predicted: [[String]], gold: [[String]]) -> (precision: Double, recall: Double, f1: Double) {
        var predictedCount = 0, goldCount = 0, correct = 0
        for s in 0..<max(predicted.count, gold.count) {
            let p = s < predicted.count ? entities(predicted[s]) : []
            let g = s < gold.count ? entities(gold[s]) : []
            predictedCount += p.count
            goldCount += g.count
            correct += p.intersection(g).count
        }
        let precision = predictedCount == 0 ? 0 : Double(correct) / Double(predictedCount)
        let recall = goldCount == 0 ? 0 : Double(correct) / Double(goldCount)
        let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
        return (precision, recall, f1)
    }

    // MARK: - Helpers

    private struct Entity: Hashable {
        let type: Substring, start: Int, end: Int // end is inclusive
    }

    /// Extracts conlleval-style chunks from one sentence. A set is enough because two
    /// distinct chunks in one sentence can never share the same start.
    private static func entities(_ tags: [String]) -> Set<Entity> {
        var result = Set<Entity>()
        var open: (type: Substring, start: Int)? = nil
        for (i, tag) in tags.enumerated() {
            let isBegin = tag.hasPrefix("B-"), isInside = tag.hasPrefix("I-")
            let type = (isBegin || isInside) ? tag.dropFirst(2) : nil
            if isInside, let o = open, o.type == type { continue } // continues the open chunk
            if let o = open { result.insert(Entity(type: o.type, start: o.start, end: i - 1)) }
            open = type.map { ($0, i) } // B-X or a stray I-X starts a chunk; O closes
        }
        if let o = open { result.insert(Entity(type: o.type, start: o.start, end: tags.count - 1)) }
        return result
    }

    /// 1 + number of candidates strictly above the correct one (index `query`),
    /// with NaN ordered below everything.
    @inline(__always)
    private static func rank(of query: Int, count: Int, score: (Int) -> Double) -> Int {
        let correct = score(query)
        var higher = 0
        if correct.isNaN {
            for c in 0..<count where !score(c).isNaN { higher += 1 }
        } else {
            // `>` is false for NaN candidates, which is exactly "NaN is lowest".
            for c in 0..<count where score(c) > correct { higher += 1 }
        }
        return higher + 1
    }

    private static func recall(ranks: [Int], ks: [Int]) -> [Int: Double] {
        var result = [Int: Double]()
        for k in ks {
            let hits = ranks.reduce(0) { $0 + ($1 <= k ? 1 : 0) }
            result[k] = ranks.isEmpty ? 0 : Double(hits) / Double(ranks.count)
        }
        return result
    }

    private static func zeroRecall(_ ks: [Int]) -> [Int: Double] {
        Dictionary(ks.map { ($0, 0.0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Rows converted to Double and scaled to unit length; zero rows stay zero so their
    /// cosine is 0 instead of NaN. NaN components propagate to NaN similarities, which the
    /// ranking treats as lowest.
    private static func normalizedRows(_ x: [Float], rows: Int, dimension d: Int) -> [Double] {
        var out = [Double](repeating: 0, count: rows * d)
        for r in 0..<rows {
            var sq = 0.0
            for k in 0..<d { let v = Double(x[r * d + k]); out[r * d + k] = v; sq += v * v }
            let norm = sq.squareRoot()
            guard norm > 0 else { continue }
            for k in 0..<d { out[r * d + k] /= norm }
        }
        return out
    }
}
