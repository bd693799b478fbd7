/// What `Operations.infoNCE` returns; gradients only when asked for.
public struct InfoNCEResult: Sendable {
    public var loss: Double
    public var logits: HostArray?
    public var gradA: HostArray?
    public var gradB: HostArray?
    /// d loss / d s, for the learnable logit scale (d/dτ = −s²·this).
    public var gradScale: Double?
}

extension Operations {
    /// An InfoNCE loss of `a [G?,N,D]` against `b [G?,M,D]` at logit scale `scale` (= 1/τ).
    public func infoNCE(a: HostArray, b: HostArray, scale: Float, normalize: Bool = true, epsilon: Float = 1e-12,
                        targets: InfoNCETargets = .diagonal, labelsA: HostArray? = nil, labelsB: HostArray? = nil,
                        softTargets: HostArray? = nil, direction: InfoNCEDirection = .symmetric, strategy: InfoNCEScoreStrategy = .automatic,
                        logits: Bool = false, gradients: Bool = false) throws -> InfoNCEResult {
        var descriptor = try InfoNCEDescriptor(aShape: a.shape, bShape: b.shape, scale: scale, normalizes: normalize, epsilon: epsilon,
                                               targets: targets, labelsAShape: labelsA?.shape, labelsBShape: labelsB?.shape,
                                               softTargetsShape: softTargets?.shape, direction: direction)
        descriptor.strategy = strategy
        // Only the arrays the target kind uses go to the backend.
        let inputs = InfoNCEInputs(a: try backend.makeBuffer(a.values), b: try backend.makeBuffer(b.values),
                                   labelsA: targets == .labels ? try labelsA.map { try backend.makeBuffer($0.values) } : nil,
                                   labelsB: targets == .labels ? try labelsB.map { try backend.makeBuffer($0.values) } : nil,
                                   softTargets: targets == .soft ? try softTargets.map { try backend.makeBuffer($0.values) } : nil)
        let logitsBuffer = logits ? try backend.makeBuffer(count: descriptor.logitsShape.reduce(1, *)) : nil
        let (loss, state) = try backend.infoNCEForward(descriptor, inputs, logits: logitsBuffer)
        var result = InfoNCEResult(loss: Double(try backend.read(loss)[0]))
        if let logitsBuffer { result.logits = HostArray(shape: descriptor.logitsShape, values: try backend.read(logitsBuffer)) }
        guard gradients else { return result }
        let gradA = try backend.makeBuffer(count: a.count), gradB = try backend.makeBuffer(count: b.count)
        result.gradScale = Double(try backend.read(try backend.infoNCEBackward(descriptor, inputs, state: state, gradA: gradA, gradB: gradB))[0])
        result.gradA = HostArray(shape: a.shape, values: try backend.read(gradA))
        result.gradB = HostArray(shape: b.shape, values: try backend.read(gradB))
        return result
    }

    /// The mutual-information bound of each group of `scores [G,N,N]` (diagonal = positive
    /// pairs) and, given upstream gradients `[G]`, the gradient with respect to the scores.
    public func mutualInformation(scores: HostArray, estimator: MutualInformationDescriptor.Estimator,
                                  gradBounds: HostArray? = nil) throws -> (bounds: HostArray, gradScores: HostArray?) {
        let descriptor = try MutualInformationDescriptor(scoresShape: scores.shape, estimator: estimator)
        if let gradBounds, gradBounds.shape != [descriptor.groups] {
            throw BackendError.invalidArgument(op: "mutual-information", message: "grad_output must be [G] = [\(descriptor.groups)], got \(shapeText(gradBounds.shape))")
        }
        let input = try backend.makeBuffer(scores.values)
        let bounds = try backend.makeBuffer(count: descriptor.groups), statistics = try backend.makeBuffer(count: 2 * descriptor.groups)
        try backend.mutualInformationForward(descriptor, scores: input, bounds: bounds, statistics: statistics)
        let boundValues = HostArray(shape: [descriptor.groups], values: try backend.read(bounds))
        guard let gradBounds else { return (boundValues, nil) }
        let upstream = try backend.makeBuffer(gradBounds.values), gradScores = try backend.makeBuffer(count: scores.count)
        try backend.mutualInformationBackward(descriptor, scores: input, statistics: statistics, gradBounds: upstream, gradScores: gradScores)
        return (boundValues, HostArray(shape: scores.shape, values: try backend.read(gradScores)))
    }
}
