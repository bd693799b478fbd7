import Benchmarking
import CLRuntime
import Compute
import Foundation
import Testing
import TestSupport

/// `aligncl tune`'s store: what it keeps, when an entry stops applying, and a damaged file.
@Suite struct TuningStoreTests {
    static func temporaryStore() throws -> TuningStore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-tuning-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return TuningStore(directory: directory)
    }

    static func entry(driver: String = "3.1", sources: String = TuningStore.kernelSourcesHash, rows: Int = 8) -> TuningStore.Entry {
        var parameters = TunedParameters()
        (parameters.gemmMicroRows, parameters.gemmMicroColumns, parameters.gemmTilesPerItemM, parameters.gemmTilesPerItemN) = (rows, 32, 8, 2)
        return TuningStore.Entry(device: "some device", driver: driver, variant: "cpu", sources: sources, parameters: parameters,
                                 timeRatios: ["gemm": 0.7], tunedAt: "2026-12-07T00:00:00Z")
    }

    @Test func storesAndReusesAndMergesFamilies() throws {
        let store = try Self.temporaryStore()
        try store.save(Self.entry())
        guard case .found(let found) = store.load(device: "some device", driver: "3.1", variant: .cpu) else {
            Issue.record("the saved entry was not found"); return
        }
        #expect(found == Self.entry())
        let tuned = OpenCLTuning(variant: .cpu).applying(found.parameters)
        #expect((tuned.gemmMicroRows, tuned.gemmMicroColumns, tuned.gemmTilesPerItemM, tuned.gemmTilesPerItemN) == (8, 32, 8, 2))
        #expect(tuned.attentionKeyBlock == OpenCLTuning(variant: .cpu).attentionKeyBlock && tuned.tunedFamilies == ["gemm"])
        // Tuning attention later keeps the GEMM result; tuning GEMM again replaces it.
        var attention = Self.entry()
        attention.parameters = TunedParameters()
        (attention.parameters.attentionKeyBlock, attention.parameters.attentionQueryBlock, attention.parameters.attentionRegisterTile) = (96, 64, 6)
        attention.timeRatios = ["attention": 0.8]
        try store.save(attention)
        try store.save(Self.entry(rows: 12))
        guard case .found(let merged) = store.load(device: "some device", driver: "3.1", variant: .cpu) else {
            Issue.record("the merged entry was not found"); return
        }
        #expect(merged.parameters.gemmMicroRows == 12 && merged.parameters.attentionKeyBlock == 96)
        #expect(merged.parameters.families == ["gemm", "attention"] && merged.timeRatios == ["gemm": 0.7, "attention": 0.8])
    }

    @Test func aNewDriverOrChangedKernelsOrTheOtherVariantFindNothing() throws {
        let store = try Self.temporaryStore()
        try store.save(Self.entry())
        #expect(store.load(device: "some device", driver: "3.2", variant: .cpu) == .none)
        #expect(store.load(device: "some device", driver: "3.1", variant: .cpu, sources: "0123") == .none)
        #expect(store.load(device: "some device", driver: "3.1", variant: .gpu) == .none)
        #expect(store.load(device: "another device", driver: "3.1", variant: .cpu) == .none)
    }

    @Test func aCorruptEntryIsRemovedWithANoticeAndWrittenAfresh() throws {
        let store = try Self.temporaryStore()
        let file = store.file(device: "some device", driver: "3.1", variant: .cpu)
        try Data("{\"format\": 1, \"device\": tru".utf8).write(to: file)
        guard case .corrupt(let path, let reason) = store.load(device: "some device", driver: "3.1", variant: .cpu) else {
            Issue.record("a truncated file was not reported as corrupt"); return
        }
        #expect(path == file.path && reason.contains("not a tuning result"))
        #expect(!FileManager.default.fileExists(atPath: file.path))
        // An entry for another key in this key's file (a hash collision or a hand edit) is corrupt too.
        try JSONEncoder().encode(Self.entry(driver: "9.9")).write(to: file)
        guard case .corrupt = store.load(device: "some device", driver: "3.1", variant: .cpu) else {
            Issue.record("an entry for another driver was used"); return
        }
        try store.save(Self.entry())
        #expect(store.load(device: "some device", driver: "3.1", variant: .cpu) == .found(Self.entry()))
    }

    /// Through `BackendSelection`, as every command resolves its backend: the stored GEMM tile
    /// is in the backend's tuning, and a damaged store falls back to the defaults with a notice.
    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func backendsResolvedWithAStoreUseIt() throws {
        let store = try Self.temporaryStore()
        guard case .devices(let devices) = TestBackends.discovery else { throw BackendError.openCLUnavailable(reason: "no devices") }
        var entry = Self.entry()
        (entry.device, entry.driver) = (devices[0].name, devices[0].driverVersion)
        try store.save(entry)
        var request = BackendRequest(choice: .opencl, deviceIndex: 0, programCacheDirectory: TestBackends.programCacheDirectory, tuning: .cpu)
        request.tuningDirectory = store.directory
        let tuned = try #require(try BackendSelection.resolve(request).backend as? OpenCLBackend)
        #expect(tuned.tuning.gemmMicroRows == 8 && tuned.tuning.gemmMicroColumns == 32 && tuned.summary.device.contains("tuned: gemm"))
        let check = try BenchmarkCase.gemm(m: 37, n: 61, k: 29)
        #expect(normwiseError(try check.run(on: tuned), try check.run(on: TestBackends.cpu)) <= 1e-5)
        try Data("not json".utf8).write(to: store.file(device: devices[0].name, driver: devices[0].driverVersion, variant: .cpu))
        let untuned = try #require(try BackendSelection.resolve(request).backend as? OpenCLBackend)
        #expect(untuned.tuning.gemmMicroRows == OpenCLTuning(variant: .cpu).gemmMicroRows && untuned.tuning.tunedFamilies.isEmpty)
    }
}

/// The search itself on this machine's OpenCL device, with the quick shapes and a small budget.
@Suite struct TunerTests {
    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases)
    func findsNothingSlowerThanTheDefaultsAndSurvivesABrokenCandidate(variant: OpenCLTuning.Variant) throws {
        let backend = try TestBackends.openCL(variant)
        var tuner = Tuner(device: backend.device, programCache: backend.programCache, base: backend.tuning, quick: true)
        tuner.repetitions = 2
        // A micro-tile the kernel's `#error` refuses, and (GPU variant) a work-group past the device's limit.
        var broken = backend.tuning
        broken.gemmMicroRows = 17
        broken.gemmTiles = [GEMMTile(rows: 128, columns: 128, depth: 16, itemsM: 128, itemsN: 128, vectorM: 1, vectorN: 1)]
        tuner.extraCandidates = [.gemm: [broken]]
        let result = try tuner.tune(.gemm, budget: 8)
        #expect(result.skipped == nil && result.timed >= 1 && result.dropped >= 1, "\(result.dropReasons)")
        #expect(result.bestSeconds <= result.defaultSeconds)
        // The best candidate agrees with the CPU path (it was checked before it was timed).
        let check = try BenchmarkCase.gemm(m: 37, n: 61, k: 29)
        let tuned = try OpenCLBackend(device: backend.device, programCache: backend.programCache, tuning: result.best)
        #expect(normwiseError(try check.run(on: tuned), try check.run(on: TestBackends.cpu)) <= 1e-5)
    }
}
