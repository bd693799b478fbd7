import Autograd
import Compute
import NeuralNetworks

/// `0, 1, …, length−1` for each of `batch` sequences: the ids of the position embeddings.
func positionIds(batch: Int, length: Int, on backend: any Backend) throws -> Tensor {
    try Tensor((0..<(batch * length)).map { Int32($0 % length) }, shape: [batch, length], on: backend)
}

/// Row 0 of each sequence of `x [B, L, D]` → `[B, D]` ([CLS] pooling).
func firstToken(_ x: Tensor) throws -> Tensor {
    let (batch, length, width) = (x.shape[0], x.shape[1], x.shape[2])
    return try x.reshaped([batch * length, width]).gatherRows((0..<batch).map { Int32($0 * length) })
}

/// A stack of pre-norm transformer blocks and a final layer norm.
public final class TransformerStack: Module {
    public let blocks: [TransformerBlock]
    public let norm: LayerNorm

    public init(layers: Int, config: ModelConfig, name: String, initializer: Initializer) throws {
        blocks = try (0..<layers).map {
            try TransformerBlock(dimensions: config.width, heads: config.heads, hidden: config.hidden, name: "\(name).layers.\($0)", initializer: initializer)
        }
        norm = try LayerNorm(dimensions: config.width, initializer: initializer)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        blocks.enumerated().flatMap { Self.prefixed("layers.\($0.offset)", $0.element) } + Self.prefixed("norm", norm)
    }


    public func callAsFunction(_ x: Tensor, keyMask: [Float]? = nil) throws -> Tensor {
        var x = x
        for block in blocks { x = try block(x, keyMask: keyMask) }
        return try norm(x)
    }
}

/// Text encoder: token + position embeddings, pre-norm blocks; per-token outputs `[B, L, D]`
/// (tagging, local objectives) and the [CLS] vector `[B, D]`.
public final class TextEncoder: Module {
    public let tokens, positions: Embedding
    public let stack: TransformerStack

    public init(config: ModelConfig, initializer: Initializer) throws {
        tokens = try Embedding(count: config.vocabularySize, dimensions: config.width, name: "text.tokens", initializer: initializer)
        positions = try Embedding(count: config.maxTextLength, dimensions: config.width, name: "text.positions", initializer: initializer)
        stack = try TransformerStack(layers: config.textLayers, config: config, name: "text", initializer: initializer)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        Self.prefixed("tokens", tokens) + Self.prefixed("positions", positions) + stack.namedParameters
    }


    /// `ids [B, L]` (int32), `mask [B·L]` (1 = token, 0 = padding) → (tokens, cls).
    public func callAsFunction(ids: Tensor, mask: [Float]) throws -> (tokens: Tensor, cls: Tensor) {
        let (batch, length) = (ids.shape[0], ids.shape[1])
        let x = try tokens.table.embedding(ids: ids) + positions.table.embedding(ids: positionIds(batch: batch, length: length, on: ids.backend))
        let out = try stack(x, keyMask: mask)
        return (out, try firstToken(out))
    }
}

/// ViT: patches (unfolded on the host, `[B, P, 3·p·p]`) through one GEMM, a learned [CLS] token
/// in front, position embeddings, pre-norm blocks; per-patch outputs `[B, P, D]` (image
/// locations for local MI) and the [CLS] vector `[B, D]`.
public final class VisionTransformer: Module {
    public let patchEmbedding: Linear
    public let classToken, positions: Embedding
    public let stack: TransformerStack

    public init(config: ModelConfig, initializer: Initializer) throws {
        patchEmbedding = try Linear(config.patchFeatures, config.width, name: "image.patch", initializer: initializer)
        classToken = try Embedding(count: 1, dimensions: config.width, name: "image.cls", initializer: initializer)
        positions = try Embedding(count: config.patchesPerImage + 1, dimensions: config.width, name: "image.positions", initializer: initializer)
        stack = try TransformerStack(layers: config.imageLayers, config: config, name: "image", initializer: initializer)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        Self.prefixed("patch", patchEmbedding) + Self.prefixed("cls", classToken) + Self.prefixed("positions", positions) + stack.namedParameters
    }


    public func callAsFunction(patches: Tensor) throws -> (patches: Tensor, cls: Tensor) {
        let (batch, count, backend) = (patches.shape[0], patches.shape[1], patches.backend)
        let cls = try classToken.table.embedding(ids: try Tensor([Int32](repeating: 0, count: batch), shape: [batch, 1], on: backend))
        let x = try Tensor.concatenated([cls, patchEmbedding(patches)], axis: 1)
            + positions.table.embedding(ids: positionIds(batch: batch, length: count + 1, on: backend))
        let out = try stack(x)
        return (try out.sliced(axis: 1, 1..<(count + 1)), try firstToken(out))
    }
}
