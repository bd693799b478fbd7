import Foundation

/// Layer norm, GELU and AdamW on the CPU path: rows or chunks split across threads.
extension CPUBackend {
    public func layerNormForward(_ descriptor: LayerNormDescriptor, x: Buffer, weight: Buffer, bias: Buffer, y: Buffer,
                                 mean: Buffer, reciprocalStd: Buffer) throws {
        try BufferCounts.layerNormForward(descriptor, x: x, weight: weight, bias: bias, y: y, mean: mean, reciprocalStd: reciprocalStd)
        let c = descriptor.columns
        let (xs, w, b, ys, means, rstds) = (x.hostPointer, weight.hostPointer, bias.hostPointer, y.hostPointer, mean.hostPointer, reciprocalStd.hostPointer)
        parallelFor(descriptor.rows, minimumChunk: max(1, 8192 / c)) { rows in
            for r in rows {
                let (row, out) = (xs + r * c, ys + r * c)
                // Two passes (mean, then squared deviations): no cancellation of E[x²] − mean².
                var sum: Float = 0
                for j in 0..<c { sum += row[j] }
                let mu = sum / Float(c)
                var squares: Float = 0
                for j in 0..<c { squares += (row[j] - mu) * (row[j] - mu) }
                let rstd = 1 / (squares / Float(c) + descriptor.epsilon).squareRoot()
                for j in 0..<c { out[j] = (row[j] - mu) * rstd * w[j] + b[j] }
                means[r] = mu
                rstds[r] = rstd
            }
        }
    }

    public func layerNormBackward(_ descriptor: LayerNormDescriptor, x: Buffer, weight: Buffer, mean: Buffer, reciprocalStd: Buffer,
                                  gradY: Buffer, gradX: Buffer, gradWeight: Buffer, gradBias: Buffer) throws {
        try BufferCounts.layerNormBackward(descriptor, x: x, weight: weight, mean: mean, reciprocalStd: reciprocalStd, gradY: gradY, gradX: gradX, gradWeight: gradWeight, gradBias: gradBias)
        let c = descriptor.columns
        let (xs, w, means, rstds, dys, dxs) = (x.hostPointer, weight.hostPointer, mean.hostPointer, reciprocalStd.hostPointer, gradY.hostPointer, gradX.hostPointer)
        // Column sums for the weight and bias gradients: one partial row per thread, added after.
        let chunks = min(threadCount, descriptor.rows)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: 2 * chunks * c)
        partials.update(repeating: 0, count: 2 * chunks * c)
        defer { partials.deallocate() }
        concurrently(chunks) { chunk in
            let (dw, db) = (partials + 2 * chunk * c, partials + (2 * chunk + 1) * c)
            for r in (descriptor.rows * chunk / chunks)..<(descriptor.rows * (chunk + 1) / chunks) {
                let (row, dy, dx, mu, rstd) = (xs + r * c, dys + r * c, dxs + r * c, means[r], rstds[r])
                // dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy ⊙ weight
                var (sumG, sumGX): (Float, Float) = (0, 0)
                for j in 0..<c {
                    let xhat = (row[j] - mu) * rstd, g = dy[j] * w[j]
                    sumG += g
                    sumGX += g * xhat
                    dw[j] += dy[j] * xhat
                    db[j] += dy[j]
                }
                let (meanG, meanGX) = (sumG / Float(c), sumGX / Float(c))
                for j in 0..<c {
                    let xhat = (row[j] - mu) * rstd
                    dx[j] = rstd * (dy[j] * w[j] - meanG - xhat * meanGX)
                }
            }
        }
        let (dWeight, dBias) = (gradWeight.hostPointer, gradBias.hostPointer)
        for j in 0..<c {
            var (sw, sb): (Float, Float) = (0, 0)
            for chunk in 0..<chunks { sw += partials[2 * chunk * c + j]; sb += partials[(2 * chunk + 1) * c + j] }
            dWeight[j] = sw
            dBias[j] = sb
        }
    }

    public func geluForward(_ descriptor: GELUDescriptor, x: Buffer, y: Buffer) throws {
        try BufferCounts.geluForward(descriptor, x: x, y: y)
        let (xs, ys, form) = (x.hostPointer, y.hostPointer, descriptor.approximation)
        parallelFor(descriptor.count, minimumChunk: 4096) { range in
            for i in range { ys[i] = gelu(xs[i], form).value }
        }
    }

    public func geluBackward(_ descriptor: GELUDescriptor, x: Buffer, gradY: Buffer, gradX: Buffer) throws {
        try BufferCounts.geluBackward(descriptor, x: x, gradY: gradY, gradX: gradX)
        let (xs, dys, dxs, form) = (x.hostPointer, gradY.hostPointer, gradX.hostPointer, descriptor.approximation)
        parallelFor(descriptor.count, minimumChunk: 4096) { range in
            for i in range { dxs[i] = dys[i] * gelu(xs[i], form).derivative }
        }
    }

    public func adamWStep(_ descriptor: AdamWDescriptor, parameters: Buffer, gradients: Buffer, firstMoment: Buffer, secondMoment: Buffer) throws {
        try BufferCounts.adamWStep(descriptor, parameters: parameters, gradients: gradients, firstMoment: firstMoment, secondMoment: secondMoment)
        let (p, g, m, v) = (parameters.hostPointer, gradients.hostPointer, firstMoment.hostPointer, secondMoment.hostPointer)
        let (c1, c2) = descriptor.corrections
        let (lr, b1, b2, eps, decay) = (descriptor.learningRate, descriptor.beta1, descriptor.beta2, descriptor.epsilon, descriptor.weightDecay)
        parallelFor(descriptor.count, minimumChunk: 4096) { range in
            for i in range {
                let decayed = p[i] * (1 - lr * decay)  // decoupled weight decay
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                p[i] = decayed - lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
            }
        }
    }
}

/// GELU and its derivative at `x`: exact `x·Φ(x)`, the tanh approximation (tanh formed as
/// 1 − 2/(1 + e^{2u}), which saturates without NaN), or `x·σ(1.702x)` (σ from e^{−|z|} ≤ 1, so
/// no overflow for large |x|).
@inline(__always)
func gelu(_ x: Float, _ form: GELUDescriptor.Approximation) -> (value: Float, derivative: Float) {
    switch form {
    case .none: break
    case .sigmoid:
        let z = 1.702 * x, e = Foundation.exp(-abs(z))
        let s = z >= 0 ? 1 / (1 + e) : e / (1 + e)
        return (x * s, s + 1.702 * x * s * (1 - s))
    case .tanh:
        let k: Float = 0.797_884_560_802_865_4, a: Float = 0.044_715
        let u = k * (x + a * x * x * x)
        let t = 1 - 2 / (1 + Foundation.exp(2 * u))
        return (0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * a * x * x))
    }
    let phi = 0.5 * (1 + Foundation.erf(x * 0.707_106_781_186_547_5))
    return (x * phi, phi + x * Foundation.exp(-0.5 * x * x) * 0.398_942_280_401_432_7)
}
