import Foundation

extension CPUBackend {
    /// Rows are split across threads; within a row, 16-lane loops with a scalar tail. Masked
    /// entries become −∞ logits, which the max ignores and `exp` turns into exact zeros.
    public func softmaxForward(_ descriptor: SoftmaxDescriptor, x: Buffer, mask: Buffer?, y: Buffer) throws {
        try BufferCounts.softmaxForward(descriptor, x: x, mask: mask, y: y)
        let (columns, scale, isLog) = (descriptor.columns, descriptor.scale, descriptor.isLog)
        let input = UnsafePointer(x.hostPointer), output = y.hostPointer, keep = mask.map { UnsafePointer($0.hostPointer) }
        let vectorEnd = columns / 16 * 16
        parallelFor(descriptor.rows, minimumChunk: max(1, 16_384 / columns)) { rows in
            for row in rows {
                let xs = input + row * columns, ys = output + row * columns, ms = keep.map { $0 + row * columns }
                @inline(__always) func logits(_ j: Int) -> Float16Lanes {
                    let z = scale * xs.lanes(at: j)
                    guard let ms else { return z }
                    return z.replacing(with: -.infinity, where: ms.lanes(at: j) .== 0)
                }
                @inline(__always) func logit(_ j: Int) -> Float {
                    (ms.map { $0[j] == 0 } ?? false) ? -.infinity : scale * xs[j]
                }
                // The row maximum is subtracted so no exponential overflows, even for ±1e4 logits.
                var maxima = Float16Lanes(repeating: -.infinity)
                for j in stride(from: 0, to: vectorEnd, by: 16) {
                    // Not `pointwiseMax`: its lane-by-lane NaN handling is ~15× slower here.
                    let z = logits(j)
                    maxima = maxima.replacing(with: z, where: z .> maxima)
                }
                var maximum = maxima.max()
                for j in vectorEnd..<columns { maximum = max(maximum, logit(j)) }
                guard maximum > -.infinity else {
                    // Fully masked row: zeros (−∞ for log-softmax), never NaN.
                    ys.update(repeating: isLog ? -.infinity : 0, count: columns)
                    continue
                }
                // Sums in 16 float32 lanes: also bounds rounding growth along long rows.
                var sums = Float16Lanes()
                for j in stride(from: 0, to: vectorEnd, by: 16) {
                    let e = expNonPositive(logits(j) - maximum)
                    if !isLog { ys.store(e, at: j) }
                    sums += e
                }
                var sum = sums.sum()
                for j in vectorEnd..<columns {
                    let e = expNonPositive(logit(j) - maximum)
                    if !isLog { ys[j] = e }
                    sum += e
                }
                if isLog {
                    // (z − m) − log s, not z − (m + log s): that shift would be rounded at the
                    // magnitude of the logits (at 1e4 a float keeps only steps of ~1e-3).
                    let logSum = Foundation.log(sum)
                    for j in stride(from: 0, to: vectorEnd, by: 16) { ys.store((logits(j) - maximum) - logSum, at: j) }
                    for j in vectorEnd..<columns { ys[j] = (logit(j) - maximum) - logSum }
                } else {
                    let inverse = 1 / sum
                    for j in stride(from: 0, to: vectorEnd, by: 16) { ys.store(ys.lanes(at: j) * inverse, at: j) }
                    for j in vectorEnd..<columns { ys[j] *= inverse }
                }
            }
        }
    }

    /// softmax: `dx = s·y·(dy − Σ dy·y)`; log-softmax: `dx = s·(dy − exp(y)·Σ dy)`; sums over
    /// kept entries, and masked entries get zero.
    public func softmaxBackward(_ descriptor: SoftmaxDescriptor, y: Buffer, gradY: Buffer, mask: Buffer?, gradX: Buffer) throws {
        try BufferCounts.softmaxBackward(descriptor, y: y, gradY: gradY, mask: mask, gradX: gradX)
        let (columns, scale, isLog) = (descriptor.columns, descriptor.scale, descriptor.isLog)
        let output = UnsafePointer(y.hostPointer), upstream = UnsafePointer(gradY.hostPointer)
        let result = gradX.hostPointer, keep = mask.map { UnsafePointer($0.hostPointer) }
        let vectorEnd = columns / 16 * 16
        parallelFor(descriptor.rows, minimumChunk: max(1, 16_384 / columns)) { rows in
            for row in rows {
                let ys = output + row * columns, dys = upstream + row * columns, dxs = result + row * columns
                let ms = keep.map { $0 + row * columns }
                @inline(__always) func kept(_ j: Int) -> SIMDMask<SIMD16<Int32>> {
                    ms.map { $0.lanes(at: j) .!= 0 } ?? SIMDMask(repeating: true)
                }
                var dots = Float16Lanes()
                for j in stride(from: 0, to: vectorEnd, by: 16) {
                    let term = isLog ? dys.lanes(at: j) : dys.lanes(at: j) * ys.lanes(at: j)
                    dots += term.replacing(with: 0, where: .!kept(j))
                }
                var dot = dots.sum()
                for j in vectorEnd..<columns where ms.map({ $0[j] != 0 }) ?? true {
                    dot += isLog ? dys[j] : dys[j] * ys[j]
                }
                for j in stride(from: 0, to: vectorEnd, by: 16) {
                    let (yv, dyv) = (ys.lanes(at: j), dys.lanes(at: j))
                    let dx = isLog ? scale * (dyv - expNonPositive(yv) * dot) : scale * yv * (dyv - dot)
                    result.store(dx.replacing(with: 0, where: .!kept(j)), at: row * columns + j)
                }
                for j in vectorEnd..<columns {
                    guard ms.map({ $0[j] != 0 }) ?? true else { dxs[j] = 0; continue }
                    dxs[j] = isLog ? scale * (dys[j] - expNonPositive(ys[j]) * dot) : scale * ys[j] * (dys[j] - dot)
                }
            }
        }
    }
}
