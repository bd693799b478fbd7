import Datasets
import Foundation

extension ModelFolder {
    /// The folder's `preprocessor_config.json`, checked to give the vision model's image size.
    public func imagePreprocessor(for config: CLIPConfig) throws -> CLIPImagePreprocessor {
        guard exists("preprocessor_config.json") else {
            throw PretrainedError.missingFile(path: file("preprocessor_config.json").path,
                                              what: "the image preprocessing (CLIPImageProcessor's preprocessor_config.json, as save_pretrained writes it)")
        }
        let preprocessor = try CLIPImagePreprocessor(folder: url)
        guard preprocessor.outputHeight == config.imageSize, preprocessor.outputWidth == config.imageSize else {
            throw PretrainedError.invalidConfig(path: file("preprocessor_config.json").path, key: "crop_size",
                                                expected: "\(config.imageSize)×\(config.imageSize), the vision model's image_size",
                                                found: "\(preprocessor.outputHeight)×\(preprocessor.outputWidth)")
        }
        return preprocessor
    }
}

/// A CLIP folder whose vision tower a recipe fine-tunes as its image tower (`aligncl train
/// --image-model`): its sizes, and the image preprocessing the tower was trained with.
public struct ImageModelFolder: Sendable {
    public let model: ModelFolder
    public let config: CLIPConfig
    public let preprocessor: CLIPImagePreprocessor

    /// The files that rebuild the tower's shape and its preprocessing without the weights: a
    /// run keeps copies, so it is evaluated and resumed after the folder is gone.
    public static let descriptionFiles = ["config.json", "preprocessor_config.json"]

    public init(_ url: URL) throws {
        let model = try ModelFolder(url)
        let modelType = (model.config.values["model_type"] as? String) ?? ""
        guard model.architecture == "CLIPModel" || modelType == "clip" else {
            throw PretrainedError.unsupportedArchitecture(path: model.file("config.json").path, found: model.architecture, supported: ["CLIPModel"])
        }
        config = try CLIPConfig(model.config)
        preprocessor = try model.imagePreprocessor(for: config)
        self.model = model
    }

    /// Copies this model's `descriptionFiles` into `destination` (created).
    public func copyDescription(to destination: URL) throws { try ModelFolder.copy(Self.descriptionFiles, of: model.url, to: destination) }
}
