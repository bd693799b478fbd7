import Autograd
import Compute
import Foundation
import Models

/// The loss of one training step and its named parts (for the log).
public struct StepLoss {
    public let total: Tensor
    /// One-element tensors on the device, read only when the step is logged.
    public let parts: [(name: String, tensor: Tensor)]
}

extension AlignmentModel {
    /// The recipe's loss on `batch`, this rank's part of `shard`'s global batch. Randomness
    /// (ITM negatives) is a pure function of (seed, step, the samples' indices in their split),
    /// so it does not depend on how the global batch is split over ranks.
    public func loss(_ batch: Batch, shard: BatchShard, seed: UInt64) throws -> StepLoss {
        switch recipe {
        case .clip: return try clipLoss(batch, shard)
        case .itcItm: return try itcItmLoss(batch, shard, seed: seed)
        case .vlcdoc: return try vlcdocLoss(batch, shard)
        case .ita: return try itaLoss(batch, shard)
        case .localMI: return try localMILoss(batch, shard)
        }
    }

    /// Encoders and the ITC projections: (text tokens, image patches, text embedding, image embedding).
    func encode(_ batch: Batch) throws -> (text: Tensor, image: Tensor, textEmbedding: Tensor, imageEmbedding: Tensor) {
        guard let image, let textProjection, let imageProjection else { throw TrainingError.invalidOption("\(recipe.rawValue) has no contrastive heads") }
        let (tokens, textCLS) = try text(ids: batch.ids, mask: batch.mask)
        let (patches, imageCLS) = try image(patches: batch.patches)
        return (tokens, patches, try textProjection(textCLS), try imageProjection(imageCLS))
    }

    /// local-mi's embeddings for retrieval and use: the text projection of [CLS] and the mean
    /// of the image-location projections.
    func localEmbeddings(_ batch: Batch) throws -> (image: Tensor, text: Tensor) {
        guard let image, let textProjection, let imageProjection else { throw TrainingError.invalidOption("\(recipe.rawValue) has no projections") }
        return (try maskedMean(imageProjection(image(patches: batch.patches).patches), mask: nil),
                try textProjection(text(ids: batch.ids, mask: batch.mask).cls))
    }

    /// Symmetric InfoNCE of image against text embeddings at the learnable scale `exp(θ)`, over
    /// the global batch of `shard` (nil: these embeddings are the whole batch). `gathered`: every
    /// rank's embeddings when the caller has them already (else they are gathered here).
    func contrastive(_ imageEmbedding: Tensor, _ textEmbedding: Tensor, shard: BatchShard? = nil,
                     gathered: (images: Tensor, texts: Tensor)? = nil) throws -> Tensor {
        guard let logitScaleLog else { throw TrainingError.invalidOption("\(recipe.rawValue) has no logit scale") }
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

    private func clipLoss(_ batch: Batch, _ shard: BatchShard) throws -> StepLoss {
        let encoded = try encode(batch)
        let itc = try contrastive(encoded.imageEmbedding, encoded.textEmbedding, shard: shard)
        return StepLoss(total: itc, parts: [("itc", itc)])
    }

    /// Fusion of (text `textRows[k]`, image `imageRows[k]`) pairs of the batch → pooled `[n, 2D]`.
    func fuse(text tokens: Tensor, mask: [Float], image patches: Tensor, textRows: [Int], imageRows: [Int]) throws -> Tensor {
        guard let fusion else { throw TrainingError.invalidOption("\(recipe.rawValue) has no fusion layers") }
        let (length, width, count) = (tokens.shape[1], tokens.shape[2], patches.shape[1])
        let pairedText = try tokens.reshaped([tokens.shape[0], length * width]).gatherRows(textRows.map(Int32.init)).reshaped([textRows.count, length, width])
        let pairedImage = try patches.reshaped([patches.shape[0], count * width]).gatherRows(imageRows.map(Int32.init)).reshaped([imageRows.count, count, width])
        let pairedMask = textRows.flatMap { mask[($0 * length)..<(($0 + 1) * length)] }
        return try fusion(text: pairedText, textMask: pairedMask, image: pairedImage).pooled
    }

    private func itcItmLoss(_ batch: Batch, _ shard: BatchShard, seed: UInt64) throws -> StepLoss {
        guard let classifier, let itmHead else { throw TrainingError.invalidOption("itc-itm needs its heads") }
        let encoded = try encode(batch)
        // Gathered once: for ITC and, as values, for the hard negatives.
        let all = try shard.gatheredEmbeddings(encoded.imageEmbedding, encoded.textEmbedding)
        let itc = try contrastive(encoded.imageEmbedding, encoded.textEmbedding, shard: shard, gathered: all)
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
        let pooled = try fuse(text: shard.gathered(encoded.text, "text tokens"), mask: shard.gathered(batch.mask, "text masks"),
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
        func normalized(_ values: [Float]) -> [[Double]] {
            (0..<size).map { row in
                let v = values[(row * dimension)..<((row + 1) * dimension)].map(Double.init)
                let norm = max(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                return v.map { $0 / norm }
            }
        }
        // One read brings both embeddings and θ: they are gathered into one buffer first.
        let backend = allImages.backend, count = size * dimension
        let gathered = try backend.makeBuffer(count: 2 * count + 1)
        try backend.fill(gathered, with: 0, count: 2 * count + 1)
        for (offset, part) in [(0, allImages), (count, allTexts)] {
            try backend.copyBlocks(part.storage, to: gathered, BlockCopy(blocks: 1, blockLength: count, sourceStride: count, destinationOffset: offset, destinationStride: count))
        }
        if let logitScaleLog {
            try backend.copyBlocks(logitScaleLog.storage, to: gathered, BlockCopy(blocks: 1, blockLength: 1, sourceStride: 1, destinationOffset: 2 * count, destinationStride: 1))
        }
        let values = try backend.read(gathered)
        let (images, texts) = (normalized(Array(values[..<count])), normalized(Array(values[count..<(2 * count)])))
        let scale = Double(values[2 * count]).clamped(to: 0...Double(Self.maximumLogitScaleLog))
        let s = Foundation.exp(scale)
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

    /// VLCDoC: both encoders, then the fusion layers over each sample's own pair.
    func vlcdocFusion(_ batch: Batch) throws -> (pooled: Tensor, text: Tensor, image: Tensor) {
        guard let image, let fusion else { throw TrainingError.invalidOption("\(recipe.rawValue) has no fusion layers") }
        return try fusion(text: text(ids: batch.ids, mask: batch.mask).tokens, textMask: batch.mask, image: image(patches: batch.patches).patches)
    }

    private func vlcdocLoss(_ batch: Batch, _ shard: BatchShard) throws -> StepLoss {
        guard let classifier else { throw TrainingError.invalidOption("vlcdoc needs its classifier") }
        let fused = try vlcdocFusion(batch)
        let task = try classifier(fused.pooled).crossEntropy(targets: batch.labels)
        let (imageFeatures, textFeatures) = (try maskedMean(fused.image, mask: nil), try maskedMean(fused.text, mask: batch.mask))
        let labels = batch.labels.map(Float.init)
        let allLabels = try shard.gathered(labels, "labels")
        let scale = try Tensor([1 / options.alignmentTemperature], shape: [1], on: fused.pooled.backend)
        // Supervised contrastive ("n-pairs"): row i's target is uniform over the samples of its
        // class in the global batch; this rank computes its own rows.
        func align(_ a: Tensor, _ b: Tensor) throws -> Tensor {
            try a.infoNCE(shard.gathered(b, "alignment features"), logitScale: scale, targets: .labels, labelsA: labels, labelsB: allLabels, direction: .rows)
        }
        let (imageIntra, textIntra) = (try alignment["image_intra"]!(imageFeatures), try alignment["text_intra"]!(textFeatures))
        let (imageInter, textInter) = (try alignment["image_inter"]!(imageFeatures), try alignment["text_inter"]!(textFeatures))
        let intra = try align(imageIntra, imageIntra) + align(textIntra, textIntra)
        let inter = try align(imageInter, textInter) + align(textInter, imageInter)
        return StepLoss(total: try task + intra + inter,
                        parts: [("task", task), ("intra", intra), ("inter", inter)])
    }

    /// Tag logits `[B·L, tags]` of a view.
    func tagLogits(ids: Tensor, mask: [Float]) throws -> Tensor {
        guard let tagger else { throw TrainingError.invalidOption("\(recipe.rawValue) has no tagger") }
        let tokens = try text(ids: ids, mask: mask).tokens
        return try tagger(tokens).reshaped([tokens.shape[0] * tokens.shape[1], config.tagClasses])
    }

    private func itaLoss(_ batch: Batch, _ shard: BatchShard) throws -> StepLoss {
        let cross = try tagLogits(ids: batch.crossIds, mask: batch.crossMask)
        // Cross-view alignment on the sentence's tagged tokens: the text-only view learns from
        // the cross view (the teacher, detached), T²·KL(teacher ‖ student).
        let tagged = batch.tagTargets.enumerated().filter { $0.element != TrainingData.ignoreIndex }.map { Int32($0.offset) }
        // Both terms are means over the global batch's tagged tokens.
        let weight = try shard.meanWeight(count: tagged.count, "tagged tokens")
        let tagging = try cross.crossEntropy(targets: batch.tagTargets, ignoreIndex: TrainingData.ignoreIndex).scaled(weight)
        // A rank whose samples have no tagged token adds nothing (0, not the mean of no rows);
        // its parameters still get (zero) gradients through the tagging term.
        let cva = tagged.isEmpty ? try tagging.scaled(0)
            : try tagLogits(ids: batch.ids, mask: batch.mask).gatherRows(tagged)
                .klDivergence(teacher: cross.gatherRows(tagged).detached(), temperature: options.cvaTemperature).scaled(weight)
        let rate = options.cvaRate
        return StepLoss(total: try tagging.scaled(1 - rate) + cva.scaled(rate),
                        parts: [("tagging", tagging), ("cva", cva)])
    }

    /// Per-location (or pooled) score matrices `[G, B, B]` of the global batch: dot products of
    /// the image-location projections with the text projection, over √projection so the critic
    /// starts near 0. Every rank computes the whole matrix (the DV bound's log-mean is not a sum
    /// over rows), so the loss is the same on every rank; the reduce-scatter then gives each rank
    /// the sum of N identical gradients of its rows, and averaging over ranks undoes the N.
    func localScores(_ batch: Batch, _ shard: BatchShard) throws -> Tensor {
        guard let image, let textProjection, let imageProjection else { throw TrainingError.invalidOption("local-mi needs its projections") }
        let (size, width) = (shard.globalSize, config.projection)
        let textEmbedding = try shard.gathered(textProjection(text(ids: batch.ids, mask: batch.mask).cls), "text embeddings")
        let locations = try shard.gathered(imageProjection(image(patches: batch.patches).patches), "image locations")  // [B, P, E]
        let grouped = options.globalMI ? try maskedMean(locations, mask: nil).reshaped([1, size, width]) : try locations.transposed(0, 1)
        let groups = grouped.shape[0]
        let texts = try Tensor.concatenated([Tensor](repeating: try textEmbedding.reshaped([1, size, width]), count: groups), axis: 0)
        return try grouped.matmul(texts, transposeOther: true).scaled(1 / Float(width).squareRoot())
    }

    private func localMILoss(_ batch: Batch, _ shard: BatchShard) throws -> StepLoss {
        let bound = try localScores(batch, shard).mutualInformation(estimator: options.estimator.descriptorEstimator).mean()
        return StepLoss(total: try bound.scaled(-1), parts: [("mi_bound", bound)])
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
