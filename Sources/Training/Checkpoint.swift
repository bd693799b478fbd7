import Checkpoints
import Foundation
import Multimodal
import NeuralNetworks

/// What `state.json` records next to the weights: where training stands, so `--resume`
/// continues exactly (data order, schedule and randomness are pure functions of seed and step).
public struct CheckpointState: Codable, Sendable, Equatable {
    public var step: Int
    public var epoch: Int
    /// Batches already taken from this epoch's order.
    public var batchInEpoch: Int
    public var seed: UInt64
    /// The loss of the last step before the checkpoint.
    public var loss: Double?
    /// Files of the checkpoint, and the run's files it depends on (relative to the checkpoint).
    public var files: [String: String]
    /// The data-parallel ranks of the run (nil in checkpoints from before MPI support: 1);
    /// a resume needs the same number, since the global batch depends on it.
    public var ranks: Int?
}

/// `RUN_DIR/checkpoints/step-N/` with `model.safetensors`, `optimizer.safetensors` and
/// `state.json`, written into a temporary folder that is renamed into place only when complete,
/// so a kill at any moment leaves the previous checkpoints intact.
public enum CheckpointStore {
    public static let folder = "checkpoints"

    public static func name(step: Int) -> String { "step-\(step)" }

    /// The checkpoints of a run, oldest first.
    public static func list(run: URL) -> [(step: Int, url: URL)] {
        let directory = run.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name in
            guard name.hasPrefix("step-"), let step = Int(name.dropFirst(5)) else { return nil }
            return (step, directory.appendingPathComponent(name))
        }.sorted { $0.step < $1.step }
    }

    /// Writes a checkpoint of `model` and `optimizer` at `state.step`, then removes all but the
    /// newest `keep`.
    @discardableResult
    public static func save(model: any RecipeModel, optimizer: AdamW, state: CheckpointState, run: URL, keep: Int) throws -> URL {
        let directory = run.appendingPathComponent(folder)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let final = directory.appendingPathComponent(name(step: state.step))
        if FileManager.default.fileExists(atPath: final.path) { return final }  // this step is already saved
        let partial = directory.appendingPathComponent(".\(name(step: state.step)).partial-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: partial)
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: false)
        try modelFile(model).write(to: partial.appendingPathComponent("model.safetensors"))
        try optimizerFile(model: model, optimizer: optimizer).write(to: partial.appendingPathComponent("optimizer.safetensors"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write([try encoder.encode(state)], to: partial.appendingPathComponent("state.json"))
        guard rename(partial.path, final.path) == 0 else {
            throw TrainingError.runDirectory("cannot rename \(partial.path) to \(final.path): \(String(cString: strerror(errno)))")
        }
        try AtomicFile.syncDirectory(directory)
        for old in list(run: run).dropLast(max(keep, 1)) { try? FileManager.default.removeItem(at: old.url) }
        return final
    }

    /// The model's parameters under their dotted names; the config as a JSON string in the
    /// metadata (safetensors metadata maps strings to strings).
    static func modelFile(_ model: any RecipeModel) throws -> SafeTensorsFile {
        var tensors: [String: SafeTensor] = [:]
        for (name, tensor) in model.namedParameters { tensors[name] = try SafeTensor(float32: tensor.values(), shape: tensor.shape) }
        return SafeTensorsFile(tensors: tensors, metadata: ["format": "aligncl", "recipe": model.recipeName,
                                                            "config": String(decoding: try model.config.jsonData(), as: UTF8.self)])
    }

    static func optimizerFile(model: any RecipeModel, optimizer: AdamW) throws -> SafeTensorsFile {
        let state = try optimizer.state()
        var tensors: [String: SafeTensor] = [:]
        for ((name, tensor), moments) in zip(model.namedParameters, state.moments) {
            tensors["\(name).exp_avg"] = try SafeTensor(float32: moments.first, shape: tensor.shape)
            tensors["\(name).exp_avg_sq"] = try SafeTensor(float32: moments.second, shape: tensor.shape)
        }
        return SafeTensorsFile(tensors: tensors, metadata: ["format": "aligncl-adamw", "step": String(state.step)])
    }

    /// Loads the weights of `checkpoint` into `model`, checking every name, shape and dtype
    /// and listing all mismatches in one error.
    public static func loadModel(_ model: any RecipeModel, from checkpoint: URL) throws {
        let file = try SafeTensorsFile(contentsOf: checkpoint.appendingPathComponent("model.safetensors"))
        try checkNames(file, expected: model.namedParameters.map { ($0.name, $0.tensor.shape) }, what: "model.safetensors")
        for (name, tensor) in model.namedParameters { try tensor.assign(try file.tensors[name]!.floatValues()) }
    }

    public static func loadOptimizer(_ optimizer: AdamW, model: any RecipeModel, from checkpoint: URL) throws {
        let file = try SafeTensorsFile(contentsOf: checkpoint.appendingPathComponent("optimizer.safetensors"))
        let expected = model.namedParameters.flatMap { [("\($0.name).exp_avg", $0.tensor.shape), ("\($0.name).exp_avg_sq", $0.tensor.shape)] }
        try checkNames(file, expected: expected, what: "optimizer.safetensors")
        guard let stepText = file.metadata["step"], let step = Int(stepText), step >= 0 else {
            throw TrainingError.invalidData("optimizer.safetensors: metadata 'step' must be a step count, got \(file.metadata["step"] ?? "nothing")")
        }
        let moments = try model.namedParameters.map { (try file.tensors["\($0.name).exp_avg"]!.floatValues(), try file.tensors["\($0.name).exp_avg_sq"]!.floatValues()) }
        try optimizer.restore(step: step, moments: moments)
    }

    public static func loadState(from checkpoint: URL) throws -> CheckpointState {
        let url = checkpoint.appendingPathComponent("state.json")
        do {
            return try JSONDecoder().decode(CheckpointState.self, from: Data(contentsOf: url))
        } catch {
            throw TrainingError.invalidData("\(url.path): not a checkpoint state (\(error))")
        }
    }

    private static func checkNames(_ file: SafeTensorsFile, expected: [(String, [Int])], what: String) throws {
        var problems: [String] = []
        let wanted = Dictionary(uniqueKeysWithValues: expected)
        for (name, shape) in expected {
            guard let tensor = file.tensors[name] else { problems.append("missing \(name) \(shape)"); continue }
            if tensor.dtype != .F32 { problems.append("\(name) is \(tensor.dtype.rawValue), expected F32") }
            if tensor.shape != shape { problems.append("\(name) has shape \(tensor.shape), expected \(shape)") }
        }
        for name in file.tensors.keys.sorted() where wanted[name] == nil { problems.append("unexpected \(name)") }
        guard problems.isEmpty else {
            throw TrainingError.invalidData("\(what) does not match the model: \(problems.joined(separator: "; "))")
        }
    }
}
