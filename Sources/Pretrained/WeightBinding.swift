import Autograd
import Checkpoints
import Foundation
import NeuralNetworks

/// One parameter under its Hugging Face name, with the shape the file holds. AlignCL's
/// `Linear` keeps `W [in, out]` (so `x·W` needs no transpose) while PyTorch's keeps
/// `[out, in]`: those are `transposed` on the way in and out, and nowhere else.
public struct HFParameter {
    public let name: String
    public let tensor: Tensor
    public let fileShape: [Int]
    public let transposed: Bool

    public init(_ name: String, _ tensor: Tensor, fileShape: [Int]? = nil, transposed: Bool = false) {
        self.name = name
        self.tensor = tensor
        self.transposed = transposed
        // A transposed parameter is [in, out] here; the file's first axis is `out` and the
        // rest flatten to `in` (a convolution's [out, channels, height, width]).
        self.fileShape = fileShape ?? (transposed ? tensor.shape.reversed() : tensor.shape)
    }
}

/// A module whose parameters carry their Hugging Face names: checkpoints, optimizers and
/// export all see the same names `transformers` uses.
public protocol PretrainedModule: Module {
    var hfParameters: [HFParameter] { get }
}

extension PretrainedModule {
    public var namedParameters: [(name: String, tensor: Tensor)] { hfParameters.map { ($0.name, $0.tensor) } }

    /// Loads every parameter from `weights`, where names may carry `prefix` (a task model's
    /// `bert.` in front of the base model's names). All problems are collected and thrown
    /// together: missing tensors, wrong shapes, dtypes that are not floating point.
    public func load(_ weights: [String: SafeTensor], prefixes: [String] = [""], path: String) throws {
        var problems: [String] = []
        var loads: [(HFParameter, SafeTensor)] = []
        for parameter in hfParameters {
            guard let tensor = prefixes.lazy.compactMap({ weights[$0 + parameter.name] }).first else {
                problems.append("missing \(parameter.name): expected shape \(parameter.fileShape)")
                continue
            }
            guard [.F32, .F16, .BF16, .F64].contains(tensor.dtype) else {
                problems.append("\(parameter.name): expected a floating-point dtype (F32, F16, BF16), found \(tensor.dtype.rawValue)")
                continue
            }
            guard tensor.shape == parameter.fileShape else {
                problems.append("\(parameter.name): expected shape \(parameter.fileShape), found \(tensor.shape)")
                continue
            }
            loads.append((parameter, tensor))
        }
        guard problems.isEmpty else { throw PretrainedError.weightMismatch(path: path, problems: problems) }
        for (parameter, tensor) in loads {
            var values = try tensor.floatValues()
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw PretrainedError.invalidWeights(path: path, reason: "\(parameter.name) holds a non-finite value (\(values[bad])) at element \(bad)")
            }
            if parameter.transposed { values = transpose(values, rows: parameter.fileShape[0], columns: values.count / parameter.fileShape[0]) }
            try parameter.tensor.assign(values)
        }
    }

    /// The parameters in the file's names and layout (F32), for `export`.
    public func exportedTensors() throws -> [String: SafeTensor] {
        var tensors: [String: SafeTensor] = [:]
        for parameter in hfParameters {
            var values = try parameter.tensor.values()
            if parameter.transposed { values = transpose(values, rows: values.count / parameter.fileShape[0], columns: parameter.fileShape[0]) }
            tensors[parameter.name] = try SafeTensor(float32: values, shape: parameter.fileShape)
        }
        return tensors
    }
}

/// `[rows, columns]` → `[columns, rows]`.
func transpose(_ values: [Float], rows: Int, columns: Int) -> [Float] {
    var out = [Float](repeating: 0, count: values.count)
    for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = values[r * columns + c] } }
    return out
}

func hf(_ prefix: String, _ linear: Linear) -> [HFParameter] {
    [HFParameter("\(prefix).weight", linear.weight, transposed: true)] + (linear.bias.map { [HFParameter("\(prefix).bias", $0)] } ?? [])
}

func hf(_ prefix: String, _ norm: LayerNorm) -> [HFParameter] {
    [HFParameter("\(prefix).weight", norm.weight), HFParameter("\(prefix).bias", norm.bias)]
}

func hf(_ prefix: String, _ embedding: Embedding) -> [HFParameter] { [HFParameter("\(prefix).weight", embedding.table)] }
