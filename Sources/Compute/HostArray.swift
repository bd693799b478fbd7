/// A float32 array in host memory, C order: what ops take from files and hand back.
public struct HostArray: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    /// - Precondition: `values.count` equals the product of `shape` (the callers here check it
    ///   when the data comes from outside).
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    public var count: Int { values.count }

    /// The multi-index of the first NaN or infinity, or nil when every value is finite.
    public func firstNonFiniteIndex() -> [Int]? {
        guard let flat = values.firstIndex(where: { !$0.isFinite }) else { return nil }
        var index = [Int](repeating: 0, count: shape.count)
        var rest = flat
        for axis in shape.indices.reversed() {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return index
    }
}
