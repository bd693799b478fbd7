/// Layer normalisation over the last axis of `x [..., C]` with `weight [C]` and `bias [C]`.
public struct LayerNormDescriptor: OpDescriptor {
    public static let op = "layernorm"
    public let rows: Int
    public let columns: Int
    public let epsilon: Float

    public init(rows: Int, columns: Int, epsilon: Float = 1e-5) throws(BackendError) {
        (self.rows, self.columns, self.epsilon) = (rows, columns, epsilon)
        try validate()
    }

    public func validate() throws(BackendError) {
        try require(["rows": rows], atLeast: 0)
        try require(["C": columns])
        guard epsilon.isFinite, epsilon > 0 else { throw fail("epsilon must be positive, got \(epsilon)") }
        try requireIndexable(["x": rows * columns])
    }

    public init(xShape: [Int], weightShape: [Int], biasShape: [Int], epsilon: Float) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: Self.op, message: message) }
        guard let columns = xShape.last, columns >= 1 else { throw fail("x must be [..., C] with C ≥ 1, got \(shapeText(xShape))") }
        guard weightShape == [columns] else { throw fail("weight must be [C] = [\(columns)], got \(shapeText(weightShape))") }
        guard biasShape == [columns] else { throw fail("bias must be [C] = [\(columns)], got \(shapeText(biasShape))") }
        try self.init(rows: xShape.dropLast().reduce(1, *), columns: columns, epsilon: epsilon)
    }

    public var count: Int { rows * columns }
    /// Read x, weight and bias, write y (and the per-row statistics).
    public var bytes: Double { Double(4 * (2 * count + 2 * columns + 2 * rows)) }
    /// Mean, variance, normalise, scale and shift: about eight per element.
    public var flops: Double { 8 * Double(count) }
}

/// GELU over `count` floats, exact (`x·Φ(x)`, Hugging Face's `gelu`), with the tanh
/// approximation (`gelu_new`, `gelu_pytorch_tanh`) or the sigmoid one (`x·σ(1.702x)`, CLIP's
/// `quick_gelu`).
public struct GELUDescriptor: OpDescriptor {
    public static let op = "gelu"
    public enum Approximation: String, Sendable, CaseIterable, Codable {
        case none, tanh, sigmoid

        /// The kernels' `approximate` argument.
        public var kernelCode: Int32 {
            switch self { case .none: 0; case .tanh: 1; case .sigmoid: 2 }
        }
    }

    public let count: Int
    public let approximation: Approximation

    public init(count: Int, approximation: Approximation = .none) throws(BackendError) {
        (self.count, self.approximation) = (count, approximation)
        try validate()
    }

    public func validate() throws(BackendError) {
        try require(["count": count], atLeast: 0)
        try requireIndexable(["x": count])
    }

    /// erf or tanh and a few multiply-adds: about twenty per element (nominal).
    public var flops: Double { 20 * Double(count) }
    /// Read x, write y.
    public var bytes: Double { 8 * Double(count) }
}

/// One AdamW step over `count` parameters (Loshchilov & Hutter: weight decay applied to the
/// parameter, decoupled from the gradient), with bias correction for step `step` (from 1).
public struct AdamWDescriptor: OpDescriptor {
    public static let op = "adamw"
    public let count: Int
    public let learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    public let step: Int

    public init(count: Int, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0.01, step: Int) throws(BackendError) {
        (self.count, self.learningRate, self.beta1, self.beta2) = (count, learningRate, beta1, beta2)
        (self.epsilon, self.weightDecay, self.step) = (epsilon, weightDecay, step)
        try validate()
    }

    public func validate() throws(BackendError) {
        try require(["count": count], atLeast: 0)
        try require(["step": step])
        guard learningRate.isFinite, learningRate >= 0 else { throw fail("the learning rate must be finite and non-negative, got \(learningRate)") }
        for (name, beta) in [("beta1", beta1), ("beta2", beta2)] where !(beta >= 0 && beta < 1) {
            throw fail("\(name) must be in [0, 1), got \(beta)")
        }
        guard epsilon.isFinite, epsilon > 0 else { throw fail("epsilon must be positive, got \(epsilon)") }
        guard weightDecay.isFinite, weightDecay >= 0 else { throw fail("the weight decay must be finite and non-negative, got \(weightDecay)") }
        try requireIndexable(["parameters": count])
    }

    /// Both moments, the bias-corrected step and the decay: about fifteen per parameter.
    public var flops: Double { 15 * Double(count) }
    /// Read parameters, gradients and both moments; write parameters and both moments.
    public var bytes: Double { 28 * Double(count) }

    /// `1 − β₁ᵗ` and `1 − β₂ᵗ`, computed in float64 (β₂ᵗ loses digits in float32 over long runs).
    public var corrections: (Float, Float) {
        (Float(1 - _pow(Double(beta1), step)), Float(1 - _pow(Double(beta2), step)))
    }
}

private func _pow(_ base: Double, _ exponent: Int) -> Double {
    var result = 1.0
    for _ in 0..<max(exponent, 0) { result *= base }
    return result
}

/// Cross-entropy over `logits [rows, classes]` with integer targets `[rows]` (exact integers
/// stored as floats); rows whose target is `ignoreIndex` contribute nothing, and the loss is
/// the mean over the others.
public struct CrossEntropyDescriptor: OpDescriptor {
    public static let op = "cross-entropy"
    public let rows: Int
    public let classes: Int
    public let ignoreIndex: Int32
    /// Rows whose target is not `ignoreIndex`: the mean's denominator.
    public let countedRows: Int

    public init(rows: Int, classes: Int, ignoreIndex: Int32 = -100, countedRows: Int? = nil) throws(BackendError) {
        (self.rows, self.classes, self.ignoreIndex, self.countedRows) = (rows, classes, ignoreIndex, countedRows ?? rows)
        try validate()
    }

    public func validate() throws(BackendError) {
        try require(["N": rows], atLeast: 0)
        try require(["C": classes])
        guard (0...rows).contains(countedRows) else { throw fail("the counted rows must be in 0...\(rows), got \(countedRows)") }
        try requireIndexable(["logits": rows * classes])
    }

    /// Max, exponentiate and sum over each row: about four per logit.
    public var flops: Double { 4 * Double(rows * classes) }
    /// Read the logits and targets, write the per-row losses.
    public var bytes: Double { 4 * Double(rows * classes + 2 * rows) }

    /// Checks `logits [N, C]` against `targets` (N ids, each a class or the ignore index) and
    /// counts the rows that take part.
    public init(logitsShape: [Int], targets: [Int32], ignoreIndex: Int32 = -100) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: Self.op, message: message) }
        guard logitsShape.count == 2 else { throw fail("logits must be [N, C], got \(shapeText(logitsShape))") }
        let (rows, classes) = (logitsShape[0], logitsShape[1])
        guard targets.count == rows else { throw fail("targets must be [N] = [\(rows)], got \(targets.count) values") }
        var counted = 0
        for (index, target) in targets.enumerated() where target != ignoreIndex {
            guard (0..<Int32(classes)).contains(target) else {
                throw fail("targets[\(index)] = \(target) is not a class in 0..<\(classes) or the ignore index \(ignoreIndex)")
            }
            counted += 1
        }
        try self.init(rows: rows, classes: classes, ignoreIndex: ignoreIndex, countedRows: counted)
    }
}

/// `T²·KL(softmax(teacher/T) ‖ softmax(student/T))` averaged over rows, the gradient going to
/// the student only (ITA's cross-view alignment; the teacher is detached).
public struct KLDivergenceDescriptor: OpDescriptor {
    public static let op = "kl-divergence"
    public let rows: Int
    public let classes: Int
    public let temperature: Float

    public init(rows: Int, classes: Int, temperature: Float) throws(BackendError) {
        (self.rows, self.classes, self.temperature) = (rows, classes, temperature)
        try validate()
    }

    public func validate() throws(BackendError) {
        try require(["N": rows], atLeast: 0)
        try require(["C": classes])
        guard temperature.isFinite, temperature > 0 else { throw fail("the temperature must be positive, got \(temperature)") }
        try requireIndexable(["student": rows * classes])
    }

    /// Two softmaxes and the weighted log-ratio: about ten per logit.
    public var flops: Double { 10 * Double(rows * classes) }
    /// Read student and teacher, write the per-row losses.
    public var bytes: Double { 4 * Double(2 * rows * classes + rows) }

    public init(studentShape: [Int], teacherShape: [Int], temperature: Float) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: Self.op, message: message) }
        guard studentShape.count == 2 else { throw fail("student must be [N, C], got \(shapeText(studentShape))") }
        guard teacherShape == studentShape else {
            throw fail("teacher must have the shape of student \(shapeText(studentShape)), got \(shapeText(teacherShape))")
        }
        try self.init(rows: studentShape[0], classes: studentShape[1], temperature: temperature)
    }
}
