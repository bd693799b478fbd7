import Foundation

/// What can go wrong building a dataset or a tokenizer. Every case comes from a caller's setting
/// (CLI flag, file contents), so it is thrown, never trapped, and says what was expected.
public enum DatasetError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `--image-size` outside the range the rasteriser supports.
    case invalidImageSize(Int, allowed: ClosedRange<Int>)
    /// A split's sample count outside the allowed range.
    case invalidSampleCount(split: DatasetSplit, count: Int, allowed: ClosedRange<Int>)
    /// `sample(split, index)` with an index past the split's end.
    case indexOutOfRange(split: DatasetSplit, index: Int, count: Int)
    /// A validation or test split asked for more samples than there are distinct layouts
    /// (`ShapesDataset.distinctLayoutCount`); those splits need every layout to be unique.
    case cannotMakeUniqueLayouts(split: DatasetSplit, count: Int, available: Int)
    /// A tokenizer setting outside its range: `maxSize must be ≥ 5, got 3`.
    case invalidTokenizerSetting(name: String, value: Int, requirement: String)
    /// A vocabulary file that cannot be used; the reason says what is wrong with it.
    case invalidVocabulary(reason: String)

    public var description: String {
        switch self {
        case .invalidImageSize(let size, let allowed):
            "image size must be in \(allowed.lowerBound)…\(allowed.upperBound) pixels, got \(size)"
        case .invalidSampleCount(let split, let count, let allowed):
            "\(split.rawValue) sample count must be in \(allowed.lowerBound)…\(allowed.upperBound), got \(count)"
        case .indexOutOfRange(let split, let index, let count):
            "\(split.rawValue) sample index \(index) is out of range: the split has \(count) samples (0…\(count - 1))"
        case .cannotMakeUniqueLayouts(let split, let count, let available):
            "cannot make \(count) \(split.rawValue) samples each with its own layout (which shape is in which cell): only \(available) layouts exist; use at most \(available) \(split.rawValue) samples"
        case .invalidTokenizerSetting(let name, let value, let requirement):
            "tokenizer \(name) must be \(requirement), got \(value)"
        case .invalidVocabulary(let reason):
            "invalid vocabulary: \(reason)"
        }
    }
}

public enum DatasetSplit: String, CaseIterable, Sendable {
    case train, validation, test

    /// Fixed per-split stream numbers, so reordering the enum never changes the generated data.
    var streamID: UInt64 {
        switch self {
        case .train: 1
        case .validation: 2
        case .test: 3
        }
    }

    /// Retrieval metrics on validation and test match image i to text i, which is only well
    /// defined when no two samples in the split mean the same. Captions never name colours, so
    /// that takes a unique layout (the set of shape–cell pairs), not just a unique string.
    var needsUniqueLayouts: Bool { self != .train }
}

/// One image–text pair of the shapes dataset.
public struct Sample: Sendable, Equatable {
    /// RGB, channel-major (all R, then G, then B), `3 * size * size` values in [−1, 1] (or, for
    /// a pretrained image tower, in the range its preprocessing gives).
    public var image: [Float]
    /// Colour-free caption, lowercase, tokens separated by single spaces.
    public var text: String
    /// Colour index (into `ShapesDataset.classNames`) of the shape the caption mentions first.
    public var label: Int
    /// One BIO tag per whitespace token of `text` (names in `ShapesDataset.tagNames`).
    public var tags: [String]
    /// Object tags as text, every shape with its colour in grid order: "red circle top left ; blue square center".
    public var imageText: String

    public init(image: [Float], text: String, label: Int, tags: [String], imageText: String) {
        (self.image, self.text, self.label, self.tags, self.imageText) = (image, text, label, tags, imageText)
    }
}

/// The built-in `shapes` dataset: 1–3 coloured shapes on a 3×3 grid, with a caption that names
/// shapes and positions but never colours. Sample i of a split is a pure function of
/// (seed, split, i), so splits can be generated in any order, in part, or in parallel.
///
/// In validation and test no two samples share a layout (the set of shape–cell pairs, colours
/// aside), so each caption fits exactly one image of its split and retrieval R@1 is well
/// defined. `init` walks those splits in index order once; where sample i's drawn layout
/// repeats an earlier one, it takes an unused layout instead, with the same number of shapes
/// while any are left, else with a number that still has unused layouts. Sample i depends only
/// on samples before it, so it does not change with the split's count. There are only 36
/// one-shape layouts (9 cells × 4 shapes), so these splits have fewer one-shape images than
/// train (a third each) and two and three shapes share the rest evenly: one / two / three
/// shapes are 36 / ≈232 / ≈232 of 500 samples and 36 / ≈482 / ≈482 of 1,000. From about
/// 1,150 samples on the 576 two-shape layouts run out too, and later samples have three.
public struct ShapesDataset: Sendable {
    public static let classNames = ["red", "green", "blue", "yellow", "purple", "orange"]
    public static let tagNames = ["O", "B-LOC", "I-LOC", "B-WARM", "B-COOL"]
    public static let shapeNames = ["circle", "square", "triangle", "diamond"]
    /// Grid cells in row-major order; also the canonical order of `imageText`.
    public static let positionNames = [
        "top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right",
    ]
    public static let defaultCounts: [DatasetSplit: Int] = [.train: 40_000, .validation: 500, .test: 1000]
    public static let imageSizeRange = 12...256
    public static let sampleCountRange = 1...1_000_000
    /// How many layouts (sets of shape–cell pairs) exist: 36 with one shape, 576 with two,
    /// 5,376 with three, 5,988 in all. The most samples validation or test can have.
    public static let distinctLayoutCount = Layouts.byShapeCount.reduce(0) { $0 + $1.count }
    /// Shapes per image are drawn uniformly from 1…maxShapesPerImage.
    static let maxShapesPerImage = 3

    public let seed: UInt64
    public let imageSize: Int
    private let counts: [DatasetSplit: Int]
    /// For splits with unique layouts, the layout the uniqueness walk gave each index, or 0 where
    /// the drawn one was new. Computed once in `init` from scenes alone (no pixels), so random
    /// access stays cheap.
    private let redrawnLayouts: [DatasetSplit: [UInt64]]

    /// - Parameter counts: samples per split; a split left out gets its default count.
    public init(seed: UInt64, imageSize: Int = 32, counts: [DatasetSplit: Int] = ShapesDataset.defaultCounts) throws {
        guard Self.imageSizeRange.contains(imageSize) else {
            throw DatasetError.invalidImageSize(imageSize, allowed: Self.imageSizeRange)
        }
        var resolved: [DatasetSplit: Int] = [:]
        for split in DatasetSplit.allCases {
            let count = counts[split] ?? Self.defaultCounts[split] ?? 1
            guard Self.sampleCountRange.contains(count) else {
                throw DatasetError.invalidSampleCount(split: split, count: count, allowed: Self.sampleCountRange)
            }
            if split.needsUniqueLayouts, count > Self.distinctLayoutCount {
                throw DatasetError.cannotMakeUniqueLayouts(split: split, count: count, available: Self.distinctLayoutCount)
            }
            resolved[split] = count
        }
        self.seed = seed
        self.imageSize = imageSize
        self.counts = resolved
        var redrawn: [DatasetSplit: [UInt64]] = [:]
        for split in DatasetSplit.allCases where split.needsUniqueLayouts {
            redrawn[split] = Self.findRedrawnLayouts(seed: seed, split: split, count: resolved[split] ?? 0)
        }
        self.redrawnLayouts = redrawn
    }

    public func count(_ split: DatasetSplit) -> Int { counts[split] ?? 0 }

    public func sample(_ split: DatasetSplit, _ index: Int) throws -> Sample {
        guard index >= 0, index < count(split) else {
            throw DatasetError.indexOutOfRange(split: split, index: index, count: count(split))
        }
        return makeSample(split, index)
    }

    /// Every sample of the split, in index order.
    public func samples(_ split: DatasetSplit) -> [Sample] {
        (0..<count(split)).map { makeSample(split, $0) }
    }

    // MARK: - Generation

    /// `index` must already be in range.
    private func makeSample(_ split: DatasetSplit, _ index: Int) -> Sample {
        let redrawn = redrawnLayouts[split]?[index] ?? 0
        let scene = Scene(seed: seed, split: split, index: index, layout: redrawn == 0 ? nil : redrawn)
        return Sample(
            image: scene.render(size: imageSize),
            text: scene.caption.joined(separator: " "),
            label: scene.shapes[0].colour,
            tags: scene.tags,
            imageText: scene.imageText
        )
    }

    /// Walks the split in index order; where a sample's drawn layout repeats an earlier one, takes
    /// an unused layout instead, chosen uniformly from its own random stream: with the sample's
    /// drawn number of shapes while any are left (the same distribution as redrawing until the
    /// layout is new, but without the loop), else with a number picked uniformly among those
    /// that still have unused layouts. `count ≤ distinctLayoutCount` (checked by `init`), so an
    /// unused layout always exists and the walk costs one scene per index.
    private static func findRedrawnLayouts(seed: UInt64, split: DatasetSplit, count: Int) -> [UInt64] {
        var pool = LayoutPool()
        var redrawn = [UInt64](repeating: 0, count: count)
        for index in 0..<count {
            let drawn = Scene(seed: seed, split: split, index: index).layout
            if pool.take(drawn) { continue }
            var random = CounterRandom(seed: seed, split: split, index: index, stream: RandomStream.layoutChoice)
            var shapeCount = drawn.nonzeroBitCount
            if pool.isExhausted(shapeCount: shapeCount) {
                let open = (1...maxShapesPerImage).filter { !pool.isExhausted(shapeCount: $0) }
                shapeCount = open[random.below(open.count)]
            }
            redrawn[index] = pool.takeRandom(shapeCount: shapeCount, random: &random)
        }
        return redrawn
    }
}

// MARK: - Layouts

/// A layout is which shape is in which cell, colours, jitter and mention order aside: bit
/// `cell * 4 + kind` is set for each shape, so equal layouts are equal numbers. Cells hold at
/// most one shape, so the bit count is the number of shapes; 0 is no layout.
private enum Layouts {
    /// Every layout, grouped by number of shapes (element 0: one shape), in a fixed order.
    static let byShapeCount: [[UInt64]] = (1...ShapesDataset.maxShapesPerImage).map { shapeCount in
        var layouts: [UInt64] = []
        func extend(_ layout: UInt64, fromCell firstCell: Int, remaining: Int) {
            guard remaining > 0 else { layouts.append(layout); return }
            for cell in firstCell..<ShapesDataset.positionNames.count {
                for kind in ShapesDataset.shapeNames.indices {
                    extend(layout | bit(kind: kind, cell: cell), fromCell: cell + 1, remaining: remaining - 1)
                }
            }
        }
        extend(0, fromCell: 0, remaining: shapeCount)
        return layouts
    }

    static func bit(kind: Int, cell: Int) -> UInt64 { 1 << UInt64(cell * ShapesDataset.shapeNames.count + kind) }

    /// The shapes of a layout in cell order.
    static func shapes(of layout: UInt64) -> [(kind: Int, cell: Int)] {
        (0..<64).filter { layout & (1 << UInt64($0)) != 0 }.map {
            (kind: $0 % ShapesDataset.shapeNames.count, cell: $0 / ShapesDataset.shapeNames.count)
        }
    }
}

/// The layouts one split has not used yet, by number of shapes. Taking one is O(1): each list
/// is unordered, and a taken layout's place is filled by the list's last element.
private struct LayoutPool {
    private var unused = Layouts.byShapeCount
    /// Where each unused layout is in its list.
    private var position: [UInt64: Int] = [:]

    init() {
        position.reserveCapacity(ShapesDataset.distinctLayoutCount)
        for list in unused {
            for (index, layout) in list.enumerated() { position[layout] = index }
        }
    }

    func isExhausted(shapeCount: Int) -> Bool { unused[shapeCount - 1].isEmpty }

    /// Marks `layout` used; false if it already was.
    mutating func take(_ layout: UInt64) -> Bool {
        guard let index = position.removeValue(forKey: layout) else { return false }
        let list = layout.nonzeroBitCount - 1
        let last = unused[list].removeLast()
        if last != layout {
            unused[list][index] = last
            position[last] = index
        }
        return true
    }

    /// Takes an unused layout with `shapeCount` shapes, uniformly; there must be one.
    mutating func takeRandom(shapeCount: Int, random: inout CounterRandom) -> UInt64 {
        let list = shapeCount - 1
        let layout = unused[list][random.below(unused[list].count)]
        _ = take(layout)
        return layout
    }
}

// MARK: - Counter-based randomness

/// The SplitMix64 finaliser: a cheap bijective mix with good avalanche, used both to derive
/// per-sample keys and as the generator's output function.
@inline(__always)
func splitMix64(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

@inline(__always)
func combineHash(_ hash: UInt64, _ value: UInt64) -> UInt64 { splitMix64(hash ^ splitMix64(value)) }

/// Independent random streams of one sample.
enum RandomStream {
    /// Everything about the sample as drawn, its number of shapes and layout included.
    static let drawn: UInt64 = 0
    /// Colours, jitter, mention order and wording of a sample whose layout the uniqueness walk chose.
    static let redrawn: UInt64 = 1
    /// The uniqueness walk's choice of that layout.
    static let layoutChoice: UInt64 = 2
}

/// Random draws for one sample: draw k is `splitMix64(key + k·γ)` with the key hashed from
/// (seed, split, index, stream), so nothing depends on other samples having been generated.
struct CounterRandom {
    let key: UInt64
    private var counter: UInt64 = 0

    init(seed: UInt64, split: DatasetSplit, index: Int, stream: UInt64) {
        var hash = splitMix64(0x5348_4150_4553) // "SHAPES": keeps this stream apart from other users of the seed
        hash = combineHash(hash, seed)
        hash = combineHash(hash, split.streamID)
        hash = combineHash(hash, UInt64(truncatingIfNeeded: index))
        key = combineHash(hash, stream)
    }

    mutating func next() -> UInt64 {
        counter &+= 1
        return splitMix64(key &+ counter &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Uniform in 0..<bound (multiply-high; the bias for tiny bounds is negligible).
    mutating func below(_ bound: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }
}

// MARK: - Scene: what is drawn and what is said about it

private struct PlacedShape {
    var kind: Int // index into shapeNames
    var colour: Int // index into classNames
    var cell: Int // index into positionNames
    var offsetX: Float // centre jitter, fraction of a cell
    var offsetY: Float
    var halfExtent: Float // fraction of a cell
}

/// Words of a caption fragment with the tag of each word.
private struct TaggedWords {
    var words: [String] = []
    var tags: [String] = []

    mutating func append(_ newWords: [String], tag: String = "O") {
        words += newWords
        tags += repeatElement(tag, count: newWords.count)
    }

    mutating func append(_ other: TaggedWords) {
        words += other.words
        tags += other.tags
    }
}

/// Caption grammar. A phrase is noun-first ("a circle at the top left") or location-first
/// ("at the top left a circle"); openers and connectors marked `needsNoun` read wrongly before
/// a location-first phrase, so those always take the noun-first form.
private enum Grammar {
    /// Words are stored pre-split: captions are built thousands of times per split, and
    /// splitting strings each time was most of the generation cost.
    struct Joiner {
        let words: [String]
        let needsNoun: Bool

        init(_ text: String, needsNoun: Bool) {
            words = text.split(separator: " ").map(String.init)
            self.needsNoun = needsNoun
        }
    }

    static let openers = [
        Joiner("", needsNoun: false),
        Joiner("there is", needsNoun: true),
        Joiner("we see", needsNoun: true),
        Joiner("the picture shows", needsNoun: true),
        Joiner("an image with", needsNoun: true),
    ]
    static let connectors = [
        Joiner("and", needsNoun: false),
        Joiner(",", needsNoun: false),
        Joiner(", and", needsNoun: false),
        Joiner(", next to", needsNoun: true),
        Joiner(", with", needsNoun: true),
        Joiner(", plus", needsNoun: true),
    ]

    /// Preposition and location words that read naturally for each grid cell (row-major, as
    /// `positionNames`); the centre is also "the middle", but "at the middle" reads wrongly.
    static let locations: [[(preposition: [String], location: [String])]] = (0..<9).map { cell in
        let location = ShapesDataset.positionNames[cell].split(separator: " ").map(String.init)
        switch cell {
        case 4: return [(["in", "the"], ["center"]), (["at", "the"], ["center"]), (["in", "the"], ["middle"])]
        case 3, 5: return [(["on", "the"], location), (["at", "the"], location)]
        case 1, 7: return [(["at", "the"], location), (["near", "the"], location)]
        default: return [(["at", "the"], location), (["in", "the"], location)]
        }
    }
    static let article = ["a"]
    static let copula = ["is"]
    static let shapeWords = ShapesDataset.shapeNames.map { [$0] }

    /// Red, yellow and orange are warm; green, blue and purple cool. Only the image tells which.
    static let warmColours: Set<String> = ["red", "yellow", "orange"]

    static func nounTag(colour: Int) -> String {
        warmColours.contains(ShapesDataset.classNames[colour]) ? "B-WARM" : "B-COOL"
    }

    static func phrase(for shape: PlacedShape, locationFirst: Bool, random: inout CounterRandom) -> TaggedWords {
        let choice = random.pick(locations[shape.cell])
        var location = TaggedWords()
        location.append(choice.preposition)
        location.append([choice.location[0]], tag: "B-LOC")
        location.append(Array(choice.location.dropFirst()), tag: "I-LOC")
        var noun = TaggedWords()
        noun.append(article)
        noun.append(shapeWords[shape.kind], tag: nounTag(colour: shape.colour))

        var phrase = TaggedWords()
        if locationFirst {
            phrase.append(location)
            if random.below(2) == 0 { phrase.append(copula) }
            phrase.append(noun)
        } else {
            phrase.append(noun)
            phrase.append(location)
        }
        return phrase
    }
}

private struct Scene {
    /// In mention order: `shapes[0]` is the one the caption names first and the label's source.
    var shapes: [PlacedShape] = []
    var caption: [String] = []
    var tags: [String] = []
    var pixelKey: UInt64
    var background: Float

    /// - Parameter layout: nil draws the whole sample, its number of shapes, cells and kinds
    ///   included, from the sample's `drawn` stream. A layout (from the uniqueness walk) fixes
    ///   which shape is in which cell; everything else comes from the `redrawn` stream.
    init(seed: UInt64, split: DatasetSplit, index: Int, layout: UInt64? = nil) {
        let stream = layout == nil ? RandomStream.drawn : RandomStream.redrawn
        var random = CounterRandom(seed: seed, split: split, index: index, stream: stream)
        pixelKey = combineHash(random.key, 0x4E4F_4953_45) // "NOISE"
        background = 0.04 + 0.1 * random.unit()

        // Partial Fisher–Yates shuffles: the draw order is the mention order.
        if let layout {
            var given = Layouts.shapes(of: layout)
            for slot in given.indices {
                given.swapAt(slot, slot + random.below(given.count - slot))
                shapes.append(Self.place(kind: given[slot].kind, cell: given[slot].cell, random: &random))
            }
        } else {
            // Distinct cells.
            var cells = Array(0..<9)
            let shapeCount = 1 + random.below(ShapesDataset.maxShapesPerImage)
            for slot in 0..<shapeCount {
                cells.swapAt(slot, slot + random.below(9 - slot))
                let kind = random.below(ShapesDataset.shapeNames.count)
                shapes.append(Self.place(kind: kind, cell: cells[slot], random: &random))
            }
        }

        var sentence = TaggedWords()
        let opener = random.pick(Grammar.openers)
        sentence.append(opener.words)
        var needsNoun = opener.needsNoun
        for (position, shape) in shapes.enumerated() {
            if position > 0 {
                let connector = random.pick(Grammar.connectors)
                sentence.append(connector.words)
                needsNoun = connector.needsNoun
            }
            let locationFirst = !needsNoun && random.below(2) == 0
            sentence.append(Grammar.phrase(for: shape, locationFirst: locationFirst, random: &random))
        }
        caption = sentence.words
        tags = sentence.tags
    }

    /// Colour and jitter of one shape, drawn after its kind and cell.
    private static func place(kind: Int, cell: Int, random: inout CounterRandom) -> PlacedShape {
        PlacedShape(
            kind: kind,
            colour: random.below(ShapesDataset.classNames.count),
            cell: cell,
            offsetX: (random.unit() - 0.5) * 0.1,
            offsetY: (random.unit() - 0.5) * 0.1,
            halfExtent: 0.35 + 0.1 * random.unit() // 70–90 % of the cell
        )
    }

    var layout: UInt64 {
        shapes.reduce(0) { $0 | Layouts.bit(kind: $1.kind, cell: $1.cell) }
    }

    var imageText: String {
        shapes.sorted { $0.cell < $1.cell }
            .map { "\(ShapesDataset.classNames[$0.colour]) \(ShapesDataset.shapeNames[$0.kind]) \(ShapesDataset.positionNames[$0.cell])" }
            .joined(separator: " ; ")
    }

    /// RGB in [0, 1] for each class, chosen to stay distinct under the added noise.
    private static let palette: [(Float, Float, Float)] = [
        (0.90, 0.10, 0.10), // red
        (0.10, 0.75, 0.20), // green
        (0.15, 0.30, 0.95), // blue
        (0.95, 0.90, 0.10), // yellow
        (0.60, 0.15, 0.80), // purple
        (1.00, 0.55, 0.05), // orange
    ]
    private static let noiseAmplitude: Float = 0.04

    /// Rasterises at pixel centres into a CHW buffer, adds deterministic noise, then maps
    /// [0, 1] to [−1, 1].
    func render(size: Int) -> [Float] {
        let plane = size * size
        var image = [Float](repeating: background, count: 3 * plane)
        let cellSize = Float(size) / 3
        image.withUnsafeMutableBufferPointer { pixels in
            for shape in shapes {
                let colour = Self.palette[shape.colour]
                let centreX = (Float(shape.cell % 3) + 0.5 + shape.offsetX) * cellSize
                let centreY = (Float(shape.cell / 3) + 0.5 + shape.offsetY) * cellSize
                let radius = shape.halfExtent * cellSize
                // Only the bounding box can be inside; cells are disjoint, so shapes never overlap.
                let minX = max(0, Int((centreX - radius).rounded(.down)))
                let maxX = min(size - 1, Int((centreX + radius).rounded(.up)))
                let minY = max(0, Int((centreY - radius).rounded(.down)))
                let maxY = min(size - 1, Int((centreY + radius).rounded(.up)))
                guard minX <= maxX, minY <= maxY else { continue }
                for y in minY...maxY {
                    for x in minX...maxX {
                        let dx = Float(x) + 0.5 - centreX
                        let dy = Float(y) + 0.5 - centreY
                        guard Self.contains(kind: shape.kind, dx: dx, dy: dy, radius: radius) else { continue }
                        let offset = y * size + x
                        pixels[offset] = colour.0
                        pixels[plane + offset] = colour.1
                        pixels[2 * plane + offset] = colour.2
                    }
                }
            }
            // One hash per pixel yields the noise of all three channels (21 bits each).
            let scale = 2 * Self.noiseAmplitude / Float(1 << 21)
            for offset in 0..<plane {
                let bits = splitMix64(pixelKey &+ UInt64(offset))
                for channel in 0..<3 {
                    let raw = Float((bits >> UInt64(21 * channel)) & 0x1F_FFFF)
                    let value = min(1, max(0, pixels[channel * plane + offset] + raw * scale - Self.noiseAmplitude))
                    pixels[channel * plane + offset] = (value - 0.5) / 0.5
                }
            }
        }
        return image
    }

    /// Whether the point (dx, dy) from the shape's centre is inside; `radius` is half the extent.
    private static func contains(kind: Int, dx: Float, dy: Float, radius: Float) -> Bool {
        switch kind {
        case 0: // circle
            return dx * dx + dy * dy <= radius * radius
        case 1: // square, slightly smaller so its area is closer to the circle's
            let half = radius * 0.85
            return abs(dx) <= half && abs(dy) <= half
        case 2: // upward triangle: apex at the top, base along the bottom, widening linearly
            guard dy >= -radius, dy <= radius else { return false }
            return abs(dx) <= radius * (dy + radius) / (2 * radius)
        default: // diamond
            return abs(dx) + abs(dy) <= radius
        }
    }
}
