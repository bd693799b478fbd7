import Checkpoints
import Foundation

/// A local folder in the layout `save_pretrained` writes: `config.json`, and the weights as
/// `model.safetensors` or as shards listed by `model.safetensors.index.json`. Nothing is
/// downloaded; a folder with only `pytorch_model.bin` is refused (a pickle can run code).
public struct ModelFolder: Sendable {
    public let url: URL
    public let config: JSONObject

    public init(_ url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PretrainedError.missingFile(path: url.path, what: "a model folder (config.json and model.safetensors, as save_pretrained writes)")
        }
        self.url = url
        config = try JSONObject(contentsOf: url.appendingPathComponent("config.json"), what: "the model's config.json")
    }

    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// `config.json`, verbatim (a run stores it, to rebuild the model without the folder).
    public func configText() throws -> String {
        String(decoding: try Data(contentsOf: file("config.json")), as: UTF8.self)
    }

    /// Copies those of `files` that exist in `folder` into `destination` (created): what a run
    /// keeps of a model folder (its shape, tokenizer, preprocessing; not the weights).
    public static func copy(_ files: [String], of folder: URL, to destination: URL) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: destination, withIntermediateDirectories: true)
        for name in files where manager.fileExists(atPath: folder.appendingPathComponent(name).path) {
            let target = destination.appendingPathComponent(name)
            try? manager.removeItem(at: target)
            try manager.copyItem(at: folder.appendingPathComponent(name), to: target)
        }
    }
    public func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name).path) }

    /// The architecture named by `architectures[0]`, or by `model_type` when that is absent.
    public var architecture: String { Self.architecture(of: config) }

    /// The architecture a `config.json` names (see `architecture`).
    public static func architecture(of config: JSONObject) -> String {
        (config.values["architectures"] as? [String])?.first ?? (config.values["model_type"] as? String) ?? "unknown"
    }

    /// The weights file, or the shard index, that `weights()` reads (for messages).
    public var weightsPath: String {
        file(exists("model.safetensors") || !exists("model.safetensors.index.json") ? "model.safetensors" : "model.safetensors.index.json").path
    }

    /// Every tensor of the weights, by name, from one file or all shards.
    public func weights() throws -> [String: SafeTensor] {
        if exists("model.safetensors") { return try Self.read(file("model.safetensors")) }
        if exists("model.safetensors.index.json") { return try shardedWeights() }
        if exists("pytorch_model.bin") || exists("pytorch_model.bin.index.json") { throw PretrainedError.pickleOnly(folder: url.path) }
        throw PretrainedError.missingFile(path: file("model.safetensors").path, what: "the weights: model.safetensors, or shards listed in model.safetensors.index.json")
    }

    private func shardedWeights() throws -> [String: SafeTensor] {
        let index = try JSONObject(contentsOf: file("model.safetensors.index.json"), what: "the shard index")
        guard let map = index.values["weight_map"] as? [String: String], !map.isEmpty else {
            throw PretrainedError.invalidConfig(path: index.path, key: "weight_map", expected: "an object of tensor name → shard file", found: "\(index.values["weight_map"] ?? "nothing")")
        }
        var tensors: [String: SafeTensor] = [:]
        var problems: [String] = []
        for shard in Set(map.values).sorted() {
            // A shard name is a file in this folder, never a path out of it.
            guard !shard.contains("/"), shard != "..", shard != "." else {
                throw PretrainedError.invalidWeights(path: index.path, reason: "shard name '\(shard)' must be a file name in the folder")
            }
            let contents = try Self.read(file(shard))
            for (name, tensor) in contents {
                if map[name] == shard { tensors[name] = tensor } else { problems.append("\(shard) holds \(name), which the index puts in \(map[name] ?? "no shard")") }
            }
            for (name, listed) in map where listed == shard && contents[name] == nil { problems.append("the index lists \(name) in \(shard), which does not hold it") }
        }
        guard problems.isEmpty else { throw PretrainedError.weightMismatch(path: index.path, problems: problems.sorted()) }
        return tensors
    }

    private static func read(_ url: URL) throws -> [String: SafeTensor] {
        guard FileManager.default.fileExists(atPath: url.path) else { throw PretrainedError.missingFile(path: url.path, what: "a weights shard") }
        do { return try SafeTensorsFile(contentsOf: url).tensors } catch {
            throw PretrainedError.invalidWeights(path: url.path, reason: "not a valid safetensors file: \(error)")
        }
    }
}
