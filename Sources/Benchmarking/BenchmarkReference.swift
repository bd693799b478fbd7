import COpenBLAS
import Foundation

/// What a benchmark case's output should be, computed on the host in float64, independently
/// of both backends: the entries at `indices` of the output (all of it, in order, when nil).
/// Where the whole output would cost too much on the host, a deterministic sample.
public struct ExpectedOutput: Sendable {
    public let indices: [Int]?
    public let values: [Double]

    public init(indices: [Int]? = nil, values: [Double]) {
        (self.indices, self.values) = (indices, values)
    }

    /// The normwise error (max-abs error / max-abs value) of `got` on these entries; infinity
    /// when `got` is too short.
    public func error(of got: [Float]) -> Double {
        guard let indices else { return normwiseError(got, values) }
        guard indices.allSatisfy({ $0 < got.count }) else { return .infinity }
        return normwiseError(indices.map { got[$0] }, values)
    }
}

/// Float64 references of the benchmark families, on the same inputs as the cases.
enum BenchmarkReference {
    /// `count` indices spread evenly over `0..<range` (all of them when `range ≤ count`).
    static func sample(_ count: Int, of range: Int) -> [Int] {
        range <= count ? Array(0..<range) : (0..<count).map { ($0 * range) / count }
    }

    /// 256 sampled entries of `C = A·B`, `A [M, K]`, `B [K, N]` row-major.
    static func gemm(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> ExpectedOutput {
        let indices = sample(256, of: m * n)
        let values = indices.map { index in
            let (i, j) = (index / n, index % n)
            return (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[$1 * n + j]) }
        }
        return ExpectedOutput(indices: indices, values: values)
    }

    /// Softmax rows of `x [rows, columns]` (float64), for the sampled rows.
    static func softmaxRow(_ x: [Float], row: Int, columns: Int) -> [Double] {
        let values = x[(row * columns)..<((row + 1) * columns)].map(Double.init)
        let top = values.max() ?? 0  // subtract the maximum: exp never overflows
        let e = values.map { Foundation.exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// 32 sampled rows of softmax(x), or of its backward dx = y ⊙ (dy − Σ y·dy).
    static func softmax(_ x: [Float], upstream: [Float], rows: Int, columns: Int, backward: Bool) -> ExpectedOutput {
        let sampledRows = sample(32, of: rows)
        var (indices, values) = ([Int](), [Double]())
        for row in sampledRows {
            let y = softmaxRow(x, row: row, columns: columns)
            indices += (row * columns)..<((row + 1) * columns)
            guard backward else { values += y; continue }
            let dy = upstream[(row * columns)..<((row + 1) * columns)].map(Double.init)
            let dot = zip(y, dy).reduce(0.0) { $0 + $1.0 * $1.1 }
            values += zip(y, dy).map { $0 * ($1 - dot) }
        }
        return ExpectedOutput(indices: indices, values: values)
    }

    /// Self-attention `[B·H, L, D]` (scale 1/√D, no mask) for the first and last heads: the
    /// output, or `[dq, dk, dv]` of `sum(dout ⊙ out)` laid out as the case concatenates them.
    static func attention(q: [Float], k: [Float], v: [Float], gradOut: [Float], heads: Int, length: Int, dimension: Int, backward: Bool) -> ExpectedOutput {
        let (l, d) = (length, dimension)
        let scale = 1 / Double(d).squareRoot()
        let count = heads * l * d
        var (indices, values) = ([Int](), [Double]())
        for head in Set([0, heads - 1]).sorted() {
            let base = head * l * d
            func row(_ x: [Float], _ i: Int) -> ArraySlice<Float> { x[(base + i * d)..<(base + (i + 1) * d)] }
            // P row by row, with the maximum subtracted before exponentiating.
            var p = [Double](repeating: 0, count: l * l)
            for i in 0..<l {
                let qi = row(q, i)
                var top = -Double.infinity
                for j in 0..<l {
                    let s = scale * zip(qi, row(k, j)).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                    p[i * l + j] = s
                    top = max(top, s)
                }
                var sum = 0.0
                for j in 0..<l { p[i * l + j] = Foundation.exp(p[i * l + j] - top); sum += p[i * l + j] }
                for j in 0..<l { p[i * l + j] /= sum }
            }
            var out = [Double](repeating: 0, count: l * d)
            for i in 0..<l { for j in 0..<l { let w = p[i * l + j]; for c in 0..<d { out[i * d + c] += w * Double(v[base + j * d + c]) } } }
            guard backward else {
                indices += base..<(base + l * d)
                values += out
                continue
            }
            // dP = dout·Vᵀ; dS = P ⊙ (dP − Δ) with Δ_i = dout_i·out_i; dq = scale·dS·K, dk = scale·dSᵀ·Q, dv = Pᵀ·dout.
            var (dq, dk, dv) = ([Double](repeating: 0, count: l * d), [Double](repeating: 0, count: l * d), [Double](repeating: 0, count: l * d))
            for i in 0..<l {
                let dout = row(gradOut, i).map(Double.init)
                let delta = (0..<d).reduce(0.0) { $0 + dout[$1] * out[i * d + $1] }
                for j in 0..<l {
                    let dp = zip(dout, row(v, j)).reduce(0.0) { $0 + $1.0 * Double($1.1) }
                    let ds = p[i * l + j] * (dp - delta) * scale
                    for c in 0..<d {
                        dq[i * d + c] += ds * Double(k[base + j * d + c])
                        dk[j * d + c] += ds * Double(q[base + i * d + c])
                        dv[j * d + c] += p[i * l + j] * dout[c]
                    }
                }
            }
            for (part, gradient) in [dq, dk, dv].enumerated() {
                indices += (part * count + base)..<(part * count + base + l * d)
                values += gradient
            }
        }
        return ExpectedOutput(indices: indices, values: values)
    }

    /// The symmetric diagonal InfoNCE of normalised `a`, `b` `[N, D]` at `scale`: `[loss]`, or
    /// `[loss, dL/dscale, dL/da…, dL/db…]`. The N×N scores come from OpenBLAS's dgemm.
    static func infoNCE(_ a: [Float], _ b: [Float], rows n: Int, dimension d: Int, scale: Double, backward: Bool) -> ExpectedOutput {
        func normalized(_ x: [Float]) -> (unit: [Double], norms: [Double]) {
            var (unit, norms) = (x.map(Double.init), [Double](repeating: 0, count: n))
            for r in 0..<n {
                norms[r] = max((0..<d).reduce(0.0) { $0 + unit[r * d + $1] * unit[r * d + $1] }.squareRoot(), 1e-12)
                for c in 0..<d { unit[r * d + c] /= norms[r] }
            }
            return (unit, norms)
        }
        let (ua, na) = normalized(a), (ub, nb) = normalized(b)
        var scores = [Double](repeating: 0, count: n * n)  // cosine similarities, S = â·b̂ᵀ
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(n), blasint(n), blasint(d), 1, ua, blasint(d), ub, blasint(d), 0, &scores, blasint(n))
        // Log-sum-exp of scale·S over each row and each column, the maximum subtracted first.
        var (rowTop, rowSum) = ([Double](repeating: -.infinity, count: n), [Double](repeating: 0, count: n))
        var (columnTop, columnSum) = ([Double](repeating: -.infinity, count: n), [Double](repeating: 0, count: n))
        for i in 0..<n { for j in 0..<n { let s = scale * scores[i * n + j]; rowTop[i] = max(rowTop[i], s); columnTop[j] = max(columnTop[j], s) } }
        for i in 0..<n { for j in 0..<n { let s = scale * scores[i * n + j]; rowSum[i] += Foundation.exp(s - rowTop[i]); columnSum[j] += Foundation.exp(s - columnTop[j]) } }
        let rowLSE = (0..<n).map { rowTop[$0] + Foundation.log(rowSum[$0]) }, columnLSE = (0..<n).map { columnTop[$0] + Foundation.log(columnSum[$0]) }
        let loss = (0..<n).reduce(0.0) { $0 + (rowLSE[$1] - scale * scores[$1 * n + $1]) + (columnLSE[$1] - scale * scores[$1 * n + $1]) } / Double(2 * n)
        guard backward else { return ExpectedOutput(values: [loss]) }
        // G = ((P_rows − I) + (P_columns − I)) / 2N; dL/dscale = Σ G ⊙ S; dL/dS = scale·G.
        var dscale = 0.0
        for i in 0..<n {
            for j in 0..<n {
                let s = scale * scores[i * n + j]
                let g = (Foundation.exp(s - rowLSE[i]) + Foundation.exp(s - columnLSE[j]) - (i == j ? 2 : 0)) / Double(2 * n)
                dscale += g * scores[i * n + j]
                scores[i * n + j] = scale * g
            }
        }
        var (dua, dub) = ([Double](repeating: 0, count: n * d), [Double](repeating: 0, count: n * d))
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(n), blasint(d), blasint(n), 1, scores, blasint(n), ub, blasint(d), 0, &dua, blasint(d))
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blasint(n), blasint(d), blasint(n), 1, scores, blasint(n), ua, blasint(d), 0, &dub, blasint(d))
        // Through the normalisation: dx = (dû − û (û·dû)) / ‖x‖.
        func throughNorm(_ du: [Double], _ unit: [Double], _ norms: [Double]) -> [Double] {
            var dx = du
            for r in 0..<n {
                let dot = (0..<d).reduce(0.0) { $0 + unit[r * d + $1] * du[r * d + $1] }
                for c in 0..<d { dx[r * d + c] = (du[r * d + c] - unit[r * d + c] * dot) / norms[r] }
            }
            return dx
        }
        return ExpectedOutput(values: [loss, dscale] + throughNorm(dua, ua, na) + throughNorm(dub, ub, nb))
    }

    /// Layer norm over rows of `[rows, columns]`: `[y]`, or `[y, dx, dw, db]` of `sum(dy ⊙ y)`.
    static func layerNorm(_ x: [Float], weight: [Float], bias: [Float], upstream: [Float], rows: Int, columns c: Int, epsilon: Double, backward: Bool) -> ExpectedOutput {
        var (y, dx) = ([Double](repeating: 0, count: rows * c), [Double](repeating: 0, count: rows * c))
        var (dw, db) = ([Double](repeating: 0, count: c), [Double](repeating: 0, count: c))
        for r in 0..<rows {
            let row = (0..<c).map { Double(x[r * c + $0]) }
            let mean = row.reduce(0, +) / Double(c)
            let variance = row.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / Double(c)
            let rstd = 1 / (variance + epsilon).squareRoot()
            let xhat = row.map { ($0 - mean) * rstd }
            for j in 0..<c { y[r * c + j] = xhat[j] * Double(weight[j]) + Double(bias[j]) }
            guard backward else { continue }
            let g = (0..<c).map { Double(upstream[r * c + $0]) * Double(weight[$0]) }
            let (meanG, meanGX) = (g.reduce(0, +) / Double(c), zip(g, xhat).reduce(0.0) { $0 + $1.0 * $1.1 } / Double(c))
            for j in 0..<c {
                dx[r * c + j] = rstd * (g[j] - meanG - xhat[j] * meanGX)
                dw[j] += Double(upstream[r * c + j]) * xhat[j]
                db[j] += Double(upstream[r * c + j])
            }
        }
        return ExpectedOutput(values: backward ? y + dx + dw + db : y)
    }
}
