import ArgumentParser
import CLRuntime
import Compute
import Foundation

extension BackendChoice: ExpressibleByArgument {}

/// `--kernels`: a variant, or `auto` (the one suited to the device's type).
enum KernelChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, cpu, gpu

    var variant: OpenCLTuning.Variant? { OpenCLTuning.Variant(rawValue: rawValue) }
}

/// `--backend`, `--device` and `--verbose`, shared by every command, merged with the
/// environment (read once, here).
struct BackendOptions: ParsableArguments {
    @Option(help: "Where ops run: auto (best OpenCL device, else CPU, announced on stderr), opencl (never falls back), or cpu. Default: $ALIGNCL_BACKEND, else auto.")
    var backend: BackendChoice?

    @Option(help: "OpenCL device index, as `aligncl devices` lists them. Default: $ALIGNCL_DEVICE, else the best device.")
    var device: Int?

    @Option(help: "OpenCL kernel variant: auto (from the device type: cpu on CPU devices, gpu otherwise), cpu (shaped for CPU devices such as PoCL: large blocks per work-item, no barriers) or gpu (work-group tiles and reductions sized from the device's limits). Default: $ALIGNCL_KERNELS, else auto.")
    var kernels: KernelChoice?

    @Flag(help: "Report on stderr the backend, program builds and cache hits, and buffer-pool counters.")
    var verbose = false

    /// The request these flags and the environment make.
    func request(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> BackendRequest {
        var choice = BackendChoice.auto
        if let backend {
            choice = backend
        } else if let value = environment["ALIGNCL_BACKEND"], !value.isEmpty {
            guard let parsed = BackendChoice(rawValue: value) else {
                throw CLIError("ALIGNCL_BACKEND must be auto, opencl or cpu, got '\(value)'")
            }
            choice = parsed
        }
        var deviceIndex = device
        if deviceIndex == nil, let value = environment["ALIGNCL_DEVICE"], !value.isEmpty {
            guard let parsed = Int(value), parsed >= 0 else {
                throw CLIError("ALIGNCL_DEVICE must be a device index (0, 1, …), got '\(value)'")
            }
            deviceIndex = parsed
        }
        if let deviceIndex, deviceIndex < 0 { throw CLIError("--device must be 0 or more, got \(deviceIndex)") }
        if device != nil, choice == .cpu {
            throw CLIError("--device selects an OpenCL device; it does not apply to --backend cpu")
        }
        var kernelChoice = kernels ?? .auto
        if kernels == nil, let value = environment["ALIGNCL_KERNELS"], !value.isEmpty {
            guard let parsed = KernelChoice(rawValue: value) else {
                throw CLIError("ALIGNCL_KERNELS must be auto, cpu or gpu, got '\(value)'")
            }
            kernelChoice = parsed
        }
        let variant = kernelChoice.variant
        if let kernels, kernels != .auto, choice == .cpu {
            throw CLIError("--kernels selects OpenCL kernels; it does not apply to --backend cpu")
        }
        var request = BackendRequest(choice: choice, deviceIndex: deviceIndex, openCLLibraryPath: Self.openCLLibraryPath(environment),
                                     programCacheDirectory: Self.programCacheDirectory(environment), tuning: variant)
        // Stored `aligncl tune` results apply unless a variant was named (its defaults, as
        // asked) or ALIGNCL_TUNING=0.
        if kernelChoice == .auto && environment["ALIGNCL_TUNING"] != "0" { request.tuningDirectory = Self.tuningDirectory(environment) }
        return request
    }

    /// `aligncl tune`'s results: `tuning/` in the cache directory (kept with ALIGNCL_CACHE=0 too).
    static func tuningDirectory(_ environment: [String: String]) -> URL {
        cacheDirectory(environment).appendingPathComponent("tuning")
    }

    static func openCLLibraryPath(_ environment: [String: String]) -> String {
        environment["ALIGNCL_OPENCL_LIBRARY"].flatMap { $0.isEmpty ? nil : $0 } ?? OpenCLLibrary.defaultPath
    }

    /// `ALIGNCL_CACHE_DIR`, else `$XDG_CACHE_HOME/aligncl`, else `~/.cache/aligncl`; nil when
    /// `ALIGNCL_CACHE=0`.
    static func programCacheDirectory(_ environment: [String: String]) -> URL? {
        environment["ALIGNCL_CACHE"] == "0" ? nil : cacheDirectory(environment)
    }

    static func cacheDirectory(_ environment: [String: String]) -> URL {
        if let directory = environment["ALIGNCL_CACHE_DIR"], !directory.isEmpty { return URL(fileURLWithPath: directory) }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return URL(fileURLWithPath: xdg).appendingPathComponent("aligncl") }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/aligncl")
    }

    /// Resolves the backend, printing the `auto` announcement (and, verbose, the backend) on stderr.
    /// `requirements`: ops at the sizes the work runs (see `BackendSelection.resolve`).
    func resolve(_ request: BackendRequest? = nil, requirements: [any OpDescriptor] = [], announce: Bool = true) throws -> any Backend {
        let selection = try BackendSelection.resolve(request ?? self.request(), requirements: requirements)
        if announce, let announcement = selection.announcement { printError("aligncl: \(announcement)") }
        if verbose { printError("aligncl: backend \(selection.backend.summary)") }
        return selection.backend
    }

    /// Verbose report after the work: how each program was obtained, program-cache and
    /// buffer-pool counters.
    func reportUsage(_ backend: any Backend) {
        guard verbose else { return }
        if let openCL = backend as? OpenCLBackend {
            for (name, origin) in openCL.programOrigins.sorted(by: { $0.key < $1.key }) {
                printError("aligncl: program \(name): \(origin == .cached ? "loaded from cache, no build" : "built from source")")
            }
            if let cache = openCL.programCache {
                let stats = cache.stats
                printError("aligncl: program cache \(cache.directory.path): \(stats.hits) hits, \(stats.misses) misses, \(stats.corrupt) corrupt, \(stats.stores) stored")
            } else {
                printError("aligncl: program cache disabled (ALIGNCL_CACHE=0)")
            }
            let live = CLLiveObjects.snapshot.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key)" }
            printError("aligncl: live OpenCL objects: \(live.joined(separator: ", "))")
        }
        let stats = backend.pool.stats
        printError("aligncl: buffer pool (\(backend.summary.kind.rawValue)): \(stats.allocations) allocations, \(stats.reuses) reuses, high water \(stats.highWaterBytes) bytes")
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
