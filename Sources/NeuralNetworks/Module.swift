import Autograd
import CLRuntime
import Compute

/// A layer: parameters under stable dotted names, called with `callAsFunction`. The one list of
/// what a module holds is `namedParameters` (children's under their prefix): checkpoints,
/// optimizers and clipping all read it, in its order.
public protocol Module: AnyObject {
    /// Parameters of this module and its children, named relative to it
    /// (`layers.0.attention.query.weight`).
    var namedParameters: [(name: String, tensor: Tensor)] { get }
}

extension Module {
    public var parameters: [Tensor] { namedParameters.map(\.tensor) }


    /// Children's parameters under `prefix.`.
    public static func prefixed(_ prefix: String, _ module: some Module) -> [(name: String, tensor: Tensor)] {
        module.namedParameters.map { ("\(prefix).\($0.name)", $0.tensor) }
    }
}

/// Seeded initialisation: each value a pure function of (seed, parameter name, index), through
/// Philox — the same on every backend.
public struct Initializer: Sendable {
    public let seed: UInt64
    public let backend: any Backend
    /// Zeros instead of random values: for parameters a pretrained file overwrites at once
    /// (drawing 20 M Philox values for them took a sixth of `embed`'s run).
    public let placeholders: Bool

    public init(seed: UInt64, backend: any Backend) {
        self.seed = seed
        self.backend = backend
        placeholders = false
    }

    private init(placeholdersOn backend: any Backend) {
        (seed, self.backend, placeholders) = (0, backend, true)
    }

    /// Parameters that will all be loaded from a file.
    public static func placeholders(on backend: any Backend) -> Initializer { Initializer(placeholdersOn: backend) }

    /// Uniform in [−bound, bound) (PyTorch's default for linear layers uses 1/√fan_in).
    public func uniform(_ shape: [Int], bound: Float, name: String) throws -> Tensor {
        if placeholders { return try constant(shape, value: 0) }
        let stream = UInt32(truncatingIfNeeded: FNV1a.hash(name.utf8))
        let values = (0..<shape.reduce(1, *)).map { bound * (2 * Philox.uniform(seed: seed, step: stream, index: UInt64($0)) - 1) }
        return try Tensor(values, shape: shape, on: backend, requiresGradient: true)
    }

    public func constant(_ shape: [Int], value: Float) throws -> Tensor {
        try Tensor([Float](repeating: value, count: shape.reduce(1, *)), shape: shape, on: backend, requiresGradient: true)
    }
}
