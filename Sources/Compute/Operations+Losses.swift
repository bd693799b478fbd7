extension Operations {
    /// Mean cross-entropy of `logits [N, C]` against integer `targets [N]` over the rows not
    /// equal to `ignoreIndex` (0, with zero gradient, when every row is ignored — never NaN).
    public func crossEntropy(logits: HostArray, targets: HostArray, ignoreIndex: Int32 = -100, gradients: Bool = false) throws
        -> (loss: Double, gradLogits: HostArray?) {
        guard targets.shape.count == 1 else {
            throw BackendError.invalidArgument(op: "cross-entropy", message: "targets must be [N], got \(shapeText(targets.shape))")
        }
        let ids = try exactIntegers(targets.values, op: "cross-entropy", name: "targets")
        let descriptor = try CrossEntropyDescriptor(logitsShape: logits.shape, targets: ids, ignoreIndex: ignoreIndex)
        let (z, t) = (try backend.makeBuffer(logits.values), try backend.makeBuffer(ids))
        let loss = try backend.crossEntropyMean(descriptor, logits: z, targets: t)
        guard gradients else { return (loss, nil) }
        let grad = try backend.makeBuffer(count: logits.count)
        try backend.crossEntropyMeanBackward(descriptor, logits: z, targets: t, gradLogits: grad)
        return (loss, HostArray(shape: logits.shape, values: try backend.read(grad)))
    }

    /// `T²·mean_rows KL(softmax(teacher/T) ‖ softmax(student/T))` and its gradient for the
    /// student (the teacher is treated as constant).
    public func klDivergence(student: HostArray, teacher: HostArray, temperature: Float, gradients: Bool = false) throws
        -> (loss: Double, gradStudent: HostArray?) {
        let descriptor = try KLDivergenceDescriptor(studentShape: student.shape, teacherShape: teacher.shape, temperature: temperature)
        let (s, t) = (try backend.makeBuffer(student.values), try backend.makeBuffer(teacher.values))
        let loss = try backend.klDivergenceMean(descriptor, student: s, teacher: t)
        guard gradients else { return (loss, nil) }
        let grad = try backend.makeBuffer(count: student.count)
        try backend.klDivergenceMeanBackward(descriptor, student: s, teacher: t, gradStudent: grad)
        return (loss, HostArray(shape: student.shape, values: try backend.read(grad)))
    }

    /// Mean binary cross-entropy of `logits` against targets in [0, 1] of the same shape.
    public func binaryCrossEntropy(logits: HostArray, targets: HostArray, gradients: Bool = false) throws -> (loss: Double, gradLogits: HostArray?) {
        guard targets.shape == logits.shape else {
            throw BackendError.invalidArgument(op: "binary-cross-entropy", message: "targets must have the shape of logits \(shapeText(logits.shape)), got \(shapeText(targets.shape))")
        }
        guard logits.count > 0 else { return (0, gradients ? logits : nil) }
        let (z, t) = (try backend.makeBuffer(logits.values), try backend.makeBuffer(targets.values))
        let loss = try backend.binaryCrossEntropyMean(logits: z, targets: t, count: logits.count)
        guard gradients else { return (loss, nil) }
        let grad = try backend.makeBuffer(count: logits.count)
        try backend.binaryCrossEntropyMeanBackward(logits: z, targets: t, count: logits.count, grad: grad)
        return (loss, HostArray(shape: logits.shape, values: try backend.read(grad)))
    }

    /// Rows of `table [V, D]` for `ids [...]` (exact integers) → `[..., D]`; with `gradOut`,
    /// also the table's gradient.
    public func embedding(table: HostArray, ids: HostArray, gradOut: HostArray? = nil) throws -> (out: HostArray, gradTable: HostArray?) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "embedding", message: message) }
        guard table.shape.count == 2 else { throw fail("table must be [V, D], got \(shapeText(table.shape))") }
        let (vocabulary, dimension) = (table.shape[0], table.shape[1])
        let rowIds = try exactIntegers(ids.values, op: "embedding", name: "ids")
        try validateEmbeddingIds(rowIds, vocabulary: vocabulary)
        let outShape = ids.shape + [dimension]
        if let gradOut, gradOut.shape != outShape { throw fail("grad_output must be \(shapeText(outShape)), got \(shapeText(gradOut.shape))") }
        guard ids.count > 0 else { return (HostArray(shape: outShape, values: []), gradOut.map { _ in HostArray(shape: table.shape, values: .init(repeating: 0, count: table.count)) }) }
        let (rows, tokens) = (try backend.makeBuffer(table.values), try backend.makeBuffer(rowIds))
        let out = try backend.makeBuffer(count: ids.count * dimension)
        try backend.embeddingForward(table: rows, ids: tokens, out: out, count: ids.count, dimension: dimension)
        let result = HostArray(shape: outShape, values: try backend.read(out))
        guard let gradOut else { return (result, nil) }
        let (upstream, gradTable) = (try backend.makeBuffer(gradOut.values), try backend.makeBuffer(count: table.count))
        try backend.embeddingBackward(gradOut: upstream, ids: rowIds, gradTable: gradTable, dimension: dimension, vocabulary: vocabulary)
        return (result, HostArray(shape: table.shape, values: try backend.read(gradTable)))
    }

    /// `x [..., C] + bias [C]`, and the bias gradient `Σ` over leading axes of an upstream gradient.
    public func biasAdd(_ x: HostArray, bias: HostArray, gradY: HostArray? = nil) throws -> (y: HostArray, gradBias: HostArray?) {
        guard let columns = x.shape.last, bias.shape == [columns] else {
            throw BackendError.invalidArgument(op: "bias-add", message: "bias must be [C] = [\(x.shape.last ?? 0)], got \(shapeText(bias.shape))")
        }
        let rows = x.count / max(columns, 1)
        let (input, b, y) = (try backend.makeBuffer(x.values), try backend.makeBuffer(bias.values), try backend.makeBuffer(count: x.count))
        try backend.biasAdd(input, bias: b, into: y, rows: rows, columns: columns)
        let output = HostArray(shape: x.shape, values: try backend.read(y))
        guard let gradY else { return (output, nil) }
        let (upstream, sums) = (try backend.makeBuffer(gradY.values), try backend.makeBuffer(count: columns))
        try backend.columnSums(upstream, rows: rows, columns: columns, into: sums)
        return (output, HostArray(shape: [columns], values: try backend.read(sums)))
    }
}

/// Float values that must be int32 ids (arrays from `.npy` files and host code hold floats).
func exactIntegers(_ values: [Float], op: String, name: String) throws(BackendError) -> [Int32] {
    var ids: [Int32] = []
    ids.reserveCapacity(values.count)
    for (index, value) in values.enumerated() {
        guard let id = Int32(exactly: value) else {
            throw .invalidArgument(op: op, message: "\(name)[\(index)] = \(value) is not an integer id")
        }
        ids.append(id)
    }
    return ids
}
