extension Operations {
    /// Layer norm of `x [..., C]`; with `gradY`, also the gradients of x, weight and bias.
    public func layerNorm(_ x: HostArray, weight: HostArray, bias: HostArray, epsilon: Float = 1e-5, gradY: HostArray? = nil) throws
        -> (y: HostArray, gradX: HostArray?, gradWeight: HostArray?, gradBias: HostArray?) {
        let descriptor = try LayerNormDescriptor(xShape: x.shape, weightShape: weight.shape, biasShape: bias.shape, epsilon: epsilon)
        if let gradY, gradY.shape != x.shape {
            throw BackendError.invalidArgument(op: "layernorm", message: "grad_output must have the shape of y \(shapeText(x.shape)), got \(shapeText(gradY.shape))")
        }
        let (input, w, b) = (try backend.makeBuffer(x.values), try backend.makeBuffer(weight.values), try backend.makeBuffer(bias.values))
        let y = try backend.makeBuffer(count: x.count)
        let mean = try backend.makeBuffer(count: descriptor.rows), rstd = try backend.makeBuffer(count: descriptor.rows)
        try backend.layerNormForward(descriptor, x: input, weight: w, bias: b, y: y, mean: mean, reciprocalStd: rstd)
        let output = HostArray(shape: x.shape, values: try backend.read(y))
        guard let gradY else { return (output, nil, nil, nil) }
        let upstream = try backend.makeBuffer(gradY.values)
        let gradX = try backend.makeBuffer(count: x.count)
        let gradWeight = try backend.makeBuffer(count: descriptor.columns), gradBias = try backend.makeBuffer(count: descriptor.columns)
        try backend.layerNormBackward(descriptor, x: input, weight: w, mean: mean, reciprocalStd: rstd, gradY: upstream, gradX: gradX,
                                      gradWeight: gradWeight, gradBias: gradBias)
        return (output, HostArray(shape: x.shape, values: try backend.read(gradX)),
                HostArray(shape: weight.shape, values: try backend.read(gradWeight)), HostArray(shape: bias.shape, values: try backend.read(gradBias)))
    }

    /// GELU of `x`; with `gradY`, also the gradient of x.
    public func gelu(_ x: HostArray, approximation: GELUDescriptor.Approximation = .none, gradY: HostArray? = nil) throws -> (y: HostArray, gradX: HostArray?) {
        if let gradY, gradY.shape != x.shape {
            throw BackendError.invalidArgument(op: "gelu", message: "grad_output must have the shape of y \(shapeText(x.shape)), got \(shapeText(gradY.shape))")
        }
        let descriptor = try GELUDescriptor(count: x.count, approximation: approximation)
        guard x.count > 0 else { return (x, gradY) }
        let input = try backend.makeBuffer(x.values), y = try backend.makeBuffer(count: x.count)
        try backend.geluForward(descriptor, x: input, y: y)
        let output = HostArray(shape: x.shape, values: try backend.read(y))
        guard let gradY else { return (output, nil) }
        let upstream = try backend.makeBuffer(gradY.values), gradX = try backend.makeBuffer(count: x.count)
        try backend.geluBackward(descriptor, x: input, gradY: upstream, gradX: gradX)
        return (output, HostArray(shape: x.shape, values: try backend.read(gradX)))
    }

    /// `steps` AdamW updates from `parameters` with zero moments, one gradient array per step.
    public func adamW(parameters: [Float], gradients: [[Float]], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
                      epsilon: Float = 1e-8, weightDecay: Float = 0.01) throws -> [Float] {
        guard gradients.allSatisfy({ $0.count == parameters.count }) else {
            throw BackendError.invalidArgument(op: "adamw", message: "every gradient must have \(parameters.count) values like the parameters")
        }
        let p = try backend.makeBuffer(parameters)
        let zeros = [Float](repeating: 0, count: parameters.count)
        let (m, v) = (try backend.makeBuffer(zeros), try backend.makeBuffer(zeros))
        for (index, gradient) in gradients.enumerated() {
            let g = try backend.makeBuffer(gradient)
            try backend.adamWStep(AdamWDescriptor(count: parameters.count, learningRate: learningRate, beta1: beta1, beta2: beta2,
                                                  epsilon: epsilon, weightDecay: weightDecay, step: index + 1),
                                  parameters: p, gradients: g, firstMoment: m, secondMoment: v)
        }
        return try backend.read(p)
    }
}
