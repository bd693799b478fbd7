import Autograd
import Compute
import Checkpoints
import Foundation
import NeuralNetworks
import Pretrained

/// One recipe's model: its parts and their parameters, its loss, and what it gives evaluation,
/// prediction and embedding. Each recipe is one type in a file of its own in this folder;
/// `Recipe.registered` lists it. The trainer, checkpoints, `eval`, `predict` and `embed`
/// know recipes only through this protocol. (`SendableMetatype`: `Recipe` holds the type.)
public protocol RecipeModel: Module, SendableMetatype {
    var config: ModelConfig { get }
    var options: RecipeOptions { get }
    /// The text tower (every recipe has one; `--text-model` makes it pretrained).
    var text: any TextTower { get }
    /// The image tower (nil for a recipe without one; `--image-model` makes it pretrained).
    var imageTower: (any ImageTower)? { get }
    /// Whether evaluation reports classification accuracy, and image–text retrieval.
    static var classifies: Bool { get }
    static var retrieves: Bool { get }
    /// θ of the contrastive logit scale `exp(θ)`, where the recipe learns one (`--init` loads
    /// CLIP's `logit_scale` into it).
    var logitScaleParameter: Tensor? { get }
    /// Whether `imageTower` is non-nil (`--image-model` is refused up front where it is not).
    static var hasImageTower: Bool { get }

    /// Initialised from `initializer` alone (seed and parameter names), so a model is the same
    /// on every backend and rank.
    init(config: ModelConfig, options: RecipeOptions, initializer: Initializer) throws

    /// The loss on `batch`, this rank's part of `shard`'s global batch. Randomness (ITM
    /// negatives) is a pure function of (seed, step, the samples' indices in their split).
    func loss(_ batch: Batch, shard: BatchShard, seed: UInt64) throws -> StepLoss
    /// What one batch adds to an evaluation: class predictions, retrieval embeddings, tags.
    func evaluate(_ batch: Batch, names: RecipeNames, into outputs: inout EvaluationOutputs) throws
    /// The outputs for one (image, text) batch of one; `visualContext`: ITA's cross view.
    func predict(_ batch: Batch, names: RecipeNames, visualContext: Bool) throws -> Prediction
    /// Image (nil when the model has no image tower) and text embeddings of a batch, and their width.
    func embed(_ batch: Batch) throws -> (image: Tensor?, text: Tensor, width: Int)

    /// Parameters weight decay leaves alone (CLIP's logit scale).
    var undecayedParameters: [Tensor] { get }
    /// After each optimizer step (CLIP's clamp of the logit scale).
    func afterOptimizerStep() throws
}

/// The loss of one training step and its named parts (for the log).
public struct StepLoss {
    public let total: Tensor
    /// One-element tensors on the device, read only when the step is logged.
    public let parts: [(name: String, tensor: Tensor)]

    public init(total: Tensor, parts: [(name: String, tensor: Tensor)]) { (self.total, self.parts) = (total, parts) }
}

extension RecipeModel {
    /// The name of the recipe this model is the type of.
    public var recipeName: String {
        Recipe.registered.first { ObjectIdentifier($0.modelType) == ObjectIdentifier(Self.self) }?.rawValue ?? String(describing: Self.self)
    }

    /// An embedding model's evaluation batch: both embeddings, for retrieval.
    func addEmbeddings(_ batch: Batch, into outputs: inout EvaluationOutputs) throws {
        let (image, text, _) = try embed(batch)
        if let image { outputs.imageEmbeddings += try image.values() }
        outputs.textEmbeddings += try text.values()
    }

    /// An embedding model's prediction: the cosine similarity of the pair.
    func similarityPrediction(_ batch: Batch) throws -> Prediction {
        let (image, text, _) = try embed(batch)
        var prediction = Prediction()
        if let image { prediction.similarity = cosine(try image.values(), try text.values()) }
        return prediction
    }

    public static var classifies: Bool { false }
    public static var retrieves: Bool { false }
    public static var hasImageTower: Bool { true }
    public var undecayedParameters: [Tensor] { [] }
    public var imageTower: (any ImageTower)? { nil }
    public var logitScaleParameter: Tensor? { nil }
    public func afterOptimizerStep() throws {}
}

/// The names a model's outputs are read with: the run's classes and BIO tags.
public struct RecipeNames: Sendable {
    public let classes: [String]
    public let tags: [String]

    public init(classes: [String], tags: [String]) { (self.classes, self.tags) = (classes, tags) }
}

/// What the batches of an evaluation produce, before the metrics.
public struct EvaluationOutputs {
    public var predictions: [Int] = []
    public var imageEmbeddings: [Float] = []
    public var textEmbeddings: [Float] = []
    /// Predicted tags of each sample's words: with the visual context, and from the text alone.
    public var predictedTags: [[String]] = []
    public var predictedTagsTextOnly: [[String]] = []

    public init() {}
}

extension RecipeModel {
    /// CLIP's `logit_scale` (θ, as CLIP stores it) from a weights file into this recipe's,
    /// clamped as training keeps it; a recipe without one ignores it.
    public func loadLogitScale(_ weights: [String: SafeTensor], path: String) throws {
        guard let parameter = logitScaleParameter else { return }
        guard let stored = weights["logit_scale"], stored.shape.reduce(1, *) == 1, let value = try stored.floatValues().first, value.isFinite else {
            throw PretrainedError.weightMismatch(path: path, problems: ["logit_scale: expected one finite value, found \(weights["logit_scale"].map { "shape \($0.shape)" } ?? "none")"])
        }
        try parameter.assign([value])
        try clampLogitScale(parameter)
    }
}

// Pieces several recipes share.

/// CLIP's θ, initialised to ln(1/0.07); the logit scale is `exp(θ)`, kept in [1, 100].
func makeLogitScaleLog(_ initializer: Initializer) throws -> Tensor {
    try Tensor([Float(Foundation.log(1 / 0.07))], shape: [1], on: initializer.backend, requiresGradient: true)
}

let maximumLogitScaleLog = Float(Foundation.log(100.0))

/// Clamps θ into [0, ln 100] on the device (prevents the known overflow).
func clampLogitScale(_ logitScaleLog: Tensor) throws {
    try logitScaleLog.backend.map(.clamp(lower: 0, upper: maximumLogitScaleLog), logitScaleLog.storage, into: logitScaleLog.storage, count: 1)
}

/// Symmetric InfoNCE of image against text embeddings at the learnable scale `exp(θ)`, over
/// the global batch of `shard` (nil: these embeddings are the whole batch). `gathered`: every
/// rank's embeddings when the caller has them already (else they are gathered here).
func contrastive(_ imageEmbedding: Tensor, _ textEmbedding: Tensor, logitScaleLog: Tensor, shard: BatchShard? = nil,
                 gathered: (images: Tensor, texts: Tensor)? = nil) throws -> Tensor {
    let scale = try logitScaleLog.exp()
    guard let shard, shard.group.size > 1 else { return try imageEmbedding.infoNCE(textEmbedding, logitScale: scale) }
    // This rank's rows of the global score matrix, in both directions, against every rank's
    // embeddings. A sample's label is its global position, so row i's one positive is the
    // global matrix's diagonal; the mean over ranks of these row means is the global loss.
    let rows = shard.ownPositions.map(Float.init), columns = (0..<shard.globalSize).map(Float.init)
    let (allImages, allTexts) = try gathered ?? shard.gatheredEmbeddings(imageEmbedding, textEmbedding)
    let imageToText = try imageEmbedding.infoNCE(allTexts, logitScale: scale, targets: .labels, labelsA: rows, labelsB: columns, direction: .rows)
    let textToImage = try textEmbedding.infoNCE(allImages, logitScale: scale, targets: .labels, labelsA: rows, labelsB: columns, direction: .rows)
    return try (imageToText + textToImage).scaled(0.5)
}

/// Fusion of (text `textRows[k]`, image `imageRows[k]`) pairs of the batch → pooled `[n, 2D]`,
/// the text read at its first token (the matching head's input).
func fuse(_ fusion: FusionEncoder, text tokens: Tensor, mask: [Float], image patches: Tensor, textRows: [Int], imageRows: [Int]) throws -> Tensor {
    let (length, width, count) = (tokens.shape[1], tokens.shape[2], patches.shape[1])
    let pairedText = try tokens.reshaped([tokens.shape[0], length * width]).gatherRows(textRows.map(Int32.init)).reshaped([textRows.count, length, width])
    let pairedImage = try patches.reshaped([patches.shape[0], count * width]).gatherRows(imageRows.map(Int32.init)).reshaped([imageRows.count, count, width])
    let pairedMask = textRows.flatMap { mask[($0 * length)..<(($0 + 1) * length)] }
    return try fusion(text: pairedText, textMask: pairedMask, image: pairedImage, textPooling: .firstToken).pooled
}

/// The probabilities of logits (the maximum subtracted first, in float64).
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

/// A prediction's class probabilities by class name, and the most likely class.
func classPrediction(_ logits: [Float], names: RecipeNames, into prediction: inout Prediction) {
    let probabilities = Dictionary(uniqueKeysWithValues: zip(names.classes, softmax(logits)).map { ($0, $1) })
    prediction.probabilities = probabilities
    prediction.predictedClass = probabilities.max { $0.value < $1.value }?.key
}

/// The index of the largest value in each row of `classes` values (NaN never wins).
func argmax(_ values: [Float], classes: Int) -> [Int] {
    stride(from: 0, to: values.count, by: classes).map { start in
        var best = 0
        for c in 1..<max(classes, 1) where values[start + c] > values[start + best] || values[start + best].isNaN { best = c }
        return best
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
