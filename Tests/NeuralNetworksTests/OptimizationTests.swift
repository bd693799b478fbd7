import Foundation
import Autograd
import Compute
import NeuralNetworks
import Testing
import TestSupport

@Suite struct OptimizationTests {

    func backend(_ name: String) throws -> any Backend { try TestBackends.named(name, fresh: true) }

    /// Momentum SGD on a fixed gradient sequence against the float64 recurrence.
    @Test func sgdWithMomentumMatchesTheRecurrenceOnCPU() throws { try sgdWithMomentumMatchesTheRecurrence(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func sgdWithMomentumMatchesTheRecurrenceOnOpenCL() throws { try sgdWithMomentumMatchesTheRecurrence(backend: "opencl") }
    func sgdWithMomentumMatchesTheRecurrence(backend name: String) throws {
        let backend = try backend(name)
        let start: [Float] = [1, -2, 0.5]
        let parameter = try Tensor(start, shape: [1, 3], on: backend, requiresGradient: true)
        let optimizer = SGD(parameters: [parameter], learningRate: 0.1, momentum: 0.9)
        var (p, v) = (start.map(Double.init), [0.0, 0, 0])
        for target: Int32 in [0, 2, 1, 2, 0] {
            let values = try parameter.values().map(Double.init)
            try parameter.crossEntropy(targets: [target]).backward()
            let top = values.max()!, sum = values.reduce(0) { $0 + Foundation.exp($1 - top) }
            for i in 0..<3 {
                let g = Foundation.exp(values[i] - top) / sum - (i == Int(target) ? 1 : 0)
                v[i] = 0.9 * v[i] + g
                p[i] -= 0.1 * v[i]
            }
            try optimizer.update()
            #expect(parameter.gradient == nil, "update clears the gradients")
        }
        #expect(normwiseError(try parameter.values(), p) <= 1e-5)
    }

    @Test func clippingScalesToTheGlobalNormOnCPU() throws { try clippingScalesToTheGlobalNorm(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func clippingScalesToTheGlobalNormOnOpenCL() throws { try clippingScalesToTheGlobalNorm(backend: "opencl") }
    func clippingScalesToTheGlobalNorm(backend name: String) throws {
        let backend = try backend(name)
        let a = try Tensor([3, 0, 0], shape: [1, 3], on: backend, requiresGradient: true)
        try (a * a).crossEntropy(targets: [1]).backward()
        let before = try a.gradientValues()
        let squaredNorm = try #require(try clipGradients([a], maxNorm: 0.1))
        let norm = Double(try backend.read(squaredNorm)[0]).squareRoot()
        let expectedNorm = before.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
        #expect(abs(norm - expectedNorm) <= 1e-6)
        let after = try a.gradientValues()
        #expect(abs(after.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot() - 0.1) <= 1e-6)
        #expect(normwiseError(after, before.map { Double($0) * 0.1 / expectedNorm }) <= 1e-6)
        // Within the bound, nothing changes.
        try clipGradients([a], maxNorm: 1)
        #expect(try a.gradientValues() == after)
    }

    @Test func warmupThenCosine() {
        let schedule = LearningRateSchedule.warmupCosine(peak: 1, warmupSteps: 10, totalSteps: 110, minimum: 0.1)
        #expect(schedule.rate(at: 0) == 0.1 && schedule.rate(at: 9) == 1)
        #expect(abs(schedule.rate(at: 60) - 0.55) < 1e-6, "halfway down the cosine")
        #expect(abs(schedule.rate(at: 110) - 0.1) < 1e-6 && abs(schedule.rate(at: 500) - 0.1) < 1e-6)
        #expect(LearningRateSchedule.constant(0.3).rate(at: 1000) == 0.3)
    }
}
