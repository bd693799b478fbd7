import Compute
import Foundation
import Testing
import TestSupport

/// Layer norm, GELU and AdamW on every backend against float64 references, with finite
/// differences of the backward rules.
@Suite struct TrainingKernelTests {
    static let layerNormShapes: [[Int]] = [[1, 1], [1, 17], [7, 13], [3, 5, 129], [64, 768], [2, 1000]]


    func backend(_ name: String) throws -> any Backend {
        try TestBackends.named(name)
    }

    /// Float64 layer norm: y, and the gradients of sum(dy ⊙ y).
    func referenceLayerNorm(_ x: [Double], _ w: [Double], _ b: [Double], dy: [Double], columns c: Int, epsilon: Double)
        -> (y: [Double], dx: [Double], dw: [Double], db: [Double]) {
        var (y, dx) = ([Double](repeating: 0, count: x.count), [Double](repeating: 0, count: x.count))
        var (dw, db) = ([Double](repeating: 0, count: c), [Double](repeating: 0, count: c))
        for r in 0..<(x.count / c) {
            let row = Array(x[(r * c)..<((r + 1) * c)])
            let mean = row.reduce(0, +) / Double(c)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(c)
            let rstd = 1 / (variance + epsilon).squareRoot()
            let xhat = row.map { ($0 - mean) * rstd }
            let g = (0..<c).map { dy[r * c + $0] * w[$0] }
            let (meanG, meanGX) = (g.reduce(0, +) / Double(c), zip(g, xhat).reduce(0) { $0 + $1.0 * $1.1 } / Double(c))
            for j in 0..<c {
                y[r * c + j] = xhat[j] * w[j] + b[j]
                dx[r * c + j] = rstd * (g[j] - meanG - xhat[j] * meanGX)
                dw[j] += dy[r * c + j] * xhat[j]
                db[j] += dy[r * c + j]
            }
        }
        return (y, dx, dw, db)
    }

    @Test func layerNormMatchesReferenceOnCPU() throws { try layerNormMatchesReference(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func layerNormMatchesReferenceOnOpenCL() throws { try layerNormMatchesReference(backend: "opencl") }
    func layerNormMatchesReference(backend name: String) throws {
        let operations = Operations(backend: try backend(name))
        var random = SeededValues(seed: 41)
        for shape in Self.layerNormShapes {
            let c = shape.last!, count = shape.reduce(1, *)
            // An offset far from zero: the two-pass variance must not cancel.
            let x = random.array(count, scale: 3).map { $0 + 100 }, dy = random.array(count)
            let (w, b) = (random.array(c).map { $0 + 1 }, random.array(c))
            let result = try operations.layerNorm(HostArray(shape: shape, values: x), weight: HostArray(shape: [c], values: w),
                                                  bias: HostArray(shape: [c], values: b), gradY: HostArray(shape: shape, values: dy))
            let expected = referenceLayerNorm(x.map(Double.init), w.map(Double.init), b.map(Double.init), dy: dy.map(Double.init), columns: c, epsilon: 1e-5)
            let label = "\(name) \(shape)"
            #expect(normwiseError(result.y.values, expected.y) <= 1e-4, "y \(label)")
            #expect(normwiseError(result.gradX!.values, expected.dx) <= 1e-4, "grad_x \(label)")
            #expect(normwiseError(result.gradWeight!.values, expected.dw) <= 1e-4, "grad_weight \(label)")
            #expect(normwiseError(result.gradBias!.values, expected.db) <= 1e-4, "grad_bias \(label)")
        }
    }

    @Test func layerNormReferenceMatchesFiniteDifferences() {
        let (rows, c) = (3, 5)
        var random = SeededValues(seed: 43)
        let x = random.array(rows * c, scale: 2).map(Double.init), dy = random.array(rows * c).map(Double.init)
        let (w, b) = (random.array(c).map { Double($0) + 1 }, random.array(c).map(Double.init))
        let analytic = referenceLayerNorm(x, w, b, dy: dy, columns: c, epsilon: 1e-5)
        let forward = { (x: [Double], w: [Double], b: [Double]) in self.referenceLayerNorm(x, w, b, dy: dy, columns: c, epsilon: 1e-5).y }
        #expect(normwiseError(analytic.dx, finiteDifferenceGradient(of: { forward($0, w, b) }, at: x, weights: dy)) <= 1e-6)
        #expect(normwiseError(analytic.dw, finiteDifferenceGradient(of: { forward(x, $0, b) }, at: w, weights: dy)) <= 1e-6)
        #expect(normwiseError(analytic.db, finiteDifferenceGradient(of: { forward(x, w, $0) }, at: b, weights: dy)) <= 1e-6)
    }

    /// GELU in float64: value, and the derivative by central differences of the value.
    func referenceGELU(_ x: Double, _ form: GELUDescriptor.Approximation) -> Double {
        switch form {
        case .none: 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))
        case .tanh: 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        case .sigmoid: x / (1 + Foundation.exp(-1.702 * x))
        }
    }

    @Test func geluMatchesReferenceAndFiniteDifferencesOnCPU() throws { try geluMatchesReferenceAndFiniteDifferences(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func geluMatchesReferenceAndFiniteDifferencesOnOpenCL() throws { try geluMatchesReferenceAndFiniteDifferences(backend: "opencl") }
    func geluMatchesReferenceAndFiniteDifferences(backend name: String) throws {
        let operations = Operations(backend: try backend(name))
        var random = SeededValues(seed: 47)
        let x = random.array(1000, scale: 6) + [0, -1e4, 1e4, -30, 30, 1e-6, 1, 7]
        let dy = random.array(x.count)
        for approximation in GELUDescriptor.Approximation.allCases {
            let result = try operations.gelu(HostArray(shape: [x.count], values: x), approximation: approximation,
                                             gradY: HostArray(shape: [x.count], values: dy))
            let expected = x.map { referenceGELU(Double($0), approximation) }
            let expectedGrad = zip(x, dy).map { (value, upstream) -> Double in
                let (v, h) = (Double(value), 1e-5 * max(1, abs(Double(value))))
                return Double(upstream) * (referenceGELU(v + h, approximation) - referenceGELU(v - h, approximation)) / (2 * h)
            }
            #expect(!result.y.values.contains { $0.isNaN } && !result.gradX!.values.contains { $0.isNaN })
            #expect(normwiseError(result.y.values, expected) <= 1e-4, "\(name) \(approximation)")
            #expect(normwiseError(result.gradX!.values, expectedGrad) <= 1e-4, "\(name) \(approximation) gradient")
        }
    }

    /// Ten AdamW steps against the float64 update with decoupled weight decay and bias correction.
    @Test func adamWMatchesReferenceOverTenStepsOnCPU() throws { try adamWMatchesReferenceOverTenSteps(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func adamWMatchesReferenceOverTenStepsOnOpenCL() throws { try adamWMatchesReferenceOverTenSteps(backend: "opencl") }
    func adamWMatchesReferenceOverTenSteps(backend name: String) throws {
        var random = SeededValues(seed: 53)
        let count = 1037
        let parameters = random.array(count)
        let gradients = (0..<10).map { _ in random.array(count, scale: 0.5) }
        let (lr, b1, b2, eps, decay) = (1e-2, 0.9, 0.999, 1e-8, 0.05)
        var (p, m, v) = (parameters.map(Double.init), [Double](repeating: 0, count: count), [Double](repeating: 0, count: count))
        for (t, gradient) in gradients.enumerated() {
            for i in 0..<count {
                let g = Double(gradient[i])
                p[i] *= 1 - lr * decay
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                let (mHat, vHat) = (m[i] / (1 - Foundation.pow(b1, Double(t + 1))), v[i] / (1 - Foundation.pow(b2, Double(t + 1))))
                p[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
        }
        let got = try Operations(backend: try backend(name)).adamW(parameters: parameters, gradients: gradients, learningRate: Float(lr),
                                                                   beta1: Float(b1), beta2: Float(b2), epsilon: Float(eps), weightDecay: Float(decay))
        #expect(normwiseError(got, p) <= 1e-5, "\(name)")
        #expect(normwiseError(got, parameters.map(Double.init)) > 1e-3, "the parameters moved")
    }
}
