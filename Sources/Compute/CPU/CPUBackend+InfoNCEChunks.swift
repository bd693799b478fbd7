import Foundation

/// The chunk steps of an InfoNCE loss on the CPU path (`InfoNCE+Chunks.swift` composes them;
/// the maths is in `Kernels/infonce_chunks.cl`). Scores arrive unscaled; `S = s·P`.
extension CPUBackend {
    public func infoNCELabelWeights(own: Buffer, ownCount: Int, other: Buffer, otherCount: Int, weights: Buffer) throws {
        let (owns, others, out) = (own.hostPointer, other.hostPointer, weights.hostPointer)
        var counts: [Float: Int] = [:]
        for j in 0..<otherCount { counts[others[j], default: 0] += 1 }
        for i in 0..<ownCount { out[i] = counts[owns[i]].map { 1 / Float($0) } ?? 0 }
    }

    public func infoNCEChunkRowStatistics(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk, statistics: InfoNCEStatistics) throws {
        let (n, m, scale) = (descriptor.rows, descriptor.columns, descriptor.scale)
        let (lse, dot, mass) = (statistics.logSumExp.hostPointer, statistics.targetDot.hostPointer, statistics.targetMass.hostPointer)
        let targets = ChunkTargets(descriptor, chunk)
        parallelFor(descriptor.groups * chunk.count, minimumChunk: max(1, 16384 / m)) { range in
            for task in range {
                let (g, i) = task.quotientAndRemainder(dividingBy: chunk.count)
                let r = chunk.start + i, p = chunk.scores.hostPointer + task * m
                // Max-subtracted (scale > 0, so the largest S is s times the largest P).
                let top = scale * rowMaximum(p, count: m)
                let sum = sumOfExponentials(p, count: m, scale: scale, minus: top, storing: false)
                var (targetDot, targetMass): (Float, Float) = (0, 0)
                targets.forEachTarget(row: r, columns: m) { c, t, _ in
                    targetDot += t * (scale * p[c])
                    targetMass += t
                }
                lse[g * n + r] = top + log(sum)
                dot[g * n + r] = targetDot
                mass[g * n + r] = targets.fixedMass(row: r) ?? targetMass
            }
        }
    }

    public func infoNCEChunkColumnStatistics(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk, runningMaximum: Buffer, runningSum: Buffer,
                                             statistics: InfoNCEStatistics) throws {
        let (n, m, scale) = (descriptor.rows, descriptor.columns, descriptor.scale)
        let (runMax, runSum) = (runningMaximum.hostPointer, runningSum.hostPointer)
        let (lse, dot, mass) = (statistics.logSumExp.hostPointer, statistics.targetDot.hostPointer, statistics.targetMass.hostPointer)
        let (first, last) = (chunk.start == 0, chunk.start + chunk.count == n)
        let targets = ChunkTargets(descriptor, chunk)
        // Tasks are (group, column range); each column folds the chunk's rows in row order.
        let block = 256, blocks = (m + block - 1) / block
        parallelFor(descriptor.groups * blocks) { range in
            for task in range {
                let (g, b) = task.quotientAndRemainder(dividingBy: blocks)
                let columns = (b * block)..<min(m, (b + 1) * block)
                let p = chunk.scores.hostPointer + g * chunk.count * m, o = g * m
                for c in columns {
                    var top = -Float.infinity
                    for i in 0..<chunk.count { top = max(top, p[i * m + c]) }
                    let oldMaximum = first ? -Float.infinity : runMax[o + c]
                    let newMaximum = max(oldMaximum, scale * top)
                    // The online log-sum-exp: the running sum rescaled by exp(old − new) ≤ 1.
                    var sum = first ? 0 : runSum[o + c] * expNonPositive(oldMaximum - newMaximum)
                    for i in 0..<chunk.count { sum += expNonPositive(min(scale * p[i * m + c] - newMaximum, 0)) }
                    if last { lse[o + c] = newMaximum + log(sum) } else { (runMax[o + c], runSum[o + c]) = (newMaximum, sum) }
                    if first { (dot[o + c], mass[o + c]) = (0, targets.fixedMass(column: c) ?? 0) }
                }
                for i in 0..<chunk.count {
                    targets.forEachTarget(row: chunk.start + i, columns: m, in: columns) { c, _, t in
                        dot[o + c] += t * (scale * p[i * m + c])
                        if targets.kind != .labels { mass[o + c] += t }
                    }
                }
            }
        }
    }

    public func infoNCEChunkGradient(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk, rows: InfoNCEStatistics, columns: InfoNCEStatistics,
                                     rowCoefficient: Float, columnCoefficient: Float, gradScalePartial: Buffer) throws {
        let (n, m, scale) = (descriptor.rows, descriptor.columns, descriptor.scale)
        let (rowLSE, rowMass) = (rows.logSumExp.hostPointer, rows.targetMass.hostPointer)
        let (columnLSE, columnMass) = (columns.logSumExp.hostPointer, columns.targetMass.hostPointer)
        let partials = gradScalePartial.hostPointer
        let targets = ChunkTargets(descriptor, chunk)
        parallelFor(descriptor.groups * chunk.count, minimumChunk: max(1, 8192 / m)) { range in
            for task in range {
                let (g, i) = task.quotientAndRemainder(dividingBy: chunk.count)
                let r = chunk.start + i, p = chunk.scores.hostPointer + task * m
                // dS_rc = c_row·(mass_r·exp(S_rc − lse_r) − t_rc) + c_col·(mass'_c·exp(S_rc − lse'_c) − t'_rc);
                // a zero coefficient's statistics are not read.
                // Σ_c (c_row·t_rc + c_col·t'_rc)·P_rc, read before the row is overwritten.
                var targetScore: Float = 0
                targets.forEachTarget(row: r, columns: m) { c, t, otherT in targetScore += (rowCoefficient * t + columnCoefficient * otherT) * p[c] }
                let useRow = rowCoefficient != 0
                let partial = infoNCESoftmaxTerms(p, count: m, scale: scale, outputScale: scale, rowLSE: useRow ? rowLSE[g * n + r] : 0,
                                                  rowWeight: useRow ? rowCoefficient * rowMass[g * n + r] : 0, columnCoefficient: columnCoefficient,
                                                  columnLSE: UnsafePointer(columnLSE + g * m), columnMass: UnsafePointer(columnMass + g * m))
                targets.forEachTarget(row: r, columns: m) { c, t, otherT in p[c] -= scale * (rowCoefficient * t + columnCoefficient * otherT) }
                partials[g * n + r] = partial - targetScore
            }
        }
    }
}

/// The targets of a chunk's pairs, as `infonce_chunks.cl` defines them: for row r, each column
/// c with a nonzero row-direction target t or column-direction target t'.
private struct ChunkTargets {
    let kind: InfoNCETargets
    let labelsA: UnsafeMutablePointer<Float>?
    let labelsB: UnsafeMutablePointer<Float>?
    let soft: UnsafeMutablePointer<Float>?
    let rowWeights: UnsafeMutablePointer<Float>?
    let columnWeights: UnsafeMutablePointer<Float>?

    init(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk) {
        kind = descriptor.targets
        (labelsA, labelsB, soft) = (chunk.labelsA?.hostPointer, chunk.labelsB?.hostPointer, chunk.softTargets?.hostPointer)
        (rowWeights, columnWeights) = (chunk.rowWeights?.hostPointer, chunk.columnWeights?.hostPointer)
    }

    /// Labels targets: a row's (column's) targets sum to exactly 1 when a pair matches, else 0;
    /// nil for the other kinds, whose mass is the sum of the targets.
    func fixedMass(row r: Int) -> Float? {
        kind == .labels ? (rowWeights.map { $0[r] > 0 ? 1 : 0 } ?? 0) : nil
    }

    func fixedMass(column c: Int) -> Float? {
        kind == .labels ? (columnWeights.map { $0[c] > 0 ? 1 : 0 } ?? 0) : nil
    }

    /// Calls `body(c, t_rc, t'_rc)` for the columns of `range` (default all) where either is nonzero.
    @inline(__always) func forEachTarget(row r: Int, columns m: Int, in range: Range<Int>? = nil, _ body: (Int, Float, Float) -> Void) {
        let range = range ?? 0..<m
        switch kind {
        case .diagonal:
            if range.contains(r) { body(r, 1, 1) }
        case .labels:
            guard let labelsA, let labelsB, let rowWeights, let columnWeights else { return }
            let label = labelsA[r]
            for c in range where labelsB[c] == label { body(c, rowWeights[r], columnWeights[c]) }
        case .soft:
            guard let soft else { return }
            for c in range where soft[r * m + c] != 0 { body(c, soft[r * m + c], soft[r * m + c]) }
        }
    }
}
