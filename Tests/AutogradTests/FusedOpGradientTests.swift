import Autograd
import Compute
import Foundation
import Testing
import TestSupport

/// The autograd rules of the fused kernels against float64: each op's output is weighted by
/// fixed random weights (so the upstream gradient is not all ones) and summed, and the input
/// gradients must equal central differences of a float64 forward of the same op (or, for
/// attention and InfoNCE, their float64 reference gradients, which their own tests check by
/// finite differences). Scalar losses are scaled by 1.7 so that a rule ignoring its upstream
/// gradient fails.
@Suite struct FusedOpGradientTests {
    static let tolerance = 1e-4

    /// `sum(weights ⊙ output)`, backpropagated.
    func backwardOfWeightedSum(_ output: Tensor, weights: [Float]) throws {
        try (output * Tensor(weights, shape: output.shape, on: output.backend)).sum().backward()
    }

    @Test func softmaxMatchesFiniteDifferencesOnCPU() throws { try softmaxMatchesFiniteDifferences(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func softmaxMatchesFiniteDifferencesOnOpenCL() throws { try softmaxMatchesFiniteDifferences(backend: "opencl") }
    func softmaxMatchesFiniteDifferences(backend name: String) throws {
        let backend = try TestBackends.named(name)
        var random = SeededValues(seed: 91)
        let (values, weights) = (random.array(15), random.array(15))
        let mask: [Float] = [1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1]
        for log in [false, true] {
            let x = try Tensor(values, shape: [3, 5], on: backend, requiresGradient: true)
            let y = try x.softmax(scale: 2, log: log, mask: mask)
            // Masked log-softmax entries are −∞ and get no gradient: weigh them 0.
            try backwardOfWeightedSum(y, weights: zip(weights, mask).map { $1 == 0 ? 0 : $0 })
            let numeric = finiteDifferenceGradient(of: { referenceSoftmax($0, mask: mask.map(Double.init), columns: 5, scale: 2, log: log) },
                                                   at: values.map(Double.init), weights: zip(weights, mask).map { $1 == 0 ? 0 : Double($0) })
            #expect(normwiseError(try x.gradientValues(), numeric) <= Self.tolerance, "\(name) log: \(log)")
        }
    }

    @Test func attentionMatchesTheFloat64BackwardOnCPU() throws { try attentionMatchesTheFloat64Backward(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func attentionMatchesTheFloat64BackwardOnOpenCL() throws { try attentionMatchesTheFloat64Backward(backend: "opencl") }
    func attentionMatchesTheFloat64Backward(backend name: String) throws {
        let backend = try TestBackends.named(name)
        var random = SeededValues(seed: 92)
        let (qValues, kValues, vValues, weights) = (random.array(24), random.array(40), random.array(30), random.array(18))
        let keyMask: [Float] = [1, 0, 1, 1, 1]
        let q = try Tensor(qValues, shape: [1, 2, 3, 4], on: backend, requiresGradient: true)
        let k = try Tensor(kValues, shape: [1, 2, 5, 4], on: backend, requiresGradient: true)
        let v = try Tensor(vValues, shape: [1, 2, 5, 3], on: backend, requiresGradient: true)
        try backwardOfWeightedSum(try q.attention(keys: k, values: v, keyMask: keyMask, causal: true), weights: weights)
        let reference = AttentionReference(batch: 1, heads: 2, queryLength: 3, keyLength: 5, headDimension: 4, valueDimension: 3,
                                           scale: 0.5, isCausal: true, keyMask: keyMask.map(Double.init))
        let expected = reference.backward(q: qValues.map(Double.init), k: kValues.map(Double.init), v: vValues.map(Double.init),
                                          gradOut: weights.map(Double.init))
        #expect(normwiseError(try q.gradientValues(), expected.dq) <= Self.tolerance, "\(name) dq")
        #expect(normwiseError(try k.gradientValues(), expected.dk) <= Self.tolerance, "\(name) dk")
        #expect(normwiseError(try v.gradientValues(), expected.dv) <= Self.tolerance, "\(name) dv")
    }

    @Test func embeddingScatterAddsRepeatedIdsOnCPU() throws { try embeddingScatterAddsRepeatedIds(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func embeddingScatterAddsRepeatedIdsOnOpenCL() throws { try embeddingScatterAddsRepeatedIds(backend: "opencl") }
    func embeddingScatterAddsRepeatedIds(backend name: String) throws {
        let backend = try TestBackends.named(name)
        var random = SeededValues(seed: 93)
        let (tableValues, weights) = (random.array(35), random.array(30))
        let ids: [Int32] = [3, 0, 3, 6, 1, 3]
        let table = try Tensor(tableValues, shape: [7, 5], on: backend, requiresGradient: true)
        let embedded = try table.embedding(ids: ids, shape: [2, 3])
        #expect(embedded.shape == [2, 3, 5])
        try backwardOfWeightedSum(embedded, weights: weights)
        let gather: ([Double]) -> [Double] = { t in ids.flatMap { id in t[(Int(id) * 5)..<(Int(id) * 5 + 5)] } }
        let numeric = finiteDifferenceGradient(of: gather, at: tableValues.map(Double.init), weights: weights.map(Double.init))
        #expect(normwiseError(try table.gradientValues(), numeric) <= Self.tolerance, "\(name)")
    }

    @Test func klAndBinaryCrossEntropyMatchFiniteDifferencesOnCPU() throws { try klAndBinaryCrossEntropyMatchFiniteDifferences(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func klAndBinaryCrossEntropyMatchFiniteDifferencesOnOpenCL() throws { try klAndBinaryCrossEntropyMatchFiniteDifferences(backend: "opencl") }
    func klAndBinaryCrossEntropyMatchFiniteDifferences(backend name: String) throws {
        let backend = try TestBackends.named(name)
        var random = SeededValues(seed: 97)
        let (studentValues, teacherValues) = (random.array(12, scale: 3), random.array(12, scale: 3))
        let (rows, classes, temperature) = (3, 4, 2.0)
        let student = try Tensor(studentValues, shape: [rows, classes], on: backend, requiresGradient: true)
        let teacher = try Tensor(teacherValues, shape: [rows, classes], on: backend, requiresGradient: true)
        try student.klDivergence(teacher: teacher.detached(), temperature: Float(temperature)).scaled(1.7).backward()
        // T²·mean over rows of KL(softmax(t/T) ‖ softmax(s/T)).
        let kl: ([Double]) -> [Double] = { s in
            let t = teacherValues.map(Double.init)
            let logP = referenceSoftmax(t, mask: nil, columns: classes, scale: 1 / temperature, log: true)
            let logQ = referenceSoftmax(s, mask: nil, columns: classes, scale: 1 / temperature, log: true)
            let total = (0..<(rows * classes)).reduce(0.0) { $0 + Foundation.exp(logP[$1]) * (logP[$1] - logQ[$1]) }
            return [temperature * temperature * total / Double(rows)]
        }
        let numericKL = finiteDifferenceGradient(of: kl, at: studentValues.map(Double.init), weights: [1.7])
        #expect(normwiseError(try student.gradientValues(), numericKL) <= Self.tolerance, "\(name) kl")
        #expect(teacher.gradient == nil, "the detached teacher gets no gradient")

        let (logitValues, targetValues) = (random.array(10, scale: 4), (0..<10).map { Float($0 % 3) / 2 })
        let logits = try Tensor(logitValues, shape: [10], on: backend, requiresGradient: true)
        try logits.binaryCrossEntropy(targets: targetValues).scaled(1.7).backward()
        let bce: ([Double]) -> [Double] = { z in
            let total = zip(z, targetValues).reduce(0.0) { sum, pair in
                let (x, y) = (pair.0, Double(pair.1))
                return sum + max(x, 0) - x * y + Foundation.log(1 + Foundation.exp(-abs(x)))
            }
            return [total / Double(z.count)]
        }
        let numericBCE = finiteDifferenceGradient(of: bce, at: logitValues.map(Double.init), weights: [1.7])
        #expect(normwiseError(try logits.gradientValues(), numericBCE) <= Self.tolerance, "\(name) bce")
    }

    @Test func infoNCEWithALearnableScaleMatchesTheFloat64GradientsOnCPU() throws { try infoNCEWithALearnableScaleMatchesTheFloat64Gradients(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func infoNCEWithALearnableScaleMatchesTheFloat64GradientsOnOpenCL() throws { try infoNCEWithALearnableScaleMatchesTheFloat64Gradients(backend: "opencl") }
    func infoNCEWithALearnableScaleMatchesTheFloat64Gradients(backend name: String) throws {
        let backend = try TestBackends.named(name)
        var random = SeededValues(seed: 98)
        let (aValues, bValues) = (random.array(15), random.array(15))
        let a = try Tensor(aValues, shape: [5, 3], on: backend, requiresGradient: true)
        let b = try Tensor(bValues, shape: [5, 3], on: backend, requiresGradient: true)
        let scale = try Tensor([1 / 0.07], shape: [], on: backend, requiresGradient: true)
        let loss = try a.infoNCE(b, logitScale: scale)
        try loss.scaled(1.7).backward()
        let reference = InfoNCEReference(groups: 1, rows: 5, columns: 5, dimension: 3, scale: Double(Float(1 / 0.07)), targets: .diagonal, direction: .symmetric)
        let (a64, b64) = (aValues.map(Double.init), bValues.map(Double.init))
        let expected = reference.gradients(a: a64, b: b64)
        #expect(abs(Double(try loss.values()[0]) - reference.loss(a: a64, b: b64)) <= 1e-5)
        #expect(normwiseError(try a.gradientValues(), expected.da.map { 1.7 * $0 }) <= Self.tolerance, "\(name) a")
        #expect(normwiseError(try b.gradientValues(), expected.db.map { 1.7 * $0 }) <= Self.tolerance, "\(name) b")
        let dscale = Double(try scale.gradientValues()[0])
        #expect(abs(dscale - 1.7 * expected.dscale) <= Self.tolerance * max(1, abs(expected.dscale)), "\(name) scale")
    }
}
