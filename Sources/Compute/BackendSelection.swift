import CLRuntime
import Foundation

/// Which backend a command asked for.
public enum BackendChoice: String, Sendable, CaseIterable {
    /// The best usable OpenCL device, else the CPU path — announced either way.
    case auto
    /// OpenCL only: fails, saying what was found, when no device is usable.
    case opencl
    /// The CPU path.
    case cpu
}

/// Everything backend selection depends on, read once at the edge (flags and environment).
public struct BackendRequest: Sendable {
    public var choice: BackendChoice
    /// An index into the devices in `aligncl devices` order; nil picks the best.
    public var deviceIndex: Int?
    public var openCLLibraryPath: String
    /// nil disables the on-disk program cache.
    public var programCacheDirectory: URL?
    /// Overrides the kernel variant chosen from the device kind.
    public var tuning: OpenCLTuning.Variant?
    /// This process's position among the data-parallel ranks on its machine: with no device
    /// index given, rank r takes the r-th best device (modulo their number), so ranks spread
    /// over a machine's devices.
    public var localRank: Int?
    /// Where `aligncl tune` results are read from; nil runs on the default parameters.
    public var tuningDirectory: URL?

    public init(choice: BackendChoice, deviceIndex: Int? = nil, openCLLibraryPath: String = OpenCLLibrary.defaultPath,
                programCacheDirectory: URL? = nil, tuning: OpenCLTuning.Variant? = nil) {
        self.choice = choice
        self.deviceIndex = deviceIndex
        self.openCLLibraryPath = openCLLibraryPath
        self.programCacheDirectory = programCacheDirectory
        self.tuning = tuning
    }
}

/// The backend a command will use, and the line that says why (for `auto`).
public struct BackendSelection: Sendable {
    public let backend: any Backend
    /// Set when the choice was `auto`: which backend runs and why, for stderr.
    public let announcement: String?

    /// Resolves `request`: never falls back silently. `requirements` are ops at the sizes the
    /// work will run (a model's attention heads): `auto` takes the CPU path, saying why, when
    /// the OpenCL device cannot run one; `opencl` fails up front instead of in the middle.
    public static func resolve(_ request: BackendRequest, requirements: [any OpDescriptor] = []) throws -> BackendSelection {
        func unsupported(on backend: any Backend) -> (op: String, reason: String)? {
            for requirement in requirements {
                if let reason = backend.unsupportedReason(requirement) { return (type(of: requirement).op, reason) }
            }
            return nil
        }
        switch request.choice {
        case .cpu:
            return BackendSelection(backend: CPUBackend(), announcement: nil)
        case .opencl:
            let (device, _) = try pickDevice(request)
            let backend = try makeOpenCL(device, request)
            if let (op, reason) = unsupported(on: backend) { throw BackendError.unsupported(op: op, message: "\(reason); use --backend cpu or auto") }
            return BackendSelection(backend: backend, announcement: nil)
        case .auto:
            let cpu = CPUBackend()
            let device: CLDevice, reason: String
            do {
                (device, reason) = try pickDevice(request)
            } catch BackendError.openCLUnavailable(let why) {
                return BackendSelection(backend: cpu, announcement: "backend auto → cpu: \(why)")
            }
            do {
                let backend = try makeOpenCL(device, request)
                if let (_, limitation) = unsupported(on: backend) {
                    return BackendSelection(backend: cpu, announcement: "backend auto → cpu: \(limitation)")
                }
                return BackendSelection(backend: backend, announcement: "backend auto → opencl: \(backend.summary.device) (\(reason))")
            } catch {
                return BackendSelection(backend: cpu, announcement: "backend auto → cpu: OpenCL device \(device.index) (\(device.name)) failed to set up: \(error)")
            }
        }
    }

    /// What `auto` would choose and why, without building anything (for `aligncl devices`).
    public static func autoChoice(_ discovery: CLDiscovery) -> String {
        switch discovery {
        case .devices(let devices):
            let best = bestDevice(devices)
            return "opencl, device \(best.index) (\(best.name)): \(bestReason(best, among: devices))"
        default:
            return "cpu: \(unavailableReason(discovery) ?? "")"
        }
    }

    /// Why OpenCL cannot be used, or nil when devices were found.
    public static func unavailableReason(_ discovery: CLDiscovery) -> String? {
        switch discovery {
        case .noLoader(let error): "\(error)"
        case .noPlatform(let reason): "no OpenCL platform (\(reason))"
        case .noDevice(let platforms): "no OpenCL device on \(platforms.count) platform(s): \(platforms.joined(separator: ", "))"
        case .devices: nil
        }
    }

    private static func pickDevice(_ request: BackendRequest) throws -> (CLDevice, String) {
        let discovery = CLDiscovery.discover(libraryPath: request.openCLLibraryPath)
        guard case .devices(let devices) = discovery else {
            throw BackendError.openCLUnavailable(reason: unavailableReason(discovery) ?? "")
        }
        if let index = request.deviceIndex {
            guard devices.indices.contains(index) else {
                throw BackendError.noSuchDevice(index: index, found: devices.map(\.name))
            }
            return (devices[index], "device \(index) requested")
        }
        if let localRank = request.localRank, devices.filter(\.isAvailable).count > 1 {
            let ordered = devicesBestFirst(devices)
            let device = ordered[localRank % ordered.count]
            return (device, "local rank \(localRank) takes device \(device.index), one of \(ordered.count) OpenCL devices")
        }
        let best = bestDevice(devices)
        return (best, bestReason(best, among: devices))
    }

    /// The available devices, best first (GPUs before accelerators before CPUs, then the most
    /// compute units; ties keep list order).
    static func devicesBestFirst(_ devices: [CLDevice]) -> [CLDevice] {
        func rank(_ kind: CLDeviceKind) -> Int {
            switch kind { case .gpu: 3; case .accelerator: 2; case .cpu: 1; case .other: 0 }
        }
        return devices.filter(\.isAvailable).sorted { (rank($0.kind), $0.computeUnits, -$0.index) > (rank($1.kind), $1.computeUnits, -$1.index) }
    }

    static func bestDevice(_ devices: [CLDevice]) -> CLDevice {
        devicesBestFirst(devices).first ?? devices[0]
    }

    private static func bestReason(_ device: CLDevice, among devices: [CLDevice]) -> String {
        devices.count == 1 ? "the only OpenCL device" : "the best of \(devices.count) OpenCL devices (\(device.kind.rawValue), \(device.computeUnits) compute units)"
    }

    private static func makeOpenCL(_ device: CLDevice, _ request: BackendRequest) throws -> OpenCLBackend {
        let cache = request.programCacheDirectory.map(ProgramCache.init(directory:))
        var tuning = OpenCLTuning(variant: request.tuning, for: device)
        if let directory = request.tuningDirectory, let entry = TuningStore(directory: directory).parameters(for: device, variant: tuning.variant) {
            tuning = tuning.applying(entry.parameters)
        }
        return try OpenCLBackend(device: device, programCache: cache, tuning: tuning)
    }
}
