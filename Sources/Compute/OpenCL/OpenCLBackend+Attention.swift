import CLRuntime

/// The entry points of `Kernels/attention.cl` and, for GPUs, `Kernels/attention_gpu.cl`.
struct AttentionKernels: KernelFamily {
    let forward: CLKernel
    let delta: CLKernel
    let gradFused: CLKernel
    let gradQReduce: CLKernel
    /// The GPU-style kernels, built only for the GPU variant.
    let gpu: (forward: CLKernel, gradQ: CLKernel, gradKV: CLKernel)?

    init(tuning: OpenCLTuning, program make: (KernelProgram) throws(CLError) -> CLProgram) throws(CLError) {
        let program = try make(.attention), gpuProgram = tuning.variant == .gpu ? try make(.attentionGPU) : nil
        forward = try program.kernel("attention_forward")
        delta = try program.kernel("attention_backward_delta")
        gradFused = try program.kernel("attention_backward")
        gradQReduce = try program.kernel("attention_backward_dq_reduce")
        if let gpuProgram {
            gpu = (try gpuProgram.kernel("attention_forward_gpu"), try gpuProgram.kernel("attention_backward_dq_gpu"),
                   try gpuProgram.kernel("attention_backward_dkdv_gpu"))
        } else {
            gpu = nil
        }
    }
}

extension OpenCLBackend {
    /// The CPU-style kernels give each work-item 16 query (or key) rows in the lanes of a
    /// `float16`, and walk key (or query) blocks with register tiles; the GPU-style ones give a
    /// work-group `attentionWorkGroup` rows and stage tiles through `__local` memory.
    private func attentionGlobalSize(rows: Int, _ descriptor: AttentionDescriptor) -> (global: [Int], local: [Int]) {
        let heads = descriptor.batch * descriptor.heads
        switch tuning.variant {
        case .cpu: return ([ceilDiv(rows, 16), heads], [1, 1])
        case .gpu: return ([roundUp(rows, tuning.attentionWorkGroup), heads], [tuning.attentionWorkGroup, 1])
        }
    }

    private func attentionShapeArguments(_ d: AttentionDescriptor) -> [CLKernel.Argument] {
        [.int32(Int32(d.batch)), .int32(Int32(d.heads)), .int32(Int32(d.queryLength)), .int32(Int32(d.keyLength)),
         .int32(Int32(d.headDimension)), .int32(Int32(d.valueDimension)), .float(d.scale),
         .int32(d.hasKeyMask ? 1 : 0), .int32(d.isCausal ? 1 : 0)]
    }

    /// Why the kernels cannot take these head widths: they hold a row in private memory sized
    /// at build time.
    func attentionLimit(_ descriptor: AttentionDescriptor) -> String? {
        let limit = tuning.attentionMaximumHeadDimension
        return descriptor.headDimension <= limit && descriptor.valueDimension <= limit ? nil
            : "the OpenCL attention kernels take head widths D and Dv up to \(limit), got D = \(descriptor.headDimension), Dv = \(descriptor.valueDimension)"
    }

    private func checkHeadSize(_ descriptor: AttentionDescriptor) throws {
        if let reason = attentionLimit(descriptor) { throw BackendError.unsupported(op: AttentionDescriptor.op, message: reason) }
    }

    public func attentionForward(_ descriptor: AttentionDescriptor, q: Buffer, k: Buffer, v: Buffer, keyMask: Buffer?,
                                 out: Buffer, logSumExp: Buffer) throws {
        try BufferCounts.attentionForward(descriptor, q: q, k: k, v: v, keyMask: keyMask, out: out, logSumExp: logSumExp)
        try checkHeadSize(descriptor)
        // Kernels without a mask still take a buffer argument; a 1-float placeholder serves.
        let maskBuffer = try keyMask ?? makeBuffer(count: 1)
        let launch = attentionGlobalSize(rows: descriptor.queryLength, descriptor)
        try locked("attention") {
            let kernels = try kernels(AttentionKernels.self)
            let kernel = kernels.gpu?.forward ?? kernels.forward
            try kernel.bind([.buffer(q.deviceMemory), .buffer(k.deviceMemory), .buffer(v.deviceMemory), .buffer(maskBuffer.deviceMemory),
                             .buffer(out.deviceMemory), .buffer(logSumExp.deviceMemory)] + attentionShapeArguments(descriptor))
            try queue.enqueue(kernel, global: launch.global, local: launch.local)
        }
    }

    public func attentionBackward(_ descriptor: AttentionDescriptor, q: Buffer, k: Buffer, v: Buffer, keyMask: Buffer?,
                                  out: Buffer, logSumExp: Buffer, gradOut: Buffer, gradQ: Buffer, gradK: Buffer, gradV: Buffer) throws {
        try BufferCounts.attentionBackward(descriptor, q: q, k: k, v: v, keyMask: keyMask, out: out, logSumExp: logSumExp, gradOut: gradOut, gradQ: gradQ, gradK: gradK, gradV: gradV)
        try checkHeadSize(descriptor)
        let maskBuffer = try keyMask ?? makeBuffer(count: 1)
        // delta_i = dout_i · out_i, the only extra memory of the backward: [B, H, Lq].
        let rows = descriptor.batch * descriptor.heads * descriptor.queryLength
        let delta = try makeBuffer(count: rows)
        let queries = attentionGlobalSize(rows: descriptor.queryLength, descriptor)
        let keys = attentionGlobalSize(rows: descriptor.keyLength, descriptor)
        // CPU style: one work-item per (key chunk, head). With fewer heads than the device has
        // work for, each head's keys are split into `chunks` whose partial dq go to a scratch
        // buffer (chunks × B·H·Lq·D floats, O(Lq·D) per head) and are summed in key order.
        let heads = descriptor.batch * descriptor.heads
        let units = max(1, device.computeUnits)
        let chunks = heads >= 8 * units ? 1 : min(ceilDiv(descriptor.keyLength, 16), ceilDiv(4 * units, heads))
        let partialGradQ = try tuning.variant == .cpu && chunks > 1
            ? makeBuffer(count: chunks * heads * descriptor.queryLength * descriptor.headDimension) : maskBuffer
        try locked("attention backward") {
            let kernels = try kernels(AttentionKernels.self)
            let group = tuning.attentionDeltaWorkGroup
            try kernels.delta.bind(.buffer(out.deviceMemory), .buffer(gradOut.deviceMemory), .buffer(delta.deviceMemory),
                                   .int32(Int32(descriptor.batch)), .int32(Int32(descriptor.heads)), .int32(Int32(descriptor.queryLength)),
                                   .int32(Int32(descriptor.valueDimension)))
            try queue.enqueue(kernels.delta, global: [roundUp(rows, group)], local: [group])
            let common: [CLKernel.Argument] = [.buffer(q.deviceMemory), .buffer(k.deviceMemory), .buffer(v.deviceMemory),
                                               .buffer(maskBuffer.deviceMemory), .buffer(logSumExp.deviceMemory),
                                               .buffer(delta.deviceMemory), .buffer(gradOut.deviceMemory)]
            let shape = attentionShapeArguments(descriptor)
            if let gpu = kernels.gpu {
                // Two kernels, one owning query rows (dq), one owning key rows (dk, dv): no atomics.
                try gpu.gradQ.bind(common + [.buffer(gradQ.deviceMemory)] + shape)
                try queue.enqueue(gpu.gradQ, global: queries.global, local: queries.local)
                try gpu.gradKV.bind(common + [.buffer(gradK.deviceMemory), .buffer(gradV.deviceMemory)] + shape)
                try queue.enqueue(gpu.gradKV, global: keys.global, local: keys.local)
                return
            }
            // S and dP formed once per tile for dq, dk and dv: 5 matrix passes, no atomics.
            try kernels.gradFused.bind(common + [.buffer(gradQ.deviceMemory), .buffer(gradK.deviceMemory), .buffer(gradV.deviceMemory),
                                                 .buffer(partialGradQ.deviceMemory)] + shape)
            try queue.enqueue(kernels.gradFused, global: [chunks, heads], local: [1, 1])
            if chunks > 1 {
                try kernels.gradQReduce.bind(.buffer(partialGradQ.deviceMemory), .buffer(gradQ.deviceMemory),
                                             .int32(Int32(descriptor.batch)), .int32(Int32(descriptor.heads)),
                                             .int32(Int32(descriptor.queryLength)), .int32(Int32(descriptor.headDimension)),
                                             .int32(Int32(chunks)), .float(descriptor.scale))
                try queue.enqueue(kernels.gradQReduce, global: [ceilDiv(descriptor.queryLength * descriptor.headDimension, 64), heads], local: [1, 1])
            }
        }
    }
}
