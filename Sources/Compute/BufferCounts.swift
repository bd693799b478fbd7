/// The boundary check of every op a backend runs: each buffer it is handed must hold what the
/// op will read or write, so a short buffer is an `invalidArgument` naming it, never an access
/// past its end. Both backends call these first, with the arguments they were given. (The
/// InfoNCE steps are checked once, where `infoNCEForward` and `infoNCEBackward` start.)
enum BufferCounts {
    typealias Check = (buffer: Buffer?, count: Int, name: String)

    static func require(_ op: String, _ checks: Check...) throws(BackendError) {
        for check in checks {
            guard check.count >= 0 else { throw .invalidArgument(op: op, message: "\(check.name) needs a count of 0 or more, got \(check.count)") }
            if let buffer = check.buffer, buffer.count < check.count {
                throw .invalidArgument(op: op, message: "\(check.name) must hold \(check.count) elements, got a buffer of \(buffer.count)")
            }
        }
    }

    static func upload(_ values: UnsafeBufferPointer<Float>, to buffer: Buffer) throws(BackendError) {
        try require("upload", (buffer, values.count, "the destination"))
    }

    static func download(_ buffer: Buffer, into values: UnsafeMutableBufferPointer<Float>) throws(BackendError) {
        try require("download", (buffer, values.count, "the source"))
    }

    static func copy(_ source: Buffer, to destination: Buffer, count: Int) throws(BackendError) {
        try require("copy", (source, count, "the source"), (destination, count, "the destination"))
    }

    static func gemm(_ d: GEMMDescriptor, a: Buffer, b: Buffer, c: Buffer) throws(BackendError) {
        try require(GEMMDescriptor.op, (a, d.batch * d.m * d.k, "a"), (b, d.batch * d.k * d.n, "b"), (c, d.batch * d.m * d.n, "c"))
    }

    static func softmaxForward(_ d: SoftmaxDescriptor, x: Buffer, mask: Buffer?, y: Buffer) throws(BackendError) {
        try require(SoftmaxDescriptor.op, (x, d.count, "x"), (mask, d.count, "mask"), (y, d.count, "y"))
    }

    static func softmaxBackward(_ d: SoftmaxDescriptor, y: Buffer, gradY: Buffer, mask: Buffer?, gradX: Buffer) throws(BackendError) {
        try require(SoftmaxDescriptor.op, (y, d.count, "y"), (gradY, d.count, "grad_y"), (mask, d.count, "mask"), (gradX, d.count, "grad_x"))
    }

    static func attentionForward(_ d: AttentionDescriptor, q: Buffer, k: Buffer, v: Buffer, keyMask: Buffer?, out: Buffer, logSumExp: Buffer) throws(BackendError) {
        let (bh, lq, lk) = (d.batch * d.heads, d.queryLength, d.keyLength)
        try require(AttentionDescriptor.op, (q, bh * lq * d.headDimension, "q"), (k, bh * lk * d.headDimension, "k"), (v, bh * lk * d.valueDimension, "v"),
                    (keyMask, d.batch * lk, "key_mask"), (out, bh * lq * d.valueDimension, "out"), (logSumExp, bh * lq, "the log-sum-exp"))
    }

    static func attentionBackward(_ d: AttentionDescriptor, q: Buffer, k: Buffer, v: Buffer, keyMask: Buffer?, out: Buffer, logSumExp: Buffer,
                                  gradOut: Buffer, gradQ: Buffer, gradK: Buffer, gradV: Buffer) throws(BackendError) {
        try attentionForward(d, q: q, k: k, v: v, keyMask: keyMask, out: out, logSumExp: logSumExp)
        let (bh, lq, lk) = (d.batch * d.heads, d.queryLength, d.keyLength)
        try require(AttentionDescriptor.op, (gradOut, bh * lq * d.valueDimension, "grad_out"), (gradQ, bh * lq * d.headDimension, "grad_q"),
                    (gradK, bh * lk * d.headDimension, "grad_k"), (gradV, bh * lk * d.valueDimension, "grad_v"))
    }

    static func layerNormForward(_ d: LayerNormDescriptor, x: Buffer, weight: Buffer, bias: Buffer, y: Buffer, mean: Buffer, reciprocalStd: Buffer) throws(BackendError) {
        try require(LayerNormDescriptor.op, (x, d.count, "x"), (weight, d.columns, "weight"), (bias, d.columns, "bias"), (y, d.count, "y"),
                    (mean, d.rows, "mean"), (reciprocalStd, d.rows, "the reciprocal std"))
    }

    static func layerNormBackward(_ d: LayerNormDescriptor, x: Buffer, weight: Buffer, mean: Buffer, reciprocalStd: Buffer,
                                  gradY: Buffer, gradX: Buffer, gradWeight: Buffer, gradBias: Buffer) throws(BackendError) {
        try require(LayerNormDescriptor.op, (x, d.count, "x"), (weight, d.columns, "weight"), (mean, d.rows, "mean"),
                    (reciprocalStd, d.rows, "the reciprocal std"), (gradY, d.count, "grad_y"), (gradX, d.count, "grad_x"),
                    (gradWeight, d.columns, "grad_weight"), (gradBias, d.columns, "grad_bias"))
    }

    static func geluForward(_ d: GELUDescriptor, x: Buffer, y: Buffer) throws(BackendError) {
        try require(GELUDescriptor.op, (x, d.count, "x"), (y, d.count, "y"))
    }

    static func geluBackward(_ d: GELUDescriptor, x: Buffer, gradY: Buffer, gradX: Buffer) throws(BackendError) {
        try require(GELUDescriptor.op, (x, d.count, "x"), (gradY, d.count, "grad_y"), (gradX, d.count, "grad_x"))
    }

    static func adamWStep(_ d: AdamWDescriptor, parameters: Buffer, gradients: Buffer, firstMoment: Buffer, secondMoment: Buffer) throws(BackendError) {
        try require(AdamWDescriptor.op, (parameters, d.count, "the parameters"), (gradients, d.count, "the gradients"),
                    (firstMoment, d.count, "the first moment"), (secondMoment, d.count, "the second moment"))
    }

    static func swapAxes12(_ x: Buffer, into y: Buffer, shape: (Int, Int, Int, Int)) throws(BackendError) {
        let count = shape.0 * shape.1 * shape.2 * shape.3
        try require("swap-axes", (x, count, "x"), (y, count, "y"))
    }

    static func copyBlocks(_ source: Buffer, to destination: Buffer, _ layout: BlockCopy) throws(BackendError) {
        guard layout.blocks > 0, layout.blockLength > 0 else { return try require("copy-blocks", (nil, layout.blocks, "blocks"), (nil, layout.blockLength, "the block length")) }
        try require("copy-blocks", (source, layout.sourceOffset + (layout.blocks - 1) * layout.sourceStride + layout.blockLength, "the source"),
                    (destination, layout.destinationOffset + (layout.blocks - 1) * layout.destinationStride + layout.blockLength, "the destination"))
    }

    static func fill(_ buffer: Buffer, with value: Float, count: Int) throws(BackendError) {
        try require("fill", (buffer, count, "the buffer"))
    }

    static func elementwise(_ op: String, _ inputs: [Buffer], into y: Buffer, count: Int) throws(BackendError) {
        for (index, input) in inputs.enumerated() { try require(op, (input, count, "input \(index + 1)")) }
        try require(op, (y, count, "the output"))
    }

    static func biasAdd(_ x: Buffer, bias: Buffer, into y: Buffer, rows: Int, columns: Int) throws(BackendError) {
        try require("bias-add", (x, rows * columns, "x"), (bias, columns, "bias"), (y, rows * columns, "y"))
    }

    static func columnSums(_ x: Buffer, rows: Int, columns: Int, into out: Buffer) throws(BackendError) {
        try require("column-sums", (x, rows * columns, "x"), (out, columns, "the sums"))
    }

    static func embeddingForward(table: Buffer, ids: Buffer, out: Buffer, count: Int, dimension: Int) throws(BackendError) {
        try require("embedding", (ids, count, "ids"), (out, count * dimension, "out"), (table, dimension, "the table"))
    }

    static func embeddingBackward(gradOut: Buffer, ids: [Int32], gradTable: Buffer, dimension: Int, vocabulary: Int) throws(BackendError) {
        try require("embedding", (gradOut, ids.count * dimension, "grad_out"), (gradTable, vocabulary * dimension, "grad_table"))
        try validateEmbeddingIds(ids, vocabulary: vocabulary)
    }

    static func crossEntropyForward(_ d: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, rowLoss: Buffer) throws(BackendError) {
        try require(CrossEntropyDescriptor.op, (logits, d.rows * d.classes, "logits"), (targets, d.rows, "targets"), (rowLoss, d.rows, "the row losses"))
    }

    static func crossEntropyBackward(_ d: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, scale: Float, gradLogits: Buffer) throws(BackendError) {
        try require(CrossEntropyDescriptor.op, (logits, d.rows * d.classes, "logits"), (targets, d.rows, "targets"), (gradLogits, d.rows * d.classes, "grad_logits"))
    }

    static func klDivergenceForward(_ d: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, rowLoss: Buffer) throws(BackendError) {
        try require(KLDivergenceDescriptor.op, (student, d.rows * d.classes, "student"), (teacher, d.rows * d.classes, "teacher"), (rowLoss, d.rows, "the row losses"))
    }

    static func klDivergenceBackward(_ d: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, scale: Float, gradStudent: Buffer) throws(BackendError) {
        try require(KLDivergenceDescriptor.op, (student, d.rows * d.classes, "student"), (teacher, d.rows * d.classes, "teacher"),
                    (gradStudent, d.rows * d.classes, "grad_student"))
    }

    static func binaryCrossEntropyForward(logits: Buffer, targets: Buffer, loss: Buffer, count: Int) throws(BackendError) {
        try require("binary-cross-entropy", (logits, count, "logits"), (targets, count, "targets"), (loss, count, "the losses"))
    }

    static func binaryCrossEntropyBackward(logits: Buffer, targets: Buffer, scale: Float, grad: Buffer, count: Int) throws(BackendError) {
        try require("binary-cross-entropy", (logits, count, "logits"), (targets, count, "targets"), (grad, count, "the gradient"))
    }

    static func mutualInformationForward(_ d: MutualInformationDescriptor, scores: Buffer, bounds: Buffer, statistics: Buffer) throws(BackendError) {
        try require(MutualInformationDescriptor.op, (scores, d.groups * d.size * d.size, "scores"), (bounds, d.groups, "bounds"), (statistics, 2 * d.groups, "statistics"))
    }

    static func mutualInformationBackward(_ d: MutualInformationDescriptor, scores: Buffer, statistics: Buffer, gradBounds: Buffer, gradScores: Buffer) throws(BackendError) {
        try require(MutualInformationDescriptor.op, (scores, d.groups * d.size * d.size, "scores"), (statistics, 2 * d.groups, "statistics"),
                    (gradBounds, d.groups, "grad_bounds"), (gradScores, d.groups * d.size * d.size, "grad_scores"))
    }

    static func infoNCE(_ d: InfoNCEDescriptor, _ inputs: InfoNCEInputs, gradA: Buffer? = nil, gradB: Buffer? = nil) throws(BackendError) {
        let (g, n, m, dim) = (d.groups, d.rows, d.columns, d.dimension)
        try require(InfoNCEDescriptor.op, (inputs.a, g * n * dim, "a"), (inputs.b, g * m * dim, "b"), (inputs.labelsA, n, "labels_a"),
                    (inputs.labelsB, m, "labels_b"), (inputs.softTargets, n * m, "targets"), (gradA, g * n * dim, "grad_a"), (gradB, g * m * dim, "grad_b"))
    }
}

/// Checks every id names a row of a `vocabulary`-row table, on the host: an id out of range
/// would read or write outside the table on a device.
public func validateEmbeddingIds(_ ids: [Int32], vocabulary: Int) throws(BackendError) {
    if let index = ids.firstIndex(where: { !(0..<Int32(clamping: vocabulary)).contains($0) }) {
        throw .invalidArgument(op: "embedding", message: "ids[\(index)] = \(ids[index]) is not a row of the \(vocabulary)-row table")
    }
}
