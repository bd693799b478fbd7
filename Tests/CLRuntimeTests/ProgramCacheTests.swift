import CLRuntime
import Compute
import Foundation
import Testing
import TestSupport

/// The on-disk program cache: a miss builds and stores, a hit loads without building, and a
/// corrupt, truncated or stale entry is counted, discarded and rebuilt — never trusted.
@Suite(.enabled(if: TestBackends.openCLShouldRun))
struct ProgramCacheTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-cache-\(UUID().uuidString)")

    func device() throws -> CLDevice {
        guard case .devices(let devices) = TestBackends.discovery else {
            throw BackendError.openCLUnavailable(reason: BackendSelection.unavailableReason(TestBackends.discovery) ?? "")
        }
        return devices[0]
    }

    /// A backend with every program built (programs are otherwise built on first use).
    func backend(_ cache: ProgramCache?, tuning: OpenCLTuning = OpenCLTuning(variant: .cpu)) throws -> OpenCLBackend {
        let backend = try OpenCLBackend(device: device(), programCache: cache, tuning: tuning)
        try backend.buildAllPrograms()
        return backend
    }

    @Test func programsAreBuiltOnFirstUse() throws {
        let cache = ProgramCache(directory: directory)
        let backend = try OpenCLBackend(device: device(), programCache: cache, tuning: OpenCLTuning(variant: .cpu))
        #expect(backend.programOrigins.isEmpty)
        _ = try Operations(backend: backend).softmax(HostArray(shape: [1, 3], values: [1, 2, 3]))
        #expect(Array(backend.programOrigins.keys) == ["softmax"])
        #expect(cache.stats.misses == 1)
    }

    @Test func missThenHit() throws {
        let cold = ProgramCache(directory: directory)
        let first = try backend(cold)
        let programs = first.programOrigins.count
        #expect(programs >= 3, "gemm, softmax, attention, …")
        #expect(first.programOrigins.values.allSatisfy { $0 == .compiled })
        #expect(cold.stats == ProgramCache.Statistics(hits: 0, misses: programs, corrupt: 0, stores: programs))
        #expect(cold.diskUsage().entries == programs)

        let warm = ProgramCache(directory: directory)
        let second = try backend(warm)
        #expect(second.programOrigins.values.allSatisfy { $0 == .cached })
        #expect(warm.stats == ProgramCache.Statistics(hits: programs, misses: 0, corrupt: 0, stores: 0))
        // A program from the cache computes the same as one built from source.
        let x = HostArray(shape: [3, 5], values: (0..<15).map { Float($0) / 7 })
        #expect(try Operations(backend: second).softmax(x) == Operations(backend: first).softmax(x))
    }

    @Test(arguments: ["flip", "truncate", "garbage"])
    func corruptEntryIsRebuilt(damage: String) throws {
        let programs = try backend(ProgramCache(directory: directory)).programOrigins.count
        let entries = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "clbin" }
        #expect(entries.count == programs)
        var bytes = [UInt8](try Data(contentsOf: entries[0]))
        switch damage {
        case "flip": bytes[bytes.count / 2] ^= 0xff
        case "truncate": bytes.removeLast(bytes.count / 3)
        default: bytes = Array(repeating: 0x41, count: 100)
        }
        try Data(bytes).write(to: entries[0])

        let cache = ProgramCache(directory: directory)
        let rebuilt = try backend(cache)
        #expect(cache.stats == ProgramCache.Statistics(hits: programs - 1, misses: 1, corrupt: 1, stores: 1))
        #expect(rebuilt.programOrigins.values.filter { $0 == .compiled }.count == 1)

        let again = ProgramCache(directory: directory)
        _ = try backend(again)
        #expect(again.stats.hits == programs, "the rebuilt entry is good")
    }

    @Test func otherBuildOptionsAreAnotherEntry() throws {
        let programs = try backend(ProgramCache(directory: directory)).programOrigins.count
        let cache = ProgramCache(directory: directory)
        var tuning = OpenCLTuning(variant: .cpu)
        tuning.gemmKSlice = 2048
        _ = try backend(cache, tuning: tuning)
        #expect(cache.stats.hits == programs - 1 && cache.stats.misses == 1, "only gemm changed: \(cache.stats)")
    }

    @Test func disabledCacheAlwaysBuilds() throws {
        #expect(try backend(nil).programOrigins.values.allSatisfy { $0 == .compiled })
    }

    @Test func buildFailureCarriesTheLog() throws {
        let context = try CLContext(device: device())
        #expect {
            try CLProgram(context: context, source: "__kernel void broken(__global float* x) { x[0] = undeclared_name; }",
                          options: "", cache: nil)
        } throws: { error in
            guard let error = error as? CLError else { return false }
            return error.call == "clBuildProgram" && error.statusName == "CL_BUILD_PROGRAM_FAILURE"
                && (error.buildLog ?? "").contains("undeclared_name")
        }
    }
}

@Suite struct LoaderTests {
    @Test func missingLoaderIsReportedNotFatal() {
        guard case .noLoader(let error) = CLDiscovery.discover(libraryPath: "/nonexistent/libOpenCL.so.1") else {
            Issue.record("expected no loader")
            return
        }
        #expect("\(error)".hasPrefix("no OpenCL ICD loader (/nonexistent/libOpenCL.so.1"))
    }

    @Test func libraryWithoutOpenCLSymbolsIsReported() {
        // libm loads but has no clGetPlatformIDs.
        guard case .noLoader(let error) = CLDiscovery.discover(libraryPath: "libm.so.6") else {
            Issue.record("expected no loader")
            return
        }
        #expect(error.reason.contains("has no symbol clGetPlatformIDs"))
    }
}
