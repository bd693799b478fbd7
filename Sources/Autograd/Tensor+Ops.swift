import Compute

/// Differentiable ops: each runs the forward on the tensors' backend and records the backward
/// rule built from the same backend's kernels (validation through the op descriptors).
extension Tensor {
    /// Both operands float32 and on one backend.
    func sameBackend(_ other: Tensor, _ op: String) throws {
        try requireElementType(.float32, op)
        try other.requireElementType(.float32, op)
        guard other.backend === backend else {
            throw BackendError.invalidArgument(op: op, message: "operands live on different backends (\(backend.summary) and \(other.backend.summary))")
        }
    }

    private func requireShape(_ other: Tensor, _ op: String) throws {
        try sameBackend(other, op)
        guard other.shape == shape else {
            throw BackendError.invalidArgument(op: op, message: "operands must have one shape, got \(shape) and \(other.shape)")
        }
    }

    /// `self · other` (2-D, or 3-D with a shared batch), optional transposes.
    public func matmul(_ other: Tensor, transposeSelf: Bool = false, transposeOther: Bool = false) throws -> Tensor {
        try sameBackend(other, "matmul")
        let descriptor = try GEMMDescriptor(aShape: shape, bShape: other.shape, transposeA: transposeSelf, transposeB: transposeOther)
        let out = try backend.makeBuffer(count: descriptor.cShape.reduce(1, *), for: "the matmul product \(descriptor.cShape)")
        try backend.gemm(descriptor, a: storage, b: other.storage, c: out)
        let (backend, a, b) = (self.backend, self, other)
        return record(shape: descriptor.cShape, storage: out, inputs: [self, other]) { gradient in
            func operand(_ which: GEMMDescriptor.Operand) -> Buffer {
                switch which { case .a: a.storage; case .b: b.storage; case .gradC: gradient }
            }
            let (descriptorA, leftA, rightA) = descriptor.gradientOfA
            let (descriptorB, leftB, rightB) = descriptor.gradientOfB
            let gradA = try backend.makeBuffer(count: a.count), gradB = try backend.makeBuffer(count: b.count)
            try backend.gemm(descriptorA, a: operand(leftA), b: operand(rightA), c: gradA)
            try backend.gemm(descriptorB, a: operand(leftB), b: operand(rightB), c: gradB)
            return [gradA, gradB]
        }
    }

    public static func + (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try lhs.requireShape(rhs, "add")
        let out = try lhs.backend.makeBuffer(count: lhs.count)
        try lhs.backend.add(lhs.storage, rhs.storage, into: out, count: lhs.count)
        return lhs.record(shape: lhs.shape, storage: out, inputs: [lhs, rhs]) { gradient in [gradient, gradient] }
    }

    public static func * (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try lhs.requireShape(rhs, "multiply")
        let (backend, count) = (lhs.backend, lhs.count)
        let out = try backend.makeBuffer(count: count)
        try backend.multiply(lhs.storage, rhs.storage, into: out, count: count)
        return lhs.record(shape: lhs.shape, storage: out, inputs: [lhs, rhs]) { gradient in
            let (gradLeft, gradRight) = (try backend.makeBuffer(count: count), try backend.makeBuffer(count: count))
            try backend.multiply(gradient, rhs.storage, into: gradLeft, count: count)
            try backend.multiply(gradient, lhs.storage, into: gradRight, count: count)
            return [gradLeft, gradRight]
        }
    }

    /// `self [..., C] + bias [C]`.
    public func addingBias(_ bias: Tensor) throws -> Tensor {
        try sameBackend(bias, "bias-add")
        guard let columns = shape.last, bias.shape == [columns] else {
            throw BackendError.invalidArgument(op: "bias-add", message: "bias must be [C] = [\(shape.last ?? 0)], got \(bias.shape)")
        }
        let (backend, rows) = (self.backend, count / columns)
        let out = try backend.makeBuffer(count: count)
        try backend.biasAdd(storage, bias: bias.storage, into: out, rows: rows, columns: columns)
        return record(shape: shape, storage: out, inputs: [self, bias]) { gradient in
            let sums = try backend.makeBuffer(count: columns)
            try backend.columnSums(gradient, rows: rows, columns: columns, into: sums)
            return [gradient, sums]
        }
    }

    public func gelu(approximation: GELUDescriptor.Approximation = .none) throws -> Tensor {
        try requireElementType(.float32, "gelu")
        let (backend, descriptor) = (self.backend, try GELUDescriptor(count: count, approximation: approximation))
        let out = try backend.makeBuffer(count: count)
        try backend.geluForward(descriptor, x: storage, y: out)
        return record(shape: shape, storage: out, inputs: [self]) { [storage] gradient in
            let gradX = try backend.makeBuffer(count: descriptor.count)
            try backend.geluBackward(descriptor, x: storage, gradY: gradient, gradX: gradX)
            return [gradX]
        }
    }

    /// Layer norm over the last axis with `weight [C]` and `bias [C]`.
    public func layerNorm(weight: Tensor, bias: Tensor, epsilon: Float = 1e-5) throws -> Tensor {
        try sameBackend(weight, "layernorm")
        try sameBackend(bias, "layernorm")
        let descriptor = try LayerNormDescriptor(xShape: shape, weightShape: weight.shape, biasShape: bias.shape, epsilon: epsilon)
        let backend = self.backend
        let out = try backend.makeBuffer(count: count)
        let mean = try backend.makeBuffer(count: descriptor.rows), rstd = try backend.makeBuffer(count: descriptor.rows)
        try backend.layerNormForward(descriptor, x: storage, weight: weight.storage, bias: bias.storage, y: out, mean: mean, reciprocalStd: rstd)
        return record(shape: shape, storage: out, inputs: [self, weight, bias]) { [storage] gradient in
            let gradX = try backend.makeBuffer(count: descriptor.count)
            let gradWeight = try backend.makeBuffer(count: descriptor.columns), gradBias = try backend.makeBuffer(count: descriptor.columns)
            try backend.layerNormBackward(descriptor, x: storage, weight: weight.storage, mean: mean, reciprocalStd: rstd, gradY: gradient,
                                          gradX: gradX, gradWeight: gradWeight, gradBias: gradBias)
            return [gradX, gradWeight, gradBias]
        }
    }

    /// Mean cross-entropy of these logits `[N, C]` against class `targets` (one per row;
    /// `ignoreIndex` rows excluded): a scalar.
    public func crossEntropy(targets: [Int32], ignoreIndex: Int32 = -100) throws -> Tensor {
        try crossEntropy(targets: try Tensor(targets, shape: [targets.count], on: backend), ignoreIndex: ignoreIndex)
    }

    /// Mean cross-entropy against an int32 `targets [N]` tensor.
    public func crossEntropy(targets: Tensor, ignoreIndex: Int32 = -100) throws -> Tensor {
        try requireElementType(.float32, "cross-entropy")
        try targets.requireElementType(.int32, "cross-entropy targets")
        let descriptor = try CrossEntropyDescriptor(logitsShape: shape, targets: try targets.intValues(), ignoreIndex: ignoreIndex)
        let backend = self.backend
        let targetBuffer = targets.storage
        let mean = try backend.crossEntropyMean(descriptor, logits: storage, targets: targetBuffer)
        return record(shape: [], storage: try backend.makeBuffer([Float(mean)]), inputs: [self]) { [storage] gradient in
            let gradLogits = try backend.makeBuffer(count: descriptor.rows * descriptor.classes)
            try backend.crossEntropyMeanBackward(descriptor, logits: storage, targets: targetBuffer,
                                                 upstream: try backend.read(gradient, count: 1)[0], gradLogits: gradLogits)
            return [gradLogits]
        }
    }
}

extension Tensor {
    /// `[A, B, C, D] → [A, C, B, D]`: e.g. `[batch, length, heads, head]` to heads-first for
    /// attention, and back.
    public func swappingAxes12() throws -> Tensor {
        try requireElementType(.float32, "swap-axes")
        guard shape.count == 4 else { throw BackendError.invalidArgument(op: "swap-axes", message: "expected a 4-D tensor, got \(shape)") }
        let (backend, dims) = (self.backend, (shape[0], shape[1], shape[2], shape[3]))
        let out = try backend.makeBuffer(count: count)
        try backend.swapAxes12(storage, into: out, shape: dims)
        return record(shape: [shape[0], shape[2], shape[1], shape[3]], storage: out, inputs: [self]) { [count] gradient in
            let gradX = try backend.makeBuffer(count: count)
            try backend.swapAxes12(gradient, into: gradX, shape: (dims.0, dims.2, dims.1, dims.3))
            return [gradX]
        }
    }

    /// Rows `indices` of this `[N, C]` tensor → `[indices.count, C]` (e.g. the [CLS] position of
    /// each sequence); the gradient scatters back.
    public func gatherRows(_ indices: [Int32]) throws -> Tensor {
        try embedding(ids: indices, shape: [indices.count])
    }
}

extension Tensor {
    /// The sum of all elements, a scalar (summed on the backend as one column).
    public func sum() throws -> Tensor {
        try requireElementType(.float32, "sum")
        let (backend, count) = (self.backend, self.count)
        let out = try backend.makeBuffer(count: 1)
        try backend.columnSums(storage, rows: count, columns: 1, into: out)
        return record(shape: [], storage: out, inputs: [self]) { gradient in
            // d sum / d x_i = 1: the upstream value everywhere.
            let upstream = try backend.read(gradient, count: 1)[0]
            return [try backend.makeBuffer([Float](repeating: upstream, count: count))]
        }
    }

    /// The mean of all elements, a scalar.
    public func mean() throws -> Tensor {
        let (backend, sum) = (self.backend, try self.sum())
        let out = try backend.makeBuffer(count: 1)
        try backend.scale(sum.storage, by: 1 / Float(max(count, 1)), into: out, count: 1)
        return sum.record(shape: [], storage: out, inputs: [sum]) { [count] gradient in
            let scaled = try backend.makeBuffer(count: 1)
            try backend.scale(gradient, by: 1 / Float(max(count, 1)), into: scaled, count: 1)
            return [scaled]
        }
    }
}

extension Tensor {
    /// `factor · self` (loss weights such as β_itc).
    public func scaled(_ factor: Float) throws -> Tensor {
        try requireElementType(.float32, "scale")
        let (backend, count) = (self.backend, self.count)
        let out = try backend.makeBuffer(count: count)
        try backend.scale(storage, by: factor, into: out, count: count)
        return record(shape: shape, storage: out, inputs: [self]) { gradient in
            let gradX = try backend.makeBuffer(count: count)
            try backend.scale(gradient, by: factor, into: gradX, count: count)
            return [gradX]
        }
    }
}
