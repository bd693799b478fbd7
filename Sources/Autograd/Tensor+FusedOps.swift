import Compute
import Foundation

/// Differentiable wrappers of the fused kernels: softmax, attention, InfoNCE,
/// embeddings, and the KL and binary cross-entropy losses.
extension Tensor {
    /// `softmax(scale·self)` over the last axis (log-softmax when `log`); `mask` (same shape,
    /// nonzero keeps) is a constant.
    public func softmax(scale: Float = 1, log: Bool = false, mask: [Float]? = nil) throws -> Tensor {
        try requireElementType(.float32, "softmax")
        let descriptor = try SoftmaxDescriptor(xShape: shape, maskShape: mask.map { _ in shape }, scale: scale, isLog: log)
        if let mask, mask.count != count {
            throw BackendError.invalidArgument(op: "softmax", message: "mask must have \(count) values like x, got \(mask.count)")
        }
        let backend = self.backend
        let maskBuffer = try mask.map { try backend.makeBuffer($0) }
        let out = try backend.makeBuffer(count: count, for: "the softmax output \(shape)")
        try backend.softmaxForward(descriptor, x: storage, mask: maskBuffer, y: out)
        return record(shape: shape, storage: out, inputs: [self]) { gradient in
            let gradX = try backend.makeBuffer(count: descriptor.count)
            try backend.softmaxBackward(descriptor, y: out, gradY: gradient, mask: maskBuffer, gradX: gradX)
            return [gradX]
        }
    }

    /// Scaled dot-product attention with this tensor as the queries `[B, H, Lq, D]`.
    public func attention(keys: Tensor, values: Tensor, keyMask: [Float]? = nil, scale: Float? = nil, causal: Bool = false) throws -> Tensor {
        try sameBackend(keys, "attention")
        try sameBackend(values, "attention")
        let descriptor = try AttentionDescriptor(qShape: shape, kShape: keys.shape, vShape: values.shape,
                                                 keyMaskShape: keyMask.map { _ in [shape[0], keys.shape.count == 4 ? keys.shape[2] : 0] },
                                                 scale: scale, isCausal: causal)
        if let keyMask, keyMask.count != descriptor.batch * descriptor.keyLength {
            throw BackendError.invalidArgument(op: "attention", message: "key_mask must have B·Lk = \(descriptor.batch * descriptor.keyLength) values, got \(keyMask.count)")
        }
        let backend = self.backend
        // Every layer of a step reads the same mask: the backend uploads it once.
        let mask = try keyMask.map { try backend.constantBuffer($0) }
        let out = try backend.makeBuffer(count: descriptor.outShape.reduce(1, *), for: "the attention output \(descriptor.outShape)")
        let logSumExp = try backend.makeBuffer(count: descriptor.logSumExpShape.reduce(1, *))
        try backend.attentionForward(descriptor, q: storage, k: keys.storage, v: values.storage, keyMask: mask, out: out, logSumExp: logSumExp)
        return record(shape: descriptor.outShape, storage: out, inputs: [self, keys, values]) { [storage] gradient in
            let (gradQ, gradK, gradV) = (try backend.makeBuffer(count: self.count), try backend.makeBuffer(count: keys.count),
                                         try backend.makeBuffer(count: values.count))
            try backend.attentionBackward(descriptor, q: storage, k: keys.storage, v: values.storage, keyMask: mask, out: out,
                                          logSumExp: logSumExp, gradOut: gradient, gradQ: gradQ, gradK: gradK, gradV: gradV)
            return [gradQ, gradK, gradV]
        }
    }

    /// Rows of this table `[V, D]` for `ids` (shape `idsShape`) → `idsShape + [D]`.
    public func embedding(ids: [Int32], shape idsShape: [Int]) throws -> Tensor {
        guard idsShape.reduce(1, *) == ids.count else {
            throw BackendError.invalidArgument(op: "embedding", message: "ids shape \(idsShape) holds \(idsShape.reduce(1, *)) ids, got \(ids.count)")
        }
        return try embedding(ids: try Tensor(ids, shape: idsShape, on: backend))
    }

    /// Rows of this table `[V, D]` for an int32 `ids` tensor → `ids.shape + [D]`.
    public func embedding(ids tensor: Tensor) throws -> Tensor {
        try requireElementType(.float32, "embedding")
        try tensor.requireElementType(.int32, "embedding ids")
        guard shape.count == 2 else { throw BackendError.invalidArgument(op: "embedding", message: "table must be [V, D], got \(shape)") }
        let (vocabulary, dimension, ids, idsShape) = (shape[0], shape[1], try tensor.intValues(), tensor.shape)
        try validateEmbeddingIds(ids, vocabulary: vocabulary)
        let backend = self.backend
        let idBuffer = tensor.storage
        let out = try backend.makeBuffer(count: ids.count * dimension)
        try backend.embeddingForward(table: storage, ids: idBuffer, out: out, count: ids.count, dimension: dimension)
        return record(shape: idsShape + [dimension], storage: out, inputs: [self]) { gradient in
            let gradTable = try backend.makeBuffer(count: vocabulary * dimension, for: "the embedding-table gradient [\(vocabulary), \(dimension)]")
            try backend.embeddingBackward(gradOut: gradient, ids: ids, gradTable: gradTable, dimension: dimension, vocabulary: vocabulary)
            return [gradTable]
        }
    }

    /// `T²·mean KL(softmax(teacher/T) ‖ softmax(self/T))` with these logits `[N, C]` as the
    /// student; the teacher is treated as a constant (pass it detached).
    public func klDivergence(teacher: Tensor, temperature: Float) throws -> Tensor {
        let descriptor = try KLDivergenceDescriptor(studentShape: shape, teacherShape: teacher.shape, temperature: temperature)
        let backend = self.backend
        let loss = try backend.klDivergenceMean(descriptor, student: storage, teacher: teacher.storage)
        return record(shape: [], storage: try backend.makeBuffer([Float(loss)]), inputs: [self]) { [storage] gradient in
            let gradStudent = try backend.makeBuffer(count: descriptor.rows * descriptor.classes)
            try backend.klDivergenceMeanBackward(descriptor, student: storage, teacher: teacher.storage,
                                                 upstream: try backend.read(gradient, count: 1)[0], gradStudent: gradStudent)
            return [gradStudent]
        }
    }

    /// Mean binary cross-entropy of these logits against `targets` in [0, 1].
    public func binaryCrossEntropy(targets: [Float]) throws -> Tensor {
        guard targets.count == count else {
            throw BackendError.invalidArgument(op: "binary-cross-entropy", message: "targets must have \(count) values like the logits, got \(targets.count)")
        }
        let backend = self.backend
        let targetBuffer = try backend.makeBuffer(targets)
        let mean = try backend.binaryCrossEntropyMean(logits: storage, targets: targetBuffer, count: count)
        return record(shape: [], storage: try backend.makeBuffer([Float(mean)]), inputs: [self]) { [storage, count] gradient in
            let grad = try backend.makeBuffer(count: count)
            try backend.binaryCrossEntropyMeanBackward(logits: storage, targets: targetBuffer, count: count,
                                                       upstream: try backend.read(gradient, count: 1)[0], grad: grad)
            return [grad]
        }
    }

    /// The InfoNCE loss of this `a [G?, N, D]` against `b [G?, M, D]` at logit scale
    /// `logitScale` (a one-element tensor, learnable as in CLIP, never read to the host).
    public func infoNCE(_ b: Tensor, logitScale: Tensor, targets: InfoNCETargets = .diagonal, labelsA: [Float]? = nil, labelsB: [Float]? = nil,
                        softTargets: [Float]? = nil, direction: InfoNCEDirection = .symmetric, normalize: Bool = true) throws -> Tensor {
        guard logitScale.count == 1 else {
            throw BackendError.invalidArgument(op: "infonce", message: "the logit scale must hold one value, got shape \(logitScale.shape)")
        }
        let backend = self.backend
        try sameBackend(logitScale, "infonce")
        let rows = shape.count >= 2 ? shape[shape.count - 2] : 0, columns = b.shape.count >= 2 ? b.shape[b.shape.count - 2] : 0
        // The scale stays on the device (InfoNCEInputs.scale): the descriptor's is 1.
        let descriptor = try InfoNCEDescriptor(aShape: shape, bShape: b.shape, scale: 1, normalizes: normalize, targets: targets,
                                               labelsAShape: labelsA.map { [$0.count] }, labelsBShape: labelsB.map { [$0.count] },
                                               softTargetsShape: softTargets.map { _ in [rows, columns] }, direction: direction)
        if let softTargets, softTargets.count != rows * columns {
            throw BackendError.invalidArgument(op: "infonce", message: "targets must have N·M = \(rows * columns) values, got \(softTargets.count)")
        }
        let inputs = InfoNCEInputs(a: storage, b: b.storage, labelsA: try labelsA.map { try backend.makeBuffer($0) },
                                   labelsB: try labelsB.map { try backend.makeBuffer($0) }, softTargets: try softTargets.map { try backend.makeBuffer($0) },
                                   scale: logitScale.storage)
        let (loss, state) = try backend.infoNCEForward(descriptor, inputs)
        return record(shape: [], storage: loss, inputs: [self, b, logitScale]) { [count] gradient in
            let (gradA, gradB) = (try backend.makeBuffer(count: count), try backend.makeBuffer(count: b.count))
            let gradScale = try backend.infoNCEBackward(descriptor, inputs, state: state, gradLoss: gradient, gradA: gradA, gradB: gradB)
            return [gradA, gradB, gradScale]
        }
    }
}

extension Tensor {
    /// The mutual-information lower bound of each group of these scores `[G, N, N]` (diagonal =
    /// positive pairs) → `[G]`: the local MI objective's per-location bounds.
    public func mutualInformation(estimator: MutualInformationDescriptor.Estimator) throws -> Tensor {
        try requireElementType(.float32, "mutual-information")
        let descriptor = try MutualInformationDescriptor(scoresShape: shape, estimator: estimator)
        let backend = self.backend
        let bounds = try backend.makeBuffer(count: descriptor.groups), statistics = try backend.makeBuffer(count: 2 * descriptor.groups)
        try backend.mutualInformationForward(descriptor, scores: storage, bounds: bounds, statistics: statistics)
        return record(shape: [descriptor.groups], storage: bounds, inputs: [self]) { [storage, count] gradient in
            let gradScores = try backend.makeBuffer(count: count)
            try backend.mutualInformationBackward(descriptor, scores: storage, statistics: statistics, gradBounds: gradient, gradScores: gradScores)
            return [gradScores]
        }
    }

    /// `exp(self)` elementwise, on the device (CLIP's logit scale `s = exp(θ)`).
    public func exp() throws -> Tensor {
        try requireElementType(.float32, "exp")
        let backend = self.backend
        let out = try backend.makeBuffer(count: count)
        try backend.map(.exp, storage, into: out, count: count)
        return record(shape: shape, storage: out, inputs: [self]) { [count] gradient in
            // d exp(x) / dx = exp(x): the output itself.
            let gradX = try backend.makeBuffer(count: count)
            try backend.multiply(gradient, out, into: gradX, count: count)
            return [gradX]
        }
    }
}
