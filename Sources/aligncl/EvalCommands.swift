import ArgumentParser
import Compute
import Datasets
import Foundation
import Multimodal
import NumPyFiles
import Pretrained
import Reporting
import Training

extension DatasetSplit: ExpressibleByArgument {}

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// `--run-dir`, `--checkpoint` and the backend: which trained model to load.
struct RunOptions: ParsableArguments {
    @Option(help: "A run directory written by `aligncl train`.")
    var runDir: String?

    @Option(help: "Which checkpoint, e.g. step-900 (default: the newest).")
    var checkpoint: String?

    @OptionGroup var backendOptions: BackendOptions

    func load() throws -> (run: LoadedRun, backend: any Backend) {
        guard let runDir else { throw CLIError("give --run-dir with a run written by `aligncl train`") }
        let run = URL(fileURLWithPath: runDir)
        let backend = try backendOptions.resolve(requirements: (try? RunConfig.load(run: run))?.options.model.sizeDependentOps ?? [])
        return (try LoadedRun(run: run, checkpoint: checkpoint, backend: backend), backend)
    }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a trained run on a split: classification, retrieval and tagging metrics.",
        discussion: """
        --format json prints one object on stdout: accuracy (task classification; null when the recipe \
        has no classifier), macro_f1, retrieval.{i2t,t2i}.{r1,r5,r10}, tagging.f1 (and f1_text_only \
        for ita), split, samples, checkpoint. Progress and notes go to stderr.
        """
    )

    @OptionGroup var runOptions: RunOptions

    @Option(help: "The data: `shapes` or a dataset folder (default: the run's own data).")
    var data: String?

    @Option(help: "Which split: train, validation or test.")
    var split: DatasetSplit = .test

    @Option(help: "Output: table or json.")
    var format: ReportFormat = .table

    @Option(help: "Samples per forward pass.")
    var batchSize = 64

    @Flag(help: "Skip samples with a bad metadata line or image instead of stopping.")
    var skipBadSamples = false

    func run() throws {
        guard batchSize >= 1 else { throw CLIError("--batch-size must be at least 1, got \(batchSize)") }
        let (loaded, backend) = try runOptions.load()
        let data = try loaded.data(data, skipBadSamples: skipBadSamples) { printError("aligncl: warning: \($0)") }
        let evaluation = try loaded.model.evaluate(data, split: split, batchSize: batchSize, on: backend)
        let checkpoint = loaded.checkpoint.lastPathComponent
        switch format {
        case .json:
            print(try Self.json(evaluation, checkpoint: checkpoint))
        case .table:
            let rows = evaluation.flattened.map { [$0.name, String(format: "%.4f", $0.value)] }
            print(TextTable.render(headers: ["\(loaded.config.options.recipe.rawValue) \(checkpoint)", "\(split.rawValue) (\(evaluation.samples))"],
                                   rows: rows, alignRight: [1]))
        }
    }

    /// The documented schema; absent metrics are null, never another key named `accuracy`.
    static func json(_ evaluation: Evaluation, checkpoint: String) throws -> String {
        func retrieval(_ value: Evaluation.Retrieval?) -> Any { value.map { ["r1": $0.r1, "r5": $0.r5, "r10": $0.r10] } ?? NSNull() }
        var tagging: Any = NSNull()
        if let f1 = evaluation.taggingF1 {
            var object: [String: Any] = ["f1": f1]
            if let textOnly = evaluation.taggingF1TextOnly { object["f1_text_only"] = textOnly }
            tagging = object
        }
        let object: [String: Any] = [
            "accuracy": evaluation.accuracy ?? NSNull() as Any, "macro_f1": evaluation.macroF1 ?? NSNull() as Any,
            "retrieval": evaluation.imageToText == nil ? NSNull() : ["i2t": retrieval(evaluation.imageToText), "t2i": retrieval(evaluation.textToImage)] as Any,
            "tagging": tagging, "split": evaluation.split, "samples": evaluation.samples, "checkpoint": checkpoint,
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
    }
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Write image and text embeddings as .npy files, with an index: of a trained run's split, or of your texts and images with a Hugging Face model.",
        discussion: """
        With --run-dir: OUT gets text_embeddings.npy [N, E], image_embeddings.npy [N, E] (not for \
        ita, whose model reads the image as text) and index.jsonl: one line per row with its text \
        and label.

        With --model DIR (a local folder as save_pretrained writes it: BertModel-family or \
        CLIPModel, safetensors weights, its tokenizer; a sentence-transformers folder brings its \
        own pooling and normalisation): --texts FILE (one text per line) gives \
        text_embeddings.npy, --images DIR (PNG, JPEG, BMP; sorted by name) gives \
        image_embeddings.npy (CLIP), both in input order, with index.jsonl. Nothing is downloaded.
        """
    )

    @OptionGroup var runOptions: RunOptions

    @OptionGroup var model: PretrainedEmbedOptions

    @Option(help: "The data: `shapes` or a dataset folder (default: the run's own data).")
    var data: String?

    @Option(help: "Which split.")
    var split: DatasetSplit = .test

    @Option(help: "Where to write the files (created; existing files of the same names are replaced).")
    var outputDir: String

    @Option(help: "Samples per forward pass.")
    var batchSize = 64

    func run() throws {
        guard batchSize >= 1 else { throw CLIError("--batch-size must be at least 1, got \(batchSize)") }
        if model.model != nil {
            guard runOptions.runDir == nil, data == nil else { throw CLIError("--model embeds your --texts and --images; --run-dir and --data belong to a trained run: give one or the other") }
            return try model.run(backendOptions: runOptions.backendOptions, outputDir: outputDir, batchSize: batchSize)
        }
        guard model.texts == nil, model.images == nil else { throw CLIError("--texts and --images need --model DIR (a Hugging Face model folder)") }
        if model.model != nil {
            guard runOptions.runDir == nil, data == nil else { throw CLIError("--model embeds your --texts and --images; --run-dir and --data belong to a trained run: give one or the other") }
            return try model.run(backendOptions: runOptions.backendOptions, outputDir: outputDir, batchSize: batchSize)
        }
        guard model.texts == nil, model.images == nil else { throw CLIError("--texts and --images need --model DIR (a Hugging Face model folder)") }
        let (loaded, backend) = try runOptions.load()
        let data = try loaded.data(data) { printError("aligncl: warning: \($0)") }
        let embeddings = try loaded.embeddings(data, split: split, batchSize: batchSize, on: backend)
        let samples = try data.split(split).samples
        var files: [(name: String, bytes: [UInt8])] = [("text_embeddings.npy", NPY.encode(shape: [embeddings.count, embeddings.width], values: embeddings.text))]
        if let image = embeddings.image { files.append(("image_embeddings.npy", NPY.encode(shape: [embeddings.count, embeddings.width], values: image))) }
        let index = try samples.enumerated().map { row, sample -> String in
            let label: Any = data.classNames.indices.contains(sample.label) ? data.classNames[sample.label] : NSNull()
            return String(decoding: try JSONSerialization.data(withJSONObject: ["row": row, "text": sample.text, "label": label], options: [.sortedKeys]), as: UTF8.self)
        }
        files.append(("index.jsonl", Array((index.joined(separator: "\n") + "\n").utf8)))
        try OutputWriter.writeAll(files, to: URL(fileURLWithPath: outputDir))
        printError("aligncl: wrote \(files.map(\.name).joined(separator: ", ")) (\(embeddings.count) rows) to \(outputDir)")
    }
}

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Run a trained model on one image and text (class probabilities, match probability, similarity or tags), or a CLIP folder zero-shot over labels.",
        discussion: """
        With --run-dir: --image and --text. With --model DIR (a Hugging Face CLIPModel folder): \
        --image and --labels "a photo of a cat,a photo of a dog"; prints each label's probability \
        (softmax of exp(logit_scale) × cosine similarity, as CLIP's logits_per_image).
        """
    )

    @OptionGroup var runOptions: RunOptions

    @Option(help: "A CLIPModel folder, for zero-shot classification over --labels.")
    var model: String?

    @Option(help: "With --model: the candidate texts, comma-separated.")
    var labels: String?

    @Option(help: "A PNG, JPEG or BMP image.")
    var image: String

    @Option(help: "The text paired with the image (with --run-dir).")
    var text: String?

    @Option(help: "ita: the image's visual context as text (object tags, a caption).")
    var imageText = ""

    @Option(help: "Output: table or json.")
    var format: ReportFormat = .table

    func run() throws {
        if let model { return try zeroShot(model) }
        guard labels == nil else { throw CLIError("--labels needs --model DIR (a CLIPModel folder)") }
        guard let text else { throw CLIError("give --text: the text paired with the image") }
        guard let bytes = FileManager.default.contents(atPath: image) else { throw CLIError("--image: cannot read '\(image)'") }
        let (loaded, backend) = try runOptions.load()
        let decoded: (width: Int, height: Int, pixels: [UInt8])
        do { decoded = try ImageDecoder.decodeRGB(bytes) } catch { throw CLIError("--image \(image): \(error)") }
        let pixels = try loaded.imageInput(rgb: decoded.pixels, width: decoded.width, height: decoded.height)
        let prediction = try loaded.predict(image: pixels, text: text, imageText: imageText, on: backend)
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(prediction), as: UTF8.self))
        case .table:
            var rows: [[String]] = []
            if let probabilities = prediction.probabilities {
                rows += probabilities.sorted { $0.value > $1.value }.map { ["P(\($0.key))", String(format: "%.4f", $0.value)] }
            }
            if let match = prediction.matchProbability { rows.append(["P(match)", String(format: "%.4f", match)]) }
            if let similarity = prediction.similarity { rows.append(["similarity", String(format: "%.4f", similarity)]) }
            if let words = prediction.words, let tags = prediction.tags { rows += zip(words, tags).map { [$0, $1] } }
            print(TextTable.render(headers: ["\(loaded.config.options.recipe.rawValue)", "value"], rows: rows, alignRight: []))
        }
    }

    func zeroShot(_ model: String) throws {
        guard runOptions.runDir == nil, text == nil else { throw CLIError("--model classifies --image over --labels; --run-dir and --text belong to a trained run") }
        let names = (labels ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw CLIError("--model needs --labels \"a cat,a dog,…\": the candidate texts") }
        guard FileManager.default.isReadableFile(atPath: image) else { throw CLIError("--image: cannot read '\(image)'") }
        let folder = URL(fileURLWithPath: model)
        let encoder = try PretrainedEncoder(folder: folder, backend: try runOptions.backendOptions.resolve(requirements: PretrainedEmbedOptions.requirements(folder)))
        let result = try encoder.zeroShot(imageFile: URL(fileURLWithPath: image), labels: names)
        switch format {
        case .json:
            let object = ["image": image, "probabilities": Dictionary(uniqueKeysWithValues: result.map { ($0.label, $0.probability) })] as [String: Any]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
        case .table:
            let rows = result.sorted { $0.probability > $1.probability }.map { ["P(\($0.label))", String(format: "%.4f", $0.probability)] }
            print(TextTable.render(headers: ["zero-shot \(folder.lastPathComponent)", "value"], rows: rows, alignRight: [1]))
        }
    }
}
