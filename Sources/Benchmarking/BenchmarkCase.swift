import Compute
import Foundation

/// One benchmark case, shared by `aligncl bench` and the package benchmarks in `Benchmarks/`:
/// how to make its inputs on a backend, run it, and count its work.
public struct BenchmarkCase: Sendable {
    public let name: String
    /// The op family ("gemm", "softmax", …), its sizes and the pass ("fwd", "fwd+bwd", …), so
    /// reports and peer comparisons can match cases without parsing names.
    public let family: String
    public let parameters: [String: Int]
    public let variant: String?
    /// "GFLOP/s", "GB/s" or "samples/s".
    public let unit: String
    /// FLOPs, bytes or samples per run (from the op descriptor).
    public let work: Double
    /// `work` per unit: 1e9 for GFLOP/s and GB/s, 1 for samples/s.
    public let unitScale: Double
    /// Makes the inputs on `backend` and returns a closure that runs the op once and waits.
    public let prepare: @Sendable (any Backend) throws -> () throws -> Void
    /// Runs the op once on fresh inputs and returns the output, for the check.
    public let output: @Sendable (any Backend) throws -> [Float]
    /// The output computed on the host in float64 (see `BenchmarkReference`); nil where there is
    /// none (the training step), so that only another backend can check it.
    public let expected: (@Sendable () -> ExpectedOutput)?

    public init(name: String, family: String, parameters: [String: Int], variant: String? = nil, unit: String, work: Double, unitScale: Double = 1e9,
                prepare: @escaping @Sendable (any Backend) throws -> () throws -> Void, output: @escaping @Sendable (any Backend) throws -> [Float],
                expected: (@Sendable () -> ExpectedOutput)?) {
        (self.name, self.family, self.parameters, self.variant, self.unit, self.work) = (name, family, parameters, variant, unit, work)
        self.unitScale = unitScale
        (self.prepare, self.output, self.expected) = (prepare, output, expected)
    }

    public func run(on backend: any Backend) throws -> [Float] { try output(backend) }

    public static func gemm(m: Int, n: Int, k: Int) throws -> BenchmarkCase {
        let descriptor = try GEMMDescriptor(m: m, n: n, k: k)
        let a = SeededValues.values(m * k, seed: 1), b = SeededValues.values(k * n, seed: 2)
        @Sendable func setUp(_ backend: any Backend) throws -> (() throws -> Void, Buffer) {
            let (left, right, c) = (try backend.makeBuffer(a), try backend.makeBuffer(b), try backend.makeBuffer(count: m * n))
            return ({ try backend.gemm(descriptor, a: left, b: right, c: c); try backend.synchronize() }, c)
        }
        return BenchmarkCase(name: "gemm \(m)x\(n)x\(k)", family: "gemm", parameters: ["m": m, "n": n, "k": k], unit: "GFLOP/s", work: descriptor.flops,
                         prepare: { try setUp($0).0 },
                         output: { backend in let (run, c) = try setUp(backend); try run(); return try backend.read(c) },
                         expected: { BenchmarkReference.gemm(a, b, m: m, n: n, k: k) })
    }

    /// A device-to-device copy of `count` floats: the memory bandwidth the other cases are
    /// bounded by (bytes counted as read + write).
    public static func copy(count: Int) -> BenchmarkCase {
        let values = SeededValues.values(count, seed: 5)
        @Sendable func setUp(_ backend: any Backend) throws -> (() throws -> Void, Buffer) {
            let source = try backend.makeBuffer(values), destination = try backend.makeBuffer(count: count)
            return ({ try backend.copy(source, to: destination, count: count); try backend.synchronize() }, destination)
        }
        return BenchmarkCase(name: "copy \(count) floats", family: "copy", parameters: ["count": count], unit: "GB/s", work: Double(count) * 8,
                             prepare: { try setUp($0).0 },
                             output: { backend in let (run, out) = try setUp(backend); try run(); return try backend.read(out) },
                             expected: { ExpectedOutput(values: values.map(Double.init)) })
    }

    /// Self-attention `[B,H,L,D]` (scale 1/√D, no mask): the forward, or forward and backward.
    public static func attention(batch: Int, heads: Int, length: Int, dimension: Int, backward: Bool) throws -> BenchmarkCase {
        let descriptor = try AttentionDescriptor(batch: batch, heads: heads, queryLength: length, keyLength: length,
                                             headDimension: dimension, valueDimension: dimension)
        let count = batch * heads * length * dimension
        let (q, k, v, dout) = (SeededValues.values(count, seed: 6), SeededValues.values(count, seed: 7),
                               SeededValues.values(count, seed: 8), SeededValues.values(count, seed: 9))
        @Sendable func setUp(_ backend: any Backend) throws -> (() throws -> Void, [Buffer]) {
            let (qb, kb, vb) = (try backend.makeBuffer(q), try backend.makeBuffer(k), try backend.makeBuffer(v))
            let out = try backend.makeBuffer(count: count), lse = try backend.makeBuffer(count: batch * heads * length)
            guard backward else {
                return ({ try backend.attentionForward(descriptor, q: qb, k: kb, v: vb, keyMask: nil, out: out, logSumExp: lse)
                          try backend.synchronize() }, [out])
            }
            let upstream = try backend.makeBuffer(dout)
            let (dq, dk, dv) = (try backend.makeBuffer(count: count), try backend.makeBuffer(count: count), try backend.makeBuffer(count: count))
            return ({
                try backend.attentionForward(descriptor, q: qb, k: kb, v: vb, keyMask: nil, out: out, logSumExp: lse)
                try backend.attentionBackward(descriptor, q: qb, k: kb, v: vb, keyMask: nil, out: out, logSumExp: lse,
                                              gradOut: upstream, gradQ: dq, gradK: dk, gradV: dv)
                try backend.synchronize()
            }, [dq, dk, dv])
        }
        let name = "attention\(backward ? " fwd+bwd" : " fwd") B\(batch) H\(heads) L\(length) D\(dimension)"
        return BenchmarkCase(name: name, family: "attention", parameters: ["batch": batch, "heads": heads, "length": length, "dimension": dimension],
                             variant: backward ? "fwd+bwd" : "fwd", unit: "GFLOP/s", work: descriptor.forwardFlops + (backward ? descriptor.backwardFlops : 0),
                             prepare: { try setUp($0).0 },
                             output: { backend in
                                 let (run, outputs) = try setUp(backend)
                                 try run()
                                 return try outputs.flatMap { try backend.read($0) }
                             },
                             expected: { BenchmarkReference.attention(q: q, k: k, v: v, gradOut: dout, heads: batch * heads, length: length,
                                                                      dimension: dimension, backward: backward) })
    }

    /// The symmetric, diagonal InfoNCE loss of `[N, D]` against `[N, D]` (normalised, τ = 0.07),
    /// without the logits output: the forward, or forward and backward.
    public static func infoNCE(rows: Int, dimension: Int, backward: Bool) throws -> BenchmarkCase {
        let descriptor = try InfoNCEDescriptor(rows: rows, columns: rows, dimension: dimension, scale: 1 / 0.07)
        let (a, b) = (SeededValues.values(rows * dimension, seed: 10), SeededValues.values(rows * dimension, seed: 11))
        @Sendable func setUp(_ backend: any Backend) throws -> (() throws -> [Float]) {
            let inputs = InfoNCEInputs(a: try backend.makeBuffer(a), b: try backend.makeBuffer(b))
            let gradA = try backend.makeBuffer(count: rows * dimension), gradB = try backend.makeBuffer(count: rows * dimension)
            return {
                let (loss, state) = try backend.infoNCEForward(descriptor, inputs)
                guard backward else { return try backend.read(loss) }
                let gradScale = try backend.infoNCEBackward(descriptor, inputs, state: state, gradA: gradA, gradB: gradB)
                return try [loss, gradScale, gradA, gradB].flatMap { try backend.read($0) }
            }
        }
        return BenchmarkCase(name: "infonce\(backward ? " fwd+bwd" : " fwd") N\(rows) D\(dimension)", family: "infonce",
                             parameters: ["rows": rows, "dimension": dimension], variant: backward ? "fwd+bwd" : "fwd", unit: "GFLOP/s",
                             work: descriptor.forwardFlops + (backward ? descriptor.backwardFlops : 0),
                             prepare: { backend in let run = try setUp(backend); return { _ = try run() } },
                             output: { try setUp($0)() },
                             expected: { BenchmarkReference.infoNCE(a, b, rows: rows, dimension: dimension, scale: Double(descriptor.scale), backward: backward) })
    }

    public static func softmax(rows: Int, columns: Int, backward: Bool) throws -> BenchmarkCase {
        let descriptor = try SoftmaxDescriptor(rows: rows, columns: columns)
        // Logits spread over ±10 so the exponentials span a realistic range.
        let x = SeededValues.values(rows * columns, seed: 3, scale: 10)
        let upstream = SeededValues.values(rows * columns, seed: 4)
        @Sendable func setUp(_ backend: any Backend) throws -> (() throws -> Void, Buffer) {
            let input = try backend.makeBuffer(x), y = try backend.makeBuffer(count: rows * columns)
            try backend.softmaxForward(descriptor, x: input, mask: nil, y: y)
            guard backward else {
                return ({ try backend.softmaxForward(descriptor, x: input, mask: nil, y: y); try backend.synchronize() }, y)
            }
            let dy = try backend.makeBuffer(upstream), dx = try backend.makeBuffer(count: rows * columns)
            return ({ try backend.softmaxBackward(descriptor, y: y, gradY: dy, mask: nil, gradX: dx); try backend.synchronize() }, dx)
        }
        return BenchmarkCase(name: "softmax\(backward ? " backward" : "") \(rows)x\(columns)", family: "softmax", parameters: ["rows": rows, "columns": columns],
                             variant: backward ? "backward" : "forward", unit: "GB/s",
                         work: backward ? descriptor.backwardBytes : descriptor.bytes,
                         prepare: { try setUp($0).0 },
                         output: { backend in let (run, out) = try setUp(backend); try run(); return try backend.read(out) },
                         expected: { BenchmarkReference.softmax(x, upstream: upstream, rows: rows, columns: columns, backward: backward) })
    }

    /// Layer norm over the last axis of `[rows, columns]` (weight and bias, ε 1e-5): the forward,
    /// or forward and backward. Bytes: the forward reads x and writes y; the backward reads x and
    /// dy and writes dx (the per-row statistics and the [C] vectors are negligible).
    public static func layerNorm(rows: Int, columns: Int, backward: Bool) throws -> BenchmarkCase {
        let descriptor = try LayerNormDescriptor(rows: rows, columns: columns)
        let x = SeededValues.values(rows * columns, seed: 12), upstream = SeededValues.values(rows * columns, seed: 13)
        let (weight, bias) = (SeededValues.values(columns, seed: 14), SeededValues.values(columns, seed: 15))
        @Sendable func setUp(_ backend: any Backend) throws -> (() throws -> Void, [Buffer]) {
            let (input, w, b) = (try backend.makeBuffer(x), try backend.makeBuffer(weight), try backend.makeBuffer(bias))
            let y = try backend.makeBuffer(count: rows * columns), mean = try backend.makeBuffer(count: rows), rstd = try backend.makeBuffer(count: rows)
            guard backward else {
                return ({ try backend.layerNormForward(descriptor, x: input, weight: w, bias: b, y: y, mean: mean, reciprocalStd: rstd)
                          try backend.synchronize() }, [y])
            }
            let dy = try backend.makeBuffer(upstream), dx = try backend.makeBuffer(count: rows * columns)
            let (dw, db) = (try backend.makeBuffer(count: columns), try backend.makeBuffer(count: columns))
            return ({
                try backend.layerNormForward(descriptor, x: input, weight: w, bias: b, y: y, mean: mean, reciprocalStd: rstd)
                try backend.layerNormBackward(descriptor, x: input, weight: w, mean: mean, reciprocalStd: rstd, gradY: dy,
                                              gradX: dx, gradWeight: dw, gradBias: db)
                try backend.synchronize()
            }, [y, dx, dw, db])
        }
        let bytes = Double(rows * columns * 4) * (backward ? 5 : 2)
        return BenchmarkCase(name: "layernorm\(backward ? " fwd+bwd" : " fwd") \(rows)x\(columns)", family: "layernorm",
                             parameters: ["rows": rows, "columns": columns], variant: backward ? "fwd+bwd" : "fwd", unit: "GB/s", work: bytes,
                             prepare: { try setUp($0).0 },
                             output: { backend in
                                 let (run, outputs) = try setUp(backend)
                                 try run()
                                 return try outputs.flatMap { try backend.read($0) }
                             },
                             expected: { BenchmarkReference.layerNorm(x, weight: weight, bias: bias, upstream: upstream, rows: rows, columns: columns,
                                                                      epsilon: Double(descriptor.epsilon), backward: backward) })
    }

    /// A chain of `kernels` tiny ops (scaling 16 floats in place) with one wait at the end: the
    /// per-op dispatch cost, which bounds small-batch training. Throughput in kernels/s.
    public static func dispatch(kernels: Int) -> BenchmarkCase {
        @Sendable func setUp(_ backend: any Backend) throws -> (() throws -> Void, Buffer) {
            let x = try backend.makeBuffer([Float](repeating: 1, count: 16))
            return ({
                for _ in 0..<kernels { try backend.scale(x, by: 0.5, into: x, count: 16) }
                try backend.synchronize()
            }, x)
        }
        return BenchmarkCase(name: "dispatch \(kernels) tiny kernels", family: "dispatch", parameters: ["kernels": kernels], unit: "kernels/s",
                             work: Double(kernels), unitScale: 1, prepare: { try setUp($0).0 },
                             // The check: a fixed chain of 20 halvings gives 2⁻²⁰ exactly, whatever the
                             // timed count (1000 halvings of 1 would underflow to 0 on any backend).
                             output: { backend in
                                 let x = try backend.makeBuffer([Float](repeating: 1, count: 16))
                                 for _ in 0..<20 { try backend.scale(x, by: 0.5, into: x, count: 16) }
                                 return try backend.read(x)
                             },
                             expected: { ExpectedOutput(values: [Double](repeating: 0x1p-20, count: 16)) })
    }
}
