import Autograd
import Compute
import Foundation
import Testing
import TestSupport

/// Transpose, slice and concatenate against index arithmetic on the host, their gradients
/// (the inverse copies), and int32 tensors for ids and targets.
@Suite struct LayoutAndIntegerTensorTests {

    func backend(_ name: String) throws -> any Backend {
        try TestBackends.named(name)
    }

    /// Row-major strides of `shape`.
    func strides(_ shape: [Int]) -> [Int] {
        var result = [Int](repeating: 1, count: shape.count)
        for axis in shape.indices.dropLast().reversed() { result[axis] = result[axis + 1] * shape[axis + 1] }
        return result
    }

    /// The multi-index of flat position `flat` in `shape`.
    func index(_ flat: Int, _ shape: [Int]) -> [Int] {
        zip(strides(shape), shape).map { stride, size in (flat / stride) % size }
    }

    func flat(_ index: [Int], _ shape: [Int]) -> Int { zip(index, strides(shape)).map(*).reduce(0, +) }

    @Test func transposeMovesEveryElementAndItsGradientOnCPU() throws { try transposeMovesEveryElementAndItsGradient(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func transposeMovesEveryElementAndItsGradientOnOpenCL() throws { try transposeMovesEveryElementAndItsGradient(backend: "opencl") }
    func transposeMovesEveryElementAndItsGradient(backend name: String) throws {
        let backend = try backend(name)
        let shape = [2, 3, 4, 5]
        let values = (0..<120).map(Float.init)
        for (first, second) in [(0, 2), (1, 3), (-2, -1), (0, 3), (2, 1)] {
            let x = try Tensor(values, shape: shape, on: backend, requiresGradient: true)
            let y = try x.transposed(first, second)
            let (p, q) = ((first + 4) % 4, (second + 4) % 4)
            var expectedShape = shape
            expectedShape.swapAt(p, q)
            #expect(y.shape == expectedShape)
            let out = try y.values()
            let moved = (0..<120).allSatisfy { position in
                var source = index(position, expectedShape)
                source.swapAt(p, q)
                return out[position] == values[flat(source, shape)]
            }
            #expect(moved, "\(name): transpose(\(first), \(second))")
            // d sum(w ⊙ y) / dx = w moved back: transposing w by the same axes gives it.
            let weights = (0..<120).map { Float($0 % 7) - 3 }
            try (y * Tensor(weights, shape: expectedShape, on: backend)).sum().backward()
            let back = try Tensor(weights, shape: expectedShape, on: backend).transposed(first, second).values()
            #expect(try x.gradientValues() == back, "\(name): transpose(\(first), \(second)) gradient")
        }
        #expect(throws: BackendError.self) { try Tensor(values, shape: shape, on: backend).transposed(0, 4) }
    }

    /// The op data-parallel training gathers with: the host computes forward and backward, the
    /// tape carries the gradient through, and replacing a gradient takes effect.
    @Test func hostOpsCarryGradientsOnCPU() throws { try hostOpsCarryGradients(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func hostOpsCarryGradientsOnOpenCL() throws { try hostOpsCarryGradients(backend: "opencl") }
    func hostOpsCarryGradients(backend name: String) throws {
        let backend = try backend(name)
        let x = try Tensor([1, 2, 3], shape: [3], on: backend, requiresGradient: true)
        // y = [x, 2x] (a gather from two "ranks"); backward sums the two blocks' gradients.
        let y = try x.throughHost(shape: [2, 3], forward: { $0 + $0.map { 2 * $0 } },
                                  backward: { g in (0..<3).map { g[$0] + 2 * g[3 + $0] } })
        #expect(try y.values() == [1, 2, 3, 2, 4, 6])
        try (y * Tensor([1, 1, 1, 10, 10, 10] as [Float], shape: [2, 3], on: backend)).sum().backward()
        #expect(try x.gradientValues() == [21, 21, 21])
        try x.assignGradient([0.5, -1, 2])
        #expect(try x.gradientValues() == [0.5, -1, 2])
        #expect(throws: BackendError.self) { try x.throughHost(shape: [4], forward: { $0 }, backward: { $0 }) }
        #expect(throws: BackendError.self) { try x.assignGradient([1]) }
    }

    @Test func sliceAndConcatenateAreInverseCopiesOnCPU() throws { try sliceAndConcatenateAreInverseCopies(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func sliceAndConcatenateAreInverseCopiesOnOpenCL() throws { try sliceAndConcatenateAreInverseCopies(backend: "opencl") }
    func sliceAndConcatenateAreInverseCopies(backend name: String) throws {
        let backend = try backend(name)
        var random = SeededValues(seed: 17)
        let values = random.array(2 * 7 * 3)
        let x = try Tensor(values, shape: [2, 7, 3], on: backend, requiresGradient: true)
        let middle = try x.sliced(axis: 1, 2..<5)
        #expect(middle.shape == [2, 3, 3])
        let expected = (0..<18).map { position -> Float in
            let i = index(position, [2, 3, 3])
            return values[flat([i[0], i[1] + 2, i[2]], [2, 7, 3])]
        }
        #expect(try middle.values() == expected)

        // Pieces along axis 1 concatenated back give x; along axis -1 the widths add up.
        let pieces = try [0..<2, 2..<5, 5..<7].map { try x.sliced(axis: 1, $0) }
        #expect(try Tensor.concatenated(pieces, axis: 1).values() == values)
        let wide = try Tensor.concatenated([x, middle.sliced(axis: 1, 0..<1).reshaped([2, 1, 3]).transposed(1, 2).reshaped([2, 3, 1]).transposed(1, 2)
                                                .reshaped([2, 1, 3]).sliced(axis: 2, 0..<3)].map { $0 }, axis: 1)
        #expect(wide.shape == [2, 8, 3])

        // Gradients: the slice's gradient lands in place with zeros elsewhere; concatenation
        // splits its gradient back to the inputs.
        let weights = random.array(18)
        try (middle * Tensor(weights, shape: [2, 3, 3], on: backend)).sum().backward()
        let gradient = try x.gradientValues()
        for position in 0..<gradient.count {
            let i = index(position, [2, 7, 3])
            let inside = (2..<5).contains(i[1])
            #expect(gradient[position] == (inside ? weights[flat([i[0], i[1] - 2, i[2]], [2, 3, 3])] : 0))
        }
        let a = try Tensor(random.array(6), shape: [2, 3], on: backend, requiresGradient: true)
        let b = try Tensor(random.array(4), shape: [2, 2], on: backend, requiresGradient: true)
        let joined = try Tensor.concatenated([a, b], axis: -1)
        #expect(joined.shape == [2, 5])
        try (joined * Tensor((0..<10).map(Float.init), shape: [2, 5], on: backend)).sum().backward()
        #expect(try a.gradientValues() == [0, 1, 2, 5, 6, 7])
        #expect(try b.gradientValues() == [3, 4, 8, 9])
        #expect(throws: BackendError.self) { try Tensor.concatenated([a, b], axis: 0) }
        #expect(throws: BackendError.self) { try x.sliced(axis: 1, 5..<8) }
    }

    @Test func integerTensorsCarryIdsAndTargetsOnCPU() throws { try integerTensorsCarryIdsAndTargets(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func integerTensorsCarryIdsAndTargetsOnOpenCL() throws { try integerTensorsCarryIdsAndTargets(backend: "opencl") }
    func integerTensorsCarryIdsAndTargets(backend name: String) throws {
        let backend = try backend(name)
        let ids = try Tensor([3, 0, 3, 1, 2, Int32.max], shape: [2, 3], on: backend)
        #expect(ids.elementType == .int32)
        #expect(try ids.intValues() == [3, 0, 3, 1, 2, Int32.max], "bits round-trip unchanged")
        #expect(try ids.sliced(axis: 1, 0..<2).intValues() == [3, 0, 1, 2])
        #expect(try ids.transposed().intValues() == [3, 1, 0, 2, 3, Int32.max])
        #expect(throws: BackendError.self) { try ids.values() }

        let table = try Tensor((0..<8).map(Float.init), shape: [4, 2], on: backend, requiresGradient: true)
        let rows = try table.embedding(ids: try ids.sliced(axis: 1, 0..<2))
        #expect(try rows.values() == [6, 7, 0, 1, 2, 3, 4, 5])
        #expect(throws: BackendError.self) { try table.embedding(ids: ids) }  // Int32.max is not a row

        let logits = try Tensor([2, 0, 0, 0, 2, 0], shape: [2, 3], on: backend, requiresGradient: true)
        let loss = try logits.crossEntropy(targets: try Tensor([0, 1] as [Int32], shape: [2], on: backend))
        #expect(abs(try loss.values()[0] - Float(-log(exp(2.0) / (exp(2.0) + 2)))) <= 1e-6)
        #expect(throws: BackendError.self) { try logits.crossEntropy(targets: logits) }
        #expect(throws: BackendError.self) { try ids + ids }
    }
}
