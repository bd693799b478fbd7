import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A problem with a dataset on disk, located as precisely as possible:
/// `train/metadata.jsonl:12: image "a.png": corrupt PNG data (bad zlib header)`.
/// Thrown for the first problem, or collected in `ImageFolderDataset.skipped` when bad samples
/// are skipped.
public struct DatasetIssue: Error, CustomStringConvertible, Sendable, Equatable {
    /// Path relative to the dataset root, e.g. `train/metadata.jsonl`.
    public let file: String
    /// 1-based line of `file`; nil when the problem is the file as a whole.
    public let line: Int?
    public let message: String

    public init(file: String, line: Int?, message: String) {
        (self.file, self.line, self.message) = (file, line, message)
    }

    public var description: String {
        line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)"
    }
}

/// Image–text pairs in the Hugging Face "imagefolder" layout:
///
///     root/train/metadata.jsonl        required, at least one usable sample
///     root/validation/metadata.jsonl   optional
///     root/test/metadata.jsonl         optional
///
/// Each non-empty line of a `metadata.jsonl` is a JSON object: `file_name` (a path relative to
/// that split's folder) and `text` are required; `label` (string or integer), `tags` (one BIO
/// tag per whitespace-separated word of `text`) and `image_text` are optional, and `null`
/// counts as absent. Other keys are ignored, as the Hub's loader keeps them as extra columns.
///
/// Every file is untrusted: each bad line, path or image is a `DatasetIssue` naming the file and
/// line, thrown or (with `skipBadSamples`) recorded in `skipped`. Problems with a split as a
/// whole (no train split, too many lines, an unreadable metadata file) are always thrown.
public struct ImageFolderDataset: Sendable {
    /// Bounds on what a dataset may make this process read or allocate.
    public struct Limits: Sendable {
        public var maxSamplesPerSplit: Int
        /// Longest metadata line, in bytes.
        public var maxLineBytes: Int
        /// Largest image file, in bytes.
        public var maxImageBytes: Int
        /// Largest decoded image, checked from its header before decoding.
        public var maxPixels: Int
        public var maxSide: Int

        public init(maxSamplesPerSplit: Int = 1_000_000, maxLineBytes: Int = 1 << 20, maxImageBytes: Int = 64 << 20,
                    maxPixels: Int = 16_777_216, maxSide: Int = 16384) {
            (self.maxSamplesPerSplit, self.maxLineBytes, self.maxImageBytes) = (maxSamplesPerSplit, maxLineBytes, maxImageBytes)
            (self.maxPixels, self.maxSide) = (maxPixels, maxSide)
        }
    }

    public static let imageSizeRange = 8...1024
    public static let metadataFileName = "metadata.jsonl"
    /// The tag every word without an entity gets; always `tagNames[0]`.
    public static let outsideTag = "O"

    public let imageSize: Int
    /// Sorted training labels (numerically when all are integers); empty for unlabelled data,
    /// whose samples have label −1.
    public let classNames: [String]
    /// "O", then the other training tags sorted. Always has "O", so a tagging head has a class
    /// even when no sample is tagged (untagged samples have `tags == []`).
    public let tagNames: [String]
    /// Every split in `DatasetSplit.allCases`; `[]` for one not asked for or not present.
    public let samples: [DatasetSplit: [Sample]]
    /// Samples left out under `skipBadSamples`, in split then line order.
    public let skipped: [DatasetIssue]
    /// Splits asked for whose `metadata.jsonl` does not exist (validation and test are optional).
    public let missingSplits: [DatasetSplit]

    public var isLabelled: Bool { !classNames.isEmpty }

    /// Reads and decodes the splits in `splits` (train always, as it defines the classes and
    /// tags). All metadata of a split is checked before any of its images is decoded; images
    /// are decoded in parallel.
    /// `preprocessor`: a pretrained image tower's (its output `imageSize` square); each image is
    /// then its `pixel_values` (resize, crop, normalise) instead of a stretch into [−1, 1].
    public init(root: URL, imageSize: Int, skipBadSamples: Bool = false, splits: [DatasetSplit] = DatasetSplit.allCases,
                limits: Limits = Limits(), preprocessor: CLIPImagePreprocessor? = nil) throws {
        guard Self.imageSizeRange.contains(imageSize) else {
            throw DatasetError.invalidImageSize(imageSize, allowed: Self.imageSizeRange)
        }
        if let preprocessor, preprocessor.outputHeight != imageSize || preprocessor.outputWidth != imageSize {
            throw DatasetError.invalidImageSize(imageSize, allowed: preprocessor.outputHeight...preprocessor.outputHeight)
        }
        var loader = try Loader(root: root, imageSize: imageSize, skipBadSamples: skipBadSamples, limits: limits, preprocessor: preprocessor)

        // Train first: it fixes whether the data is labelled, the classes and the tags.
        guard let trainRecords = try loader.readMetadata(.train) else {
            throw DatasetIssue(file: "\(DatasetSplit.train.rawValue)/\(Self.metadataFileName)", line: nil,
                               message: "not found: the train split is required (root \(root.path))")
        }
        let firstLabelled = trainRecords.first { $0.label != nil }
        let labelledRecords = try loader.checkLabelPresence(trainRecords, split: .train, labelledSince: firstLabelled?.line)
        let train = try loader.decode(labelledRecords, split: .train)
        loader.sortSkipped(from: 0)
        guard !train.isEmpty else {
            let skippedNote = loader.skipped.isEmpty ? "" : " (\(loader.skipped.count) skipped)"
            throw DatasetIssue(file: loader.metadataPath(.train), line: nil, message: "no usable samples\(skippedNote)")
        }
        let classes = Self.sortedClasses(Set(train.compactMap(\.label)))
        let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($0.element, $0.offset) })
        let trainTags = Set(train.flatMap { $0.tags ?? [] }).subtracting([Self.outsideTag])

        var result: [DatasetSplit: [Sample]] = [:]
        for split in DatasetSplit.allCases { result[split] = [] }
        result[.train] = train.map { $0.sample(classIndex: classIndex) }
        var missing: [DatasetSplit] = []
        for split in DatasetSplit.allCases where split != .train && splits.contains(split) {
            let skippedBefore = loader.skipped.count
            defer { loader.sortSkipped(from: skippedBefore) }
            guard let records = try loader.readMetadata(split) else { missing.append(split); continue }
            let present = try loader.checkLabelPresence(records, split: split, labelledSince: firstLabelled?.line)
            let known = try loader.keep(present, split: split) { record in
                guard let label = record.label, classIndex[label] == nil else { return nil }
                return "label \"\(label)\" does not occur in the train split"
            }
            result[split] = try loader.decode(known, split: split).map { $0.sample(classIndex: classIndex) }
        }
        self.imageSize = imageSize
        classNames = classes
        tagNames = [Self.outsideTag] + trainTags.sorted()
        samples = result
        skipped = loader.skipped
        missingSplits = missing
    }

    /// Numeric order when every label is a plain decimal integer ("2" before "10"), else
    /// code-point order.
    static func sortedClasses(_ labels: Set<String>) -> [String] {
        let numbers = labels.compactMap { label in Int(label).flatMap { String($0) == label ? $0 : nil } }
        if numbers.count == labels.count { return numbers.sorted().map(String.init) }
        return labels.sorted()
    }
}

// MARK: - Records

/// One metadata line that passed the checks that need no image.
private struct Record: Sendable {
    var line: Int
    var fileName: String
    var image: URL
    var text: String
    var label: String?
    var tags: [String]?
    var imageText: String
}

/// A record with its decoded image.
private struct LoadedRecord: Sendable {
    var record: Record
    var image: [Float]
    var label: String? { record.label }
    var tags: [String]? { record.tags }

    func sample(classIndex: [String: Int]) -> Sample {
        Sample(image: image, text: record.text, label: record.label.flatMap { classIndex[$0] } ?? -1,
               tags: record.tags ?? [], imageText: record.imageText)
    }
}

// MARK: - Loading

/// The state of one `ImageFolderDataset.init`: where the root is, the limits, and the issues
/// skipped so far.
private struct Loader {
    let root: URL
    /// `realpath` of the root: every file read must resolve inside it.
    let realRoot: String
    let imageSize: Int
    let skipBadSamples: Bool
    let limits: ImageFolderDataset.Limits
    /// A pretrained image tower's preprocessing; nil: `ImageDecoder.resizedCHW`.
    let preprocessor: CLIPImagePreprocessor?
    var skipped: [DatasetIssue] = []

    init(root: URL, imageSize: Int, skipBadSamples: Bool, limits: ImageFolderDataset.Limits, preprocessor: CLIPImagePreprocessor?) throws {
        guard let real = realPath(root.path), isDirectory(real) else {
            throw DatasetIssue(file: root.path, line: nil, message: "not a readable directory")
        }
        (self.root, realRoot, self.imageSize, self.skipBadSamples, self.limits) = (root, real, imageSize, skipBadSamples, limits)
        self.preprocessor = preprocessor
    }

    func metadataPath(_ split: DatasetSplit) -> String { "\(split.rawValue)/\(ImageFolderDataset.metadataFileName)" }

    /// Puts the issues skipped since `start` (one split's) in line order: they are found in
    /// phases (metadata, labels, images), not line by line.
    mutating func sortSkipped(from start: Int) {
        skipped[start...].sort { ($0.line ?? 0) < ($1.line ?? 0) }
    }

    /// Throws `message` at `line`, or records it and returns normally when skipping.
    mutating func report(_ split: DatasetSplit, line: Int, _ message: String) throws {
        let issue = DatasetIssue(file: metadataPath(split), line: line, message: message)
        guard skipBadSamples else { throw issue }
        skipped.append(issue)
    }

    /// Keeps the records for which `problem` is nil; reports the others.
    mutating func keep(_ records: [Record], split: DatasetSplit, problem: (Record) -> String?) throws -> [Record] {
        var kept: [Record] = []
        for record in records {
            if let message = problem(record) { try report(split, line: record.line, message) } else { kept.append(record) }
        }
        return kept
    }

    /// A labelled dataset (some training sample has a label) needs a label on every sample of
    /// every split, or training and accuracy would see −1; an unlabelled one allows none.
    mutating func checkLabelPresence(_ records: [Record], split: DatasetSplit, labelledSince: Int?) throws -> [Record] {
        let trainFile = metadataPath(.train)
        return try keep(records, split: split) { record in
            switch (record.label, labelledSince) {
            case (nil, let first?):
                "no \"label\", but the dataset is labelled (\(trainFile):\(first) has one): every sample needs a label"
            case (let label?, nil):
                "label \"\(label)\", but no train sample has a label: label all of them or none"
            default:
                nil
            }
        }
    }

    /// The split's records, or nil if the split has no metadata file.
    mutating func readMetadata(_ split: DatasetSplit) throws -> [Record]? {
        let folder = root.appendingPathComponent(split.rawValue, isDirectory: true)
        let file = folder.appendingPathComponent(ImageFolderDataset.metadataFileName)
        let relative = metadataPath(split)
        guard FileManager.default.fileExists(atPath: file.path) else {
            // An images folder without metadata is likely a mistake, not an absent split.
            if FileManager.default.fileExists(atPath: folder.path) {
                throw DatasetIssue(file: split.rawValue + "/", line: nil,
                                   message: "folder exists but has no \(ImageFolderDataset.metadataFileName)")
            }
            return nil
        }
        guard let realFile = realPath(file.path), isInside(realFile, realRoot), let realFolder = realPath(folder.path) else {
            throw DatasetIssue(file: relative, line: nil, message: "resolves outside the dataset root")
        }
        guard isRegularFile(realFile), let handle = FileHandle(forReadingAtPath: realFile) else {
            throw DatasetIssue(file: relative, line: nil, message: "not a readable regular file")
        }
        defer { try? handle.close() }

        var reader = LineReader(handle: handle, maxLineBytes: limits.maxLineBytes)
        var records: [Record] = []
        var nonEmptyLines = 0
        let decoder = JSONDecoder()
        while let (number, content) = try reader.next(file: relative) {
            guard let bytes = content else {
                try report(split, line: number, "line is longer than \(limits.maxLineBytes) bytes")
                nonEmptyLines += 1
                continue
            }
            guard !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) else { continue }
            nonEmptyLines += 1
            guard nonEmptyLines <= limits.maxSamplesPerSplit else {
                throw DatasetIssue(file: relative, line: number,
                                   message: "more than \(limits.maxSamplesPerSplit) samples in one split")
            }
            switch parseRecord(bytes, line: number, decoder: decoder, folder: realFolder) {
            case .success(let record): records.append(record)
            case .failure(let error): try report(split, line: number, error.message)
            }
        }
        return records
    }

    /// One line's JSON, fields and image path, all checked; a failure carries the message.
    private func parseRecord(_ bytes: ArraySlice<UInt8>, line: Int, decoder: JSONDecoder, folder: String)
        -> Result<Record, MessageError>
    {
        guard let text = String(bytes: bytes, encoding: .utf8) else { return .failure(MessageError("line is not valid UTF-8")) }
        let value: JSONValue
        do {
            value = try decoder.decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            return .failure(MessageError("not valid JSON"))
        }
        guard case .object(let fields) = value else { return .failure(MessageError("expected a JSON object, got \(value.kind)")) }
        do {
            let fileName = try fields.requiredString("file_name")
            let caption = try fields.requiredString("text")
            let label = try fields.label()
            let tags = try fields.optionalStrings("tags")
            let imageText = try fields.optionalString("image_text") ?? ""
            if let tags { try checkTags(tags, text: caption) }
            let image = try resolveImage(fileName, folder: folder)
            return .success(Record(line: line, fileName: fileName, image: image, text: caption, label: label,
                                   tags: tags, imageText: imageText))
        } catch let error as MessageError {
            return .failure(error)
        } catch {
            return .failure(MessageError(String(describing: error)))
        }
    }

    /// One BIO tag per word of `text`, split the way `Tokenizer.encode` numbers words.
    private func checkTags(_ tags: [String], text: String) throws {
        let words = text.split(whereSeparator: \.isWhitespace).count
        guard tags.count == words else {
            throw MessageError("\"tags\" has \(tags.count) tags but \"text\" has \(words) whitespace-separated words")
        }
        for tag in tags where tag != ImageFolderDataset.outsideTag {
            let type = tag.dropFirst(2)
            guard tag.hasPrefix("B-") || tag.hasPrefix("I-"), !type.isEmpty, !type.contains(where: \.isWhitespace) else {
                throw MessageError("tag \"\(tag)\" is not a BIO tag (\"O\", \"B-TYPE\" or \"I-TYPE\")")
            }
        }
    }

    /// The real path of `fileName` (relative to the split's real folder), which must stay in
    /// the folder lexically and inside the dataset root after symlinks, and be a regular file.
    private func resolveImage(_ fileName: String, folder: String) throws -> URL {
        guard !fileName.isEmpty else { throw MessageError("\"file_name\" is empty") }
        guard !fileName.contains("\0") else { throw MessageError("\"file_name\" contains a NUL character") }
        guard !fileName.hasPrefix("/") else { throw MessageError("\"file_name\" \"\(fileName)\" is absolute; it must be relative to the split folder") }
        var depth = 0
        for component in fileName.split(separator: "/") where component != "." {
            depth += component == ".." ? -1 : 1
            guard depth >= 0 else { throw MessageError("\"file_name\" \"\(fileName)\" leaves the split folder") }
        }
        guard let real = realPath(folder + "/" + fileName) else {
            throw MessageError("image \"\(fileName)\" not found")
        }
        guard isInside(real, realRoot) else {
            throw MessageError("image \"\(fileName)\" resolves outside the dataset root (to \(real))")
        }
        guard isRegularFile(real) else { throw MessageError("image \"\(fileName)\" is not a regular file") }
        return URL(fileURLWithPath: real)
    }

    /// Decodes and resizes every record's image, in parallel; failures are reported in line
    /// order, so the error thrown (or the skip list) does not depend on thread timing.
    mutating func decode(_ records: [Record], split: DatasetSplit) throws -> [LoadedRecord] {
        let results = Locked([Result<[Float], MessageError>?](repeating: nil, count: records.count))
        // Without skipping, the first failure (by line) is all that is reported: stop starting
        // images after it, but finish those before it so the reported one really is the first.
        let firstFailure = Locked(records.count)
        let (size, limits, skipping, preprocessor) = (imageSize, self.limits, skipBadSamples, self.preprocessor)
        // A few images in flight at once bounds peak memory (each may be up to
        // `maxPixels` × 3 bytes plus a float copy) while still using several cores.
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8, records.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in Swift.stride(from: worker, to: records.count, by: workers) {
                if !skipping, index > firstFailure.withLock({ $0 }) { break }
                let result = Self.loadImage(records[index], size: size, limits: limits, preprocessor: preprocessor)
                if case .failure = result, !skipping { firstFailure.withLock { $0 = Swift.min($0, index) } }
                results.withLock { $0[index] = result }
            }
        }
        var loaded: [LoadedRecord] = []
        loaded.reserveCapacity(records.count)
        for (record, result) in zip(records, results.withLock { $0 }) {
            switch result {
            case .success(let image)?: loaded.append(LoadedRecord(record: record, image: image))
            case .failure(let message)?: try report(split, line: record.line, message.message)
            case nil: break // after the first failure without skipping: never reached, as that throws
            }
        }
        return loaded
    }

    private static func loadImage(_ record: Record, size: Int, limits: ImageFolderDataset.Limits,
                                  preprocessor: CLIPImagePreprocessor?) -> Result<[Float], MessageError> {
        let name = record.fileName
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: record.image.path)
            let bytes = (attributes[.size] as? NSNumber)?.intValue ?? 0
            guard bytes <= limits.maxImageBytes else {
                return .failure(MessageError("image \"\(name)\" has \(bytes) bytes, above the limit of \(limits.maxImageBytes)"))
            }
            let data = try Data(contentsOf: record.image)
            guard data.count <= limits.maxImageBytes else {
                return .failure(MessageError("image \"\(name)\" grew past \(limits.maxImageBytes) bytes while being read"))
            }
            let rgb = try ImageDecoder.decodeRGB(data, maxPixels: limits.maxPixels, maxSide: limits.maxSide)
            if let preprocessor { return .success(try preprocessor.pixelValues(rgb: rgb.pixels, width: rgb.width, height: rgb.height)) }
            return .success(ImageDecoder.resizedCHW(rgb.pixels, width: rgb.width, height: rgb.height, to: size))
        } catch let error as ImageDecodingError {
            return .failure(MessageError("image \"\(name)\": \(error)"))
        } catch let error as CLIPPreprocessingError {
            return .failure(MessageError("image \"\(name)\": \(error)"))
        } catch {
            return .failure(MessageError("cannot read image \"\(name)\": \(error.localizedDescription)"))
        }
    }
}


// MARK: - Metadata lines

/// A per-sample problem; becomes a `DatasetIssue` once its file and line are attached.
private struct MessageError: Error, Sendable {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Splits a file into lines without ever holding more than one line (plus a read chunk) in
/// memory: a line over `maxLineBytes` is dropped as it streams past and reported as nil, so a
/// file without newlines cannot exhaust memory.
private struct LineReader {
    let handle: FileHandle
    let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var lineNumber = 0
    private var discarding = false
    private var atEnd = false

    init(handle: FileHandle, maxLineBytes: Int) { (self.handle, self.maxLineBytes) = (handle, maxLineBytes) }

    /// The next line's number and bytes (without "\n", "\r\n" or a leading UTF-8 BOM), bytes
    /// nil if the line was too long; nil at the end of the file.
    mutating func next(file: String) throws -> (Int, ArraySlice<UInt8>?)? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = buffer[start..<newline]
                start = newline + 1
                return finish(line)
            }
            if discarding || buffer.count - start > maxLineBytes {
                discarding = true
                buffer.removeAll(keepingCapacity: true)
                start = 0
            }
            if atEnd {
                guard discarding || start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                return finish(line)
            }
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: 1 << 16)
            } catch {
                throw DatasetIssue(file: file, line: nil, message: "cannot read: \(error.localizedDescription)")
            }
            guard let chunk, !chunk.isEmpty else { atEnd = true; continue }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            buffer.append(contentsOf: chunk)
        }
    }

    private mutating func finish(_ raw: ArraySlice<UInt8>) -> (Int, ArraySlice<UInt8>?) {
        lineNumber += 1
        if discarding {
            discarding = false
            return (lineNumber, nil)
        }
        var line = raw
        if lineNumber == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
        if line.last == 0x0D { line = line.dropLast() }
        return (lineNumber, line.count > maxLineBytes ? nil : line)
    }
}

/// Any JSON value, so fields can be checked one by one with messages that name them.
private indirect enum JSONValue: Decodable {
    case null, bool(Bool), integer(Int), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Bool before Int, so `true` is not read as 1; Int before Double, so 3 stays exact.
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer: "an integer"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

private extension Dictionary where Key == String, Value == JSONValue {
    func requiredString(_ key: String) throws -> String {
        guard let value = self[key], !value.isNull else { throw MessageError("missing \"\(key)\"") }
        guard case .string(let string) = value else { throw MessageError("\"\(key)\" must be a string, got \(value.kind)") }
        return string
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = self[key], !value.isNull else { return nil }
        guard case .string(let string) = value else { throw MessageError("\"\(key)\" must be a string, got \(value.kind)") }
        return string
    }

    func optionalStrings(_ key: String) throws -> [String]? {
        guard let value = self[key], !value.isNull else { return nil }
        guard case .array(let elements) = value else { throw MessageError("\"\(key)\" must be an array of strings, got \(value.kind)") }
        return try elements.enumerated().map { index, element in
            guard case .string(let string) = element else {
                throw MessageError("\"\(key)\"[\(index)] must be a string, got \(element.kind)")
            }
            return string
        }
    }

    /// A string, or an integer as its decimal string, so `3` and `"3"` are the same class.
    func label() throws -> String? {
        guard let value = self["label"], !value.isNull else { return nil }
        switch value {
        case .string(let string) where !string.isEmpty: return string
        case .string: throw MessageError("\"label\" is an empty string")
        case .integer(let number): return String(number)
        default: throw MessageError("\"label\" must be a string or an integer, got \(value.kind)")
        }
    }
}

private extension JSONValue {
    var isNull: Bool { if case .null = self { true } else { false } }
}

// MARK: - Files and threads

private func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

private func fileType(_ path: String) -> FileAttributeType? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
}

private func isDirectory(_ path: String) -> Bool { fileType(path) == .typeDirectory }

/// Regular files only: reading a FIFO or device named by a dataset could block or never end.
private func isRegularFile(_ path: String) -> Bool { fileType(path) == .typeRegular }

/// Whether the real path `path` is `root` or below it (both from `realpath`).
private func isInside(_ path: String, _ root: String) -> Bool {
    root == "/" || path == root || path.hasPrefix(root + "/")
}

/// A value the decoding threads share, read and written only under its lock.
private final class Locked<Value: Sendable>: @unchecked Sendable {  // `value` only under `lock`
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&value) } }
}
