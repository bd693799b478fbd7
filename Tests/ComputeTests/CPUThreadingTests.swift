import Compute
import Dispatch
import Foundation
import Synchronization
import Testing

/// The CPU path's worker threads (spinning between loops, sleeping when idle, shared by every
/// CPU backend in the process) run each chunk of each loop exactly once. `accumulate` adds its
/// source into its destination chunk by chunk, so a chunk skipped or run twice shows in the sum.
@Suite struct CPUThreadingTests {
    /// Not a multiple of the thread count or the 16k-element chunk minimum: uneven chunks.
    private static let count = 40_001

    private func accumulateOnes(_ backend: CPUBackend, times: Int, pause: TimeInterval = 0) throws -> [Float] {
        let ones = try backend.makeBuffer([Float](repeating: 1, count: Self.count))
        let total = try backend.makeBuffer([Float](repeating: 0, count: Self.count))
        for _ in 0..<times {
            try backend.accumulate(ones, into: total, count: Self.count)
            if pause > 0 { Thread.sleep(forTimeInterval: pause) }
        }
        return try backend.read(total)
    }

    private func expectEverywhere(_ values: [Float], _ expected: Float, _ what: String) {
        let wrong = values.indices.filter { values[$0] != expected }
        #expect(wrong.isEmpty, "\(what): \(wrong.count) of \(values.count) elements differ from \(expected), first at \(wrong.first ?? -1): \(wrong.first.map { values[$0] } ?? 0)")
    }

    @Test func thousandsOfLoopsInARowEachCoverEveryChunkOnce() throws {
        let backend = CPUBackend(threadCount: 2)
        expectEverywhere(try accumulateOnes(backend, times: 3_000), 3_000, "3000 back-to-back loops")
    }

    @Test func loopsAfterTheWorkersHaveGoneToSleep() throws {
        // 5 ms between loops is well past the workers' spin window, so each loop wakes one.
        let backend = CPUBackend(threadCount: 2)
        expectEverywhere(try accumulateOnes(backend, times: 20, pause: 0.005), 20, "loops 5 ms apart")
    }

    @Test func concurrentCallersEachGetTheirWholeResult() throws {
        // Four threads with their own backends share the process's workers: one loop runs on
        // them at a time and the others run elsewhere, and none waits forever or mixes loops.
        let results = Mutex<[Int: [Float]]>([:])
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            do {
                let values = try accumulateOnes(CPUBackend(threadCount: 3), times: 400 + caller)
                results.withLock { $0[caller] = values }
            } catch {
                failures.withLock { $0.append("caller \(caller): \(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        for (caller, values) in results.withLock({ $0 }) {
            expectEverywhere(values, Float(400 + caller), "caller \(caller)")
        }
        #expect(results.withLock { $0.count } == 4)
    }
}
