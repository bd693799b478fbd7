import Foundation

/// A float64 pre-norm transformer block, the ground truth for the layer gradient checks: the
/// same maths as `TransformerBlock` (layer norm ε 1e-5, exact-erf GELU, attention scale
/// 1/√head), written out with plain loops. Parameters by their dotted names.
public struct TransformerBlockReference {
    public var parameters: [String: [Double]]
    public let width, heads, hidden: Int

    public init(parameters: [String: [Double]], width: Int, heads: Int, hidden: Int) {
        (self.parameters, self.width, self.heads, self.hidden) = (parameters, width, heads, hidden)
    }

    /// `x [rows, inputs] · W [inputs, outputs] + b`.
    public static func linear(_ x: [Double], rows: Int, inputs: Int, outputs: Int, weight: [Double], bias: [Double]) -> [Double] {
        var y = [Double](repeating: 0, count: rows * outputs)
        for r in 0..<rows {
            for o in 0..<outputs {
                y[r * outputs + o] = bias[o] + (0..<inputs).reduce(0.0) { $0 + x[r * inputs + $1] * weight[$1 * outputs + o] }
            }
        }
        return y
    }

    public static func layerNorm(_ x: [Double], columns: Int, weight: [Double], bias: [Double], epsilon: Double = 1e-5) -> [Double] {
        var y = x
        for r in 0..<(x.count / columns) {
            let row = x[(r * columns)..<((r + 1) * columns)]
            let mean = row.reduce(0, +) / Double(columns)
            let variance = row.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / Double(columns)
            for c in 0..<columns { y[r * columns + c] = (x[r * columns + c] - mean) / (variance + epsilon).squareRoot() * weight[c] + bias[c] }
        }
        return y
    }

    public static func gelu(_ x: [Double]) -> [Double] { x.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) } }

    private func linear(_ x: [Double], _ name: String, inputs: Int, outputs: Int) -> [Double] {
        Self.linear(x, rows: x.count / inputs, inputs: inputs, outputs: outputs, weight: parameters["\(name).weight"]!,
                    bias: parameters["\(name).bias"] ?? [Double](repeating: 0, count: outputs))
    }

    /// `x [B, L, C]` → `[B, L, C]`; `keyMask [B·L]` nonzero keeps.
    public func forward(_ x: [Double], batch: Int, length: Int, keyMask: [Double]? = nil) -> [Double] {
        let (c, h, d) = (width, heads, width / heads)
        let normed = Self.layerNorm(x, columns: c, weight: parameters["attention_norm.weight"]!, bias: parameters["attention_norm.bias"]!)
        // [B, L, H, d] ↔ [B, H, L, d]
        func headsFirst(_ t: [Double]) -> [Double] {
            var out = t
            for b in 0..<batch { for l in 0..<length { for j in 0..<h { for e in 0..<d {
                out[((b * h + j) * length + l) * d + e] = t[((b * length + l) * h + j) * d + e]
            } } } }
            return out
        }
        func tokensFirst(_ t: [Double]) -> [Double] {
            var out = t
            for b in 0..<batch { for l in 0..<length { for j in 0..<h { for e in 0..<d {
                out[((b * length + l) * h + j) * d + e] = t[((b * h + j) * length + l) * d + e]
            } } } }
            return out
        }
        let (q, k, v) = (headsFirst(linear(normed, "attention.query", inputs: c, outputs: c)),
                         headsFirst(linear(normed, "attention.key", inputs: c, outputs: c)),
                         headsFirst(linear(normed, "attention.value", inputs: c, outputs: c)))
        let attention = AttentionReference(batch: batch, heads: h, queryLength: length, keyLength: length, headDimension: d, valueDimension: d,
                                           scale: 1 / Double(d).squareRoot(), isCausal: false, keyMask: keyMask)
        let attended = linear(tokensFirst(attention.forward(q: q, k: k, v: v).out), "attention.output", inputs: c, outputs: c)
        let residual = zip(x, attended).map(+)
        let normed2 = Self.layerNorm(residual, columns: c, weight: parameters["mlp_norm.weight"]!, bias: parameters["mlp_norm.bias"]!)
        let mlp = linear(Self.gelu(linear(normed2, "mlp.up", inputs: c, outputs: hidden)), "mlp.down", inputs: hidden, outputs: c)
        return zip(residual, mlp).map(+)
    }
}
