import ArgumentParser
import Benchmarking
import Compute
import Foundation

extension TuningFamily: ExpressibleByArgument {}

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Search kernel parameters on an OpenCL device and store the fastest for later runs.",
        discussion: """
        For each family (gemm: the micro-tile and work per item of the cpu-class kernels, or the \
        work-group tiles of the gpu-class ones; attention: the key and query blocks and the \
        register tile; softmax: rows per work-group or the row work-group), candidates within the \
        device's limits are built, run and checked against the CPU path (normwise ≤ 1e-4) before \
        they are timed; a candidate that fails to build, to launch or to agree is dropped and \
        counted. The search changes one parameter at a time from the defaults and keeps a change \
        only when it is faster, within --budget seconds in all (the defaults are always measured).

        The result is stored in the cache directory's tuning/ folder, keyed by device name, \
        driver version, kernel variant and a hash of the kernel sources, so a new driver or \
        changed kernels run on the defaults until tuned again. Later commands use it when \
        --kernels is auto; naming a variant (--kernels, ALIGNCL_KERNELS) or ALIGNCL_TUNING=0 \
        runs on the defaults. `aligncl devices` shows what is stored.
        """)

    @Option(help: "Families to tune, comma-separated: \(TuningFamily.allCases.map(\.rawValue).joined(separator: ", ")) (default: all).")
    var families: String = TuningFamily.allCases.map(\.rawValue).joined(separator: ",")

    @Option(help: "Seconds for the whole search, shared evenly by the families.")
    var budget: Double = 120

    @Flag(help: "Small shapes (for tests and CI): quick, but less representative of training.")
    var quick = false

    @Option(help: "Timed runs per candidate and shape (median kept).")
    var repetitions = 5

    @OptionGroup var backendOptions: BackendOptions

    func validate() throws {
        guard budget > 0, budget.isFinite else { throw ValidationError("--budget must be a positive number of seconds, got \(budget)") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
        _ = try parsedFamilies()
    }

    func parsedFamilies() throws -> [TuningFamily] {
        let names = families.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let parsed = try names.map { name in
            guard let family = TuningFamily(rawValue: name) else {
                throw ValidationError("--families: unknown family '\(name)' (expected \(TuningFamily.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return family
        }
        guard !parsed.isEmpty else { throw ValidationError("--families must name at least one family") }
        return parsed
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        var request = try backendOptions.request(environment: environment)
        guard request.choice != .cpu else { throw CLIError("aligncl tune tunes OpenCL kernels; it does not apply to --backend cpu") }
        (request.choice, request.tuningDirectory) = (.opencl, nil)
        guard let backend = try BackendSelection.resolve(request).backend as? OpenCLBackend else {
            throw CLIError("aligncl tune needs an OpenCL device")
        }
        let device = backend.device
        let store = TuningStore(directory: BackendOptions.tuningDirectory(environment))
        let families = try parsedFamilies()
        printError("aligncl: tuning \(backend.tuning.variant.rawValue)-class kernels on device \(device.index): \(device.name) (driver \(device.driverVersion)), "
                   + "\(Int(budget)) s for \(families.map(\.rawValue).joined(separator: ", "))")
        var tuner = Tuner(device: device, programCache: backend.programCache, base: backend.tuning, quick: quick)
        tuner.repetitions = repetitions
        tuner.progress = { printError("aligncl: \($0)") }
        var parameters = TunedParameters(), ratios: [String: Double] = [:]
        var rows = [["family", "defaults", "tuned", "speed-up", "timed", "dropped", "parameters"]]
        let began = Date()
        for (index, family) in families.enumerated() {
            // Each family gets an even share of what is left.
            let left = budget - Date().timeIntervalSince(began)
            let result = try tuner.tune(family, budget: max(0, left / Double(families.count - index)))
            if let skipped = result.skipped {
                rows.append([family.rawValue, "—", "—", "—", "0", "0", skipped])
                continue
            }
            for reason in result.dropReasons { printError("aligncl: tune \(family.rawValue): dropped \(reason)") }
            parameters = result.best.tunableParameters.only(family.rawValue).merged(over: parameters)
            ratios[family.rawValue] = result.bestSeconds / result.defaultSeconds
            rows.append([family.rawValue, String(format: "%.2f ms", result.defaultSeconds * 1e3), String(format: "%.2f ms", result.bestSeconds * 1e3),
                         String(format: "%.2f×", result.speedup), "\(result.timed)", "\(result.dropped)",
                         result.best.describe(family) + (result.budgetExhausted ? " (budget spent)" : "")])
        }
        if !ratios.isEmpty {
            let entry = TuningStore.Entry(device: device.name, driver: device.driverVersion, variant: backend.tuning.variant.rawValue,
                                          sources: TuningStore.kernelSourcesHash, parameters: parameters, timeRatios: ratios,
                                          tunedAt: ISO8601DateFormatter().string(from: Date()))
            do { try store.save(entry) } catch {
                throw CLIError("could not store the tuning result in \(store.directory.path): \(error.localizedDescription)")
            }
        }
        print(formatTable(rows))
        if !ratios.isEmpty {
            print("stored in \(store.file(device: device.name, driver: device.driverVersion, variant: backend.tuning.variant).path); later runs with --kernels auto use it")
        }
    }

    private func formatTable(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ") }
            .joined(separator: "\n")
    }
}
