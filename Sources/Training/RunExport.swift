import Checkpoints
import Foundation
import Multimodal
import Pretrained

/// `aligncl export`: a run's fine-tuned pretrained towers as a Hugging Face folder, written
/// whole or not at all. The adapters and the recipe's other parts stay in the run (they are
/// not part of a `transformers` model).
///
/// - A BERT-family text tower: the model's config.json and tokenizer files as the run kept
///   them, `model.safetensors` with the tower's weights under their `transformers` names, and
///   sentence-transformers files that pool as the run did (no Normalize module: the run's heads
///   normalise themselves). `AutoModel.from_pretrained` then gives the tower's last hidden
///   state, and `SentenceTransformer` / `aligncl embed --model` its pooled vector.
/// - Both towers of one CLIP folder (`--init`): a `CLIPModel` folder — config.json, the
///   tokenizer and preprocessor files, both towers and their projections, and the logit scale
///   (the recipe's learned one; a recipe without one keeps the folder's initial value).
public enum RunExport {
    /// `output` must not exist, or be empty, unless `overwrite`.
    public static func write(_ run: LoadedRun, to output: URL, overwrite: Bool) throws {
        guard let text = run.model.text as? PretrainedTextEncoder else {
            throw TrainingError.runDirectory("\(run.directory.path) trained its text tower from scratch (no --text-model or --init), so there is no Hugging Face model to export; export applies to runs started from one")
        }
        let tensors: [String: SafeTensor]
        if text.tower.model is BertModel {
            tensors = try text.tower.exportedTensors()
        } else {
            let model = run.config.options.model
            guard let image = run.model.imageTower as? PretrainedImageEncoder, model.pretrainedImage?.modelConfig == model.pretrainedText?.modelConfig else {
                throw TrainingError.runDirectory("\(run.directory.path) fine-tuned a CLIP text tower without the same CLIP folder's image tower; a CLIPModel folder needs both, so train with --init DIR to export one")
            }
            let scale = try run.model.logitScaleParameter?.values()[0] ?? Float(try clipInitialLogitScale(model))
            tensors = try text.tower.exportedTensors().merging(image.tower.exportedTensors()) { first, _ in first }
                .merging(["logit_scale": try SafeTensor(float32: [scale], shape: [])]) { first, _ in first }
        }
        try write(into: output, overwrite: overwrite) { partial in
            try TextModelFolder.copyDescription(of: run.directory.appendingPathComponent(RunDirectory.textModelFolder), to: partial)
            if run.model.imageTower is PretrainedImageEncoder {
                try ModelFolder.copy(ImageModelFolder.descriptionFiles, of: run.directory.appendingPathComponent(RunDirectory.imageModelFolder), to: partial)
            }
            // "format": "pt" is what `transformers` expects of a safetensors file it loads.
            try SafeTensorsFile(tensors: tensors, metadata: ["format": "pt"]).write(to: partial.appendingPathComponent("model.safetensors"))
            if text.tower.model is BertModel {
                try writeSentenceTransformersFiles(into: partial, width: text.tower.width, pooling: text.tower.pooling, maximumLength: run.model.config.maxTextLength)
            }
        }
    }

    /// `logit_scale_init_value` of a CLIP config (transformers' default 2.6592).
    static func clipInitialLogitScale(_ model: ModelConfig) throws -> Double {
        let object = try JSONObject(data: Data((model.pretrainedText?.modelConfig ?? "{}").utf8), path: "the run's text-model config")
        return try object.double("logit_scale_init_value", default: 2.6592)
    }

    /// Fills a hidden sibling of `output` with `body`, then renames it into place.
    static func write(into output: URL, overwrite: Bool, _ body: (URL) throws -> Void) throws {
        let manager = FileManager.default
        _ = try RunDirectory.replaceableContents(output, overwrite: overwrite, flag: "--output")
        let parent = output.deletingLastPathComponent()
        try manager.createDirectory(at: parent, withIntermediateDirectories: true)
        let partial = parent.appendingPathComponent(".\(output.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)")
        try? manager.removeItem(at: partial)
        do {
            try body(partial)
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
            "pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false, "pooling_mode_lasttoken": pooling == .lastToken,
        ]
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("1_Pooling"), withIntermediateDirectories: true)
        for (name, object) in [("modules.json", modules as Any), ("sentence_bert_config.json", ["max_seq_length": maximumLength, "do_lower_case": false] as Any),
                               ("1_Pooling/config.json", poolingConfig as Any)] {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write([data], to: folder.appendingPathComponent(name))
        }
    }
}
