import Compute
import Foundation

/// Dense float64 InfoNCE and mutual-information bounds: the full score matrix, both softmaxes,
/// and the textbook gradients.
public struct InfoNCEReference {
    public let groups, rows, columns, dimension: Int
    public let scale: Double
    public let normalizes: Bool
    public let epsilon: Double
    public let targets: InfoNCETargets
    public let labelsA: [Double]?
    public let labelsB: [Double]?
    public let softTargets: [Double]?
    public let direction: InfoNCEDirection

    public init(groups: Int, rows: Int, columns: Int, dimension: Int, scale: Double, normalizes: Bool = true, epsilon: Double = 1e-12,
                targets: InfoNCETargets, labelsA: [Double]? = nil, labelsB: [Double]? = nil, softTargets: [Double]? = nil,
                direction: InfoNCEDirection) {
        (self.groups, self.rows, self.columns, self.dimension) = (groups, rows, columns, dimension)
        (self.scale, self.normalizes, self.epsilon, self.targets) = (scale, normalizes, epsilon, targets)
        (self.labelsA, self.labelsB, self.softTargets, self.direction) = (labelsA, labelsB, softTargets, direction)
    }

    func normalized(_ x: [Double], rows count: Int) -> [Double] {
        guard normalizes else { return x }
        var out = x
        for r in 0..<count {
            let range = r * dimension..<(r + 1) * dimension
            let norm = max(range.reduce(0.0) { $0 + x[$1] * x[$1] }.squareRoot(), epsilon)
            for c in range { out[c] = x[c] / norm }
        }
        return out
    }

    /// `S [G, N, M]`.
    public func logits(a: [Double], b: [Double], scale: Double? = nil) -> [Double] {
        let (ah, bh, s) = (normalized(a, rows: groups * rows), normalized(b, rows: groups * columns), scale ?? self.scale)
        var out = [Double](repeating: 0, count: groups * rows * columns)
        for g in 0..<groups {
            for i in 0..<rows {
                for j in 0..<columns {
                    var dot = 0.0
                    for c in 0..<dimension { dot += ah[(g * rows + i) * dimension + c] * bh[(g * columns + j) * dimension + c] }
                    out[(g * rows + i) * columns + j] = s * dot
                }
            }
        }
        return out
    }

    /// `t [N, M]` (the same for every group).
    public func targetMatrix() -> [Double] {
        var t = [Double](repeating: 0, count: rows * columns)
        switch targets {
        case .diagonal:
            for i in 0..<min(rows, columns) { t[i * columns + i] = 1 }
        case .labels:
            for i in 0..<rows {
                let matches = (0..<columns).filter { labelsB![$0] == labelsA![i] }
                for j in matches { t[i * columns + j] = 1 / Double(matches.count) }
            }
        case .soft:
            t = softTargets!
        }
        return t
    }

    /// Column-direction targets: column j's distribution, as rows of an `[M, N]` matrix.
    func columnTargetMatrix() -> [Double] {
        guard targets == .labels else {
            let t = targetMatrix()
            return (0..<(columns * rows)).map { t[($0 % rows) * columns + $0 / rows] }
        }
        var t = [Double](repeating: 0, count: columns * rows)
        for j in 0..<columns {
            let matches = (0..<rows).filter { labelsA![$0] == labelsB![j] }
            for i in matches { t[j * rows + i] = 1 / Double(matches.count) }
        }
        return t
    }

    public func loss(a: [Double], b: [Double], scale: Double? = nil) -> Double {
        let s = logits(a: a, b: b, scale: scale)
        let (t, tc) = (targetMatrix(), columnTargetMatrix())
        var rowLoss = 0.0, columnLoss = 0.0
        for g in 0..<groups {
            for i in 0..<rows {
                let row = (0..<columns).map { s[(g * rows + i) * columns + $0] }
                let lse = logSumExp(row)
                for j in 0..<columns where t[i * columns + j] != 0 { rowLoss += t[i * columns + j] * (lse - row[j]) }
            }
            for j in 0..<columns {
                let column = (0..<rows).map { s[(g * rows + $0) * columns + j] }
                let lse = logSumExp(column)
                for i in 0..<rows where tc[j * rows + i] != 0 { columnLoss += tc[j * rows + i] * (lse - column[i]) }
            }
        }
        rowLoss /= Double(groups * rows)
        columnLoss /= Double(groups * columns)
        switch direction {
        case .rows: return rowLoss
        case .columns: return columnLoss
        case .symmetric: return (rowLoss + columnLoss) / 2
        }
    }
}

extension InfoNCEReference {
    /// d loss / d a, d loss / d b, d loss / d scale.
    public func gradients(a: [Double], b: [Double]) -> (da: [Double], db: [Double], dscale: Double) {
        let (g, n, m, d) = (groups, rows, columns, dimension)
        let (ah, bh) = (normalized(a, rows: g * n), normalized(b, rows: g * m))
        let s = logits(a: a, b: b)
        let (t, tc) = (targetMatrix(), columnTargetMatrix())
        let share = direction == .symmetric ? 0.5 : 1
        let cr = direction == .columns ? 0 : share / Double(g * n), cc = direction == .rows ? 0 : share / Double(g * m)
        var dah = [Double](repeating: 0, count: ah.count), dbh = [Double](repeating: 0, count: bh.count)
        var dscale = 0.0
        for group in 0..<g {
            let at = { (i: Int, j: Int) in s[(group * n + i) * m + j] }
            let rowLSE = (0..<n).map { i in logSumExp((0..<m).map { at(i, $0) }) }
            let columnLSE = (0..<m).map { j in logSumExp((0..<n).map { at($0, j) }) }
            let columnMasses = (0..<m).map { j in (0..<n).reduce(0.0) { $0 + tc[j * n + $1] } }
            for i in 0..<n {
                let mass = (0..<m).reduce(0.0) { $0 + t[i * m + $1] }
                for j in 0..<m {
                    let columnMass = columnMasses[j]
                    let ds = cr * (mass * Foundation.exp(at(i, j) - rowLSE[i]) - t[i * m + j])
                        + cc * (columnMass * Foundation.exp(at(i, j) - columnLSE[j]) - tc[j * n + i])
                    dscale += ds * at(i, j) / scale
                    for c in 0..<d {
                        dah[(group * n + i) * d + c] += scale * ds * bh[(group * m + j) * d + c]
                        dbh[(group * m + j) * d + c] += scale * ds * ah[(group * n + i) * d + c]
                    }
                }
            }
        }
        return (normalizeBackward(a, dah, rows: g * n), normalizeBackward(b, dbh, rows: g * m), dscale)
    }

    func normalizeBackward(_ x: [Double], _ gradient: [Double], rows count: Int) -> [Double] {
        guard normalizes else { return gradient }
        var out = gradient
        for r in 0..<count {
            let range = r * dimension..<(r + 1) * dimension
            let norm = range.reduce(0.0) { $0 + x[$1] * x[$1] }.squareRoot()
            guard norm > epsilon else { for c in range { out[c] = gradient[c] / epsilon }; continue }
            let projection = range.reduce(0.0) { $0 + x[$1] * gradient[$1] } / (norm * norm)
            for c in range { out[c] = (gradient[c] - x[c] * projection) / norm }
        }
        return out
    }
}

public func logSumExp(_ values: [Double]) -> Double {
    let top = values.max() ?? -.infinity
    guard top.isFinite else { return top }
    return top + Foundation.log(values.reduce(0) { $0 + Foundation.exp($1 - top) })
}

/// Mutual-information bounds of `F [G, N, N]`, one per group, as `methods.md` §5 defines them.
public func referenceMutualInformation(_ f: [Double], groups: Int, size n: Int, estimator: MutualInformationDescriptor.Estimator) -> [Double] {
    (0..<groups).map { g in
        let at = { (i: Int, k: Int) in f[(g * n + i) * n + k] }
        let diagonal = (0..<n).reduce(0.0) { $0 + at($1, $1) } / Double(n)
        let offDiagonal = (0..<n).flatMap { i in (0..<n).filter { $0 != i }.map { at(i, $0) } }
        switch estimator {
        case .infoNCE:
            var meanLogSumExp = 0.0
            for i in 0..<n { meanLogSumExp += logSumExp((0..<n).map { at(i, $0) }) / Double(n) }
            return diagonal - meanLogSumExp + Foundation.log(Double(n))
        case .donskerVaradhan:
            return diagonal - (logSumExp(offDiagonal) - Foundation.log(Double(offDiagonal.count)))
        case .jensenShannon:
            let softplus = { (x: Double) in max(x, 0) + Foundation.log1p(Foundation.exp(-abs(x))) }
            var positive = 0.0
            for i in 0..<n { positive -= softplus(-at(i, i)) }
            let negative = offDiagonal.reduce(0.0) { $0 + softplus($1) }
            return positive / Double(n) - negative / Double(offDiagonal.count)
        }
    }
}
