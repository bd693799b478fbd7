import CLRuntime

/// The entry points of `Kernels/elementwise.cl`, `embedding.cl` and `losses.cl`.
struct ElementwiseKernels: KernelFamily {
    let add, multiply, scale, scaleBy, map, accumulate, biasAdd, columnSumPartial, columnSumFinish: CLKernel
    let embeddingForward, embeddingBackward: CLKernel
    let crossEntropyForward, crossEntropyBackward, klForward, klBackward, bceForward, bceBackward: CLKernel
    let swapAxes12, copyBlocks, fill: CLKernel

    init(tuning: OpenCLTuning, program make: (KernelProgram) throws(CLError) -> CLProgram) throws(CLError) {
        let (elementwise, embedding, layout) = (try make(.elementwise), try make(.embedding), try make(.layout))
        let losses = try make(.losses), gpu = tuning.variant == .gpu
        swapAxes12 = try layout.kernel("swap_axes12", gpu: gpu)
        copyBlocks = try layout.kernel("copy_blocks", gpu: gpu)
        fill = try elementwise.kernel("elementwise_fill", gpu: gpu)
        add = try elementwise.kernel("elementwise_add", gpu: gpu)
        multiply = try elementwise.kernel("elementwise_multiply", gpu: gpu)
        scale = try elementwise.kernel("elementwise_scale", gpu: gpu)
        scaleBy = try elementwise.kernel("elementwise_scale_by", gpu: gpu)
        map = try elementwise.kernel("elementwise_map", gpu: gpu)
        accumulate = try elementwise.kernel("elementwise_accumulate", gpu: gpu)
        biasAdd = try elementwise.kernel("bias_add", gpu: gpu)
        columnSumPartial = try elementwise.kernel("column_sum_partial", gpu: gpu)
        columnSumFinish = try elementwise.kernel("column_sum_finish", gpu: gpu)
        embeddingForward = try embedding.kernel("embedding_forward", gpu: gpu)
        embeddingBackward = try embedding.kernel("embedding_backward", gpu: gpu)
        crossEntropyForward = try losses.kernel("cross_entropy_forward", gpu: gpu)
        crossEntropyBackward = try losses.kernel("cross_entropy_backward", gpu: gpu)
        klForward = try losses.kernel("kl_divergence_forward", gpu: gpu)
        klBackward = try losses.kernel("kl_divergence_backward", gpu: gpu)
        bceForward = try losses.kernel("binary_cross_entropy_forward", gpu: gpu)
        bceBackward = try losses.kernel("binary_cross_entropy_backward", gpu: gpu)
    }
}

extension OpenCLBackend {
    /// Binds `arguments` to the kernel `pick` chooses and launches it over `global` items.
    private func launch(_ op: String, _ pick: (ElementwiseKernels) -> CLKernel, _ arguments: [CLKernel.Argument], _ grid: Grid) throws {
        try locked(op) {
            let kernel = pick(try kernels(ElementwiseKernels.self))
            try kernel.bind(arguments)
            try queue.enqueue(kernel, grid)
        }
    }

    /// Elementwise kernels: each work-item owns `elementwiseItems` consecutive floats (CPU
    /// variant) or one `float4` (GPU variant, coalesced).
    func elementwiseLaunch(_ count: Int) -> Grid {
        switch tuning.variant {
        case .cpu: Grid(global: [max(1, ceilDiv(count, tuning.elementwiseItems))], local: [1])
        case .gpu: Grid(global: [max(1, ceilDiv(ceilDiv(count, 4), tuning.elementGroup)) * tuning.elementGroup], local: [tuning.elementGroup])
        }
    }

    /// A 2-D GPU launch over `columns × rows` items (columns along local id 0: coalesced).
    private func planeLaunch(columns: Int, rows: Int) -> Grid {
        let (x, y) = (tuning.planeGroupColumns, tuning.planeGroupRows)
        return Grid(global: [roundUp(columns, x), roundUp(rows, y)], local: [x, y])
    }

    /// Row kernels (losses): one work-item per row in groups of 8 (CPU variant), or a work-group
    /// per row (GPU variant).
    private func rowLaunch(_ rows: Int) -> Grid {
        switch tuning.variant {
        case .cpu: Grid(global: [roundUp(rows, 8)], local: [8])
        case .gpu: Grid(global: [rows * tuning.rowWorkGroup], local: [tuning.rowWorkGroup])
        }
    }

    /// Binary cross-entropy: as the elementwise kernels (CPU variant), or one element per
    /// work-item (GPU variant).
    private func binaryCrossEntropyLaunch(_ count: Int) -> Grid {
        switch tuning.variant {
        case .cpu: elementwiseLaunch(count)
        case .gpu: Grid(global: [roundUp(count, tuning.rowWorkGroup)], local: [tuning.rowWorkGroup])
        }
    }

    public func add(_ a: Buffer, _ b: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("add", [a, b], into: y, count: count)
        try launch("add", \.add, [.buffer(a.deviceMemory), .buffer(b.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(count))],
                   elementwiseLaunch(count))
    }

    public func multiply(_ a: Buffer, _ b: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("multiply", [a, b], into: y, count: count)
        try launch("multiply", \.multiply, [.buffer(a.deviceMemory), .buffer(b.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(count))],
                   elementwiseLaunch(count))
    }

    public func scale(_ x: Buffer, by alpha: Float, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("scale", [x], into: y, count: count)
        try launch("scale", \.scale, [.buffer(x.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(count)), .float(alpha)],
                   elementwiseLaunch(count))
    }

    public func scale(_ x: Buffer, byScalarIn alpha: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("scale", [x], into: y, count: count)
        try BufferCounts.require("scale", (alpha, 1, "the scale"))
        try launch("scale", \.scaleBy, [.buffer(x.deviceMemory), .buffer(alpha.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(count))],
                   elementwiseLaunch(count))
    }

    public func map(_ function: ScalarFunction, _ x: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("map", [x], into: y, count: count)
        let (code, p0, p1) = function.kernelArguments
        try launch("map", \.map, [.buffer(x.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(count)), .int32(code), .float(p0), .float(p1)],
                   elementwiseLaunch(count))
    }

    public func accumulate(_ source: Buffer, into destination: Buffer, count: Int) throws {
        try BufferCounts.elementwise("accumulate", [source], into: destination, count: count)
        try launch("accumulate", \.accumulate, [.buffer(destination.deviceMemory), .buffer(source.deviceMemory), .int32(Int32(count))],
                   elementwiseLaunch(count))
    }

    public func swapAxes12(_ x: Buffer, into y: Buffer, shape: (Int, Int, Int, Int)) throws {
        try BufferCounts.swapAxes12(x, into: y, shape: shape)
        let (a, b, c, d) = shape
        guard a * b * c * d > 0 else { return }
        try launch("swap axes", \.swapAxes12, [.buffer(x.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(a)), .int32(Int32(b)),
                                                .int32(Int32(c)), .int32(Int32(d))],
                   tuning.variant == .cpu ? Grid(global: [a * b * c], local: [1]) : planeLaunch(columns: d, rows: a * b * c))
    }

    public func copyBlocks(_ source: Buffer, to destination: Buffer, _ layout: BlockCopy) throws {
        try BufferCounts.copyBlocks(source, to: destination, layout)
        guard layout.blocks > 0, layout.blockLength > 0 else { return }
        let arguments: [CLKernel.Argument] = [.buffer(source.deviceMemory), .buffer(destination.deviceMemory), .int32(Int32(layout.blocks)),
                                              .int32(Int32(layout.blockLength)), .int32(Int32(layout.sourceOffset)), .int32(Int32(layout.sourceStride)),
                                              .int32(Int32(layout.destinationOffset)), .int32(Int32(layout.destinationStride))]
        try launch("copy blocks", \.copyBlocks, arguments,
                   tuning.variant == .cpu ? Grid(global: [layout.blocks, ceilDiv(layout.blockLength, Self.copyChunk)], local: [1, 1])
                       : planeLaunch(columns: layout.blockLength, rows: layout.blocks))
    }

    /// Elements per work-item of `copy_blocks` (its COPY_CHUNK).
    static let copyChunk = 4096

    public func fill(_ buffer: Buffer, with value: Float, count: Int) throws {
        try BufferCounts.fill(buffer, with: value, count: count)
        try launch("fill", \.fill, [.buffer(buffer.deviceMemory), .int32(Int32(count)), .float(value)], elementwiseLaunch(count))
    }

    public func biasAdd(_ x: Buffer, bias: Buffer, into y: Buffer, rows: Int, columns: Int) throws {
        try BufferCounts.biasAdd(x, bias: bias, into: y, rows: rows, columns: columns)
        guard rows > 0, columns > 0 else { return }
        let itemRows = ceilDiv(rows, tuning.biasRowsPerItem)
        try launch("bias add", \.biasAdd, [.buffer(x.deviceMemory), .buffer(bias.deviceMemory), .buffer(y.deviceMemory),
                                           .int32(Int32(rows)), .int32(Int32(columns))],
                   tuning.variant == .cpu ? Grid(global: [itemRows], local: [1]) : planeLaunch(columns: columns, rows: itemRows))
    }

    public func columnSums(_ x: Buffer, rows: Int, columns: Int, into out: Buffer) throws {
        try BufferCounts.columnSums(x, rows: rows, columns: columns, into: out)
        guard columns > 0 else { return }
        guard rows > 0 else { return try fill(out, with: 0, count: columns) }
        // Partial sums per chunk of rows, then added in chunk order: deterministic.
        let chunks = ceilDiv(rows, tuning.columnSumRowChunk)
        let partial = try makeBuffer(count: chunks * columns)
        let gpu = tuning.variant == .gpu
        try launch("column sums", \.columnSumPartial, [.buffer(x.deviceMemory), .buffer(partial.deviceMemory), .int32(Int32(rows)), .int32(Int32(columns))],
                   gpu ? planeLaunch(columns: columns, rows: chunks) : Grid(global: [chunks], local: [1]))
        try launch("column sums", \.columnSumFinish, [.buffer(partial.deviceMemory), .buffer(out.deviceMemory), .int32(Int32(chunks)), .int32(Int32(columns))],
                   gpu ? planeLaunch(columns: columns, rows: tuning.planeGroupRows) : Grid(global: [ceilDiv(columns, 16)], local: [1]))
    }

    public func embeddingForward(table: Buffer, ids: Buffer, out: Buffer, count: Int, dimension: Int) throws {
        try BufferCounts.embeddingForward(table: table, ids: ids, out: out, count: count, dimension: dimension)
        guard count > 0, dimension > 0 else { return }
        try launch("embedding", \.embeddingForward, [.buffer(table.deviceMemory), .buffer(ids.deviceMemory), .buffer(out.deviceMemory),
                                                     .int32(Int32(count)), .int32(Int32(dimension))],
                   tuning.variant == .cpu ? Grid(global: [ceilDiv(count, tuning.embeddingRowsPerItem)], local: [1])
                       : planeLaunch(columns: dimension, rows: count))
    }

    public func embeddingBackward(gradOut: Buffer, ids: [Int32], gradTable: Buffer, dimension: Int, vocabulary: Int) throws {
        try BufferCounts.embeddingBackward(gradOut: gradOut, ids: ids, gradTable: gradTable, dimension: dimension, vocabulary: vocabulary)
        guard vocabulary > 0, dimension > 0 else { return }
        switch tuning.variant {
        case .cpu:
            // dimension/16 work-items, each sweeping the ids in order for its 16 columns.
            let tokens = try makeBuffer(ids)
            try launch("embedding backward", \.embeddingBackward, [.buffer(gradOut.deviceMemory), .buffer(tokens.deviceMemory), .buffer(gradTable.deviceMemory),
                                                                   .int32(Int32(ids.count)), .int32(Int32(dimension)), .int32(Int32(vocabulary))],
                       Grid(global: [ceilDiv(dimension, 16)], local: [1]))
        case .gpu:
            // A work-item per (row, column) of the table sums its ids' rows in ascending
            // position: the ids sorted once here (a stable counting sort), no atomics.
            var offsets = [Int32](repeating: 0, count: vocabulary + 1)
            for id in ids { offsets[Int(id) + 1] += 1 }
            for v in 0..<vocabulary { offsets[v + 1] += offsets[v] }
            var next = offsets, order = [Int32](repeating: 0, count: ids.count)
            for (position, id) in ids.enumerated() {
                order[Int(next[Int(id)])] = Int32(position)
                next[Int(id)] += 1
            }
            let (orderBuffer, offsetBuffer) = (try makeBuffer(order.isEmpty ? [0] : order), try makeBuffer(offsets))
            try launch("embedding backward", \.embeddingBackward, [.buffer(gradOut.deviceMemory), .buffer(orderBuffer.deviceMemory),
                                                                   .buffer(offsetBuffer.deviceMemory), .buffer(gradTable.deviceMemory),
                                                                   .int32(Int32(dimension)), .int32(Int32(vocabulary))],
                       planeLaunch(columns: dimension, rows: vocabulary))
        }
    }

    public func crossEntropyForward(_ descriptor: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, rowLoss: Buffer) throws {
        try BufferCounts.crossEntropyForward(descriptor, logits: logits, targets: targets, rowLoss: rowLoss)
        try launch("cross-entropy", \.crossEntropyForward, [.buffer(logits.deviceMemory), .buffer(targets.deviceMemory), .buffer(rowLoss.deviceMemory),
                                                            .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.classes)), .int32(descriptor.ignoreIndex)],
                   rowLaunch(descriptor.rows))
    }

    public func crossEntropyBackward(_ descriptor: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, scale: Float, gradLogits: Buffer) throws {
        try BufferCounts.crossEntropyBackward(descriptor, logits: logits, targets: targets, scale: scale, gradLogits: gradLogits)
        try launch("cross-entropy backward", \.crossEntropyBackward,
                   [.buffer(logits.deviceMemory), .buffer(targets.deviceMemory), .buffer(gradLogits.deviceMemory),
                    .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.classes)), .int32(descriptor.ignoreIndex), .float(scale)],
                   rowLaunch(descriptor.rows))
    }

    public func klDivergenceForward(_ descriptor: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, rowLoss: Buffer) throws {
        try BufferCounts.klDivergenceForward(descriptor, student: student, teacher: teacher, rowLoss: rowLoss)
        try launch("kl-divergence", \.klForward, [.buffer(student.deviceMemory), .buffer(teacher.deviceMemory), .buffer(rowLoss.deviceMemory),
                                                  .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.classes)), .float(descriptor.temperature)],
                   rowLaunch(descriptor.rows))
    }

    public func klDivergenceBackward(_ descriptor: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, scale: Float, gradStudent: Buffer) throws {
        try BufferCounts.klDivergenceBackward(descriptor, student: student, teacher: teacher, scale: scale, gradStudent: gradStudent)
        try launch("kl-divergence backward", \.klBackward,
                   [.buffer(student.deviceMemory), .buffer(teacher.deviceMemory), .buffer(gradStudent.deviceMemory),
                    .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.classes)), .float(descriptor.temperature), .float(scale)],
                   rowLaunch(descriptor.rows))
    }

    public func binaryCrossEntropyForward(logits: Buffer, targets: Buffer, loss: Buffer, count: Int) throws {
        try BufferCounts.binaryCrossEntropyForward(logits: logits, targets: targets, loss: loss, count: count)
        try launch("binary cross-entropy", \.bceForward, [.buffer(logits.deviceMemory), .buffer(targets.deviceMemory), .buffer(loss.deviceMemory),
                                                          .int32(Int32(count))],
                   binaryCrossEntropyLaunch(count))
    }

    public func binaryCrossEntropyBackward(logits: Buffer, targets: Buffer, scale: Float, grad: Buffer, count: Int) throws {
        try BufferCounts.binaryCrossEntropyBackward(logits: logits, targets: targets, scale: scale, grad: grad, count: count)
        try launch("binary cross-entropy backward", \.bceBackward, [.buffer(logits.deviceMemory), .buffer(targets.deviceMemory), .buffer(grad.deviceMemory),
                                                                    .int32(Int32(count)), .float(scale)],
                   binaryCrossEntropyLaunch(count))
    }
}
