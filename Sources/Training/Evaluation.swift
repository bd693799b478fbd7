import Autograd
import Compute
import Datasets
import Foundation
import Multimodal

/// The metrics of a model on one split; a metric is nil when the recipe does not produce it.
public struct Evaluation: Codable, Sendable, Equatable {
    public struct Retrieval: Codable, Sendable, Equatable {
        public var r1, r5, r10: Double
    }

    public var split: String
    public var samples: Int
    /// Task classification accuracy (the fused classifier).
    public var accuracy: Double?
    public var macroF1: Double?
    public var imageToText: Retrieval?
    public var textToImage: Retrieval?
    /// Entity-level BIO F1; for ITA also on the text-only view.
    public var taggingF1: Double?
    public var taggingF1TextOnly: Double?

    /// `name → value` for logs and plots (`accuracy`, `i2t_r1`, `tagging_f1`, …).
    public var flattened: [(name: String, value: Double)] {
        var all: [(String, Double)] = []
        if let accuracy { all.append(("accuracy", accuracy)) }
        if let macroF1 { all.append(("macro_f1", macroF1)) }
        for (prefix, retrieval) in [("i2t", imageToText), ("t2i", textToImage)] {
            guard let retrieval else { continue }
            all += [("\(prefix)_r1", retrieval.r1), ("\(prefix)_r5", retrieval.r5), ("\(prefix)_r10", retrieval.r10)]
        }
        if let taggingF1 { all.append(("tagging_f1", taggingF1)) }
        if let taggingF1TextOnly { all.append(("tagging_f1_text_only", taggingF1TextOnly)) }
        return all
    }

    /// Every name `flattened` can produce, in its order.
    public static let metricNames = ["accuracy", "macro_f1", "i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10",
                                     "tagging_f1", "tagging_f1_text_only"]

    /// The metric a run is judged by, for the log line and the summary.
    public var headline: (name: String, value: Double)? { flattened.first }
}

extension RecipeModel {
    /// Evaluates on the first `limit` samples (all when nil) of `split`, without recording
    /// gradients: the recipe says what each batch gives (`evaluate(_:names:into:)`), and the
    /// metrics follow from what was given.
    public func evaluate(_ data: TrainingData, split: DatasetSplit, batchSize: Int, limit: Int? = nil, on backend: any Backend) throws -> Evaluation {
        let encoded = try data.split(split)
        let count = min(limit ?? encoded.count, encoded.count)
        var result = Evaluation(split: split.rawValue, samples: count)
        var outputs = EvaluationOutputs()
        let names = RecipeNames(classes: data.classNames, tags: data.tagNames)
        try Autograd.withoutGradients {
            for start in stride(from: 0, to: count, by: batchSize) {
                let batch = try Batch(encoded, indices: Array(start..<min(start + batchSize, count)), patchSize: config.patchSize,
                                      imageSize: config.imageSize, on: backend)
                try evaluate(batch, names: names, into: &outputs)
            }
        }
        if !outputs.predictions.isEmpty {
            let labels = (0..<count).map { encoded.samples[$0].label }
            result.accuracy = Metrics.accuracy(predictions: outputs.predictions, labels: labels)
            result.macroF1 = Metrics.macroF1(predictions: outputs.predictions, labels: labels, classCount: config.classes)
        }
        if !outputs.imageEmbeddings.isEmpty {
            let recall = Metrics.retrieval(imageEmbeddings: outputs.imageEmbeddings, textEmbeddings: outputs.textEmbeddings, count: count,
                                           dimension: config.projection)
            func retrieval(_ values: [Int: Double]) -> Evaluation.Retrieval { .init(r1: values[1] ?? 0, r5: values[5] ?? 0, r10: values[10] ?? 0) }
            (result.imageToText, result.textToImage) = (retrieval(recall.imageToText), retrieval(recall.textToImage))
        }
        if !outputs.predictedTags.isEmpty {
            let gold = (0..<count).map { encoded.samples[$0].tags }
            result.taggingF1 = Metrics.spanF1(predicted: outputs.predictedTags, gold: gold).f1
            result.taggingF1TextOnly = Metrics.spanF1(predicted: outputs.predictedTagsTextOnly, gold: gold).f1
        }
        return result
    }
}
