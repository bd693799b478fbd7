import Autograd
import Compute

/// AdamW over a set of parameters: decoupled weight decay and bias correction, the update a
/// device kernel; the moments live next to the parameters on their backend.
public final class AdamW {
    public var learningRate: Float
    public let beta1, beta2, epsilon, weightDecay: Float
    public private(set) var step = 0
    private var moments: [ObjectIdentifier: (first: Buffer, second: Buffer)] = [:]
    private let parameters: [Tensor]
    /// Parameters updated without weight decay (e.g. a learnable logit scale).
    private let undecayed: Set<ObjectIdentifier>
    /// Parameters whose rate is `learningRate` times a factor (a pretrained tower's lower rate,
    /// so it follows the same schedule).
    private let rateFactors: [ObjectIdentifier: Float]

    public init(parameters: [Tensor], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01,
                undecayed: [Tensor] = [], rateFactor: Float = 1, scaledParameters: [Tensor] = []) {
        self.parameters = parameters
        self.undecayed = Set(undecayed.map(ObjectIdentifier.init))
        rateFactors = Dictionary(scaledParameters.map { (ObjectIdentifier($0), rateFactor) }, uniquingKeysWith: { first, _ in first })
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// The state a checkpoint needs: the step and each parameter's moments (zeros for a
    /// parameter that has not been updated yet), in the order of `parameters`.
    public func state() throws -> (step: Int, moments: [(first: [Float], second: [Float])]) {
        let moments = try parameters.map { parameter -> (first: [Float], second: [Float]) in
            guard let (first, second) = self.moments[ObjectIdentifier(parameter)] else {
                let zeros = [Float](repeating: 0, count: parameter.count)
                return (zeros, zeros)
            }
            return (try parameter.backend.read(first, count: parameter.count), try parameter.backend.read(second, count: parameter.count))
        }
        return (step, moments)
    }

    /// Restores what `state()` returned (moments in the order of `parameters`).
    public func restore(step: Int, moments: [(first: [Float], second: [Float])]) throws {
        guard moments.count == parameters.count, step >= 0 else {
            throw BackendError.invalidArgument(op: "adamw", message: "state for \(moments.count) parameters at step \(step), the optimizer has \(parameters.count)")
        }
        for (parameter, moment) in zip(parameters, moments) {
            guard moment.first.count == parameter.count, moment.second.count == parameter.count else {
                throw BackendError.invalidArgument(op: "adamw", message: "moments of \(moment.first.count) values for a parameter of \(parameter.count)")
            }
            self.moments[ObjectIdentifier(parameter)] = (try parameter.backend.makeBuffer(moment.first), try parameter.backend.makeBuffer(moment.second))
        }
        self.step = step
    }

    /// One update of every parameter that has a gradient, then clears the gradients.
    public func update() throws {
        step += 1
        for parameter in parameters {
            defer { parameter.zeroGradient() }
            guard let gradient = parameter.gradient else { continue }
            let key = ObjectIdentifier(parameter)
            if moments[key] == nil {
                let zeros = [Float](repeating: 0, count: parameter.count)
                moments[key] = (try parameter.backend.makeBuffer(zeros), try parameter.backend.makeBuffer(zeros))
            }
            let (first, second) = moments[key]!
            try parameter.backend.adamWStep(AdamWDescriptor(count: parameter.count, learningRate: learningRate * (rateFactors[key] ?? 1), beta1: beta1, beta2: beta2,
                                                            epsilon: epsilon, weightDecay: undecayed.contains(key) ? 0 : weightDecay, step: step),
                                            parameters: parameter.storage, gradients: gradient, firstMoment: first, secondMoment: second)
        }
    }
}
