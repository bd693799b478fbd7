/// The mean losses, assembled once for every caller (host-array ops and autograd): the kernels
/// give per-row (or per-element) losses, summed here in float64, and the backward folds the
/// mean and the upstream gradient into one scale.
extension Backend {
    /// Mean cross-entropy over the counted rows (0 when every row is ignored — never NaN).
    public func crossEntropyMean(_ descriptor: CrossEntropyDescriptor, logits: Buffer, targets: Buffer) throws -> Double {
        let rowLoss = try makeBuffer(count: descriptor.rows)
        try crossEntropyForward(descriptor, logits: logits, targets: targets, rowLoss: rowLoss)
        guard descriptor.countedRows > 0 else { return 0 }
        return try read(rowLoss).reduce(0.0) { $0 + Double($1) } / Double(descriptor.countedRows)
    }

    /// The gradient of `upstream · crossEntropyMean` with respect to the logits.
    public func crossEntropyMeanBackward(_ descriptor: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, upstream: Float = 1,
                                         gradLogits: Buffer) throws {
        let scale = descriptor.countedRows == 0 ? 0 : upstream / Float(descriptor.countedRows)
        try crossEntropyBackward(descriptor, logits: logits, targets: targets, scale: scale, gradLogits: gradLogits)
    }

    /// `T²·mean_rows KL(softmax(teacher/T) ‖ softmax(student/T))`; T² keeps the gradient's size
    /// independent of T (Hinton et al.).
    public func klDivergenceMean(_ descriptor: KLDivergenceDescriptor, student: Buffer, teacher: Buffer) throws -> Double {
        let rowLoss = try makeBuffer(count: descriptor.rows)
        try klDivergenceForward(descriptor, student: student, teacher: teacher, rowLoss: rowLoss)
        let t = Double(descriptor.temperature)
        return try read(rowLoss).reduce(0.0) { $0 + Double($1) } * t * t / Double(descriptor.rows)
    }

    /// The gradient of `upstream · klDivergenceMean` with respect to the student (T²/N · 1/T).
    public func klDivergenceMeanBackward(_ descriptor: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, upstream: Float = 1,
                                         gradStudent: Buffer) throws {
        try klDivergenceBackward(descriptor, student: student, teacher: teacher,
                                 scale: upstream * descriptor.temperature / Float(descriptor.rows), gradStudent: gradStudent)
    }

    /// Mean binary cross-entropy with logits over `count` elements.
    public func binaryCrossEntropyMean(logits: Buffer, targets: Buffer, count: Int) throws -> Double {
        guard count > 0 else { return 0 }
        let losses = try makeBuffer(count: count)
        try binaryCrossEntropyForward(logits: logits, targets: targets, loss: losses, count: count)
        return try read(losses).reduce(0.0) { $0 + Double($1) } / Double(count)
    }

    /// The gradient of `upstream · binaryCrossEntropyMean` with respect to the logits.
    public func binaryCrossEntropyMeanBackward(logits: Buffer, targets: Buffer, count: Int, upstream: Float = 1, grad: Buffer) throws {
        try binaryCrossEntropyBackward(logits: logits, targets: targets, scale: upstream / Float(max(count, 1)), grad: grad, count: count)
    }
}
