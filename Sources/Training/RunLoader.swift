import Compute
import Datasets
import Foundation
import Multimodal
import Pretrained

/// A finished (or interrupted) run loaded for evaluation and use: its config, tokenizer, class
/// and tag lists, and the model with the weights of one checkpoint.
public struct LoadedRun {
    public let directory: URL
    public let config: RunConfig
    public let tokenizer: any CaptionTokenizer
    public let classNames: [String]
    public let tagNames: [String]
    public let checkpoint: URL
    public let model: any RecipeModel

    /// `checkpoint` is a folder name such as `step-900` (default: the newest).
    public init(run directory: URL, checkpoint name: String? = nil, backend: any Backend) throws {
        self.directory = directory
        config = try RunConfig.load(run: directory)
        if let pretrained = config.options.model.pretrainedText {
            // The pretrained text model's tokenizer, from the copy the run keeps.
            tokenizer = try TextModelFolder(directory.appendingPathComponent(RunDirectory.textModelFolder), pooling: pretrained.pooling).tokenizer
        } else {
            let tokenizerURL = directory.appendingPathComponent("tokenizer.json")
            guard let tokenizerData = FileManager.default.contents(atPath: tokenizerURL.path) else {
                throw TrainingError.runDirectory("\(directory.path) has no tokenizer.json")
            }
            tokenizer = try Tokenizer(jsonData: tokenizerData)
        }
        let classesURL = directory.appendingPathComponent("classes.json")
        guard let classesData = FileManager.default.contents(atPath: classesURL.path),
              let lists = try? JSONDecoder().decode([String: [String]].self, from: classesData),
              let classes = lists["classes"], let tags = lists["tags"] else {
            throw TrainingError.runDirectory("\(classesURL.path) is missing or not {\"classes\": [...], \"tags\": [...]}")
        }
        (classNames, tagNames) = (classes, tags)
        let checkpoints = CheckpointStore.list(run: directory)
        if let name {
            guard let found = checkpoints.first(where: { $0.url.lastPathComponent == name }) else {
                throw TrainingError.runDirectory("no checkpoint \(name) in \(directory.path); found: \(checkpoints.map(\.url.lastPathComponent).joined(separator: ", "))")
            }
            checkpoint = found.url
        } else {
            guard let newest = checkpoints.last else { throw TrainingError.runDirectory("\(directory.path) has no checkpoints yet") }
            checkpoint = newest.url
        }
        let options = config.options
        model = try options.recipe.makeModel(config: options.model, options: options.recipeOptions, seed: options.seed, backend: backend)
        try CheckpointStore.loadModel(model, from: checkpoint)
    }

    /// The run's data (or `source` instead), encoded with the run's tokenizer and text length.
    public func data(_ source: String? = nil, skipBadSamples: Bool = false, warn: (String) -> Void = { _ in }) throws -> TrainingData {
        try TrainingData.load(source ?? config.options.data, options: config.options, maxTextLength: config.options.model.maxTextLength,
                              tokenizer: tokenizer, expectedClasses: classNames, skipBadSamples: skipBadSamples, warn: warn)
    }
}
