import Compute
import Testing
import TestSupport

/// GEMM on every backend and kernel variant against the float64 reference, forward and both
/// gradients, over edge shapes: 1, primes, sizes that are not multiples of any tile, batches.
@Suite struct GEMMTests {
    /// (batch or nil for 2-D, M, N, K)
    static let shapes: [(Int?, Int, Int, Int)] = [
        (nil, 1, 1, 1), (nil, 7, 13, 5), (nil, 37, 61, 29), (nil, 64, 64, 64), (nil, 100, 33, 257),
        (nil, 1, 300, 17), (nil, 45, 270, 33), (nil, 129, 1, 65), (nil, 8, 32, 1), (1, 9, 33, 7), (3, 17, 19, 23),
        // K spanning several of the packing kernels' 256-long k ranges, with a partial 16-block
        (2, 13, 35, 531),
    ]

    @Test func cpuMatchesReference() throws {
        try checkParity(on: TestBackends.cpu)
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases)
    func openCLMatchesReference(variant: OpenCLTuning.Variant) throws {
        try checkParity(on: TestBackends.openCL(variant))
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases)
    func openCLWritesNothingOutsideC(variant: OpenCLTuning.Variant) throws {
        try checkGuardRegion(on: TestBackends.openCL(variant))
    }

    @Test func cpuWritesNothingOutsideC() throws {
        try checkGuardRegion(on: TestBackends.cpu)
    }

    /// The gradient rules themselves, against central finite differences of the float64
    /// reference forward.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func gradientsMatchFiniteDifferences(transposes: (Bool, Bool)) throws {
        let (batch, m, n, k) = (2, 3, 4, 5)
        var random = SeededValues(seed: 11)
        let aShape = [batch] + (transposes.0 ? [k, m] : [m, k]), bShape = [batch] + (transposes.1 ? [n, k] : [k, n])
        let a = random.array(batch * m * k), b = random.array(batch * k * n), g = random.array(batch * m * n)
        let gradients = try Operations(backend: TestBackends.cpu).gemmGradients(
            HostArray(shape: aShape, values: a), HostArray(shape: bShape, values: b),
            gradC: HostArray(shape: [batch, m, n], values: g), transposeA: transposes.0, transposeB: transposes.1)
        let (a64, b64, g64) = (a.map(Double.init), b.map(Double.init), g.map(Double.init))
        let forward = { (a: [Double], b: [Double]) in
            referenceGEMM(a, b, batch: batch, m: m, n: n, k: k, transposeA: transposes.0, transposeB: transposes.1)
        }
        let expectedA = finiteDifferenceGradient(of: { forward($0, b64) }, at: a64, weights: g64)
        let expectedB = finiteDifferenceGradient(of: { forward(a64, $0) }, at: b64, weights: g64)
        #expect(normwiseError(gradients.gradA.values, expectedA) <= 1e-4)
        #expect(normwiseError(gradients.gradB.values, expectedB) <= 1e-4)
    }

    @Test func mismatchedShapesAreRejectedWithBothShapes() {
        let a = HostArray(shape: [2, 3], values: .init(repeating: 0, count: 6))
        let b = HostArray(shape: [4, 5], values: .init(repeating: 0, count: 20))
        #expect {
            try Operations(backend: TestBackends.cpu).gemm(a, b)
        } throws: { error in
            "\(error)".contains("[gemm] inner dimensions differ") && "\(error)".contains("[2, 3]") && "\(error)".contains("[4, 5]")
        }
    }

    private func checkParity(on backend: any Backend) throws {
        let operations = Operations(backend: backend)
        var random = SeededValues(seed: 7)
        for (batchDimension, m, n, k) in Self.shapes {
            let batch = batchDimension ?? 1
            let prefix = batchDimension.map { [$0] } ?? []
            for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = HostArray(shape: prefix + (transposeA ? [k, m] : [m, k]), values: random.array(batch * m * k))
                let b = HostArray(shape: prefix + (transposeB ? [n, k] : [k, n]), values: random.array(batch * k * n))
                let upstream = HostArray(shape: prefix + [m, n], values: random.array(batch * m * n))
                let label = "\(backend.summary) shape \(prefix) M\(m) N\(n) K\(k) tA \(transposeA) tB \(transposeB)"
                let c = try operations.gemm(a, b, transposeA: transposeA, transposeB: transposeB)
                let (a64, b64, g64) = (a.values.map(Double.init), b.values.map(Double.init), upstream.values.map(Double.init))
                let expected = referenceGEMM(a64, b64, batch: batch, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                #expect(c.shape == prefix + [m, n], "\(label)")
                #expect(normwiseError(c.values, expected) <= 1e-4, "\(label)")

                let gradients = try operations.gemmGradients(a, b, gradC: upstream, transposeA: transposeA, transposeB: transposeB)
                // grad_a = Σ_j g_ij b_lj in A's stored layout, written with the reference GEMM.
                let expectedA = transposeA
                    ? referenceGEMM(b64, g64, batch: batch, m: k, n: m, k: n, transposeA: transposeB, transposeB: true)
                    : referenceGEMM(g64, b64, batch: batch, m: m, n: k, k: n, transposeA: false, transposeB: !transposeB)
                let expectedB = transposeB
                    ? referenceGEMM(g64, a64, batch: batch, m: n, n: k, k: m, transposeA: true, transposeB: transposeA)
                    : referenceGEMM(a64, g64, batch: batch, m: k, n: n, k: m, transposeA: !transposeA, transposeB: false)
                #expect(gradients.gradA.shape == a.shape && gradients.gradB.shape == b.shape, "\(label)")
                #expect(normwiseError(gradients.gradA.values, expectedA) <= 1e-4, "grad_a \(label)")
                #expect(normwiseError(gradients.gradB.values, expectedB) <= 1e-4, "grad_b \(label)")
            }
        }
    }

    /// C is written exactly where it lies: a sentinel just past it survives (catches
    /// out-of-bounds writes from padded tiles).
    private func checkGuardRegion(on backend: any Backend) throws {
        var random = SeededValues(seed: 5)
        for (m, n, k) in [(7, 13, 5), (9, 33, 3), (1, 1, 1)] {
            let descriptor = try GEMMDescriptor(m: m, n: n, k: k)
            let guardCount = 64, sentinel: Float = 12345
            let a = try backend.makeBuffer(random.array(m * k)), b = try backend.makeBuffer(random.array(k * n))
            let c = try backend.makeBuffer([Float](repeating: sentinel, count: m * n + guardCount))
            try backend.gemm(descriptor, a: a, b: b, c: c)
            let values = try backend.read(c)
            #expect(values[(m * n)...].allSatisfy { $0 == sentinel }, "\(backend.summary) wrote past C for \(m)x\(n)x\(k)")
        }
    }
}
