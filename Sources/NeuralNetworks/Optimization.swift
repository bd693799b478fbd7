import Autograd
import Compute
import Foundation

/// SGD with momentum: `v ← μ·v + g`, `p ← p − lr·v`, on the parameters' backend.
public final class SGD {
    public var learningRate: Float
    public let momentum: Float
    private var velocities: [ObjectIdentifier: Buffer] = [:]
    private let parameters: [Tensor]

    public init(parameters: [Tensor], learningRate: Float, momentum: Float = 0.9) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
    }

    /// One update of every parameter that has a gradient, then clears the gradients.
    public func update() throws {
        for parameter in parameters {
            defer { parameter.zeroGradient() }
            guard let gradient = parameter.gradient else { continue }
            let (backend, count) = (parameter.backend, parameter.count)
            let velocity = try velocities[ObjectIdentifier(parameter)] ?? backend.makeBuffer([Float](repeating: 0, count: count))
            velocities[ObjectIdentifier(parameter)] = velocity
            try backend.scale(velocity, by: momentum, into: velocity, count: count)
            try backend.accumulate(gradient, into: velocity, count: count)
            let step = try backend.makeBuffer(count: count)
            try backend.scale(velocity, by: -learningRate, into: step, count: count)
            try backend.accumulate(step, into: parameter.storage, count: count)
        }
    }
}

/// Scales every gradient by `maxNorm / norm` when their global L2 norm exceeds `maxNorm`, and
/// returns the squared norm (before clipping) as a one-element buffer. Everything stays on the
/// backend: each parameter's sum of squares goes into one buffer, its sum gives the squared
/// norm, `ScalarFunction.clipFactor` the factor (1 when within the bound), and every gradient is
/// scaled by it — nothing waits for a read.
@discardableResult
public func clipGradients(_ parameters: [Tensor], maxNorm: Float) throws -> Buffer? {
    let withGradients = parameters.filter { $0.gradient != nil }
    guard let backend = withGradients.first?.backend else { return nil }
    let sums = try backend.makeBuffer(count: withGradients.count)
    for (index, parameter) in withGradients.enumerated() {
        let gradient = parameter.gradient!
        let squares = try backend.makeBuffer(count: parameter.count), sum = try backend.makeBuffer(count: 1)
        try backend.multiply(gradient, gradient, into: squares, count: parameter.count)
        try backend.columnSums(squares, rows: parameter.count, columns: 1, into: sum)
        try backend.copyBlocks(sum, to: sums, BlockCopy(blocks: 1, blockLength: 1, sourceStride: 1, destinationOffset: index, destinationStride: 1))
    }
    let squaredNorm = try backend.makeBuffer(count: 1), factor = try backend.makeBuffer(count: 1)
    try backend.columnSums(sums, rows: withGradients.count, columns: 1, into: squaredNorm)
    try backend.map(.clipFactor(maxNorm: maxNorm), squaredNorm, into: factor, count: 1)
    for parameter in withGradients {
        try backend.scale(parameter.gradient!, byScalarIn: factor, into: parameter.gradient!, count: parameter.count)
    }
    return squaredNorm
}

/// The learning rate as a function of the step (from 0).
public enum LearningRateSchedule: Sendable, Equatable {
    case constant(Float)
    /// Linear warm-up from 0 to `peak` over `warmupSteps`, then cosine decay to `minimum` at
    /// `totalSteps` (and `minimum` after).
    case warmupCosine(peak: Float, warmupSteps: Int, totalSteps: Int, minimum: Float = 0)

    public func rate(at step: Int) -> Float {
        switch self {
        case .constant(let rate):
            return rate
        case .warmupCosine(let peak, let warmup, let total, let minimum):
            if step < warmup { return peak * Float(step + 1) / Float(warmup) }
            let progress = min(1, Double(step - warmup) / Double(max(total - warmup, 1)))
            return minimum + (peak - minimum) * Float(0.5 * (1 + cos(Double.pi * progress)))
        }
    }
}
