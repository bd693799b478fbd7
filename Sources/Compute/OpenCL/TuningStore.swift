import CLRuntime
import Foundation

/// Kernel parameters `aligncl tune` measured as best on one device, for one kernel variant.
/// Every field is optional: a family that was not tuned keeps the defaults.
public struct TunedParameters: Codable, Sendable, Hashable {
    // CPU variant: GEMM micro-kernel and attention blocks.
    public var gemmMicroRows: Int?, gemmMicroColumns: Int?, gemmTilesPerItemM: Int?, gemmTilesPerItemN: Int?
    public var attentionKeyBlock: Int?, attentionQueryBlock: Int?, attentionRegisterTile: Int?
    public var softmaxRowsPerGroup: Int?
    // GPU variant: GEMM tiles (preferred first) and the row-reduction work-group.
    public var gemmTiles: [GEMMTile]?
    public var rowWorkGroup: Int?

    public init() {}

    /// The families, in the order they are listed.
    public static let allFamilies = ["gemm", "attention", "softmax"]

    /// The families these parameters set.
    public var families: [String] { Self.allFamilies.filter { only($0) != TunedParameters() } }

    /// `family`'s fields copied from `source`; the others as they are. The one place that says
    /// which fields belong to which family.
    private mutating func copy(_ family: String, from source: TunedParameters) {
        switch family {
        case "gemm":
            (gemmMicroRows, gemmMicroColumns, gemmTilesPerItemM, gemmTilesPerItemN, gemmTiles) =
                (source.gemmMicroRows, source.gemmMicroColumns, source.gemmTilesPerItemM, source.gemmTilesPerItemN, source.gemmTiles)
        case "attention":
            (attentionKeyBlock, attentionQueryBlock, attentionRegisterTile) = (source.attentionKeyBlock, source.attentionQueryBlock, source.attentionRegisterTile)
        case "softmax": (softmaxRowsPerGroup, rowWorkGroup) = (source.softmaxRowsPerGroup, source.rowWorkGroup)
        default: break
        }
    }

    /// `family`'s fields alone.
    public func only(_ family: String) -> TunedParameters {
        var result = TunedParameters()
        result.copy(family, from: self)
        return result
    }

    /// These parameters over `other`'s: a family tuned here replaces the same family there.
    public func merged(over other: TunedParameters) -> TunedParameters {
        var result = other
        for family in families { result.copy(family, from: self) }
        return result
    }
}

extension OpenCLTuning {
    /// These parameters with `tuned`'s in place of the defaults.
    public func applying(_ tuned: TunedParameters) -> OpenCLTuning {
        var tuning = self
        tuning.gemmMicroRows = tuned.gemmMicroRows ?? gemmMicroRows
        tuning.gemmMicroColumns = tuned.gemmMicroColumns ?? gemmMicroColumns
        tuning.gemmTilesPerItemM = tuned.gemmTilesPerItemM ?? gemmTilesPerItemM
        tuning.gemmTilesPerItemN = tuned.gemmTilesPerItemN ?? gemmTilesPerItemN
        tuning.attentionKeyBlock = tuned.attentionKeyBlock ?? attentionKeyBlock
        tuning.attentionQueryBlock = tuned.attentionQueryBlock ?? attentionQueryBlock
        tuning.attentionRegisterTile = tuned.attentionRegisterTile ?? attentionRegisterTile
        tuning.softmaxRowsPerGroup = tuned.softmaxRowsPerGroup ?? softmaxRowsPerGroup
        tuning.gemmTiles = tuned.gemmTiles ?? gemmTiles
        tuning.rowWorkGroup = tuned.rowWorkGroup ?? rowWorkGroup
        tuning.tunedFamilies = tuned.families
        return tuning
    }

    /// The tunable parameters as they stand, for the store and `aligncl devices`.
    public var tunableParameters: TunedParameters {
        var parameters = TunedParameters()
        switch variant {
        case .cpu:
            (parameters.gemmMicroRows, parameters.gemmMicroColumns, parameters.gemmTilesPerItemM, parameters.gemmTilesPerItemN) =
                (gemmMicroRows, gemmMicroColumns, gemmTilesPerItemM, gemmTilesPerItemN)
            (parameters.attentionKeyBlock, parameters.attentionQueryBlock, parameters.attentionRegisterTile) =
                (attentionKeyBlock, attentionQueryBlock, attentionRegisterTile)
            parameters.softmaxRowsPerGroup = softmaxRowsPerGroup
        case .gpu:
            parameters.gemmTiles = gemmTiles
            parameters.rowWorkGroup = rowWorkGroup
        }
        return parameters
    }
}

/// Where `aligncl tune` keeps its results: one JSON file per (device name, driver version,
/// kernel variant, kernel sources), named by a hash of those, so a new driver or a changed
/// kernel file finds no entry and runs on the defaults until tuned again.
public struct TuningStore: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// One stored result.
    public struct Entry: Codable, Sendable, Equatable {
        public var format = 1
        public var device: String
        public var driver: String
        public var variant: String
        public var sources: String
        public var parameters: TunedParameters
        /// Per family: tuned time over default time on the tuning shapes (below 1 is faster).
        public var timeRatios: [String: Double]
        public var tunedAt: String

        public init(device: String, driver: String, variant: String, sources: String, parameters: TunedParameters, timeRatios: [String: Double], tunedAt: String) {
            (self.device, self.driver, self.variant, self.sources) = (device, driver, variant, sources)
            (self.parameters, self.timeRatios, self.tunedAt) = (parameters, timeRatios, tunedAt)
        }
    }

    /// What `load` found.
    public enum Lookup: Sendable, Equatable {
        case none
        case found(Entry)
        /// The file was unreadable or did not match its key; it has been removed.
        case corrupt(path: String, reason: String)
    }

    /// The hash of every kernel file: any edit invalidates stored results.
    public static let kernelSourcesHash: String = {
        let all = KernelProgram.allCases.map(\.source).joined(separator: "\u{0}")
        return String(FNV1a.hash(Array(all.utf8)), radix: 16)
    }()

    public func file(device: String, driver: String, variant: OpenCLTuning.Variant, sources: String = TuningStore.kernelSourcesHash) -> URL {
        let key = "device=\(device)|driver=\(driver)|variant=\(variant.rawValue)|sources=\(sources)"
        return directory.appendingPathComponent("tuning-" + String(FNV1a.hash(Array(key.utf8)), radix: 16) + ".json")
    }

    public func load(device: String, driver: String, variant: OpenCLTuning.Variant, sources: String = TuningStore.kernelSourcesHash) -> Lookup {
        let url = file(device: device, driver: driver, variant: variant, sources: sources)
        guard let data = FileManager.default.contents(atPath: url.path) else { return .none }
        let reason: String
        do {
            let entry = try JSONDecoder().decode(Entry.self, from: data)
            if entry.format == 1, entry.device == device, entry.driver == driver, entry.variant == variant.rawValue, entry.sources == sources {
                return .found(entry)
            }
            reason = "it was written for another device, driver, variant or kernel source"
        } catch {
            reason = "it is not a tuning result (\(error))"
        }
        try? FileManager.default.removeItem(at: url)
        return .corrupt(path: url.path, reason: reason)
    }

    /// Writes `entry` whole (a temporary file renamed into place), merged over what the store
    /// held for the same key.
    public func save(_ entry: Entry) throws {
        guard let variant = OpenCLTuning.Variant(rawValue: entry.variant) else { return }
        var merged = entry
        if case .found(let old) = load(device: entry.device, driver: entry.driver, variant: variant, sources: entry.sources) {
            merged.parameters = entry.parameters.merged(over: old.parameters)
            merged.timeRatios = old.timeRatios.merging(entry.timeRatios) { $1 }
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = file(device: entry.device, driver: entry.driver, variant: variant, sources: entry.sources)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        try encoder.encode(merged).write(to: temporary)
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
        try FileManager.default.moveItem(at: temporary, to: url)
    }

    /// The stored parameters for `device` with `variant`, if any. A corrupt entry is removed
    /// with a notice, so the next `aligncl tune` writes it afresh.
    public func parameters(for device: CLDevice, variant: OpenCLTuning.Variant) -> Entry? {
        switch load(device: device.name, driver: device.driverVersion, variant: variant) {
        case .none: return nil
        case .found(let entry): return entry
        case .corrupt(let path, let reason):
            Notice.once("ignored and removed the tuning result \(path): \(reason); run `aligncl tune` to measure again")
            return nil
        }
    }
}
