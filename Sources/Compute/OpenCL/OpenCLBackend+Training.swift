import CLRuntime

/// The entry points of `Kernels/layernorm.cl`, `activation.cl` and `optimizer.cl`.
struct TrainingKernels: KernelFamily {
    let layerNormForward: CLKernel
    let layerNormBackward: CLKernel
    let layerNormReduce: CLKernel
    let geluForward: CLKernel
    let geluBackward: CLKernel
    let adamW: CLKernel

    init(tuning: OpenCLTuning, program make: (KernelProgram) throws(CLError) -> CLProgram) throws(CLError) {
        let (layerNorm, activation, optimizer) = (try make(.layerNorm), try make(.activation), try make(.optimizer))
        layerNormForward = try layerNorm.kernel("layernorm_forward")
        layerNormBackward = try layerNorm.kernel("layernorm_backward")
        layerNormReduce = try layerNorm.kernel("layernorm_backward_reduce")
        geluForward = try activation.kernel("gelu_forward")
        geluBackward = try activation.kernel("gelu_backward")
        adamW = try optimizer.kernel("adamw_step")
    }
}

extension OpenCLBackend {
    public func layerNormForward(_ descriptor: LayerNormDescriptor, x: Buffer, weight: Buffer, bias: Buffer, y: Buffer,
                                 mean: Buffer, reciprocalStd: Buffer) throws {
        try BufferCounts.layerNormForward(descriptor, x: x, weight: weight, bias: bias, y: y, mean: mean, reciprocalStd: reciprocalStd)
        try locked("layernorm") {
            let kernel = try kernels(TrainingKernels.self).layerNormForward
            try kernel.bind(.buffer(x.deviceMemory), .buffer(weight.deviceMemory), .buffer(bias.deviceMemory), .buffer(y.deviceMemory),
                            .buffer(mean.deviceMemory), .buffer(reciprocalStd.deviceMemory), .int32(Int32(descriptor.rows)),
                            .int32(Int32(descriptor.columns)), .float(descriptor.epsilon))
            try queue.enqueue(kernel, global: [roundUp(descriptor.rows, 8)], local: [8])
        }
    }

    public func layerNormBackward(_ descriptor: LayerNormDescriptor, x: Buffer, weight: Buffer, mean: Buffer, reciprocalStd: Buffer,
                                  gradY: Buffer, gradX: Buffer, gradWeight: Buffer, gradBias: Buffer) throws {
        try BufferCounts.layerNormBackward(descriptor, x: x, weight: weight, mean: mean, reciprocalStd: reciprocalStd, gradY: gradY, gradX: gradX, gradWeight: gradWeight, gradBias: gradBias)
        // The weight and bias gradients sum over rows: partial sums per chunk of rows, then added.
        let chunks = ceilDiv(descriptor.rows, tuning.layerNormRowChunk)
        let partialWeight = try makeBuffer(count: chunks * descriptor.columns), partialBias = try makeBuffer(count: chunks * descriptor.columns)
        try locked("layernorm backward") {
            let kernels = try kernels(TrainingKernels.self)
            try kernels.layerNormBackward.bind(.buffer(x.deviceMemory), .buffer(weight.deviceMemory), .buffer(mean.deviceMemory),
                                               .buffer(reciprocalStd.deviceMemory), .buffer(gradY.deviceMemory), .buffer(gradX.deviceMemory),
                                               .buffer(partialWeight.deviceMemory), .buffer(partialBias.deviceMemory),
                                               .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.columns)))
            try queue.enqueue(kernels.layerNormBackward, global: [chunks], local: [1])
            try kernels.layerNormReduce.bind(.buffer(partialWeight.deviceMemory), .buffer(partialBias.deviceMemory),
                                             .buffer(gradWeight.deviceMemory), .buffer(gradBias.deviceMemory),
                                             .int32(Int32(chunks)), .int32(Int32(descriptor.columns)))
            try queue.enqueue(kernels.layerNormReduce, global: [ceilDiv(descriptor.columns, 16)], local: [1])
        }
    }

    public func geluForward(_ descriptor: GELUDescriptor, x: Buffer, y: Buffer) throws {
        try BufferCounts.geluForward(descriptor, x: x, y: y)
        try locked("gelu") {
            let kernel = try kernels(TrainingKernels.self).geluForward
            try kernel.bind(.buffer(x.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(descriptor.count)),
                            .int32(descriptor.approximation == .tanh ? 1 : 0))
            try queue.enqueue(kernel, global: [ceilDiv(descriptor.count, tuning.elementsPerItem)], local: [1])
        }
    }

    public func geluBackward(_ descriptor: GELUDescriptor, x: Buffer, gradY: Buffer, gradX: Buffer) throws {
        try BufferCounts.geluBackward(descriptor, x: x, gradY: gradY, gradX: gradX)
        try locked("gelu backward") {
            let kernel = try kernels(TrainingKernels.self).geluBackward
            try kernel.bind(.buffer(x.deviceMemory), .buffer(gradY.deviceMemory), .buffer(gradX.deviceMemory), .int32(Int32(descriptor.count)),
                            .int32(descriptor.approximation == .tanh ? 1 : 0))
            try queue.enqueue(kernel, global: [ceilDiv(descriptor.count, tuning.elementsPerItem)], local: [1])
        }
    }

    public func adamWStep(_ descriptor: AdamWDescriptor, parameters: Buffer, gradients: Buffer, firstMoment: Buffer, secondMoment: Buffer) throws {
        try BufferCounts.adamWStep(descriptor, parameters: parameters, gradients: gradients, firstMoment: firstMoment, secondMoment: secondMoment)
        let (c1, c2) = descriptor.corrections
        try locked("adamw") {
            let kernel = try kernels(TrainingKernels.self).adamW
            try kernel.bind(.buffer(parameters.deviceMemory), .buffer(gradients.deviceMemory), .buffer(firstMoment.deviceMemory),
                            .buffer(secondMoment.deviceMemory), .int32(Int32(descriptor.count)), .float(descriptor.learningRate),
                            .float(descriptor.beta1), .float(descriptor.beta2), .float(descriptor.epsilon), .float(descriptor.weightDecay),
                            .float(c1), .float(c2))
            try queue.enqueue(kernel, global: [ceilDiv(descriptor.count, tuning.elementsPerItem)], local: [1])
        }
    }
}
