/// FNV-1a, 64 bits: a fast, dependency-free, stable hash — for program-cache keys and entry
/// checksums, parameter names (each parameter's random stream), and the fingerprint ranks
/// compare before data-parallel training. Not for security: where a collision matters the full
/// key is compared too.
public struct FNV1a: Sendable {
    public private(set) var hash: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func mix(_ byte: UInt8) {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }

    public mutating func mix(_ bytes: some Sequence<UInt8>) {
        for byte in bytes { mix(byte) }
    }

    /// The four bytes of `word`, least significant first.
    public mutating func mix(word: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { mix(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
    }

    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var fnv = FNV1a()
        fnv.mix(bytes)
        return fnv.hash
    }
}
