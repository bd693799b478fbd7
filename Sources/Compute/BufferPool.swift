import CLRuntime
import Foundation

/// Memory that a backend's ops read and write: `count` floats on the host or on a device.
/// Returns its storage to the pool it came from when released.
public final class Buffer: @unchecked Sendable {  // immutable; the memory it names is ordered by its backend (in-order queue, or the calling thread)
    public let count: Int
    let storage: Storage
    private let pool: BufferPool

    enum Storage {
        case host(UnsafeMutableRawPointer)
        case device(CLMemory)
    }

    init(count: Int, storage: Storage, pool: BufferPool) {
        self.count = count
        self.storage = storage
        self.pool = pool
    }

    deinit { pool.recycle(storage, byteCount: BufferPool.byteCount(forFloats: count)) }

    /// The host memory of a CPU-backend buffer.
    var hostPointer: UnsafeMutablePointer<Float> {
        guard case .host(let raw) = storage else { preconditionFailure("a device buffer was handed to the CPU backend") }
        return raw.assumingMemoryBound(to: Float.self)
    }

    /// The host memory of a CPU-backend buffer holding int32 values (ids, class targets).
    var int32Pointer: UnsafeMutablePointer<Int32> {
        guard case .host(let raw) = storage else { preconditionFailure("a device buffer was handed to the CPU backend") }
        return raw.assumingMemoryBound(to: Int32.self)
    }

    /// The device memory of an OpenCL-backend buffer.
    var deviceMemory: CLMemory {
        guard case .device(let memory) = storage else { preconditionFailure("a host buffer was handed to the OpenCL backend") }
        return memory
    }
}

/// A caching allocator: released buffers are kept by size and handed out again, so ops in a
/// steady state (same shapes every step) allocate nothing. Its counters are what tests assert.
public final class BufferPool: @unchecked Sendable {  // mutable state only under `lock`
    public struct Statistics: Sendable, Equatable {
        /// Fresh allocations from the host or device.
        public var allocations = 0
        /// Requests served from released buffers.
        public var reuses = 0
        /// Bytes in buffers currently handed out.
        public var bytesInUse = 0
        /// The largest `bytesInUse` seen: the peak working memory of the ops run so far.
        public var highWaterBytes = 0
        /// Bytes held in released buffers waiting for reuse.
        public var bytesCached = 0
    }

    private let lock = NSLock()
    private var statistics = Statistics()
    private var free: [Int: [Buffer.Storage]] = [:]
    private let allocate: (Int) throws -> Buffer.Storage
    private let release: (Buffer.Storage) -> Void

    /// - Parameters:
    ///   - allocate: makes fresh storage of the given byte count.
    ///   - release: frees storage the pool no longer keeps.
    init(allocate: @escaping (Int) throws -> Buffer.Storage, release: @escaping (Buffer.Storage) -> Void) {
        self.allocate = allocate
        self.release = release
    }

    deinit { trim() }

    public var stats: Statistics { lock.withLock { statistics } }

    /// Sizes are rounded up to 256 bytes so near-equal requests share storage.
    static func byteCount(forFloats count: Int) -> Int {
        (max(count, 1) * MemoryLayout<Float>.stride + 255) & ~255
    }

    func buffer(count: Int) throws -> Buffer {
        let bytes = Self.byteCount(forFloats: count)
        let reused: Buffer.Storage? = lock.withLock {
            statistics.bytesInUse += bytes
            statistics.highWaterBytes = max(statistics.highWaterBytes, statistics.bytesInUse)
            guard let storage = free[bytes]?.popLast() else { return nil }
            statistics.reuses += 1
            statistics.bytesCached -= bytes
            return storage
        }
        if let reused { return Buffer(count: count, storage: reused, pool: self) }
        do {
            let storage = try allocate(bytes)
            lock.withLock { statistics.allocations += 1 }
            return Buffer(count: count, storage: storage, pool: self)
        } catch {
            lock.withLock { statistics.bytesInUse -= bytes }
            throw error
        }
    }

    fileprivate func recycle(_ storage: Buffer.Storage, byteCount: Int) {
        lock.withLock {
            statistics.bytesInUse -= byteCount
            statistics.bytesCached += byteCount
            free[byteCount, default: []].append(storage)
        }
    }

    /// Frees every cached buffer (buffers in use are unaffected).
    public func trim() {
        let cached = lock.withLock {
            defer { free.removeAll(); statistics.bytesCached = 0 }
            return free.values.flatMap { $0 }
        }
        cached.forEach(release)
    }

    /// Starts the high-water mark again from the bytes in use now (to measure one op).
    public func resetHighWater() {
        lock.withLock { statistics.highWaterBytes = statistics.bytesInUse }
    }
}
