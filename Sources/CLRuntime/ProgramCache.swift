import Foundation

/// Built program binaries on disk, so a warm start skips the OpenCL compiler.
///
/// An entry is keyed by the kernel source hash, device name, driver version and build options;
/// the full key is stored inside the entry and compared on load, and a checksum covers the
/// binary, so a stale, truncated or corrupt entry is never trusted: it is counted, deleted and
/// rebuilt. Writes go through a temporary file and a rename, so readers never see half a file.
public final class ProgramCache: @unchecked Sendable {  // `statistics` only under `lock`; the rest never changes
    public let directory: URL

    /// What happened to lookups in this process.
    public struct Statistics: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        /// Entries found but rejected (bad checksum, other key, failed to load): also misses.
        public var corrupt = 0
        public var stores = 0

        public init(hits: Int = 0, misses: Int = 0, corrupt: Int = 0, stores: Int = 0) {
            self.hits = hits
            self.misses = misses
            self.corrupt = corrupt
            self.stores = stores
        }
    }

    private let lock = NSLock()
    private var statistics = Statistics()
    public var stats: Statistics { lock.withLock { statistics } }

    public init(directory: URL) {
        self.directory = directory
    }

    /// The identity of one build: everything that can change the binary.
    public struct Key: Sendable {
        public let text: String

        public init(source: String, device: CLDevice, options: String) {
            let sourceHash = FNV1a.hash(Array(source.utf8))
            text = "source=\(String(sourceHash, radix: 16)):\(source.utf8.count)|device=\(device.name)|driver=\(device.driverVersion)|options=\(options)"
        }

        var fileName: String { String(FNV1a.hash(Array(text.utf8)), radix: 16) + ".clbin" }
    }

    private static let magic = Array("ALIGNCL-PROGRAM-1\n".utf8)

    /// The cached binary for `key`, or nil (a miss) when there is none or it fails verification.
    /// The caller reports whether the binary then loaded: `recordHit` or `discardCorrupt`.
    public func lookup(_ key: Key) -> [UInt8]? {
        let url = directory.appendingPathComponent(key.fileName)
        guard let data = try? Data(contentsOf: url) else {
            lock.withLock { statistics.misses += 1 }
            return nil
        }
        guard let binary = Self.decode(Array(data), key: key) else {
            discardCorrupt(key)
            return nil
        }
        return binary
    }

    /// Records that a binary from `lookup` loaded and built.
    public func recordHit() {
        lock.withLock { statistics.hits += 1 }
    }

    /// Records that the entry for `key` could not be used, and deletes it.
    public func discardCorrupt(_ key: Key) {
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(key.fileName))
        lock.withLock {
            statistics.corrupt += 1
            statistics.misses += 1
        }
    }

    /// Stores `binary` for `key`. Failure to write is not an error: the cache is an optimisation.
    public func store(_ key: Key, binary: [UInt8]) {
        let keyBytes = Array(key.text.utf8)
        var entry = Self.magic
        append(UInt64(keyBytes.count), to: &entry)
        entry += keyBytes
        append(UInt64(binary.count), to: &entry)
        entry += binary
        append(FNV1a.hash(keyBytes + binary), to: &entry)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let final = directory.appendingPathComponent(key.fileName)
            let temporary = directory.appendingPathComponent(".\(key.fileName).\(ProcessInfo.processInfo.processIdentifier).tmp")
            try Data(entry).write(to: temporary)
            if rename(temporary.path, final.path) != 0 {
                try? FileManager.default.removeItem(at: temporary)
                return
            }
            lock.withLock { statistics.stores += 1 }
        } catch {
            return
        }
    }

    /// Number of entries and their total size on disk.
    public func diskUsage() -> (entries: Int, bytes: Int) {
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.fileSizeKey])) ?? []
        let entries = files.filter { $0.pathExtension == "clbin" }
        let bytes = entries.reduce(0) { $0 + ((try? $1.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) }
        return (entries.count, bytes)
    }

    private static func decode(_ bytes: [UInt8], key: Key) -> [UInt8]? {
        var cursor = 0
        func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard count >= 0, bytes.count - cursor >= count else { return nil }
            defer { cursor += count }
            return bytes[cursor..<cursor + count]
        }
        func takeUInt64() -> UInt64? {
            take(8).map { $0.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        }
        guard let magicBytes = take(magic.count), Array(magicBytes) == magic,
              let keyLength = takeUInt64(), keyLength <= UInt64(bytes.count),
              let keyBytes = take(Int(keyLength)), Array(keyBytes) == Array(key.text.utf8),
              let binaryLength = takeUInt64(), binaryLength <= UInt64(bytes.count),
              let binary = take(Int(binaryLength)),
              let checksum = takeUInt64(), cursor == bytes.count,
              checksum == FNV1a.hash(Array(keyBytes) + Array(binary))
        else { return nil }
        return Array(binary)
    }
}

private func append(_ value: UInt64, to bytes: inout [UInt8]) {
    for shift in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(shift)))) }
}
