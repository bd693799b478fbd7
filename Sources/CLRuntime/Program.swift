import COpenCL

/// A built OpenCL program. Built from source or, when the on-disk cache holds a binary for the
/// same source, device, driver and options, from that binary. Released in `deinit`.
public final class CLProgram: @unchecked Sendable {  // see `CLContext`
    public let context: CLContext
    let handle: cl_program
    /// How this program came to be: compiled now, or loaded from the cache.
    public let origin: Origin

    public enum Origin: Sendable, Equatable { case compiled, cached }

    var api: AlignCLOpenCLAPI { context.api }

    /// Builds `source` with `options` for the context's device, using `cache` when given.
    /// A cache entry that fails to load or build is counted as corrupt, deleted and rebuilt.
    public init(context: CLContext, source: String, options: String, cache: ProgramCache?) throws(CLError) {
        self.context = context
        let key = ProgramCache.Key(source: source, device: context.device, options: options)
        if let cache, let binary = cache.lookup(key) {
            if let program = try? Self.fromBinary(context: context, binary: binary, options: options) {
                cache.recordHit()
                handle = program
                origin = .cached
                CLLiveObjects.created(.program, in: context)
                return
            }
            cache.discardCorrupt(key)
        }
        handle = try Self.fromSource(context: context, source: source, options: options)
        origin = .compiled
        if let cache, let binary = try? Self.binary(of: handle, api: context.api) {
            cache.store(key, binary: binary)
        }
        CLLiveObjects.created(.program, in: context)
    }

    deinit {
        _ = api.ReleaseProgram(handle)
        CLLiveObjects.released(.program, in: context)
    }

    /// Creates the kernel `name` (an entry point of this program).
    public func kernel(_ name: String) throws(CLError) -> CLKernel {
        let handle = try checked("clCreateKernel") { status in
            api.CreateKernel(self.handle, name, status)
        }
        return CLKernel(handle: handle, program: self, name: name)
    }

    private static func fromSource(context: CLContext, source: String, options: String) throws(CLError) -> cl_program {
        let api = context.api
        let program = try checked("clCreateProgramWithSource") { status in
            source.withCString { text in
                var pointer: UnsafePointer<CChar>? = text
                return api.CreateProgramWithSource(context.handle, 1, &pointer, nil, status)
            }
        }
        try build(program, context: context, options: options)
        return program
    }

    private static func fromBinary(context: CLContext, binary: [UInt8], options: String) throws(CLError) -> cl_program {
        let api = context.api
        var device: cl_device_id? = context.device.id
        var length = binary.count
        var binaryStatus: cl_int = CL_SUCCESS
        let program = try checked("clCreateProgramWithBinary") { status in
            binary.withUnsafeBufferPointer { bytes in
                var pointer: UnsafePointer<UInt8>? = bytes.baseAddress
                return api.CreateProgramWithBinary(context.handle, 1, &device, &length, &pointer, &binaryStatus, status)
            }
        }
        do {
            try check(binaryStatus, "clCreateProgramWithBinary")
            try build(program, context: context, options: options)
        } catch {
            _ = api.ReleaseProgram(program)
            throw error
        }
        return program
    }

    private static func build(_ program: cl_program, context: CLContext, options: String) throws(CLError) {
        let api = context.api
        var device: cl_device_id? = context.device.id
        let status = api.BuildProgram(program, 1, &device, options, nil, nil)
        guard status == CL_SUCCESS else {
            let log = buildLog(program, context: context)
            _ = api.ReleaseProgram(program)
            throw CLError(status: status, call: "clBuildProgram", buildLog: log)
        }
    }

    private static func buildLog(_ program: cl_program, context: CLContext) -> String {
        let api = context.api
        var size = 0
        guard api.GetProgramBuildInfo(program, context.device.id, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size) == CL_SUCCESS,
              size > 0 else { return "" }
        var bytes = [UInt8](repeating: 0, count: size)
        guard api.GetProgramBuildInfo(program, context.device.id, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &bytes, nil) == CL_SUCCESS
        else { return "" }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func binary(of program: cl_program, api: AlignCLOpenCLAPI) throws(CLError) -> [UInt8] {
        var size = 0
        try check(api.GetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil),
                  "clGetProgramInfo")
        guard size > 0 else { throw CLError(status: CL_INVALID_BINARY, call: "clGetProgramInfo") }
        var bytes = [UInt8](repeating: 0, count: size)
        try bytes.withUnsafeMutableBufferPointer { buffer throws(CLError) in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            try check(api.GetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARIES), MemoryLayout<UnsafeMutablePointer<UInt8>>.size,
                                         &pointer, nil), "clGetProgramInfo")
        }
        return bytes
    }
}

/// A kernel with its arguments bound by position, in declaration order. Not Sendable: binding
/// arguments and enqueueing must not interleave between threads (the owner serialises them).
public final class CLKernel {
    let handle: cl_kernel
    public let name: String
    private let program: CLProgram

    init(handle: cl_kernel, program: CLProgram, name: String) {
        self.handle = handle
        self.program = program
        self.name = name
        CLLiveObjects.created(.kernel, in: program.context)
    }

    deinit {
        _ = program.api.ReleaseKernel(handle)
        CLLiveObjects.released(.kernel, in: program.context)
    }

    /// The largest work-group this kernel can launch with on its device
    /// (`CL_KERNEL_WORK_GROUP_SIZE`): below the device's maximum when the kernel needs many
    /// registers, or its `reqd_work_group_size`.
    public var maxWorkGroupSize: Int {
        get throws(CLError) { try workGroupInfo(CL_KERNEL_WORK_GROUP_SIZE, as: Int.self) }
    }

    /// The `__local` memory one work-group of this kernel uses (`CL_KERNEL_LOCAL_MEM_SIZE`),
    /// static arrays and `__local` arguments together.
    public var localMemoryBytes: Int {
        get throws(CLError) { Int(clamping: try workGroupInfo(CL_KERNEL_LOCAL_MEM_SIZE, as: cl_ulong.self)) }
    }

    private func workGroupInfo<T: FixedWidthInteger>(_ param: Int32, as type: T.Type) throws(CLError) -> T {
        var value: T = 0
        let api = program.api, device = program.context.device.id
        try withUnsafeMutableBytes(of: &value) { bytes throws(CLError) in
            try check(api.GetKernelWorkGroupInfo(handle, device, cl_kernel_work_group_info(param), bytes.count, bytes.baseAddress, nil),
                      "clGetKernelWorkGroupInfo")
        }
        return value
    }

    /// One kernel argument, typed as the OpenCL C parameter it binds to.
    public enum Argument {
        case buffer(CLMemory)
        case int32(Int32)
        case uint32(UInt32)
        case float(Float)
    }

    /// Binds `arguments` to parameters 0, 1, 2, … in order. The kernel object is shared, so the
    /// caller serialises binding and enqueueing.
    public func bind(_ arguments: Argument...) throws(CLError) {
        try bind(arguments)
    }

    /// Binds `arguments` to parameters 0, 1, 2, … in order.
    public func bind(_ arguments: [Argument]) throws(CLError) {
        let api = program.api
        for (index, argument) in arguments.enumerated() {
            let status: cl_int
            switch argument {
            case .buffer(let memory):
                var mem: cl_mem? = memory.handle
                status = api.SetKernelArg(handle, cl_uint(index), MemoryLayout<cl_mem>.size, &mem)
            case .int32(var value):
                status = api.SetKernelArg(handle, cl_uint(index), 4, &value)
            case .uint32(var value):
                status = api.SetKernelArg(handle, cl_uint(index), 4, &value)
            case .float(var value):
                status = api.SetKernelArg(handle, cl_uint(index), 4, &value)
            }
            try check(status, "clSetKernelArg")
        }
    }
}
