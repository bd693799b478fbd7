import Foundation

/// Mutual-information bounds on the CPU path: one group per task, sums in float64.
extension CPUBackend {
    public func mutualInformationForward(_ descriptor: MutualInformationDescriptor, scores: Buffer, bounds: Buffer, statistics: Buffer) throws {
        try BufferCounts.mutualInformationForward(descriptor, scores: scores, bounds: bounds, statistics: statistics)
        let n = descriptor.size
        let (fs, out, stats) = (scores.hostPointer, bounds.hostPointer, statistics.hostPointer)
        parallelFor(descriptor.groups) { groups in
            for g in groups {
                let f = fs + g * n * n
                var diagonal = 0.0
                for i in 0..<n { diagonal += Double(f[i * n + i]) }
                diagonal /= Double(n)
                var (first, second) = (0.0, 0.0)
                switch descriptor.estimator {
                case .infoNCE:
                    var lseSum = 0.0
                    for i in 0..<n { lseSum += rowLogSumExp(f + i * n, count: n) }
                    out[g] = Float(diagonal - lseSum / Double(n) + Foundation.log(Double(n)))
                case .donskerVaradhan:
                    // log mean_{i≠k} exp F_ik, max-subtracted; the max and the sum are kept.
                    var top = -Double.infinity
                    for i in 0..<n { for k in 0..<n where k != i { top = max(top, Double(f[i * n + k])) } }
                    var sum = 0.0
                    for i in 0..<n { for k in 0..<n where k != i { sum += Foundation.exp(Double(f[i * n + k]) - top) } }
                    (first, second) = (top, sum)
                    out[g] = Float(diagonal - (top + Foundation.log(sum / Double(n * (n - 1)))))
                case .jensenShannon:
                    var positive = 0.0, negative = 0.0
                    for i in 0..<n {
                        positive -= softplus(-Double(f[i * n + i]))
                        for k in 0..<n where k != i { negative += softplus(Double(f[i * n + k])) }
                    }
                    out[g] = Float(positive / Double(n) - negative / Double(n * (n - 1)))
                }
                stats[2 * g] = Float(first)
                stats[2 * g + 1] = Float(second)
            }
        }
    }

    public func mutualInformationBackward(_ descriptor: MutualInformationDescriptor, scores: Buffer, statistics: Buffer, gradBounds: Buffer,
                                          gradScores: Buffer) throws {
        try BufferCounts.mutualInformationBackward(descriptor, scores: scores, statistics: statistics, gradBounds: gradBounds, gradScores: gradScores)
        let n = descriptor.size
        let (fs, stats, upstream, out) = (scores.hostPointer, statistics.hostPointer, gradBounds.hostPointer, gradScores.hostPointer)
        parallelFor(descriptor.groups * n) { rows in
            for row in rows {
                let g = row / n, i = row % n
                let (f, dF, weight) = (fs + row * n, out + row * n, Double(upstream[g]))
                let pairs = Double(n * max(n - 1, 1))
                switch descriptor.estimator {
                case .infoNCE:
                    // (δ_ik − softmax_k(F_i·)) / N
                    let lse = rowLogSumExp(f, count: n)
                    for k in 0..<n { dF[k] = Float(weight * ((k == i ? 1 : 0) - Foundation.exp(Double(f[k]) - lse)) / Double(n)) }
                case .donskerVaradhan:
                    let (top, sum) = (Double(stats[2 * g]), Double(stats[2 * g + 1]))
                    for k in 0..<n {
                        dF[k] = Float(k == i ? weight / Double(n) : -weight * Foundation.exp(Double(f[k]) - top) / sum)
                    }
                case .jensenShannon:
                    for k in 0..<n {
                        dF[k] = Float(k == i ? weight * sigmoid(-Double(f[k])) / Double(n) : -weight * sigmoid(Double(f[k])) / pairs)
                    }
                }
            }
        }
    }
}

private func rowLogSumExp(_ row: UnsafeMutablePointer<Float>, count: Int) -> Double {
    var top = -Double.infinity
    for k in 0..<count { top = max(top, Double(row[k])) }
    var sum = 0.0
    for k in 0..<count { sum += Foundation.exp(Double(row[k]) - top) }
    return top + Foundation.log(sum)
}

/// log(1 + eˣ) without overflow: max(x, 0) + log1p(e^−|x|).
private func softplus(_ x: Double) -> Double { max(x, 0) + Foundation.log1p(Foundation.exp(-abs(x))) }

private func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x)) }
