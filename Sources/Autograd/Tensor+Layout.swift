import Compute

/// Differentiable layout ops for tensors of either element type: transpose, slice, concatenate.
/// Each is a copy on the backend; the gradient is the inverse copy.
extension Tensor {
    private func layoutError(_ op: String, _ message: String) -> BackendError { .invalidArgument(op: op, message: message) }

    /// The elements before, along and after `axis`: any axis of a row-major tensor is the middle
    /// axis of `[outer, shape[axis], inner]`.
    private func split(at axis: Int) -> (outer: Int, length: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// `axis` counted from the end when negative, checked against the rank.
    private func resolve(_ axis: Int, _ op: String) throws -> Int {
        let resolved = axis < 0 ? axis + shape.count : axis
        guard (0..<shape.count).contains(resolved) else { throw layoutError(op, "axis \(axis) is out of range for shape \(shape)") }
        return resolved
    }

    /// This tensor with axes `first` and `second` exchanged (negative axes count from the end).
    public func transposed(_ first: Int = -2, _ second: Int = -1) throws -> Tensor {
        let (p, q) = try (min(resolve(first, "transpose"), resolve(second, "transpose")), max(resolve(first, "transpose"), resolve(second, "transpose")))
        guard p != q else { return self }
        var newShape = shape
        newShape.swapAt(p, q)
        // [A, s_p, M, s_q, D] → [A, s_q, M, s_p, D] as two adjacent-axis swaps:
        // (A, s_p, M·s_q, D) → (A, M·s_q, s_p, D), then (A, M, s_q, s_p·D) → (A, s_q, M, s_p·D).
        let a = shape[..<p].reduce(1, *), between = shape[(p + 1)..<q].reduce(1, *), d = shape[(q + 1)...].reduce(1, *)
        let (sp, sq) = (shape[p], shape[q])
        let forward = [(a, sp, between * sq, d), (a, between, sq, sp * d)]
        let backward = [(a, sq, between * sp, d), (a, between, sp, sq * d)]
        let (backend, count) = (self.backend, self.count)
        func apply(_ steps: [(Int, Int, Int, Int)], to source: Buffer) throws -> Buffer {
            let middle = try backend.makeBuffer(count: count)
            try backend.swapAxes12(source, into: middle, shape: steps[0])
            guard between > 1 else { return middle }  // adjacent axes: one swap does it
            let out = try backend.makeBuffer(count: count)
            try backend.swapAxes12(middle, into: out, shape: steps[1])
            return out
        }
        return record(shape: newShape, storage: try apply(forward, to: storage), inputs: [self], elementType: elementType) { gradient in
            [try apply(backward, to: gradient)]
        }
    }

    /// Elements `range` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) throws -> Tensor {
        let axis = try resolve(axis, "slice")
        let (outer, length, inner) = split(at: axis)
        guard range.lowerBound >= 0, range.upperBound <= length else {
            throw layoutError("slice", "range \(range) is outside axis \(axis) of length \(length) (shape \(shape))")
        }
        var newShape = shape
        newShape[axis] = range.count
        let layout = BlockCopy(blocks: outer, blockLength: range.count * inner, sourceOffset: range.lowerBound * inner,
                               sourceStride: length * inner, destinationStride: range.count * inner)
        let (backend, count) = (self.backend, self.count)
        let out = try backend.makeBuffer(count: outer * range.count * inner)
        try backend.copyBlocks(storage, to: out, layout)
        return record(shape: newShape, storage: out, inputs: [self], elementType: elementType) { gradient in
            // Zero everywhere, the upstream gradient in the slice's place.
            let gradX = try backend.makeBuffer(count: count)
            try backend.fill(gradX, with: 0, count: count)
            try backend.copyBlocks(gradient, to: gradX, BlockCopy(blocks: outer, blockLength: layout.blockLength, sourceStride: layout.destinationStride,
                                                                   destinationOffset: layout.sourceOffset, destinationStride: layout.sourceStride))
            return [gradX]
        }
    }

    /// `tensors` joined along `axis`; every other axis must agree, as must backend and element type.
    public static func concatenated(_ tensors: [Tensor], axis: Int) throws -> Tensor {
        guard let first = tensors.first else { throw BackendError.invalidArgument(op: "concatenate", message: "needs at least one tensor") }
        let axis = try first.resolve(axis, "concatenate")
        for (index, tensor) in tensors.enumerated() {
            var expected = first.shape, found = tensor.shape
            guard expected.count == found.count else {
                throw first.layoutError("concatenate", "tensor \(index) has shape \(found), expected rank \(expected.count) like \(first.shape)")
            }
            expected[axis] = 0
            found[axis] = 0
            guard expected == found, tensor.backend === first.backend, tensor.elementType == first.elementType else {
                throw first.layoutError("concatenate", "tensor \(index) (\(tensor.elementType.rawValue) \(tensor.shape)) does not match "
                                        + "\(first.elementType.rawValue) \(first.shape) outside axis \(axis), or lives on another backend")
            }
        }
        let backend = first.backend
        let outer = first.split(at: axis).outer, inner = first.split(at: axis).inner
        let total = tensors.reduce(0) { $0 + $1.shape[axis] }
        var newShape = first.shape
        newShape[axis] = total
        let out = try backend.makeBuffer(count: outer * total * inner)
        var layouts: [BlockCopy] = [], start = 0
        for tensor in tensors {
            let length = tensor.shape[axis]
            layouts.append(BlockCopy(blocks: outer, blockLength: length * inner, sourceStride: length * inner,
                                     destinationOffset: start * inner, destinationStride: total * inner))
            start += length
        }
        for (tensor, layout) in zip(tensors, layouts) { try backend.copyBlocks(tensor.storage, to: out, layout) }
        return first.record(shape: newShape, storage: out, inputs: tensors, elementType: first.elementType) { gradient in
            try zip(tensors, layouts).map { tensor, layout in
                let part = try backend.makeBuffer(count: tensor.count)
                try backend.copyBlocks(gradient, to: part, BlockCopy(blocks: layout.blocks, blockLength: layout.blockLength, sourceOffset: layout.destinationOffset,
                                                                      sourceStride: layout.destinationStride, destinationStride: layout.sourceStride))
                return part
            }
        }
    }
}
