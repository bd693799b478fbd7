/// Which pairs are positives in an InfoNCE loss.
public enum InfoNCETargets: Int32, Sendable, CaseIterable {
    /// Row i's positive is column i (N = M): CLIP's image–text contrastive loss.
    case diagonal = 0
    /// Row i's target is uniform over the columns with its label (supervised-contrastive
    /// "n-pairs" form, VLCDoC's alignment); a row with no such column contributes nothing.
    case labels = 1
    /// Explicit targets `[N, M]`: row i's distribution is row i; the column direction reads
    /// column j as column j's distribution.
    case soft = 2
}

/// Which softmax the cross-entropy runs over.
public enum InfoNCEDirection: String, Sendable, CaseIterable {
    /// Each row of `a` against all of `b`.
    case rows
    /// Each row of `b` against all of `a`.
    case columns
    /// The mean of the two (CLIP).
    case symmetric
}

/// An InfoNCE loss over `a [G?, N, D]` and `b [G?, M, D]`: scores `S = s·âb̂ᵀ` per group, with
/// rows L2-normalised (`x / max(‖x‖, ε)`) unless turned off; cross-entropy against the targets,
/// averaged over rows, then groups (and directions). The shapes checked once, here.
public struct InfoNCEDescriptor: OpDescriptor {
    public static let op = "infonce"
    public let groups: Int
    public let rows: Int
    public let columns: Int
    public let dimension: Int
    /// Whether the arrays carry the leading group dimension.
    public let isGrouped: Bool
    /// The logit scale s = 1/τ.
    public let scale: Float
    public let normalizes: Bool
    public let epsilon: Float
    public let targets: InfoNCETargets
    public let direction: InfoNCEDirection
    /// Tiles or chunks of GEMM-formed scores; the results agree to rounding.
    public var strategy: InfoNCEScoreStrategy = .automatic

    public init(groups: Int = 1, rows: Int, columns: Int, dimension: Int, isGrouped: Bool = false, scale: Float,
                normalizes: Bool = true, epsilon: Float = 1e-12, targets: InfoNCETargets = .diagonal, direction: InfoNCEDirection = .symmetric)
        throws(BackendError) {
        (self.groups, self.rows, self.columns, self.dimension, self.isGrouped) = (groups, rows, columns, dimension, isGrouped)
        (self.scale, self.normalizes, self.epsilon, self.targets, self.direction) = (scale, normalizes, epsilon, targets, direction)
        try validate()
    }

    public func validate() throws(BackendError) {
        try require(["G": groups, "N": rows, "M": columns, "D": dimension])
        guard scale.isFinite, scale > 0 else { throw fail("the logit scale must be positive and finite, got \(scale)") }
        guard epsilon.isFinite, epsilon > 0 else { throw fail("epsilon must be positive, got \(epsilon)") }
        if targets == .diagonal, rows != columns { throw fail("diagonal targets need N = M, got N = \(rows), M = \(columns)") }
        try requireIndexable(["a": groups * rows * dimension, "b": groups * columns * dimension, "the score matrix": groups * rows * columns])
    }

    /// Checks `a`, `b` and the target arrays against each other.
    public init(aShape: [Int], bShape: [Int], scale: Float, normalizes: Bool = true, epsilon: Float = 1e-12,
                targets: InfoNCETargets, labelsAShape: [Int]? = nil, labelsBShape: [Int]? = nil, softTargetsShape: [Int]? = nil,
                direction: InfoNCEDirection) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "infonce", message: message) }
        guard aShape.count == 2 || aShape.count == 3 else {
            throw fail("a must be [N, D] or [G, N, D], got \(aShape.count)-D \(shapeText(aShape))")
        }
        let grouped = aShape.count == 3
        let (g, n, d) = grouped ? (aShape[0], aShape[1], aShape[2]) : (1, aShape[0], aShape[1])
        let expectedB = grouped ? "[\(g), M, \(d)]" : "[M, \(d)]"
        guard bShape.count == aShape.count, bShape.last == d, !grouped || bShape[0] == g else {
            throw fail("b must be \(expectedB) like a \(shapeText(aShape)), got \(shapeText(bShape))")
        }
        let m = bShape[bShape.count - 2]
        switch targets {
        case .diagonal:
            guard n == m else { throw fail("diagonal targets need N = M, got a \(shapeText(aShape)) and b \(shapeText(bShape))") }
        case .labels:
            guard labelsAShape == [n] else { throw fail("labels_a must be [N] = [\(n)], got \(labelsAShape.map(shapeText) ?? "none")") }
            guard labelsBShape == [m] else { throw fail("labels_b must be [M] = [\(m)], got \(labelsBShape.map(shapeText) ?? "none")") }
        case .soft:
            guard softTargetsShape == [n, m] else { throw fail("targets must be [N, M] = [\(n), \(m)], got \(softTargetsShape.map(shapeText) ?? "none")") }
        }
        try self.init(groups: g, rows: n, columns: m, dimension: d, isGrouped: grouped, scale: scale, normalizes: normalizes,
                  epsilon: epsilon, targets: targets, direction: direction)
    }

    public var logitsShape: [Int] { (isGrouped ? [groups] : []) + [rows, columns] }
    var usesRows: Bool { direction != .columns }
    var usesColumns: Bool { direction != .rows }

    var pairs: Double { Double(groups) * Double(rows) * Double(columns) }
    /// The multiply-adds the chosen strategy performs: chunks form the scores once; tiles form
    /// them once per direction used.
    public var forwardFlops: Double { 2 * pairs * Double(dimension) * (chunkRows == nil && direction == .symmetric ? 2 : 1) }
    /// Chunks form the scores again and both gradients; tiles run two passes that each form
    /// the scores and one gradient.
    public var backwardFlops: Double { (chunkRows == nil ? 8 : 6) * pairs * Double(dimension) }
    public var flops: Double { forwardFlops }
    /// Read a and b once (the statistics and norms are O(N + M)).
    public var bytes: Double { 4 * Double(groups * (rows + columns) * dimension) }
}

/// Mutual-information lower bounds from per-group score matrices `F [G, N, N]` whose diagonal
/// holds the positive pairs (local MI maximisation, one group per image location).
public struct MutualInformationDescriptor: OpDescriptor {
    public static let op = "mutual-information"
    public enum Estimator: Int32, Sendable, CaseIterable {
        /// `mean_i F_ii − mean_i logsumexp_k F_ik + log N`
        case infoNCE = 0
        /// Donsker–Varadhan: `mean_i F_ii − log mean_{i≠k} exp F_ik`
        case donskerVaradhan = 1
        /// Jensen–Shannon: `mean_i −softplus(−F_ii) − mean_{i≠k} softplus(F_ik)`
        case jensenShannon = 2
    }

    public let groups: Int
    public let size: Int
    public let estimator: Estimator

    public init(groups: Int, size: Int, estimator: Estimator) throws(BackendError) {
        (self.groups, self.size, self.estimator) = (groups, size, estimator)
        try validate()
    }

    public func validate() throws(BackendError) {
        try require(["G": groups, "N": size])
        if estimator != .infoNCE, size < 2 {
            throw fail("the \(estimator) bound averages over pairs i ≠ k and needs N ≥ 2, got N = \(size)")
        }
        try requireIndexable(["scores": groups * size * size])
    }

    /// An exponential or softplus and a sum per score: about four per score.
    public var flops: Double { 4 * Double(groups * size * size) }
    /// Read the scores, write the bounds.
    public var bytes: Double { 4 * Double(groups * size * size + groups) }

    public init(scoresShape: [Int], estimator: Estimator) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "mutual-information", message: message) }
        guard scoresShape.count == 3, scoresShape[1] == scoresShape[2], scoresShape[0] >= 1, scoresShape[1] >= 1 else {
            throw fail("scores must be [G, N, N] with G, N ≥ 1, got \(shapeText(scoresShape))")
        }
        try self.init(groups: scoresShape[0], size: scoresShape[1], estimator: estimator)
    }
}
