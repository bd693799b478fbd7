import ArgumentParser
import Compute
import Foundation
import NumPyFiles
import Pretrained

extension Pooling: ExpressibleByArgument {}

/// `aligncl embed --model DIR`: texts and images through a Hugging Face model folder.
struct PretrainedEmbedOptions: ParsableArguments {
    @Option(help: "A Hugging Face model folder (config.json, model.safetensors, tokenizer files).")
    var model: String?

    @Option(help: "A UTF-8 text file, one text per line (with --model).")
    var texts: String?

    @Option(help: "A folder of images, embedded in sorted file-name order (with --model, CLIP only).")
    var images: String?

    @Option(help: "Text pooling for BERT-family models: cls, mean, max, mean-sqrt-len or pooler (default: a sentence-transformers folder's own, else mean).")
    var pooling: Pooling?

    @Flag(inversion: .prefixedNo, help: "L2-normalise the embeddings (default: a sentence-transformers folder's own Normalize, else no).")
    var normalize: Bool?

    /// Attention at the model's head widths, so `auto` picks a backend that runs them.
    static func requirements(_ folder: URL) throws -> [any OpDescriptor] {
        try PretrainedEncoder.headWidths(folder: folder).map {
            try AttentionDescriptor(batch: 1, heads: 1, queryLength: 1, keyLength: 1, headDimension: $0, valueDimension: $0)
        }
    }

    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "bmp"]

    func run(backendOptions: BackendOptions, outputDir: String, batchSize: Int) throws {
        guard let model else { return }
        guard texts != nil || images != nil else { throw CLIError("--model needs --texts FILE and/or --images DIR: what to embed") }
        let textList = try texts.map(Self.readTexts) ?? []
        let imageList = try images.map(Self.listImages) ?? []
        let folder = URL(fileURLWithPath: model)
        let backend = try backendOptions.resolve(requirements: Self.requirements(folder))
        let encoder = try PretrainedEncoder(folder: folder, backend: backend, pooling: pooling, normalize: normalize)
        if images != nil, encoder.imagePreprocessor == nil { throw CLIError("\(model) has no image tower: --images needs a CLIPModel folder with preprocessor_config.json") }
        var files: [(name: String, bytes: [UInt8])] = []
        var index: [[String: Any]] = []
        if texts != nil {
            let values = try Self.batched(textList, batchSize: batchSize, what: "texts") { try encoder.embed(texts: $0) }
            files.append(("text_embeddings.npy", NPY.encode(shape: [textList.count, encoder.textWidth], values: values)))
            index += textList.enumerated().map { ["kind": "text", "row": $0.offset, "text": $0.element] }
        }
        if images != nil {
            let values = try Self.batched(imageList, batchSize: batchSize, what: "images") { try encoder.embed(imageFiles: $0) }
            files.append(("image_embeddings.npy", NPY.encode(shape: [imageList.count, imageList.isEmpty ? 0 : values.count / imageList.count], values: values)))
            index += imageList.enumerated().map { ["kind": "image", "row": $0.offset, "file": $0.element.lastPathComponent] }
        }
        let lines = try index.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
        files.append(("index.jsonl", Array(lines.map { $0 + "\n" }.joined().utf8)))
        try OutputWriter.writeAll(files, to: URL(fileURLWithPath: outputDir))
        printError("aligncl: wrote \(files.map(\.name).joined(separator: ", ")) (\(textList.count) texts, \(imageList.count) images) to \(outputDir)")
    }

    /// One text per line; a final newline does not make an empty last text, a CRLF file reads
    /// as LF. Invalid UTF-8 is an error naming the file.
    static func readTexts(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("--texts \(path): cannot be read (no such file?)") }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError("--texts \(path): not valid UTF-8") }
        var lines = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else { throw CLIError("--texts \(path): no texts (expected one per line)") }
        return lines
    }

    static func listImages(_ path: String) throws -> [URL] {
        let folder = URL(fileURLWithPath: path)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { throw CLIError("--images \(path): not a readable folder") }
        let files = names.filter { imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted().map { folder.appendingPathComponent($0) }
        guard !files.isEmpty else { throw CLIError("--images \(path): no .png, .jpg, .jpeg or .bmp files") }
        return files
    }

    /// Runs `body` on batches, with a progress line on stderr every few seconds for long inputs.
    static func batched<T>(_ items: [T], batchSize: Int, what: String, _ body: ([T]) throws -> [Float]) throws -> [Float] {
        var out: [Float] = []
        let start = Date()
        var lastReport = start
        for begin in stride(from: 0, to: items.count, by: batchSize) {
            out += try body(Array(items[begin..<min(begin + batchSize, items.count)]))
            let done = min(begin + batchSize, items.count), now = Date()
            if now.timeIntervalSince(lastReport) >= 5 {
                let rate = Double(done) / now.timeIntervalSince(start)
                printError(String(format: "aligncl: %@ %d/%d (%.1f/s, %.0f s left)", what, done, items.count, rate, Double(items.count - done) / rate))
                lastReport = now
            }
        }
        let seconds = Date().timeIntervalSince(start)
        printError(String(format: "aligncl: embedded %d %@ in %.3f s (%.1f/s; tokenising or decoding included, loading not)", items.count, what, seconds, Double(items.count) / seconds))
        return out
    }
}
