import Compute
import Testing
import TestSupport

/// Softmax and log-softmax on every backend and kernel variant against the float64 reference:
/// forward and backward, masks with fully masked rows, ±1e4 logits, scales, edge widths.
@Suite struct SoftmaxTests {
    struct Case: CustomStringConvertible, Sendable {
        let shape: [Int]
        let logitScale: Float
        let scale: Float
        let masked: Bool

        var description: String { "\(shape) logits ×\(logitScale) scale \(scale)\(masked ? " masked" : "")" }
    }

    static let cases: [Case] = [
        Case(shape: [1, 1], logitScale: 1, scale: 1, masked: false),
        Case(shape: [1], logitScale: 3, scale: 1, masked: false),
        Case(shape: [1, 17], logitScale: 5, scale: 0.5, masked: false),
        Case(shape: [7, 1], logitScale: 1, scale: 1, masked: true),
        Case(shape: [3, 4099], logitScale: 10, scale: 1, masked: false),
        Case(shape: [33, 129], logitScale: 2, scale: 3, masked: true),
        Case(shape: [2, 3, 65], logitScale: 1e4, scale: 1, masked: true),
        Case(shape: [5, 31], logitScale: 1e4, scale: 1, masked: false),
        Case(shape: [16, 16], logitScale: 1, scale: -2, masked: true),
    ]

    @Test func cpuMatchesReference() throws {
        try checkParity(on: TestBackends.cpu)
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases)
    func openCLMatchesReference(variant: OpenCLTuning.Variant) throws {
        try checkParity(on: TestBackends.openCL(variant))
    }

    /// The backward formulas against central finite differences of the float64 reference,
    /// masked and not, softmax and log-softmax; and the CPU path's backward against both.
    @Test(arguments: [false, true])
    func backwardMatchesFiniteDifferences(log: Bool) throws {
        let (rows, columns, scale) = (4, 9, 1.7)
        var random = SeededValues(seed: 21)
        let x = random.array(rows * columns, scale: 2).map(Double.init)
        let dy = random.array(rows * columns).map(Double.init)
        var mask = random.array(rows * columns).map { $0 > -0.4 ? 1.0 : 0 }
        for j in 0..<columns { mask[2 * columns + j] = 0 }  // one fully masked row
        for mask in [nil, mask] {
            let forward = { (x: [Double]) in referenceSoftmax(x, mask: mask, columns: columns, scale: scale, log: log) }
            let y = forward(x)
            let analytic = referenceSoftmaxBackward(y: y, dy: dy, mask: mask, columns: columns, scale: scale, log: log)
            let numeric = finiteDifferenceGradient(of: forward, at: x, weights: dy)
            #expect(normwiseError(analytic, numeric) <= 1e-6, "reference backward, log \(log), masked \(mask != nil)")

            let product = try Operations(backend: TestBackends.cpu).softmaxGradient(
                y: HostArray(shape: [rows, columns], values: y.map(Float.init)),
                gradY: HostArray(shape: [rows, columns], values: dy.map(Float.init)),
                mask: mask.map { HostArray(shape: [rows, columns], values: $0.map(Float.init)) }, scale: Float(scale), log: log)
            #expect(normwiseError(product.values, numeric) <= 1e-4, "cpu backward, log \(log), masked \(mask != nil)")
        }
    }

    /// Log-softmax of logits near 1e4: `(z − m) − log s` keeps the shift exact, where
    /// `z − (m + log s)` rounds it at the logits' magnitude (−2.18164 for −2.18125 below).
    /// Rows of 4 (scalar tails only) and 21 (a 16-lane block and a tail), both kernel variants.
    @Test(arguments: [4, 21])
    func logSoftmaxOfLargeLogitsKeepsTheShiftExactOnCPU(columns: Int) throws {
        try checkLogSoftmaxOfLargeLogits(columns: columns, on: TestBackends.cpu)
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases, [4, 21])
    func logSoftmaxOfLargeLogitsKeepsTheShiftExactOnOpenCL(variant: OpenCLTuning.Variant, columns: Int) throws {
        try checkLogSoftmaxOfLargeLogits(columns: columns, on: TestBackends.openCL(variant))
    }

    func checkLogSoftmaxOfLargeLogits(columns: Int, on backend: any Backend) throws {
        let start: [Float] = [10000, 10000.5, 10001, 10001.25]
        let x = (0..<columns).map { $0 < 4 ? start[$0] : 10000 + 0.125 * Float($0) }
        let expected = referenceSoftmax(x.map(Double.init), mask: nil, columns: columns, scale: 1, log: true)
        let y = try Operations(backend: backend).softmax(HostArray(shape: [1, columns], values: x), log: true)
        let error = zip(y.values, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
        #expect(error <= 2e-6, "\(backend.summary): \(y.values.prefix(4)) against \(expected.prefix(4))")
    }

    @Test func maskOfAnotherShapeIsRejected() {
        let x = HostArray(shape: [2, 3], values: .init(repeating: 0, count: 6))
        let mask = HostArray(shape: [3, 2], values: .init(repeating: 1, count: 6))
        #expect {
            try Operations(backend: TestBackends.cpu).softmax(x, mask: mask)
        } throws: { error in
            "\(error)" == "[softmax] mask must have the shape of x [2, 3], got [3, 2]"
        }
    }

    private func checkParity(on backend: any Backend) throws {
        let operations = Operations(backend: backend)
        var random = SeededValues(seed: 3)
        for testCase in Self.cases {
            let count = testCase.shape.reduce(1, *), columns = testCase.shape.last!
            let x = random.array(count, scale: testCase.logitScale)
            let dy = random.array(count)
            var mask: [Float]? = nil
            if testCase.masked {
                var values = random.array(count).map { $0 > -0.3 ? Float(1) : 0 }
                for j in 0..<columns { values[j] = 0 }  // the first row fully masked
                mask = values
            }
            let maskArray = mask.map { HostArray(shape: testCase.shape, values: $0) }
            for log in [false, true] {
                let label = "\(backend.summary) \(testCase) log \(log)"
                let y = try operations.softmax(HostArray(shape: testCase.shape, values: x), mask: maskArray, scale: testCase.scale, log: log)
                let expected = referenceSoftmax(x.map(Double.init), mask: mask?.map(Double.init), columns: columns,
                                                scale: Double(testCase.scale), log: log)
                #expect(!y.values.contains { $0.isNaN }, "NaN in \(label)")
                #expect(normwiseError(y.values, expected) <= 1e-4, "\(label)")

                let gradX = try operations.softmaxGradient(y: y, gradY: HostArray(shape: testCase.shape, values: dy), mask: maskArray,
                                                           scale: testCase.scale, log: log)
                let expectedGrad = referenceSoftmaxBackward(y: expected, dy: dy.map(Double.init), mask: mask?.map(Double.init),
                                                            columns: columns, scale: Double(testCase.scale), log: log)
                // Saturated rows (±1e4 logits) have gradients that are zero up to rounding.
                #expect(normwiseError(gradX.values, expectedGrad, floor: 1e-3) <= 1e-4, "grad \(label)")
                if let mask {
                    #expect(zip(gradX.values, mask).allSatisfy { $1 != 0 || $0 == 0 }, "masked entries get zero gradient, \(label)")
                }
            }
        }
    }
}
