import CLRuntime

/// The entry points of `Kernels/infonce_chunks.cl` (CPU variant) or `infonce_chunks_gpu.cl`.
struct InfoNCEChunkKernels: KernelFamily {
    let labelWeights: CLKernel
    let rowStatistics: CLKernel
    let columnStatistics: CLKernel
    let gradient: CLKernel

    init(tuning: OpenCLTuning, program make: (KernelProgram) throws(CLError) -> CLProgram) throws(CLError) {
        let gpu = tuning.variant == .gpu, program = try make(gpu ? .infoNCEChunksGPU : .infoNCEChunks)
        labelWeights = try program.kernel("infonce_label_weights", gpu: gpu)
        rowStatistics = try program.kernel("infonce_chunk_row_stats", gpu: gpu)
        columnStatistics = try program.kernel("infonce_chunk_column_stats", gpu: gpu)
        gradient = try program.kernel("infonce_chunk_gradient", gpu: gpu)
    }
}

extension OpenCLBackend {
    /// A chunk's rows: 8 per work-group, a work-item each (CPU variant), or `rowsPerGroup` rows
    /// of `rowLanes` work-items each (GPU variant).
    private func chunkRowLaunch(_ rows: Int, groups: Int) -> Grid {
        let tiles = tuning.infoNCETiles
        return tuning.variant == .cpu ? Grid(global: [roundUp(rows, 8), groups], local: [8, 1])
            : Grid(global: [tiles.rowLanes, roundUp(rows, tiles.rowsPerGroup), groups], local: [tiles.rowLanes, tiles.rowsPerGroup, 1])
    }

    public func infoNCELabelWeights(own: Buffer, ownCount: Int, other: Buffer, otherCount: Int, weights: Buffer) throws {
        try locked("infonce") {
            let kernel = try kernels(InfoNCEChunkKernels.self).labelWeights
            try kernel.bind(.buffer(own.deviceMemory), .buffer(other.deviceMemory), .int32(Int32(ownCount)), .int32(Int32(otherCount)),
                            .buffer(weights.deviceMemory))
            let group = tuning.variant == .cpu ? 8 : tuning.infoNCETiles.labelGroup
            try queue.enqueue(kernel, global: [roundUp(ownCount, group)], local: [group])
        }
    }

    public func infoNCEChunkRowStatistics(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk, statistics: InfoNCEStatistics) throws {
        let placeholder = try makeBuffer(count: 1)
        try locked("infonce") {
            let kernel = try kernels(InfoNCEChunkKernels.self).rowStatistics
            try kernel.bind([.buffer(chunk.scores.deviceMemory)] + targetArguments(chunk, placeholder: placeholder, columnWeights: false)
                + [.buffer(statistics.logSumExp.deviceMemory), .buffer(statistics.targetDot.deviceMemory),
                   .buffer(statistics.targetMass.deviceMemory)] + shapeArguments(descriptor, chunk))
            try queue.enqueue(kernel, chunkRowLaunch(chunk.count, groups: descriptor.groups))
        }
    }

    public func infoNCEChunkColumnStatistics(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk, runningMaximum: Buffer, runningSum: Buffer,
                                             statistics: InfoNCEStatistics) throws {
        let placeholder = try makeBuffer(count: 1)
        try locked("infonce") {
            let kernel = try kernels(InfoNCEChunkKernels.self).columnStatistics
            let arguments: [CLKernel.Argument] = [.buffer(chunk.scores.deviceMemory)]
                + targetArguments(chunk, placeholder: placeholder, rowWeights: false)
                + [.buffer(runningMaximum.deviceMemory), .buffer(runningSum.deviceMemory), .buffer(statistics.logSumExp.deviceMemory),
                   .buffer(statistics.targetDot.deviceMemory), .buffer(statistics.targetMass.deviceMemory)]
            try kernel.bind(arguments + shapeArguments(descriptor, chunk))
            // Consecutive work-items own consecutive columns (GPU variant: `columnRowLanes` of
            // them split the chunk's rows, merged in lane order).
            let tiles = tuning.infoNCETiles
            switch tuning.variant {
            case .cpu: try queue.enqueue(kernel, global: [ceilDiv(descriptor.columns, 16), descriptor.groups], local: [1, 1])
            case .gpu:
                try queue.enqueue(kernel, global: [roundUp(descriptor.columns, tiles.columnLanes), tiles.columnRowLanes, descriptor.groups],
                                  local: [tiles.columnLanes, tiles.columnRowLanes, 1])
            }
        }
    }

    public func infoNCEChunkGradient(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk, rows: InfoNCEStatistics, columns: InfoNCEStatistics,
                                     rowCoefficient: Float, columnCoefficient: Float, gradScalePartial: Buffer) throws {
        let placeholder = try makeBuffer(count: 1)
        try locked("infonce backward") {
            let kernel = try kernels(InfoNCEChunkKernels.self).gradient
            let arguments: [CLKernel.Argument] = [.buffer(chunk.scores.deviceMemory)] + targetArguments(chunk, placeholder: placeholder)
                + [.buffer(rows.logSumExp.deviceMemory), .buffer(rows.targetMass.deviceMemory), .buffer(columns.logSumExp.deviceMemory),
                   .buffer(columns.targetMass.deviceMemory), .buffer(gradScalePartial.deviceMemory)]
            try kernel.bind(arguments + shapeArguments(descriptor, chunk) + [.float(rowCoefficient), .float(columnCoefficient)])
            try queue.enqueue(kernel, chunkRowLaunch(chunk.count, groups: descriptor.groups))
        }
    }

    /// labels_a, labels_b, soft, then the row and/or column weights; what the target kind does not
    /// read gets a placeholder.
    private func targetArguments(_ chunk: InfoNCEScoreChunk, placeholder: Buffer, rowWeights: Bool = true,
                                 columnWeights: Bool = true) -> [CLKernel.Argument] {
        var buffers = [chunk.labelsA, chunk.labelsB, chunk.softTargets]
        if rowWeights { buffers.append(chunk.rowWeights) }
        if columnWeights { buffers.append(chunk.columnWeights) }
        return buffers.map { .buffer(($0 ?? placeholder).deviceMemory) }
    }

    private func shapeArguments(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk) -> [CLKernel.Argument] {
        [.int32(Int32(descriptor.rows)), .int32(Int32(descriptor.columns)), .int32(Int32(chunk.start)), .int32(Int32(chunk.count)),
         .float(descriptor.scale), .int32(descriptor.targets.rawValue)]
    }
}
