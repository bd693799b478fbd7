import Autograd
import Compute
import Datasets
import Foundation
import Models

/// What a trained model says about one (image, text) pair, by recipe.
public struct Prediction: Codable, Sendable {
    /// Class probabilities, by class name (itc-itm, vlcdoc).
    public var probabilities: [String: Double]?
    public var predictedClass: String?
    /// Probability that image and text match (itc-itm's ITM head).
    public var matchProbability: Double?
    /// Cosine similarity of the image and text embeddings (clip, itc-itm, local-mi).
    public var similarity: Double?
    /// One BIO tag per word of the text (ita).
    public var words: [String]?
    public var tags: [String]?
}

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
            var prediction = Prediction()
            func softmax(_ logits: [Float]) -> [Double] {
                let top = logits.max() ?? 0
                let e = logits.map { Foundation.exp(Double($0 - top)) }
                let total = e.reduce(0, +)
                return e.map { $0 / total }
            }
            func cosine(_ a: [Float], _ b: [Float]) -> Double {
                let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let norms = (a.reduce(0.0) { $0 + Double($1 * $1) } * b.reduce(0.0) { $0 + Double($1 * $1) }).squareRoot()
                return norms > 0 ? dot / norms : 0
            }
            switch model.recipe {
            case .clip, .itcItm:
                let encoded = try model.encode(batch)
                prediction.similarity = cosine(try encoded.imageEmbedding.values(), try encoded.textEmbedding.values())
                if model.recipe == .itcItm, let classifier = model.classifier, let itmHead = model.itmHead {
                    let pooled = try model.fuse(text: encoded.text, mask: batch.mask, image: encoded.image, textRows: [0], imageRows: [0])
                    prediction.probabilities = classProbabilities(softmax(try classifier(pooled).values()))
                    prediction.matchProbability = softmax(try itmHead(pooled).values())[1]
                }
            case .vlcdoc:
                guard let classifier = model.classifier else { break }
                prediction.probabilities = classProbabilities(softmax(try classifier(model.vlcdocFusion(batch).pooled).values()))
            case .localMI:
                let embedded = try model.localEmbeddings(batch)
                prediction.similarity = cosine(try embedded.image.values(), try embedded.text.values())
            case .ita:
                let logits = try model.tagLogits(ids: imageText.isEmpty ? batch.ids : batch.crossIds, mask: imageText.isEmpty ? batch.mask : batch.crossMask)
                let predicted = argmax(try logits.values(), classes: model.config.tagClasses)
                prediction.words = words
                prediction.tags = batch.tagTargets.indices.filter { batch.tagTargets[$0] != TrainingData.ignoreIndex }.map { tagNames[predicted[$0]] }
            }
            if let probabilities = prediction.probabilities {
                prediction.predictedClass = probabilities.max { $0.value < $1.value }?.key
            }
            return prediction
        }
    }

    private func classProbabilities(_ values: [Double]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: zip(classNames, values).map { ($0, $1) })
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
                switch model.recipe {
                case .clip, .itcItm:
                    let encodedBatch = try model.encode(batch)
                    images += try encodedBatch.imageEmbedding.values()
                    texts += try encodedBatch.textEmbedding.values()
                    width = model.config.projection
                case .localMI:
                    let embedded = try model.localEmbeddings(batch)
                    texts += try embedded.text.values()
                    images += try embedded.image.values()
                    width = model.config.projection
                case .vlcdoc:
                    guard let image = model.image else { break }
                    texts += try model.text(ids: batch.ids, mask: batch.mask).cls.values()
                    images += try image(patches: batch.patches).cls.values()
                case .ita:
                    texts += try model.text(ids: batch.crossIds, mask: batch.crossMask).cls.values()
                }
            }
        }
        return (images.isEmpty ? nil : images, texts, encoded.count, width)
    }
}
