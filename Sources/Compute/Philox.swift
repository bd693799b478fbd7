/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
/// counter-based generator, so a random number is a pure function of (key, counter) — the
/// same however work is split: initialisation, data order and ITM negatives draw from it.
public enum Philox {
    /// The four output words for `counter` under `key`.
    public static func block(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        var (c, k) = (counter, key)
        for round in 0..<10 {
            if round > 0 { k &+= SIMD2(0x9E37_79B9, 0xBB67_AE85) }
            let p0 = UInt64(0xD251_1F53) &* UInt64(c[0]), p1 = UInt64(0xCD9E_8D57) &* UInt64(c[2])
            c = SIMD4(UInt32(truncatingIfNeeded: p1 >> 32) ^ c[1] ^ k[0], UInt32(truncatingIfNeeded: p1),
                      UInt32(truncatingIfNeeded: p0 >> 32) ^ c[3] ^ k[1], UInt32(truncatingIfNeeded: p0))
        }
        return c
    }

    /// A uniform float in [0, 1) for element `index` of step `step` under `seed`: word 0 of the
    /// block for counter (index low, index high, step, 0), its top 24 bits scaled by 2⁻²⁴.
    @inline(__always)
    public static func uniform(seed: UInt64, step: UInt32, index: UInt64) -> Float {
        let word = block(counter: SIMD4(UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32), step, 0),
                         key: SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))[0]
        return Float(word >> 8) * 0x1p-24
    }
}
