import COpenBLAS
import Foundation

/// Attention on the CPU path, FlashAttention-style: blocks of `queryBlock` queries walk blocks of
/// `keyBlock` keys; the scores of one block pair are the only part of the `Lq×Lk` matrix that
/// exists at a time. The block products run through single-threaded OpenBLAS on each worker
/// thread; the threads split heads and query blocks.
extension CPUBackend {
    // Blocks large enough that each block product is an efficient OpenBLAS call, small enough
    // that the scores (128 KiB forward, two 256 KiB blocks backward) stay in L2. B4 H8 L1024
    // D64, forward + backward against 64 × 128 blocks for both: 196–214 → 175–182 ms
    // (docs/performance.md, 2026-12-08).
    static let attentionQueryBlock = 128
    static let attentionKeyBlock = 256
    static let attentionBackwardQueryBlock = 256

    public func attentionForward(_ descriptor: AttentionDescriptor, q: Buffer, k: Buffer, v: Buffer, keyMask: Buffer?,
                                 out: Buffer, logSumExp: Buffer) throws {
        try BufferCounts.attentionForward(descriptor, q: q, k: k, v: v, keyMask: keyMask, out: out, logSumExp: logSumExp)
        let (lq, lk, d, dv) = (descriptor.queryLength, descriptor.keyLength, descriptor.headDimension, descriptor.valueDimension)
        let (bq, bk) = (Self.attentionQueryBlock, Self.attentionKeyBlock)
        let queryBlocks = (lq + bq - 1) / bq
        let heads = descriptor.batch * descriptor.heads
        let (qs, ks, vs, outs, lses) = (q.hostPointer, k.hostPointer, v.hostPointer, out.hostPointer, logSumExp.hostPointer)
        let mask = keyMask?.hostPointer
        withSingleThreadedBLAS {
            parallelFor(heads * queryBlocks) { tasks in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: bq * bk)
                let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: bq)
                let rowSum = UnsafeMutablePointer<Float>.allocate(capacity: bq)
                defer { scores.deallocate(); rowMax.deallocate(); rowSum.deallocate() }
                for task in tasks {
                    let head = task / queryBlocks, q0 = task % queryBlocks * bq, nq = min(bq, lq - q0)
                    let batch = head / descriptor.heads
                    let qBlock = qs + (head * lq + q0) * d, kHead = ks + head * lk * d, vHead = vs + head * lk * dv
                    let acc = outs + (head * lq + q0) * dv
                    acc.update(repeating: 0, count: nq * dv)
                    rowMax.update(repeating: -.infinity, count: nq)
                    rowSum.update(repeating: 0, count: nq)
                    let keyEnd = descriptor.visibleKeyEnd(query: q0 + nq - 1)
                    for k0 in stride(from: 0, to: max(keyEnd, 0), by: bk) {
                        let nk = min(bk, keyEnd - k0)
                        // scores = scale · q_block · k_blockᵀ
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(nq), blasint(nk), blasint(d), descriptor.scale,
                                    qBlock, blasint(d), kHead + k0 * d, blasint(d), 0, scores, blasint(bk))
                        for i in 0..<nq {
                            let row = scores + i * bk
                            maskRow(row, count: nk, descriptor: descriptor, query: q0 + i, firstKey: k0,
                                    keyMask: mask.map { $0 + batch * lk })
                            // Online softmax: rescale what was summed under the old maximum.
                            let newMax = max(rowMax[i], rowMaximum(row, count: nk))
                            guard newMax > -.infinity else {
                                row.update(repeating: 0, count: nk)  // no visible key yet: contributes nothing
                                continue
                            }
                            let correction = expNonPositive(rowMax[i] - newMax)
                            rowSum[i] = rowSum[i] * correction + sumOfExponentials(row, count: nk, minus: newMax, storing: true)
                            rowMax[i] = newMax
                            if correction != 1 { scaleRow(acc + i * dv, count: dv, by: correction) }
                        }
                        // acc += p · v_block
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(nq), blasint(dv), blasint(nk), 1,
                                    scores, blasint(bk), vHead + k0 * dv, blasint(dv), 1, acc, blasint(dv))
                    }
                    for i in 0..<nq {
                        // A row with no visible key: output zeros and log-sum-exp −∞, never NaN.
                        let sum = rowSum[i]
                        lses[head * lq + q0 + i] = sum > 0 ? rowMax[i] + Foundation.log(sum) : -.infinity
                        scaleRow(acc + i * dv, count: dv, by: sum > 0 ? 1 / sum : 0)
                    }
                }
            }
        }
    }

    public func attentionBackward(_ descriptor: AttentionDescriptor, q: Buffer, k: Buffer, v: Buffer, keyMask: Buffer?,
                                  out: Buffer, logSumExp: Buffer, gradOut: Buffer, gradQ: Buffer, gradK: Buffer, gradV: Buffer) throws {
        try BufferCounts.attentionBackward(descriptor, q: q, k: k, v: v, keyMask: keyMask, out: out, logSumExp: logSumExp, gradOut: gradOut, gradQ: gradQ, gradK: gradK, gradV: gradV)
        let (lq, lk, d, dv) = (descriptor.queryLength, descriptor.keyLength, descriptor.headDimension, descriptor.valueDimension)
        let (bq, bk) = (Self.attentionBackwardQueryBlock, Self.attentionKeyBlock)
        let heads = descriptor.batch * descriptor.heads
        let (qs, ks, vs, outs, lses, dos) = (q.hostPointer, k.hostPointer, v.hostPointer, out.hostPointer, logSumExp.hostPointer, gradOut.hostPointer)
        let (dqs, dks, dvs) = (gradQ.hostPointer, gradK.hostPointer, gradV.hostPointer)
        let mask = keyMask?.hostPointer
        withSingleThreadedBLAS {
            // One task per head: it alone writes that head's dk and dv, so no two threads add
            // into the same rows.
            parallelFor(heads) { tasks in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: bq * bk)
                let dp = UnsafeMutablePointer<Float>.allocate(capacity: bq * bk)
                let delta = UnsafeMutablePointer<Float>.allocate(capacity: lq)
                defer { p.deallocate(); dp.deallocate(); delta.deallocate() }
                for head in tasks {
                    let batch = head / descriptor.heads
                    let (qHead, kHead, vHead) = (qs + head * lq * d, ks + head * lk * d, vs + head * lk * dv)
                    let (doHead, dqHead, dkHead, dvHead) = (dos + head * lq * dv, dqs + head * lq * d, dks + head * lk * d, dvs + head * lk * dv)
                    dqHead.update(repeating: 0, count: lq * d)
                    dkHead.update(repeating: 0, count: lk * d)
                    dvHead.update(repeating: 0, count: lk * dv)
                    // delta_i = dout_i · out_i, the row sum of p ⊙ dp that the softmax backward subtracts.
                    for i in 0..<lq { delta[i] = dot(doHead + i * dv, outs + (head * lq + i) * dv, count: dv) }
                    for q0 in stride(from: 0, to: lq, by: bq) {
                        let nq = min(bq, lq - q0)
                        let keyEnd = descriptor.visibleKeyEnd(query: q0 + nq - 1)
                        for k0 in stride(from: 0, to: max(keyEnd, 0), by: bk) {
                            let nk = min(bk, keyEnd - k0)
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(nq), blasint(nk), blasint(d), descriptor.scale,
                                        qHead + q0 * d, blasint(d), kHead + k0 * d, blasint(d), 0, p, blasint(bk))
                            // p = exp(s − lse), recomputed; masked keys and empty rows give 0.
                            for i in 0..<nq {
                                let row = p + i * bk, lse = lses[head * lq + q0 + i]
                                guard lse > -.infinity else { row.update(repeating: 0, count: nk); continue }
                                maskRow(row, count: nk, descriptor: descriptor, query: q0 + i, firstKey: k0,
                                        keyMask: mask.map { $0 + batch * lk })
                                _ = sumOfExponentials(row, count: nk, minus: lse, storing: true)
                            }
                            // dv_block += pᵀ · dout_block
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blasint(nk), blasint(dv), blasint(nq), 1,
                                        p, blasint(bk), doHead + q0 * dv, blasint(dv), 1, dvHead + k0 * dv, blasint(dv))
                            // dp = dout_block · v_blockᵀ
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(nq), blasint(nk), blasint(dv), 1,
                                        doHead + q0 * dv, blasint(dv), vHead + k0 * dv, blasint(dv), 0, dp, blasint(bk))
                            // ds = p ⊙ (dp − delta), written over dp
                            for i in 0..<nq {
                                softmaxGradientRow(p + i * bk, dp + i * bk, count: nk, delta: delta[q0 + i])
                            }
                            // dq_block += scale · ds · k_block;  dk_block += scale · dsᵀ · q_block
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(nq), blasint(d), blasint(nk), descriptor.scale,
                                        dp, blasint(bk), kHead + k0 * d, blasint(d), 1, dqHead + q0 * d, blasint(d))
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blasint(nk), blasint(d), blasint(nq), descriptor.scale,
                                        dp, blasint(bk), qHead + q0 * d, blasint(d), 1, dkHead + k0 * d, blasint(d))
                        }
                    }
                }
            }
        }
    }
}

/// Sets the scores of keys query `query` may not see to −∞ (key mask, causal).
@inline(__always)
private func maskRow(_ row: UnsafeMutablePointer<Float>, count: Int, descriptor: AttentionDescriptor, query: Int, firstKey: Int,
                     keyMask: UnsafeMutablePointer<Float>?) {
    if let keyMask {
        for j in 0..<count where keyMask[firstKey + j] == 0 { row[j] = -.infinity }
    }
    if descriptor.isCausal {
        let end = descriptor.visibleKeyEnd(query: query) - firstKey
        if end < count { (row + max(end, 0)).update(repeating: -.infinity, count: count - max(end, 0)) }
    }
}

@inline(__always)
private func scaleRow(_ row: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    for j in 0..<count { row[j] *= factor }
}

@inline(__always)
private func dot(_ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, count: Int) -> Float {
    var sum: Float = 0
    for j in 0..<count { sum += a[j] * b[j] }
    return sum
}

/// `dp[j] = p[j] · (dp[j] − delta)`: the softmax backward of one row.
@inline(__always)
private func softmaxGradientRow(_ p: UnsafeMutablePointer<Float>, _ dp: UnsafeMutablePointer<Float>, count: Int, delta: Float) {
    // 16 lanes: the scalar loop is not vectorised (the pointers may alias).
    let vectorEnd = count / 16 * 16
    for j in stride(from: 0, to: vectorEnd, by: 16) { dp.store(p.lanes(at: j) * (dp.lanes(at: j) - delta), at: j) }
    for j in vectorEnd..<count { dp[j] = p[j] * (dp[j] - delta) }
}
