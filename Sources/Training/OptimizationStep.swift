import Autograd
import DataParallel
import Foundation
import NeuralNetworks

/// The loss of a step as every rank agrees on it, and whether to stop (a signal on any rank).
public struct AgreedLoss {
    public let value: Double
    public let parts: [(name: String, value: Double)]
    public let stopSignal: Int32
}

/// One optimisation step: the recipe's loss, backward, the ranks' average, the non-finite
/// check, gradient clipping, AdamW and the recipe's post-step (CLIP's clamp). The trainer runs
/// it every step, and `aligncl bench train-step` times this same step.
public struct OptimizationStep {
    public let model: AlignmentModel
    public let optimizer: AdamW
    public let clipNorm: Float
    public let group: any ProcessGroup
    public let seed: UInt64

    public init(model: AlignmentModel, optimizer: AdamW, clipNorm: Float, group: any ProcessGroup = SingleProcess(), seed: UInt64) {
        (self.model, self.optimizer, self.clipNorm, self.group, self.seed) = (model, optimizer, clipNorm, group, seed)
    }

    /// Runs the step on `batch` (this rank's part of `shard`), at the optimizer's current rate.
    public func callAsFunction(_ batch: Batch, shard: BatchShard) throws -> AgreedLoss {
        let loss = try model.loss(batch, shard: shard, seed: seed)
        try loss.total.backward()
        let agreed = try averageAcrossRanks(loss, step: shard.step)
        guard agreed.value.isFinite else {
            throw TrainingError.nonFiniteLoss(step: shard.step + 1, parts: agreed.parts.map { "\($0.name) \($0.value)" }.joined(separator: ", "))
        }
        try clipGradients(model.parameters, maxNorm: clipNorm)
        try optimizer.update()
        try model.afterOptimizerStep()
        return agreed
    }

    /// The step's loss and its parts, and whether to stop (the signal), the same on every rank.
    /// With several ranks one allreduce sums the parameter gradients, the losses and the stop
    /// requests; gradients and losses are then divided by the number of ranks. Each rank's
    /// loss is its share of the global loss (see `BatchShard`), so the averages are the global
    /// batch's loss and gradient. A stop request on any rank stops all after the same step.
    private func averageAcrossRanks(_ loss: StepLoss, step: Int) throws -> AgreedLoss {
        let value = Double(try loss.total.values()[0])
        guard group.size > 1 else { return AgreedLoss(value: value, parts: loss.parts, stopSignal: StopSignal.received) }
        let withGradient = model.parameters.filter { $0.gradient != nil }
        var buffer = try withGradient.flatMap { try $0.gradientValues() }
        buffer += [Float(value)] + loss.parts.map { Float($0.value) } + [StopSignal.received != 0 ? 1 : 0]
        try group.allReduceSum(&buffer, label: "gradients of step \(step + 1)")
        let scale = 1 / Float(group.size)
        var offset = 0
        for parameter in withGradient {
            try parameter.assignGradient(buffer[offset..<(offset + parameter.count)].map { $0 * scale })
            offset += parameter.count
        }
        let parts = loss.parts.enumerated().map { ($0.element.name, Double(buffer[offset + 1 + $0.offset] * scale)) }
        let stop = buffer[buffer.count - 1] > 0 ? (StopSignal.received != 0 ? StopSignal.received : SIGTERM) : 0
        return AgreedLoss(value: Double(buffer[offset] * scale), parts: parts, stopSignal: stop)
    }
}
