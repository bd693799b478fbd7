import Foundation
import NumPyFiles
import Testing
import TestSupport

/// `aligncl op` end to end on each backend: outputs and gradients against the float64
/// reference, in the inputs' layouts.
@Suite struct OpOutputTests {
    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-op-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()


    func save(_ name: String, shape: [Int], values: [Float]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(NPY.encode(shape: shape, values: values)).write(to: url)
        return url.path
    }

    func load(_ directory: URL, _ name: String) throws -> NPYArray {
        try NPY.read(directory.appendingPathComponent(name))
    }

    @Test func gemmWithTransposedAOnCPU() throws { try gemmWithTransposedA(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func gemmWithTransposedAOnOpenCL() throws { try gemmWithTransposedA(backend: "opencl") }
    func gemmWithTransposedA(backend: String) throws {
        let (m, n, k) = (5, 7, 3)
        var random = SeededValues(seed: 9)
        let a = random.array(k * m), b = random.array(k * n), g = random.array(m * n)
        let output = directory.appendingPathComponent("gemm-\(backend)")
        let result = try AlignCLBinary.run(["op", "gemm", "--backend", backend, "--transpose-a",
                                            "--input", "b=\(try save("b.npy", shape: [k, n], values: b))",
                                            "--input", "a=\(try save("a.npy", shape: [k, m], values: a))",
                                            "--grad-output", try save("g.npy", shape: [m, n], values: g), "--output-dir", output.path])
        #expect(result.status == 0, "\(result.stderr)")
        let (a64, b64, g64) = (a.map(Double.init), b.map(Double.init), g.map(Double.init))
        let c = try load(output, "c.npy"), gradA = try load(output, "grad_a.npy"), gradB = try load(output, "grad_b.npy")
        #expect(c.shape == [m, n] && gradA.shape == [k, m] && gradB.shape == [k, n])
        #expect(normwiseError(c.floatValues(), referenceGEMM(a64, b64, batch: 1, m: m, n: n, k: k, transposeA: true, transposeB: false)) <= 1e-4)
        #expect(normwiseError(gradA.floatValues(), referenceGEMM(b64, g64, batch: 1, m: k, n: m, k: n, transposeA: false, transposeB: true)) <= 1e-4)
        #expect(normwiseError(gradB.floatValues(), referenceGEMM(a64, g64, batch: 1, m: k, n: n, k: m, transposeA: false, transposeB: false)) <= 1e-4)
        #expect(result.stdout.isEmpty, "stdout carries results only")
    }

    @Test func maskedLogSoftmaxWithGradientOnCPU() throws { try maskedLogSoftmaxWithGradient(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func maskedLogSoftmaxWithGradientOnOpenCL() throws { try maskedLogSoftmaxWithGradient(backend: "opencl") }
    func maskedLogSoftmaxWithGradient(backend: String) throws {
        let (rows, columns) = (3, 6)
        var random = SeededValues(seed: 4)
        let x = random.array(rows * columns, scale: 1e4), g = random.array(rows * columns)
        let mask: [Float] = [1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
        let output = directory.appendingPathComponent("softmax-\(backend)")
        let result = try AlignCLBinary.run(["op", "softmax", "--backend", backend, "--log", "--scale", "0.5",
                                            "--input", "x=\(try save("x.npy", shape: [rows, columns], values: x))",
                                            "--input", "mask=\(try save("m.npy", shape: [rows, columns], values: mask))",
                                            "--grad-output", try save("g.npy", shape: [rows, columns], values: g), "--output-dir", output.path])
        #expect(result.status == 0, "\(result.stderr)")
        let y = try load(output, "y.npy").floatValues(), gradX = try load(output, "grad_x.npy").floatValues()
        let expected = referenceSoftmax(x.map(Double.init), mask: mask.map(Double.init), columns: columns, scale: 0.5, log: true)
        #expect(normwiseError(y, expected) <= 1e-4)
        #expect(y[6..<12].allSatisfy { $0 == -.infinity }, "fully masked row")
        let expectedGrad = referenceSoftmaxBackward(y: expected, dy: g.map(Double.init), mask: mask.map(Double.init), columns: columns, scale: 0.5, log: true)
        #expect(normwiseError(gradX, expectedGrad) <= 1e-4)
        #expect(!gradX.contains { $0.isNaN })
    }

    @Test func causalCrossAttentionWithKeyMaskAndGradientsOnCPU() throws { try causalCrossAttentionWithKeyMaskAndGradients(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func causalCrossAttentionWithKeyMaskAndGradientsOnOpenCL() throws { try causalCrossAttentionWithKeyMaskAndGradients(backend: "opencl") }
    func causalCrossAttentionWithKeyMaskAndGradients(backend: String) throws {
        let (b, h, lq, lk, d, dv) = (2, 2, 5, 9, 8, 6)
        var random = SeededValues(seed: 12)
        let q = random.array(b * h * lq * d), k = random.array(b * h * lk * d), v = random.array(b * h * lk * dv)
        let g = random.array(b * h * lq * dv)
        let mask: [Float] = [1, 1, 0, 1, 1, 1, 0, 1, 1] + [Float](repeating: 0, count: lk)  // batch 1 sees no key
        let output = directory.appendingPathComponent("attention-\(backend)")
        let result = try AlignCLBinary.run(["op", "attention", "--backend", backend, "--causal", "--scale", "0.5",
                                            "--input", "q=\(try save("q.npy", shape: [b, h, lq, d], values: q))",
                                            "--input", "k=\(try save("k.npy", shape: [b, h, lk, d], values: k))",
                                            "--input", "v=\(try save("v.npy", shape: [b, h, lk, dv], values: v))",
                                            "--input", "key_mask=\(try save("km.npy", shape: [b, lk], values: mask))",
                                            "--grad-output", try save("g.npy", shape: [b, h, lq, dv], values: g), "--output-dir", output.path])
        #expect(result.status == 0, "\(result.stderr)")
        let reference = AttentionReference(batch: b, heads: h, queryLength: lq, keyLength: lk, headDimension: d, valueDimension: dv,
                                           scale: 0.5, isCausal: true, keyMask: mask.map(Double.init))
        let (q64, k64, v64) = (q.map(Double.init), k.map(Double.init), v.map(Double.init))
        let expected = reference.backward(q: q64, k: k64, v: v64, gradOut: g.map(Double.init))
        #expect(normwiseError(try load(output, "out.npy").floatValues(), reference.forward(q: q64, k: k64, v: v64).out) <= 1e-4)
        #expect(normwiseError(try load(output, "grad_q.npy").floatValues(), expected.dq) <= 1e-4)
        #expect(normwiseError(try load(output, "grad_k.npy").floatValues(), expected.dk) <= 1e-4)
        #expect(normwiseError(try load(output, "grad_v.npy").floatValues(), expected.dv) <= 1e-4)
        #expect(try load(output, "grad_v.npy").shape == [b, h, lk, dv])
    }

    @Test func infoNCEWritesLossLogitsAndGradientsOnCPU() throws { try infoNCEWritesLossLogitsAndGradients(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func infoNCEWritesLossLogitsAndGradientsOnOpenCL() throws { try infoNCEWritesLossLogitsAndGradients(backend: "opencl") }
    func infoNCEWritesLossLogitsAndGradients(backend: String) throws {
        let (n, d) = (6, 5)
        var random = SeededValues(seed: 21)
        let a = random.array(n * d), b = random.array(n * d)
        let output = directory.appendingPathComponent("infonce-\(backend)")
        let result = try AlignCLBinary.run(["op", "infonce", "--backend", backend, "--temperature", "0.1",
                                            "--input", "a=\(try save("a.npy", shape: [n, d], values: a))",
                                            "--input", "b=\(try save("b.npy", shape: [n, d], values: b))", "--output-dir", output.path])
        #expect(result.status == 0, "\(result.stderr)")
        let reference = InfoNCEReference(groups: 1, rows: n, columns: n, dimension: d, scale: 10, targets: .diagonal, direction: .symmetric)
        let (a64, b64) = (a.map(Double.init), b.map(Double.init))
        let loss = try load(output, "loss.npy")
        #expect(loss.shape == [] && abs(Double(loss.floatValues()[0]) - reference.loss(a: a64, b: b64)) <= 1e-5)
        #expect(normwiseError(try load(output, "logits.npy").floatValues(), reference.logits(a: a64, b: b64)) <= 1e-4)
        let gradients = reference.gradients(a: a64, b: b64)
        #expect(normwiseError(try load(output, "grad_a.npy").floatValues(), gradients.da) <= 1e-4)
        #expect(normwiseError(try load(output, "grad_b.npy").floatValues(), gradients.db) <= 1e-4)
    }
}
