import Autograd
import Compute
import Foundation
import NeuralNetworks

/// The sizes of a BERT-shaped encoder, from `config.json` (BertModel: BERT, MiniLM, …).
public struct BertConfig: Sendable, Equatable {
    public var vocabularySize, width, layers, heads, intermediate, maxPositions, typeVocabularySize: Int
    public var layerNormEpsilon: Float
    public var activation: GELUDescriptor.Approximation
    public var padTokenId: Int

    public init(_ config: JSONObject) throws {
        vocabularySize = try config.int("vocab_size")
        width = try config.int("hidden_size")
        layers = try config.int("num_hidden_layers", atLeast: 0)
        heads = try config.int("num_attention_heads")
        intermediate = try config.int("intermediate_size")
        maxPositions = try config.int("max_position_embeddings")
        typeVocabularySize = try config.int("type_vocab_size", default: 2)
        layerNormEpsilon = Float(try config.double("layer_norm_eps", default: 1e-12))
        activation = try Pretrained.activation(config, default: "gelu")
        padTokenId = try config.int("pad_token_id", default: 0, atLeast: 0)
        let positions = try config.string("position_embedding_type", default: "absolute")
        guard positions == "absolute" else {
            throw PretrainedError.invalidConfig(path: config.path, key: "position_embedding_type", expected: "\"absolute\"", found: positions)
        }
        guard width % heads == 0 else {
            throw PretrainedError.invalidConfig(path: config.path, key: "num_attention_heads", expected: "a divisor of hidden_size \(width)", found: "\(heads)")
        }
    }
}

/// One post-norm BERT layer: `x = LN(x + attention(x))`, then `x = LN(x + W₂·gelu(W₁·x))`.
final class BertLayer: PretrainedModule {
    let attention: MultiHeadAttention
    let attentionNorm, outputNorm: LayerNorm
    let intermediate, output: Linear
    let activation: GELUDescriptor.Approximation

    init(_ config: BertConfig, name: String, initializer: Initializer) throws {
        attention = try MultiHeadAttention(dimensions: config.width, heads: config.heads, name: "\(name).attention", keyBias: true, initializer: initializer)
        attentionNorm = try LayerNorm(dimensions: config.width, epsilon: config.layerNormEpsilon, initializer: initializer)
        intermediate = try Linear(config.width, config.intermediate, name: "\(name).intermediate", initializer: initializer)
        output = try Linear(config.intermediate, config.width, name: "\(name).output", initializer: initializer)
        outputNorm = try LayerNorm(dimensions: config.width, epsilon: config.layerNormEpsilon, initializer: initializer)
        activation = config.activation
    }

    var hfParameters: [HFParameter] {
        hf("attention.self.query", attention.query) + hf("attention.self.key", attention.key) + hf("attention.self.value", attention.value)
            + hf("attention.output.dense", attention.output) + hf("attention.output.LayerNorm", attentionNorm)
            + hf("intermediate.dense", intermediate) + hf("output.dense", output) + hf("output.LayerNorm", outputNorm)
    }

    func callAsFunction(_ x: Tensor, keyMask: [Float]) throws -> Tensor {
        let h = try attentionNorm(x + attention(x, keyMask: keyMask))
        return try outputNorm(h + output(intermediate(h).gelu(approximation: activation)))
    }
}

/// `BertModel` as `transformers` computes it (eval mode: no dropout): word, position and
/// token-type embeddings, their layer norm, post-norm layers; the pooler `tanh(W·h_[CLS] + b)`.
public final class BertModel: PretrainedModule {
    public let config: BertConfig
    let words, positions, tokenTypes: Embedding
    let embeddingNorm: LayerNorm
    let layers: [BertLayer]
    let pooler: Linear

    public init(_ config: BertConfig, initializer: Initializer) throws {
        self.config = config
        words = try Embedding(count: config.vocabularySize, dimensions: config.width, name: "embeddings.word_embeddings", initializer: initializer)
        positions = try Embedding(count: config.maxPositions, dimensions: config.width, name: "embeddings.position_embeddings", initializer: initializer)
        tokenTypes = try Embedding(count: config.typeVocabularySize, dimensions: config.width, name: "embeddings.token_type_embeddings", initializer: initializer)
        embeddingNorm = try LayerNorm(dimensions: config.width, epsilon: config.layerNormEpsilon, initializer: initializer)
        layers = try (0..<config.layers).map { try BertLayer(config, name: "encoder.layer.\($0)", initializer: initializer) }
        pooler = try Linear(config.width, config.width, name: "pooler.dense", initializer: initializer)
    }

    public var hfParameters: [HFParameter] {
        hf("embeddings.word_embeddings", words) + hf("embeddings.position_embeddings", positions) + hf("embeddings.token_type_embeddings", tokenTypes)
            + hf("embeddings.LayerNorm", embeddingNorm)
            + layers.enumerated().flatMap { index, layer in layer.hfParameters.map { HFParameter("encoder.layer.\(index).\($0.name)", $0.tensor, fileShape: $0.fileShape, transposed: $0.transposed) } }
            + hf("pooler.dense", pooler)
    }

    /// `ids [B, L]` (int32), `mask [B·L]` (1 = token, 0 = padding) → the last hidden state `[B, L, D]`.
    public func callAsFunction(ids: Tensor, mask: [Float]) throws -> Tensor {
        let (batch, length, backend) = (ids.shape[0], ids.shape[1], ids.backend)
        guard length <= config.maxPositions else {
            throw PretrainedError.invalidInput("the model takes at most \(config.maxPositions) tokens, got \(length)")
        }
        let positionIds = try Tensor((0..<(batch * length)).map { Int32($0 % length) }, shape: [batch, length], on: backend)
        let typeIds = try Tensor([Int32](repeating: 0, count: batch * length), shape: [batch, length], on: backend)
        var x = try embeddingNorm(words.table.embedding(ids: ids) + positions.table.embedding(ids: positionIds) + tokenTypes.table.embedding(ids: typeIds))
        for layer in layers { x = try layer(x, keyMask: mask) }
        return x
    }

    /// BERT's pooler on the [CLS] rows `[B, D]`: `tanh(W·h + b)` (tanh on the host: only
    /// embedding uses it, never training).
    public func pooled(cls: Tensor) throws -> [Float] {
        try pooler(cls).values().map { Foundation.tanh($0) }
    }
}
