// Slow, obvious float64 references for the parity tests: the ground truth every backend and
// kernel variant is measured against. Not part of the product.

/// `op(a)·op(b)` in float64; shapes as in `GEMMDescriptor` (batch-major, row-major).
public func referenceGEMM(_ a: [Double], _ b: [Double], batch: Int, m: Int, n: Int, k: Int,
                          transposeA: Bool, transposeB: Bool) -> [Double] {
    var c = [Double](repeating: 0, count: batch * m * n)
    for p in 0..<batch {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for l in 0..<k {
                    let av = transposeA ? a[p * m * k + l * m + i] : a[p * m * k + i * k + l]
                    let bv = transposeB ? b[p * k * n + j * k + l] : b[p * k * n + l * n + j]
                    sum += av * bv
                }
                c[p * m * n + i * n + j] = sum
            }
        }
    }
    return c
}

/// Softmax (or log-softmax) of `scale·x` over rows of `columns`, masked entries excluded:
/// 0 (−∞ for log) where masked, and a fully masked row all 0 (all −∞ for log).
public func referenceSoftmax(_ x: [Double], mask: [Double]?, columns: Int, scale: Double, log: Bool) -> [Double] {
    var y = [Double](repeating: 0, count: x.count)
    for row in 0..<(x.count / max(columns, 1)) {
        let range = row * columns..<(row + 1) * columns
        let kept = range.filter { mask?[$0] ?? 1 != 0 }
        let maximum = kept.map { scale * x[$0] }.max() ?? 0
        let sum = kept.reduce(0.0) { $0 + Foundation.exp(scale * x[$1] - maximum) }
        for j in range {
            let isKept = mask?[j] ?? 1 != 0
            if log {
                y[j] = isKept ? scale * x[j] - maximum - Foundation.log(sum) : -.infinity
            } else {
                y[j] = isKept ? Foundation.exp(scale * x[j] - maximum) / sum : 0
            }
        }
    }
    return y
}

/// The gradient with respect to x of `sum(dy ⊙ softmax(scale·x))` (or log-softmax), from the
/// forward output y; zero at masked entries.
public func referenceSoftmaxBackward(y: [Double], dy: [Double], mask: [Double]?, columns: Int, scale: Double, log: Bool) -> [Double] {
    var dx = [Double](repeating: 0, count: y.count)
    for row in 0..<(y.count / max(columns, 1)) {
        let range = row * columns..<(row + 1) * columns
        let kept = range.filter { mask?[$0] ?? 1 != 0 }
        let dot = kept.reduce(0.0) { $0 + (log ? dy[$1] : dy[$1] * y[$1]) }
        for j in kept {
            dx[j] = log ? scale * (dy[j] - Foundation.exp(y[j]) * dot) : scale * y[j] * (dy[j] - dot)
        }
    }
    return dx
}

/// Central finite differences of `sum(weights ⊙ f(x))` with respect to each entry of x.
public func finiteDifferenceGradient(of f: ([Double]) -> [Double], at x: [Double], weights: [Double], step: Double = 1e-6) -> [Double] {
    (0..<x.count).map { index in
        var plus = x, minus = x
        plus[index] += step
        minus[index] -= step
        let difference = zip(zip(f(plus), f(minus)), weights).reduce(0.0) { total, item in
            let ((p, m), w) = item
            return (p.isFinite && m.isFinite) ? total + w * (p - m) : total
        }
        return difference / (2 * step)
    }
}

import Foundation
