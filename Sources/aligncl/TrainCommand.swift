import ArgumentParser
import Compute
import DataParallel
import Datasets
import Foundation
import Multimodal
import Pretrained
import Reporting
import Training

extension Recipe: ExpressibleByArgument {}
extension ITMNegatives: ExpressibleByArgument {}
extension MIEstimator: ExpressibleByArgument {}
extension FrozenTower: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an image–text model with one of the recipes, on the built-in `shapes` data or a dataset folder.",
        discussion: """
        Recipes (docs/methods.md):
          clip      image–text contrastive (ITC) only; learnable logit scale, clamped to ≤ 100.
          itc-itm   fused classifier, L = (1−β_itc−β_itm)·CE + β_itc·ITC + β_itm·ITM (default).
          vlcdoc    cross-modal fusion blocks + intra/inter-modality alignment (τ) + classifier.
          ita       visual context as text, BIO tagging, cross-view KL (teacher detached).
          local-mi  per-patch mutual information with the text (--estimator, --global).

        --text-model DIR fine-tunes a BERT-family Hugging Face folder (BERT, MiniLM, a \
        sentence-transformers folder) or a CLIP folder's text transformer as the text tower of \
        any recipe: its tokenizer replaces the word-level one, a learned linear adapter maps its \
        width to --width, and the recipe's other parts start as usual. Its parameters train at \
        --pretrained-lr (or stay as loaded with --freeze text). `aligncl export` writes the \
        fine-tuned towers back as a Hugging Face folder.

        --image-model DIR does the same for the image tower of clip, itc-itm, vlcdoc and local-mi \
        with a CLIP folder's vision transformer: the images get its preprocessing (its resize, \
        centre crop and mean/std; `shapes` is rendered at its image_size) and an adapter maps its \
        width to --width. --freeze image keeps it as loaded.

        --init DIR takes both towers from one CLIP folder, and its logit scale for clip and \
        itc-itm; the heads and fusion still start new.

        The run directory gets config.json, tokenizer.json (text-model/ with a pretrained text \
        tower), image-model/ (with a pretrained image tower), classes.json, metrics.jsonl (every \
        logged step and every evaluation), plot.svg (loss and validation metrics) and \
        checkpoints/step-N/ (safetensors). Ctrl-C, SIGTERM or SIGUSR1 saves a checkpoint and stops; \
        --resume DIR continues exactly. Progress goes to stderr; the final test metrics to stdout.

        Several processes (data parallel, an aligncl built with `--traits MPI`): \
        `mpirun -np N aligncl train …` runs N ranks, each on --batch-size samples of a global \
        batch of N × --batch-size; contrastive losses see the whole global batch. Rank 0 logs, \
        evaluates and writes the run directory. See the README, "Training on several machines".
        """
    )

    @Option(help: "The method: \(Recipe.allCases.map(\.rawValue).joined(separator: ", ")).")
    var recipe: Recipe = .itcItm

    @Option(help: "The data: `shapes` (built in, generated from --data-seed; no downloads) or a folder in the imagefolder layout (train/, validation/, test/, each with metadata.jsonl).")
    var data = "shapes"

    @Flag(help: "Skip samples with a bad metadata line or image (warn and count) instead of stopping at the first.")
    var skipBadSamples = false

    @Option(help: "Largest tokenizer vocabulary (special tokens included), built from the training texts.")
    var vocabSize = TrainingOptions.defaults.vocabularyLimit

    @Option(help: "Keep only words seen at least this many times in the training texts (others become [UNK]).")
    var minCount = TrainingOptions.defaults.minimumCount

    @Option(help: "Continue the run in this directory from its newest checkpoint, with its options (other training flags are ignored).")
    var resume: String?

    @Option(help: "Save a checkpoint every N steps (0: only at the end and when stopped by Ctrl-C/SIGTERM).")
    var checkpointEvery = TrainingOptions.defaults.checkpointEvery

    @Option(help: "How many checkpoints to keep (the newest).")
    var keepCheckpoints = TrainingOptions.defaults.keepCheckpoints

    @Option(help: "Seed of the generated `shapes` data (separate from --seed so models can be compared on the same data).")
    var dataSeed: UInt64 = 0

    @Option(help: "Optimizer steps (default \(TrainingOptions.defaultSteps) unless --epochs is given).")
    var steps: Int?

    @Option(help: "Passes over the training split (ignored when --steps is given).")
    var epochs: Int?

    @Option(help: "Samples per step.")
    var batchSize = TrainingOptions.defaults.batchSize

    @Option(help: "Peak learning rate (linear warm-up, then cosine decay to 0).")
    var lr = TrainingOptions.defaults.learningRate

    @Option(help: "AdamW decoupled weight decay (not applied to the logit scale).")
    var weightDecay = TrainingOptions.defaults.weightDecay

    @Option(help: "Warm-up steps.")
    var warmup = TrainingOptions.defaults.warmupSteps

    @Option(help: "Seed of the initialisation, the data order and the ITM negatives.")
    var seed = TrainingOptions.defaults.seed

    @Option(help: "Evaluate on the validation split every N steps (0: only at the end).")
    var evalEvery = TrainingOptions.defaults.evaluateEvery

    @Option(help: "Write a metrics line every N steps.")
    var logEvery = TrainingOptions.defaults.logEvery

    @Option(help: "Use at most N validation/test samples per evaluation (default: all).")
    var evalSamples: Int?

    @Option(help: "Generate at most N training samples of `shapes` (default 40000).")
    var trainSamples: Int?

    @Option(help: "Where the run's files go (default runs/<recipe>-<UTC timestamp>).")
    var runDir: String?

    @Flag(help: "Empty an existing non-empty --run-dir instead of refusing it.")
    var overwrite = false

    @OptionGroup(title: "Model")
    var model: ModelOptions

    @OptionGroup(title: "Objectives")
    var objectives: ObjectiveOptions

    @OptionGroup(title: "Pretrained text tower")
    var pretrained: PretrainedTowerOptions

    @Option(help: "Under mpirun: seconds a rank waits for the others at an exchange before it stops with an error (a rank died or hangs). The other ranks wait while rank 0 evaluates and saves checkpoints: keep it above that time.")
    var rankTimeout: Double = 600

    @OptionGroup var backendOptions: BackendOptions

    func run() throws {
        let session = try TrainingSession.launch(rankTimeout: rankTimeout) { printError("aligncl: \($0)") }
        do {
            try session.run(describe: { ($0 as? CLIError)?.description ?? AlignCLCommand.message(for: $0) }) { try train(in: session) }
        } catch SessionError.reported {
            throw ExitCode(1)
        } catch TrainingError.interrupted(let signal, let step, let saved, let run) {
            if let saved, let run { printError("aligncl: stopped after step \(step); saved \(saved); continue with: \(session.resumeCommand(run: run))") }
            throw ExitCode(128 + signal)
        }
    }

    private func train(in session: TrainingSession) throws {
        let group = session.group
        var request = try backendOptions.request()
        if group.size > 1 { request.localRank = group.localRank }
        // The model's sizes decide whether the OpenCL kernels can run it (rank 0 reads a resumed
        // run's; the others may not see its folder, and follow rank 0's check of the options).
        let modelConfig = try resume.map { group.isRoot ? try RunConfig.load(run: URL(fileURLWithPath: $0)).options.model : nil } ?? model.config()
        let backend = try backendOptions.resolve(request, requirements: modelConfig?.sizeDependentOps ?? [], announce: group.isRoot)
        try session.announceBackends(backend.summary.description)
        let warn: (String) -> Void = { if group.isRoot { printError("aligncl: warning: \($0)") } }
        let trainer: Trainer
        var checkpoint: URL?
        if let resume {
            // Rank 0 reads the run; the other ranks get its options and load the data themselves.
            // Rank 0 sends its options before any rank loads data, so all load at the same time.
            var options: TrainingOptions?, trainingData: TrainingData?, run: RunDirectory?, loaded: LoadedRun?
            if group.isRoot {
                let runURL = URL(fileURLWithPath: resume)
                let config = try RunConfig.load(run: runURL)
                guard let newest = CheckpointStore.list(run: runURL).last else {
                    throw CLIError("\(resume) has no checkpoint to resume from (checkpoints/step-N)")
                }
                loaded = try LoadedRun(run: runURL, checkpoint: newest.url.lastPathComponent, backend: backend)
                (options, checkpoint, run) = (config.options, newest.url, try RunDirectory(resuming: runURL))
            }
            options = try session.rootOptions(options)
            if let loaded {
                trainingData = try loaded.data(skipBadSamples: skipBadSamples, warn: warn)
            } else if let options {
                trainingData = try TrainingData.load(options.data, options: options, skipBadSamples: skipBadSamples, warn: warn)
            }
            guard let options, let trainingData else { throw CLIError("resume: no options from rank 0") }
            trainer = try Trainer(options: options, data: trainingData, backend: backend, run: run, session: session)
        } else {
            let options = try trainingOptions()
            if group.isRoot { printError("aligncl: loading \(data == "shapes" ? "`shapes` (seed \(dataSeed))" : data)") }
            let trainingData = try TrainingData.load(data, options: options, skipBadSamples: skipBadSamples, warn: warn)
            let runURL = runDir.map { URL(fileURLWithPath: $0) } ?? RunDirectory.defaultURL(recipe: recipe)
            trainer = try Trainer(options: options, data: trainingData, backend: backend, run: group.isRoot ? try RunDirectory(runURL, overwrite: overwrite) : nil, session: session)
        }
        if let run = trainer.run {
            let parameters = trainer.model.parameters.reduce(0) { $0 + $1.count }
            let placement = session.placement.map { "\($0) × batch \(trainer.options.batchSize)" } ?? "\(backend.summary)"
            printError("aligncl: training \(trainer.options.recipe.rawValue) (\(parameters) parameters) on \(placement) into \(run.url.path)")
        }
        guard let result = try trainer.train(resumingFrom: checkpoint), let run = trainer.run else { return }
        backendOptions.reportUsage(backend)
        print(Self.summary(result, recipe: trainer.options.recipe, runDirectory: run.url.path))
    }

    /// The options these flags give, checked.
    func trainingOptions() throws -> TrainingOptions {
        var options = TrainingOptions()
        options.recipe = recipe
        (options.steps, options.epochs, options.batchSize, options.learningRate) = (steps, epochs, batchSize, lr)
        (options.weightDecay, options.warmupSteps, options.seed) = (weightDecay, warmup, seed)
        (options.evaluateEvery, options.logEvery, options.evaluationLimit) = (evalEvery, logEvery, evalSamples)
        (options.checkpointEvery, options.keepCheckpoints, options.data, options.dataSeed) = (checkpointEvery, keepCheckpoints, data, dataSeed)
        (options.trainSamples, options.vocabularyLimit, options.minimumCount) = (trainSamples, vocabSize, minCount)
        options.model = try model.config()
        options.recipeOptions = objectives.recipeOptions()
        try pretrained.apply(to: &options, model: model)
        try options.validate()
        if let trainSamples, trainSamples < batchSize {
            throw CLIError("--train-samples must be at least --batch-size \(batchSize), got \(trainSamples)")
        }
        if data != "shapes" {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CLIError("--data must be `shapes` or a dataset folder, got '\(data)' (no such directory)")
            }
        }
        return options
    }

    /// The closing table: the test metrics, the last validation metrics, throughput.
    static func summary(_ result: TrainingResult, recipe: Recipe, runDirectory: String) -> String {
        let validation = result.validation.last?.evaluation
        var rows = result.test.flattened.map { metric in
            [metric.name, String(format: "%.4f", metric.value),
             validation?.flattened.first { $0.name == metric.name }.map { String(format: "%.4f", $0.value) } ?? "-"]
        }
        rows.append(["final training loss", result.losses.last.map { String(format: "%.4f", $0) } ?? "-", ""])
        rows.append(["training time", ProgressReporter.formatDuration(result.seconds), ""])
        rows.append(["samples/s", String(format: "%.1f", result.samplesPerSecond), ""])
        if result.exchangeSeconds > 0 {
            rows.append(["time in exchanges (rank 0)", String(format: "%.0f%%", 100 * result.exchangeSeconds / max(result.seconds, 1e-9)), ""])
        }
        let table = TextTable.render(headers: ["\(recipe.rawValue)", "test (\(result.test.samples))", "validation"], rows: rows, alignRight: [1, 2])
        return table + "\nrun directory: \(runDirectory) (config.json, metrics.jsonl, plot.svg)"
    }
}

struct ModelOptions: ParsableArguments {
    @Option(help: "Feature width.") var width = ModelConfig().width
    @Option(help: "Attention heads (must divide the width).") var heads = ModelConfig().heads
    @Option(help: "Text transformer blocks.") var textLayers = ModelConfig().textLayers
    @Option(help: "ViT blocks.") var imageLayers = ModelConfig().imageLayers
    @Option(help: "VLCDoC fusion layers (itc-itm, vlcdoc).") var fusionLayers = ModelConfig().fusionLayers
    @Option(help: "Patch side in pixels (must divide the image size; default \(ModelConfig().patchSize); --image-model sets its own).") var patchSize: Int?
    @Option(help: "Image side in pixels (12–256; default \(ModelConfig().imageSize); --image-model sets its own).") var imageSize: Int?
    @Option(help: "Projection width of the contrastive / MI heads.") var projection = ModelConfig().projection

    func config() throws -> ModelConfig {
        var config = ModelConfig()
        (config.width, config.heads, config.textLayers, config.imageLayers) = (width, heads, textLayers, imageLayers)
        (config.fusionLayers, config.projection) = (fusionLayers, projection)
        (config.patchSize, config.imageSize) = (patchSize ?? config.patchSize, imageSize ?? config.imageSize)
        try config.validate()
        return config
    }
}

struct ObjectiveOptions: ParsableArguments {
    @Option(help: "itc-itm: weight of the contrastive loss.") var betaITC = RecipeOptions().betaITC
    @Option(help: "itc-itm: weight of the matching loss.") var betaITM = RecipeOptions().betaITM
    @Option(help: "itc-itm: negatives for ITM: random (p = 0.5 per text) or hard (from the ITC similarities).") var itmNegatives = RecipeOptions().itmNegatives
    @Option(help: "vlcdoc: alignment temperature τ (1 reproduces the public code).") var temperature = RecipeOptions().alignmentTemperature
    @Option(help: "ita: cross-view KL temperature.") var cvaTemperature = RecipeOptions().cvaTemperature
    @Option(help: "ita: weight r of the cross-view loss, (1 − r)·CE + r·KL.") var cvaRate = RecipeOptions().cvaRate
    @Option(help: "local-mi: MI estimator: infonce, dv (Donsker–Varadhan) or jsd (Jensen–Shannon).") var estimator = RecipeOptions().estimator
    @Flag(name: .customLong("global"), help: "local-mi: the pooled-image (global) variant instead of per location.") var globalMI = false

    func recipeOptions() -> RecipeOptions {
        var options = RecipeOptions()
        (options.betaITC, options.betaITM, options.itmNegatives) = (betaITC, betaITM, itmNegatives)
        (options.alignmentTemperature, options.cvaTemperature, options.cvaRate) = (temperature, cvaTemperature, cvaRate)
        (options.estimator, options.globalMI) = (estimator, globalMI)
        return options
    }
}

struct PretrainedTowerOptions: ParsableArguments {
    @Option(help: "A BERT-family Hugging Face folder (config.json, model.safetensors, its tokenizer; or a sentence-transformers folder) to fine-tune as the text tower.")
    var textModel: String?

    @Option(help: "How the text tower pools its tokens for the contrastive heads: cls or mean (default: a sentence-transformers folder's own, else mean).")
    var textPooling: Pooling?

    @Option(help: "A CLIPModel Hugging Face folder (config.json, model.safetensors, preprocessor_config.json) whose vision tower is fine-tuned as the image tower; it sets the image and patch sizes and the image preprocessing.")
    var imageModel: String?

    @Option(name: .customLong("init"), help: "A CLIPModel Hugging Face folder that initialises both towers (as --text-model and --image-model would) and the logit scale (clip, itc-itm).")
    var initModel: String?

    @Option(help: "Keep a pretrained tower as loaded: none, text or image (its adapter still trains).")
    var freeze: FrozenTower = .none

    @Option(help: "Peak learning rate of the pretrained parameters, on the same schedule (default: a tenth of --lr).")
    var pretrainedLR: Float?

    /// `model`: the sizes flags, which an image model's own sizes replace.
    func apply(to options: inout TrainingOptions, model: ModelOptions) throws {
        func folder(_ path: String, _ flag: String) throws -> String {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CLIError("\(flag) must be a Hugging Face model folder, got '\(path)' (no such directory)")
            }
            return URL(fileURLWithPath: path).standardizedFileURL.path
        }
        options.textModel = try textModel.map { try folder($0, "--text-model") }
        options.imageModel = try imageModel.map { try folder($0, "--image-model") }
        options.initModel = try initModel.map { try folder($0, "--init") }
        if imageModel != nil || initModel != nil, model.imageSize != nil || model.patchSize != nil {
            throw CLIError("--image-size and --patch-size come from the CLIP folder's config.json (image_size, patch_size); leave them out")
        }
        (options.textPooling, options.pretrainedLearningRate) = (textPooling, pretrainedLR)
        options.freeze = freeze == .none ? nil : freeze
    }
}
