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
                let vectorEnd = c / 16 * 16
                // Two passes (mean, then squared deviations): no cancellation of E[x²] − mean².
                // Sums in 16 float32 lanes, then across them.
                let mu = vectorSum(row, count: c) / Float(c)
                var squareLanes = Float16Lanes()
                for j in stride(from: 0, to: vectorEnd, by: 16) {
                    let deviation = row.lanes(at: j) - mu
                    squareLanes.addProduct(deviation, deviation)
                }
                var squares = squareLanes.sum()
                for j in vectorEnd..<c { squares += (row[j] - mu) * (row[j] - mu) }
                let rstd = 1 / (squares / Float(c) + descriptor.epsilon).squareRoot()
                for j in stride(from: 0, to: vectorEnd, by: 16) {
                    out.store((row.lanes(at: j) - mu) * rstd * w.lanes(at: j) + b.lanes(at: j), at: j)
                }
                for j in vectorEnd..<c { out[j] = (row[j] - mu) * rstd * w[j] + b[j] }
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
                // dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy ⊙ weight; 16 lanes, scalar tail.
                let vectorEnd = c / 16 * 16
                var (laneG, laneGX) = (Float16Lanes(), Float16Lanes())
                for j in stride(from: 0, to: vectorEnd, by: 16) {
                    let (xhat, dyv) = ((row.lanes(at: j) - mu) * rstd, dy.lanes(at: j))
                    let g = dyv * w.lanes(at: j)
                    laneG += g
                    laneGX.addProduct(g, xhat)
                    dw.store(dw.lanes(at: j).addingProduct(dyv, xhat), at: j)
                    db.store(db.lanes(at: j) + dyv, at: j)
                }
                var (sumG, sumGX) = (laneG.sum(), laneGX.sum())
                for j in vectorEnd..<c {
                    let xhat = (row[j] - mu) * rstd, g = dy[j] * w[j]
                    sumG += g
                    sumGX += g * xhat
                    dw[j] += dy[j] * xhat
                    db[j] += dy[j]
                }
                let (meanG, meanGX) = (sumG / Float(c), sumGX / Float(c))
                for j in stride(from: 0, to: vectorEnd, by: 16) {
                    let xhat = (row.lanes(at: j) - mu) * rstd
                    dx.store(rstd * (dy.lanes(at: j) * w.lanes(at: j) - meanG - xhat * meanGX), at: j)
                }
                for j in vectorEnd..<c {
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
        let (xs, ys, form, blocks) = (UnsafePointer(x.hostPointer), y.hostPointer, descriptor.approximation, descriptor.count / 16)
        parallelFor(blocks, minimumChunk: 256) { range in
            for block in range { ys.store(gelu(xs.lanes(at: 16 * block), form).value, at: 16 * block) }
        }
        for i in (16 * blocks)..<descriptor.count { ys[i] = gelu(xs[i], form).value }
    }

    public func geluBackward(_ descriptor: GELUDescriptor, x: Buffer, gradY: Buffer, gradX: Buffer) throws {
        try BufferCounts.geluBackward(descriptor, x: x, gradY: gradY, gradX: gradX)
        let (xs, dys, dxs) = (UnsafePointer(x.hostPointer), UnsafePointer(gradY.hostPointer), gradX.hostPointer)
        let (form, blocks) = (descriptor.approximation, descriptor.count / 16)
        parallelFor(blocks, minimumChunk: 256) { range in
            for block in range { dxs.store(dys.lanes(at: 16 * block) * gelu(xs.lanes(at: 16 * block), form).derivative, at: 16 * block) }
        }
        for i in (16 * blocks)..<descriptor.count { dxs[i] = dys[i] * gelu(xs[i], form).derivative }
    }

    public func adamWStep(_ descriptor: AdamWDescriptor, parameters: Buffer, gradients: Buffer, firstMoment: Buffer, secondMoment: Buffer) throws {
        try BufferCounts.adamWStep(descriptor, parameters: parameters, gradients: gradients, firstMoment: firstMoment, secondMoment: secondMoment)
        let (p, g, m, v) = (parameters.hostPointer, gradients.hostPointer, firstMoment.hostPointer, secondMoment.hostPointer)
        let (c1, c2) = descriptor.corrections
        let (lr, b1, b2, eps, decay) = (descriptor.learningRate, descriptor.beta1, descriptor.beta2, descriptor.epsilon, descriptor.weightDecay)
        // 16 lanes at a time (the compiler keeps the scalar loop: the four pointers may alias).
        @inline(__always) func step(_ p: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                                    _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, at i: Int) {
            let (gradient, decayed) = (g.lanes(at: i), p.lanes(at: i) * (1 - lr * decay))  // decoupled weight decay
            let first = b1 * m.lanes(at: i) + (1 - b1) * gradient
            let second = b2 * v.lanes(at: i) + (1 - b2) * gradient * gradient
            m.store(first, at: i)
            v.store(second, at: i)
            p.store(decayed - lr * (first / c1) / ((second / c2).squareRoot() + eps), at: i)
        }
        let blocks = descriptor.count / 16
        parallelFor(blocks, minimumChunk: 256) { range in
            for block in range { step(p, g, m, v, at: 16 * block) }
        }
        // The last count % 16 entries: the same step on zero-padded copies (a zero moment and
        // gradient give a zero step, never NaN), so the update is written once.
        let (tail, tailCount) = (16 * blocks, descriptor.count % 16)
        guard tailCount > 0 else { return }
        let buffers = [p, g, m, v]  // the step reads all four and writes p, m and v
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * buffers.count) { scratch in
            let padded = scratch.baseAddress!
            padded.initialize(repeating: 0, count: scratch.count)
            for (k, buffer) in buffers.enumerated() { (padded + 16 * k).update(from: buffer + tail, count: tailCount) }
            step(padded, padded + 16, padded + 32, padded + 48, at: 0)
            for k in [0, 2, 3] { (buffers[k] + tail).update(from: padded + 16 * k, count: tailCount) }
        }
    }
}

/// GELU and its derivative, 16 lanes at a time, in the kernels' formulas (activation.cl), so
/// every form is vectorised instead of calling the library's scalar erf/exp per element:
/// - exact: erf(z), z = |x|/√2, by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7, below
///   float rounding of 1 + erf), whose e^{−z²} = e^{−x²/2} is also φ's in the derivative;
/// - tanh: tanh u = sign(u)(1 − e)/(1 + e), e = e^{−2|u|} ≤ 1: no overflow, saturates to ±1;
/// - sigmoid (quick_gelu): σ(z) = 1/(1 + e) for z ≥ 0, e/(1 + e) below, e = e^{−|z|}: the same.
@inline(__always)
func gelu(_ x: Float16Lanes, _ form: GELUDescriptor.Approximation) -> (value: Float16Lanes, derivative: Float16Lanes) {
    let negative = x .< 0
    func magnitude(_ v: Float16Lanes) -> Float16Lanes { v.replacing(with: -v, where: v .< 0) }
    switch form {
    case .none:
        let z = magnitude(x) * 0.707_106_781_186_547_5
        let e = expNonPositive(-z * z)
        let t = 1 / (0.327_591_1 * z + 1)
        var poly: Float16Lanes = t * 1.061_405_429 - 1.453_152_027
        poly = poly * t + 1.421_413_741
        poly = poly * t - 0.284_496_736
        poly = poly * t + 0.254_829_592
        poly = poly * t
        let erf = (1 - poly * e).replacing(with: poly * e - 1, where: negative)
        let phi = 0.5 * (1 + erf)
        return (x * phi, phi + x * e * 0.398_942_280_401_432_7)
    case .tanh:
        let k: Float = 0.797_884_560_802_865_4, a: Float = 0.044_715
        let cube: Float16Lanes = a * x * x * x
        let u: Float16Lanes = k * (cube + x)
        let e = expNonPositive(-2 * magnitude(u))
        var t = (1 - e) / (1 + e)
        t = t.replacing(with: -t, where: u .< 0)
        let slope: Float16Lanes = (3 * a) * x * x + 1
        let half: Float16Lanes = 0.5 * (1 + t)
        let derivative: Float16Lanes = half + 0.5 * x * (1 - t * t) * k * slope
        return (x * half, derivative)
    case .sigmoid:
        let z = 1.702 * x
        let e = expNonPositive(-magnitude(z))
        let r = 1 / (1 + e)
        let s = r.replacing(with: e * r, where: z .< 0)
        return (x * s, s + 1.702 * x * s * (1 - s))
    }
}

/// The same for one element (the tail of a buffer), lane for lane the same bits.
@inline(__always)
func gelu(_ x: Float, _ form: GELUDescriptor.Approximation) -> (value: Float, derivative: Float) {
    let lanes = gelu(Float16Lanes(repeating: x), form)
    return (lanes.value[0], lanes.derivative[0])
}
