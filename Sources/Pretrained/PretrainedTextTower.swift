import Autograd
import Compute
import NeuralNetworks

/// A pretrained text model (BERT-family, or CLIP's text transformer) as a recipe's text tower:
/// per-token outputs `[B, L, D]` (fusion, tagging) and one pooled vector `[B, D]` (contrastive
/// heads), both differentiable, with the parameters under their `transformers` names.
public final class PretrainedTextTower: PretrainedModule {
    public let model: any PretrainedTextModel
    /// One of the model's `TextModelConfig.trainablePoolings`.
    public let pooling: Pooling

    public init(_ model: any PretrainedTextModel, pooling: Pooling, allowed: [Pooling]) throws {
        guard allowed.contains(pooling) else {
            throw PretrainedError.invalidInput("this text tower pools by \(allowed.map(\.rawValue).joined(separator: " or ")) while training, got \(pooling.rawValue)")
        }
        (self.model, self.pooling) = (model, pooling)
    }

    public var hfParameters: [HFParameter] { model.hfParameters }

    /// Width of the per-token outputs.
    public var width: Int { model.width }

    public func callAsFunction(ids: Tensor, mask: [Float]) throws -> (tokens: Tensor, pooled: Tensor) {
        let tokens = try model(ids: ids, mask: mask)
        return (tokens, try pool(tokens, ids: ids, mask: mask))
    }

    /// `tokens [B, L, D]` (the model's outputs for `ids`, or a linear map of them) → `[B, D]`
    /// by this tower's pooling, differentiable: `cls` (row 0), the end of the text (the model's
    /// `endOfTextPositions`), or the masked mean, one GEMM with a constant `[B, B·L]` matrix of
    /// mask / count.
    public func pool(_ tokens: Tensor, ids: Tensor, mask: [Float]) throws -> Tensor {
        let (batch, length, width) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
        let flat = try tokens.reshaped([batch * length, width])
        if pooling == .cls { return try flat.gatherRows((0..<batch).map { Int32($0 * length) }) }
        if pooling == .lastToken { return try flat.gatherRows(model.endOfTextPositions(ids: ids, mask: mask)) }
        var weights = [Float](repeating: 0, count: batch * batch * length)
        for b in 0..<batch {
            let count = max(1, (0..<length).filter { mask[b * length + $0] != 0 }.count)
            for t in 0..<length where mask[b * length + t] != 0 { weights[b * batch * length + b * length + t] = 1 / Float(count) }
        }
        return try Tensor(weights, shape: [batch, batch * length], on: tokens.backend).matmul(flat)
    }
}
