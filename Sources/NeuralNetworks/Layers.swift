import Autograd
import Compute

/// `y = x·W + b` over the last axis: `x [..., in] → [..., out]`, `W [in, out]`.
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inputs: Int, _ outputs: Int, name: String, bias hasBias: Bool = true, initializer: Initializer) throws {
        let bound = 1 / Float(inputs).squareRoot()
        weight = try initializer.uniform([inputs, outputs], bound: bound, name: "\(name).weight")
        bias = hasBias ? try initializer.uniform([outputs], bound: bound, name: "\(name).bias") : nil
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", weight)] + (bias.map { [("bias", $0)] } ?? []) }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (inputs, outputs) = (weight.shape[0], weight.shape[1])
        guard x.shape.last == inputs else {
            throw BackendError.invalidArgument(op: "linear", message: "input must be [..., \(inputs)], got \(x.shape)")
        }
        let rows = x.count / inputs
        let product = try x.reshaped([rows, inputs]).matmul(weight)
        return try (bias.map { try product.addingBias($0) } ?? product).reshaped(Array(x.shape.dropLast()) + [outputs])
    }
}

/// A table of `count` vectors of `dimensions`, looked up by integer ids.
public final class Embedding: Module {
    public let table: Tensor

    public init(count: Int, dimensions: Int, name: String, initializer: Initializer) throws {
        table = try initializer.uniform([count, dimensions], bound: 1, name: "\(name).weight")
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", table)] }

    public func callAsFunction(_ ids: [Int32], shape: [Int]) throws -> Tensor { try table.embedding(ids: ids, shape: shape) }
}

/// Layer normalisation over the last axis, with a learned scale (1) and shift (0).
public final class LayerNorm: Module {
    public let weight: Tensor
    public let bias: Tensor
    public let epsilon: Float

    public init(dimensions: Int, epsilon: Float = 1e-5, initializer: Initializer) throws {
        weight = try initializer.constant([dimensions], value: 1)
        bias = try initializer.constant([dimensions], value: 0)
        self.epsilon = epsilon
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { [("weight", weight), ("bias", bias)] }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try x.layerNorm(weight: weight, bias: bias, epsilon: epsilon) }
}

/// `Linear → GELU → Linear` (GELU exact, or in the form a pretrained model was trained with).
public final class MLP: Module {
    public let up: Linear
    public let down: Linear
    public let activation: GELUDescriptor.Approximation

    public init(dimensions: Int, hidden: Int, name: String, activation: GELUDescriptor.Approximation = .none, initializer: Initializer) throws {
        up = try Linear(dimensions, hidden, name: "\(name).up", initializer: initializer)
        down = try Linear(hidden, dimensions, name: "\(name).down", initializer: initializer)
        self.activation = activation
    }

    public var namedParameters: [(name: String, tensor: Tensor)] { Self.prefixed("up", up) + Self.prefixed("down", down) }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try down(up(x).gelu(approximation: activation)) }
}

/// Multi-head attention, self (`context` nil) or cross: `x [B, Lq, C]`, `context [B, Lk, C]`,
/// an optional key-padding mask `[B·Lk]` (nonzero keeps), optional causal masking.
public final class MultiHeadAttention: Module {
    public let heads: Int
    public let query, key, value, output: Linear

    /// `keyBias`: pretrained models (BERT, CLIP) have one; models trained here do not (below).
    public init(dimensions: Int, heads: Int, name: String, keyBias: Bool = false, initializer: Initializer) throws {
        guard dimensions % heads == 0 else {
            throw BackendError.invalidArgument(op: "attention", message: "the width \(dimensions) must divide into \(heads) heads")
        }
        self.heads = heads
        query = try Linear(dimensions, dimensions, name: "\(name).query", initializer: initializer)
        // No key bias (as in Whisper): it adds q·b to every score of a row, which softmax
        // ignores, so its gradient is exactly 0 in exact arithmetic and pure rounding noise in
        // float32 — noise that Adam would scale up into steps of the full learning rate.
        key = try Linear(dimensions, dimensions, name: "\(name).key", bias: keyBias, initializer: initializer)
        value = try Linear(dimensions, dimensions, name: "\(name).value", initializer: initializer)
        output = try Linear(dimensions, dimensions, name: "\(name).output", initializer: initializer)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        Self.prefixed("query", query) + Self.prefixed("key", key) + Self.prefixed("value", value) + Self.prefixed("output", output)
    }


    public func callAsFunction(_ x: Tensor, context: Tensor? = nil, keyMask: [Float]? = nil, causal: Bool = false) throws -> Tensor {
        let source = context ?? x
        guard x.shape.count == 3, source.shape.count == 3 else {
            throw BackendError.invalidArgument(op: "attention", message: "inputs must be [B, L, C], got \(x.shape) and \(source.shape)")
        }
        let (batch, width) = (x.shape[0], x.shape[2])
        // [B, L, C] → [B, L, H, C/H] → [B, H, L, C/H]
        func split(_ t: Tensor) throws -> Tensor { try t.reshaped([batch, t.shape[1], heads, width / heads]).swappingAxes12() }
        let attended = try split(query(x)).attention(keys: split(key(source)), values: split(value(source)), keyMask: keyMask, causal: causal)
        return try output(attended.swappingAxes12().reshaped([batch, x.shape[1], width]))
    }
}

/// Pre-norm transformer block: `x + attention(norm(x))`, then `x + mlp(norm(x))`.
public final class TransformerBlock: Module {
    public let attentionNorm: LayerNorm
    public let attention: MultiHeadAttention
    public let mlpNorm: LayerNorm
    public let mlp: MLP

    /// The defaults are this project's own models; a pretrained model's config sets the rest.
    public init(dimensions: Int, heads: Int, hidden: Int, name: String, keyBias: Bool = false, activation: GELUDescriptor.Approximation = .none,
                epsilon: Float = 1e-5, initializer: Initializer) throws {
        attentionNorm = try LayerNorm(dimensions: dimensions, epsilon: epsilon, initializer: initializer)
        attention = try MultiHeadAttention(dimensions: dimensions, heads: heads, name: "\(name).attention", keyBias: keyBias, initializer: initializer)
        mlpNorm = try LayerNorm(dimensions: dimensions, epsilon: epsilon, initializer: initializer)
        mlp = try MLP(dimensions: dimensions, hidden: hidden, name: "\(name).mlp", activation: activation, initializer: initializer)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        Self.prefixed("attention_norm", attentionNorm) + Self.prefixed("attention", attention) + Self.prefixed("mlp_norm", mlpNorm)
            + Self.prefixed("mlp", mlp)
    }


    public func callAsFunction(_ x: Tensor, keyMask: [Float]? = nil, causal: Bool = false) throws -> Tensor {
        let h = try x + attention(attentionNorm(x), keyMask: keyMask, causal: causal)
        return try h + mlp(mlpNorm(h))
    }
}
