import Autograd
import Compute
import Testing
import TestSupport

/// The autograd rules of the fused kernels route gradients exactly as the (float64-checked)
/// host-level ops do: each op's output goes through a cross-entropy, and the input gradients
/// must equal the op's own backward applied to that cross-entropy's gradient.
@Suite struct FusedOpGradientTests {
    static var backends: [String] { ["cpu"] + (TestBackends.openCLShouldRun ? ["opencl"] : []) }

    func backend(_ name: String) throws -> any Backend {
        name == "cpu" ? TestBackends.cpu : try TestBackends.openCL(.cpu)
    }

    /// The loss CE(output as [rows, columns], targets) and its gradient with respect to output.
    func crossEntropy(of output: Tensor, columns: Int, _ operations: Operations) throws -> (loss: Tensor, gradient: HostArray) {
        let rows = output.count / columns
        let targets = (0..<rows).map { Int32($0 % columns) }
        let loss = try output.reshaped([rows, columns]).crossEntropy(targets: targets)
        let gradient = try operations.crossEntropy(logits: HostArray(shape: [rows, columns], values: try output.values()),
                                                   targets: HostArray(shape: [rows], values: targets.map(Float.init)), gradients: true).gradLogits!
        return (loss, gradient)
    }

    @Test(arguments: backends)
    func softmaxAttentionDropoutEmbedding(backend name: String) throws {
        let backend = try backend(name)
        let operations = Operations(backend: backend)
        var random = SeededValues(seed: 91)

        let xValues = random.array(15), mask: [Float] = [1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1]
        let x = try Tensor(xValues, shape: [3, 5], on: backend, requiresGradient: true)
        let y = try x.softmax(scale: 2, mask: mask)
        let (softmaxLoss, softmaxUpstream) = try crossEntropy(of: y, columns: 5, operations)
        try softmaxLoss.backward()
        let softmaxExpected = try operations.softmaxGradient(y: HostArray(shape: [3, 5], values: try y.values()), gradY: softmaxUpstream,
                                                             mask: HostArray(shape: [3, 5], values: mask), scale: 2)
        #expect(normwiseError(try x.gradientValues(), softmaxExpected.values.map(Double.init)) <= 1e-6, "softmax")

        let (qValues, kValues, vValues) = (random.array(24), random.array(40), random.array(30))
        let q = try Tensor(qValues, shape: [1, 2, 3, 4], on: backend, requiresGradient: true)
        let k = try Tensor(kValues, shape: [1, 2, 5, 4], on: backend, requiresGradient: true)
        let v = try Tensor(vValues, shape: [1, 2, 5, 3], on: backend, requiresGradient: true)
        let out = try q.attention(keys: k, values: v, keyMask: [1, 0, 1, 1, 1], causal: true)
        let (attentionLoss, attentionUpstream) = try crossEntropy(of: out, columns: 3, operations)
        try attentionLoss.backward()
        let attentionExpected = try operations.attention(q: HostArray(shape: [1, 2, 3, 4], values: qValues), k: HostArray(shape: [1, 2, 5, 4], values: kValues),
                                                         v: HostArray(shape: [1, 2, 5, 3], values: vValues), keyMask: HostArray(shape: [1, 5], values: [1, 0, 1, 1, 1]),
                                                         causal: true, gradOut: HostArray(shape: [1, 2, 3, 3], values: attentionUpstream.values))
        #expect(normwiseError(try q.gradientValues(), attentionExpected.gradQ!.values.map(Double.init)) <= 1e-6, "attention q")
        #expect(normwiseError(try k.gradientValues(), attentionExpected.gradK!.values.map(Double.init)) <= 1e-6, "attention k")
        #expect(normwiseError(try v.gradientValues(), attentionExpected.gradV!.values.map(Double.init)) <= 1e-6, "attention v")

        let dropoutInput = try Tensor(random.array(24), shape: [4, 6], on: backend, requiresGradient: true)
        let dropped = try dropoutInput.dropout(probability: 0.4, seed: 5, step: 2)
        let (dropoutLoss, dropoutUpstream) = try crossEntropy(of: dropped, columns: 6, operations)
        try dropoutLoss.backward()
        let dropoutExpected = try operations.dropout(dropoutUpstream, probability: 0.4, seed: 5, step: 2)
        #expect(normwiseError(try dropoutInput.gradientValues(), dropoutExpected.values.map(Double.init)) <= 1e-6, "dropout")

        let tableValues = random.array(35)
        let table = try Tensor(tableValues, shape: [7, 5], on: backend, requiresGradient: true)
        let ids: [Int32] = [3, 0, 3, 6, 1, 3]
        let embedded = try table.embedding(ids: ids, shape: [2, 3])
        #expect(embedded.shape == [2, 3, 5])
        let (embeddingLoss, embeddingUpstream) = try crossEntropy(of: embedded, columns: 5, operations)
        try embeddingLoss.backward()
        let embeddingExpected = try operations.embedding(table: HostArray(shape: [7, 5], values: tableValues), ids: HostArray(shape: [2, 3], values: ids.map(Float.init)),
                                                         gradOut: HostArray(shape: [2, 3, 5], values: embeddingUpstream.values))
        #expect(normwiseError(try table.gradientValues(), embeddingExpected.gradTable!.values.map(Double.init)) <= 1e-6, "embedding")
    }

    @Test(arguments: backends)
    func lossesAndLearnableInfoNCEScale(backend name: String) throws {
        let backend = try backend(name)
        let operations = Operations(backend: backend)
        var random = SeededValues(seed: 97)

        let (studentValues, teacherValues) = (random.array(12, scale: 3), random.array(12, scale: 3))
        let student = try Tensor(studentValues, shape: [3, 4], on: backend, requiresGradient: true)
        let teacher = try Tensor(teacherValues, shape: [3, 4], on: backend, requiresGradient: true)
        try student.klDivergence(teacher: teacher.detached(), temperature: 2).backward()
        let kl = try operations.klDivergence(student: HostArray(shape: [3, 4], values: studentValues), teacher: HostArray(shape: [3, 4], values: teacherValues),
                                             temperature: 2, gradients: true)
        #expect(normwiseError(try student.gradientValues(), kl.gradStudent!.values.map(Double.init)) <= 1e-6, "kl")
        #expect(teacher.gradient == nil, "the detached teacher gets no gradient")

        let (logitValues, targetValues) = (random.array(10, scale: 4), (0..<10).map { Float($0 % 2) })
        let logits = try Tensor(logitValues, shape: [10], on: backend, requiresGradient: true)
        try logits.binaryCrossEntropy(targets: targetValues).backward()
        let bce = try operations.binaryCrossEntropy(logits: HostArray(shape: [10], values: logitValues), targets: HostArray(shape: [10], values: targetValues), gradients: true)
        #expect(normwiseError(try logits.gradientValues(), bce.gradLogits!.values.map(Double.init)) <= 1e-6, "bce")

        let (aValues, bValues) = (random.array(15), random.array(15))
        let a = try Tensor(aValues, shape: [5, 3], on: backend, requiresGradient: true)
        let b = try Tensor(bValues, shape: [5, 3], on: backend, requiresGradient: true)
        let scale = try Tensor([1 / 0.07], shape: [], on: backend, requiresGradient: true)
        let loss = try a.infoNCE(b, logitScale: scale)
        try loss.backward()
        let expected = try operations.infoNCE(a: HostArray(shape: [5, 3], values: aValues), b: HostArray(shape: [5, 3], values: bValues), scale: 1 / 0.07, gradients: true)
        #expect(abs(Double(try loss.values()[0]) - expected.loss) <= 1e-5)
        #expect(normwiseError(try a.gradientValues(), expected.gradA!.values.map(Double.init)) <= 1e-6, "infonce a")
        #expect(normwiseError(try b.gradientValues(), expected.gradB!.values.map(Double.init)) <= 1e-6, "infonce b")
        #expect(abs(Double(try scale.gradientValues()[0]) - expected.gradScale!) <= 1e-5 * max(1, abs(expected.gradScale!)), "infonce scale")
    }
}
