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
        let gpu = tuning.variant == .gpu
        layerNormForward = try layerNorm.kernel("layernorm_forward", gpu: gpu)
        layerNormBackward = try layerNorm.kernel("layernorm_backward", gpu: gpu)
        layerNormReduce = try layerNorm.kernel("layernorm_backward_reduce", gpu: gpu)
        geluForward = try activation.kernel("gelu_forward", gpu: gpu)
        geluBackward = try activation.kernel("gelu_backward", gpu: gpu)
        adamW = try optimizer.kernel("adamw_step", gpu: gpu)
    }
}

extension OpenCLBackend {
    /// GELU and AdamW: `elementsPerItem` consecutive floats per work-item (CPU variant), or as
    /// the elementwise kernels (GPU variant).
    private func elementsLaunch(_ count: Int) -> Grid {
        tuning.variant == .cpu ? Grid(global: [max(1, ceilDiv(count, tuning.elementsPerItem))], local: [1]) : elementwiseLaunch(count)
    }

    public func layerNormForward(_ descriptor: LayerNormDescriptor, x: Buffer, weight: Buffer, bias: Buffer, y: Buffer,
                                 mean: Buffer, reciprocalStd: Buffer) throws {
        try BufferCounts.layerNormForward(descriptor, x: x, weight: weight, bias: bias, y: y, mean: mean, reciprocalStd: reciprocalStd)
        try locked("layernorm") {
            let kernel = try kernels(TrainingKernels.self).layerNormForward
            try kernel.bind(.buffer(x.deviceMemory), .buffer(weight.deviceMemory), .buffer(bias.deviceMemory), .buffer(y.deviceMemory),
                            .buffer(mean.deviceMemory), .buffer(reciprocalStd.deviceMemory), .int32(Int32(descriptor.rows)),
                            .int32(Int32(descriptor.columns)), .float(descriptor.epsilon))
            switch tuning.variant {
            case .cpu: try queue.enqueue(kernel, global: [roundUp(descriptor.rows, 8)], local: [8])
            case .gpu: try queue.enqueue(kernel, global: [descriptor.rows * tuning.rowWorkGroup], local: [tuning.rowWorkGroup])
            }
        }
    }

    public func layerNormBackward(_ descriptor: LayerNormDescriptor, x: Buffer, weight: Buffer, mean: Buffer, reciprocalStd: Buffer,
                                  gradY: Buffer, gradX: Buffer, gradWeight: Buffer, gradBias: Buffer) throws {
        try BufferCounts.layerNormBackward(descriptor, x: x, weight: weight, mean: mean, reciprocalStd: reciprocalStd, gradY: gradY, gradX: gradX, gradWeight: gradWeight, gradBias: gradBias)
        // The weight and bias gradients sum over rows: partial sums per chunk of rows, then added
        // in chunk order. A work-item per chunk of `layerNormRowChunk` rows (CPU variant), or a
        // work-group per chunk, about four per compute unit (GPU variant).
        let group = tuning.rowWorkGroup
        let chunks = tuning.variant == .cpu ? ceilDiv(descriptor.rows, tuning.layerNormRowChunk) : min(descriptor.rows, 4 * max(1, device.computeUnits))
        let partialWeight = try makeBuffer(count: chunks * descriptor.columns), partialBias = try makeBuffer(count: chunks * descriptor.columns)
        try locked("layernorm backward") {
            let kernels = try kernels(TrainingKernels.self)
            try kernels.layerNormBackward.bind(.buffer(x.deviceMemory), .buffer(weight.deviceMemory), .buffer(mean.deviceMemory),
                                               .buffer(reciprocalStd.deviceMemory), .buffer(gradY.deviceMemory), .buffer(gradX.deviceMemory),
                                               .buffer(partialWeight.deviceMemory), .buffer(partialBias.deviceMemory),
                                               .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.columns)))
            switch tuning.variant {
            case .cpu: try queue.enqueue(kernels.layerNormBackward, global: [chunks], local: [1])
            case .gpu: try queue.enqueue(kernels.layerNormBackward, global: [chunks * group], local: [group])
            }
            try kernels.layerNormReduce.bind(.buffer(partialWeight.deviceMemory), .buffer(partialBias.deviceMemory),
                                             .buffer(gradWeight.deviceMemory), .buffer(gradBias.deviceMemory),
                                             .int32(Int32(chunks)), .int32(Int32(descriptor.columns)))
            switch tuning.variant {
            case .cpu: try queue.enqueue(kernels.layerNormReduce, global: [ceilDiv(descriptor.columns, 16)], local: [1])
            case .gpu: try queue.enqueue(kernels.layerNormReduce, global: [ceilDiv(descriptor.columns, tuning.layerNormReduceColumns) * group], local: [group])
            }
        }
    }

    public func geluForward(_ descriptor: GELUDescriptor, x: Buffer, y: Buffer) throws {
        try BufferCounts.geluForward(descriptor, x: x, y: y)
        try locked("gelu") {
            let kernel = try kernels(TrainingKernels.self).geluForward
            try kernel.bind(.buffer(x.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(descriptor.count)),
                            .int32(descriptor.approximation.kernelCode))
            try queue.enqueue(kernel, elementsLaunch(descriptor.count))
        }
    }

    public func geluBackward(_ descriptor: GELUDescriptor, x: Buffer, gradY: Buffer, gradX: Buffer) throws {
        try BufferCounts.geluBackward(descriptor, x: x, gradY: gradY, gradX: gradX)
        try locked("gelu backward") {
            let kernel = try kernels(TrainingKernels.self).geluBackward
            try kernel.bind(.buffer(x.deviceMemory), .buffer(gradY.deviceMemory), .buffer(gradX.deviceMemory), .int32(Int32(descriptor.count)),
                            .int32(descriptor.approximation.kernelCode))
            try queue.enqueue(kernel, elementsLaunch(descriptor.count))
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
            try queue.enqueue(kernel, elementsLaunch(descriptor.count))
        }
    }
}
