/// Vector helpers for the CPU path's loops: 16 floats at a time, which LLVM lowers to AVX2
/// (two registers) or AVX-512 (one).
typealias Float16Lanes = SIMD16<Float>

extension UnsafePointer where Pointee == Float {
    @inline(__always) func lanes(at offset: Int) -> Float16Lanes {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Float16Lanes.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always) func lanes(at offset: Int) -> Float16Lanes {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Float16Lanes.self)
    }

    @inline(__always) func store(_ value: Float16Lanes, at offset: Int) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: value, as: Float16Lanes.self)
    }
}

/// `exp(t)` for `t ≤ 0` (including −∞), about 2 ulp, branch-free. Every exponential in a
/// max-subtracted softmax has such an argument, so the full-range library `exp` (scalar, and
/// the bottleneck of the loop) is not needed.
///
/// `t = n·ln 2 + r` with `|r| ≤ ln 2 / 2` (ln 2 split in two so `r` is exact), `e^r` by its
/// degree-7 Taylor polynomial (truncation below float rounding), `2^n` built in the exponent
/// field. Results below 2^-126 (t < −87, and −∞ from masked entries) are exactly 0.
@inline(__always)
func expNonPositive(_ t: Float16Lanes) -> Float16Lanes {
    let shifter: Float = 12_582_912  // 1.5·2^23: adding it rounds to an integer in the low mantissa bits
    let clamped = t.replacing(with: -87, where: t .< -87)
    let shifted = clamped * 1.442_695_040_888_963_4 + shifter
    let n = shifted - shifter
    var r = clamped - n * 0.693_145_751_953_125
    r -= n * 1.428_606_820_309_417_2e-06
    // Horner steps as fused multiply-adds (Swift never contracts `p * r + c` by itself).
    @inline(__always) func step(_ p: Float16Lanes, _ coefficient: Float) -> Float16Lanes {
        Float16Lanes(repeating: coefficient).addingProduct(p, r)
    }
    let p = step(step(step(step(step(step(step(Float16Lanes(repeating: 1.0 / 5040), 1.0 / 720), 1.0 / 120), 1.0 / 24), 1.0 / 6), 0.5), 1), 1)
    let exponent = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(Float16Lanes(repeating: shifter), to: SIMD16<Int32>.self)
    let twoToN = unsafeBitCast((exponent &+ 127) &<< 23, to: Float16Lanes.self)
    return (p * twoToN).replacing(with: 0, where: t .< -87)
}

/// The scalar form of `expNonPositive`, for row tails.
@inline(__always)
func expNonPositive(_ t: Float) -> Float {
    t < -87 ? 0 : expNonPositive(Float16Lanes(repeating: t))[0]
}

/// The largest of `count` floats (compare-and-select: `pointwiseMax` on `SIMD16` is ~15× slower).
@inline(__always)
func rowMaximum(_ row: UnsafeMutablePointer<Float>, count: Int) -> Float {
    var lanes = Float16Lanes(repeating: -.infinity)
    let vectorEnd = count / 16 * 16
    for j in stride(from: 0, to: vectorEnd, by: 16) {
        let x = row.lanes(at: j)
        lanes = lanes.replacing(with: x, where: x .> lanes)
    }
    var result = lanes.max()
    for j in vectorEnd..<count { result = max(result, row[j]) }
    return result
}

/// `Σ_j exp(scale·row[j] − shift)` for `shift ≥ scale·max(row)` (so every argument is ≤ 0; scale
/// > 0); with `storing`, each exponential also replaces its entry.
@inline(__always)
func sumOfExponentials(_ row: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1, minus shift: Float, storing: Bool) -> Float {
    var sums = Float16Lanes()
    let vectorEnd = count / 16 * 16
    for j in stride(from: 0, to: vectorEnd, by: 16) {
        let e = expNonPositive(scale * row.lanes(at: j) - shift)
        if storing { row.store(e, at: j) }
        sums += e
    }
    var sum = sums.sum()
    for j in vectorEnd..<count {
        let e = expNonPositive(scale * row[j] - shift)
        if storing { row[j] = e }
        sum += e
    }
    return sum
}

/// `Σ values[0..<count]` in 16 float32 lanes (then across them), with a scalar tail.
@inline(__always)
func vectorSum(_ values: UnsafeMutablePointer<Float>, count: Int) -> Float {
    var lanes = Float16Lanes()
    let vectorEnd = count / 16 * 16
    for j in stride(from: 0, to: vectorEnd, by: 16) { lanes += values.lanes(at: j) }
    var result = lanes.sum()
    for j in vectorEnd..<count { result += values[j] }
    return result
}
