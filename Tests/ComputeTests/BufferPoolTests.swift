import Compute
import Testing
import TestSupport

/// The pool serves steady-state ops without allocating, and its counters say so.
@Suite struct BufferPoolTests {
    @Test func cpuSteadyStateDoesNotAllocate() throws {
        try checkSteadyState(on: CPUBackend())
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func openCLSteadyStateDoesNotAllocate() throws {
        try checkSteadyState(on: TestBackends.freshOpenCL(.cpu))
    }

    private func checkSteadyState(on backend: any Backend) throws {
        let operations = Operations(backend: backend)
        var random = SeededValues(seed: 1)
        let a = HostArray(shape: [33, 17], values: random.array(33 * 17))
        let b = HostArray(shape: [17, 9], values: random.array(17 * 9))
        let x = HostArray(shape: [5, 40], values: random.array(200))
        _ = try operations.gemm(a, b)
        _ = try operations.softmax(x)
        let warm = backend.pool.stats
        for _ in 0..<5 {
            _ = try operations.gemm(a, b)
            _ = try operations.softmax(x)
        }
        let steady = backend.pool.stats
        #expect(steady.allocations == warm.allocations, "steady-state ops allocated: \(warm) → \(steady)")
        #expect(steady.reuses > warm.reuses)
        #expect(steady.bytesInUse == warm.bytesInUse, "buffers leaked: \(warm) → \(steady)")
        #expect(steady.highWaterBytes >= (33 * 17 + 17 * 9 + 33 * 9) * 4)
    }
}
