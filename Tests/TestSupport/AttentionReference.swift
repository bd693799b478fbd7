import Foundation

/// Dense float64 attention, the ground truth for the parity tests: the full score matrix of
/// each head, softmax over visible keys, and the textbook backward.
public struct AttentionReference {
    public let batch, heads, queryLength, keyLength, headDimension, valueDimension: Int
    public let scale: Double
    public let isCausal: Bool
    /// `[B, Lk]`, nonzero keeps; nil keeps every key.
    public let keyMask: [Double]?

    public init(batch: Int, heads: Int, queryLength: Int, keyLength: Int, headDimension: Int, valueDimension: Int,
                scale: Double, isCausal: Bool, keyMask: [Double]?) {
        (self.batch, self.heads, self.queryLength, self.keyLength) = (batch, heads, queryLength, keyLength)
        (self.headDimension, self.valueDimension, self.scale, self.isCausal, self.keyMask) = (headDimension, valueDimension, scale, isCausal, keyMask)
    }

    func visible(batch b: Int, query i: Int, key j: Int) -> Bool {
        (keyMask?[b * keyLength + j] ?? 1) != 0 && (!isCausal || j <= i + keyLength - queryLength)
    }

    /// Row-wise probabilities of one head; a row with no visible key is all zero.
    func probabilities(_ q: [Double], _ k: [Double], head: Int) -> [[Double]] {
        let (lq, lk, d) = (queryLength, keyLength, headDimension)
        return (0..<lq).map { i in
            let scores: [Double?] = (0..<lk).map { j in
                guard visible(batch: head / heads, query: i, key: j) else { return nil }
                return scale * (0..<d).reduce(0.0) { $0 + q[(head * lq + i) * d + $1] * k[(head * lk + j) * d + $1] }
            }
            guard let top = scores.compactMap({ $0 }).max() else { return [Double](repeating: 0, count: lk) }
            let e = scores.map { $0.map { Foundation.exp($0 - top) } ?? 0 }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
    }

    /// `(out, logSumExp)`; log-sum-exp is −∞ for rows with no visible key.
    public func forward(q: [Double], k: [Double], v: [Double]) -> (out: [Double], logSumExp: [Double]) {
        let (lq, lk, d, dv) = (queryLength, keyLength, headDimension, valueDimension)
        var out = [Double](repeating: 0, count: batch * heads * lq * dv)
        var lse = [Double](repeating: -.infinity, count: batch * heads * lq)
        for head in 0..<(batch * heads) {
            let p = probabilities(q, k, head: head)
            for i in 0..<lq {
                for c in 0..<dv {
                    out[(head * lq + i) * dv + c] = (0..<lk).reduce(0.0) { $0 + p[i][$1] * v[(head * lk + $1) * dv + c] }
                }
                let scores = (0..<lk).filter { visible(batch: head / heads, query: i, key: $0) }.map { j in
                    scale * (0..<d).reduce(0.0) { $0 + q[(head * lq + i) * d + $1] * k[(head * lk + j) * d + $1] }
                }
                if let top = scores.max() { lse[head * lq + i] = top + Foundation.log(scores.reduce(0) { $0 + Foundation.exp($1 - top) }) }
            }
        }
        return (out, lse)
    }

    /// The gradients of `sum(dout ⊙ out)`: dS = P ⊙ (dP − rowsum(P ⊙ dP)) with dP = dout·vᵀ.
    public func backward(q: [Double], k: [Double], v: [Double], gradOut: [Double]) -> (dq: [Double], dk: [Double], dv: [Double]) {
        let (lq, lk, d, dvDim) = (queryLength, keyLength, headDimension, valueDimension)
        var dq = [Double](repeating: 0, count: q.count), dk = [Double](repeating: 0, count: k.count), dvOut = [Double](repeating: 0, count: v.count)
        for head in 0..<(batch * heads) {
            let p = probabilities(q, k, head: head)
            for i in 0..<lq {
                let dp = (0..<lk).map { j in (0..<dvDim).reduce(0.0) { $0 + gradOut[(head * lq + i) * dvDim + $1] * v[(head * lk + j) * dvDim + $1] } }
                let rowDot = (0..<lk).reduce(0.0) { $0 + p[i][$1] * dp[$1] }
                for j in 0..<lk where p[i][j] != 0 {
                    let ds = p[i][j] * (dp[j] - rowDot)
                    for c in 0..<d {
                        dq[(head * lq + i) * d + c] += scale * ds * k[(head * lk + j) * d + c]
                        dk[(head * lk + j) * d + c] += scale * ds * q[(head * lq + i) * d + c]
                    }
                    for c in 0..<dvDim { dvOut[(head * lk + j) * dvDim + c] += p[i][j] * gradOut[(head * lq + i) * dvDim + c] }
                }
            }
        }
        return (dq, dk, dvOut)
    }
}
