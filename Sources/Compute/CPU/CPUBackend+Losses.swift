import Foundation

/// Cross-entropy, KL divergence and binary cross-entropy on the CPU path: rows across threads,
/// every log-sum-exp max-subtracted.
extension CPUBackend {
    public func crossEntropyForward(_ descriptor: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, rowLoss: Buffer) throws {
        try BufferCounts.crossEntropyForward(descriptor, logits: logits, targets: targets, rowLoss: rowLoss)
        let (z, t, out, c) = (logits.hostPointer, targets.int32Pointer, rowLoss.hostPointer, descriptor.classes)
        parallelFor(descriptor.rows, minimumChunk: max(1, 8192 / c)) { rows in
            for r in rows {
                let target = t[r]
                guard target != descriptor.ignoreIndex else { out[r] = 0; continue }
                let row = z + r * c
                let (top, logSum) = maxAndLogSum(row, count: c)
                out[r] = (top - row[Int(target)]) + logSum
            }
        }
    }

    public func crossEntropyBackward(_ descriptor: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, scale: Float, gradLogits: Buffer) throws {
        try BufferCounts.crossEntropyBackward(descriptor, logits: logits, targets: targets, scale: scale, gradLogits: gradLogits)
        let (z, t, out, c) = (logits.hostPointer, targets.int32Pointer, gradLogits.hostPointer, descriptor.classes)
        parallelFor(descriptor.rows, minimumChunk: max(1, 8192 / c)) { rows in
            for r in rows {
                let (row, grad, target) = (z + r * c, out + r * c, t[r])
                guard target != descriptor.ignoreIndex else { grad.update(repeating: 0, count: c); continue }
                // exp((z − max) − log Σ): forming lse = max + log Σ first would round it at the
                // logits' magnitude (5e-4 at 1e4) and carry that into every probability.
                let (top, logSum) = maxAndLogSum(row, count: c)
                for j in 0..<c { grad[j] = scale * Foundation.exp((row[j] - top) - logSum) }
                grad[Int(target)] -= scale
            }
        }
    }

    public func klDivergenceForward(_ descriptor: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, rowLoss: Buffer) throws {
        try BufferCounts.klDivergenceForward(descriptor, student: student, teacher: teacher, rowLoss: rowLoss)
        let (s, t, out, c, temperature) = (student.hostPointer, teacher.hostPointer, rowLoss.hostPointer, descriptor.classes, descriptor.temperature)
        parallelFor(descriptor.rows, minimumChunk: max(1, 8192 / c)) { rows in
            for r in rows {
                let (studentRow, teacherRow) = (s + r * c, t + r * c)
                let (studentLSE, teacherLSE) = (logSumExp(studentRow, count: c, scale: 1 / temperature), logSumExp(teacherRow, count: c, scale: 1 / temperature))
                // Σ p (log p − log q) with both logs as log-softmax: no log(0).
                var kl: Float = 0
                for j in 0..<c {
                    let logP = teacherRow[j] / temperature - teacherLSE, logQ = studentRow[j] / temperature - studentLSE
                    kl += Foundation.exp(logP) * (logP - logQ)
                }
                out[r] = kl
            }
        }
    }

    public func klDivergenceBackward(_ descriptor: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, scale: Float, gradStudent: Buffer) throws {
        try BufferCounts.klDivergenceBackward(descriptor, student: student, teacher: teacher, scale: scale, gradStudent: gradStudent)
        let (s, t, out, c, temperature) = (student.hostPointer, teacher.hostPointer, gradStudent.hostPointer, descriptor.classes, descriptor.temperature)
        parallelFor(descriptor.rows, minimumChunk: max(1, 8192 / c)) { rows in
            for r in rows {
                let (studentRow, teacherRow, grad) = (s + r * c, t + r * c, out + r * c)
                let (studentLSE, teacherLSE) = (logSumExp(studentRow, count: c, scale: 1 / temperature), logSumExp(teacherRow, count: c, scale: 1 / temperature))
                for j in 0..<c {
                    grad[j] = scale * (Foundation.exp(studentRow[j] / temperature - studentLSE) - Foundation.exp(teacherRow[j] / temperature - teacherLSE))
                }
            }
        }
    }

    public func binaryCrossEntropyForward(logits: Buffer, targets: Buffer, loss: Buffer, count: Int) throws {
        try BufferCounts.binaryCrossEntropyForward(logits: logits, targets: targets, loss: loss, count: count)
        let (z, t, out) = (logits.hostPointer, targets.hostPointer, loss.hostPointer)
        parallelFor(count, minimumChunk: 16_384) { range in
            for i in range { out[i] = max(z[i], 0) - z[i] * t[i] + Foundation.log1p(Foundation.exp(-abs(z[i]))) }
        }
    }

    public func binaryCrossEntropyBackward(logits: Buffer, targets: Buffer, scale: Float, grad: Buffer, count: Int) throws {
        try BufferCounts.binaryCrossEntropyBackward(logits: logits, targets: targets, scale: scale, grad: grad, count: count)
        let (z, t, out) = (logits.hostPointer, targets.hostPointer, grad.hostPointer)
        parallelFor(count, minimumChunk: 16_384) { range in
            for i in range {
                // σ(x) without overflow on either side.
                let e = Foundation.exp(-abs(z[i])), sigmoid = z[i] >= 0 ? 1 / (1 + e) : e / (1 + e)
                out[i] = scale * (sigmoid - t[i])
            }
        }
    }
}

/// `log Σ_j exp(scale·row[j])`, max-subtracted.
private func logSumExp(_ row: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) -> Float {
    let (top, logSum) = maxAndLogSum(row, count: count, scale: scale)
    return top + logSum
}

/// The row maximum of `scale·row` and `log Σ_j exp(scale·row[j] − max)`, kept apart so callers
/// can subtract the maximum before adding the (small) log-sum.
private func maxAndLogSum(_ row: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) -> (Float, Float) {
    var top = -Float.infinity
    for j in 0..<count { top = max(top, scale * row[j]) }
    var sum: Float = 0
    for j in 0..<count { sum += Foundation.exp(scale * row[j] - top) }
    return (top, Foundation.log(sum))
}
