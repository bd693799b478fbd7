import Autograd
import DataParallel

/// This rank's part of a step's global batch. The global batch is `ranks × local` samples and
/// rank r holds positions `r·local ..< (r+1)·local`. Losses that compare samples with each
/// other (contrastive, ITM negatives, local MI) see the global batch through `gathered`, whose
/// gradient flows back to the owning rank (reduce-scatter), so N ranks × b samples compute the
/// loss and gradients of one process with N·b samples.
public struct BatchShard {
    public let group: any ProcessGroup
    /// The dataset indices of the whole global batch (every rank knows its composition).
    public let globalIndices: [Int]
    public let step: Int

    public init(group: any ProcessGroup, globalIndices: [Int], step: Int) {
        precondition(globalIndices.count % group.size == 0, "a global batch of \(globalIndices.count) over \(group.size) ranks")
        (self.group, self.globalIndices, self.step) = (group, globalIndices, step)
    }

    public var globalSize: Int { globalIndices.count }
    public var localSize: Int { globalSize / group.size }
    /// The global positions of this rank's samples.
    public var ownPositions: Range<Int> { (group.rank * localSize)..<((group.rank + 1) * localSize) }
    public var localIndices: ArraySlice<Int> { globalIndices[ownPositions] }

    /// Every rank's rows of `tensor` (axis 0), in rank order; the identity in one process.
    func gathered(_ tensor: Tensor, _ what: String) throws -> Tensor {
        guard group.size > 1 else { return tensor }
        let (group, step) = (self.group, self.step)
        return try tensor.throughHost(
            shape: [tensor.shape[0] * group.size] + tensor.shape.dropFirst(),
            forward: { try group.allGather($0, label: "\(what), step \(step + 1)") },
            backward: { try group.reduceScatterSum($0, label: "gradient of \(what), step \(step + 1)") })
    }

    /// The factor that turns this rank's mean over `count` items (tagged tokens) into its share
    /// of the global mean: ranks × count / the global count (1 in one process). Ranks hold
    /// different numbers of such items, so unweighted local means would not average to the
    /// global mean.
    func meanWeight(count: Int, _ what: String) throws -> Float {
        guard group.size > 1 else { return 1 }
        let total = try group.allGather([Float(count)], label: "\(what), step \(step + 1)").reduce(0, +)
        return total > 0 ? Float(group.size) * Float(count) / total : 0
    }

    /// Every rank's image and text embeddings (the ITC pair).
    func gatheredEmbeddings(_ image: Tensor, _ text: Tensor) throws -> (images: Tensor, texts: Tensor) {
        (try gathered(image, "image embeddings"), try gathered(text, "text embeddings"))
    }

    /// Every rank's host values (masks, labels), in rank order.
    func gathered(_ values: [Float], _ what: String) throws -> [Float] {
        group.size > 1 ? try group.allGather(values, label: "\(what), step \(step + 1)") : values
    }
}
