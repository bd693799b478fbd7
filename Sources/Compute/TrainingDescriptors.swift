/// Layer normalisation over the last axis of `x [..., C]` with `weight [C]` and `bias [C]`.
public struct LayerNormDescriptor: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public let epsilon: Float

    public init(rows: Int, columns: Int, epsilon: Float = 1e-5) {
        self.rows = rows
        self.columns = columns
        self.epsilon = epsilon
    }

    public init(xShape: [Int], weightShape: [Int], biasShape: [Int], epsilon: Float) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "layernorm", message: message) }
        guard let columns = xShape.last, columns >= 1 else { throw fail("x must be [..., C] with C ≥ 1, got \(shapeText(xShape))") }
        guard weightShape == [columns] else { throw fail("weight must be [C] = [\(columns)], got \(shapeText(weightShape))") }
        guard biasShape == [columns] else { throw fail("bias must be [C] = [\(columns)], got \(shapeText(biasShape))") }
        guard epsilon.isFinite, epsilon > 0 else { throw fail("epsilon must be positive, got \(epsilon)") }
        let rows = xShape.dropLast().reduce(1, *)
        guard rows * columns <= Int(Int32.max) else { throw fail("x has \(rows * columns) elements, more than the supported \(Int32.max)") }
        self.init(rows: rows, columns: columns, epsilon: epsilon)
    }

    public var count: Int { rows * columns }
    /// Read x, weight and bias, write y (and the per-row statistics).
    public var bytes: Double { Double(4 * (2 * count + 2 * columns + 2 * rows)) }
}

/// GELU over `count` floats, exact (`x·Φ(x)`) or with the tanh approximation.
public struct GELUDescriptor: Sendable, Equatable {
    public enum Approximation: String, Sendable, CaseIterable { case none, tanh }

    public let count: Int
    public let approximation: Approximation

    public init(count: Int, approximation: Approximation = .none) {
        self.count = count
        self.approximation = approximation
    }
}

/// One AdamW step over `count` parameters (Loshchilov & Hutter: weight decay applied to the
/// parameter, decoupled from the gradient), with bias correction for step `step` (from 1).
public struct AdamWDescriptor: Sendable, Equatable {
    public let count: Int
    public let learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    public let step: Int

    public init(count: Int, learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0.01, step: Int) {
        self.count = count
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.step = step
    }

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
public struct CrossEntropyDescriptor: Sendable, Equatable {
    public let rows: Int
    public let classes: Int
    public let ignoreIndex: Int32
    /// Rows whose target is not `ignoreIndex`: the mean's denominator.
    public let countedRows: Int

    public init(rows: Int, classes: Int, ignoreIndex: Int32 = -100, countedRows: Int? = nil) {
        self.rows = rows
        self.classes = classes
        self.ignoreIndex = ignoreIndex
        self.countedRows = countedRows ?? rows
    }

    /// Checks `logits [N, C]` against `targets` (N ids, each a class or the ignore index) and
    /// counts the rows that take part.
    public init(logitsShape: [Int], targets: [Int32], ignoreIndex: Int32 = -100) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "cross-entropy", message: message) }
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
        self.init(rows: rows, classes: classes, ignoreIndex: ignoreIndex, countedRows: counted)
    }
}

/// `T²·KL(softmax(teacher/T) ‖ softmax(student/T))` averaged over rows, the gradient going to
/// the student only (ITA's cross-view alignment; the teacher is detached).
public struct KLDivergenceDescriptor: Sendable, Equatable {
    public let rows: Int
    public let classes: Int
    public let temperature: Float

    public init(rows: Int, classes: Int, temperature: Float) {
        self.rows = rows
        self.classes = classes
        self.temperature = temperature
    }

    public init(studentShape: [Int], teacherShape: [Int], temperature: Float) throws(BackendError) {
        func fail(_ message: String) -> BackendError { .invalidArgument(op: "kl-divergence", message: message) }
        guard studentShape.count == 2 else { throw fail("student must be [N, C], got \(shapeText(studentShape))") }
        guard teacherShape == studentShape else {
            throw fail("teacher must have the shape of student \(shapeText(studentShape)), got \(shapeText(teacherShape))")
        }
        guard temperature.isFinite, temperature > 0 else { throw fail("the temperature must be positive, got \(temperature)") }
        self.init(rows: studentShape[0], classes: studentShape[1], temperature: temperature)
    }
}
