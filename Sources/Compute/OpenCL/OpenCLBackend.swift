import CLRuntime
import Foundation

/// Ops on one OpenCL device: one context, one in-order queue, a buffer pool, and the programs
/// built once per process (from the on-disk cache when it has them).
public final class OpenCLBackend: Backend, @unchecked Sendable {
    public let device: CLDevice
    public let tuning: OpenCLTuning
    public let pool: BufferPool
    /// Where built programs are cached on disk, if anywhere.
    public let programCache: ProgramCache?
    let queue: CLCommandQueue
    /// Kernel objects hold their bound arguments, so binding and enqueueing are serialised.
    let lock = NSLock()
    let gemmKernels: GEMMKernels
    let softmaxKernels: SoftmaxKernels

    /// How each program was obtained in this process (compiled or from the cache).
    public let programOrigins: [String: CLProgram.Origin]

    /// - Parameters:
    ///   - tuning: kernel variant and parameters; by default the ones suited to the device kind.
    public init(device: CLDevice, programCache: ProgramCache?, tuning: OpenCLTuning? = nil) throws {
        self.device = device
        self.programCache = programCache
        let tuning = tuning ?? .defaults(for: device.kind)
        self.tuning = tuning
        let parts: Parts
        do {
            parts = try Self.setUp(device: device, tuning: tuning, programCache: programCache)
        } catch {
            throw BackendError.openCL(op: "setup", error)
        }
        queue = parts.queue
        gemmKernels = parts.gemm
        softmaxKernels = parts.softmax
        programOrigins = parts.origins
        let context = parts.queue.context
        pool = BufferPool(
            allocate: { bytes in .device(try CLMemory(context: context, byteCount: bytes)) },
            release: { _ in })  // CLMemory releases itself when the last reference goes.
    }

    private struct Parts {
        let queue: CLCommandQueue
        let gemm: GEMMKernels
        let softmax: SoftmaxKernels
        let origins: [String: CLProgram.Origin]
    }

    private static func setUp(device: CLDevice, tuning: OpenCLTuning, programCache: ProgramCache?) throws(CLError) -> Parts {
        let context = try CLContext(device: device)
        let queue = try CLCommandQueue(context: context)
        let gemmProgram = try CLProgram(context: context, source: EmbeddedKernels.gemm,
                                        options: tuning.gemmBuildOptions, cache: programCache)
        let softmaxProgram = try CLProgram(context: context, source: EmbeddedKernels.softmax,
                                           options: tuning.softmaxBuildOptions, cache: programCache)
        return Parts(queue: queue, gemm: try GEMMKernels(program: gemmProgram), softmax: try SoftmaxKernels(program: softmaxProgram),
                     origins: ["gemm": gemmProgram.origin, "softmax": softmaxProgram.origin])
    }

    public var summary: BackendSummary {
        BackendSummary(kind: .opencl, device: "device \(device.index): \(device.name), \(device.platformName), \(tuning.variant.rawValue)-style kernels")
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to buffer: Buffer) throws {
        try locked("upload") {
            try queue.withMapped(buffer.deviceMemory, writing: true, byteCount: values.count * 4) { raw in
                if let base = values.baseAddress { raw.baseAddress?.copyMemory(from: base, byteCount: values.count * 4) }
            }
        }
    }

    public func download(_ buffer: Buffer, into values: UnsafeMutableBufferPointer<Float>) throws {
        try locked("download") {
            try queue.withMapped(buffer.deviceMemory, writing: false, byteCount: values.count * 4) { raw in
                if let base = values.baseAddress, let source = raw.baseAddress { UnsafeMutableRawPointer(base).copyMemory(from: source, byteCount: values.count * 4) }
            }
        }
    }

    public func copy(_ source: Buffer, to destination: Buffer, count: Int) throws {
        try locked("copy") { try queue.copy(from: source.deviceMemory, to: destination.deviceMemory, byteCount: count * 4) }
    }

    public func synchronize() throws {
        try locked("synchronize") { try queue.finish() }
    }

    /// Runs `body` holding the queue lock, mapping OpenCL failures to `BackendError.openCL(op:)`.
    func locked<R>(_ op: String, _ body: () throws -> R) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        do {
            return try body()
        } catch let error as CLError {
            throw BackendError.openCL(op: op, error)
        }
    }
}

/// `n` rounded up to a multiple of `multiple`.
func roundUp(_ n: Int, _ multiple: Int) -> Int { ceilDiv(n, multiple) * multiple }

/// `n / d` rounded up.
func ceilDiv(_ n: Int, _ d: Int) -> Int { (n + d - 1) / d }
