import CLRuntime
import Compute
import Foundation

/// The backends parity tests run on: the CPU path always; OpenCL when a device is usable —
/// and, when CI=true or ALIGNCL_REQUIRE_OPENCL=1, always, so that a missing device fails the
/// OpenCL tests instead of skipping them.
public enum TestBackends {
    static let environment = ProcessInfo.processInfo.environment

    /// Whether OpenCL tests must run (and so fail without a device) rather than skip.
    public static let openCLRequired = environment["CI"] == "true" || environment["ALIGNCL_REQUIRE_OPENCL"] == "1"

    /// The devices found, or why there are none.
    public static let discovery = CLDiscovery.discover()

    public static var openCLAvailable: Bool {
        if case .devices = discovery { return true }
        return false
    }

    /// The condition of `.enabled(if:)` on every OpenCL test.
    public static let openCLShouldRun = openCLAvailable || openCLRequired

    /// The kernel variant of the OpenCL tests that do not name one: `ALIGNCL_KERNELS` (cpu or
    /// gpu), else cpu. CI runs the suite once with each, so every OpenCL test — layers,
    /// autograd, recipes, resume — runs both variants.
    public static let defaultVariant: OpenCLTuning.Variant = environment["ALIGNCL_KERNELS"].flatMap(OpenCLTuning.Variant.init(rawValue:)) ?? .cpu

    /// The backend "cpu" or "opencl" (an OpenCL test is `.enabled(if: openCLShouldRun)`, so that
    /// without a device it shows as skipped): new ones of their own when `fresh`, else the
    /// process-wide `cpu` and `openCL(variant)`.
    public static func named(_ name: String, variant: OpenCLTuning.Variant? = nil, fresh: Bool = false) throws -> any Backend {
        if name == "cpu" { return fresh ? CPUBackend() : cpu }
        let variant = variant ?? defaultVariant
        return fresh ? try freshOpenCL(variant) : try openCL(variant)
    }

    /// Program binaries for this test process, in a fresh directory (so a run never depends on a
    /// previous one's cache).
    public static let programCacheDirectory: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }()

    public static let cpu = CPUBackend()

    private static let lock = NSLock()
    nonisolated(unsafe) private static var openCLBackends: [OpenCLTuning.Variant: OpenCLBackend] = [:]

    /// A new OpenCL backend of its own (with its own buffer pool), for tests that assert counters
    /// other tests must not disturb.
    public static func freshOpenCL(_ variant: OpenCLTuning.Variant) throws -> OpenCLBackend {
        guard case .devices(let devices) = discovery else {
            throw BackendError.openCLUnavailable(reason: BackendSelection.unavailableReason(discovery) ?? "")
        }
        return try OpenCLBackend(device: devices[0], programCache: ProgramCache(directory: programCacheDirectory),
                                 variant: variant)
    }

    /// The OpenCL backend with kernels of `variant` (both variants run on any device; PoCL
    /// runs the GPU-style ones slowly but must run them correctly).
    public static func openCL(_ variant: OpenCLTuning.Variant) throws -> OpenCLBackend {
        try lock.withLock {
            if let backend = openCLBackends[variant] { return backend }
            let backend = try freshOpenCL(variant)
            openCLBackends[variant] = backend
            return backend
        }
    }
}
