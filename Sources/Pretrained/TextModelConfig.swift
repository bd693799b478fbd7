import Autograd
import Foundation
import NeuralNetworks

/// A pretrained transformer that can be a recipe's text tower: the last hidden state of ids
/// and their mask, with its parameters under their `transformers` names.
public protocol PretrainedTextModel: PretrainedModule {
    /// `ids [B, L]` (int32), `mask [B·L]` (1 = token, 0 = padding) → `[B, L, width]`.
    func callAsFunction(ids: Tensor, mask: [Float]) throws -> Tensor
    var width: Int { get }
    /// Rows of the flattened `[B·L]` outputs where each text ends (`Pooling.lastToken`).
    func endOfTextPositions(ids: Tensor, mask: [Float]) throws -> [Int32]
}

extension BertModel: PretrainedTextModel {
    public var width: Int { config.width }

    /// The last real token of each row.
    public func endOfTextPositions(ids: Tensor, mask: [Float]) throws -> [Int32] {
        let (batch, length) = (ids.shape[0], ids.shape[1])
        return (0..<batch).map { b in Int32(b * length + ((0..<length).last { mask[b * length + $0] != 0 } ?? 0)) }
    }
}

extension CLIPTextModel: PretrainedTextModel {
    public var width: Int { config.text.width }

    /// Where `transformers` pools: its end-of-text rule on the ids (host ids: batches are
    /// built from them, so nothing is read back from the device).
    public func endOfTextPositions(ids: Tensor, mask: [Float]) throws -> [Int32] {
        poolingPositions(try ids.intValues(), batch: ids.shape[0], length: ids.shape[1])
    }
}

/// The sizes of a text model folder a recipe can fine-tune: a BERT-family model, or a CLIP
/// folder's text transformer.
public enum TextModelConfig: Sendable, Equatable {
    case bert(BertConfig)
    case clip(CLIPConfig)

    public static let supportedArchitectures = ["BertModel", "CLIPModel"]

    /// By `architectures[0]`, else `model_type`.
    public init(_ config: JSONObject, architecture: String) throws {
        let modelType = (config.values["model_type"] as? String) ?? ""
        switch (architecture, modelType) {
        case ("BertModel", _), (_, "bert"): self = .bert(try BertConfig(config))
        case ("CLIPModel", _), (_, "clip"): self = .clip(try CLIPConfig(config))
        default: throw PretrainedError.unsupportedArchitecture(path: config.path, found: architecture, supported: Self.supportedArchitectures)
        }
    }

    /// A run's stored `config.json` text.
    public init(configText: String, path: String) throws {
        let object = try JSONObject(data: Data(configText.utf8), path: path)
        try self.init(object, architecture: ModelFolder.architecture(of: object))
    }

    public var vocabularySize: Int {
        switch self { case .bert(let c): c.vocabularySize; case .clip(let c): c.vocabularySize }
    }

    public var maxPositions: Int {
        switch self { case .bert(let c): c.maxPositions; case .clip(let c): c.maxPositions }
    }

    public var headWidth: Int {
        switch self { case .bert(let c): c.width / c.heads; case .clip(let c): c.text.width / c.text.heads }
    }

    /// The poolings a tower trains with. CLIP's text transformer is causal, so its first token
    /// sees only itself and cannot pool: mean, or its end-of-text token (the last).
    public var trainablePoolings: [Pooling] {
        switch self { case .bert: [.cls, .mean]; case .clip: [.lastToken, .mean] }
    }

    /// Without a sentence-transformers pooling or `--text-pooling`: the mean for BERT, the
    /// end-of-text token (where CLIP projects) for CLIP.
    public var defaultPooling: Pooling {
        switch self { case .bert: .mean; case .clip: .lastToken }
    }

    /// The prefixes its tensors may carry in a weights file (a task model's `bert.`).
    public var weightPrefixes: [String] {
        switch self { case .bert: ["", "bert."]; case .clip: [""] }
    }

    public func makeModel(initializer: Initializer) throws -> any PretrainedTextModel {
        switch self {
        case .bert(let config): try BertModel(config, initializer: initializer)
        case .clip(let config): try CLIPTextModel(config, initializer: initializer)
        }
    }
}
