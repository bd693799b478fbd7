import COpenBLAS
import Dispatch
import Foundation

/// The CPU path: OpenBLAS for GEMM, multithreaded loops elsewhere. A real fallback, and the
/// backend CI exercises next to OpenCL on PoCL.
public final class CPUBackend: Backend, Sendable {
    public let pool: BufferPool
    /// Threads used for the loops (OpenBLAS keeps its own pool).
    public let threadCount: Int

    public init(threadCount: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.threadCount = max(1, threadCount)
        pool = BufferPool(
            allocate: { bytes in
                // 64-byte alignment: whole cache lines and AVX-512 vectors.
                var pointer: UnsafeMutableRawPointer?
                guard posix_memalign(&pointer, 64, bytes) == 0, let pointer else {
                    throw BackendError.outOfMemory(op: "allocate", message: "the host could not give \(bytes) bytes")
                }
                return .host(pointer)
            },
            release: { storage in
                if case .host(let pointer) = storage { free(pointer) }
            })
    }

    /// The kernel set OpenBLAS chose when it loaded ("Cooperlake", "Haswell", …; the
    /// environment's OPENBLAS_CORETYPE overrides its choice): what bounds the CPU path's GEMM.
    public static var blasKernels: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    public var summary: BackendSummary {
        BackendSummary(kind: .cpu, device: "host CPU, \(threadCount) threads, OpenBLAS GEMM (\(Self.blasKernels) kernels)")
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to buffer: Buffer) throws {
        try BufferCounts.upload(values, to: buffer)
        guard let base = values.baseAddress else { return }
        buffer.hostPointer.update(from: base, count: values.count)
    }

    public func download(_ buffer: Buffer, into values: UnsafeMutableBufferPointer<Float>) throws {
        try BufferCounts.download(buffer, into: values)
        guard let base = values.baseAddress else { return }
        base.update(from: buffer.hostPointer, count: values.count)
    }

    public func copy(_ source: Buffer, to destination: Buffer, count: Int) throws {
        try BufferCounts.copy(source, to: destination, count: count)
        let (from, to) = (source.hostPointer, destination.hostPointer)
        parallelFor(count, minimumChunk: 1 << 16) { range in
            (to + range.lowerBound).update(from: from + range.lowerBound, count: range.count)
        }
    }

    /// Work runs synchronously on the CPU path.
    public func synchronize() throws {}

    /// Runs `body` over `0..<count` split into contiguous chunks, one per thread.
    func parallelFor(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(threadCount, max(1, count / max(1, minimumChunk)))
        if chunks == 1 { return body(0..<count) }
        concurrently(chunks) { chunk in body(count * chunk / chunks ..< count * (chunk + 1) / chunks) }
    }
}

/// Runs `body(0)`, …, `body(iterations − 1)` on the CPU path's worker threads and the calling
/// thread, and returns when all have. The CPU kernels pass bodies that capture raw buffer
/// pointers, which are not `Sendable`: they are safe to share because every iteration writes
/// its own disjoint part of the output (the contract of each caller), and nothing outlives
/// this call.
func concurrently(_ iterations: Int, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let body = body
        WorkerPool.shared.run(iterations) { body($0) }
    }
}

private let blasThreadsLock = NSLock()
nonisolated(unsafe) private var singleThreadedBLASUsers = 0
nonisolated(unsafe) private var savedBLASThreads: Int32 = 1

/// Runs `body` with OpenBLAS limited to one thread, for loops that call it from several threads
/// of their own (nested threading would oversubscribe the cores). OpenBLAS's thread count is
/// process-wide, so the first of overlapping callers saves it and the last restores it.
func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
    blasThreadsLock.withLock {
        if singleThreadedBLASUsers == 0 {
            savedBLASThreads = openblas_get_num_threads()
            openblas_set_num_threads(1)
        }
        singleThreadedBLASUsers += 1
    }
    defer {
        blasThreadsLock.withLock {
            singleThreadedBLASUsers -= 1
            if singleThreadedBLASUsers == 0 { openblas_set_num_threads(savedBLASThreads) }
        }
    }
    return try body()
}
