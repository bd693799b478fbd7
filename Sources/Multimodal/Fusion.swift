import Autograd
import Compute
import NeuralNetworks

/// One VLCDoC block for one modality stream `x` attending to the other stream:
/// `x ← x + IntraMSA(norm x)`, `c ← InterMCA(norm x, other)`, gate `x ← x + x ⊙ c`, then
/// `x ← x + MLP(norm x)`. The two streams may have different lengths (tokens vs patches).
public final class CrossModalBlock: Module {
    public let selfNorm, crossNorm, mlpNorm: LayerNorm
    public let selfAttention, crossAttention: MultiHeadAttention
    public let mlp: MLP

    public init(config: ModelConfig, name: String, initializer: Initializer) throws {
        selfNorm = try LayerNorm(dimensions: config.width, initializer: initializer)
        crossNorm = try LayerNorm(dimensions: config.width, initializer: initializer)
        mlpNorm = try LayerNorm(dimensions: config.width, initializer: initializer)
        selfAttention = try MultiHeadAttention(dimensions: config.width, heads: config.heads, name: "\(name).intra", initializer: initializer)
        crossAttention = try MultiHeadAttention(dimensions: config.width, heads: config.heads, name: "\(name).inter", initializer: initializer)
        mlp = try MLP(dimensions: config.width, hidden: config.hidden, name: "\(name).mlp", initializer: initializer)
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        Self.prefixed("intra_norm", selfNorm) + Self.prefixed("intra", selfAttention) + Self.prefixed("inter_norm", crossNorm)
            + Self.prefixed("inter", crossAttention) + Self.prefixed("mlp_norm", mlpNorm) + Self.prefixed("mlp", mlp)
    }


    /// `mask` masks this stream's keys in self-attention, `otherMask` the other's in cross-attention.
    public func callAsFunction(_ x: Tensor, mask: [Float]?, other: Tensor, otherMask: [Float]?) throws -> Tensor {
        var x = try x + selfAttention(selfNorm(x), keyMask: mask)
        let context = try crossAttention(crossNorm(x), context: other, keyMask: otherMask)
        x = try x + x * context
        return try x + mlp(mlpNorm(x))
    }
}

/// How the fused text stream is pooled into one vector.
public enum FusedTextPooling: Sendable {
    /// The masked mean over tokens (VLCDoC).
    case mean
    /// The first token's fused state (`[CLS]`), as ALBEF and BLIP read their matching head:
    /// attention lets it weigh tokens by position, which a mean cannot, so "a circle and a
    /// square" and "a square and a circle" stay apart.
    case firstToken
}

/// Cross-modal fusion: per layer, a text block attending to the image and an image block
/// attending to the text (both read the previous layer's streams), then each stream pooled
/// (text by `FusedTextPooling`, image by its mean) and the two concatenated: `[B, 2D]`.
public final class FusionEncoder: Module {
    public let textBlocks, imageBlocks: [CrossModalBlock]

    public init(config: ModelConfig, initializer: Initializer) throws {
        textBlocks = try (0..<config.fusionLayers).map { try CrossModalBlock(config: config, name: "fusion.text.\($0)", initializer: initializer) }
        imageBlocks = try (0..<config.fusionLayers).map { try CrossModalBlock(config: config, name: "fusion.image.\($0)", initializer: initializer) }
    }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        textBlocks.enumerated().flatMap { Self.prefixed("text.\($0.offset)", $0.element) }
            + imageBlocks.enumerated().flatMap { Self.prefixed("image.\($0.offset)", $0.element) }
    }


    /// `text [B, L, D]` with `textMask [B·L]`, `image [B, P, D]` → (pooled `[B, 2D]`, text stream, image stream).
    public func callAsFunction(text: Tensor, textMask: [Float], image: Tensor, textPooling: FusedTextPooling) throws -> (pooled: Tensor, text: Tensor, image: Tensor) {
        var (t, v) = (text, image)
        for (textBlock, imageBlock) in zip(textBlocks, imageBlocks) {
            (t, v) = (try textBlock(t, mask: textMask, other: v, otherMask: nil), try imageBlock(v, mask: nil, other: t, otherMask: textMask))
        }
        let pooledText = try textPooling == .firstToken ? firstToken(t) : maskedMean(t, mask: textMask)
        let pooled = try Tensor.concatenated([pooledText, maskedMean(v, mask: nil)], axis: 1)
        return (pooled, t, v)
    }
}

/// The mean over the positions of `x [B, L, D]` whose `mask [B·L]` is nonzero (all when nil) →
/// `[B, D]`, as one batched GEMM with the averaging weights `[B, 1, L]`.
public func maskedMean(_ x: Tensor, mask: [Float]?) throws -> Tensor {
    let (batch, length, width) = (x.shape[0], x.shape[1], x.shape[2])
    var weights = [Float](repeating: 1 / Float(length), count: batch * length)
    if let mask {
        for b in 0..<batch {
            let kept = mask[(b * length)..<((b + 1) * length)].filter { $0 != 0 }.count
            for l in 0..<length { weights[b * length + l] = mask[b * length + l] != 0 ? 1 / Float(max(kept, 1)) : 0 }
        }
    }
    return try Tensor(weights, shape: [batch, 1, length], on: x.backend).matmul(x).reshaped([batch, width])
}
