import Autograd
import Compute
import Datasets
import Foundation
import Multimodal
import Pretrained

/// The data of a run: the splits, the tokenizer (built from the training split, or the
/// pretrained text model's), and the names of the classes and tags.
public final class TrainingData: Sendable {
    public static let ignoreIndex = EncodedSplit.ignoreIndex

    public let tokenizer: any CaptionTokenizer
    /// The pretrained text model whose tokenizer this is (`--text-model`); nil: a word-level
    /// tokenizer of the training texts.
    public let textModel: TextModelFolder?
    /// The pretrained image model whose preprocessing the images had (`--image-model`); nil:
    /// images in [−1, 1].
    public let imageModel: ImageModelFolder?
    public let classNames: [String]
    public let tagNames: [String]
    public let imageSize: Int
    public let maxTextLength: Int
    public let splits: [DatasetSplit: EncodedSplit]

    /// Encodes `samples` of each split. `maxTextLength` nil: long enough for the longest training
    /// sentence plus its visual context (capped at 128 positions, and at the text model's).
    /// `tokenizer` nil: `textModel`'s, or else built from the training split's texts and visual contexts.
    public init(samples: [DatasetSplit: [Sample]], classNames: [String], tagNames: [String], imageSize: Int,
                maxTextLength: Int? = nil, tokenizer: (any CaptionTokenizer)? = nil, textModel: TextModelFolder? = nil,
                imageModel: ImageModelFolder? = nil, vocabularySize: Int = 10_000, minimumCount: Int = 1) throws {
        let train = samples[.train] ?? []
        self.imageModel = imageModel
        let tokenizer = try tokenizer ?? textModel?.tokenizer
            ?? Tokenizer(buildingFrom: train.flatMap { [$0.text, $0.imageText] }, maxSize: vocabularySize, minCount: minimumCount)
        (self.tokenizer, self.textModel) = (tokenizer, textModel)
        let longest = train.map { tokenizer.length($0.text, pair: $0.imageText) }.max() ?? 8
        self.maxTextLength = maxTextLength ?? min(longest, 128, textModel?.maximumLength ?? 128)
        (self.classNames, self.tagNames, self.imageSize) = (classNames, tagNames, imageSize)
        var splits: [DatasetSplit: EncodedSplit] = [:]
        for (split, list) in samples { splits[split] = Self.encode(list, tokenizer: tokenizer, tagNames: tagNames, maxLength: self.maxTextLength) }
        self.splits = splits
    }

    /// The built-in `shapes` data, generated from `seed` (sample counts per split adjustable
    /// for quick runs); for a pretrained image tower, at its size and normalised as its images were.
    public convenience init(shapesSeed seed: UInt64, imageSize: Int, counts: [DatasetSplit: Int] = ShapesDataset.defaultCounts,
                            maxTextLength: Int? = nil, tokenizer: (any CaptionTokenizer)? = nil, textModel: TextModelFolder? = nil,
                            imageModel: ImageModelFolder? = nil, vocabularySize: Int = 10_000, minimumCount: Int = 1) throws {
        let size = imageModel?.config.imageSize ?? imageSize
        let dataset = try ShapesDataset(seed: seed, imageSize: size, counts: counts)
        var samples: [DatasetSplit: [Sample]] = [:]
        for split in DatasetSplit.allCases {
            samples[split] = dataset.samples(split).map { sample in
                guard let preprocessor = imageModel?.preprocessor else { return sample }
                var normalized = sample
                normalized.image = preprocessor.normalized(signedImage: sample.image)
                return normalized
            }
        }
        try self.init(samples: samples, classNames: ShapesDataset.classNames, tagNames: ShapesDataset.tagNames, imageSize: size,
                      maxTextLength: maxTextLength, tokenizer: tokenizer, textModel: textModel, imageModel: imageModel,
                      vocabularySize: vocabularySize, minimumCount: minimumCount)
    }

    /// The data `source` names — `shapes` or a dataset folder in the imagefolder layout — for
    /// a run with `options`. A finished run passes its tokenizer and text length, its image
    /// model (the copy it keeps), and its class and tag lists, which the data must match; a new
    /// run with `--text-model` / `--image-model` reads those models' tokenizer and preprocessing.
    public static func load(_ source: String, options: TrainingOptions, maxTextLength: Int? = nil, tokenizer: (any CaptionTokenizer)? = nil,
                            imageModel runImageModel: ImageModelFolder? = nil, expectedClasses: [String]? = nil, skipBadSamples: Bool = false,
                            warn: (String) -> Void = { _ in }) throws -> TrainingData {
        let textModel = tokenizer == nil ? try options.textModelFolder.map { try TextModelFolder(URL(fileURLWithPath: $0), pooling: options.textPooling) } : nil
        let imageModel = try runImageModel ?? options.imageModelFolder.map { try ImageModelFolder(URL(fileURLWithPath: $0)) }
        let imageSize = imageModel?.config.imageSize ?? options.model.imageSize
        let data: TrainingData
        if source == "shapes" {
            var counts = ShapesDataset.defaultCounts
            if let train = options.trainSamples { counts[.train] = train }
            if let limit = options.evaluationLimit { counts[.validation] = min(limit, counts[.validation]!); counts[.test] = min(limit, counts[.test]!) }
            data = try TrainingData(shapesSeed: options.dataSeed, imageSize: imageSize, counts: counts, maxTextLength: maxTextLength,
                                    tokenizer: tokenizer, textModel: textModel, imageModel: imageModel, vocabularySize: options.vocabularyLimit,
                                    minimumCount: options.minimumCount)
        } else {
            let folder = try ImageFolderDataset(root: URL(fileURLWithPath: source), imageSize: imageSize, skipBadSamples: skipBadSamples,
                                                preprocessor: imageModel?.preprocessor)
            if !folder.skipped.isEmpty {
                warn("skipped \(folder.skipped.count) bad sample(s); the first: \(folder.skipped[0])")
            }
            data = try TrainingData(samples: folder.samples, classNames: folder.classNames, tagNames: folder.tagNames, imageSize: imageSize,
                                    maxTextLength: maxTextLength, tokenizer: tokenizer, textModel: textModel, imageModel: imageModel,
                                    vocabularySize: options.vocabularyLimit, minimumCount: options.minimumCount)
        }
        if let expectedClasses, expectedClasses != data.classNames {
            throw TrainingError.invalidData("the data's classes \(data.classNames) differ from the run's \(expectedClasses)")
        }
        return data
    }

    static func encode(_ samples: [Sample], tokenizer: any CaptionTokenizer, tagNames: [String], maxLength: Int) -> EncodedSplit {
        let tagIds = Dictionary(uniqueKeysWithValues: tagNames.enumerated().map { ($0.element, Int32($0.offset)) })
        var ids: [[Int32]] = [], masks: [[Float]] = [], crossIds: [[Int32]] = [], crossMasks: [[Float]] = [], tags: [[Int32]] = []
        for sample in samples {
            let plain = tokenizer.encode(sample.text, maxLength: maxLength)
            let cross = tokenizer.encode(sample.text, maxLength: maxLength, pair: sample.imageText)
            ids.append(plain.ids)
            masks.append(plain.mask)
            crossIds.append(cross.ids)
            crossMasks.append(cross.mask)
            tags.append(plain.wordIndex.map { word in
                guard word >= 0, word < sample.tags.count, let id = tagIds[sample.tags[word]] else { return ignoreIndex }
                return id
            })
        }
        return EncodedSplit(samples: samples, ids: ids, masks: masks, crossIds: crossIds, crossMasks: crossMasks, tagTargets: tags)
    }

    public func split(_ split: DatasetSplit) throws -> EncodedSplit {
        guard let encoded = splits[split], encoded.count > 0 else {
            throw TrainingError.invalidData("the \(split.rawValue) split has no samples")
        }
        return encoded
    }
}

/// The order of the training samples in `epoch`: a permutation that is a pure function of
/// (seed, epoch), so a resumed or re-run job sees the same batches.
public func epochOrder(count: Int, seed: UInt64, epoch: Int) -> [Int] {
    let keys = (0..<count).map { Philox.uniform(seed: seed, step: UInt32(truncatingIfNeeded: epoch), index: UInt64($0)) }
    return (0..<count).sorted { keys[$0] != keys[$1] ? keys[$0] < keys[$1] : $0 < $1 }
}
