import Autograd
import Compute
import Datasets
import Foundation

/// A split made ready for training: every sample tokenised once (the sentence alone, and for
/// ITA the sentence followed by its visual context), tags aligned to tokens, labels as ids.
public struct EncodedSplit: Sendable {
    public let samples: [Sample]
    /// `[count][maxLength]` token ids and masks of the sentence alone.
    public let ids: [[Int32]], masks: [[Float]]
    /// The sentence, [SEP], then the visual-context text (ITA's cross-modal view).
    public let crossIds: [[Int32]], crossMasks: [[Float]]
    /// Per token: the tag id of the word it starts, or `ignoreIndex` (specials, padding, later
    /// pieces of a word, visual-context tokens — excluded from the tagging loss).
    public let tagTargets: [[Int32]]

    public var count: Int { samples.count }

    /// The target of a token that carries no tag (PyTorch's default ignore index).
    public static let ignoreIndex: Int32 = -100

    public init(samples: [Sample], ids: [[Int32]], masks: [[Float]], crossIds: [[Int32]], crossMasks: [[Float]], tagTargets: [[Int32]]) {
        (self.samples, self.ids, self.masks, self.crossIds, self.crossMasks, self.tagTargets) = (samples, ids, masks, crossIds, crossMasks, tagTargets)
    }
}

/// The tensors of one batch.
public struct Batch {
    /// Positions of the samples in their split.
    public let indices: [Int]
    public var size: Int { indices.count }
    public let length: Int
    /// `[B, L]` int32 and `[B·L]`: the sentence alone.
    public let ids: Tensor
    public let mask: [Float]
    /// The sentence + [SEP] + visual context (ITA's cross view).
    public let crossIds: Tensor
    public let crossMask: [Float]
    /// `[B, P, 3·p·p]`, unfolded on the host.
    public let patches: Tensor
    public let labels: [Int32]
    /// `[B·L]`, `EncodedSplit.ignoreIndex` where a token carries no tag.
    public let tagTargets: [Int32]

    /// A batch of given tensors (the train-step benchmark's random inputs): the cross view is
    /// the sentence, labels are 0 and no token is tagged.
    public init(ids: Tensor, mask: [Float], patches: Tensor) {
        (indices, length) = (Array(0..<ids.shape[0]), ids.shape[1])
        (self.ids, self.mask, crossIds, crossMask, self.patches) = (ids, mask, ids, mask, patches)
        labels = [Int32](repeating: 0, count: indices.count)
        tagTargets = [Int32](repeating: EncodedSplit.ignoreIndex, count: ids.count)
    }

    /// Gathers `indices` of `split` onto `backend`.
    public init(_ split: EncodedSplit, indices: [Int], patchSize: Int, imageSize: Int, on backend: any Backend) throws {
        self.indices = indices
        length = split.ids.first?.count ?? 0
        ids = try Tensor(indices.flatMap { split.ids[$0] }, shape: [indices.count, length], on: backend)
        mask = indices.flatMap { split.masks[$0] }
        crossIds = try Tensor(indices.flatMap { split.crossIds[$0] }, shape: [indices.count, length], on: backend)
        crossMask = indices.flatMap { split.crossMasks[$0] }
        labels = indices.map { Int32(split.samples[$0].label) }
        tagTargets = indices.flatMap { split.tagTargets[$0] }
        let grid = imageSize / patchSize, features = 3 * patchSize * patchSize
        var unfolded = [Float](repeating: 0, count: indices.count * grid * grid * features)
        for (b, index) in indices.enumerated() {
            let image = split.samples[index].image
            for py in 0..<grid {
                for px in 0..<grid {
                    // One patch's features in (channel, row, column) order.
                    let base = ((b * grid + py) * grid + px) * features
                    for c in 0..<3 {
                        for dy in 0..<patchSize {
                            let source = (c * imageSize + py * patchSize + dy) * imageSize + px * patchSize
                            let target = base + (c * patchSize + dy) * patchSize
                            for dx in 0..<patchSize { unfolded[target + dx] = image[source + dx] }
                        }
                    }
                }
            }
        }
        patches = try Tensor(unfolded, shape: [indices.count, grid * grid, features], on: backend)
    }
}
