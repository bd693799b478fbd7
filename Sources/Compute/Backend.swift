import CLRuntime
import Foundation

/// Where ops run. One requirement per op family, so a backend that lacks an op does not
/// compile. Backends receive buffers that the host-side layer (`Operations`, the descriptors)
/// has already validated: shapes agree, every dimension is at least 1, sizes fit in Int32.
public protocol Backend: AnyObject, Sendable {
    /// Which backend this is and on what, for announcements and reports.
    var summary: BackendSummary { get }
    /// The allocator every buffer of this backend comes from.
    var pool: BufferPool { get }
    /// Why this backend cannot run the op `descriptor` describes, or nil when it can: so that
    /// `auto` and the layers can route the op elsewhere before running it, instead of failing
    /// in the middle of a run with `BackendError.unsupported`.
    func unsupportedReason(_ descriptor: any OpDescriptor) -> String?

    /// A buffer holding `values` that ops will only read (a key mask): a backend may hand out the
    /// same one for the same contents instead of uploading them again.
    func constantBuffer(_ values: [Float]) throws -> Buffer
    /// Copies `values` into `buffer` (which holds at least `values.count` floats).
    func upload(_ values: UnsafeBufferPointer<Float>, to buffer: Buffer) throws
    /// Copies the first `values.count` floats of `buffer` into `values`, after all queued work.
    func download(_ buffer: Buffer, into values: UnsafeMutableBufferPointer<Float>) throws
    /// Waits until all queued work has finished.
    func synchronize() throws

    /// Copies the first `count` floats of `source` into `destination`, on the device.
    func copy(_ source: Buffer, to destination: Buffer, count: Int) throws

    /// `c = op(a)·op(b)`, batched.
    func gemm(_ descriptor: GEMMDescriptor, a: Buffer, b: Buffer, c: Buffer) throws
    /// Runs `body` with `operand` promised unchanged, so a backend may keep the packed form it
    /// makes of it as GEMM's `b` and reuse it in the following GEMMs (InfoNCE's chunks multiply
    /// every chunk by the same b̂). The CPU path packs inside BLAS and just runs `body`.
    func withUnchangedOperand<R>(_ operand: Buffer, _ body: () throws -> R) throws -> R
    /// `y = softmax(scale·x)` or its log over the last axis, masked entries excluded.
    func softmaxForward(_ descriptor: SoftmaxDescriptor, x: Buffer, mask: Buffer?, y: Buffer) throws
    /// The gradient of `softmaxForward` with respect to `x`, from its output `y`.
    func softmaxBackward(_ descriptor: SoftmaxDescriptor, y: Buffer, gradY: Buffer, mask: Buffer?, gradX: Buffer) throws

    /// Attention output and the per-row log-sum-exp of the scaled scores (−∞ for a row with no
    /// visible key, whose output is zeros), without holding the `Lq×Lk` matrix.
    func attentionForward(_ descriptor: AttentionDescriptor, q: Buffer, k: Buffer, v: Buffer, keyMask: Buffer?,
                          out: Buffer, logSumExp: Buffer) throws
    /// The gradients of `attentionForward` with respect to q, k and v, recomputing the
    /// probabilities from the saved log-sum-exp.
    func attentionBackward(_ descriptor: AttentionDescriptor, q: Buffer, k: Buffer, v: Buffer, keyMask: Buffer?,
                           out: Buffer, logSumExp: Buffer, gradOut: Buffer, gradQ: Buffer, gradK: Buffer, gradV: Buffer) throws

    /// Layer norm of each row; `mean` and `reciprocalStd` `[rows]` are kept for the backward.
    func layerNormForward(_ descriptor: LayerNormDescriptor, x: Buffer, weight: Buffer, bias: Buffer, y: Buffer,
                          mean: Buffer, reciprocalStd: Buffer) throws
    func layerNormBackward(_ descriptor: LayerNormDescriptor, x: Buffer, weight: Buffer, mean: Buffer, reciprocalStd: Buffer,
                           gradY: Buffer, gradX: Buffer, gradWeight: Buffer, gradBias: Buffer) throws
    func geluForward(_ descriptor: GELUDescriptor, x: Buffer, y: Buffer) throws
    func geluBackward(_ descriptor: GELUDescriptor, x: Buffer, gradY: Buffer, gradX: Buffer) throws
    /// Updates `parameters`, `firstMoment` and `secondMoment` in place.
    func adamWStep(_ descriptor: AdamWDescriptor, parameters: Buffer, gradients: Buffer, firstMoment: Buffer, secondMoment: Buffer) throws

    /// `out [A, C, B, D] = in [A, B, C, D]` with axes 1 and 2 exchanged (its own inverse).
    func swapAxes12(_ x: Buffer, into y: Buffer, shape: (Int, Int, Int, Int)) throws
    /// Strided runs of 4-byte elements copied bit for bit (slices and concatenations).
    func copyBlocks(_ source: Buffer, to destination: Buffer, _ layout: BlockCopy) throws
    /// `buffer[0..<count] = value`.
    func fill(_ buffer: Buffer, with value: Float, count: Int) throws

    // Elementwise ops over `count` floats (outputs may alias inputs).

    func add(_ a: Buffer, _ b: Buffer, into y: Buffer, count: Int) throws
    func multiply(_ a: Buffer, _ b: Buffer, into y: Buffer, count: Int) throws
    func scale(_ x: Buffer, by alpha: Float, into y: Buffer, count: Int) throws
    /// `y = alpha[0]·x`, the scale read on the device (an upstream gradient, a clipping factor).
    func scale(_ x: Buffer, byScalarIn alpha: Buffer, into y: Buffer, count: Int) throws
    /// `y = f(x)` elementwise, for the scalars a step keeps on the device.
    func map(_ function: ScalarFunction, _ x: Buffer, into y: Buffer, count: Int) throws
    /// `destination += source`: gradient accumulation.
    func accumulate(_ source: Buffer, into destination: Buffer, count: Int) throws
    /// `y[r, c] = x[r, c] + bias[c]`.
    func biasAdd(_ x: Buffer, bias: Buffer, into y: Buffer, rows: Int, columns: Int) throws
    /// `out[c] = Σ_r x[r, c]`: the bias gradient, and sums over leading axes.
    func columnSums(_ x: Buffer, rows: Int, columns: Int, into out: Buffer) throws

    /// `out[n] = table[ids[n]]` for `count` ids (validated: 0 ≤ id < vocabulary).
    func embeddingForward(table: Buffer, ids: Buffer, out: Buffer, count: Int, dimension: Int) throws
    /// `gradTable[v] = Σ_{n: ids[n] = v} gradOut[n]` in ascending `n` (deterministic). The ids
    /// come from the host, which has them (the forward validated them there): a device that
    /// sums per row sorts them there first.
    func embeddingBackward(gradOut: Buffer, ids: [Int32], gradTable: Buffer, dimension: Int, vocabulary: Int) throws

    /// Per-row loss `lse(logits_r) − logits_r[t_r]` (0 for ignored rows).
    func crossEntropyForward(_ descriptor: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, rowLoss: Buffer) throws
    /// `scale·(softmax(logits_r) − onehot(t_r))`, zero rows where ignored.
    func crossEntropyBackward(_ descriptor: CrossEntropyDescriptor, logits: Buffer, targets: Buffer, scale: Float, gradLogits: Buffer) throws
    /// Per-row `KL(softmax(teacher/T) ‖ softmax(student/T))`.
    func klDivergenceForward(_ descriptor: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, rowLoss: Buffer) throws
    /// `scale·(softmax(student/T) − softmax(teacher/T))`.
    func klDivergenceBackward(_ descriptor: KLDivergenceDescriptor, student: Buffer, teacher: Buffer, scale: Float, gradStudent: Buffer) throws
    /// Elementwise `max(x, 0) − x·t + log(1 + e^−|x|)`.
    func binaryCrossEntropyForward(logits: Buffer, targets: Buffer, loss: Buffer, count: Int) throws
    /// Elementwise `scale·(σ(x) − t)`.
    func binaryCrossEntropyBackward(logits: Buffer, targets: Buffer, scale: Float, grad: Buffer, count: Int) throws

    // InfoNCE, in the steps `Backend.infoNCEForward` and `infoNCEBackward` (InfoNCE.swift) compose.

    /// `normalized = x / max(‖x‖, ε)` row by row (a copy when the descriptor does not normalise),
    /// and the norms; `x` holds `rows` rows of D.
    func infoNCENormalize(_ descriptor: InfoNCEDescriptor, x: Buffer, rows: Int, normalized: Buffer, norms: Buffer) throws
    /// Per row of `pass.x` against all rows of `pass.y`: log-sum-exp of the scores, the
    /// target-weighted score sum and the target mass. Never holds more than a block of rows.
    func infoNCERowStatistics(_ descriptor: InfoNCEDescriptor, _ pass: InfoNCEPass, statistics: InfoNCEStatistics) throws
    /// Per row of `pass.x`: the gradient of the loss with respect to the normalised row
    /// (`s·Σ_c dS_rc ŷ_c`), and the row's share of the gradient with respect to the scale
    /// (`Σ_c dS_rc·S_rc / s`).
    func infoNCEBackwardRows(_ descriptor: InfoNCEDescriptor, _ pass: InfoNCEPass, own: InfoNCEStatistics, other: InfoNCEStatistics?,
                             ownCoefficient: Float, otherCoefficient: Float, gradNormalized: Buffer, gradScalePartial: Buffer) throws
    /// `weights[i] = 1 / #{j: other[j] = own[i]}`, 0 when no label matches: the uniform target
    /// weight of a labels-target row (own = that side's labels, other = the opposite side's).
    func infoNCELabelWeights(own: Buffer, ownCount: Int, other: Buffer, otherCount: Int, weights: Buffer) throws
    /// Row statistics (as `infoNCERowStatistics` for a's rows) of the chunk's rows, from its scores.
    func infoNCEChunkRowStatistics(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk, statistics: InfoNCEStatistics) throws
    /// Folds the chunk into the column statistics (b's rows against a); chunks come in order,
    /// the first starts the running max and sum, the last writes the log-sum-exp.
    func infoNCEChunkColumnStatistics(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk, runningMaximum: Buffer, runningSum: Buffer,
                                      statistics: InfoNCEStatistics) throws
    /// Overwrites the chunk's scores with `s·dS` and writes its rows' shares of the gradient with
    /// respect to the scale (`Σ_c dS_rc·S_rc / s`).
    func infoNCEChunkGradient(_ descriptor: InfoNCEDescriptor, _ chunk: InfoNCEScoreChunk, rows: InfoNCEStatistics, columns: InfoNCEStatistics,
                              rowCoefficient: Float, columnCoefficient: Float, gradScalePartial: Buffer) throws
    /// The gradient through the normalisation.
    func infoNCENormalizeBackward(_ descriptor: InfoNCEDescriptor, x: Buffer, rows: Int, norms: Buffer, gradNormalized: Buffer, gradX: Buffer) throws
    /// The score matrix `[G, N, M]`, only when a caller asks for it.
    func infoNCELogits(_ descriptor: InfoNCEDescriptor, normalizedA: Buffer, normalizedB: Buffer, logits: Buffer) throws

    /// One bound per group, and what the backward needs (`[G, 2]`).
    func mutualInformationForward(_ descriptor: MutualInformationDescriptor, scores: Buffer, bounds: Buffer, statistics: Buffer) throws
    /// The gradient of `Σ_g gradBounds[g]·bound_g` with respect to the scores.
    func mutualInformationBackward(_ descriptor: MutualInformationDescriptor, scores: Buffer, statistics: Buffer, gradBounds: Buffer,
                                   gradScores: Buffer) throws
}

public enum BackendKind: String, Sendable, CaseIterable {
    case opencl, cpu
}

public struct BackendSummary: Sendable, CustomStringConvertible {
    public let kind: BackendKind
    /// The device: an OpenCL device name, or the host CPU with its thread count.
    public let device: String

    public var description: String { "\(kind.rawValue) (\(device))" }
}

extension Backend {
    public func unsupportedReason(_ descriptor: any OpDescriptor) -> String? { nil }

    /// A fresh upload: on the CPU path an "upload" is a copy within memory.
    public func constantBuffer(_ values: [Float]) throws -> Buffer { try makeBuffer(values) }

    public func supports(_ descriptor: any OpDescriptor) -> Bool { unsupportedReason(descriptor) == nil }

    public func withUnchangedOperand<R>(_ operand: Buffer, _ body: () throws -> R) throws -> R {
        try body()
    }

    /// A pooled buffer of `count` floats; its contents are unspecified.
    public func makeBuffer(count: Int) throws -> Buffer {
        try pool.buffer(count: count)
    }

    /// A pooled buffer for the tensor described by `tensor` (e.g. "the attention output
    /// [2, 8, 512, 64]"), which an out-of-memory error names.
    public func makeBuffer(count: Int, for tensor: @autoclosure () -> String) throws -> Buffer {
        do {
            return try pool.buffer(count: count)
        } catch BackendError.outOfMemory(let op, let message) {
            throw BackendError.outOfMemory(op: op, message: "\(tensor()): \(message)")
        }
    }

    /// A pooled buffer holding `values`.
    public func makeBuffer(_ values: [Float]) throws -> Buffer {
        let buffer = try pool.buffer(count: values.count)
        try values.withUnsafeBufferPointer { try upload($0, to: buffer) }
        return buffer
    }

    /// A pooled buffer holding int32 `values` (token ids, class targets). Buffers are untyped
    /// 4-byte elements: the bits are copied as they are, never converted.
    public func makeBuffer(_ values: [Int32]) throws -> Buffer {
        let buffer = try pool.buffer(count: values.count)
        try values.withUnsafeBufferPointer { try $0.withMemoryRebound(to: Float.self) { try upload($0, to: buffer) } }
        return buffer
    }

    /// The first `count` elements of `buffer` read as int32.
    public func readInt32(_ buffer: Buffer, count: Int? = nil) throws -> [Int32] {
        let count = count ?? buffer.count
        return try [Int32](unsafeUninitializedCapacity: count) { values, initialized in
            try UnsafeMutableBufferPointer(rebasing: values[0..<count]).withMemoryRebound(to: Float.self) { try download(buffer, into: $0) }
            initialized = count
        }
    }

    /// The first `count` floats of `buffer` (all of them by default).
    public func read(_ buffer: Buffer, count: Int? = nil) throws -> [Float] {
        let count = count ?? buffer.count
        return try [Float](unsafeUninitializedCapacity: count) { values, initialized in
            try download(buffer, into: UnsafeMutableBufferPointer(rebasing: values[0..<count]))
            initialized = count
        }
    }
}

/// Elementwise functions of `Backend.map`.
public enum ScalarFunction: Sendable, Equatable {
    case exp
    /// Into `[lower, upper]`.
    case clamp(lower: Float, upper: Float)
    /// `min(1, maxNorm / √x)` of a squared norm `x` (1 for 0; NaN stays NaN): gradient clipping.
    case clipFactor(maxNorm: Float)
    case reciprocal

    /// The code and parameters `elementwise_map` takes.
    var kernelArguments: (code: Int32, p0: Float, p1: Float) {
        switch self {
        case .exp: (0, 0, 0)
        case .clamp(let lower, let upper): (1, lower, upper)
        case .clipFactor(let maxNorm): (2, maxNorm, 0)
        case .reciprocal: (3, 0, 0)
        }
    }

    /// The function on one value, as the kernel computes it.
    func callAsFunction(_ v: Float) -> Float {
        switch self {
        case .exp: Foundation.exp(v)
        case .clamp(let lower, let upper): Swift.min(Swift.max(v, lower), upper)
        case .clipFactor(let maxNorm): v > maxNorm * maxNorm ? maxNorm / v.squareRoot() : (v.isNaN ? v : 1)
        case .reciprocal: 1 / v
        }
    }
}

/// `blocks` runs of `blockLength` elements: run i goes from `source[sourceOffset + i·sourceStride]`
/// to `destination[destinationOffset + i·destinationStride]`.
public struct BlockCopy: Sendable, Equatable {
    public var blocks, blockLength, sourceOffset, sourceStride, destinationOffset, destinationStride: Int

    public init(blocks: Int, blockLength: Int, sourceOffset: Int = 0, sourceStride: Int, destinationOffset: Int = 0, destinationStride: Int) {
        (self.blocks, self.blockLength, self.sourceOffset, self.sourceStride) = (blocks, blockLength, sourceOffset, sourceStride)
        (self.destinationOffset, self.destinationStride) = (destinationOffset, destinationStride)
    }
}
