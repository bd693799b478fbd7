import ArgumentParser
import Benchmarking
import CLRuntime
import Compute
import Foundation

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List OpenCL platforms and devices, the program cache, and what `--backend auto` would choose.",
        discussion: "Device indices here are the N of --device N and ALIGNCL_DEVICE.")

    @OptionGroup var backendOptions: BackendOptions

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let request = try backendOptions.request(environment: environment)
        let discovery = CLDiscovery.discover(libraryPath: request.openCLLibraryPath)
        print("OpenCL loader: \(request.openCLLibraryPath)")
        switch discovery {
        case .devices(let devices):
            var platform = ""  // devices come grouped by platform
            for device in devices {
                if device.platformName != platform {
                    platform = device.platformName
                    print("platform: \(platform) (\(device.platform.vendor), \(device.platform.version))")
                }
                print("  [\(device.index)] \(device.name)")
                print("      type \(device.kind.rawValue), \(device.computeUnits) compute units, \(formatBytes(Double(device.globalMemoryBytes))) global memory, max work-group \(device.maxWorkGroupSize)\(device.isAvailable ? "" : ", not available")")
                print("      \(device.openCLCVersion), driver \(device.driverVersion)")
                print("      max allocation \(formatBytes(Double(device.maxAllocationBytes))), \(device.mapsHostMemory ? "host-mapped" : "device") buffers")
                let tuning = OpenCLTuning(variant: request.tuning, for: device)
                print("      \(tuning.summary)")
                print("      \(tuningStatus(device, tuning))")
            }
        default:
            print("no OpenCL devices: \(BackendSelection.unavailableReason(discovery) ?? "")")
        }
        if let directory = request.programCacheDirectory {
            let usage = ProgramCache(directory: directory).diskUsage()
            print("program cache: \(directory.path) (\(usage.entries) program\(usage.entries == 1 ? "" : "s"), \(formatBytes(Double(usage.bytes))))")
        } else {
            print("program cache: disabled (ALIGNCL_CACHE=0)")
        }
        print("CPU path: \(CPUBackend().summary.device)")
        print("backend auto would choose: \(BackendSelection.autoChoice(discovery))")
        if backendOptions.verbose, request.choice != .cpu {
            // Building (or loading from the cache) every program shows this process's cache
            // hits and misses in the verbose report.
            let backend = try backendOptions.resolve(request)
            try (backend as? OpenCLBackend)?.buildAllPrograms()
            backendOptions.reportUsage(backend)
        }
    }

    /// What `aligncl tune` stored for the device and variant, and whether runs will use it.
    private func tuningStatus(_ device: CLDevice, _ tuning: OpenCLTuning) -> String {
        let environment = ProcessInfo.processInfo.environment
        let store = TuningStore(directory: BackendOptions.tuningDirectory(environment))
        guard let entry = store.parameters(for: device, variant: tuning.variant) else {
            return "not tuned for \(tuning.variant.rawValue)-class kernels (run `aligncl tune --device \(device.index)`)"
        }
        let tuned = tuning.applying(entry.parameters)
        let families = entry.parameters.families.compactMap(TuningFamily.init(rawValue:)).map { family in
            "\(family.rawValue) \(tuned.describe(family))" + (entry.timeRatios[family.rawValue].map { String(format: " (%.2f× the defaults' speed)", 1 / $0) } ?? "")
        }
        let used = (try? backendOptions.request(environment: environment).tuningDirectory) != nil ? "used" : "ignored: --kernels or ALIGNCL_TUNING=0"
        return "tuned \(entry.tunedAt) (\(used)): " + families.joined(separator: "; ")
    }
}
