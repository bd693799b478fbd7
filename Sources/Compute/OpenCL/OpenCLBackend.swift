import CLRuntime
import Foundation

/// Ops on one OpenCL device: one context, one in-order queue, a buffer pool, and the programs,
/// each built on its first use (from the on-disk cache when it has them) and kept for the
/// life of the backend — so a command builds only the kernel files it runs.
public final class OpenCLBackend: Backend, @unchecked Sendable {  // mutable state and every enqueue only under `lock`
    public let device: CLDevice
    public let tuning: OpenCLTuning
    public let pool: BufferPool
    /// Where built programs are cached on disk, if anywhere.
    public let programCache: ProgramCache?
    let context: CLContext
    /// The OpenCL objects alive in this backend's context (buffers, programs, kernels, events).
    public var liveObjects: [CLLiveObjects.Kind: Int] { context.liveObjects.snapshot }
    let queue: CLCommandQueue
    /// Serialises programs, kernel argument binding and enqueueing (kernel objects hold their
    /// bound arguments).
    let lock = NSLock()
    private var programs: [ProgramKey: CLProgram] = [:]
    /// The kernel families made so far, by type (see `kernels(_:)`).
    private var families: [ObjectIdentifier: any KernelFamily] = [:]
    /// Kernels of programs built per tile or head width (see `specializedKernel`).
    private var specializedKernels: [SpecializedKernelKey: CLKernel] = [:]
    /// Key masks and other read-only arrays, uploaded once per contents.
    private let constants = ConstantCache()
    /// Host transfers so far (under `lock`).
    private var transfers = HostTransfers()
    /// The operand promised unchanged (`withUnchangedOperand`) and its packed forms so far.
    var unchangedOperand: (buffer: Buffer, packed: [PackedOperandKey: Buffer])?

    struct PackedOperandKey: Hashable {
        let transposed: Bool, k: Int, n: Int, batch: Int
    }

    /// A kernel file and the extra `-D` options of one specialisation of it ("" for none).
    private struct ProgramKey: Hashable {
        let program: KernelProgram, specialization: String
        var name: String { specialization.isEmpty ? program.rawValue : "\(program.rawValue) [\(specialization)]" }
    }

    private struct SpecializedKernelKey: Hashable {
        let name: String, tiles: AnyHashable
    }

    /// - Parameters:
    ///   - variant: the kernel variant; by default the one suited to the device's type. Its
    ///     parameters come from the device's limits.
    public convenience init(device: CLDevice, programCache: ProgramCache?, variant: OpenCLTuning.Variant? = nil) throws {
        try self.init(device: device, programCache: programCache, tuning: OpenCLTuning(variant: variant, for: device))
    }

    /// - Parameters:
    ///   - tuning: kernel variant and parameters (tests and tuning set them explicitly).
    public init(device: CLDevice, programCache: ProgramCache?, tuning: OpenCLTuning) throws {
        self.device = device
        self.programCache = programCache
        self.tuning = tuning
        do {
            context = try CLContext(device: device)
            queue = try CLCommandQueue(context: context)
        } catch {
            throw BackendError.openCL(op: "setup", error)
        }
        let context = context
        let deviceName = device.name, maxAllocation = device.maxAllocationBytes
        pool = BufferPool(
            allocate: { bytes in
                // Checked here rather than left to the driver, which may fail later, at a launch
                // (NVIDIA refuses such buffers only when a kernel first touches them).
                guard UInt64(bytes) <= maxAllocation else {
                    throw BackendError.outOfMemory(op: "allocate", message: "a buffer of \(formatBytes(Double(bytes))) (\(bytes) bytes) is larger than the \(formatBytes(Double(maxAllocation))) (\(maxAllocation) bytes) \(deviceName) allows for one buffer (CL_DEVICE_MAX_MEM_ALLOC_SIZE)")
                }
                do {
                    return .device(try CLMemory(context: context, byteCount: bytes))
                } catch let error as CLError where [-4, -6, -61].contains(error.status) {
                    // CL_MEM_OBJECT_ALLOCATION_FAILURE, CL_OUT_OF_HOST_MEMORY, CL_INVALID_BUFFER_SIZE
                    throw BackendError.outOfMemory(op: "allocate", message: "\(deviceName) could not give \(bytes) bytes (\(error.statusName))")
                }
            },
            release: { _ in })  // CLMemory releases itself when the last reference goes.
    }

    public func constantBuffer(_ values: [Float]) throws -> Buffer {
        try constants.buffer(values) { try makeBuffer(values) }
    }

    public func unsupportedReason(_ descriptor: any OpDescriptor) -> String? {
        switch descriptor {
        case let attention as AttentionDescriptor: attentionLimit(attention)
        case let infoNCE as InfoNCEDescriptor where infoNCE.chunkRows == nil: infoNCETileLimit(infoNCE)
        default: nil
        }
    }

    /// How each program built so far was obtained (compiled, or loaded from the cache).
    public var programOrigins: [String: CLProgram.Origin] {
        lock.withLock { Dictionary(uniqueKeysWithValues: programs.map { ($0.key.name, $0.value.origin) }) }
    }

    /// Builds every program of this backend's variant now (e.g. to warm the cache, or to
    /// report on all of them); programs specialised by shape are built when first used.
    public func buildAllPrograms() throws {
        try locked("build") {
            for program in KernelProgram.allCases where program.variants.contains(tuning.variant) && !program.isSpecialized {
                _ = try self.program(program)
            }
        }
    }

    /// The built program of one kernel file, with the extra `-D` options `specialization`.
    /// Call with `lock` held.
    private func program(_ which: KernelProgram, specialization: String = "") throws(CLError) -> CLProgram {
        let key = ProgramKey(program: which, specialization: specialization)
        if let program = programs[key] { return program }
        let options = which.buildOptions(tuning) + (specialization.isEmpty ? "" : " " + specialization)
        let program = try CLProgram(context: context, source: which.source, options: options, cache: programCache)
        programs[key] = program
        return program
    }

    /// Kernel `name` of `which` built for `tiles` (a GEMM tile, attention's tiles for a head
    /// width), made on first use and kept. It is checked first against what the device allows
    /// it: a kernel's own limit (`CL_KERNEL_WORK_GROUP_SIZE`) is below the device's when it
    /// needs many registers, and its `__local` arrays must fit. Call with `lock` held.
    func specializedKernel(_ name: String, of which: KernelProgram, tiles: some KernelTiles, workGroupSize: Int) throws -> CLKernel {
        let key = SpecializedKernelKey(name: name, tiles: AnyHashable(tiles))
        if let kernel = specializedKernels[key] { return kernel }
        let specialization = tiles.buildOptions
        let kernel = try program(which, specialization: specialization).kernel(name)
        let (allowed, localBytes) = (try kernel.maxWorkGroupSize, try kernel.localMemoryBytes)
        guard workGroupSize <= allowed, localBytes <= device.localMemoryBytes else {
            throw BackendError.unsupported(
                op: name, message: "with \(specialization) it needs work-groups of \(workGroupSize) and \(localBytes) bytes of local memory; "
                    + "\(device.name) allows it \(allowed) work-items (CL_KERNEL_WORK_GROUP_SIZE) and \(device.localMemoryBytes) bytes")
        }
        specializedKernels[key] = kernel
        return kernel
    }

    public func withUnchangedOperand<R>(_ operand: Buffer, _ body: () throws -> R) throws -> R {
        let previous = lock.withLock {
            defer { unchangedOperand = (operand, [:]) }
            return unchangedOperand
        }
        defer { lock.withLock { unchangedOperand = previous } }
        return try body()
    }

    /// The kernels of `Family`, made from their programs on first use and kept. Call with `lock`
    /// held (inside `locked`).
    func kernels<Family: KernelFamily>(_ family: Family.Type) throws(CLError) -> Family {
        if let made = families[ObjectIdentifier(family)] as? Family { return made }
        let made = try Family(tuning: tuning) { (which: KernelProgram) throws(CLError) in try self.program(which) }
        families[ObjectIdentifier(family)] = made
        return made
    }

    /// The host transfers `body` makes: each blocking read drains the queue (on a discrete GPU
    /// that can cost more than the kernels of a small step); uploads are queued but stage
    /// through host memory.
    public func hostTransfers(_ body: () throws -> Void) throws -> HostTransfers {
        let before = lock.withLock { transfers }
        try body()
        let after = lock.withLock { transfers }
        return HostTransfers(blockingReads: after.blockingReads - before.blockingReads, uploads: after.uploads - before.uploads)
    }

    /// Runs `body` and returns the device time of the kernels it enqueued (from OpenCL
    /// profiling events: the kernel time, without host overhead), waiting for them.
    public func kernelSeconds(_ body: () throws -> Void) throws -> Double {
        try kernelProfile(body).values.reduce(0, +)
    }

    /// Like `kernelSeconds`, per kernel name: where the device time of `body` goes.
    public func kernelProfile(_ body: () throws -> Void) throws -> [String: Double] {
        queue.startProfiling()
        do {
            try body()
        } catch {
            _ = try? queue.stopProfiling()
            throw error
        }
        return try queue.stopProfiling()
    }

    public var summary: BackendSummary {
        BackendSummary(kind: .opencl, device: "device \(device.index): \(device.name), \(device.platformName), \(tuning.variant.rawValue)-style kernels"
            + (tuning.tunedFamilies.isEmpty ? "" : ", tuned: " + tuning.tunedFamilies.joined(separator: ", ")))
    }

    public func upload(_ values: UnsafeBufferPointer<Float>, to buffer: Buffer) throws {
        try BufferCounts.upload(values, to: buffer)
        try locked("upload") {
            transfers.uploads += 1
            try queue.write(UnsafeRawBufferPointer(values), to: buffer.deviceMemory)
        }
    }

    public func download(_ buffer: Buffer, into values: UnsafeMutableBufferPointer<Float>) throws {
        try BufferCounts.download(buffer, into: values)
        try locked("download") {
            transfers.blockingReads += 1
            try queue.read(buffer.deviceMemory, into: UnsafeMutableRawBufferPointer(values))
        }
    }

    public func copy(_ source: Buffer, to destination: Buffer, count: Int) throws {
        try BufferCounts.copy(source, to: destination, count: count)
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

/// Counts of host transfers (`OpenCLBackend.hostTransfers`).
public struct HostTransfers: Sendable, Equatable {
    public var blockingReads = 0
    public var uploads = 0
}

/// The entry points of one or more kernel files, looked up once per backend.
protocol KernelFamily {
    /// Looks the kernels up in the programs `program` builds (or loads from the cache).
    init(tuning: OpenCLTuning, program: (KernelProgram) throws(CLError) -> CLProgram) throws(CLError)
}

/// `n` rounded up to a multiple of `multiple`.
func roundUp(_ n: Int, _ multiple: Int) -> Int { ceilDiv(n, multiple) * multiple }

/// `n / d` rounded up.
func ceilDiv(_ n: Int, _ d: Int) -> Int { (n + d - 1) / d }

/// The work-items of one launch and their work-groups.
struct Grid {
    let global: [Int], local: [Int]
}

extension CLCommandQueue {
    func enqueue(_ kernel: CLKernel, _ grid: Grid) throws(CLError) {
        try enqueue(kernel, global: grid.global, local: grid.local)
    }
}

extension CLProgram {
    /// The kernel `name`, or its GPU-class twin `name_gpu` when `gpu`.
    func kernel(_ name: String, gpu: Bool) throws(CLError) -> CLKernel {
        try kernel(gpu ? name + "_gpu" : name)
    }
}
