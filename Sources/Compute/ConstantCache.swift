import Foundation

/// Device copies of small arrays that many ops of a step read unchanged — an attention key mask,
/// read by every layer — so each is uploaded once while its contents stay the same, not once
/// per op. A hit compares the whole contents (never a hash alone). The last few are kept.
final class ConstantCache: @unchecked Sendable {  // `entries` only under `lock`
    private let lock = NSLock()
    private var entries: [(values: [Float], buffer: Buffer)] = []
    private let capacity = 8

    /// The cached buffer holding `values`, or a new one `make` uploads. Callers only read it.
    func buffer(_ values: [Float], make: () throws -> Buffer) throws -> Buffer {
        if let hit = lock.withLock({ entries.first { $0.values == values }?.buffer }) { return hit }
        let buffer = try make()
        lock.withLock {
            entries.append((values, buffer))
            if entries.count > capacity { entries.removeFirst() }
        }
        return buffer
    }
}
