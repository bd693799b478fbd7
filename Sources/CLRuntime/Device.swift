import COpenCL
import Foundation

/// What kind of processor an OpenCL device is; it decides which kernel variants run on it.
public enum CLDeviceKind: String, Sendable {
    case cpu, gpu, accelerator, other
}

/// An OpenCL platform (one installed driver, as the ICD loader lists it). Platform handles
/// are owned by the loader and need no release.
public final class CLPlatform: @unchecked Sendable {  // see `CLContext`
    let id: cl_platform_id
    public let name: String
    public let vendor: String
    public let version: String

    init(api: AlignCLOpenCLAPI, id: cl_platform_id) {
        self.id = id
        func text(_ param: Int32) -> String {
            var size = 0
            guard api.GetPlatformInfo(id, cl_platform_info(param), 0, nil, &size) == CL_SUCCESS else { return "unknown" }
            var bytes = [CChar](repeating: 0, count: size + 1)
            guard api.GetPlatformInfo(id, cl_platform_info(param), size, &bytes, nil) == CL_SUCCESS else { return "unknown" }
            return decodedNulTerminated(bytes)
        }
        name = text(CL_PLATFORM_NAME)
        vendor = text(CL_PLATFORM_VENDOR)
        version = text(CL_PLATFORM_VERSION)
    }
}

/// An OpenCL device and the facts about it that AlignCL reports and keys caches on.
/// Root devices need no release.
public final class CLDevice: @unchecked Sendable {  // see `CLContext`
    public let library: OpenCLLibrary
    let id: cl_device_id
    /// Position in the order `aligncl devices` lists devices: platforms in loader order, then
    /// each platform's devices in its own order.
    public let index: Int
    public let platform: CLPlatform
    public var platformName: String { platform.name }
    public let name: String
    public let kind: CLDeviceKind
    public let computeUnits: Int
    public let globalMemoryBytes: UInt64
    public let maxWorkGroupSize: Int
    /// `__local` memory per work-group (`CL_DEVICE_LOCAL_MEM_SIZE`): 32 KiB on the smallest
    /// GPUs the spec allows, 512 KiB on PoCL.
    public let localMemoryBytes: Int
    /// The largest single buffer (`CL_DEVICE_MAX_MEM_ALLOC_SIZE`): a quarter of global memory on
    /// NVIDIA, at least 128 MiB by the spec.
    public let maxAllocationBytes: UInt64
    public let openCLCVersion: String
    public let driverVersion: String
    public let isAvailable: Bool
    /// Whether buffers live in host memory and are mapped rather than copied: on CPU devices
    /// mapping is a pointer hand-over (about 20× faster than read/write on PoCL); on GPUs
    /// host-resident buffers would make every kernel read across the bus.
    public var mapsHostMemory: Bool { kind == .cpu }

    init(library: OpenCLLibrary, id: cl_device_id, index: Int, platform: CLPlatform) throws(CLError) {
        self.library = library
        self.id = id
        self.index = index
        self.platform = platform
        let api = library.api
        name = try Self.string(api, id, cl_device_info(CL_DEVICE_NAME))
        openCLCVersion = try Self.string(api, id, cl_device_info(CL_DEVICE_OPENCL_C_VERSION))
        driverVersion = try Self.string(api, id, cl_device_info(CL_DRIVER_VERSION))
        let type: cl_device_type = try Self.scalar(api, id, cl_device_info(CL_DEVICE_TYPE))
        kind = if type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 { .gpu }
            else if type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 { .cpu }
            else if type & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 { .accelerator }
            else { .other }
        let units: cl_uint = try Self.scalar(api, id, cl_device_info(CL_DEVICE_MAX_COMPUTE_UNITS))
        computeUnits = Int(units)
        globalMemoryBytes = try Self.scalar(api, id, cl_device_info(CL_DEVICE_GLOBAL_MEM_SIZE))
        let groupSize: Int = try Self.scalar(api, id, cl_device_info(CL_DEVICE_MAX_WORK_GROUP_SIZE))
        maxWorkGroupSize = groupSize
        let localBytes: cl_ulong = try Self.scalar(api, id, cl_device_info(CL_DEVICE_LOCAL_MEM_SIZE))
        localMemoryBytes = Int(clamping: localBytes)
        maxAllocationBytes = try Self.scalar(api, id, cl_device_info(CL_DEVICE_MAX_MEM_ALLOC_SIZE))
        let available: cl_bool = try Self.scalar(api, id, cl_device_info(CL_DEVICE_AVAILABLE))
        isAvailable = available != 0
    }

    private static func string(_ api: AlignCLOpenCLAPI, _ id: cl_device_id, _ param: cl_device_info) throws(CLError) -> String {
        var size = 0
        try check(api.GetDeviceInfo(id, param, 0, nil, &size), "clGetDeviceInfo")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try check(api.GetDeviceInfo(id, param, size, &bytes, nil), "clGetDeviceInfo")
        return decodedNulTerminated(bytes).trimmingCharacters(in: .whitespaces)
    }

    private static func scalar<T: FixedWidthInteger>(_ api: AlignCLOpenCLAPI, _ id: cl_device_id, _ param: cl_device_info) throws(CLError) -> T {
        var value: T = 0
        try withUnsafeMutableBytes(of: &value) { bytes throws(CLError) in
            try check(api.GetDeviceInfo(id, param, bytes.count, bytes.baseAddress, nil), "clGetDeviceInfo")
        }
        return value
    }
}

/// What the loader offers: the outcome of looking for OpenCL devices, with the reason when
/// there are none (so fallbacks can say why).
public enum CLDiscovery: Sendable {
    case noLoader(OpenCLLibrary.LoadError)
    case noPlatform(reason: String)
    case noDevice(platforms: [String])
    case devices([CLDevice])

    /// Looks for every device on every platform of the loader at `libraryPath`.
    public static func discover(libraryPath: String = OpenCLLibrary.defaultPath) -> CLDiscovery {
        let library: OpenCLLibrary
        do { library = try OpenCLLibrary.open(path: libraryPath) } catch { return .noLoader(error) }
        let api = library.api
        var platformCount: cl_uint = 0
        let status = api.GetPlatformIDs(0, nil, &platformCount)
        guard status == CL_SUCCESS, platformCount > 0 else {
            let reason = status == CL_SUCCESS ? "the loader lists 0 platforms"
                : "clGetPlatformIDs returned \(CLError.name(of: status))"
            return .noPlatform(reason: reason)
        }
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        guard api.GetPlatformIDs(platformCount, &platforms, nil) == CL_SUCCESS else {
            return .noPlatform(reason: "clGetPlatformIDs failed listing \(platformCount) platforms")
        }
        var devices: [CLDevice] = []
        var platformNames: [String] = []
        for case let id? in platforms {
            let platform = CLPlatform(api: api, id: id)
            platformNames.append(platform.name)
            var deviceCount: cl_uint = 0
            guard api.GetDeviceIDs(platform.id, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &deviceCount) == CL_SUCCESS,
                  deviceCount > 0 else { continue }
            var ids = [cl_device_id?](repeating: nil, count: Int(deviceCount))
            guard api.GetDeviceIDs(platform.id, cl_device_type(CL_DEVICE_TYPE_ALL), deviceCount, &ids, nil) == CL_SUCCESS else { continue }
            for case let deviceID? in ids {
                if let device = try? CLDevice(library: library, id: deviceID, index: devices.count, platform: platform) {
                    devices.append(device)
                }
            }
        }
        return devices.isEmpty ? .noDevice(platforms: platformNames) : .devices(devices)
    }
}

/// The UTF-8 text of an OpenCL info string, up to its terminating NUL.
func decodedNulTerminated(_ bytes: [CChar]) -> String {
    String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
