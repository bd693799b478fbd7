import Autograd
import Compute
import Foundation
import Testing
import TestSupport

/// The tape: gradients through composed ops, accumulation over reuse, detached and no-grad
/// scopes, backends agreeing, and a small classifier that learns.
@Suite struct AutogradTests {

    func backend(_ name: String) throws -> any Backend {
        try TestBackends.named(name, fresh: true)
    }

    /// Softmax cross-entropy gradient with respect to logits t, in float64.
    func crossEntropyGradient(_ t: [Double], target: Int) -> [Double] {
        let top = t.max()!, sum = t.reduce(0) { $0 + Foundation.exp($1 - top) }
        return t.enumerated().map { Foundation.exp($1 - top) / sum - ($0 == target ? 1 : 0) }
    }

    /// x used twice (x ⊙ x): the gradients of both uses add up to 2x ⊙ dL/dt.
    @Test func reuseAccumulatesGradientsOnCPU() throws { try reuseAccumulatesGradients(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func reuseAccumulatesGradientsOnOpenCL() throws { try reuseAccumulatesGradients(backend: "opencl") }
    func reuseAccumulatesGradients(backend name: String) throws {
        let backend = try backend(name)
        let values: [Float] = [0.5, -1.25, 2, 0.75, -0.3]
        let x = try Tensor(values, shape: [1, 5], on: backend, requiresGradient: true)
        try (x * x).crossEntropy(targets: [3]).backward()
        let dt = crossEntropyGradient(values.map { Double($0 * $0) }, target: 3)
        #expect(normwiseError(try x.gradientValues(), zip(values, dt).map { 2 * Double($0) * $1 }) <= 1e-5)
    }

    /// A detached operand is a constant: x.detached() ⊙ x sends x ⊙ dL/dt, not 2x ⊙ dL/dt.
    @Test func detachedAndNoGradientScopesStopTheTapeOnCPU() throws { try detachedAndNoGradientScopesStopTheTape(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func detachedAndNoGradientScopesStopTheTapeOnOpenCL() throws { try detachedAndNoGradientScopesStopTheTape(backend: "opencl") }
    func detachedAndNoGradientScopesStopTheTape(backend name: String) throws {
        let backend = try backend(name)
        let values: [Float] = [0.5, -1.25, 2, 0.75, -0.3]
        let x = try Tensor(values, shape: [1, 5], on: backend, requiresGradient: true)
        try (x.detached() * x).crossEntropy(targets: [1]).backward()
        let dt = crossEntropyGradient(values.map { Double($0 * $0) }, target: 1)
        #expect(normwiseError(try x.gradientValues(), zip(values, dt).map { Double($0) * $1 }) <= 1e-5)
        let inside = try Autograd.withoutGradients { try x * x }
        #expect(!inside.requiresGradient)
        #expect(throws: BackendError.self) { try x.backward() }
    }

    struct MLP {
        let w1, b1, gamma, beta, w2, b2: Tensor

        init(inputs: Int, hidden: Int, classes: Int, seed: UInt64, on backend: any Backend) throws {
            var random = SeededValues(seed: seed)
            w1 = try Tensor(random.array(inputs * hidden, scale: 1 / Float(inputs).squareRoot()), shape: [inputs, hidden], on: backend, requiresGradient: true)
            b1 = try Tensor(random.array(hidden, scale: 0.1), shape: [hidden], on: backend, requiresGradient: true)
            gamma = try Tensor(random.array(hidden, scale: 0.1).map { $0 + 1 }, shape: [hidden], on: backend, requiresGradient: true)
            beta = try Tensor(random.array(hidden, scale: 0.1), shape: [hidden], on: backend, requiresGradient: true)
            w2 = try Tensor(random.array(hidden * classes, scale: 1 / Float(hidden).squareRoot()), shape: [hidden, classes], on: backend, requiresGradient: true)
            b2 = try Tensor(random.array(classes, scale: 0.1), shape: [classes], on: backend, requiresGradient: true)
        }

        var parameters: [Tensor] { [w1, b1, gamma, beta, w2, b2] }

        func logits(_ x: Tensor) throws -> Tensor {
            try x.matmul(w1).addingBias(b1).layerNorm(weight: gamma, bias: beta).gelu().matmul(w2).addingBias(b2)
        }
    }

    /// Two-class data that needs the hidden layer: the label is whether x₀·x₁ > 0.
    func dataset(_ count: Int, seed: UInt64) -> ([Float], [Int32]) {
        var random = SeededValues(seed: seed)
        let x = random.array(count * 4, scale: 2)
        return (x, (0..<count).map { x[$0 * 4] * x[$0 * 4 + 1] > 0 ? 1 : 0 })
    }

    /// Autograd through matmul, bias, layer norm, GELU and cross-entropy against central
    /// differences of the loss on the same backend.
    @Test func composedGradientsMatchFiniteDifferencesOnCPU() throws { try composedGradientsMatchFiniteDifferences(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func composedGradientsMatchFiniteDifferencesOnOpenCL() throws { try composedGradientsMatchFiniteDifferences(backend: "opencl") }
    func composedGradientsMatchFiniteDifferences(backend name: String) throws {
        let (x, labels) = dataset(16, seed: 3)
        func gradients(_ backend: any Backend) throws -> (loss: Float, gradients: [[Float]], model: MLP) {
            let model = try MLP(inputs: 4, hidden: 8, classes: 2, seed: 11, on: backend)
            let loss = try model.logits(try Tensor(x, shape: [16, 4], on: backend)).crossEntropy(targets: labels)
            try loss.backward()
            return (try loss.values()[0], try model.parameters.map { try $0.gradientValues() }, model)
        }
        let analytic = try gradients(try backend(name))
        // Central differences, one parameter entry at a time (float32: step 1e-2).
        for (index, parameter) in analytic.model.parameters.enumerated() {
            let original = try parameter.values()
            var numeric: [Double] = []
            for i in 0..<original.count {
                func loss(_ delta: Float) throws -> Double {
                    var shifted = original
                    shifted[i] += delta
                    try shifted.withUnsafeBufferPointer { try parameter.backend.upload($0, to: parameter.storage) }
                    return Double(try Autograd.withoutGradients { try analytic.model.logits(try Tensor(x, shape: [16, 4], on: parameter.backend)).crossEntropy(targets: labels) }.values()[0])
                }
                numeric.append((try loss(1e-2) - loss(-1e-2)) / 2e-2)
            }
            try original.withUnsafeBufferPointer { try parameter.backend.upload($0, to: parameter.storage) }
            #expect(normwiseError(analytic.gradients[index], numeric) <= 1e-2, "\(name): parameter \(index)")
        }
    }

    /// The MLP learns the XOR-like task with AdamW on the device, from chance to ≥ 95 %.
    @Test func smallClassifierLearnsOnCPU() throws { try smallClassifierLearns(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func smallClassifierLearnsOnOpenCL() throws { try smallClassifierLearns(backend: "opencl") }
    func smallClassifierLearns(backend name: String) throws {
        let backend = try backend(name)
        let model = try MLP(inputs: 4, hidden: 32, classes: 2, seed: 5, on: backend)
        let moments = try model.parameters.map { parameter in
            let zeros = [Float](repeating: 0, count: parameter.count)
            return (parameter, try backend.makeBuffer(zeros), try backend.makeBuffer(zeros))
        }
        let (trainX, trainY) = dataset(256, seed: 1), (testX, testY) = dataset(256, seed: 2)
        let inputs = try Tensor(trainX, shape: [256, 4], on: backend)
        for step in 1...300 {
            model.parameters.forEach { $0.zeroGradient() }
            try model.logits(inputs).crossEntropy(targets: trainY).backward()
            for (parameter, m, v) in moments {
                try backend.adamWStep(AdamWDescriptor(count: parameter.count, learningRate: 0.01, weightDecay: 0, step: step),
                                      parameters: parameter.storage, gradients: try #require(parameter.gradient), firstMoment: m, secondMoment: v)
            }
        }
        let logits = try Autograd.withoutGradients { try model.logits(try Tensor(testX, shape: [256, 4], on: backend)) }.values()
        let correct = (0..<256).filter { (logits[2 * $0 + 1] > logits[2 * $0] ? 1 : 0) == testY[$0] }.count
        #expect(Double(correct) / 256 >= 0.95, "\(name): test accuracy \(correct)/256")
    }
}

@Suite struct TensorFileTests {
    @Test func roundTripsThroughNPY() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-tensor-\(UUID().uuidString).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        let backend = CPUBackend()
        let tensor = try Tensor([1, -2, 3.5, 0, 7, 8], shape: [2, 3], on: backend)
        try tensor.save(npy: url)
        let loaded = try Tensor(npy: url, on: backend, requiresGradient: true)
        #expect(loaded.shape == [2, 3] && loaded.requiresGradient)
        #expect(try loaded.values() == tensor.values())
    }
}
