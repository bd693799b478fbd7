import Compute
import Foundation
import Testing
import TestSupport

/// Losses, embeddings and elementwise ops on every backend against float64
/// references, with finite differences of each backward rule.
@Suite struct LossAndElementwiseTests {

    func backend(_ name: String) throws -> any Backend {
        try TestBackends.named(name)
    }

    func referenceCrossEntropy(_ z: [Double], targets: [Float], classes c: Int, ignore: Int32) -> Double {
        var (total, counted) = (0.0, 0)
        for (r, t) in targets.enumerated() where Int32(t) != ignore {
            total += logSumExp(Array(z[(r * c)..<((r + 1) * c)])) - z[r * c + Int(t)]
            counted += 1
        }
        return counted == 0 ? 0 : total / Double(counted)
    }

    @Test func crossEntropyMatchesReferenceOnCPU() throws { try crossEntropyMatchesReference(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func crossEntropyMatchesReferenceOnOpenCL() throws { try crossEntropyMatchesReference(backend: "opencl") }
    func crossEntropyMatchesReference(backend name: String) throws {
        let operations = Operations(backend: try backend(name))
        var random = SeededValues(seed: 61)
        for (rows, classes, magnitude) in [(1, 1, Float(1)), (7, 13, 3), (33, 1031, 1e4), (5, 2, 1)] {
            let z = random.array(rows * classes, scale: magnitude)
            var targets = (0..<rows).map { _ in Float(Int((random.next() + 1) / 2 * Float(classes)) % classes) }
            if rows > 2 { targets[1] = -100 }  // an ignored row
            let result = try operations.crossEntropy(logits: HostArray(shape: [rows, classes], values: z), targets: HostArray(shape: [rows], values: targets),
                                                     gradients: true)
            let z64 = z.map(Double.init)
            let expected = referenceCrossEntropy(z64, targets: targets, classes: classes, ignore: -100)
            let numeric = finiteDifferenceGradient(of: { [referenceCrossEntropy($0, targets: targets, classes: classes, ignore: -100)] }, at: z64,
                                                   weights: [1], step: magnitude > 100 ? 1e-3 : 1e-6)
            let label = "\(name) \(rows)x\(classes) ×\(magnitude)"
            #expect(abs(result.loss - expected) <= 1e-4 * max(1, abs(expected)), "loss \(label)")
            #expect(normwiseError(result.gradLogits!.values, numeric) <= 1e-4, "gradient \(label)")
            if rows > 2 { #expect(result.gradLogits!.values[classes..<(2 * classes)].allSatisfy { $0 == 0 }, "ignored row \(label)") }
        }
        let allIgnored = try operations.crossEntropy(logits: HostArray(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                                                     targets: HostArray(shape: [2], values: [-100, -100]), gradients: true)
        #expect(allIgnored.loss == 0 && allIgnored.gradLogits!.values.allSatisfy { $0 == 0 })
        #expect(throws: BackendError.self) {
            try operations.crossEntropy(logits: HostArray(shape: [1, 3], values: [1, 2, 3]), targets: HostArray(shape: [1], values: [3]))
        }
    }

    func referenceKL(_ student: [Double], _ teacher: [Double], classes c: Int, temperature t: Double) -> Double {
        var total = 0.0
        for r in 0..<(student.count / c) {
            let s = student[(r * c)..<((r + 1) * c)].map { $0 / t }, q = teacher[(r * c)..<((r + 1) * c)].map { $0 / t }
            let (ls, lq) = (logSumExp(s), logSumExp(q))
            for j in 0..<c { total += Foundation.exp(q[j] - lq) * ((q[j] - lq) - (s[j] - ls)) }
        }
        return t * t * total / Double(student.count / c)
    }

    @Test func klDivergenceMatchesReferenceOnCPU() throws { try klDivergenceMatchesReference(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func klDivergenceMatchesReferenceOnOpenCL() throws { try klDivergenceMatchesReference(backend: "opencl") }
    func klDivergenceMatchesReference(backend name: String) throws {
        let operations = Operations(backend: try backend(name))
        var random = SeededValues(seed: 67)
        for (rows, classes, temperature) in [(1, 1, Float(2)), (9, 17, 2), (4, 100, 4), (3, 5, 0.5)] {
            let (s, t) = (random.array(rows * classes, scale: 4), random.array(rows * classes, scale: 4))
            let result = try operations.klDivergence(student: HostArray(shape: [rows, classes], values: s), teacher: HostArray(shape: [rows, classes], values: t),
                                                     temperature: temperature, gradients: true)
            let (s64, t64) = (s.map(Double.init), t.map(Double.init))
            let expected = referenceKL(s64, t64, classes: classes, temperature: Double(temperature))
            let numeric = finiteDifferenceGradient(of: { [referenceKL($0, t64, classes: classes, temperature: Double(temperature))] }, at: s64, weights: [1])
            #expect(abs(result.loss - expected) <= 1e-5 * max(1, expected), "\(name) KL \(rows)x\(classes) T\(temperature)")
            #expect(normwiseError(result.gradStudent!.values, numeric) <= 1e-4, "\(name) KL gradient \(rows)x\(classes) T\(temperature)")
        }
    }

    @Test func binaryCrossEntropyMatchesReferenceOnCPU() throws { try binaryCrossEntropyMatchesReference(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func binaryCrossEntropyMatchesReferenceOnOpenCL() throws { try binaryCrossEntropyMatchesReference(backend: "opencl") }
    func binaryCrossEntropyMatchesReference(backend name: String) throws {
        var random = SeededValues(seed: 71)
        let z = random.array(1031, scale: 8) + [1e4, -1e4, 0], t = (0..<1034).map { _ in (random.next() + 1) / 2 }
        let reference = { (z: [Double]) in zip(z, t).reduce(0.0) { $0 + max($1.0, 0) - $1.0 * Double($1.1) + Foundation.log1p(Foundation.exp(-abs($1.0))) } / Double(z.count) }
        let result = try Operations(backend: try backend(name)).binaryCrossEntropy(logits: HostArray(shape: [1034], values: z),
                                                                                   targets: HostArray(shape: [1034], values: t), gradients: true)
        let z64 = z.map(Double.init)
        #expect(abs(result.loss - reference(z64)) <= 1e-5 * max(1, reference(z64)))
        #expect(normwiseError(result.gradLogits!.values, finiteDifferenceGradient(of: { [reference($0)] }, at: z64, weights: [1], step: 1e-4)) <= 1e-4)
    }

    @Test func philoxMatchesRandom123KnownAnswers() {
        #expect(Philox.block(counter: .zero, key: .zero) == SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8))
        #expect(Philox.block(counter: SIMD4(repeating: .max), key: SIMD2(repeating: .max)) == SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd))
        #expect(Philox.block(counter: SIMD4(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: SIMD2(0xa409_3822, 0x299f_31d0))
                == SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1))
    }

    @Test func embeddingGathersAndScatterAddsOnCPU() throws { try embeddingGathersAndScatterAdds(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func embeddingGathersAndScatterAddsOnOpenCL() throws { try embeddingGathersAndScatterAdds(backend: "opencl") }
    func embeddingGathersAndScatterAdds(backend name: String) throws {
        var random = SeededValues(seed: 73)
        let (vocabulary, dimension) = (11, 37)
        let table = random.array(vocabulary * dimension)
        let ids: [Float] = [3, 0, 3, 10, 7, 3, 0, 5, 5]
        let gradOut = random.array(ids.count * dimension)
        let result = try Operations(backend: try backend(name)).embedding(table: HostArray(shape: [vocabulary, dimension], values: table),
                                                                          ids: HostArray(shape: [3, 3], values: ids),
                                                                          gradOut: HostArray(shape: [3, 3, dimension], values: gradOut))
        #expect(result.out.shape == [3, 3, dimension])
        let gathered = result.out.values == ids.flatMap { table[(Int($0) * dimension)..<((Int($0) + 1) * dimension)] }
        #expect(gathered)
        var expected = [Double](repeating: 0, count: table.count)
        for (n, id) in ids.enumerated() { for c in 0..<dimension { expected[Int(id) * dimension + c] += Double(gradOut[n * dimension + c]) } }
        #expect(normwiseError(result.gradTable!.values, expected) <= 1e-6)
        #expect(throws: BackendError.self) {
            try Operations(backend: try backend(name)).embedding(table: HostArray(shape: [2, 2], values: [1, 2, 3, 4]), ids: HostArray(shape: [1], values: [2]))
        }
    }

    /// The scalars a step keeps on the device: `map` (exp, clamp, the clipping factor, the
    /// reciprocal) against Foundation in float64, and the scale read from a device buffer.
    @Test func deviceScalarOpsOnCPU() throws { try deviceScalarOps(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases)
    func deviceScalarOpsOnOpenCL(variant: OpenCLTuning.Variant) throws { try deviceScalarOps(backend: "opencl", variant: variant) }
    func deviceScalarOps(backend name: String, variant: OpenCLTuning.Variant = .cpu) throws {
        let backend = try TestBackends.named(name, variant: variant)
        // 37 values: two 16-lane blocks and a tail; squared norms around the bound 2² = 4.
        let x: [Float] = (0..<37).map { Float($0) / 4 - 3 }
        let squaredNorms: [Float] = [0, 1, 3.99, 4, 4.01, 16, 1e30, .infinity, .nan]
        let cases: [(ScalarFunction, [Float], (Double) -> Double)] = [
            (.exp, x, { Foundation.exp($0) }),
            (.clamp(lower: -1, upper: 2.5), x, { min(max($0, -1), 2.5) }),
            (.clipFactor(maxNorm: 2), squaredNorms, { $0.isNaN ? .nan : $0 > 4 ? 2 / $0.squareRoot() : 1 }),
            (.reciprocal, x.filter { $0 != 0 }, { 1 / $0 }),
        ]
        for (function, input, reference) in cases {
            let (source, out) = (try backend.makeBuffer(input), try backend.makeBuffer(count: input.count))
            try backend.map(function, source, into: out, count: input.count)
            let got = try backend.read(out)
            for (value, result) in zip(input, got) {
                let expected = reference(Double(value))
                let matches = expected.isNaN ? result.isNaN : abs(Double(result) - expected) <= 2e-6 * max(1, abs(expected))
                #expect(matches, "\(name) \(function)(\(value)) = \(result), expected \(expected)")
            }
        }
        let (alpha, source, out) = (try backend.makeBuffer([-2.5]), try backend.makeBuffer(x), try backend.makeBuffer(count: x.count))
        try backend.scale(source, byScalarIn: alpha, into: out, count: x.count)
        #expect(try backend.read(out) == x.map { -2.5 * $0 }, "\(name) scale by a device scalar")
    }

    @Test func biasAddAndElementwiseOpsOnCPU() throws { try biasAddAndElementwiseOps(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func biasAddAndElementwiseOpsOnOpenCL() throws { try biasAddAndElementwiseOps(backend: "opencl") }
    func biasAddAndElementwiseOps(backend name: String) throws {
        let backend = try backend(name)
        var random = SeededValues(seed: 79)
        let (rows, columns) = (1031, 13)
        let x = random.array(rows * columns), bias = random.array(columns), gradY = random.array(rows * columns)
        let result = try Operations(backend: backend).biasAdd(HostArray(shape: [rows, columns], values: x), bias: HostArray(shape: [columns], values: bias),
                                                              gradY: HostArray(shape: [rows, columns], values: gradY))
        let added = result.y.values == x.enumerated().map { $1 + bias[$0 % columns] }
        #expect(added)
        let sums = (0..<columns).map { c in (0..<rows).reduce(0.0) { $0 + Double(gradY[$1 * columns + c]) } }
        #expect(normwiseError(result.gradBias!.values, sums) <= 1e-5)

        let n = 5003
        let (a, b) = (random.array(n), random.array(n))
        let (bufferA, bufferB, out) = (try backend.makeBuffer(a), try backend.makeBuffer(b), try backend.makeBuffer(count: n))
        try backend.add(bufferA, bufferB, into: out, count: n)
        let sum = try backend.read(out) == zip(a, b).map(+)
        #expect(sum)
        try backend.multiply(bufferA, bufferB, into: out, count: n)
        let product = try backend.read(out) == zip(a, b).map(*)
        #expect(product)
        try backend.scale(bufferA, by: -2.5, into: out, count: n)
        let scaled = try backend.read(out) == a.map { -2.5 * $0 }
        #expect(scaled)
        try backend.accumulate(bufferB, into: out, count: n)
        let accumulated = try backend.read(out) == zip(a, b).map { -2.5 * $0 + $1 }
        #expect(accumulated)
    }
}
