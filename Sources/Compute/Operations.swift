/// Ops on host arrays, on one backend: validate (once, through the descriptors), upload, run,
/// read back. What `aligncl op` and the parity tests call; model code will use device tensors.
public struct Operations: Sendable {
    public let backend: any Backend

    public init(backend: any Backend) {
        self.backend = backend
    }

    /// `op(a)·op(b)`; `a` and `b` 2-D, or 3-D with a shared leading batch.
    public func gemm(_ a: HostArray, _ b: HostArray, transposeA: Bool = false, transposeB: Bool = false) throws -> HostArray {
        let descriptor = try GEMMDescriptor(aShape: a.shape, bShape: b.shape, transposeA: transposeA, transposeB: transposeB)
        return try run(descriptor, left: a.values, right: b.values)
    }

    /// The gradients of `sum(gradC ⊙ op(a)·op(b))` with respect to `a` and `b`, each in its
    /// input's stored layout.
    public func gemmGradients(_ a: HostArray, _ b: HostArray, gradC: HostArray, transposeA: Bool = false,
                              transposeB: Bool = false) throws -> (gradA: HostArray, gradB: HostArray) {
        let descriptor = try GEMMDescriptor(aShape: a.shape, bShape: b.shape, transposeA: transposeA, transposeB: transposeB)
        guard gradC.shape == descriptor.cShape else {
            throw BackendError.invalidArgument(op: "gemm", message: "grad_output must have the shape of c \(shapeText(descriptor.cShape)), got \(shapeText(gradC.shape))")
        }
        func operand(_ which: GEMMDescriptor.Operand) -> [Float] {
            switch which { case .a: a.values; case .b: b.values; case .gradC: gradC.values }
        }
        let (descriptorA, leftA, rightA) = descriptor.gradientOfA
        let (descriptorB, leftB, rightB) = descriptor.gradientOfB
        let gradA = try run(descriptorA, left: operand(leftA), right: operand(rightA))
        let gradB = try run(descriptorB, left: operand(leftB), right: operand(rightB))
        return (HostArray(shape: a.shape, values: gradA.values), HostArray(shape: b.shape, values: gradB.values))
    }

    private func run(_ descriptor: GEMMDescriptor, left: [Float], right: [Float]) throws -> HostArray {
        let count = descriptor.batch * descriptor.m * descriptor.n
        // Empty products need no kernel: no output, or (K = 0) a sum of nothing.
        guard count > 0, descriptor.k > 0 else {
            return HostArray(shape: descriptor.cShape, values: [Float](repeating: 0, count: count))
        }
        let a = try backend.makeBuffer(left)
        let b = try backend.makeBuffer(right)
        let c = try backend.makeBuffer(count: count)
        try backend.gemm(descriptor, a: a, b: b, c: c)
        return HostArray(shape: descriptor.cShape, values: try backend.read(c))
    }

    /// `softmax(scale·x)` over the last axis (log-softmax when `log`); `mask` nonzero keeps.
    public func softmax(_ x: HostArray, mask: HostArray? = nil, scale: Float = 1, log: Bool = false) throws -> HostArray {
        let descriptor = try SoftmaxDescriptor(xShape: x.shape, maskShape: mask?.shape, scale: scale, isLog: log)
        guard descriptor.count > 0 else { return x }
        let input = try backend.makeBuffer(x.values)
        let maskBuffer = try mask.map { try backend.makeBuffer($0.values) }
        let output = try backend.makeBuffer(count: descriptor.count)
        try backend.softmaxForward(descriptor, x: input, mask: maskBuffer, y: output)
        return HostArray(shape: x.shape, values: try backend.read(output))
    }

    /// The gradient with respect to `x` of `sum(gradY ⊙ softmax(x))`, given the forward output `y`.
    public func softmaxGradient(y: HostArray, gradY: HostArray, mask: HostArray? = nil, scale: Float = 1,
                                log: Bool = false) throws -> HostArray {
        let descriptor = try SoftmaxDescriptor(xShape: y.shape, maskShape: mask?.shape, scale: scale, isLog: log)
        guard gradY.shape == y.shape else {
            throw BackendError.invalidArgument(op: "softmax", message: "grad_output must have the shape of y \(shapeText(y.shape)), got \(shapeText(gradY.shape))")
        }
        guard descriptor.count > 0 else { return gradY }
        let output = try backend.makeBuffer(y.values)
        let upstream = try backend.makeBuffer(gradY.values)
        let maskBuffer = try mask.map { try backend.makeBuffer($0.values) }
        let gradX = try backend.makeBuffer(count: descriptor.count)
        try backend.softmaxBackward(descriptor, y: output, gradY: upstream, mask: maskBuffer, gradX: gradX)
        return HostArray(shape: y.shape, values: try backend.read(gradX))
    }

    /// Attention's output and per-row log-sum-exp and, given the upstream gradient of the output,
    /// the gradients of q, k and v — the forward's buffers stay on the backend for the backward.
    public func attention(q: HostArray, k: HostArray, v: HostArray, keyMask: HostArray? = nil, scale: Float? = nil,
                          causal: Bool = false, gradOut: HostArray? = nil) throws -> AttentionResult {
        let descriptor = try AttentionDescriptor(qShape: q.shape, kShape: k.shape, vShape: v.shape, keyMaskShape: keyMask?.shape,
                                                 scale: scale, isCausal: causal)
        if let gradOut, gradOut.shape != descriptor.outShape {
            throw BackendError.invalidArgument(op: "attention", message: "grad_output must have the shape of out \(shapeText(descriptor.outShape)), got \(shapeText(gradOut.shape))")
        }
        let (qBuffer, kBuffer, vBuffer) = (try backend.makeBuffer(q.values), try backend.makeBuffer(k.values), try backend.makeBuffer(v.values))
        let maskBuffer = try keyMask.map { try backend.makeBuffer($0.values) }
        let out = try backend.makeBuffer(count: descriptor.outShape.reduce(1, *))
        let logSumExp = try backend.makeBuffer(count: descriptor.logSumExpShape.reduce(1, *))
        try backend.attentionForward(descriptor, q: qBuffer, k: kBuffer, v: vBuffer, keyMask: maskBuffer, out: out, logSumExp: logSumExp)
        var result = AttentionResult(out: HostArray(shape: descriptor.outShape, values: try backend.read(out)),
                                     logSumExp: HostArray(shape: descriptor.logSumExpShape, values: try backend.read(logSumExp)))
        guard let gradOut else { return result }
        let upstream = try backend.makeBuffer(gradOut.values)
        let (gradQ, gradK, gradV) = (try backend.makeBuffer(count: q.count), try backend.makeBuffer(count: k.count), try backend.makeBuffer(count: v.count))
        try backend.attentionBackward(descriptor, q: qBuffer, k: kBuffer, v: vBuffer, keyMask: maskBuffer, out: out, logSumExp: logSumExp,
                                      gradOut: upstream, gradQ: gradQ, gradK: gradK, gradV: gradV)
        result.gradQ = HostArray(shape: q.shape, values: try backend.read(gradQ))
        result.gradK = HostArray(shape: k.shape, values: try backend.read(gradK))
        result.gradV = HostArray(shape: v.shape, values: try backend.read(gradV))
        return result
    }
}

/// What `Operations.attention` returns: the gradients only when an upstream gradient was given.
public struct AttentionResult: Sendable {
    public var out: HostArray
    public var logSumExp: HostArray
    public var gradQ: HostArray?
    public var gradK: HostArray?
    public var gradV: HostArray?
}
