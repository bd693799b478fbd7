import CLRuntime

/// The entry points of `Kernels/elementwise.cl`, `embedding.cl` and `losses.cl`.
struct ElementwiseKernels: KernelFamily {
    let add, multiply, scale, scaleBy, map, accumulate, biasAdd, columnSumPartial, columnSumFinish: CLKernel
    let embeddingForward, embeddingBackward: CLKernel
    let crossEntropyForward, crossEntropyBackward, klForward, klBackward, bceForward, bceBackward: CLKernel
    let swapAxes12, copyBlocks, fill: CLKernel

    init(tuning: OpenCLTuning, program make: (KernelProgram) throws(CLError) -> CLProgram) throws(CLError) {
        let (elementwise, embedding, losses, layout) = (try make(.elementwise), try make(.embedding), try make(.losses), try make(.layout))
        swapAxes12 = try layout.kernel("swap_axes12")
        copyBlocks = try layout.kernel("copy_blocks")
        fill = try elementwise.kernel("elementwise_fill")
        add = try elementwise.kernel("elementwise_add")
        multiply = try elementwise.kernel("elementwise_multiply")
        scale = try elementwise.kernel("elementwise_scale")
        scaleBy = try elementwise.kernel("elementwise_scale_by")
        map = try elementwise.kernel("elementwise_map")
        accumulate = try elementwise.kernel("elementwise_accumulate")
        biasAdd = try elementwise.kernel("bias_add")
        columnSumPartial = try elementwise.kernel("column_sum_partial")
        columnSumFinish = try elementwise.kernel("column_sum_finish")
        embeddingForward = try embedding.kernel("embedding_forward")
        embeddingBackward = try embedding.kernel("embedding_backward")
        crossEntropyForward = try losses.kernel("cross_entropy_forward")
        crossEntropyBackward = try losses.kernel("cross_entropy_backward")
        klForward = try losses.kernel("kl_divergence_forward")
        klBackward = try losses.kernel("kl_divergence_backward")
        bceForward = try losses.kernel("binary_cross_entropy_forward")
        bceBackward = try losses.kernel("binary_cross_entropy_backward")
    }
}

extension OpenCLBackend {
    /// Binds `arguments` to the kernel `pick` chooses and launches it over `global` items.
    private func launch(_ op: String, _ pick: (ElementwiseKernels) -> CLKernel, _ arguments: [CLKernel.Argument],
                        global: [Int], local: [Int]) throws {
        try locked(op) {
            let kernel = pick(try kernels(ElementwiseKernels.self))
            try kernel.bind(arguments)
            try queue.enqueue(kernel, global: global, local: local)
        }
    }

    /// Elementwise kernels: each work-item owns `elementwiseItems` consecutive floats.
    private func elementwiseLaunch(_ count: Int) -> [Int] { [max(1, ceilDiv(count, tuning.elementwiseItems))] }

    /// Row kernels (losses): one work-item per row, in groups of 8.
    private func rowLaunch(_ rows: Int) -> [Int] { [roundUp(rows, 8)] }

    public func add(_ a: Buffer, _ b: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("add", [a, b], into: y, count: count)
        try launch("add", \.add, [.buffer(a.deviceMemory), .buffer(b.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(count))],
                   global: elementwiseLaunch(count), local: [1])
    }

    public func multiply(_ a: Buffer, _ b: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("multiply", [a, b], into: y, count: count)
        try launch("multiply", \.multiply, [.buffer(a.deviceMemory), .buffer(b.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(count))],
                   global: elementwiseLaunch(count), local: [1])
    }

    public func scale(_ x: Buffer, by alpha: Float, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("scale", [x], into: y, count: count)
        try launch("scale", \.scale, [.buffer(x.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(count)), .float(alpha)],
                   global: elementwiseLaunch(count), local: [1])
    }

    public func scale(_ x: Buffer, byScalarIn alpha: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("scale", [x], into: y, count: count)
        try BufferCounts.require("scale", (alpha, 1, "the scale"))
        try launch("scale", \.scaleBy, [.buffer(x.deviceMemory), .buffer(alpha.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(count))],
                   global: elementwiseLaunch(count), local: [1])
    }

    public func map(_ function: ScalarFunction, _ x: Buffer, into y: Buffer, count: Int) throws {
        try BufferCounts.elementwise("map", [x], into: y, count: count)
        let (code, p0, p1) = function.kernelArguments
        try launch("map", \.map, [.buffer(x.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(count)), .int32(code), .float(p0), .float(p1)],
                   global: elementwiseLaunch(count), local: [1])
    }

    public func accumulate(_ source: Buffer, into destination: Buffer, count: Int) throws {
        try BufferCounts.elementwise("accumulate", [source], into: destination, count: count)
        try launch("accumulate", \.accumulate, [.buffer(destination.deviceMemory), .buffer(source.deviceMemory), .int32(Int32(count))],
                   global: elementwiseLaunch(count), local: [1])
    }

    public func swapAxes12(_ x: Buffer, into y: Buffer, shape: (Int, Int, Int, Int)) throws {
        try BufferCounts.swapAxes12(x, into: y, shape: shape)
        let (a, b, c, d) = shape
        try launch("swap axes", \.swapAxes12, [.buffer(x.deviceMemory), .buffer(y.deviceMemory), .int32(Int32(a)), .int32(Int32(b)),
                                                .int32(Int32(c)), .int32(Int32(d))],
                   global: [a * b * c], local: [1])
    }

    public func copyBlocks(_ source: Buffer, to destination: Buffer, _ layout: BlockCopy) throws {
        try BufferCounts.copyBlocks(source, to: destination, layout)
        guard layout.blocks > 0, layout.blockLength > 0 else { return }
        let arguments: [CLKernel.Argument] = [.buffer(source.deviceMemory), .buffer(destination.deviceMemory), .int32(Int32(layout.blocks)),
                                              .int32(Int32(layout.blockLength)), .int32(Int32(layout.sourceOffset)), .int32(Int32(layout.sourceStride)),
                                              .int32(Int32(layout.destinationOffset)), .int32(Int32(layout.destinationStride))]
        try launch("copy blocks", \.copyBlocks, arguments, global: [layout.blocks, ceilDiv(layout.blockLength, Self.copyChunk)], local: [1, 1])
    }

    /// Elements per work-item of `copy_blocks` (its COPY_CHUNK).
    static let copyChunk = 4096

    public func fill(_ buffer: Buffer, with value: Float, count: Int) throws {
        try BufferCounts.fill(buffer, with: value, count: count)
        try launch("fill", \.fill, [.buffer(buffer.deviceMemory), .int32(Int32(count)), .float(value)], global: elementwiseLaunch(count), local: [1])
    }

    public func biasAdd(_ x: Buffer, bias: Buffer, into y: Buffer, rows: Int, columns: Int) throws {
        try BufferCounts.biasAdd(x, bias: bias, into: y, rows: rows, columns: columns)
        try launch("bias add", \.biasAdd, [.buffer(x.deviceMemory), .buffer(bias.deviceMemory), .buffer(y.deviceMemory),
                                           .int32(Int32(rows)), .int32(Int32(columns))],
                   global: [ceilDiv(rows, tuning.biasRowsPerItem)], local: [1])
    }

    public func columnSums(_ x: Buffer, rows: Int, columns: Int, into out: Buffer) throws {
        try BufferCounts.columnSums(x, rows: rows, columns: columns, into: out)
        let chunks = ceilDiv(rows, tuning.columnSumRowChunk)
        let partial = try makeBuffer(count: chunks * columns)
        try launch("column sums", \.columnSumPartial, [.buffer(x.deviceMemory), .buffer(partial.deviceMemory), .int32(Int32(rows)), .int32(Int32(columns))],
                   global: [chunks], local: [1])
        try launch("column sums", \.columnSumFinish, [.buffer(partial.deviceMemory), .buffer(out.deviceMemory), .int32(Int32(chunks)), .int32(Int32(columns))],
                   global: [ceilDiv(columns, 16)], local: [1])
    }

    public func embeddingForward(table: Buffer, ids: Buffer, out: Buffer, count: Int, dimension: Int) throws {
        try BufferCounts.embeddingForward(table: table, ids: ids, out: out, count: count, dimension: dimension)
        try launch("embedding", \.embeddingForward, [.buffer(table.deviceMemory), .buffer(ids.deviceMemory), .buffer(out.deviceMemory),
                                                     .int32(Int32(count)), .int32(Int32(dimension))],
                   global: [ceilDiv(count, tuning.embeddingRowsPerItem)], local: [1])
    }

    public func embeddingBackward(gradOut: Buffer, ids: Buffer, gradTable: Buffer, count: Int, dimension: Int, vocabulary: Int) throws {
        try BufferCounts.embeddingBackward(gradOut: gradOut, ids: ids, gradTable: gradTable, count: count, dimension: dimension, vocabulary: vocabulary)
        try launch("embedding backward", \.embeddingBackward, [.buffer(gradOut.deviceMemory), .buffer(ids.deviceMemory), .buffer(gradTable.deviceMemory),
                                                               .int32(Int32(count)), .int32(Int32(dimension)), .int32(Int32(vocabulary))],
                   global: [ceilDiv(dimension, 16)], local: [1])
    }

    public func crossEntropyForward(_ descriptor: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, rowLoss: Buffer) throws {
        try BufferCounts.crossEntropyForward(descriptor, logits: logits, targets: targets, rowLoss: rowLoss)
        try launch("cross-entropy", \.crossEntropyForward, [.buffer(logits.deviceMemory), .buffer(targets.deviceMemory), .buffer(rowLoss.deviceMemory),
                                                            .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.classes)), .int32(descriptor.ignoreIndex)],
                   global: rowLaunch(descriptor.rows), local: [8])
    }

    public func crossEntropyBackward(_ descriptor: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, scale: Float, gradLogits: Buffer) throws {
        try BufferCounts.crossEntropyBackward(descriptor, logits: logits, targets: targets, scale: scale, gradLogits: gradLogits)
        try launch("cross-entropy backward", \.crossEntropyBackward,
                   [.buffer(logits.deviceMemory), .buffer(targets.deviceMemory), .buffer(gradLogits.deviceMemory),
                    .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.classes)), .int32(descriptor.ignoreIndex), .float(scale)],
                   global: rowLaunch(descriptor.rows), local: [8])
    }

    public func klDivergenceForward(_ descriptor: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, rowLoss: Buffer) throws {
        try BufferCounts.klDivergenceForward(descriptor, student: student, teacher: teacher, rowLoss: rowLoss)
        try launch("kl-divergence", \.klForward, [.buffer(student.deviceMemory), .buffer(teacher.deviceMemory), .buffer(rowLoss.deviceMemory),
                                                  .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.classes)), .float(descriptor.temperature)],
                   global: rowLaunch(descriptor.rows), local: [8])
    }

    public func klDivergenceBackward(_ descriptor: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, scale: Float, gradStudent: Buffer) throws {
        try BufferCounts.klDivergenceBackward(descriptor, student: student, teacher: teacher, scale: scale, gradStudent: gradStudent)
        try launch("kl-divergence backward", \.klBackward,
                   [.buffer(student.deviceMemory), .buffer(teacher.deviceMemory), .buffer(gradStudent.deviceMemory),
                    .int32(Int32(descriptor.rows)), .int32(Int32(descriptor.classes)), .float(descriptor.temperature), .float(scale)],
                   global: rowLaunch(descriptor.rows), local: [8])
    }

    public func binaryCrossEntropyForward(logits: Buffer, targets: Buffer, loss: Buffer, count: Int) throws {
        try BufferCounts.binaryCrossEntropyForward(logits: logits, targets: targets, loss: loss, count: count)
        try launch("binary cross-entropy", \.bceForward, [.buffer(logits.deviceMemory), .buffer(targets.deviceMemory), .buffer(loss.deviceMemory),
                                                          .int32(Int32(count))],
                   global: elementwiseLaunch(count), local: [1])
    }

    public func binaryCrossEntropyBackward(logits: Buffer, targets: Buffer, scale: Float, grad: Buffer, count: Int) throws {
        try BufferCounts.binaryCrossEntropyBackward(logits: logits, targets: targets, scale: scale, grad: grad, count: count)
        try launch("binary cross-entropy backward", \.bceBackward, [.buffer(logits.deviceMemory), .buffer(targets.deviceMemory), .buffer(grad.deviceMemory),
                                                                    .int32(Int32(count)), .float(scale)],
                   global: elementwiseLaunch(count), local: [1])
    }
}
