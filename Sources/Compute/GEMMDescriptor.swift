/// `C = op(A)·op(B)` for float32, optionally batched; the shapes checked once, here.
///
/// `A` is stored `[M, K]` (`[K, M]` when `transposeA`), `B` `[K, N]` (`[N, K]` when
/// `transposeB`), `C` `[M, N]`; with a leading batch dimension on all three when batched.
public struct GEMMDescriptor: OpDescriptor {
    public static let op = "gemm"
    public let batch: Int
    public let m: Int
    public let n: Int
    public let k: Int
    public let transposeA: Bool
    public let transposeB: Bool
    /// Whether the arrays carry the leading batch dimension (even if it is 1).
    public let isBatched: Bool

    public init(batch: Int = 1, m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false, isBatched: Bool = false) throws(BackendError) {
        self.init(unchecked: (batch, m, n, k), transposeA, transposeB, isBatched)
        try validate()
    }

    /// For descriptors derived from a valid one (the gradients' GEMMs).
    private init(unchecked sizes: (batch: Int, m: Int, n: Int, k: Int), _ transposeA: Bool, _ transposeB: Bool, _ isBatched: Bool) {
        (batch, m, n, k) = sizes
        (self.transposeA, self.transposeB, self.isBatched) = (transposeA, transposeB, isBatched)
    }

    public func validate() throws(BackendError) {
        try require(["batch": batch, "M": m, "N": n, "K": k], atLeast: 0)  // an empty product is legal (all zeros)
        try requireIndexable(["a": batch * m * k, "b": batch * k * n, "c": batch * m * n])
    }

    /// Checks the stored shapes of `a` and `b` against each other and the transposes.
    public init(aShape: [Int], bShape: [Int], transposeA: Bool, transposeB: Bool) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "gemm", message: message) }
        guard aShape.count == 2 || aShape.count == 3 else {
            throw fail("a must be 2-D [M, K] or 3-D [B, M, K], got \(aShape.count)-D \(shapeText(aShape))")
        }
        guard bShape.count == aShape.count else {
            throw fail("b must be \(aShape.count)-D like a \(shapeText(aShape)), got \(bShape.count)-D \(shapeText(bShape))")
        }
        let batched = aShape.count == 3
        let batch = batched ? aShape[0] : 1
        if batched, bShape[0] != batch {
            throw fail("a and b must share the batch size: a \(shapeText(aShape)), b \(shapeText(bShape))")
        }
        let a = Array(aShape.suffix(2)), b = Array(bShape.suffix(2))
        let (m, ka) = transposeA ? (a[1], a[0]) : (a[0], a[1])
        let (kb, n) = transposeB ? (b[1], b[0]) : (b[0], b[1])
        guard ka == kb else {
            let aLayout = transposeA ? "[K, M]" : "[M, K]", bLayout = transposeB ? "[N, K]" : "[K, N]"
            throw fail("inner dimensions differ: a \(aLayout) = \(shapeText(aShape)) has K = \(ka), b \(bLayout) = \(shapeText(bShape)) has K = \(kb)")
        }
        try self.init(batch: batch, m: m, n: n, k: ka, transposeA: transposeA, transposeB: transposeB, isBatched: batched)
    }

    public var aShape: [Int] { (isBatched ? [batch] : []) + (transposeA ? [k, m] : [m, k]) }
    public var bShape: [Int] { (isBatched ? [batch] : []) + (transposeB ? [n, k] : [k, n]) }
    public var cShape: [Int] { (isBatched ? [batch] : []) + [m, n] }

    /// Multiply-adds count twice.
    public var flops: Double { 2 * Double(batch) * Double(m) * Double(n) * Double(k) }
    /// Each operand read once, C written once: the least traffic an implementation can have.
    public var bytes: Double { 4 * Double(batch) * Double(m * k + k * n + m * n) }

    /// Both gradients as GEMMs of their own: `(descriptor for grad_a, operands)` and the same
    /// for `grad_b`, each in the stored layout of its input (derived from `C = op(A)·op(B)`).
    public enum Operand: Sendable { case a, b, gradC }

    public var gradientOfA: (descriptor: GEMMDescriptor, left: Operand, right: Operand) {
        switch (transposeA, transposeB) {
        case (false, false): (with(m: m, n: k, k: n, false, true), .gradC, .b)   // dC·Bᵀ
        case (false, true): (with(m: m, n: k, k: n, false, false), .gradC, .b)   // dC·B
        case (true, false): (with(m: k, n: m, k: n, false, true), .b, .gradC)    // B·dCᵀ
        case (true, true): (with(m: k, n: m, k: n, true, true), .b, .gradC)      // Bᵀ·dCᵀ
        }
    }

    public var gradientOfB: (descriptor: GEMMDescriptor, left: Operand, right: Operand) {
        switch (transposeA, transposeB) {
        case (false, false): (with(m: k, n: n, k: m, true, false), .a, .gradC)   // Aᵀ·dC
        case (true, false): (with(m: k, n: n, k: m, false, false), .a, .gradC)   // A·dC
        case (false, true): (with(m: n, n: k, k: m, true, false), .gradC, .a)    // dCᵀ·A
        case (true, true): (with(m: n, n: k, k: m, true, true), .gradC, .a)      // dCᵀ·Aᵀ
        }
    }

    private func with(m: Int, n: Int, k: Int, _ transposeA: Bool, _ transposeB: Bool) -> GEMMDescriptor {
        GEMMDescriptor(unchecked: (batch, m, n, k), transposeA, transposeB, isBatched)
    }
}
