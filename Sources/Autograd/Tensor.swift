import Compute

/// A float32 (or int32: token ids, labels) array on a backend, and — while recording — the op
/// that produced it, so `backward()` can walk the tape in reverse.
public final class Tensor {
    public enum ElementType: String, Sendable { case float32, int32 }

    public let shape: [Int]
    /// float32 for everything differentiable; int32 tensors hold ids and class targets and
    /// never require a gradient.
    public let elementType: ElementType
    public let backend: any Backend
    /// The values (read them with `values()`; they stay on the backend).
    public let storage: Buffer
    /// Whether gradients flow to this tensor (parameters, and what is computed from them).
    public let requiresGradient: Bool
    /// The accumulated gradient after `backward()`, same shape.
    public internal(set) var gradient: Buffer?
    /// Whether `gradient` is this tensor's own buffer, which may be updated in place. An
    /// intermediate tensor's first incoming gradient is borrowed: the same buffer may be the
    /// gradient of other tensors too (an add hands one buffer to both inputs, a reshape passes
    /// it through), and backward rules only read it.
    var ownsGradient = false
    /// The recorded op, nil for leaves and for tensors made while not recording.
    let node: Node?
    /// For int32 leaves made from host values: those values, so ops that must check ids on the
    /// host (embedding rows, class targets) do not read them back from the device every step.
    private var hostIntValues: [Int32]?

    public var count: Int { shape.reduce(1, *) }

    init(shape: [Int], backend: any Backend, storage: Buffer, requiresGradient: Bool, node: Node? = nil, elementType: ElementType = .float32) {
        self.shape = shape
        self.elementType = elementType
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

    /// An int32 leaf (token ids, class targets, labels): no gradient flows to it.
    public convenience init(_ values: [Int32], shape: [Int], on backend: any Backend) throws {
        guard shape.reduce(1, *) == values.count else {
            throw BackendError.invalidArgument(op: "tensor", message: "shape \(shape) holds \(shape.reduce(1, *)) values, got \(values.count)")
        }
        self.init(shape: shape, backend: backend, storage: try backend.makeBuffer(values), requiresGradient: false, elementType: .int32)
        hostIntValues = values
    }

    /// The values, read back from the backend.
    public func values() throws -> [Float] {
        try requireElementType(.float32, "values")
        return try backend.read(storage, count: count)
    }

    /// Overwrites the values in place (loading a checkpoint, setting a parameter).
    public func assign(_ newValues: [Float]) throws {
        try requireElementType(.float32, "assign")
        guard newValues.count == count else {
            throw BackendError.invalidArgument(op: "assign", message: "a tensor of shape \(shape) takes \(count) values, got \(newValues.count)")
        }
        try newValues.withUnsafeBufferPointer { try backend.upload($0, to: storage) }
    }

    /// The values of an int32 tensor, read back from the backend.
    public func intValues() throws -> [Int32] {
        try requireElementType(.int32, "intValues")
        return try hostIntValues ?? backend.readInt32(storage, count: count)
    }

    /// Throws unless this tensor holds `expected` elements (ops name themselves in the error).
    func requireElementType(_ expected: ElementType, _ op: String) throws {
        guard elementType == expected else {
            throw BackendError.invalidArgument(op: op, message: "expected a \(expected.rawValue) tensor, got \(elementType.rawValue) of shape \(shape)")
        }
    }

    /// The gradient's values (zeros when none flowed here).
    public func gradientValues() throws -> [Float] {
        guard let gradient else { return [Float](repeating: 0, count: count) }
        return try backend.read(gradient, count: count)
    }

    /// The same values, cut from the tape: no gradient flows through (the ITA teacher view).
    public func detached() -> Tensor {
        Tensor(shape: shape, backend: backend, storage: storage, requiresGradient: false, elementType: elementType)
    }

    /// The same values under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        guard newShape.reduce(1, *) == count else {
            throw BackendError.invalidArgument(op: "reshape", message: "cannot reshape \(shape) (\(count) values) to \(newShape)")
        }
        return record(shape: newShape, storage: storage, inputs: [self], elementType: elementType) { gradient in [gradient] }
    }

    /// Clears the accumulated gradient (before the next step).
    public func zeroGradient() {
        gradient = nil
        ownsGradient = false
    }

    func accumulate(_ incoming: Buffer) throws {
        if let gradient, ownsGradient {
            try backend.accumulate(incoming, into: gradient, count: count)
        } else if let gradient {
            let sum = try backend.makeBuffer(count: count)
            try backend.add(gradient, incoming, into: sum, count: count)
            self.gradient = sum
            ownsGradient = true
        } else if node == nil {
            // A leaf (a parameter) keeps a copy of its own: optimizers, clipping and the
            // data-parallel average update it in place.
            let fresh = try backend.makeBuffer(count: count)
            try backend.copy(incoming, to: fresh, count: count)
            gradient = fresh
            ownsGradient = true
        } else {
            // Borrowed, not copied: an intermediate's gradient is only read.
            gradient = incoming
        }
    }

    /// The result of an op: recorded with its backward rule when recording and any input needs
    /// a gradient. `backward` maps the output's gradient to one per input (nil: none).
    func record(shape: [Int], storage: Buffer, inputs: [Tensor], elementType: ElementType = .float32,
                backward: @escaping (Buffer) throws -> [Buffer?]) -> Tensor {
        let needsGradient = Autograd.isRecording && inputs.contains(where: \.requiresGradient)
        return Tensor(shape: shape, backend: backend, storage: storage, requiresGradient: needsGradient,
                      node: needsGradient ? Node(inputs: inputs, backward: backward) : nil, elementType: elementType)
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
        try accumulate(try backend.makeBuffer([Float(1)]))
        for tensor in order.reversed() {
            guard let node = tensor.node, let gradient = tensor.gradient else { continue }
            for (input, inputGradient) in zip(node.inputs, try node.backward(gradient)) where input.requiresGradient {
                if let inputGradient { try input.accumulate(inputGradient) }
            }
        }
    }
}
