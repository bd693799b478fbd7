import Compute
import Foundation
import Testing
import TestSupport

/// Attention on every backend and kernel variant against the dense float64 reference: output,
/// log-sum-exp and all three gradients, over L = 1, primes, non-multiples of every block,
/// Lq ≠ Lk, D ≠ Dv, D ∈ {8, 40, 64, 128}, key masks with fully masked rows, causal with Lq < Lk
/// and Lq > Lk (rows that see no key), and large logits.
@Suite struct AttentionTests {
    struct Case: CustomStringConvertible, Sendable {
        let b, h, lq, lk, d, dv: Int
        var masked = false
        var causal = false
        var scale: Float? = nil
        var magnitude: Float = 1

        var description: String {
            "B\(b) H\(h) Lq\(lq) Lk\(lk) D\(d) Dv\(dv)\(masked ? " masked" : "")\(causal ? " causal" : "") scale \(scale.map { "\($0)" } ?? "1/√D") |x|~\(magnitude)"
        }
    }

    static let cases: [Case] = [
        Case(b: 1, h: 1, lq: 1, lk: 1, d: 8, dv: 8),
        Case(b: 2, h: 1, lq: 7, lk: 7, d: 8, dv: 5, masked: true),
        Case(b: 1, h: 2, lq: 37, lk: 61, d: 40, dv: 24, causal: true),
        Case(b: 1, h: 1, lq: 61, lk: 37, d: 64, dv: 64, causal: true),
        Case(b: 1, h: 1, lq: 130, lk: 129, d: 128, dv: 32),
        Case(b: 2, h: 2, lq: 67, lk: 67, d: 64, dv: 64, masked: true, causal: true),
        Case(b: 1, h: 1, lq: 19, lk: 23, d: 8, dv: 8, scale: 10, magnitude: 3),
        Case(b: 1, h: 1, lq: 3, lk: 200, d: 40, dv: 40, masked: true),
        // Past the CPU path's blocks (128 queries × 256 keys forward, 256 queries backward):
        // several key blocks, a partial last one, and causal rows whose visible keys end mid-block.
        Case(b: 1, h: 1, lq: 263, lk: 521, d: 16, dv: 8, masked: true),
        Case(b: 1, h: 1, lq: 300, lk: 300, d: 16, dv: 16, causal: true),
        // B·H = 16 heads: on a 2-unit device each head is one work-item (no key chunks).
        Case(b: 4, h: 4, lq: 45, lk: 45, d: 24, dv: 24, masked: true),
    ]

    @Test func cpuMatchesReference() throws {
        try checkParity(on: TestBackends.cpu)
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases)
    func openCLMatchesReference(variant: OpenCLTuning.Variant) throws {
        try checkParity(on: TestBackends.openCL(variant))
    }

    /// The reference backward against central finite differences of the reference forward, and
    /// the CPU path's gradients against both.
    @Test(arguments: [Case(b: 1, h: 2, lq: 5, lk: 7, d: 4, dv: 3, masked: true, causal: true),
                      Case(b: 2, h: 1, lq: 6, lk: 4, d: 3, dv: 5, causal: true)])
    func backwardMatchesFiniteDifferences(testCase: Case) throws {
        let (q, k, v, mask, dout) = inputs(testCase, seed: 17)
        let reference = self.reference(testCase, mask: mask)
        let (q64, k64, v64, g64) = (q.map(Double.init), k.map(Double.init), v.map(Double.init), dout.map(Double.init))
        let analytic = reference.backward(q: q64, k: k64, v: v64, gradOut: g64)
        let numeric = (
            finiteDifferenceGradient(of: { reference.forward(q: $0, k: k64, v: v64).out }, at: q64, weights: g64),
            finiteDifferenceGradient(of: { reference.forward(q: q64, k: $0, v: v64).out }, at: k64, weights: g64),
            finiteDifferenceGradient(of: { reference.forward(q: q64, k: k64, v: $0).out }, at: v64, weights: g64))
        #expect(normwiseError(analytic.dq, numeric.0) <= 1e-6)
        #expect(normwiseError(analytic.dk, numeric.1) <= 1e-6)
        #expect(normwiseError(analytic.dv, numeric.2) <= 1e-6)

        let result = try run(testCase, on: TestBackends.cpu, q: q, k: k, v: v, mask: mask, dout: dout)
        #expect(normwiseError(result.gradQ!.values, numeric.0) <= 1e-4)
        #expect(normwiseError(result.gradK!.values, numeric.1) <= 1e-4)
        #expect(normwiseError(result.gradV!.values, numeric.2) <= 1e-4)
    }

    /// A 4096-long sequence runs without an L² buffer: the pool's peak is the inputs and outputs
    /// (O(L·D)), against 64 MiB for one head's score matrix.
    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func longSequenceForwardNeedsNoQuadraticMemory() throws {
        let backend = try TestBackends.freshOpenCL(.cpu)
        let (l, d) = (4096, 64)
        let descriptor = try AttentionDescriptor(batch: 1, heads: 1, queryLength: l, keyLength: l, headDimension: d, valueDimension: d)
        let q = try backend.makeBuffer(SeededValues.values(l * d, seed: 1)), k = try backend.makeBuffer(SeededValues.values(l * d, seed: 2))
        let v = try backend.makeBuffer(SeededValues.values(l * d, seed: 3))
        let out = try backend.makeBuffer(count: l * d), lse = try backend.makeBuffer(count: l)
        backend.pool.resetHighWater()
        let before = backend.pool.stats.bytesInUse
        try backend.attentionForward(descriptor, q: q, k: k, v: v, keyMask: nil, out: out, logSumExp: lse)
        try backend.synchronize()
        let extra = backend.pool.stats.highWaterBytes - before
        #expect(extra <= 4096, "forward allocated \(extra) bytes beyond its inputs and outputs")
        #expect(before <= 5 * l * d * 4, "inputs and outputs: \(before) bytes")
        #expect(try backend.read(out).allSatisfy(\.isFinite))
    }

    @Test func mismatchedShapesNameWhatWasExpected() {
        let q = HostArray(shape: [1, 2, 3, 4], values: .init(repeating: 0, count: 24))
        let k = HostArray(shape: [1, 2, 5, 3], values: .init(repeating: 0, count: 30))
        #expect {
            try Operations(backend: TestBackends.cpu).attention(q: q, k: k, v: k)
        } throws: { "\($0)" == "[attention] k must be [B, H, Lk, D] = [1, 2, Lk, 4], got [1, 2, 5, 3]" }
    }

    private func inputs(_ c: Case, seed: UInt64) -> ([Float], [Float], [Float], [Float]?, [Float]) {
        var random = SeededValues(seed: seed)
        let q = random.array(c.b * c.h * c.lq * c.d, scale: c.magnitude), k = random.array(c.b * c.h * c.lk * c.d, scale: c.magnitude)
        let v = random.array(c.b * c.h * c.lk * c.dv), dout = random.array(c.b * c.h * c.lq * c.dv)
        var mask: [Float]? = nil
        if c.masked {
            var values = random.array(c.b * c.lk).map { $0 > -0.5 ? Float(1) : 0 }
            if c.b > 1 { for j in 0..<c.lk { values[(c.b - 1) * c.lk + j] = 0 } }  // the last batch sees no key
            else { values[0] = 1 }
            mask = values
        }
        return (q, k, v, mask, dout)
    }

    private func reference(_ c: Case, mask: [Float]?) -> AttentionReference {
        AttentionReference(batch: c.b, heads: c.h, queryLength: c.lq, keyLength: c.lk, headDimension: c.d, valueDimension: c.dv,
                           scale: Double(c.scale ?? 1 / Float(c.d).squareRoot()), isCausal: c.causal, keyMask: mask?.map(Double.init))
    }

    private func run(_ c: Case, on backend: any Backend, q: [Float], k: [Float], v: [Float], mask: [Float]?, dout: [Float]) throws -> AttentionResult {
        try Operations(backend: backend).attention(
            q: HostArray(shape: [c.b, c.h, c.lq, c.d], values: q), k: HostArray(shape: [c.b, c.h, c.lk, c.d], values: k),
            v: HostArray(shape: [c.b, c.h, c.lk, c.dv], values: v), keyMask: mask.map { HostArray(shape: [c.b, c.lk], values: $0) },
            scale: c.scale, causal: c.causal, gradOut: HostArray(shape: [c.b, c.h, c.lq, c.dv], values: dout))
    }

    private func checkParity(on backend: any Backend) throws {
        for (index, testCase) in Self.cases.enumerated() {
            let (q, k, v, mask, dout) = inputs(testCase, seed: UInt64(100 + index))
            let reference = self.reference(testCase, mask: mask)
            let (q64, k64, v64) = (q.map(Double.init), k.map(Double.init), v.map(Double.init))
            let expected = reference.forward(q: q64, k: k64, v: v64)
            let gradients = reference.backward(q: q64, k: k64, v: v64, gradOut: dout.map(Double.init))
            let result = try run(testCase, on: backend, q: q, k: k, v: v, mask: mask, dout: dout)
            let label = "\(backend.summary) \(testCase)"
            #expect(normwiseError(result.out.values, expected.out) <= 1e-4, "out \(label)")
            #expect(normwiseError(result.logSumExp.values, expected.logSumExp) <= 1e-4, "log-sum-exp \(label)")
            #expect(normwiseError(result.gradQ!.values, gradients.dq) <= 1e-4, "grad_q \(label)")
            #expect(normwiseError(result.gradK!.values, gradients.dk) <= 1e-4, "grad_k \(label)")
            #expect(normwiseError(result.gradV!.values, gradients.dv) <= 1e-4, "grad_v \(label)")
            // Rows with no visible key: zeros out and zero gradient, never NaN.
            for (row, lse) in expected.logSumExp.enumerated() where lse == -.infinity {
                let outRow = result.out.values[(row * testCase.dv)..<((row + 1) * testCase.dv)]
                let gradRow = result.gradQ!.values[(row * testCase.d)..<((row + 1) * testCase.d)]
                #expect(outRow.allSatisfy { $0 == 0 } && gradRow.allSatisfy { $0 == 0 }, "empty row \(row) \(label)")
            }
        }
    }
}
