/// `y = softmax(scale·x)` (or log-softmax) over the last axis of `x [..., N]`, with an optional
/// keep-mask of the same shape; the shapes checked once, here.
public struct SoftmaxDescriptor: OpDescriptor {
    public static let op = "softmax"
    /// The product of all leading dimensions.
    public let rows: Int
    /// The softmax axis length N.
    public let columns: Int
    public let scale: Float
    public let isLog: Bool
    public let hasMask: Bool

    public init(rows: Int, columns: Int, scale: Float = 1, isLog: Bool = false, hasMask: Bool = false) throws(BackendError) {
        (self.rows, self.columns, self.scale, self.isLog, self.hasMask) = (rows, columns, scale, isLog, hasMask)
        try validate()
    }

    public func validate() throws(BackendError) {
        try require(["rows": rows, "columns": columns], atLeast: 0)
        guard scale.isFinite else { throw fail("scale must be finite, got \(scale)") }
        try requireIndexable(["x": rows * columns])
    }

    public init(xShape: [Int], maskShape: [Int]?, scale: Float, isLog: Bool) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "softmax", message: message) }
        guard let columns = xShape.last else { throw fail("x must have at least 1 dimension [..., N], got a 0-d array") }
        if let maskShape, maskShape != xShape {
            throw fail("mask must have the shape of x \(shapeText(xShape)), got \(shapeText(maskShape))")
        }
        try self.init(rows: xShape.dropLast().reduce(1, *), columns: columns, scale: scale, isLog: isLog, hasMask: maskShape != nil)
    }

    public var count: Int { rows * columns }
    /// Max, subtract, exponentiate, sum and scale: about five per element.
    public var flops: Double { 5 * Double(count) }
    /// Read x (and the mask), write y.
    public var bytes: Double { Double(count) * 4 * (hasMask ? 3 : 2) }
    /// Read y, dy (and the mask), write dx.
    public var backwardBytes: Double { Double(count) * 4 * (hasMask ? 4 : 3) }
}
