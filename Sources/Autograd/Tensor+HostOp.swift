import Compute

/// Ops whose work happens on the host, between a read from and a write to the backend: the
/// exchanges of data-parallel training (gather embeddings forward, reduce-scatter their
/// gradients backward; average parameter gradients).
extension Tensor {
    /// A tensor of `shape` holding `forward(values())`; backward, this tensor's gradient is
    /// `backward(the result's gradient)`.
    public func throughHost(shape newShape: [Int], forward: ([Float]) throws -> [Float],
                            backward: @escaping ([Float]) throws -> [Float]) throws -> Tensor {
        let results = try forward(try values())
        let outputCount = newShape.reduce(1, *)
        guard results.count == outputCount else {
            throw BackendError.invalidArgument(op: "throughHost", message: "forward gave \(results.count) values for shape \(newShape) (\(outputCount))")
        }
        let (backend, inputCount) = (self.backend, count)
        return record(shape: newShape, storage: try backend.makeBuffer(results), inputs: [self]) { gradient in
            let inputGradient = try backward(try backend.read(gradient, count: outputCount))
            guard inputGradient.count == inputCount else {
                throw BackendError.invalidArgument(op: "throughHost", message: "backward gave \(inputGradient.count) values for \(inputCount)")
            }
            return [try backend.makeBuffer(inputGradient)]
        }
    }

    /// Replaces the accumulated gradient (after averaging it across processes).
    public func assignGradient(_ newValues: [Float]) throws {
        guard newValues.count == count else {
            throw BackendError.invalidArgument(op: "assignGradient", message: "a tensor of shape \(shape) takes \(count) values, got \(newValues.count)")
        }
        // In place only into a buffer this tensor owns: a borrowed one may be another's gradient.
        let buffer = try ownsGradient ? gradient! : backend.makeBuffer(count: count)
        try newValues.withUnsafeBufferPointer { try backend.upload($0, to: buffer) }
        gradient = buffer
        ownsGradient = true
    }
}
