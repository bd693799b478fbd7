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
    /// The pretrained image tower's config and preprocessing, from the copy the run keeps.
    public let imageModel: ImageModelFolder?
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
        imageModel = config.options.model.pretrainedImage == nil ? nil
            : try ImageModelFolder(directory.appendingPathComponent(RunDirectory.imageModelFolder))
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

    /// An image file's RGB pixels as the model takes them: the pretrained image tower's
    /// preprocessing, or a stretch to the image size in [−1, 1].
    public func imageInput(rgb: [UInt8], width: Int, height: Int) throws -> [Float] {
        if let imageModel { return try imageModel.preprocessor.pixelValues(rgb: rgb, width: width, height: height) }
        return ImageDecoder.resizedCHW(rgb, width: width, height: height, to: model.config.imageSize)
    }

    /// The run's data (or `source` instead), encoded with the run's tokenizer and text length.
    public func data(_ source: String? = nil, skipBadSamples: Bool = false, warn: (String) -> Void = { _ in }) throws -> TrainingData {
        try TrainingData.load(source ?? config.options.data, options: config.options, maxTextLength: config.options.model.maxTextLength,
                              tokenizer: tokenizer, imageModel: imageModel, expectedClasses: classNames, skipBadSamples: skipBadSamples, warn: warn)
    }
}
