/// One direction of an InfoNCE loss as the backends see it: the rows of `x` against the rows of
/// `y`, with the targets oriented for that direction.
public struct InfoNCEPass: Sendable {
    public let x: Buffer
    public let y: Buffer
    /// Rows and columns of this direction's score matrix (per group).
    public let rows: Int
    public let columns: Int
    /// Labels of x's rows and y's rows (labels targets only).
    public let labelsX: Buffer?
    public let labelsY: Buffer?
    /// The `[N, M]` targets (soft targets only); `transposed` reads them as `[M, N]`.
    public let softTargets: Buffer?
    public let transposed: Bool
}

/// Per-row statistics of one direction, `[G, rows]` each.
public struct InfoNCEStatistics: Sendable {
    public let logSumExp: Buffer
    public let targetDot: Buffer
    public let targetMass: Buffer
}

/// The inputs of an InfoNCE loss on a backend.
public struct InfoNCEInputs: Sendable {
    public let a: Buffer
    public let b: Buffer
    public let labelsA: Buffer?
    public let labelsB: Buffer?
    public let softTargets: Buffer?
    /// The logit scale as a one-element buffer (learnable, as in CLIP), so that it is never read
    /// back to the host; the descriptor's `scale` must then be 1. It is folded into â (the
    /// kernels see s·â with scale 1, the same scores), and the gradients are taken back through
    /// the fold (see `infoNCEBackward`).
    public let scale: Buffer?

    public init(a: Buffer, b: Buffer, labelsA: Buffer? = nil, labelsB: Buffer? = nil, softTargets: Buffer? = nil, scale: Buffer? = nil) {
        (self.a, self.b, self.labelsA, self.labelsB, self.softTargets, self.scale) = (a, b, labelsA, labelsB, softTargets, scale)
    }
}

/// What the forward keeps for the backward: normalised rows, norms and each direction's
/// statistics — O((N + M)·D) memory, never the score matrix.
public struct InfoNCEState: Sendable {
    public let normalizedA: Buffer
    public let normalizedB: Buffer
    let normsA: Buffer
    let normsB: Buffer
    let rowStatistics: InfoNCEStatistics?
    let columnStatistics: InfoNCEStatistics?
}

extension Backend {
    /// The loss — a one-element buffer, reduced on the device from the per-row statistics, so
    /// nothing waits for it — and the state its backward needs; with `logits`, also the score
    /// matrix `[G, N, M]`.
    public func infoNCEForward(_ descriptor: InfoNCEDescriptor, _ inputs: InfoNCEInputs, logits: Buffer? = nil) throws -> (loss: Buffer, state: InfoNCEState) {
        try BufferCounts.infoNCE(descriptor, inputs)
        try Self.requireUnitScale(descriptor, inputs)
        let descriptor = runnable(descriptor)
        let (g, n, m, d) = (descriptor.groups, descriptor.rows, descriptor.columns, descriptor.dimension)
        let normalizedA = try makeBuffer(count: g * n * d), normalizedB = try makeBuffer(count: g * m * d)
        let normsA = try makeBuffer(count: g * n), normsB = try makeBuffer(count: g * m)
        try infoNCENormalize(descriptor, x: inputs.a, rows: g * n, normalized: normalizedA, norms: normsA)
        try infoNCENormalize(descriptor, x: inputs.b, rows: g * m, normalized: normalizedB, norms: normsB)
        // A scale on the device: S = s·âb̂ᵀ = (s·â)b̂ᵀ, so the kernels get s·â and scale 1.
        if let scale = inputs.scale { try self.scale(normalizedA, byScalarIn: scale, into: normalizedA, count: g * n * d) }
        let rowStatistics: InfoNCEStatistics?, columnStatistics: InfoNCEStatistics?
        if let chunkRows = descriptor.chunkRows {
            (rowStatistics, columnStatistics) = try infoNCEChunkedStatistics(descriptor, inputs, normalizedA: normalizedA, normalizedB: normalizedB,
                                                                             chunkRows: chunkRows)
        } else {
            let (rowPass, columnPass) = passes(descriptor, inputs, normalizedA, normalizedB)
            func statistics(_ pass: InfoNCEPass) throws -> InfoNCEStatistics {
                let result = try makeStatistics(count: g * pass.rows)
                try infoNCERowStatistics(descriptor, pass, statistics: result)
                return result
            }
            rowStatistics = descriptor.usesRows ? try statistics(rowPass) : nil
            columnStatistics = descriptor.usesColumns ? try statistics(columnPass) : nil
        }
        if let logits { try infoNCELogits(descriptor, normalizedA: normalizedA, normalizedB: normalizedB, logits: logits) }
        // A direction's loss: the mean over groups and rows of mass_r·lse_r − Σ_c t_rc·S_rc (lse is
        // finite: no score is masked). Each is summed by columnSums (float32, in a fixed order)
        // and weighted by 1/(rows·directions), so the two directions add up to their mean.
        let loss = try makeBuffer(count: 1), directionLoss = try makeBuffer(count: 1)
        try fill(loss, with: 0, count: 1)
        let directions = Float((rowStatistics == nil ? 0 : 1) + (columnStatistics == nil ? 0 : 1))
        for (statistics, rows) in [(rowStatistics, n), (columnStatistics, m)] {
            guard let statistics else { continue }
            let count = g * rows
            let terms = try makeBuffer(count: count), negativeDot = try makeBuffer(count: count)
            try multiply(statistics.targetMass, statistics.logSumExp, into: terms, count: count)
            try scale(statistics.targetDot, by: -1, into: negativeDot, count: count)
            try add(terms, negativeDot, into: terms, count: count)
            try columnSums(terms, rows: count, columns: 1, into: directionLoss)
            try scale(directionLoss, by: 1 / (Float(count) * directions), into: directionLoss, count: 1)
            try accumulate(directionLoss, into: loss, count: 1)
        }
        let state = InfoNCEState(normalizedA: normalizedA, normalizedB: normalizedB, normsA: normsA, normsB: normsB,
                                 rowStatistics: rowStatistics, columnStatistics: columnStatistics)
        return (loss, state)
    }

    /// Writes the gradients of `gradLoss[0] · loss` with respect to `a` and `b` (`gradLoss`, a
    /// one-element buffer, stays on the device; nil is 1), and returns the one with respect to
    /// the logit scale, also a one-element buffer.
    public func infoNCEBackward(_ descriptor: InfoNCEDescriptor, _ inputs: InfoNCEInputs, state: InfoNCEState, gradLoss: Buffer? = nil,
                                gradA: Buffer, gradB: Buffer) throws -> Buffer {
        try BufferCounts.infoNCE(descriptor, inputs, gradA: gradA, gradB: gradB)
        try Self.requireUnitScale(descriptor, inputs)
        let descriptor = runnable(descriptor)
        let (g, n, m, d) = (descriptor.groups, descriptor.rows, descriptor.columns, descriptor.dimension)
        // dL/dS_rc = c_row·(mass_r·p_rc − t_rc) + c_col·(mass'_c·q_rc − t_rc): each direction's
        // loss is a mean over G·rows, and symmetric halves both.
        let share: Float = descriptor.direction == .symmetric ? 0.5 : 1
        let rowCoefficient = descriptor.usesRows ? share / Float(g * n) : 0
        let columnCoefficient = descriptor.usesColumns ? share / Float(g * m) : 0
        let gradNormalizedA = try makeBuffer(count: g * n * d), gradNormalizedB = try makeBuffer(count: g * m * d)
        let scalePartialA = try makeBuffer(count: g * n)
        // A direction the loss does not use enters with coefficient 0, but a backend may still
        // read its statistics: give it zeros of its own length (mass 0, and lse 0 with the
        // exponent clamped at 0 keeps every term finite), not the other direction's, which are
        // too short when N ≠ M — reading past them gave garbage, and 0·NaN = NaN.
        func neutral(rows count: Int) throws -> InfoNCEStatistics {
            let statistics = try makeStatistics(count: count)
            for buffer in [statistics.logSumExp, statistics.targetDot, statistics.targetMass] { try fill(buffer, with: 0, count: count) }
            return statistics
        }
        let rows = try state.rowStatistics ?? neutral(rows: g * n), columns = try state.columnStatistics ?? neutral(rows: g * m)
        if let chunkRows = descriptor.chunkRows {
            try infoNCEChunkedGradients(descriptor, inputs, state: state, chunkRows: chunkRows, rows: rows, columns: columns,
                                        rowCoefficient: rowCoefficient, columnCoefficient: columnCoefficient,
                                        gradNormalizedA: gradNormalizedA, gradNormalizedB: gradNormalizedB, gradScalePartial: scalePartialA)
        } else {
            let (rowPass, columnPass) = passes(descriptor, inputs, state.normalizedA, state.normalizedB)
            try infoNCEBackwardRows(descriptor, rowPass, own: rows, other: columns, ownCoefficient: rowCoefficient,
                                    otherCoefficient: columnCoefficient, gradNormalized: gradNormalizedA, gradScalePartial: scalePartialA)
            // b's pass sums the same dS·S terms again into its own partials, which are not needed.
            try infoNCEBackwardRows(descriptor, columnPass, own: columns, other: rows, ownCoefficient: columnCoefficient,
                                    otherCoefficient: rowCoefficient, gradNormalized: gradNormalizedB, gradScalePartial: try makeBuffer(count: g * m))
        }
        if let scale = inputs.scale {
            // Through the fold â' = s·â: dL/dâ = s·dL/dâ' (b̂'s gradient already carries s).
            try self.scale(gradNormalizedA, byScalarIn: scale, into: gradNormalizedA, count: g * n * d)
        }
        try infoNCENormalizeBackward(descriptor, x: inputs.a, rows: g * n, norms: state.normsA, gradNormalized: gradNormalizedA, gradX: gradA)
        try infoNCENormalizeBackward(descriptor, x: inputs.b, rows: g * m, norms: state.normsB, gradNormalized: gradNormalizedB, gradX: gradB)
        // Σ_rc dS_rc·S_rc / s, summed over a's rows.
        let gradScale = try makeBuffer(count: 1)
        try columnSums(scalePartialA, rows: g * n, columns: 1, into: gradScale)
        if let scale = inputs.scale {
            // The kernels summed dS·S at scale 1, where S already holds s: dL/ds = Σ dS·S / s.
            let reciprocal = try makeBuffer(count: 1)
            try map(.reciprocal, scale, into: reciprocal, count: 1)
            try multiply(gradScale, reciprocal, into: gradScale, count: 1)
        }
        if let gradLoss {
            // The rules above ran for a unit upstream gradient: scale all three by the real one.
            try scale(gradA, byScalarIn: gradLoss, into: gradA, count: g * n * d)
            try scale(gradB, byScalarIn: gradLoss, into: gradB, count: g * m * d)
            try scale(gradScale, byScalarIn: gradLoss, into: gradScale, count: 1)
        }
        return gradScale
    }

    /// A scale on the device replaces the descriptor's, which must then be 1.
    private static func requireUnitScale(_ descriptor: InfoNCEDescriptor, _ inputs: InfoNCEInputs) throws {
        guard inputs.scale == nil || descriptor.scale == 1 else {
            throw BackendError.invalidArgument(op: InfoNCEDescriptor.op, message: "a logit scale on the device needs the descriptor's scale 1, got \(descriptor.scale)")
        }
        if let scale = inputs.scale { try BufferCounts.require(InfoNCEDescriptor.op, (scale, 1, "the logit scale")) }
    }

    /// `descriptor`, or — when this backend cannot run its tiles (D past the OpenCL tile
    /// kernels') — the same loss with GEMM-formed score chunks, which take any D; said once.
    func runnable(_ descriptor: InfoNCEDescriptor) -> InfoNCEDescriptor {
        guard let reason = unsupportedReason(descriptor) else { return descriptor }
        var chunked = descriptor
        chunked.strategy = .chunks(rows: max(16, InfoNCEDescriptor.automaticChunkScores / (descriptor.groups * descriptor.columns)))
        guard supports(chunked) else { return descriptor }
        Notice.once("infonce: \(reason); forming the scores by GEMM in chunks instead")
        return chunked
    }

    private func passes(_ descriptor: InfoNCEDescriptor, _ inputs: InfoNCEInputs, _ normalizedA: Buffer, _ normalizedB: Buffer) -> (InfoNCEPass, InfoNCEPass) {
        (InfoNCEPass(x: normalizedA, y: normalizedB, rows: descriptor.rows, columns: descriptor.columns, labelsX: inputs.labelsA,
                     labelsY: inputs.labelsB, softTargets: inputs.softTargets, transposed: false),
         InfoNCEPass(x: normalizedB, y: normalizedA, rows: descriptor.columns, columns: descriptor.rows, labelsX: inputs.labelsB,
                     labelsY: inputs.labelsA, softTargets: inputs.softTargets, transposed: true))
    }
}
