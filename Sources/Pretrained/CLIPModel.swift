import Autograd
import Compute
import Foundation
import NeuralNetworks

/// One CLIP tower's transformer sizes (`text_config` or `vision_config` of `config.json`).
public struct CLIPTowerConfig: Sendable, Equatable {
    public var width, layers, heads, intermediate: Int
    public var layerNormEpsilon: Float
    public var activation: GELUDescriptor.Approximation

    init(_ config: JSONObject, defaults: (width: Int, layers: Int, heads: Int, intermediate: Int)) throws {
        width = try config.int("hidden_size", default: defaults.width)
        layers = try config.int("num_hidden_layers", default: defaults.layers, atLeast: 0)
        heads = try config.int("num_attention_heads", default: defaults.heads)
        intermediate = try config.int("intermediate_size", default: defaults.intermediate)
        layerNormEpsilon = Float(try config.double("layer_norm_eps", default: 1e-5))
        activation = try Pretrained.activation(config, default: "quick_gelu")
        guard width % heads == 0 else {
            throw PretrainedError.invalidConfig(path: config.path, key: "num_attention_heads", expected: "a divisor of hidden_size \(width)", found: "\(heads)")
        }
    }
}

/// `CLIPModel`'s sizes; the defaults are `transformers`' CLIPConfig defaults (ViT-B/32).
public struct CLIPConfig: Sendable, Equatable {
    public var text, vision: CLIPTowerConfig
    public var vocabularySize, maxPositions, eosTokenId: Int
    public var imageSize, patchSize, projection: Int

    public init(_ config: JSONObject) throws {
        let textConfig = try config.object("text_config"), visionConfig = try config.object("vision_config")
        text = try CLIPTowerConfig(textConfig, defaults: (512, 12, 8, 2048))
        vision = try CLIPTowerConfig(visionConfig, defaults: (768, 12, 12, 3072))
        vocabularySize = try textConfig.int("vocab_size", default: 49408)
        maxPositions = try textConfig.int("max_position_embeddings", default: 77)
        eosTokenId = try textConfig.int("eos_token_id", default: 2, atLeast: 0)
        imageSize = try visionConfig.int("image_size", default: 224)
        patchSize = try visionConfig.int("patch_size", default: 32)
        projection = try config.int("projection_dim", default: 512)
        guard imageSize % patchSize == 0 else {
            throw PretrainedError.invalidConfig(path: visionConfig.path, key: "patch_size", expected: "a divisor of image_size \(imageSize)", found: "\(patchSize)")
        }
    }

    public var patchesPerSide: Int { imageSize / patchSize }
}

/// A pre-norm CLIP encoder layer in Hugging Face's names.
func clipLayer(_ tower: CLIPTowerConfig, name: String, initializer: Initializer) throws -> TransformerBlock {
    try TransformerBlock(dimensions: tower.width, heads: tower.heads, hidden: tower.intermediate, name: name, keyBias: true,
                         activation: tower.activation, epsilon: tower.layerNormEpsilon, initializer: initializer)
}

func hf(clipLayer block: TransformerBlock, _ prefix: String) -> [HFParameter] {
    hf("\(prefix).self_attn.q_proj", block.attention.query) + hf("\(prefix).self_attn.k_proj", block.attention.key)
        + hf("\(prefix).self_attn.v_proj", block.attention.value) + hf("\(prefix).self_attn.out_proj", block.attention.output)
        + hf("\(prefix).layer_norm1", block.attentionNorm) + hf("\(prefix).mlp.fc1", block.mlp.up) + hf("\(prefix).mlp.fc2", block.mlp.down)
        + hf("\(prefix).layer_norm2", block.mlpNorm)
}

/// CLIP's text tower and its projection: causal pre-norm layers, the final layer norm,
/// pooling at the end-of-text token, `text_projection` (no bias).
public final class CLIPTextModel: PretrainedModule {
    public let config: CLIPConfig
    let tokens, positions: Embedding
    let layers: [TransformerBlock]
    let finalNorm: LayerNorm
    let projection: Linear

    public init(_ config: CLIPConfig, initializer: Initializer) throws {
        self.config = config
        tokens = try Embedding(count: config.vocabularySize, dimensions: config.text.width, name: "text_model.embeddings.token_embedding", initializer: initializer)
        positions = try Embedding(count: config.maxPositions, dimensions: config.text.width, name: "text_model.embeddings.position_embedding", initializer: initializer)
        layers = try (0..<config.text.layers).map { try clipLayer(config.text, name: "text_model.encoder.layers.\($0)", initializer: initializer) }
        finalNorm = try LayerNorm(dimensions: config.text.width, epsilon: config.text.layerNormEpsilon, initializer: initializer)
        projection = try Linear(config.text.width, config.projection, name: "text_projection", bias: false, initializer: initializer)
    }

    public var hfParameters: [HFParameter] {
        hf("text_model.embeddings.token_embedding", tokens) + hf("text_model.embeddings.position_embedding", positions)
            + layers.enumerated().flatMap { hf(clipLayer: $0.element, "text_model.encoder.layers.\($0.offset)") }
            + hf("text_model.final_layer_norm", finalNorm) + hf("text_projection", projection)
    }

    /// The positions pooled: `transformers`' rule — with the legacy `eos_token_id` 2, the
    /// highest id of each row (the original CLIP's end of text); otherwise its first end-of-text.
    func poolingPositions(_ ids: [Int32], batch: Int, length: Int) -> [Int32] {
        (0..<batch).map { b in
            let row = ids[(b * length)..<((b + 1) * length)]
            let position: Int
            if config.eosTokenId == 2 {
                position = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! - b * length
            } else {
                position = (row.firstIndex(of: Int32(config.eosTokenId)) ?? (b * length + length - 1)) - b * length
            }
            return Int32(b * length + position)
        }
    }

    /// `ids [B·L]` (on the host: the pooled positions are read from them, so they are never
    /// read back from the device), `mask [B·L]` → (last hidden state `[B, L, D]`, projected
    /// features `[B, P]`).
    public func callAsFunction(ids: [Int32], batch: Int, mask: [Float], on backend: any Backend) throws -> (tokens: Tensor, features: Tensor) {
        guard batch >= 1, ids.count % batch == 0, mask.count == ids.count else {
            throw PretrainedError.invalidInput("expected \(batch) rows of ids and a mask of the same size, got \(ids.count) ids and \(mask.count) mask values")
        }
        let length = ids.count / batch
        let x = try self(ids: Tensor(ids, shape: [batch, length], on: backend), mask: mask)
        let pooled = try x.reshaped([batch * length, config.text.width]).gatherRows(poolingPositions(ids, batch: batch, length: length))
        return (x, try projection(pooled))
    }

    /// `ids [B, L]` (int32), `mask [B·L]` → the last hidden state `[B, L, D]`, after the final
    /// layer norm (what `text_projection` reads at the end-of-text token).
    public func callAsFunction(ids: Tensor, mask: [Float]) throws -> Tensor {
        let (batch, length, backend) = (ids.shape[0], ids.shape[1], ids.backend)
        guard length <= config.maxPositions else {
            throw PretrainedError.invalidInput("the CLIP text model takes at most \(config.maxPositions) tokens, got \(length)")
        }
        let positionIds = try Tensor((0..<(batch * length)).map { Int32($0 % length) }, shape: [batch, length], on: backend)
        var x = try tokens.table.embedding(ids: ids) + positions.table.embedding(ids: positionIds)
        for layer in layers { x = try layer(x, keyMask: mask, causal: true) }
        return try finalNorm(x)
    }

    /// `pooled [B, D]` → the projected text features `[B, P]` (`get_text_features`).
    public func project(_ pooled: Tensor) throws -> Tensor { try projection(pooled) }
}

/// CLIP's vision tower and its projection: the patch convolution (a GEMM on unfolded
/// patches), the class token, position embeddings, `pre_layrnorm` (sic), pre-norm layers,
/// `post_layernorm` on the class token, `visual_projection` (no bias).
public final class CLIPVisionModel: PretrainedModule {
    public let config: CLIPConfig
    let patchEmbedding: Linear
    let classToken, positions: Embedding
    let preNorm, postNorm: LayerNorm
    let layers: [TransformerBlock]
    let projection: Linear

    public init(_ config: CLIPConfig, initializer: Initializer) throws {
        self.config = config
        let (width, patch) = (config.vision.width, config.patchSize)
        patchEmbedding = try Linear(3 * patch * patch, width, name: "vision_model.embeddings.patch_embedding", bias: false, initializer: initializer)
        classToken = try Embedding(count: 1, dimensions: width, name: "vision_model.embeddings.class_embedding", initializer: initializer)
        positions = try Embedding(count: config.patchesPerSide * config.patchesPerSide + 1, dimensions: width,
                                  name: "vision_model.embeddings.position_embedding", initializer: initializer)
        preNorm = try LayerNorm(dimensions: width, epsilon: config.vision.layerNormEpsilon, initializer: initializer)
        layers = try (0..<config.vision.layers).map { try clipLayer(config.vision, name: "vision_model.encoder.layers.\($0)", initializer: initializer) }
        postNorm = try LayerNorm(dimensions: width, epsilon: config.vision.layerNormEpsilon, initializer: initializer)
        projection = try Linear(width, config.projection, name: "visual_projection", bias: false, initializer: initializer)
    }

    public var hfParameters: [HFParameter] {
        let (width, patch) = (config.vision.width, config.patchSize)
        return [HFParameter("vision_model.embeddings.patch_embedding.weight", patchEmbedding.weight, fileShape: [width, 3, patch, patch], transposed: true),
                HFParameter("vision_model.embeddings.class_embedding", classToken.table, fileShape: [width])]
            + hf("vision_model.embeddings.position_embedding", positions) + hf("vision_model.pre_layrnorm", preNorm)
            + layers.enumerated().flatMap { hf(clipLayer: $0.element, "vision_model.encoder.layers.\($0.offset)") }
            + hf("vision_model.post_layernorm", postNorm) + hf("visual_projection", projection)
    }

    /// `pixels [B·3·H·W]` (CHW per image, preprocessed) → patches `[B, P, 3·p·p]`, each in the
    /// convolution weight's (channel, row, column) order.
    public func unfold(_ pixels: [Float], batch: Int) -> [Float] {
        let (size, patch, side) = (config.imageSize, config.patchSize, config.patchesPerSide)
        var out = [Float](repeating: 0, count: pixels.count)
        var index = 0
        for b in 0..<batch {
            for gy in 0..<side { for gx in 0..<side {
                for c in 0..<3 { for y in 0..<patch {
                    let start = ((b * 3 + c) * size + gy * patch + y) * size + gx * patch
                    for x in 0..<patch { out[index + x] = pixels[start + x] }
                    index += patch
                } }
            } }
        }
        return out
    }

    /// `pixels [B·3·H·W]` → (last hidden state `[B, 1+P, D]`, projected features `[B, P']`).
    public func callAsFunction(pixels: [Float], batch: Int, on backend: any Backend) throws -> (tokens: Tensor, features: Tensor) {
        let size = config.imageSize, count = config.patchesPerSide * config.patchesPerSide
        guard pixels.count == batch * 3 * size * size else {
            throw PretrainedError.invalidInput("expected \(batch) images of 3×\(size)×\(size) pixel values, got \(pixels.count) values")
        }
        let patches = try Tensor(unfold(pixels, batch: batch), shape: [batch, count, 3 * config.patchSize * config.patchSize], on: backend)
        let (tokens, pooled) = try self(patches: patches)
        return (tokens, try projection(pooled))
    }

    /// `patches [B, P, 3·p·p]` (as `unfold` gives them) → (last hidden state `[B, 1+P, D]`, the
    /// class token after `post_layernorm` `[B, D]`: what `visual_projection` projects).
    public func callAsFunction(patches: Tensor) throws -> (tokens: Tensor, pooled: Tensor) {
        let (batch, count, width, backend) = (patches.shape[0], config.patchesPerSide * config.patchesPerSide, config.vision.width, patches.backend)
        guard patches.shape == [batch, count, 3 * config.patchSize * config.patchSize] else {
            throw PretrainedError.invalidInput("expected patches [B, \(count), \(3 * config.patchSize * config.patchSize)] (\(config.imageSize)-pixel images in \(config.patchSize)-pixel patches), got \(patches.shape)")
        }
        let cls = try classToken.table.embedding(ids: try Tensor([Int32](repeating: 0, count: batch), shape: [batch, 1], on: backend))
        let positionIds = try Tensor((0..<(batch * (count + 1))).map { Int32($0 % (count + 1)) }, shape: [batch, count + 1], on: backend)
        var x = try preNorm(Tensor.concatenated([cls, patchEmbedding(patches)], axis: 1) + positions.table.embedding(ids: positionIds))
        for layer in layers { x = try layer(x) }
        let first = try x.reshaped([batch * (count + 1), width]).gatherRows((0..<batch).map { Int32($0 * (count + 1)) })
        return (x, try postNorm(first))
    }

    /// `pooled [B, D]` → the projected image features `[B, P']` (`get_image_features`).
    public func project(_ pooled: Tensor) throws -> Tensor { try projection(pooled) }
}

/// Both towers and the learned temperature (`logit_scale`, stored as its log, as in CLIP).
public final class CLIPModel: PretrainedModule {
    public let config: CLIPConfig
    public let text: CLIPTextModel
    public let vision: CLIPVisionModel
    public let logitScaleLog: Tensor

    public init(_ config: CLIPConfig, initializer: Initializer) throws {
        self.config = config
        text = try CLIPTextModel(config, initializer: initializer)
        vision = try CLIPVisionModel(config, initializer: initializer)
        logitScaleLog = try Tensor([Float(Foundation.log(1 / 0.07))], shape: [1], on: initializer.backend, requiresGradient: true)
    }

    public var hfParameters: [HFParameter] { text.hfParameters + vision.hfParameters + [HFParameter("logit_scale", logitScaleLog, fileShape: [])] }
}
