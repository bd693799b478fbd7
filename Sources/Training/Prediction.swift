import Autograd
import Compute
import Datasets
import Foundation
import Multimodal

extension LoadedRun {
    /// Encodes one sample with the run's tokenizer, as a batch of one.
    func batch(_ sample: Sample, on backend: any Backend) throws -> Batch {
        let config = model.config
        let encoded = TrainingData.encode([sample], tokenizer: tokenizer, tagNames: tagNames, maxLength: config.maxTextLength)
        return try Batch(encoded, indices: [0], patchSize: config.patchSize, imageSize: config.imageSize, on: backend)
    }

    /// The model's outputs for `image` (CHW, normalised, the model's size) and `text`;
    /// `imageText` is ITA's visual context.
    public func predict(image: [Float], text: String, imageText: String = "", on backend: any Backend) throws -> Prediction {
        // Every word gets a placeholder tag so the tagging targets mark word positions.
        let words = Tokenizer.words(text)
        let sample = Sample(image: image, text: text, label: 0, tags: words.map { _ in tagNames.first ?? "O" }, imageText: imageText)
        let batch = try batch(sample, on: backend)
        return try Autograd.withoutGradients {
            var prediction = try model.predict(batch, names: RecipeNames(classes: classNames, tags: tagNames), visualContext: !imageText.isEmpty)
            if prediction.tags != nil { prediction.words = words }
            return prediction
        }
    }

    /// Image and text embeddings of the first `limit` samples of `split` (`[N, E]` each; no image
    /// embeddings for ita, whose model reads the visual context as text).
    public func embeddings(_ data: TrainingData, split: DatasetSplit, batchSize: Int, on backend: any Backend)
        throws -> (image: [Float]?, text: [Float], count: Int, width: Int) {
        let encoded = try data.split(split)
        var (images, texts) = ([Float](), [Float]())
        var width = model.config.width
        try Autograd.withoutGradients {
            for start in stride(from: 0, to: encoded.count, by: batchSize) {
                let batch = try Batch(encoded, indices: Array(start..<min(start + batchSize, encoded.count)), patchSize: model.config.patchSize,
                                      imageSize: model.config.imageSize, on: backend)
                let embedded = try model.embed(batch)
                if let image = embedded.image { images += try image.values() }
                texts += try embedded.text.values()
                width = embedded.width
            }
        }
        return (images.isEmpty ? nil : images, texts, encoded.count, width)
    }
}
