import Foundation
import Synchronization

/// The threads behind the CPU path's parallel loops. They spin for a short while after each loop
/// before they sleep, because a CPU training step runs hundreds of loops a few microseconds
/// apart, and waking a sleeping thread costs 60–100 µs on a VM (measured here: a 2-way
/// `DispatchQueue.concurrentPerform` over 2 × 160 µs of work took 227–535 µs, not 160). With a
/// spinning worker the second core starts within a microsecond.
///
/// One loop runs on the pool at a time. A loop started while another runs (another thread's
/// backend, or a loop nested in a loop's body) goes to `DispatchQueue.concurrentPerform`
/// instead, so callers never wait on each other. Iterations are claimed one by one, by the
/// caller too: a worker that is slow to wake leaves its share to the caller, so a loop is
/// never slower than running it on the calling thread.
final class WorkerPool: Sendable {
    static let shared = WorkerPool(workers: ProcessInfo.processInfo.activeProcessorCount - 1)

    /// How long an idle worker keeps checking for work before it sleeps.
    private static let spinNanoseconds: UInt64 = 300_000

    /// The loop on offer, in one word so a claim can never mix two loops: its generation (high
    /// 32 bits), iteration count (next 16) and next unclaimed iteration (low 16).
    private let ticket = Atomic<UInt64>(0)
    /// Iterations of the current loop not yet finished.
    private let unfinished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let wakeUp = NSCondition()
    private let submission = NSLock()
    private let started = Mutex(false)
    private let workerCount: Int
    /// The current loop's body. Written only by the submitting caller before it publishes the
    /// ticket (release) and read only by a thread that has claimed one of its iterations
    /// (acquire), while the caller waits for that iteration: never read and written at once.
    nonisolated(unsafe) private var body: ((Int) -> Void)?

    private init(workers: Int) {
        workerCount = max(0, workers)
    }

    /// Runs `body(0)`, …, `body(iterations − 1)` and returns when all have finished.
    func run(_ iterations: Int, _ body: @escaping (Int) -> Void) {
        guard iterations > 1, workerCount > 0, iterations < 1 << 16, submission.try() else {
            nonisolated(unsafe) let body = body
            return DispatchQueue.concurrentPerform(iterations: iterations) { body($0) }
        }
        defer { submission.unlock() }
        startWorkersOnce()
        self.body = body
        unfinished.store(iterations, ordering: .relaxed)
        // Generations wrap at 32 bits (hours of microsecond loops); only equality is compared.
        let generation = ((ticket.load(ordering: .relaxed) >> 32) &+ 1) & 0xFFFF_FFFF
        ticket.store(generation << 32 | UInt64(iterations) << 16, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            wakeUp.lock()
            wakeUp.broadcast()
            wakeUp.unlock()
        }
        while claimAndRun(generation: generation) {}
        // The last iterations may still run on workers.
        var spins = 0
        while unfinished.load(ordering: .acquiring) > 0 {
            spins += 1
            if spins > 1 << 16 { sched_yield() }
        }
        self.body = nil
    }

    /// Claims the next iteration of loop `generation` and runs it; false when none is left.
    private func claimAndRun(generation: UInt64) -> Bool {
        var current = ticket.load(ordering: .acquiring)
        while true {
            let (count, next) = ((current >> 16) & 0xFFFF, current & 0xFFFF)
            guard current >> 32 == generation, next < count else { return false }
            let (exchanged, original) = ticket.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                body?(Int(next))
                unfinished.subtract(1, ordering: .releasing)
                return true
            }
            current = original
        }
    }

    private func startWorkersOnce() {
        let start = started.withLock { started in
            defer { started = true }
            return !started
        }
        guard start else { return }
        for index in 0..<workerCount {
            let thread = Thread { [self] in workerLoop() }
            thread.name = "aligncl-cpu-\(index + 1)"
            thread.start()
        }
    }

    private func workerLoop() {
        var seen = ticket.load(ordering: .acquiring) >> 32
        while true {
            let generation = waitForLoop(after: seen)
            seen = generation
            while claimAndRun(generation: generation) {}
        }
    }

    /// Spins, then sleeps, until a loop newer than `seen` is published; returns its generation.
    private func waitForLoop(after seen: UInt64) -> UInt64 {
        let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinNanoseconds
        var checks = 0
        while true {
            let generation = ticket.load(ordering: .acquiring) >> 32
            if generation != seen { return generation }
            checks += 1
            if checks & 63 == 0, DispatchTime.now().uptimeNanoseconds > deadline { break }
        }
        // Announce the sleep before the last check, so a caller that publishes after that check
        // sees a sleeper and wakes it (both sides are sequentially consistent).
        sleepers.add(1, ordering: .sequentiallyConsistent)
        defer { sleepers.subtract(1, ordering: .sequentiallyConsistent) }
        wakeUp.lock()
        defer { wakeUp.unlock() }
        while true {
            let generation = ticket.load(ordering: .sequentiallyConsistent) >> 32
            if generation != seen { return generation }
            wakeUp.wait()
        }
    }
}
