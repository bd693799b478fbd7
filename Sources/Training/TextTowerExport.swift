import Checkpoints
import Foundation
import Multimodal
import Pretrained

/// `aligncl export`: a run's fine-tuned text tower as a Hugging Face folder — the model's
/// config.json and tokenizer files as the run kept them, `model.safetensors` with the tower's
/// weights under their `transformers` names, and sentence-transformers files that pool as the
/// run did (no Normalize module: the run's heads normalise themselves). `BertModel` /
/// `AutoModel.from_pretrained` then give the tower's last hidden state, and
/// `SentenceTransformer` / `aligncl embed --model` its pooled vector. The adapter and the
/// recipe's other parts stay in the run (they are not part of a `transformers` model).
public enum TextTowerExport {
    /// Writes the folder whole or not at all: into a hidden sibling first, renamed into place.
    /// `output` must not exist, or be empty, unless `overwrite`.
    public static func write(_ run: LoadedRun, to output: URL, overwrite: Bool) throws {
        guard let encoder = run.model.text as? PretrainedTextEncoder else {
            throw TrainingError.runDirectory("\(run.directory.path) trained its text tower from scratch (no --text-model), so there is no Hugging Face model to export; export applies to runs started from one")
        }
        let manager = FileManager.default
        _ = try RunDirectory.replaceableContents(output, overwrite: overwrite, flag: "--output")
        let parent = output.deletingLastPathComponent()
        try manager.createDirectory(at: parent, withIntermediateDirectories: true)
        let partial = parent.appendingPathComponent(".\(output.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)")
        try? manager.removeItem(at: partial)
        do {
            try TextModelFolder.copyDescription(of: run.directory.appendingPathComponent(RunDirectory.textModelFolder), to: partial)
            // "format": "pt" is what `transformers` expects of a safetensors file it loads.
            try SafeTensorsFile(tensors: encoder.tower.exportedTensors(), metadata: ["format": "pt"]).write(to: partial.appendingPathComponent("model.safetensors"))
            try writeSentenceTransformersFiles(into: partial, width: encoder.tower.width, pooling: encoder.tower.pooling,
                                               maximumLength: run.model.config.maxTextLength)
            if manager.fileExists(atPath: output.path) { try manager.removeItem(at: output) }
            try manager.moveItem(at: partial, to: output)
        } catch {
            try? manager.removeItem(at: partial)
            throw error
        }
    }

    /// `modules.json` (Transformer, then Pooling), `sentence_bert_config.json` and
    /// `1_Pooling/config.json`.
    static func writeSentenceTransformersFiles(into folder: URL, width: Int, pooling: Pooling, maximumLength: Int) throws {
        let modules: [[String: Any]] = [
            ["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
            ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"],
        ]
        let poolingConfig: [String: Any] = [
            "word_embedding_dimension": width, "pooling_mode_cls_token": pooling == .cls, "pooling_mode_mean_tokens": pooling == .mean,
            "pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false,
        ]
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
        for (name, object) in [("modules.json", modules as Any), ("sentence_bert_config.json", ["max_seq_length": maximumLength, "do_lower_case": false] as Any),
                               ("1_Pooling/config.json", poolingConfig as Any)] {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write([data], to: folder.appendingPathComponent(name))
        }
    }
}
