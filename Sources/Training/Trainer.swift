import Autograd
import Compute
import Datasets
import Foundation
import Models
import NeuralNetworks
import Reporting

/// What `aligncl train` was asked to do.
public struct TrainingOptions: Codable, Sendable {
    public var recipe: Recipe = .itcItm
    public var recipeOptions = RecipeOptions()
    public var model = ModelConfig()
    /// `steps` wins over `epochs` when both are given.
    public var steps: Int?
    public var epochs: Int?
    public var batchSize = 64
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 0.01
    public var warmupSteps = 50
    public var clipNorm: Float = 1
    public var seed: UInt64 = 0
    /// Evaluate on the validation split every this many steps (0: only at the end).
    public var evaluateEvery = 100
    public var logEvery = 10
    /// Cap on validation/test samples per evaluation (nil: the whole split).
    public var evaluationLimit: Int?

    public init() {}

    public static let defaultSteps = 900

    public func validate() throws {
        func fail(_ message: String) -> TrainingError { .invalidOption(message) }
        guard batchSize >= 2 else { throw fail("--batch-size must be at least 2 (contrastive losses need a negative), got \(batchSize)") }
        if let steps, steps < 1 { throw fail("--steps must be at least 1, got \(steps)") }
        if let epochs, epochs < 1 { throw fail("--epochs must be at least 1, got \(epochs)") }
        guard learningRate > 0, learningRate.isFinite else { throw fail("--lr must be a positive number, got \(learningRate)") }
        guard weightDecay >= 0 else { throw fail("--weight-decay must not be negative, got \(weightDecay)") }
        guard warmupSteps >= 0, evaluateEvery >= 0, logEvery >= 1 else { throw fail("--warmup and --eval-every must be ≥ 0 and --log-every ≥ 1") }
        guard clipNorm > 0 else { throw fail("--clip-norm must be positive, got \(clipNorm)") }
        if let evaluationLimit, evaluationLimit < 2 { throw fail("--eval-samples must be at least 2, got \(evaluationLimit)") }
        try recipeOptions.validate()
    }
}

/// The outcome of a run.
public struct TrainingResult: Sendable {
    public let losses: [Double]
    public let validation: [(step: Int, evaluation: Evaluation)]
    public let test: Evaluation
    public let seconds: Double
    public let samplesPerSecond: Double
}

/// Runs a recipe: builds the model on `backend`, trains with AdamW under a warm-up + cosine
/// schedule, logs to `run`, evaluates on validation periodically and on test at the end.
public final class Trainer {
    public let options: TrainingOptions
    public let data: TrainingData
    public let backend: any Backend
    public let run: RunDirectory
    public let model: AlignmentModel
    private let reporter: ProgressReporter

    public init(options: TrainingOptions, data: TrainingData, backend: any Backend, run: RunDirectory, interactive: Bool? = nil) throws {
        try options.validate()
        let train = try data.split(.train)
        guard train.count >= options.batchSize else {
            throw TrainingError.invalidData("the training split has \(train.count) samples, fewer than --batch-size \(options.batchSize)")
        }
        var config = options.model
        config.vocabularySize = data.tokenizer.count
        config.maxTextLength = data.maxTextLength
        config.classes = data.classNames.count
        config.tagClasses = data.tagNames.count
        config.imageSize = data.imageSize
        var resolved = options
        resolved.model = config
        (self.options, self.data, self.backend, self.run) = (resolved, data, backend, run)
        model = try AlignmentModel(config: config, recipe: options.recipe, options: options.recipeOptions, seed: options.seed, backend: backend)
        reporter = ProgressReporter(totalSteps: Self.totalSteps(resolved, trainCount: train.count), interactive: interactive)
    }

    static func totalSteps(_ options: TrainingOptions, trainCount: Int) -> Int {
        let stepsPerEpoch = trainCount / options.batchSize
        return options.steps ?? (options.epochs.map { $0 * stepsPerEpoch } ?? TrainingOptions.defaultSteps)
    }

    public func train() throws -> TrainingResult {
        let train = try data.split(.train)
        let totalSteps = Self.totalSteps(options, trainCount: train.count)
        let stepsPerEpoch = train.count / options.batchSize
        try run.writeJSON("config.json", RunConfig(options: options, backend: backend.summary.description, parameters: model.parameters.reduce(0) { $0 + $1.count },
                                                   vocabulary: data.tokenizer.count, trainSamples: train.count))
        let optimizer = AdamW(parameters: model.parameters, learningRate: options.learningRate, weightDecay: options.weightDecay,
                              undecayed: model.undecayedParameters)
        let schedule = LearningRateSchedule.warmupCosine(peak: options.learningRate, warmupSteps: min(options.warmupSteps, totalSteps / 2),
                                                         totalSteps: totalSteps)
        var losses: [Double] = [], validation: [(Int, Evaluation)] = []
        let started = Date()
        var order: [Int] = [], orderEpoch = -1
        for step in 0..<totalSteps {
            let epoch = step / stepsPerEpoch
            if epoch != orderEpoch { (order, orderEpoch) = (epochOrder(count: train.count, seed: options.seed, epoch: epoch), epoch) }
            let start = (step % stepsPerEpoch) * options.batchSize
            let batch = try Batch(train, indices: Array(order[start..<(start + options.batchSize)]), patchSize: model.config.patchSize,
                                  imageSize: model.config.imageSize, on: backend)
            let loss = try model.loss(batch, step: step, seed: options.seed)
            let value = Double(try loss.total.values()[0])
            guard value.isFinite else {
                throw TrainingError.nonFiniteLoss(step: step + 1, parts: loss.parts.map { "\($0.name) \($0.value)" }.joined(separator: ", "))
            }
            try loss.total.backward()
            try clipGradients(model.parameters, maxNorm: options.clipNorm)
            optimizer.learningRate = schedule.rate(at: step)
            try optimizer.update()
            try model.afterOptimizerStep()
            losses.append(value)
            reporter.update(step: step + 1, loss: value, samplesPerStep: options.batchSize)
            if (step + 1) % options.logEvery == 0 || step == 0 || step + 1 == totalSteps {
                var record: [String: Any] = ["step": step + 1, "epoch": epoch, "loss": value, "lr": Double(optimizer.learningRate),
                                             "elapsed_seconds": Date().timeIntervalSince(started)]
                for part in loss.parts { record[part.name] = part.value }
                try run.appendMetrics(record)
            }
            if options.evaluateEvery > 0, (step + 1) % options.evaluateEvery == 0, step + 1 < totalSteps {
                let evaluation = try model.evaluate(data, split: .validation, batchSize: options.batchSize, limit: options.evaluationLimit, on: backend)
                validation.append((step + 1, evaluation))
                try log(evaluation, step: step + 1)
            }
        }
        let seconds = Date().timeIntervalSince(started)
        reporter.finish()
        let finalValidation = try model.evaluate(data, split: .validation, batchSize: options.batchSize, limit: options.evaluationLimit, on: backend)
        validation.append((totalSteps, finalValidation))
        try log(finalValidation, step: totalSteps)
        let test = try model.evaluate(data, split: .test, batchSize: options.batchSize, limit: options.evaluationLimit, on: backend)
        try log(test, step: totalSteps)
        let result = TrainingResult(losses: losses, validation: validation, test: test, seconds: seconds,
                                    samplesPerSecond: Double(totalSteps * options.batchSize) / max(seconds, 1e-9))
        try run.writeText("plot.svg", TrainingPlot.render(result, recipe: options.recipe))
        return result
    }

    private func log(_ evaluation: Evaluation, step: Int) throws {
        var record: [String: Any] = ["step": step, "split": evaluation.split, "samples": evaluation.samples]
        for metric in evaluation.flattened { record[metric.name] = metric.value }
        try run.appendMetrics(record)
        let text = evaluation.flattened.map { String(format: "%@ %.4f", $0.name, $0.value) }.joined(separator: "  ")
        reporter.log("step \(step)  \(evaluation.split) (\(evaluation.samples) samples): \(text)")
    }
}

/// What `config.json` records: the options, the resolved model sizes, and where it ran.
struct RunConfig: Codable {
    let options: TrainingOptions
    let backend: String
    let parameters: Int
    let vocabulary: Int
    let trainSamples: Int
}
