import Autograd
import Compute
import NeuralNetworks

/// A pretrained BERT-family model as a recipe's text tower: per-token outputs `[B, L, D]`
/// (fusion, tagging) and one pooled vector `[B, D]` (contrastive heads), both differentiable,
/// with the parameters under their `transformers` names.
public final class PretrainedTextTower: PretrainedModule {
    public let model: BertModel
    /// `cls` or `mean` (what sentence-transformers folders and BERT fine-tuning use).
    public let pooling: Pooling

    public static let trainablePoolings: [Pooling] = [.cls, .mean]

    public init(_ model: BertModel, pooling: Pooling) throws {
        guard Self.trainablePoolings.contains(pooling) else {
            throw PretrainedError.invalidInput("a text tower pools by cls or mean while training, got \(pooling.rawValue)")
        }
        (self.model, self.pooling) = (model, pooling)
    }

    public var hfParameters: [HFParameter] { model.hfParameters }

    /// Width of the per-token outputs.
    public var width: Int { model.config.width }

    public func callAsFunction(ids: Tensor, mask: [Float]) throws -> (tokens: Tensor, pooled: Tensor) {
        let tokens = try model(ids: ids, mask: mask)
        return (tokens, try Self.pool(tokens, mask: mask, pooling: pooling))
    }

    /// `cls` (row 0) or the masked mean of `tokens [B, L, D]` → `[B, D]`, differentiable; the
    /// mean is one GEMM with a constant `[B, B·L]` matrix of mask / count.
    public static func pool(_ tokens: Tensor, mask: [Float], pooling: Pooling) throws -> Tensor {
        let (batch, length, width) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
        let flat = try tokens.reshaped([batch * length, width])
        if pooling == .cls { return try flat.gatherRows((0..<batch).map { Int32($0 * length) }) }
        var weights = [Float](repeating: 0, count: batch * batch * length)
        for b in 0..<batch {
            let count = max(1, (0..<length).filter { mask[b * length + $0] != 0 }.count)
            for t in 0..<length where mask[b * length + t] != 0 { weights[b * batch * length + b * length + t] = 1 / Float(count) }
        }
        return try Tensor(weights, shape: [batch, batch * length], on: tokens.backend).matmul(flat)
    }
}
