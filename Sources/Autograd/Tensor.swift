import Compute

/// A float32 array on a backend, and — while recording — the op that produced it, so
/// `backward()` can walk the tape in reverse.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let backend: any Backend
    /// The values (read them with `values()`; they stay on the backend).
    public let storage: Buffer
    /// Whether gradients flow to this tensor (parameters, and what is computed from them).
    public let requiresGradient: Bool
    /// The accumulated gradient after `backward()`, same shape.
    public private(set) var gradient: Buffer?
    /// The recorded op, nil for leaves and for tensors made while not recording.
    let node: Node?

    public var count: Int { shape.reduce(1, *) }

    init(shape: [Int], backend: any Backend, storage: Buffer, requiresGradient: Bool, node: Node? = nil) {
        self.shape = shape
        self.backend = backend
        self.storage = storage
        self.requiresGradient = requiresGradient
        self.node = node
    }

    /// A leaf holding `values`.
    public convenience init(_ values: [Float], shape: [Int], on backend: any Backend, requiresGradient: Bool = false) throws {
        guard shape.reduce(1, *) == values.count else {
            throw BackendError.invalidArgument(op: "tensor", message: "shape \(shape) holds \(shape.reduce(1, *)) values, got \(values.count)")
        }
        self.init(shape: shape, backend: backend, storage: try backend.makeBuffer(values), requiresGradient: requiresGradient)
    }

    /// The values, read back from the backend.
    public func values() throws -> [Float] { try backend.read(storage, count: count) }

    /// The gradient's values (zeros when none flowed here).
    public func gradientValues() throws -> [Float] {
        guard let gradient else { return [Float](repeating: 0, count: count) }
        return try backend.read(gradient, count: count)
    }

    /// The same values, cut from the tape: no gradient flows through (the ITA teacher view).
    public func detached() -> Tensor {
        Tensor(shape: shape, backend: backend, storage: storage, requiresGradient: false)
    }

    /// The same values under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        guard newShape.reduce(1, *) == count else {
            throw BackendError.invalidArgument(op: "reshape", message: "cannot reshape \(shape) (\(count) values) to \(newShape)")
        }
        return record(shape: newShape, storage: storage, inputs: [self]) { gradient in [gradient] }
    }

    /// Clears the accumulated gradient (before the next step).
    public func zeroGradient() { gradient = nil }

    func accumulate(_ incoming: Buffer) throws {
        if let gradient {
            try backend.accumulate(incoming, into: gradient, count: count)
        } else {
            let fresh = try backend.makeBuffer(count: count)
            try backend.copy(incoming, to: fresh, count: count)
            gradient = fresh
        }
    }

    /// The result of an op: recorded with its backward rule when recording and any input needs
    /// a gradient. `backward` maps the output's gradient to one per input (nil: none).
    func record(shape: [Int], storage: Buffer, inputs: [Tensor], backward: @escaping (Buffer) throws -> [Buffer?]) -> Tensor {
        let needsGradient = Autograd.isRecording && inputs.contains(where: \.requiresGradient)
        return Tensor(shape: shape, backend: backend, storage: storage, requiresGradient: needsGradient,
                      node: needsGradient ? Node(inputs: inputs, backward: backward) : nil)
    }
}

/// One recorded op: its inputs and how the output's gradient becomes theirs.
final class Node {
    let inputs: [Tensor]
    let backward: (Buffer) throws -> [Buffer?]

    init(inputs: [Tensor], backward: @escaping (Buffer) throws -> [Buffer?]) {
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether ops are being recorded, and scopes that turn it off.
public enum Autograd {
    @TaskLocal static var noGradient = false

    public static var isRecording: Bool { !noGradient }

    /// Runs `body` without recording: nothing made inside has a gradient.
    public static func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
        try $noGradient.withValue(true, operation: body)
    }
}

extension Tensor {
    /// Reverse-mode differentiation from this scalar: every tensor it depends on that requires
    /// a gradient gets `d self / d tensor` added to its `gradient` (accumulated across uses).
    public func backward() throws {
        guard count == 1 else {
            throw BackendError.invalidArgument(op: "backward", message: "backward() starts from a scalar, got shape \(shape)")
        }
        // Topological order by depth-first search, then walk it in reverse.
        var order: [Tensor] = [], visited = Set<ObjectIdentifier>()
        func visit(_ tensor: Tensor) {
            guard tensor.requiresGradient, visited.insert(ObjectIdentifier(tensor)).inserted else { return }
            tensor.node?.inputs.forEach(visit)
            order.append(tensor)
        }
        visit(self)
        try accumulate(try backend.makeBuffer([1]))
        for tensor in order.reversed() {
            guard let node = tensor.node, let gradient = tensor.gradient else { continue }
            for (input, inputGradient) in zip(node.inputs, try node.backward(gradient)) where input.requiresGradient {
                if let inputGradient { try input.accumulate(inputGradient) }
            }
        }
    }
}
