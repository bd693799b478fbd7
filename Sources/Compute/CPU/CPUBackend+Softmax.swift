import Foundation

extension CPUBackend {
    public func softmaxForward(_ descriptor: SoftmaxDescriptor, x: Buffer, mask: Buffer?, y: Buffer) throws {
        let (columns, scale, isLog) = (descriptor.columns, descriptor.scale, descriptor.isLog)
        let input = x.hostPointer, output = y.hostPointer, keep = mask?.hostPointer
        parallelFor(descriptor.rows, minimumChunk: max(1, 16_384 / columns)) { rows in
            for row in rows {
                let xs = input + row * columns, ys = output + row * columns, ms = keep.map { $0 + row * columns }
                // Subtract the row maximum (of kept entries) so exp never overflows, even for ±1e4 logits.
                var maximum = -Float.infinity
                for j in 0..<columns where ms.map({ $0[j] != 0 }) ?? true {
                    maximum = max(maximum, scale * xs[j])
                }
                guard maximum > -.infinity else {
                    // Fully masked row: zeros (−∞ for log-softmax), never NaN.
                    ys.update(repeating: isLog ? -.infinity : 0, count: columns)
                    continue
                }
                var sum: Float = 0
                for j in 0..<columns {
                    let kept = ms.map { $0[j] != 0 } ?? true
                    let e = kept ? Foundation.exp(scale * xs[j] - maximum) : 0
                    ys[j] = e
                    sum += e
                }
                if isLog {
                    let logSum = Foundation.log(sum)
                    for j in 0..<columns {
                        let kept = ms.map { $0[j] != 0 } ?? true
                        ys[j] = kept ? scale * xs[j] - maximum - logSum : -.infinity
                    }
                } else {
                    let inverse = 1 / sum
                    for j in 0..<columns { ys[j] *= inverse }
                }
            }
        }
    }

    public func softmaxBackward(_ descriptor: SoftmaxDescriptor, y: Buffer, gradY: Buffer, mask: Buffer?, gradX: Buffer) throws {
        let (columns, scale, isLog) = (descriptor.columns, descriptor.scale, descriptor.isLog)
        let output = y.hostPointer, upstream = gradY.hostPointer, result = gradX.hostPointer, keep = mask?.hostPointer
        parallelFor(descriptor.rows, minimumChunk: max(1, 16_384 / columns)) { rows in
            for row in rows {
                let ys = output + row * columns, dys = upstream + row * columns, dxs = result + row * columns
                let ms = keep.map { $0 + row * columns }
                // softmax: dx = s·y·(dy − Σ dy·y); log-softmax: dx = s·(dy − softmax·Σ dy); sums over kept entries.
                var dot: Float = 0
                for j in 0..<columns where ms.map({ $0[j] != 0 }) ?? true {
                    dot += isLog ? dys[j] : dys[j] * ys[j]
                }
                for j in 0..<columns {
                    guard ms.map({ $0[j] != 0 }) ?? true else { dxs[j] = 0; continue }
                    dxs[j] = isLog ? scale * (dys[j] - Foundation.exp(ys[j]) * dot) : scale * ys[j] * (dys[j] - dot)
                }
            }
        }
    }
}
