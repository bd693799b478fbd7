import CLRuntime

/// The entry points of `Kernels/infonce.cl` (CPU variant), or of `infonce_gpu.cl` and the
/// mutual-information kernels of `infonce_chunks_gpu.cl` (GPU variant).
struct InfoNCEKernels: KernelFamily {
    let normalize: CLKernel
    let normalizeBackward: CLKernel
    let rowStatistics: CLKernel
    let backwardRows: CLKernel
    let logits: CLKernel
    let mutualInformationForward: CLKernel
    let mutualInformationBackward: CLKernel

    init(tuning: OpenCLTuning, program make: (KernelProgram) throws(CLError) -> CLProgram) throws(CLError) {
        let gpu = tuning.variant == .gpu
        let program = try make(gpu ? .infoNCEGPU : .infoNCE), information = gpu ? try make(.infoNCEChunksGPU) : program
        normalize = try program.kernel("infonce_normalize", gpu: gpu)
        normalizeBackward = try program.kernel("infonce_normalize_backward", gpu: gpu)
        rowStatistics = try program.kernel("infonce_row_stats", gpu: gpu)
        backwardRows = try program.kernel("infonce_backward_rows", gpu: gpu)
        logits = try program.kernel("infonce_logits", gpu: gpu)
        mutualInformationForward = try information.kernel("mutual_information_forward", gpu: gpu)
        mutualInformationBackward = try information.kernel("mutual_information_backward", gpu: gpu)
    }
}

extension OpenCLBackend {
    /// CPU-style: a work-item owns `16 × infoNCERowPanels` rows (16 in the lanes of a `float16`);
    /// GPU-style: a work-group owns a block of rows and walks tiles of columns.
    private func infoNCERowLaunch(rows: Int, groups: Int) -> Grid {
        switch tuning.variant {
        case .cpu: return Grid(global: [ceilDiv(rows, 16 * tuning.infoNCERowPanels), groups], local: [1, 1])
        case .gpu:
            let tiles = tuning.infoNCETiles
            return Grid(global: [tiles.tileColumns, ceilDiv(rows, tiles.blockRows) * tiles.tileRows, groups],
                        local: [tiles.tileColumns, tiles.tileRows, 1])
        }
    }

    /// The normalisation and other row kernels: `infoNCEElementGroup` rows per work-group
    /// (CPU variant), or `rowsPerGroup` rows of `rowLanes` work-items each (GPU variant).
    private func infoNCEReductionLaunch(rows: Int) -> Grid {
        switch tuning.variant {
        case .cpu: return Grid(global: [roundUp(rows, tuning.infoNCEElementGroup)], local: [tuning.infoNCEElementGroup])
        case .gpu:
            let tiles = tuning.infoNCETiles
            return Grid(global: [tiles.rowLanes, roundUp(rows, tiles.rowsPerGroup)], local: [tiles.rowLanes, tiles.rowsPerGroup])
        }
    }

    /// Why the tile kernels (and the logits kernel) cannot take this D: they hold a row in
    /// private memory sized at build time. The chunks and the normalisation take any D.
    func infoNCETileLimit(_ descriptor: InfoNCEDescriptor) -> String? {
        descriptor.dimension <= tuning.infoNCEMaximumDimension ? nil
            : "the OpenCL InfoNCE tile kernels take D up to \(tuning.infoNCEMaximumDimension), got \(descriptor.dimension)"
    }

    private func requireTiles(_ descriptor: InfoNCEDescriptor) throws {
        if let reason = infoNCETileLimit(descriptor) { throw BackendError.unsupported(op: InfoNCEDescriptor.op, message: reason) }
    }

    /// Target arguments of a pass; buffers the target kind does not read get a placeholder.
    private func targetArguments(_ pass: InfoNCEPass, placeholder: Buffer) -> [CLKernel.Argument] {
        [.buffer((pass.labelsX ?? placeholder).deviceMemory), .buffer((pass.labelsY ?? placeholder).deviceMemory),
         .buffer((pass.softTargets ?? placeholder).deviceMemory)]
    }

    public func infoNCENormalize(_ descriptor: InfoNCEDescriptor, x: Buffer, rows: Int, normalized: Buffer, norms: Buffer) throws {
        try locked("infonce") {
            let kernel = try kernels(InfoNCEKernels.self).normalize
            try kernel.bind(.buffer(x.deviceMemory), .buffer(normalized.deviceMemory), .buffer(norms.deviceMemory), .int32(Int32(rows)),
                            .int32(Int32(descriptor.dimension)), .float(descriptor.epsilon), .int32(descriptor.normalizes ? 1 : 0))
            try queue.enqueue(kernel, infoNCEReductionLaunch(rows: rows))
        }
    }

    public func infoNCERowStatistics(_ descriptor: InfoNCEDescriptor, _ pass: InfoNCEPass, statistics: InfoNCEStatistics) throws {
        try requireTiles(descriptor)
        let placeholder = try makeBuffer(count: 1)
        let launch = infoNCERowLaunch(rows: pass.rows, groups: descriptor.groups)
        try locked("infonce") {
            let kernel = try kernels(InfoNCEKernels.self).rowStatistics
            try kernel.bind([.buffer(pass.x.deviceMemory), .buffer(pass.y.deviceMemory)] + targetArguments(pass, placeholder: placeholder)
                + [.buffer(statistics.logSumExp.deviceMemory), .buffer(statistics.targetDot.deviceMemory), .buffer(statistics.targetMass.deviceMemory),
                   .int32(Int32(descriptor.groups)), .int32(Int32(pass.rows)), .int32(Int32(pass.columns)), .int32(Int32(descriptor.dimension)),
                   .float(descriptor.scale), .int32(descriptor.targets.rawValue), .int32(pass.transposed ? 1 : 0)])
            try queue.enqueue(kernel, launch)
        }
    }

    public func infoNCEBackwardRows(_ descriptor: InfoNCEDescriptor, _ pass: InfoNCEPass, own: InfoNCEStatistics, other: InfoNCEStatistics?,
                                    ownCoefficient: Float, otherCoefficient: Float, gradNormalized: Buffer, gradScalePartial: Buffer) throws {
        try requireTiles(descriptor)
        let placeholder = try makeBuffer(count: 1)
        let launch = infoNCERowLaunch(rows: pass.rows, groups: descriptor.groups)
        // A zero coefficient switches a direction off; its statistics are then not read.
        let otherStatistics = other ?? own
        try locked("infonce backward") {
            let kernel = try kernels(InfoNCEKernels.self).backwardRows
            try kernel.bind([.buffer(pass.x.deviceMemory), .buffer(pass.y.deviceMemory)] + targetArguments(pass, placeholder: placeholder)
                + [.buffer(own.logSumExp.deviceMemory), .buffer(own.targetMass.deviceMemory),
                   .buffer(otherStatistics.logSumExp.deviceMemory), .buffer(otherStatistics.targetMass.deviceMemory),
                   .buffer(gradNormalized.deviceMemory), .buffer(gradScalePartial.deviceMemory),
                   .int32(Int32(descriptor.groups)), .int32(Int32(pass.rows)), .int32(Int32(pass.columns)), .int32(Int32(descriptor.dimension)),
                   .float(descriptor.scale), .int32(descriptor.targets.rawValue), .int32(pass.transposed ? 1 : 0),
                   .float(ownCoefficient), .float(otherCoefficient)])
            try queue.enqueue(kernel, launch)
        }
    }

    public func infoNCENormalizeBackward(_ descriptor: InfoNCEDescriptor, x: Buffer, rows: Int, norms: Buffer, gradNormalized: Buffer, gradX: Buffer) throws {
        try locked("infonce backward") {
            let kernel = try kernels(InfoNCEKernels.self).normalizeBackward
            try kernel.bind(.buffer(x.deviceMemory), .buffer(norms.deviceMemory), .buffer(gradNormalized.deviceMemory), .buffer(gradX.deviceMemory),
                            .int32(Int32(rows)), .int32(Int32(descriptor.dimension)), .float(descriptor.epsilon), .int32(descriptor.normalizes ? 1 : 0))
            try queue.enqueue(kernel, infoNCEReductionLaunch(rows: rows))
        }
    }

    public func infoNCELogits(_ descriptor: InfoNCEDescriptor, normalizedA: Buffer, normalizedB: Buffer, logits: Buffer) throws {
        if infoNCETileLimit(descriptor) != nil {
            // Past the kernel's D: s·âb̂ᵀ per group by GEMM.
            let (g, n, m, d) = (descriptor.groups, descriptor.rows, descriptor.columns, descriptor.dimension)
            try gemm(try GEMMDescriptor(batch: g, m: n, n: m, k: d, transposeB: true, isBatched: true), a: normalizedA, b: normalizedB, c: logits)
            return try scale(logits, by: descriptor.scale, into: logits, count: g * n * m)
        }
        try locked("infonce") {
            let kernel = try kernels(InfoNCEKernels.self).logits
            try kernel.bind(.buffer(normalizedA.deviceMemory), .buffer(normalizedB.deviceMemory), .buffer(logits.deviceMemory),
                            .int32(Int32(descriptor.groups)), .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.columns)),
                            .int32(Int32(descriptor.dimension)), .float(descriptor.scale))
            let tiles = tuning.infoNCETiles
            switch tuning.variant {
            case .cpu: try queue.enqueue(kernel, global: [ceilDiv(descriptor.rows, 16), descriptor.groups], local: [1, 1])
            case .gpu:
                try queue.enqueue(kernel, global: [ceilDiv(descriptor.columns, tiles.blockColumns) * tiles.tileColumns,
                                                   ceilDiv(descriptor.rows, tiles.blockRows) * tiles.tileRows, descriptor.groups],
                                  local: [tiles.tileColumns, tiles.tileRows, 1])
            }
        }
    }

    public func mutualInformationForward(_ descriptor: MutualInformationDescriptor, scores: Buffer, bounds: Buffer, statistics: Buffer) throws {
        try BufferCounts.mutualInformationForward(descriptor, scores: scores, bounds: bounds, statistics: statistics)
        try locked("mutual-information") {
            let kernel = try kernels(InfoNCEKernels.self).mutualInformationForward
            try kernel.bind(.buffer(scores.deviceMemory), .buffer(bounds.deviceMemory), .buffer(statistics.deviceMemory),
                            .int32(Int32(descriptor.groups)), .int32(Int32(descriptor.size)), .int32(descriptor.estimator.rawValue))
            // One work-item (CPU variant) or one work-group (GPU variant) per group.
            let tiles = tuning.infoNCETiles
            switch tuning.variant {
            case .cpu: try queue.enqueue(kernel, global: [descriptor.groups], local: [1])
            case .gpu: try queue.enqueue(kernel, global: [tiles.rowLanes, tiles.rowsPerGroup, descriptor.groups], local: [tiles.rowLanes, tiles.rowsPerGroup, 1])
            }
        }
    }

    public func mutualInformationBackward(_ descriptor: MutualInformationDescriptor, scores: Buffer, statistics: Buffer, gradBounds: Buffer,
                                          gradScores: Buffer) throws {
        try BufferCounts.mutualInformationBackward(descriptor, scores: scores, statistics: statistics, gradBounds: gradBounds, gradScores: gradScores)
        try locked("mutual-information backward") {
            let kernel = try kernels(InfoNCEKernels.self).mutualInformationBackward
            try kernel.bind(.buffer(scores.deviceMemory), .buffer(statistics.deviceMemory), .buffer(gradBounds.deviceMemory),
                            .buffer(gradScores.deviceMemory), .int32(Int32(descriptor.groups)), .int32(Int32(descriptor.size)),
                            .int32(descriptor.estimator.rawValue))
            try queue.enqueue(kernel, infoNCEReductionLaunch(rows: descriptor.groups * descriptor.size))
        }
    }
}
