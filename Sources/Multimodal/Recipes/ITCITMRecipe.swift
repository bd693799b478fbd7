import Autograd
import Compute
import Foundation
import NeuralNetworks

/// ITC + ITM (the default): both encoders and cross-modal fusion, a classifier on the fused
/// pair trained with task CE + β_itc·ITC + β_itm·ITM, negatives random or hard (ALBEF/BLIP).
public final class ITCITMModel: RecipeModel {
    public static let classifies = true
    public static let retrieves = true
    public let config: ModelConfig
    public let options: RecipeOptions
    public let text: any TextTower
    public let image: any ImageTower
    public let fusion: FusionEncoder
    /// Task classes and the 2-way ITM head, on the pooled fusion `[n, 2D]`.
    public let classifier, itmHead: Linear
    public let textProjection, imageProjection: Linear
    public let logitScaleLog: Tensor

    public init(config: ModelConfig, options: RecipeOptions, initializer: Initializer) throws {
        (self.config, self.options) = (config, options)
        text = try makeTextTower(config: config, initializer: initializer)
        image = try makeImageTower(config: config, initializer: initializer)
        fusion = try FusionEncoder(config: config, initializer: initializer)
        classifier = try Linear(2 * config.width, config.classes, name: "classifier", initializer: initializer)
        itmHead = try Linear(2 * config.width, 2, name: "itm", initializer: initializer)
        textProjection = try Linear(config.width, config.projection, name: "text_projection", initializer: initializer)
        imageProjection = try Linear(config.width, config.projection, name: "image_projection", initializer: initializer)
        logitScaleLog = try makeLogitScaleLog(initializer)
    }

    public var imageTower: (any ImageTower)? { image }
    public var logitScaleParameter: Tensor? { logitScaleLog }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        Self.prefixed("text", text) + Self.prefixed("image", image) + Self.prefixed("fusion", fusion) + Self.prefixed("classifier", classifier)
            + Self.prefixed("itm", itmHead) + Self.prefixed("text_projection", textProjection) + Self.prefixed("image_projection", imageProjection)
            + [("logit_scale", logitScaleLog)]
    }

    public var undecayedParameters: [Tensor] { [logitScaleLog] }

    public func afterOptimizerStep() throws { try clampLogitScale(logitScaleLog) }

    /// Encoders and the ITC projections: (text tokens, image patches, text embedding, image embedding).
    func encode(_ batch: Batch) throws -> (text: Tensor, image: Tensor, textEmbedding: Tensor, imageEmbedding: Tensor) {
        let (tokens, textCLS) = try text(ids: batch.ids, mask: batch.mask)
        let (patches, imageCLS) = try image(patches: batch.patches)
        return (tokens, patches, try textProjection(textCLS), try imageProjection(imageCLS))
    }

    public func loss(_ batch: Batch, shard: BatchShard, seed: UInt64) throws -> StepLoss {
        let encoded = try encode(batch)
        // Gathered once: for ITC and, as values, for the hard negatives.
        let all = try shard.gatheredEmbeddings(encoded.imageEmbedding, encoded.textEmbedding)
        let itc = try contrastive(encoded.imageEmbedding, encoded.textEmbedding, logitScaleLog: logitScaleLog, shard: shard, gathered: all)
        // Rows of the fusion batch are global positions: a negative may be another rank's sample.
        let size = batch.size, positives = Array(shard.ownPositions)
        // Fusion batch: the positive pairs first (task CE), then the ITM pairs.
        var (textRows, imageRows, itmLabels) = (positives, positives, [Int32]())
        switch options.itmNegatives {
        case .random:
            let partners = randomTextPartners(shard, seed: seed)
            textRows += partners
            imageRows += positives
            itmLabels = zip(positives, partners).map { $0 == $1 ? 1 : 0 }
        case .hard:
            let (negativeTexts, negativeImages) = try hardNegatives(all.images, all.texts, shard, seed: seed)
            textRows += negativeTexts + positives
            imageRows += positives + negativeImages
            itmLabels = [Int32](repeating: 1, count: size) + [Int32](repeating: 0, count: 2 * size)
        }
        let pooled = try fuse(fusion, text: shard.gathered(encoded.text, "text tokens"), mask: shard.gathered(batch.mask, "text masks"),
                              image: shard.gathered(encoded.image, "image patches"), textRows: textRows, imageRows: imageRows)
        let task = try classifier(pooled.sliced(axis: 0, 0..<size)).crossEntropy(targets: batch.labels)
        let itmInput = options.itmNegatives == .random ? try pooled.sliced(axis: 0, size..<(2 * size)) : pooled
        let itm = try itmHead(itmInput).crossEntropy(targets: itmLabels)
        let (betaITC, betaITM) = (options.betaITC, options.betaITM)
        let total = try task.scaled(1 - betaITC - betaITM) + itc.scaled(betaITC) + itm.scaled(betaITM)
        return StepLoss(total: total, parts: [("task", task), ("itc", itc), ("itm", itm)])
    }

    /// For each of this rank's samples: its own text (a matched pair) or, with probability ½, a
    /// uniformly chosen other text of the global batch (global positions).
    func randomTextPartners(_ shard: BatchShard, seed: UInt64) -> [Int] {
        let (size, step) = (shard.globalSize, shard.step)
        return shard.ownPositions.map { b in
            let index = UInt64(shard.globalIndices[b])
            guard size > 1, Philox.uniform(seed: seed ^ 0x1D_17E5, step: UInt32(truncatingIfNeeded: step), index: 2 * index) < 0.5 else { return b }
            let offset = 1 + Int(Philox.uniform(seed: seed ^ 0x1D_17E5, step: UInt32(truncatingIfNeeded: step), index: 2 * index + 1) * Float(size - 1))
            return (b + min(offset, size - 1)) % size
        }
    }

    /// One negative text per image and one negative image per text of this rank, each drawn
    /// from the global batch (global positions) by the softmax of the scaled cosine similarities
    /// with its own pair excluded (1e-4 added first so no row is all zero). `allImages` and
    /// `allTexts` are every rank's embeddings.
    func hardNegatives(_ allImages: Tensor, _ allTexts: Tensor, _ shard: BatchShard, seed: UInt64) throws -> (texts: [Int], images: [Int]) {
        let (size, step, dimension) = (shard.globalSize, shard.step, allImages.shape[1])
        guard size > 1 else { return ([0], [0]) }
        func normalized(_ values: ArraySlice<Float>) -> [[Double]] {
            (0..<size).map { row in
                let v = values[(values.startIndex + row * dimension)..<(values.startIndex + (row + 1) * dimension)].map(Double.init)
                let norm = max(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                return v.map { $0 / norm }
            }
        }
        // One read brings both embeddings and θ: they are gathered into one buffer first.
        let backend = allImages.backend, count = size * dimension
        let gathered = try backend.makeBuffer(count: 2 * count + 1)
        for (offset, part) in [(0, allImages), (count, allTexts)] {
            try backend.copyBlocks(part.storage, to: gathered, BlockCopy(blocks: 1, blockLength: count, sourceStride: count, destinationOffset: offset, destinationStride: count))
        }
        try backend.copyBlocks(logitScaleLog.storage, to: gathered, BlockCopy(blocks: 1, blockLength: 1, sourceStride: 1, destinationOffset: 2 * count, destinationStride: 1))
        let values = try backend.read(gathered)
        let (images, texts) = (normalized(values[..<count]), normalized(values[count..<(2 * count)]))
        let s = Foundation.exp(Double(values[2 * count]).clamped(to: 0...Double(maximumLogitScaleLog)))
        func similarity(_ image: Int, _ text: Int) -> Double { s * zip(images[image], texts[text]).reduce(0) { $0 + $1.0 * $1.1 } }
        func draw(_ scores: [Double], own: Int, index: UInt64) -> Int {
            let top = scores.max() ?? 0
            var weights = scores.map { Foundation.exp($0 - top) }
            let total = weights.reduce(0, +)
            weights = weights.map { $0 / total + 1e-4 }
            weights[own] = 0
            let u = Double(Philox.uniform(seed: seed ^ 0x4A_2D, step: UInt32(truncatingIfNeeded: step), index: index)) * weights.reduce(0, +)
            var running = 0.0
            for (j, weight) in weights.enumerated() where weight > 0 {
                running += weight
                if u < running { return j }
            }
            return own == size - 1 ? size - 2 : size - 1
        }
        let negativeTexts = shard.ownPositions.map { i in draw((0..<size).map { similarity(i, $0) }, own: i, index: 2 * UInt64(shard.globalIndices[i])) }
        let negativeImages = shard.ownPositions.map { j in draw((0..<size).map { similarity($0, j) }, own: j, index: 2 * UInt64(shard.globalIndices[j]) + 1) }
        return (negativeTexts, negativeImages)
    }

    public func evaluate(_ batch: Batch, names: RecipeNames, into outputs: inout EvaluationOutputs) throws {
        let encoded = try encode(batch)
        outputs.imageEmbeddings += try encoded.imageEmbedding.values()
        outputs.textEmbeddings += try encoded.textEmbedding.values()
        let rows = Array(0..<batch.size)
        let pooled = try fuse(fusion, text: encoded.text, mask: batch.mask, image: encoded.image, textRows: rows, imageRows: rows)
        outputs.predictions += argmax(try classifier(pooled).values(), classes: config.classes)
    }

    public func predict(_ batch: Batch, names: RecipeNames, visualContext: Bool) throws -> Prediction {
        let encoded = try encode(batch)
        var prediction = Prediction()
        prediction.similarity = cosine(try encoded.imageEmbedding.values(), try encoded.textEmbedding.values())
        let pooled = try fuse(fusion, text: encoded.text, mask: batch.mask, image: encoded.image, textRows: [0], imageRows: [0])
        classPrediction(try classifier(pooled).values(), names: names, into: &prediction)
        prediction.matchProbability = softmax(try itmHead(pooled).values())[1]
        return prediction
    }

    public func embed(_ batch: Batch) throws -> (image: Tensor?, text: Tensor, width: Int) {
        let encoded = try encode(batch)
        return (encoded.imageEmbedding, encoded.textEmbedding, config.projection)
    }
}

extension Recipe {
    /// A fused classifier trained with task CE + β_itc·ITC + β_itm·ITM (the default).
    public static let itcItm = Recipe(name: "itc-itm", model: ITCITMModel.self)
}
