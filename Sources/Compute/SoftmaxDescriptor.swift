/// `y = softmax(scale·x)` (or log-softmax) over the last axis of `x [..., N]`, with an optional
/// keep-mask of the same shape; the shapes checked once, here.
public struct SoftmaxDescriptor: Sendable, Equatable {
    /// The product of all leading dimensions.
    public let rows: Int
    /// The softmax axis length N.
    public let columns: Int
    public let scale: Float
    public let isLog: Bool
    public let hasMask: Bool

    public init(rows: Int, columns: Int, scale: Float = 1, isLog: Bool = false, hasMask: Bool = false) {
        self.rows = rows
        self.columns = columns
        self.scale = scale
        self.isLog = isLog
        self.hasMask = hasMask
    }

    public init(xShape: [Int], maskShape: [Int]?, scale: Float, isLog: Bool) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "softmax", message: message) }
        guard let columns = xShape.last else { throw fail("x must have at least 1 dimension [..., N], got a 0-d array") }
        if let maskShape, maskShape != xShape {
            throw fail("mask must have the shape of x \(shapeText(xShape)), got \(shapeText(maskShape))")
        }
        guard scale.isFinite else { throw fail("scale must be finite, got \(scale)") }
        let rows = xShape.dropLast().reduce(1, *)
        guard rows * columns <= Int(Int32.max) else {
            throw fail("x has \(rows * columns) elements, more than the supported \(Int32.max)")
        }
        self.init(rows: rows, columns: columns, scale: scale, isLog: isLog, hasMask: maskShape != nil)
    }

    public var count: Int { rows * columns }
    /// Read x (and the mask), write y.
    public var bytes: Double { Double(count) * 4 * (hasMask ? 3 : 2) }
    /// Read y, dy (and the mask), write dx.
    public var backwardBytes: Double { Double(count) * 4 * (hasMask ? 4 : 3) }
}
