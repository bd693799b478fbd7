import Foundation
import Testing
import TestSupport

/// `aligncl tune` end to end: it stores what it found, later commands use it unless told not
/// to, `aligncl devices` shows it, and bad flags are refused.
@Suite struct TuneCommandTests {
    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func storedResultsAreShownAndUsedUnlessDisabled() throws {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-tune-\(UUID().uuidString)").path
        let environment: [String: String?] = ["ALIGNCL_CACHE_DIR": cache, "ALIGNCL_KERNELS": nil, "ALIGNCL_TUNING": nil]
        let before = try AlignCLBinary.run(["devices"], environment: environment)
        #expect(before.stdout.contains("not tuned for cpu-class kernels"), "\(before.stdout)")

        let tune = try AlignCLBinary.run(["tune", "--quick", "--budget", "6", "--families", "softmax,attention", "--repetitions", "2", "--device", "0"],
                                         environment: environment)
        #expect(tune.status == 0, "\(tune.stderr)")
        #expect(tune.stderr.contains("tune softmax: defaults") && tune.stderr.contains("ETA"), "\(tune.stderr)")
        #expect(tune.stdout.contains("softmax") && tune.stdout.contains("attention") && tune.stdout.contains("stored in \(cache)/tuning/"), "\(tune.stdout)")

        let after = try AlignCLBinary.run(["devices"], environment: environment)
        #expect(after.stdout.contains("(used): attention key block") && after.stdout.contains("softmax"), "\(after.stdout)")
        let bench = ["bench", "softmax", "--sizes", "5x9", "--backends", "opencl", "--repetitions", "1", "--verbose"]
        #expect(try AlignCLBinary.run(bench, environment: environment).stderr.contains("tuned: attention, softmax"))
        var off = environment
        off["ALIGNCL_TUNING"] = "0"
        #expect(!(try AlignCLBinary.run(bench, environment: off).stderr.contains("tuned:")))
        #expect(!(try AlignCLBinary.run(bench + ["--kernels", "cpu"], environment: environment).stderr.contains("tuned:")))
        #expect(try AlignCLBinary.run(["devices", "--kernels", "cpu"], environment: environment).stdout.contains("ignored: --kernels or ALIGNCL_TUNING=0"))

        // A damaged store: the run warns, removes it and runs on the defaults; tuning again rebuilds it.
        let stored = try #require(try FileManager.default.contentsOfDirectory(atPath: cache + "/tuning").first { $0.hasSuffix(".json") })
        try Data("{\"format\": 1, \"dev".utf8).write(to: URL(fileURLWithPath: cache + "/tuning/" + stored))
        let damaged = try AlignCLBinary.run(bench, environment: environment)
        #expect(damaged.status == 0 && damaged.stderr.contains("ignored and removed the tuning result") && !damaged.stderr.contains("tuned:"), "\(damaged.stderr)")
        let again = try AlignCLBinary.run(["tune", "--quick", "--budget", "2", "--families", "softmax", "--repetitions", "1", "--device", "0"], environment: environment)
        #expect(again.status == 0 && FileManager.default.fileExists(atPath: cache + "/tuning/" + stored), "\(again.stderr)")
    }

    @Test func badFlagsAreRefused() throws {
        let family = try AlignCLBinary.run(["tune", "--families", "gemm,conv"])
        #expect(family.status != 0 && family.stderr.contains("unknown family 'conv'"), "\(family.stderr)")
        let budget = try AlignCLBinary.run(["tune", "--budget", "0"])
        #expect(budget.status != 0 && budget.stderr.contains("--budget must be a positive number of seconds"), "\(budget.stderr)")
        let cpu = try AlignCLBinary.run(["tune", "--backend", "cpu"])
        #expect(cpu.status != 0 && cpu.stderr.contains("does not apply to --backend cpu"), "\(cpu.stderr)")
    }
}
