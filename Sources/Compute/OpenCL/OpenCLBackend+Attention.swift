import CLRuntime

/// The entry points of `Kernels/attention.cl` (CPU variant).
struct AttentionKernels: KernelFamily {
    let forward: CLKernel
    let delta: CLKernel
    let gradFused: CLKernel
    let gradQReduce: CLKernel

    init(tuning: OpenCLTuning, program make: (KernelProgram) throws(CLError) -> CLProgram) throws(CLError) {
        let program = try make(.attention)
        forward = try program.kernel("attention_forward")
        delta = try program.kernel("attention_backward_delta")
        gradFused = try program.kernel("attention_backward")
        gradQReduce = try program.kernel("attention_backward_dq_reduce")
    }
}

/// The kernels of `Kernels/attention_gpu.cl` built for one head-width bucket, with its tiles.
struct AttentionGPUKernels {
    let tiles: AttentionTiles
    let forward: CLKernel, delta: CLKernel, gradQ: CLKernel, gradKV: CLKernel

    func launch(_ block: AttentionTiles.Block, rows: Int, heads: Int) -> (global: [Int], local: [Int]) {
        ([ceilDiv(rows, block.owned) * block.workGroupSize, heads], [block.workGroupSize, 1])
    }
}

extension OpenCLBackend {
    /// The GPU-class kernels for this descriptor's head widths, tiled for the device. Call with
    /// `lock` held.
    private func attentionGPUKernels(_ descriptor: AttentionDescriptor) throws -> AttentionGPUKernels {
        guard let tiles = AttentionTiles.pick(headWidth: max(descriptor.headDimension, descriptor.valueDimension), limits: tuning.limits) else {
            throw BackendError.unsupported(op: AttentionDescriptor.op, message: attentionLimit(descriptor) ?? "head too wide")
        }
        func kernel(_ name: String, _ workGroupSize: Int) throws -> CLKernel {
            try specializedKernel(name, of: .attentionGPU, tiles: tiles, workGroupSize: workGroupSize)
        }
        return AttentionGPUKernels(tiles: tiles, forward: try kernel("attention_forward_gpu", tiles.forward.workGroupSize),
                                   delta: try kernel("attention_backward_delta_gpu", tiles.deltaWorkGroup),
                                   gradQ: try kernel("attention_backward_dq_gpu", tiles.gradQ.workGroupSize),
                                   gradKV: try kernel("attention_backward_dkdv_gpu", tiles.gradKV.workGroupSize))
    }

    private func attentionShapeArguments(_ d: AttentionDescriptor) -> [CLKernel.Argument] {
        [.int32(Int32(d.batch)), .int32(Int32(d.heads)), .int32(Int32(d.queryLength)), .int32(Int32(d.keyLength)),
         .int32(Int32(d.headDimension)), .int32(Int32(d.valueDimension)), .float(d.scale),
         .int32(d.hasKeyMask ? 1 : 0), .int32(d.isCausal ? 1 : 0)]
    }

    /// Why the kernels cannot take these head widths: the CPU variant holds a row in private
    /// memory sized at build time; the GPU variant pads `__local` rows to the head width.
    func attentionLimit(_ descriptor: AttentionDescriptor) -> String? {
        let limit = tuning.variant == .cpu ? tuning.attentionMaximumHeadDimension : AttentionTiles.maximumHeadWidth
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
        let heads = descriptor.batch * descriptor.heads
        try locked("attention") {
            let arguments: [CLKernel.Argument] = [.buffer(q.deviceMemory), .buffer(k.deviceMemory), .buffer(v.deviceMemory), .buffer(maskBuffer.deviceMemory),
                                                  .buffer(out.deviceMemory), .buffer(logSumExp.deviceMemory)] + attentionShapeArguments(descriptor)
            switch tuning.variant {
            case .cpu:
                // Each work-item owns 16 query rows in the lanes of a `float16`.
                let kernel = try kernels(AttentionKernels.self).forward
                try kernel.bind(arguments)
                try queue.enqueue(kernel, global: [ceilDiv(descriptor.queryLength, 16), heads], local: [1, 1])
            case .gpu:
                let gpu = try attentionGPUKernels(descriptor)
                let launch = gpu.launch(gpu.tiles.forward, rows: descriptor.queryLength, heads: heads)
                try gpu.forward.bind(arguments)
                try queue.enqueue(gpu.forward, global: launch.global, local: launch.local)
            }
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
        let heads = descriptor.batch * descriptor.heads
        let deltaArguments: [CLKernel.Argument] = [.buffer(out.deviceMemory), .buffer(gradOut.deviceMemory), .buffer(delta.deviceMemory),
                                                   .int32(Int32(descriptor.batch)), .int32(Int32(descriptor.heads)),
                                                   .int32(Int32(descriptor.queryLength)), .int32(Int32(descriptor.valueDimension))]
        let common: [CLKernel.Argument] = [.buffer(q.deviceMemory), .buffer(k.deviceMemory), .buffer(v.deviceMemory),
                                           .buffer(maskBuffer.deviceMemory), .buffer(logSumExp.deviceMemory),
                                           .buffer(delta.deviceMemory), .buffer(gradOut.deviceMemory)]
        let shape = attentionShapeArguments(descriptor)
        if tuning.variant == .gpu {
            try locked("attention backward") {
                // Two kernels from the saved log-sum-exp, one owning query blocks (dq), one owning
                // key blocks (dk, dv): no atomics.
                let gpu = try attentionGPUKernels(descriptor)
                let group = gpu.tiles.deltaWorkGroup
                try gpu.delta.bind(deltaArguments)
                try queue.enqueue(gpu.delta, global: [ceilDiv(rows, group / gpu.tiles.deltaItemsPerRow) * group], local: [group])
                let queries = gpu.launch(gpu.tiles.gradQ, rows: descriptor.queryLength, heads: heads)
                try gpu.gradQ.bind(common + [.buffer(gradQ.deviceMemory)] + shape)
                try queue.enqueue(gpu.gradQ, global: queries.global, local: queries.local)
                let keys = gpu.launch(gpu.tiles.gradKV, rows: descriptor.keyLength, heads: heads)
                try gpu.gradKV.bind(common + [.buffer(gradK.deviceMemory), .buffer(gradV.deviceMemory)] + shape)
                try queue.enqueue(gpu.gradKV, global: keys.global, local: keys.local)
            }
            return
        }
        // CPU style: one work-item per (key chunk, head). With fewer heads than the device has
        // work for, each head's keys are split into `chunks` whose partial dq go to a scratch
        // buffer (chunks × B·H·Lq·D floats, O(Lq·D) per head) and are summed in key order.
        let units = max(1, device.computeUnits)
        let chunks = heads >= 8 * units ? 1 : min(ceilDiv(descriptor.keyLength, 16), ceilDiv(4 * units, heads))
        let partialGradQ = try chunks > 1 ? makeBuffer(count: chunks * heads * descriptor.queryLength * descriptor.headDimension) : maskBuffer
        try locked("attention backward") {
            let kernels = try kernels(AttentionKernels.self)
            let group = tuning.attentionDeltaWorkGroup
            try kernels.delta.bind(deltaArguments)
            try queue.enqueue(kernels.delta, global: [roundUp(rows, group)], local: [group])
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
