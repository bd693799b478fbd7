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

    public init(a: Buffer, b: Buffer, labelsA: Buffer? = nil, labelsB: Buffer? = nil, softTargets: Buffer? = nil) {
        self.a = a
        self.b = b
        self.labelsA = labelsA
        self.labelsB = labelsB
        self.softTargets = softTargets
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
    /// The loss (in float64, from per-row statistics) and the state its backward needs; with
    /// `logits`, also the score matrix `[G, N, M]`.
    public func infoNCEForward(_ descriptor: InfoNCEDescriptor, _ inputs: InfoNCEInputs, logits: Buffer? = nil) throws -> (loss: Double, state: InfoNCEState) {
        try BufferCounts.infoNCE(descriptor, inputs)
        let descriptor = runnable(descriptor)
        let (g, n, m, d) = (descriptor.groups, descriptor.rows, descriptor.columns, descriptor.dimension)
        let normalizedA = try makeBuffer(count: g * n * d), normalizedB = try makeBuffer(count: g * m * d)
        let normsA = try makeBuffer(count: g * n), normsB = try makeBuffer(count: g * m)
        try infoNCENormalize(descriptor, x: inputs.a, rows: g * n, normalized: normalizedA, norms: normsA)
        try infoNCENormalize(descriptor, x: inputs.b, rows: g * m, normalized: normalizedB, norms: normsB)
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
        // Loss of a direction: mean over groups and rows of  mass_r·lse_r − Σ_c t_rc·S_rc.
        func loss(_ statistics: InfoNCEStatistics, rows: Int) throws -> Double {
            let (lse, dot, mass) = (try read(statistics.logSumExp), try read(statistics.targetDot), try read(statistics.targetMass))
            var total = 0.0
            for r in 0..<(g * rows) where mass[r] != 0 { total += Double(mass[r]) * Double(lse[r]) - Double(dot[r]) }
            return total / Double(g * rows)
        }
        let losses = try [rowStatistics.map { try loss($0, rows: n) }, columnStatistics.map { try loss($0, rows: m) }].compactMap { $0 }
        let state = InfoNCEState(normalizedA: normalizedA, normalizedB: normalizedB, normsA: normsA, normsB: normsB,
                                 rowStatistics: rowStatistics, columnStatistics: columnStatistics)
        return (losses.reduce(0, +) / Double(losses.count), state)
    }

    /// Writes the gradients of `gradLoss · loss` with respect to `a` and `b`, and returns the one
    /// with respect to the logit scale.
    public func infoNCEBackward(_ descriptor: InfoNCEDescriptor, _ inputs: InfoNCEInputs, state: InfoNCEState, gradLoss: Float = 1,
                                gradA: Buffer, gradB: Buffer) throws -> Double {
        try BufferCounts.infoNCE(descriptor, inputs, gradA: gradA, gradB: gradB)
        let descriptor = runnable(descriptor)
        let (g, n, m, d) = (descriptor.groups, descriptor.rows, descriptor.columns, descriptor.dimension)
        // dL/dS_rc = c_row·(mass_r·p_rc − t_rc) + c_col·(mass'_c·q_rc − t_rc): each direction's
        // loss is a mean over G·rows, and symmetric halves both.
        let share = gradLoss / (descriptor.direction == .symmetric ? 2 : 1)
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
        try infoNCENormalizeBackward(descriptor, x: inputs.a, rows: g * n, norms: state.normsA, gradNormalized: gradNormalizedA, gradX: gradA)
        try infoNCENormalizeBackward(descriptor, x: inputs.b, rows: g * m, norms: state.normsB, gradNormalized: gradNormalizedB, gradX: gradB)
        // Σ_rc dS_rc·S_rc / s, summed over a's rows.
        return try read(scalePartialA).reduce(0.0) { $0 + Double($1) }
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
