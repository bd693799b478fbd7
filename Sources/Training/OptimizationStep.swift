import Autograd
import Compute
import DataParallel
import Foundation
import Multimodal
import NeuralNetworks

/// The loss of a step as every rank agrees on it, and whether to stop (a signal on any rank).
/// In one process the loss stays on the device until `read()`, which the trainer calls once per
/// logged step (one blocking read for the loss and all its parts); with several ranks the
/// exchange has brought it to the host already.
public struct StepOutcome {
    let loss: StepLoss
    let exchanged: (value: Double, parts: [(name: String, value: Double)])?
    public let stopSignal: Int32

    /// The loss and its parts, in one read of the device.
    public func read() throws -> (value: Double, parts: [(name: String, value: Double)]) {
        if let exchanged { return exchanged }
        let scalars = [loss.total] + loss.parts.map(\.tensor)
        let backend = loss.total.backend
        let gathered = try backend.makeBuffer(count: scalars.count)
        for (index, scalar) in scalars.enumerated() {
            try backend.copyBlocks(scalar.storage, to: gathered, BlockCopy(blocks: 1, blockLength: 1, sourceStride: 1, destinationOffset: index, destinationStride: 1))
        }
        let values = try backend.read(gathered).map(Double.init)
        return (values[0], zip(loss.parts, values.dropFirst()).map { ($0.0.name, $0.1) })
    }
}

/// One optimisation step: the recipe's loss, backward, the ranks' average, the non-finite
/// check, gradient clipping, AdamW and the recipe's post-step (CLIP's clamp). The trainer runs
/// it every step, and `aligncl bench train-step` times this same step.
public struct OptimizationStep {
    public let model: any RecipeModel
    public let optimizer: AdamW
    public let clipNorm: Float
    public let session: TrainingSession
    public let seed: UInt64

    public init(model: any RecipeModel, optimizer: AdamW, clipNorm: Float, session: TrainingSession = .singleProcess(), seed: UInt64) {
        (self.model, self.optimizer, self.clipNorm, self.session, self.seed) = (model, optimizer, clipNorm, session, seed)
    }

    /// Runs the step on `batch` (this rank's part of `shard`), at the optimizer's current rate.
    /// Nothing in it waits for the device in one process: the loss is checked for being finite
    /// when it is read (`StepOutcome.read`, `checkedLoss`), once per logged step.
    public func callAsFunction(_ batch: Batch, shard: BatchShard) throws -> StepOutcome {
        let loss = try model.loss(batch, shard: shard, seed: seed)
        try loss.total.backward()
        let outcome = try session.averageAcrossRanks(loss, model: model, step: shard.step)
        if outcome.exchanged != nil { _ = try Self.checkedLoss(outcome, step: shard.step) }
        try clipGradients(model.parameters, maxNorm: clipNorm)
        try optimizer.update()
        try model.afterOptimizerStep()
        return outcome
    }

    /// The step's loss and parts, read; throws `nonFiniteLoss` naming the step when the loss is
    /// not finite.
    public static func checkedLoss(_ outcome: StepOutcome, step: Int) throws -> (value: Double, parts: [(name: String, value: Double)]) {
        let loss = try outcome.read()
        guard loss.value.isFinite else {
            throw TrainingError.nonFiniteLoss(step: step + 1, parts: loss.parts.map { "\($0.name) \($0.value)" }.joined(separator: ", "))
        }
        return loss
    }
}
