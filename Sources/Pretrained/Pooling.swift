import Foundation

/// How a text model's per-token outputs become one vector.
public enum Pooling: String, Sendable, CaseIterable, Codable {
    /// The first token ([CLS]).
    case cls
    /// The masked mean of the last hidden state (sentence-transformers' default).
    case mean
    /// The masked maximum over tokens, per feature.
    case max
    /// The masked sum divided by √(token count) (sentence-transformers' `mean_sqrt_len_tokens`).
    case meanSqrtLength = "mean-sqrt-len"
    /// BERT's pooler: `tanh(W·h_[CLS] + b)`.
    case pooler
    /// The end of the text: the last real token (sentence-transformers' `lasttoken`), or for
    /// CLIP's text transformer its end-of-text token, by `transformers`' rule.
    case lastToken = "last"

    /// `hidden [B·L·D]`, `mask [B·L]` → `[B·D]`, in float64 sums (the pooler is the model's).
    public func pool(_ hidden: [Float], mask: [Float], batch: Int, length: Int, width: Int) -> [Float] {
        var out = [Float](repeating: 0, count: batch * width)
        for b in 0..<batch {
            let rows = (0..<length).filter { mask[b * length + $0] != 0 }
            let count = Double(Swift.max(rows.count, 1))
            var sum = [Double](repeating: 0, count: width), top = [Double](repeating: -.infinity, count: width)
            for t in rows {
                for d in 0..<width {
                    let value = Double(hidden[(b * length + t) * width + d])
                    sum[d] += value
                    top[d] = Swift.max(top[d], value)
                }
            }
            for d in 0..<width {
                let value: Double
                switch self {
                case .cls, .pooler: value = Double(hidden[b * length * width + d])
                case .lastToken: value = Double(hidden[(b * length + (rows.last ?? 0)) * width + d])
                case .mean: value = sum[d] / count
                case .max: value = rows.isEmpty ? 0 : top[d]
                case .meanSqrtLength: value = sum[d] / count.squareRoot()
                }
                out[b * width + d] = Float(value)
            }
        }
        return out
    }
}

/// Each row scaled to unit L2 norm (a zero row stays zero), as sentence-transformers'
/// `Normalize` and `F.normalize` with eps 1e-12 do.
public func normalizedRows(_ values: [Float], width: Int) -> [Float] {
    var out = values
    for start in stride(from: 0, to: values.count, by: width) {
        let norm = values[start..<(start + width)].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let scale = 1 / Swift.max(norm, 1e-12)
        for i in start..<(start + width) { out[i] = Float(Double(values[i]) * scale) }
    }
    return out
}

/// What a sentence-transformers folder says about its pipeline: `modules.json` lists a
/// Transformer (the model, at its `path`), a Pooling module and optionally Normalize.
public struct SentenceTransformersPipeline: Sendable, Equatable {
    /// Where the transformer's config.json and weights are (the folder itself, usually).
    public var modelFolder: URL
    public var pooling: Pooling
    public var normalize: Bool
    /// `sentence_bert_config.json`'s `max_seq_length`: inputs are truncated to it.
    public var maximumLength: Int?

    /// nil when the folder is not a sentence-transformers one (no `modules.json`).
    public static func read(_ folder: URL) throws -> SentenceTransformersPipeline? {
        let modulesURL = folder.appendingPathComponent("modules.json")
        guard FileManager.default.fileExists(atPath: modulesURL.path) else { return nil }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: try Data(contentsOf: modulesURL)) } catch {
            throw PretrainedError.invalidJSON(path: modulesURL.path, reason: error.localizedDescription)
        }
        guard let modules = parsed as? [[String: Any]] else { throw PretrainedError.invalidJSON(path: modulesURL.path, reason: "expected a list of module objects") }
        var pipeline = SentenceTransformersPipeline(modelFolder: folder, pooling: .mean, normalize: false, maximumLength: nil)
        var sawTransformer = false, sawPooling = false
        for module in modules {
            let type = module["type"] as? String ?? "", path = module["path"] as? String ?? ""
            guard !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw PretrainedError.invalidConfig(path: modulesURL.path, key: "path", expected: "a folder inside \(folder.path)", found: path)
            }
            let moduleFolder = path.isEmpty ? folder : folder.appendingPathComponent(path)
            switch type.split(separator: ".").last.map(String.init) ?? "" {
            case "Transformer":
                sawTransformer = true
                pipeline.modelFolder = moduleFolder
                let configURL = moduleFolder.appendingPathComponent("sentence_bert_config.json")
                if FileManager.default.fileExists(atPath: configURL.path) {
                    let config = try JSONObject(contentsOf: configURL, what: "sentence_bert_config.json")
                    pipeline.maximumLength = config.has("max_seq_length") ? try config.int("max_seq_length") : nil
                }
            case "Pooling":
                sawPooling = true
                pipeline.pooling = try pooling(JSONObject(contentsOf: moduleFolder.appendingPathComponent("config.json"), what: "the Pooling module's config.json"))
            case "Normalize":
                pipeline.normalize = true
            default:
                throw PretrainedError.unsupportedArchitecture(path: modulesURL.path, found: "module \(type)",
                                                              supported: ["Transformer", "Pooling", "Normalize"])
            }
        }
        guard sawTransformer, sawPooling else {
            throw PretrainedError.invalidConfig(path: modulesURL.path, key: "modules", expected: "a Transformer and a Pooling module", found: modules.map { $0["type"] as? String ?? "?" }.joined(separator: ", "))
        }
        return pipeline
    }

    /// Exactly one of the pooling modes must be on (a concatenation of several is not supported).
    private static func pooling(_ config: JSONObject) throws -> Pooling {
        let modes: [(String, Pooling)] = [("pooling_mode_cls_token", .cls), ("pooling_mode_mean_tokens", .mean),
                                          ("pooling_mode_max_tokens", .max), ("pooling_mode_mean_sqrt_len_tokens", .meanSqrtLength),
                                          ("pooling_mode_lasttoken", .lastToken)]
        let on = try modes.filter { try config.bool($0.0, default: false) }
        for unsupported in ["pooling_mode_weightedmean_tokens"] where try config.bool(unsupported, default: false) {
            throw PretrainedError.invalidConfig(path: config.path, key: unsupported, expected: "false (not supported)", found: "true")
        }
        guard on.count == 1 else {
            throw PretrainedError.invalidConfig(path: config.path, key: "pooling_mode_*", expected: "exactly one pooling mode set", found: on.isEmpty ? "none" : on.map(\.0).joined(separator: ", "))
        }
        return on[0].1
    }
}
