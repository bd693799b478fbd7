/// Scaled dot-product attention over heads: `q [B,H,Lq,D]`, `k [B,H,Lk,D]`, `v [B,H,Lk,Dv]` →
/// `out [B,H,Lq,Dv]`, with an optional key-padding mask `[B,Lk]` (nonzero keeps) and optional
/// causal masking (query i sees key j when `j ≤ i + Lk − Lq`). The shapes checked once, here.
public struct AttentionDescriptor: OpDescriptor {
    public static let op = "attention"
    public let batch: Int
    public let heads: Int
    public let queryLength: Int
    public let keyLength: Int
    public let headDimension: Int
    public let valueDimension: Int
    public let scale: Float
    public let isCausal: Bool
    public let hasKeyMask: Bool

    public init(batch: Int, heads: Int, queryLength: Int, keyLength: Int, headDimension: Int, valueDimension: Int,
                scale: Float? = nil, isCausal: Bool = false, hasKeyMask: Bool = false) throws(BackendError) {
        (self.batch, self.heads, self.queryLength, self.keyLength) = (batch, heads, queryLength, keyLength)
        (self.headDimension, self.valueDimension) = (headDimension, valueDimension)
        // 1/√D keeps the logits' variance near 1 for unit-variance q and k.
        self.scale = scale ?? 1 / Float(max(headDimension, 1)).squareRoot()
        (self.isCausal, self.hasKeyMask) = (isCausal, hasKeyMask)
        try validate()
    }

    public func validate() throws(BackendError) {
        try require(["B": batch, "H": heads, "Lq": queryLength, "Lk": keyLength, "D": headDimension, "Dv": valueDimension])
        guard scale.isFinite else { throw fail("scale must be finite, got \(scale)") }
        let (bh, lq, lk) = (batch * heads, queryLength, keyLength)
        try requireIndexable(["q": bh * lq * headDimension, "k": bh * lk * headDimension, "v": bh * lk * valueDimension, "out": bh * lq * valueDimension])
    }

    public init(qShape: [Int], kShape: [Int], vShape: [Int], keyMaskShape: [Int]?, scale: Float?, isCausal: Bool) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "attention", message: message) }
        guard qShape.count == 4 else { throw fail("q must be 4-D [B, H, Lq, D], got \(qShape.count)-D \(shapeText(qShape))") }
        let (b, h, lq, d) = (qShape[0], qShape[1], qShape[2], qShape[3])
        guard kShape.count == 4, kShape[0] == b, kShape[1] == h, kShape[3] == d else {
            throw fail("k must be [B, H, Lk, D] = [\(b), \(h), Lk, \(d)], got \(shapeText(kShape))")
        }
        let lk = kShape[2]
        guard vShape.count == 4, vShape[0] == b, vShape[1] == h, vShape[2] == lk else {
            throw fail("v must be [B, H, Lk, Dv] = [\(b), \(h), \(lk), Dv], got \(shapeText(vShape))")
        }
        let dv = vShape[3]
        if let keyMaskShape, keyMaskShape != [b, lk] {
            throw fail("key_mask must be [B, Lk] = [\(b), \(lk)], got \(shapeText(keyMaskShape))")
        }
        try self.init(batch: b, heads: h, queryLength: lq, keyLength: lk, headDimension: d, valueDimension: dv,
                  scale: scale, isCausal: isCausal, hasKeyMask: keyMaskShape != nil)
    }

    public var qShape: [Int] { [batch, heads, queryLength, headDimension] }
    public var kShape: [Int] { [batch, heads, keyLength, headDimension] }
    public var vShape: [Int] { [batch, heads, keyLength, valueDimension] }
    public var outShape: [Int] { [batch, heads, queryLength, valueDimension] }
    /// The per-row log-sum-exp the forward keeps for the backward.
    public var logSumExpShape: [Int] { [batch, heads, queryLength] }

    var pairs: Double { Double(batch * heads) * Double(queryLength) * Double(keyLength) }
    /// `q·kᵀ` and `p·v` (nominal: causal masking skips about half).
    public var forwardFlops: Double { 2 * pairs * Double(headDimension + valueDimension) }
    public var flops: Double { forwardFlops }
    /// Read q, k, v (and the mask), write out and the log-sum-exp.
    public var bytes: Double {
        let (bh, lq, lk) = (Double(batch * heads), Double(queryLength), Double(keyLength))
        return 4 * (bh * (lq * Double(headDimension) + lk * Double(headDimension + valueDimension) + lq * Double(valueDimension) + lq)
                    + (hasKeyMask ? Double(batch) * lk : 0))
    }
    /// Recomputing `q·kᵀ`, then `dv`, `dp`, `dq` and `dk`.
    public var backwardFlops: Double { 2 * pairs * Double(3 * headDimension + 2 * valueDimension) }

    /// Whether query `i` may attend to key `j` under causal masking.
    @inline(__always) func causallyVisible(query i: Int, key j: Int) -> Bool {
        !isCausal || j <= i + keyLength - queryLength
    }

    /// One past the last key that query `i` may see under causal masking (≤ 0: none).
    @inline(__always) func visibleKeyEnd(query i: Int) -> Int {
        isCausal ? min(keyLength, i + keyLength - queryLength + 1) : keyLength
    }
}
