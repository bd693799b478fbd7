import Autograd

/// Central differences `(L(x + h) − L(x − h)) / 2h` of the scalar `loss` in the elements
/// `indices` of `tensor`, each evaluated without recording gradients; `tensor` is restored.
public func centralDifferences(_ tensor: Tensor, indices: [Int], step: Float = 1e-2, loss: () throws -> Tensor) throws -> [Double] {
    let original = try tensor.values()
    defer { try? tensor.assign(original) }
    func value(_ index: Int, _ delta: Float) throws -> Double {
        var shifted = original
        shifted[index] += delta
        try tensor.assign(shifted)
        return Double(try Autograd.withoutGradients { try loss() }.values()[0])
    }
    return try indices.map { (try value($0, step) - value($0, -step)) / Double(2 * step) }
}
