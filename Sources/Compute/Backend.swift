import CLRuntime

/// Where ops run. One requirement per op family, so a backend that lacks an op does not
/// compile. Backends receive buffers that the host-side layer (`Operations`, the descriptors)
/// has already validated: shapes agree, every dimension is at least 1, sizes fit in Int32.
public protocol Backend: AnyObject, Sendable {
    /// Which backend this is and on what, for announcements and reports.
    var summary: BackendSummary { get }
    /// The allocator every buffer of this backend comes from.
    var pool: BufferPool { get }

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
    /// A pooled buffer of `count` floats; its contents are unspecified.
    public func makeBuffer(count: Int) throws -> Buffer {
        try pool.buffer(count: count)
    }

    /// A pooled buffer holding `values`.
    public func makeBuffer(_ values: [Float]) throws -> Buffer {
        let buffer = try pool.buffer(count: values.count)
        try values.withUnsafeBufferPointer { try upload($0, to: buffer) }
        return buffer
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
