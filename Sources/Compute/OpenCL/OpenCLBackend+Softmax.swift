import CLRuntime

/// The entry points of `Kernels/softmax.cl`.
struct SoftmaxKernels: KernelFamily {
    let forwardRowwise: CLKernel
    let backwardRowwise: CLKernel
    let forwardWorkGroup: CLKernel
    let backwardWorkGroup: CLKernel

    init(tuning: OpenCLTuning, program make: (KernelProgram) throws(CLError) -> CLProgram) throws(CLError) {
        let program = try make(.softmax)
        forwardRowwise = try program.kernel("softmax_forward_rowwise")
        backwardRowwise = try program.kernel("softmax_backward_rowwise")
        forwardWorkGroup = try program.kernel("softmax_forward_workgroup")
        backwardWorkGroup = try program.kernel("softmax_backward_workgroup")
    }
}

extension OpenCLBackend {
    public func softmaxForward(_ descriptor: SoftmaxDescriptor, x: Buffer, mask: Buffer?, y: Buffer) throws {
        try BufferCounts.softmaxForward(descriptor, x: x, mask: mask, y: y)
        try launchSoftmax({ $0.variant == .cpu ? $1.forwardRowwise : $1.forwardWorkGroup }, descriptor, x, mask, nil, y)
    }

    public func softmaxBackward(_ descriptor: SoftmaxDescriptor, y: Buffer, gradY: Buffer, mask: Buffer?, gradX: Buffer) throws {
        try BufferCounts.softmaxBackward(descriptor, y: y, gradY: gradY, mask: mask, gradX: gradX)
        try launchSoftmax({ $0.variant == .cpu ? $1.backwardRowwise : $1.backwardWorkGroup }, descriptor, y, mask, gradY, gradX)
    }

    /// Forward takes (x, mask, y); backward (y, dy, mask, dx): the same launch either way.
    private func launchSoftmax(_ pick: (OpenCLTuning, SoftmaxKernels) -> CLKernel, _ descriptor: SoftmaxDescriptor, _ input: Buffer, _ mask: Buffer?,
                               _ upstream: Buffer?, _ output: Buffer) throws {
        // Kernels without a mask still take a buffer argument; a 1-float placeholder serves.
        let placeholder = mask == nil ? try makeBuffer(count: 1) : nil
        let maskMemory = (mask ?? placeholder!).deviceMemory
        try locked(upstream == nil ? "softmax" : "softmax backward") {
            let kernel = pick(tuning, try kernels(SoftmaxKernels.self))
            var arguments: [CLKernel.Argument] = [.buffer(input.deviceMemory)]
            if let upstream { arguments.append(.buffer(upstream.deviceMemory)) }
            arguments += [.buffer(maskMemory), .buffer(output.deviceMemory), .int32(Int32(descriptor.rows)),
                          .int32(Int32(descriptor.columns)), .float(descriptor.scale), .int32(descriptor.hasMask ? 1 : 0),
                          .int32(descriptor.isLog ? 1 : 0)]
            try kernel.bind(arguments)
            switch tuning.variant {
            case .cpu:
                let group = tuning.softmaxRowsPerGroup
                try queue.enqueue(kernel, global: [roundUp(descriptor.rows, group)], local: [group])
            case .gpu:
                let group = tuning.rowWorkGroup
                try queue.enqueue(kernel, global: [descriptor.rows * group], local: [group])
            }
        }
    }
}
