import COpenBLAS
import Foundation

/// InfoNCE on the CPU path: blocks of `infoNCERowBlock` rows form their scores with
/// single-threaded OpenBLAS on each worker thread, so at most one block of rows of the score
/// matrix exists per thread.
extension CPUBackend {
    static let infoNCERowBlock = 32

    public func infoNCENormalize(_ descriptor: InfoNCEDescriptor, x: Buffer, rows: Int, normalized: Buffer, norms: Buffer) throws {
        let d = descriptor.dimension
        let (xs, out, ns) = (x.hostPointer, normalized.hostPointer, norms.hostPointer)
        parallelFor(rows, minimumChunk: max(1, 4096 / d)) { range in
            for r in range {
                let row = xs + r * d
                // The norm in float32, as the loss is defined; ε keeps a zero row finite.
                var sum: Float = 0
                for c in 0..<d { sum += row[c] * row[c] }
                let norm = sum.squareRoot()
                ns[r] = norm
                let factor = descriptor.normalizes ? 1 / max(norm, descriptor.epsilon) : 1
                for c in 0..<d { out[r * d + c] = row[c] * factor }
            }
        }
    }

    public func infoNCERowStatistics(_ descriptor: InfoNCEDescriptor, _ pass: InfoNCEPass, statistics: InfoNCEStatistics) throws {
        let (lse, dot, mass) = (statistics.logSumExp.hostPointer, statistics.targetDot.hostPointer, statistics.targetMass.hostPointer)
        forEachScoreBlock(descriptor, pass) { group, r0, count, scores in
            let targets = InfoNCETargetRows(descriptor, pass, group: group)
            for i in 0..<count {
                let r = r0 + i, row = scores + i * pass.columns, index = group * pass.rows + r
                // Max-subtracted: scores reach 1e8 with unnormalised inputs at scale 100.
                let top = rowMaximum(row, count: pass.columns)
                lse[index] = top + Foundation.log(sumOfExponentials(row, count: pass.columns, minus: top, storing: false))
                var (targetDot, targetMass): (Float, Float) = (0, 0)
                targets.forEachTarget(row: r) { c, t, _ in
                    targetDot += t * row[c]
                    targetMass += t
                }
                dot[index] = targetDot
                mass[index] = targetMass
            }
        }
    }

    public func infoNCEBackwardRows(_ descriptor: InfoNCEDescriptor, _ pass: InfoNCEPass, own: InfoNCEStatistics, other: InfoNCEStatistics?,
                                    ownCoefficient: Float, otherCoefficient: Float, gradNormalized: Buffer, gradScalePartial: Buffer) throws {
        let (ownLSE, ownMass) = (own.logSumExp.hostPointer, own.targetMass.hostPointer)
        let (otherLSE, otherMass) = (other?.logSumExp.hostPointer, other?.targetMass.hostPointer)
        let (d, scale) = (descriptor.dimension, descriptor.scale)
        let (grads, partials, ys) = (gradNormalized.hostPointer, gradScalePartial.hostPointer, pass.y.hostPointer)
        forEachScoreBlock(descriptor, pass) { group, r0, count, scores in
            let targets = InfoNCETargetRows(descriptor, pass, group: group)
            for i in 0..<count {
                let r = r0 + i, row = scores + i * pass.columns, index = group * pass.rows + r
                // Σ_c (c_own·t_rc + c_other·t'_rc)·S_rc, read before the row is overwritten with dS.
                var targetScore: Float = 0
                targets.forEachTarget(row: r) { c, t, otherT in targetScore += (ownCoefficient * t + otherCoefficient * otherT) * row[c] }
                // dS_rc = c_own·(mass_r·exp(S_rc − lse_r) − t_rc) + c_other·(mass'_c·exp(S_rc − lse'_c) − t'_rc),
                // t' being the other direction's target for the same pair.
                let otherBase = group * pass.columns
                let partial = infoNCESoftmaxTerms(row, count: pass.columns, scale: 1, outputScale: 1, rowLSE: ownLSE[index],
                                                  rowWeight: ownMass[index] * ownCoefficient, columnCoefficient: otherCoefficient,
                                                  columnLSE: otherLSE.map { UnsafePointer($0 + otherBase) },
                                                  columnMass: otherMass.map { UnsafePointer($0 + otherBase) })
                targets.forEachTarget(row: r) { c, t, otherT in row[c] -= ownCoefficient * t + otherCoefficient * otherT }
                partials[index] = (partial - targetScore) / scale
            }
            // grad_x̂_block = s · dS_block · ŷ
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(count), blasint(d), blasint(pass.columns), scale,
                        scores, blasint(pass.columns), ys + group * pass.columns * d, blasint(d), 0,
                        grads + (group * pass.rows + r0) * d, blasint(d))
        }
    }

    public func infoNCENormalizeBackward(_ descriptor: InfoNCEDescriptor, x: Buffer, rows: Int, norms: Buffer, gradNormalized: Buffer, gradX: Buffer) throws {
        let d = descriptor.dimension
        let (xs, ns, gs, out) = (x.hostPointer, norms.hostPointer, gradNormalized.hostPointer, gradX.hostPointer)
        parallelFor(rows, minimumChunk: max(1, 4096 / d)) { range in
            for r in range {
                let (row, g, result) = (xs + r * d, gs + r * d, out + r * d)
                guard descriptor.normalizes else { result.update(from: g, count: d); continue }
                let norm = ns[r]
                guard norm > descriptor.epsilon else {
                    for c in 0..<d { result[c] = g[c] / descriptor.epsilon }
                    continue
                }
                // d(x/‖x‖) = (g − x̂(x̂·g)) / ‖x‖
                var projection: Float = 0
                for c in 0..<d { projection += row[c] * g[c] }
                projection /= norm * norm
                for c in 0..<d { result[c] = (g[c] - row[c] * projection) / norm }
            }
        }
    }

    public func infoNCELogits(_ descriptor: InfoNCEDescriptor, normalizedA: Buffer, normalizedB: Buffer, logits: Buffer) throws {
        let (n, m, d) = (descriptor.rows, descriptor.columns, descriptor.dimension)
        for group in 0..<descriptor.groups {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(n), blasint(m), blasint(d), descriptor.scale,
                        normalizedA.hostPointer + group * n * d, blasint(d), normalizedB.hostPointer + group * m * d, blasint(d), 0,
                        logits.hostPointer + group * n * m, blasint(m))
        }
    }

    /// Runs `body(group, firstRow, rowCount, scores)` over blocks of rows of each group's score
    /// matrix `S = s·x̂ŷᵀ`, in parallel; `scores` is the block's `rowCount × columns` scratch.
    private func forEachScoreBlock(_ descriptor: InfoNCEDescriptor, _ pass: InfoNCEPass,
                                   _ body: (Int, Int, Int, UnsafeMutablePointer<Float>) -> Void) {
        let (d, block) = (descriptor.dimension, Self.infoNCERowBlock)
        let blocks = (pass.rows + block - 1) / block
        let (xs, ys) = (pass.x.hostPointer, pass.y.hostPointer)
        withSingleThreadedBLAS {
            parallelFor(descriptor.groups * blocks) { tasks in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: block * pass.columns)
                defer { scores.deallocate() }
                for task in tasks {
                    let group = task / blocks, r0 = task % blocks * block, count = min(block, pass.rows - r0)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(count), blasint(pass.columns), blasint(d), descriptor.scale,
                                xs + (group * pass.rows + r0) * d, blasint(d), ys + group * pass.columns * d, blasint(d), 0,
                                scores, blasint(pass.columns))
                    body(group, r0, count, scores)
                }
            }
        }
    }
}

/// The targets of one direction's rows, computed on the fly, with the other direction's target
/// for the same pair (they differ only for labels whose counts differ between a and b).
struct InfoNCETargetRows {
    let kind: InfoNCETargets
    let columns: Int
    let rows: Int
    let labelsX: UnsafeMutablePointer<Float>?
    let labelsY: UnsafeMutablePointer<Float>?
    let soft: UnsafeMutablePointer<Float>?
    let transposed: Bool
    /// Labels: how often each label occurs in x and in y.
    let countsX: [Float: Int]
    let countsY: [Float: Int]

    init(_ descriptor: InfoNCEDescriptor, _ pass: InfoNCEPass, group: Int) {
        kind = descriptor.targets
        columns = pass.columns
        rows = pass.rows
        labelsX = pass.labelsX?.hostPointer
        labelsY = pass.labelsY?.hostPointer
        soft = pass.softTargets?.hostPointer
        transposed = pass.transposed
        var countsX: [Float: Int] = [:], countsY: [Float: Int] = [:]
        if kind == .labels, let labelsX, let labelsY {
            for r in 0..<rows { countsX[labelsX[r], default: 0] += 1 }
            for c in 0..<columns { countsY[labelsY[c], default: 0] += 1 }
        }
        (self.countsX, self.countsY) = (countsX, countsY)
    }

    /// Calls `body(column, target, otherDirectionTarget)` for every column of row `r` where
    /// either is nonzero.
    @inline(__always) func forEachTarget(row r: Int, _ body: (Int, Float, Float) -> Void) {
        switch kind {
        case .diagonal:
            body(r, 1, 1)
        case .labels:
            guard let labelsX, let labelsY else { return }
            let label = labelsX[r]
            // Row r is uniform over the columns with its label; in the other direction column c
            // is uniform over the rows with its label, the same label here.
            guard let matches = countsY[label], let otherMatches = countsX[label] else { return }
            let (t, otherT) = (1 / Float(matches), 1 / Float(otherMatches))
            for c in 0..<columns where labelsY[c] == label { body(c, t, otherT) }
        case .soft:
            guard let soft else { return }
            // The [N, M] matrix; the column direction reads it transposed, so both directions
            // weigh a pair alike.
            for c in 0..<columns {
                let t = transposed ? soft[c * rows + r] : soft[r * columns + c]
                if t != 0 { body(c, t, t) }
            }
        }
    }
}

/// One row of InfoNCE's dS without its target terms, in place. The row holds x, with scores
/// S = scale·x; each entry becomes outputScale·(rowWeight·exp(S − rowLSE) + c_col·mass'_c·
/// exp(S − lse'_c)), the column term only when c_col ≠ 0. Returns Σ (that term)·x, before
/// outputScale. Exponents are ≤ 0 up to rounding (each lse bounds its scores): clamped at 0,
/// then the reduced-range exp.
@inline(__always)
func infoNCESoftmaxTerms(_ row: UnsafeMutablePointer<Float>, count: Int, scale: Float, outputScale: Float, rowLSE: Float, rowWeight: Float,
                         columnCoefficient: Float, columnLSE: UnsafePointer<Float>?, columnMass: UnsafePointer<Float>?) -> Float {
    let columns = columnCoefficient != 0 ? columnLSE.flatMap { lse in columnMass.map { (lse, $0) } } : nil
    var partials16 = Float16Lanes()
    let vectorEnd = count / 16 * 16
    for c in stride(from: 0, to: vectorEnd, by: 16) {
        let x = row.lanes(at: c), s = scale * x
        let shifted = s - rowLSE
        var gradient = rowWeight * expNonPositive(shifted.replacing(with: 0, where: shifted .> 0))
        if let (lse, mass) = columns {
            let shifted = s - lse.lanes(at: c)
            gradient += columnCoefficient * mass.lanes(at: c) * expNonPositive(shifted.replacing(with: 0, where: shifted .> 0))
        }
        partials16 += gradient * x
        row.store(outputScale * gradient, at: c)
    }
    var partial = partials16.sum()
    for c in vectorEnd..<count {
        let x = row[c], s = scale * x
        var gradient = rowWeight * expNonPositive(min(s - rowLSE, 0))
        if let (lse, mass) = columns { gradient += columnCoefficient * mass[c] * expNonPositive(min(s - lse[c], 0)) }
        partial += gradient * x
        row[c] = outputScale * gradient
    }
    return partial
}
