import ArgumentParser
import Compute
import Foundation
import NumPyFiles

/// The ops `aligncl op` runs, with their inputs, output and flags.
enum OpName: String, ExpressibleByArgument, CaseIterable {
    case gemm, softmax, attention, infonce, layernorm

    /// Input keys, in the order help and messages list them.
    var inputs: [(key: String, required: Bool, isData: Bool)] {
        switch self {
        case .gemm: [("a", true, true), ("b", true, true)]
        case .softmax: [("x", true, true), ("mask", false, false)]
        case .attention: [("q", true, true), ("k", true, true), ("v", true, true), ("key_mask", false, false)]
        case .infonce: [("a", true, true), ("b", true, true)]
        case .layernorm: [("x", true, true), ("weight", true, true), ("bias", true, true)]
        }
    }

    var output: String {
        switch self {
        case .gemm: "c"
        case .softmax: "y"
        case .attention: "out"
        case .infonce: "loss"
        case .layernorm: "y"
        }
    }
}

struct OpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "op",
        abstract: "Run one kernel on .npy files and write its outputs as .npy files.",
        discussion: """
        gemm     inputs a [M,K] ([K,M] with --transpose-a), b [K,N] ([N,K] with --transpose-b), or 3-D \
        with a shared leading batch; output c; gradients grad_a, grad_b.
        softmax  input x [..., N], optional mask (same shape; float, bool or integer, nonzero keeps); \
        flags --scale S, --log; output y; gradient grad_x.
        attention  inputs q [B,H,Lq,D], k [B,H,Lk,D], v [B,H,Lk,Dv], optional key_mask [B,Lk] (nonzero \
        keeps); flags --causal (query i sees keys j <= i + Lk - Lq), --scale S (default 1/sqrt(D)); \
        output out [B,H,Lq,Dv]; gradients grad_q, grad_k, grad_v. A query with no visible key gets \
        zeros.
        infonce  inputs a [N,D], b [N,D]: the symmetric contrastive loss of rows L2-normalised, with \
        positives on the diagonal, at --temperature T (default 0.07). Writes loss (0-d), logits [N,N] \
        (the scaled cosine similarities), grad_a and grad_b (the gradients of the loss itself; \
        --grad-output is not taken).
        layernorm  inputs x [..., C], weight [C], bias [C]; flag --epsilon E (default 1e-5); output y; \
        gradients grad_x, grad_weight, grad_bias.

        Data inputs are float32 or float64, C order, little-endian, all finite. With --grad-output \
        (the upstream gradient of the output) the gradient of each differentiable input is written \
        too, in that input's layout. On any error nothing is written to the output directory.
        """)

    @Argument(help: "The op: \(OpName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var name: OpName

    @Option(name: .customLong("input"), help: ArgumentHelp("An input as KEY=FILE.npy; repeat for each input.", valueName: "KEY=FILE"))
    var inputs: [String] = []

    @Option(help: ArgumentHelp("Upstream gradient of the op's output (.npy); also writes grad_<input>.npy.", valueName: "FILE"))
    var gradOutput: String?

    @Option(help: ArgumentHelp("Directory for the outputs; created if missing.", valueName: "DIR"))
    var outputDir: String

    @Option(help: "softmax: multiply x by S before the softmax (default 1). attention: the score scale (default 1/sqrt(D)).")
    var scale: Float?

    @Flag(help: "attention: causal masking, query i sees keys j <= i + Lk - Lq.")
    var causal = false

    @Option(help: "infonce: the softmax temperature τ (the logit scale is 1/τ; default 0.07).")
    var temperature: Float?

    @Option(help: "layernorm: added to the variance before the square root (default 1e-5).")
    var epsilon: Float?

    @Flag(help: "softmax: log-softmax (masked entries are -inf).")
    var log = false

    @Flag(help: "gemm: a is stored [K, M].")
    var transposeA = false

    @Flag(help: "gemm: b is stored [N, K].")
    var transposeB = false

    @OptionGroup var backendOptions: BackendOptions

    func run() throws {
        try checkFlags()
        let loaded = try loadInputs()
        let upstream = try gradOutput.map { try loadData(key: "grad_output", path: $0) }
        // Attention's head width decides whether the OpenCL kernels can run it; a bad shape is
        // reported by the op itself below.
        let requirements: [any OpDescriptor] = name == .attention
            ? [loaded["q"].flatMap { q in loaded["k"].flatMap { k in loaded["v"].flatMap { v in
                try? AttentionDescriptor(qShape: q.shape, kShape: k.shape, vShape: v.shape, keyMaskShape: nil, scale: nil, isCausal: false) } } }]
                .compactMap { $0 }
            : []
        let backend = try backendOptions.resolve(requirements: requirements)
        let operations = Operations(backend: backend)
        var outputs: [(String, HostArray)] = []
        do {
            switch name {
            case .gemm:
                let (a, b) = (loaded["a"]!, loaded["b"]!)
                outputs.append(("c", try operations.gemm(a, b, transposeA: transposeA, transposeB: transposeB)))
                if let upstream {
                    try expectShape(upstream, outputs[0].1.shape)
                    let gradients = try operations.gemmGradients(a, b, gradC: upstream, transposeA: transposeA, transposeB: transposeB)
                    outputs += [("grad_a", gradients.gradA), ("grad_b", gradients.gradB)]
                }
            case .softmax:
                let (x, mask) = (loaded["x"]!, loaded["mask"])
                let y = try operations.softmax(x, mask: mask, scale: scale ?? 1, log: log)
                outputs.append(("y", y))
                if let upstream {
                    try expectShape(upstream, y.shape)
                    outputs.append(("grad_x", try operations.softmaxGradient(y: y, gradY: upstream, mask: mask, scale: scale ?? 1, log: log)))
                }
            case .layernorm:
                let result = try operations.layerNorm(loaded["x"]!, weight: loaded["weight"]!, bias: loaded["bias"]!,
                                                      epsilon: epsilon ?? 1e-5, gradY: upstream)
                outputs.append(("y", result.y))
                if let gradX = result.gradX, let gradWeight = result.gradWeight, let gradBias = result.gradBias {
                    outputs += [("grad_x", gradX), ("grad_weight", gradWeight), ("grad_bias", gradBias)]
                }
            case .infonce:
                let tau = temperature ?? 0.07
                guard tau.isFinite, tau > 0 else { throw CLIError("[infonce] --temperature must be positive, got \(tau)") }
                let result = try operations.infoNCE(a: loaded["a"]!, b: loaded["b"]!, scale: 1 / tau, logits: true, gradients: true)
                outputs += [("loss", HostArray(shape: [], values: [Float(result.loss)])), ("logits", result.logits!),
                            ("grad_a", result.gradA!), ("grad_b", result.gradB!)]
            case .attention:
                let result = try operations.attention(q: loaded["q"]!, k: loaded["k"]!, v: loaded["v"]!, keyMask: loaded["key_mask"],
                                                      scale: scale, causal: causal, gradOut: upstream)
                outputs.append(("out", result.out))
                if let gradQ = result.gradQ, let gradK = result.gradK, let gradV = result.gradV {
                    outputs += [("grad_q", gradQ), ("grad_k", gradK), ("grad_v", gradV)]
                }
            }
        } catch let error as BackendError {
            throw CLIError(error.description)
        }
        backendOptions.reportUsage(backend)
        try OutputWriter.writeAll(outputs.map { ($0.0 + ".npy", NPY.encode(shape: $0.1.shape, values: $0.1.values)) },
                                  to: URL(fileURLWithPath: outputDir))
    }

    /// Flags that belong to another op are errors, not silently ignored.
    private func checkFlags() throws {
        let misplaced: [(String, Bool, [OpName])] = [
            ("--scale", scale != nil, [.softmax, .attention]), ("--log", log, [.softmax]), ("--causal", causal, [.attention]),
            ("--temperature", temperature != nil, [.infonce]), ("--epsilon", epsilon != nil, [.layernorm]),
            ("--grad-output", gradOutput != nil, [.gemm, .softmax, .attention, .layernorm]),
            ("--transpose-a", transposeA, [.gemm]), ("--transpose-b", transposeB, [.gemm]),
        ]
        for (flag, given, owners) in misplaced where given && !owners.contains(name) {
            throw CLIError("[\(name.rawValue)] \(flag) applies to \(owners.map(\.rawValue).joined(separator: " and ")) only")
        }
    }

    private func loadInputs() throws -> [String: HostArray] {
        let spec = name.inputs
        var paths: [String: String] = [:]
        for input in inputs {
            guard let separator = input.firstIndex(of: "="), separator != input.startIndex, input.index(after: separator) != input.endIndex else {
                throw CLIError("[\(name.rawValue)] --input expects KEY=FILE.npy, got '\(input)'")
            }
            let key = String(input[..<separator]), path = String(input[input.index(after: separator)...])
            guard spec.contains(where: { $0.key == key }) else {
                throw CLIError("[\(name.rawValue)] unknown input '\(key)': expected \(spec.map { $0.required ? $0.key : "\($0.key) (optional)" }.joined(separator: ", "))")
            }
            guard paths[key] == nil else { throw CLIError("[\(name.rawValue)] input '\(key)' is given twice") }
            paths[key] = path
        }
        var arrays: [String: HostArray] = [:]
        for input in spec {
            guard let path = paths[input.key] else {
                if input.required { throw CLIError("[\(name.rawValue)] missing input '\(input.key)' (--input \(input.key)=FILE.npy)") }
                continue
            }
            arrays[input.key] = input.isData ? try loadData(key: input.key, path: path) : try loadMask(key: input.key, path: path)
        }
        return arrays
    }

    /// A data input: float32 or float64, every value finite.
    private func loadData(key: String, path: String) throws -> HostArray {
        let array = try read(key: key, path: path)
        guard array.dtype.isFloatingPoint else {
            throw CLIError("[\(name.rawValue)] input '\(key)' (\(path)) must be float32 or float64, got \(array.dtype.name)")
        }
        let host = HostArray(shape: array.shape, values: array.floatValues())
        if let index = host.firstNonFiniteIndex() {
            let flat = index.enumerated().reduce(0) { $0 * array.shape[$1.offset] + $1.element }
            let value = host.values[flat]
            // A finite float64 beyond float32's range becomes infinite on conversion.
            let what = value.isNaN ? "NaN" : array.dtype == .float64 ? "\(value) (as float32)" : "\(value)"
            throw CLIError("[\(name.rawValue)] input '\(key)' (\(path)) has \(what) at index \(shapeText(index))")
        }
        return host
    }

    /// A mask: any numeric dtype or bool; nonzero keeps.
    private func loadMask(key: String, path: String) throws -> HostArray {
        let array = try read(key: key, path: path)
        let values = array.floatValues().map { $0 != 0 && !$0.isNaN ? Float(1) : 0 }
        return HostArray(shape: array.shape, values: values)
    }

    private func read(key: String, path: String) throws -> NPYArray {
        do {
            return try NPY.read(URL(fileURLWithPath: path))
        } catch {
            throw CLIError("[\(name.rawValue)] input '\(key)': \(error)")
        }
    }

    private func expectShape(_ gradient: HostArray, _ shape: [Int]) throws {
        guard gradient.shape == shape else {
            throw CLIError("[\(name.rawValue)] grad_output must have the shape of \(name.output) \(shapeText(shape)), got \(shapeText(gradient.shape))")
        }
    }
}
