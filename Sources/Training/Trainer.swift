import Autograd
import Checkpoints
import Compute
import DataParallel
import Datasets
import Foundation
import Multimodal
import Pretrained
import NeuralNetworks
import Reporting
import Synchronization

/// What `aligncl train` was asked to do.
public struct TrainingOptions: Codable, Sendable {
    public var recipe: Recipe = .itcItm
    public var recipeOptions = RecipeOptions()
    public var model = ModelConfig()
    /// `steps` wins over `epochs` when both are given.
    public var steps: Int?
    public var epochs: Int?
    public var batchSize = 128
    public var learningRate: Float = 2e-3
    public var weightDecay: Float = 0.01
    public var warmupSteps = 50
    public var clipNorm: Float = 1
    public var seed: UInt64 = 0
    /// Evaluate on the validation split every this many steps (0: only at the end).
    public var evaluateEvery = 100
    public var logEvery = 10
    /// Cap on validation/test samples per evaluation (nil: the whole split).
    public var evaluationLimit: Int?
    /// Save a checkpoint every this many steps (0: only at the end and when interrupted).
    public var checkpointEvery = 200
    /// Checkpoints kept (the newest).
    public var keepCheckpoints = 3
    /// Where the data came from: `shapes` or a dataset folder, and the `shapes` seed.
    public var data = "shapes"
    public var dataSeed: UInt64 = 0
    /// `shapes` only: the number of training samples generated (nil: 5000).
    public var trainSamples: Int?
    /// The tokenizer's vocabulary: at most this many tokens, each seen at least `minimumCount`
    /// times in the training texts.
    public var vocabularyLimit = 10_000
    public var minimumCount = 1
    /// A BERT-family Hugging Face folder whose model becomes the text tower (nil: from scratch),
    /// its pooling (nil: the folder's sentence-transformers pooling, else mean), whether it is
    /// frozen, and its peak learning rate (nil: a tenth of `learningRate`).
    public var textModel: String?
    public var textPooling: Pooling?
    /// A CLIP folder whose vision tower becomes the image tower (nil: from scratch); it sets the
    /// image and patch sizes, and the images get its preprocessing.
    public var imageModel: String?
    /// A CLIP folder that initialises both towers and the logit scale (`--init`); it stands for
    /// `textModel` and `imageModel`, which must then be nil.
    public var initModel: String?
    /// Optional so that runs from before it decode (nil is `none`).
    public var freeze: FrozenTower?
    /// The peak rate of both pretrained towers' parameters.
    public var pretrainedLearningRate: Float?

    public init() {}

    /// The folders the towers come from, `--init`'s included.
    public var textModelFolder: String? { textModel ?? initModel }
    public var imageModelFolder: String? { imageModel ?? initModel }

    /// The peak rate of the pretrained parameters.
    public var effectivePretrainedLearningRate: Float { pretrainedLearningRate ?? learningRate / 10 }

    public static let defaultSteps = 1500
    /// The defaults, for flags that show them.
    public static let defaults = TrainingOptions()

    public func validate() throws {
        func fail(_ message: String) -> TrainingError { .invalidOption(message) }
        guard batchSize >= 2 else { throw fail("--batch-size must be at least 2 (contrastive losses need a negative), got \(batchSize)") }
        if let steps, steps < 1 { throw fail("--steps must be at least 1, got \(steps)") }
        if let epochs, epochs < 1 { throw fail("--epochs must be at least 1, got \(epochs)") }
        guard learningRate > 0, learningRate.isFinite else { throw fail("--lr must be a positive number, got \(learningRate)") }
        guard weightDecay >= 0 else { throw fail("--weight-decay must not be negative, got \(weightDecay)") }
        guard warmupSteps >= 0, evaluateEvery >= 0, logEvery >= 1 else { throw fail("--warmup and --eval-every must be ≥ 0 and --log-every ≥ 1") }
        guard vocabularyLimit >= 5, minimumCount >= 1 else { throw fail("--vocab-size must be at least 5 and --min-count at least 1") }
        guard checkpointEvery >= 0, keepCheckpoints >= 1 else { throw fail("--checkpoint-every must be ≥ 0 and --keep-checkpoints ≥ 1") }
        guard clipNorm > 0 else { throw fail("--clip-norm must be positive, got \(clipNorm)") }
        if let evaluationLimit, evaluationLimit < 2 { throw fail("--eval-samples must be at least 2, got \(evaluationLimit)") }
        if let pretrainedLearningRate, !(pretrainedLearningRate > 0 && pretrainedLearningRate.isFinite) {
            throw fail("--pretrained-lr must be a positive number, got \(pretrainedLearningRate)")
        }
        if initModel != nil, textModel != nil || imageModel != nil {
            throw fail("--init sets both towers from one CLIP folder; give it alone, or --text-model / --image-model for one tower each")
        }
        if textModelFolder == nil {
            guard freeze != .text else { throw fail("--freeze text needs a pretrained text tower (--text-model DIR or --init DIR)") }
            guard textPooling == nil else { throw fail("--text-pooling needs --text-model DIR or --init DIR") }
        }
        if imageModelFolder != nil, !recipe.hasImageTower {
            throw fail("recipe \(recipe.rawValue) has no image tower, so \(initModel != nil ? "--init" : "--image-model") has nothing to initialise there\(initModel != nil ? "; use --text-model DIR for its text tower" : "")")
        }
        if imageModelFolder == nil {
            guard freeze != .image else { throw fail("--freeze image needs a pretrained image tower (--image-model DIR or --init DIR)") }
        }
        if textModelFolder == nil, imageModelFolder == nil, pretrainedLearningRate != nil {
            throw fail("--pretrained-lr needs a pretrained tower (--text-model, --image-model or --init)")
        }
        try recipeOptions.validate()
    }
}

/// Which pretrained tower keeps its weights (`--freeze`).
public enum FrozenTower: String, Codable, CaseIterable, Sendable {
    case none, text, image
}

/// The outcome of a run.
public struct TrainingResult: Sendable {
    /// The training loss of each logged step (every `logEvery` steps, the first and the last).
    public let losses: [Double]
    public let validation: [(step: Int, evaluation: Evaluation)]
    public let test: Evaluation
    public let seconds: Double
    public let samplesPerSecond: Double
    /// Seconds inside exchanges between ranks (0 in one process).
    public let exchangeSeconds: Double
}

/// Runs a recipe: builds the model on `backend`, trains with AdamW under a warm-up + cosine
/// schedule, logs to `run`, evaluates on validation periodically and on test at the end.
public final class Trainer {
    public let options: TrainingOptions
    public let data: TrainingData
    public let backend: any Backend
    /// The run's files, written by rank 0 alone (nil on the other ranks).
    public let run: RunDirectory?
    /// The run's ranks, which make every exchange; each step's global batch is
    /// `group.size × batchSize` samples.
    public let session: TrainingSession
    var group: any ProcessGroup { session.group }
    public let model: any RecipeModel
    /// Progress on stderr, rank 0 only.
    private let reporter: ProgressReporter?

    public init(options: TrainingOptions, data: TrainingData, backend: any Backend, run: RunDirectory?, session: TrainingSession = .singleProcess(),
                interactive: Bool? = nil) throws {
        try options.validate()
        let group = session.group
        guard (run != nil) == group.isRoot else {
            throw TrainingError.runDirectory("rank 0, and only rank 0, writes the run directory (rank \(group.rank) was given \(run == nil ? "none" : "one"))")
        }
        let train = try data.split(.train)
        try session.agreeOnSplitSize(train.count)
        try Self.checkSplit(trainCount: train.count, batchSize: options.batchSize, ranks: group.size)
        var config = options.model
        config.vocabularySize = data.tokenizer.count
        config.maxTextLength = data.maxTextLength
        config.classes = data.classNames.count
        config.tagClasses = data.tagNames.count
        config.imageSize = data.imageSize
        if let textModel = data.textModel {
            config.pretrainedText = PretrainedTextConfig(modelConfig: try textModel.model.configText(), pooling: textModel.pooling, trainable: options.freeze != .text)
        }
        if let imageModel = data.imageModel {
            config.patchSize = imageModel.config.patchSize
            config.pretrainedImage = PretrainedImageConfig(modelConfig: try imageModel.model.configText(), trainable: options.freeze != .image)
        }
        try config.validate()
        var resolved = options
        resolved.model = config
        (self.options, self.data, self.backend, self.run, self.session) = (resolved, data, backend, run, session)
        model = try options.recipe.makeModel(config: config, options: options.recipeOptions, seed: options.seed, backend: backend)
        reporter = group.isRoot ? ProgressReporter(totalSteps: Self.totalSteps(resolved, trainCount: train.count, ranks: group.size), interactive: interactive) : nil
    }

    static func checkSplit(trainCount: Int, batchSize: Int, ranks: Int) throws {
        guard trainCount >= ranks else {
            throw DataParallelError.invalidSplit("launched with \(ranks) ranks, but the training split has only \(trainCount) samples; use at most \(trainCount) ranks")
        }
        guard trainCount >= batchSize * ranks else {
            guard ranks > 1 else { throw TrainingError.invalidData("the training split has \(trainCount) samples, fewer than --batch-size \(batchSize)") }
            throw DataParallelError.invalidSplit("the global batch (\(ranks) ranks × --batch-size \(batchSize) = \(ranks * batchSize) samples) is larger than the training split (\(trainCount) samples); lower --batch-size or the number of ranks")
        }
    }

    static func totalSteps(_ options: TrainingOptions, trainCount: Int, ranks: Int) -> Int {
        let stepsPerEpoch = trainCount / (options.batchSize * ranks)
        return options.steps ?? (options.epochs.map { $0 * stepsPerEpoch } ?? TrainingOptions.defaultSteps)
    }

    /// Trains from the start, or from `checkpoint` (a `checkpoints/step-N` folder of this run,
    /// given to rank 0; the other ranks receive its state). Returns the result on rank 0 and nil
    /// on the other ranks, which neither evaluate nor write.
    public func train(resumingFrom checkpoint: URL? = nil) throws -> TrainingResult? {
        let train = try data.split(.train)
        let globalBatch = options.batchSize * group.size
        let totalSteps = Self.totalSteps(options, trainCount: train.count, ranks: group.size)
        let stepsPerEpoch = train.count / globalBatch
        let optimizer = AdamW(parameters: model.parameters, learningRate: options.learningRate, weightDecay: options.weightDecay,
                              undecayed: model.undecayedParameters, rateFactor: options.effectivePretrainedLearningRate / options.learningRate,
                              scaledParameters: model.text.pretrainedParameters + (model.imageTower?.pretrainedParameters ?? []))
        try session.checkRanksAgree(options: options, data: data, train: train)
        var (firstStep, checkpointRanks) = (0, group.size)
        if let checkpoint, let run {
            try CheckpointStore.loadModel(model, from: checkpoint)
            try CheckpointStore.loadOptimizer(optimizer, model: model, from: checkpoint)
            let state = try CheckpointStore.loadState(from: checkpoint)
            (firstStep, checkpointRanks) = (state.step, state.ranks ?? 1)
            try run.dropMetrics(after: firstStep)
            reporter?.log("resuming at step \(firstStep) from \(checkpoint.path)")
        } else if let run {
            try run.writeJSON("config.json", RunConfig(options: options, backend: backend.summary.description, parameters: model.parameters.reduce(0) { $0 + $1.count },
                                                       vocabulary: data.tokenizer.count, trainSamples: train.count, ranks: group.size))
            try loadPretrainedWeights()
            if let textModel = data.textModel {
                try textModel.copyDescription(to: run.url.appendingPathComponent(RunDirectory.textModelFolder))
            } else if let tokenizer = data.tokenizer as? Tokenizer {
                try run.writeText("tokenizer.json", String(decoding: try tokenizer.jsonData(), as: UTF8.self))
            }
            if let imageModel = data.imageModel {
                try imageModel.copyDescription(to: run.url.appendingPathComponent(RunDirectory.imageModelFolder))
            }
            try run.writeJSON("classes.json", ["classes": data.classNames, "tags": data.tagNames])
        }
        firstStep = try session.startTogether(model: model, optimizer: optimizer, batchSize: options.batchSize, firstStep: firstStep, checkpointRanks: checkpointRanks)
        let schedule = LearningRateSchedule.warmupCosine(peak: options.learningRate, warmupSteps: min(options.warmupSteps, totalSteps / 2),
                                                         totalSteps: totalSteps)
        var losses: [Double] = [], lastLoss = Double.nan, validation: [(Int, Evaluation)] = []
        let started = Date()
        var order: [Int] = [], orderEpoch = -1
        func saveCheckpoint(after steps: Int) throws -> URL? {
            guard let run else { return nil }
            var files = ["model": "model.safetensors", "optimizer": "optimizer.safetensors",
                         "tokenizer": options.model.pretrainedText == nil ? "../../tokenizer.json" : "../../\(RunDirectory.textModelFolder)",
                         "classes": "../../classes.json", "config": "../../config.json"]
            if options.model.pretrainedImage != nil { files["image_model"] = "../../\(RunDirectory.imageModelFolder)" }
            let state = CheckpointState(step: steps, epoch: steps / stepsPerEpoch, batchInEpoch: steps % stepsPerEpoch, seed: options.seed,
                                        loss: losses.last, files: files, ranks: group.size)
            return try CheckpointStore.save(model: model, optimizer: optimizer, state: state, run: run.url, keep: options.keepCheckpoints)
        }
        let optimizationStep = OptimizationStep(model: model, optimizer: optimizer, clipNorm: options.clipNorm, session: session, seed: options.seed)
        StopSignal.install()
        for step in firstStep..<totalSteps {
            let epoch = step / stepsPerEpoch
            if epoch != orderEpoch { (order, orderEpoch) = (epochOrder(count: train.count, seed: options.seed, epoch: epoch), epoch) }
            let start = (step % stepsPerEpoch) * globalBatch
            let shard = session.shard(step: step, globalIndices: Array(order[start..<(start + globalBatch)]))
            let batch = try Batch(train, indices: Array(shard.localIndices), patchSize: model.config.patchSize,
                                  imageSize: model.config.imageSize, on: backend)
            optimizer.learningRate = schedule.rate(at: step)
            let outcome = try optimizationStep(batch, shard: shard)
            let logged = (step + 1) % options.logEvery == 0 || step == 0 || step + 1 == totalSteps
            let checkpointDue = options.checkpointEvery > 0 && (step + 1) % options.checkpointEvery == 0
            let evaluationDue = options.evaluateEvery > 0 && (step + 1) % options.evaluateEvery == 0
            // The loss stays on the device between logged steps: it is read (one blocking read)
            // and checked for being finite when logged, and before anything is saved or evaluated.
            if logged || checkpointDue || evaluationDue || outcome.stopSignal != 0 {
                let loss = try OptimizationStep.checkedLoss(outcome, step: step)
                lastLoss = loss.value
                if logged {
                    losses.append(loss.value)
                    if let run {
                        var record: [String: Any] = ["step": step + 1, "epoch": epoch, "loss": loss.value, "lr": Double(optimizer.learningRate),
                                                     "elapsed_seconds": Date().timeIntervalSince(started)]
                        for part in loss.parts { record[part.name] = part.value }
                        if group.size > 1 { record["exchange_seconds"] = group.exchangeSeconds }
                        try run.appendMetrics(record)
                    }
                }
            }
            reporter?.update(step: step + 1, loss: lastLoss, samplesPerStep: globalBatch)
            if outcome.stopSignal != 0 {
                let saved = try saveCheckpoint(after: step + 1)
                try session.waitForTheStopCheckpoint()
                reporter?.finish()
                throw TrainingError.interrupted(signal: outcome.stopSignal, step: step + 1, checkpoint: saved?.path, run: run?.url.path)
            }
            guard group.isRoot else { continue }  // rank 0 alone saves and evaluates; the others wait at the next exchange
            if options.checkpointEvery > 0, (step + 1) % options.checkpointEvery == 0, step + 1 < totalSteps { _ = try saveCheckpoint(after: step + 1) }
            if options.evaluateEvery > 0, (step + 1) % options.evaluateEvery == 0, step + 1 < totalSteps {
                let evaluation = try model.evaluate(data, split: .validation, batchSize: options.batchSize, limit: options.evaluationLimit, on: backend)
                validation.append((step + 1, evaluation))
                try log(evaluation, step: step + 1)
            }
        }
        let seconds = Date().timeIntervalSince(started)
        reporter?.finish()
        guard let run else { return nil }
        _ = try saveCheckpoint(after: totalSteps)
        let finalValidation = try model.evaluate(data, split: .validation, batchSize: options.batchSize, limit: options.evaluationLimit, on: backend)
        validation.append((totalSteps, finalValidation))
        try log(finalValidation, step: totalSteps)
        let test = try model.evaluate(data, split: .test, batchSize: options.batchSize, limit: options.evaluationLimit, on: backend)
        try log(test, step: totalSteps)
        let result = TrainingResult(losses: losses, validation: validation, test: test, seconds: seconds,
                                    samplesPerSecond: Double((totalSteps - firstStep) * globalBatch) / max(seconds, 1e-9),
                                    exchangeSeconds: group.exchangeSeconds)
        try run.writeText("plot.svg", TrainingPlot.render(try run.readMetrics(), recipe: options.recipe))
        return result
    }

    /// A fresh run's pretrained towers (and, with `--init`, the logit scale) from their folders,
    /// each weights file read once.
    private func loadPretrainedWeights() throws {
        var read: [URL: [String: SafeTensor]] = [:]
        func weights(_ folder: ModelFolder) throws -> [String: SafeTensor] {
            if let cached = read[folder.url] { return cached }
            let weights = try folder.weights()
            read[folder.url] = weights
            return weights
        }
        if let textModel = data.textModel, let tower = model.text as? PretrainedTextEncoder {
            try tower.loadWeights(weights(textModel.model), path: textModel.model.weightsPath)
        }
        if let imageModel = data.imageModel, let tower = model.imageTower as? PretrainedImageEncoder {
            try tower.loadWeights(weights(imageModel.model), path: imageModel.model.weightsPath)
        }
        if options.initModel != nil, let imageModel = data.imageModel {
            try model.loadLogitScale(weights(imageModel.model), path: imageModel.model.weightsPath)
        }
    }

    private func log(_ evaluation: Evaluation, step: Int) throws {
        var record: [String: Any] = ["step": step, "split": evaluation.split, "samples": evaluation.samples]
        for metric in evaluation.flattened { record[metric.name] = metric.value }
        try run?.appendMetrics(record)
        let text = evaluation.flattened.map { String(format: "%@ %.4f", $0.name, $0.value) }.joined(separator: "  ")
        reporter?.log("step \(step)  \(evaluation.split) (\(evaluation.samples) samples): \(text)")
    }
}

/// What `config.json` records: the options, the resolved model sizes, and where it ran.
public struct RunConfig: Codable, Sendable {
    public let options: TrainingOptions
    public let backend: String
    public let parameters: Int
    public let vocabulary: Int
    public let trainSamples: Int
    /// Data-parallel ranks (nil in runs from before MPI support: 1).
    public var ranks: Int?

    /// The config of the run in `directory`.
    public static func load(run directory: URL) throws -> RunConfig {
        let url = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TrainingError.runDirectory("\(directory.path) is not a run directory: no config.json")
        }
        do {
            return try JSONDecoder().decode(RunConfig.self, from: data)
        } catch {
            throw TrainingError.runDirectory("\(url.path) is not an aligncl run config (\(error))")
        }
    }
}

/// SIGINT, SIGTERM and SIGUSR1 ask the trainer to stop: it finishes the step, saves a checkpoint
/// and returns an `interrupted` error (the handler only records the signal). SIGUSR1 is for
/// signalling ranks directly (`pkill -USR1`, `scancel --signal=USR1`): mpirun turns Ctrl-C into
/// SIGTERM with a SIGKILL soon after.
public enum StopSignal {
    /// Written by the signal handler, read by the training loop: a lock-free atomic, which is
    /// safe in a handler (a lock is not) and needs no other synchronisation.
    private static let flag = Atomic<Int32>(0)

    /// The last stop signal received, or 0.
    public static var received: Int32 { flag.load(ordering: .relaxed) }

    static func install() {
        signal(SIGINT) { StopSignal.flag.store($0, ordering: .relaxed) }
        signal(SIGTERM) { StopSignal.flag.store($0, ordering: .relaxed) }
        signal(SIGUSR1) { StopSignal.flag.store($0, ordering: .relaxed) }
        // A parent (a test runner, a job system) may have left them blocked, and a blocked
        // signal would wait forever instead of stopping the run.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGUSR1)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }
}
