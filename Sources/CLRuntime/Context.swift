import COpenCL
import Foundation

/// An OpenCL context on one device. Released in `deinit`.
///
/// `@unchecked Sendable` here and on the other OpenCL wrappers (queue, memory, event, platform,
/// device, program): their fields never change after `init`, and the handles are C pointers,
/// which Swift cannot check, to objects that OpenCL lets any thread use (OpenCL 1.2,
/// appendix A.2). The exception is setting a kernel's arguments, so `CLKernel` is not Sendable.
public final class CLContext: @unchecked Sendable {
    public let device: CLDevice
    let handle: cl_context
    /// The queues, buffers, programs, kernels and events alive in this context.
    public let liveObjects = CLLiveObjects()
    var api: AlignCLOpenCLAPI { device.library.api }

    public init(device: CLDevice) throws(CLError) {
        self.device = device
        var id: cl_device_id? = device.id
        handle = try checked("clCreateContext") { status in
            device.library.api.CreateContext(nil, 1, &id, nil, nil, status)
        }
        CLLiveObjects.created(.context, in: nil)
    }

    deinit {
        _ = api.ReleaseContext(handle)
        CLLiveObjects.released(.context, in: nil)
    }
}

/// An in-order command queue with profiling enabled (kernel times come from its events).
public final class CLCommandQueue: @unchecked Sendable {  // the handle: see `CLContext`; the recording: under `profilingLock`
    public let context: CLContext
    let handle: cl_command_queue
    var api: AlignCLOpenCLAPI { context.api }
    private let profilingLock = NSLock()
    /// While profiling: the kernel name and event of every kernel enqueued since `startProfiling()`.
    private var profiledEvents: [(kernel: String, event: CLEvent)]?

    /// Records the device time of every kernel enqueued from now on.
    public func startProfiling() { profilingLock.withLock { profiledEvents = [] } }

    /// Waits for the recorded kernels and returns their device time in seconds, summed per
    /// kernel name.
    public func stopProfiling() throws(CLError) -> [String: Double] {
        try finish()
        let events = profilingLock.withLock { defer { profiledEvents = nil }; return profiledEvents ?? [] }
        var seconds: [String: Double] = [:]
        for (kernel, event) in events { seconds[kernel, default: 0] += try event.elapsedSeconds() }
        return seconds
    }

    private var isProfiling: Bool { profilingLock.withLock { profiledEvents != nil } }

    public init(context: CLContext) throws(CLError) {
        self.context = context
        handle = try checked("clCreateCommandQueue") { status in
            context.api.CreateCommandQueue(context.handle, context.device.id,
                                           cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE), status)
        }
        CLLiveObjects.created(.queue, in: context)
    }

    deinit {
        _ = api.ReleaseCommandQueue(handle)
        CLLiveObjects.released(.queue, in: context)
    }

    /// Waits for everything enqueued so far. Call it once per batch of work, not per kernel:
    /// each finish costs tens of microseconds on PoCL.
    public func finish() throws(CLError) {
        try check(api.Finish(handle), "clFinish")
    }

    /// Enqueues `kernel` over `global` work-items (1–3 dimensions) in groups of `local`
    /// (nil lets the driver choose). Returns the event when `profiled`.
    @discardableResult
    public func enqueue(_ kernel: CLKernel, global: [Int], local: [Int]? = nil, profiled: Bool = false) throws(CLError) -> CLEvent? {
        precondition((1...3).contains(global.count) && (local == nil || local!.count == global.count),
                     "work dimensions are set by AlignCL's own launch code")
        let globalSizes = global.map { size_t($0) }
        let localSizes = local?.map { size_t($0) }
        var event: cl_event?
        let recording = isProfiling
        let wantsEvent = profiled || recording
        let status = withUnsafeMutablePointer(to: &event) { eventPointer in
            globalSizes.withUnsafeBufferPointer { globalPointer in
                let launch = { (localPointer: UnsafePointer<size_t>?) in
                    self.api.EnqueueNDRangeKernel(self.handle, kernel.handle, cl_uint(global.count), nil, globalPointer.baseAddress,
                                                  localPointer, 0, nil, wantsEvent ? eventPointer : nil)
                }
                guard let localSizes else { return launch(nil) }
                return localSizes.withUnsafeBufferPointer { launch($0.baseAddress) }
            }
        }
        try check(status, "clEnqueueNDRangeKernel")
        let recorded = event.map { CLEvent(handle: $0, context: context) }
        if let recorded, recording { profilingLock.withLock { profiledEvents?.append((kernel.name, recorded)) } }
        return profiled ? recorded : nil
    }

    /// Copies `byteCount` bytes from the start of `source` to the start of `destination`.
    public func copy(from source: CLMemory, to destination: CLMemory, byteCount: Int) throws(CLError) {
        try check(api.EnqueueCopyBuffer(handle, source.handle, destination.handle, 0, 0, byteCount, 0, nil, nil), "clEnqueueCopyBuffer")
    }

    /// Writes `bytes` to the start of `buffer`: mapped on devices that map host memory, else a
    /// blocking write.
    public func write(_ bytes: UnsafeRawBufferPointer, to buffer: CLMemory) throws(CLError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if buffer.isHostMapped {
            try withMapped(buffer, writing: true, byteCount: bytes.count) { $0.baseAddress?.copyMemory(from: base, byteCount: bytes.count) }
        } else {
            // Blocking, so the caller may free `bytes` at once (OpenCL reads it at enqueue only then).
            try check(api.EnqueueWriteBuffer(handle, buffer.handle, cl_bool(CL_TRUE), 0, bytes.count, base, 0, nil, nil), "clEnqueueWriteBuffer")
        }
    }

    /// Reads the first `bytes.count` bytes of `buffer` into `bytes`, waiting for the queue.
    public func read(_ buffer: CLMemory, into bytes: UnsafeMutableRawBufferPointer) throws(CLError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if buffer.isHostMapped {
            try withMapped(buffer, writing: false, byteCount: bytes.count) { raw in
                if let source = raw.baseAddress { base.copyMemory(from: source, byteCount: bytes.count) }
            }
        } else {
            try check(api.EnqueueReadBuffer(handle, buffer.handle, cl_bool(CL_TRUE), 0, bytes.count, base, 0, nil, nil), "clEnqueueReadBuffer")
        }
    }

    /// Maps `buffer` into host memory, runs `body` on it, and unmaps it.
    private func withMapped<R>(_ buffer: CLMemory, writing: Bool, byteCount: Int,
                               _ body: (UnsafeMutableRawBufferPointer) throws(CLError) -> R) throws(CLError) -> R {
        let flags = writing ? cl_map_flags(CL_MAP_WRITE_INVALIDATE_REGION) : cl_map_flags(CL_MAP_READ)
        let pointer = try checked("clEnqueueMapBuffer") { status in
            api.EnqueueMapBuffer(handle, buffer.handle, cl_bool(CL_TRUE), flags, 0, byteCount, 0, nil, nil, status)
        }
        defer { _ = api.EnqueueUnmapMemObject(handle, buffer.handle, pointer, 0, nil, nil) }
        return try body(UnsafeMutableRawBufferPointer(start: pointer, count: byteCount))
    }
}

/// A device buffer. Released in `deinit`.
public final class CLMemory: @unchecked Sendable {  // see `CLContext`
    public let byteCount: Int
    let handle: cl_mem
    private let context: CLContext
    /// Host-resident and mapped for transfers (CPU devices), or plain device memory (GPUs).
    var isHostMapped: Bool { context.device.mapsHostMemory }

    /// Allocates `byteCount` bytes (at least 4, since OpenCL rejects empty buffers): in host
    /// memory on devices that map it (see `CLDevice.mapsHostMemory`), else plain device memory.
    public init(context: CLContext, byteCount: Int) throws(CLError) {
        self.byteCount = byteCount
        self.context = context
        let flags = CL_MEM_READ_WRITE | (context.device.mapsHostMemory ? CL_MEM_ALLOC_HOST_PTR : 0)
        handle = try checked("clCreateBuffer") { status in
            context.api.CreateBuffer(context.handle, cl_mem_flags(flags), max(byteCount, 4), nil, status)
        }
        CLLiveObjects.created(.memory, in: context)
    }

    deinit {
        _ = context.api.ReleaseMemObject(handle)
        CLLiveObjects.released(.memory, in: context)
    }
}

/// A profiling event. Released in `deinit`.
public final class CLEvent: @unchecked Sendable {  // see `CLContext`
    let handle: cl_event
    private let context: CLContext
    private var api: AlignCLOpenCLAPI { context.api }

    init(handle: cl_event, context: CLContext) {
        self.handle = handle
        self.context = context
        CLLiveObjects.created(.event, in: context)
    }

    deinit {
        _ = api.ReleaseEvent(handle)
        CLLiveObjects.released(.event, in: context)
    }

    /// Device time from start to end of the command, in seconds (waits for it to complete).
    public func elapsedSeconds() throws(CLError) -> Double {
        var event: cl_event? = handle
        try check(api.WaitForEvents(1, &event), "clWaitForEvents")
        var start: cl_ulong = 0
        var end: cl_ulong = 0
        try check(api.GetEventProfilingInfo(handle, cl_profiling_info(CL_PROFILING_COMMAND_START), 8, &start, nil), "clGetEventProfilingInfo")
        try check(api.GetEventProfilingInfo(handle, cl_profiling_info(CL_PROFILING_COMMAND_END), 8, &end, nil), "clGetEventProfilingInfo")
        return Double(end &- start) * 1e-9
    }
}
