import Checkpoints
import Foundation
import Multimodal
import Reporting

/// A run's folder: `config.json`, `metrics.jsonl` (one JSON object per logged step and per
/// evaluation, appended and flushed as they happen, so a crash loses nothing logged), the plot.
public final class RunDirectory {
    public let url: URL
    private var metricsHandle: FileHandle?

    /// Where a run with a pretrained text tower keeps its model's config.json and tokenizer
    /// files (the weights are in the checkpoints).
    public static let textModelFolder = "text-model"
    /// A pretrained image tower's config and preprocessing (`--image-model`).
    public static let imageModelFolder = "image-model"

    /// `runs/<recipe>-<UTC timestamp>` under `base`.
    public static func defaultURL(recipe: Recipe, base: URL = URL(fileURLWithPath: "runs"), now: Date = Date()) -> URL {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return base.appendingPathComponent("\(recipe.rawValue)-\(formatter.string(from: now))")
    }

    /// Creates (or, with `overwrite`, empties) the folder; an existing non-empty folder is refused
    /// so a run never mixes its files with another's.
    public init(_ url: URL, overwrite: Bool) throws {
        self.url = url
        let manager = FileManager.default
        for name in try Self.replaceableContents(url, overwrite: overwrite, flag: "--run-dir") { try manager.removeItem(at: url.appendingPathComponent(name)) }
        do {
            try manager.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw TrainingError.runDirectory("cannot create \(url.path): \(error.localizedDescription)")
        }
    }

    /// What `url` holds, when it may be replaced: it does not exist, is an empty folder, or
    /// `overwrite` is set. Anything else is refused, naming `flag` (a folder written by one
    /// command never mixes its files with another's).
    static func replaceableContents(_ url: URL, overwrite: Bool, flag: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { throw TrainingError.runDirectory("\(url.path) exists and is not a directory") }
        let contents = try FileManager.default.contentsOfDirectory(atPath: url.path)
        guard contents.isEmpty || overwrite else {
            throw TrainingError.runDirectory("\(url.path) is not empty (it holds \(contents.count) file(s)); choose another \(flag) or pass --overwrite")
        }
        return contents
    }

    /// An existing run folder, continued by `--resume` (nothing is removed).
    public init(resuming url: URL) throws {
        self.url = url
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) else {
            throw TrainingError.runDirectory("\(url.path) is not a run directory: no config.json")
        }
    }

    deinit { closeMetrics() }

    func closeMetrics() {
        try? metricsHandle?.close()
        metricsHandle = nil
    }

    /// Writes `name` whole or not at all (`AtomicFile`).
    public func writeText(_ name: String, _ text: String) throws {
        try AtomicFile.write([Data(text.utf8)], to: url.appendingPathComponent(name))
    }

    public func writeJSON<T: Encodable>(_ name: String, _ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeText(name, String(decoding: try encoder.encode(value), as: UTF8.self) + "\n")
    }

    /// Appends one line to `metrics.jsonl` (non-finite numbers are written as null: JSON has no NaN).
    public func appendMetrics(_ record: [String: Any]) throws {
        if metricsHandle == nil {
            let path = url.appendingPathComponent("metrics.jsonl")
            if !FileManager.default.fileExists(atPath: path.path), !FileManager.default.createFile(atPath: path.path, contents: nil) {
                throw TrainingError.runDirectory("cannot create \(path.path)")
            }
            metricsHandle = try FileHandle(forWritingTo: path)
            try metricsHandle?.seekToEnd()
        }
        let cleaned = record.mapValues { value -> Any in
            if let number = value as? Double, !number.isFinite { return NSNull() }
            return value
        }
        var line = try JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys])
        line.append(0x0A)
        try metricsHandle?.write(contentsOf: line)
    }
}

extension RunDirectory {
    /// The records of `metrics.jsonl` (lines that do not parse are skipped).
    public func readMetrics() throws -> [[String: Any]] {
        try? metricsHandle?.synchronize()
        guard let data = FileManager.default.contents(atPath: url.appendingPathComponent("metrics.jsonl").path) else { return [] }
        return data.split(separator: 0x0A).compactMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
    }

    /// Keeps the records up to `step` (a resumed run logs the steps after its checkpoint again).
    func dropMetrics(after step: Int) throws {
        let kept = try readMetrics().filter { ($0["step"] as? Int ?? 0) <= step }
        let lines = try kept.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
        closeMetrics()
        try writeText("metrics.jsonl", lines.map { $0 + "\n" }.joined())
    }
}

/// The run's SVG: training loss (raw and smoothed) over the logged steps, and the validation
/// metrics, both from `metrics.jsonl` (so a resumed run plots its whole history).
enum TrainingPlot {
    static func render(_ records: [[String: Any]], recipe: Recipe) -> String {
        let raw = records.compactMap { record -> (x: Double, y: Double)? in
            guard record["split"] == nil, let step = record["step"] as? Int, let loss = record["loss"] as? Double else { return nil }
            return (Double(step), loss)
        }
        var smoothed: [(x: Double, y: Double)] = [], average: Double?
        for point in raw {
            average = average.map { 0.8 * $0 + 0.2 * point.y } ?? point.y
            smoothed.append((point.x, average!))
        }
        let validation = records.filter { $0["split"] as? String == "validation" }
        let names = Evaluation.metricNames.filter { name in validation.contains { $0[name] != nil } }
        let metricSeries = names.map { name in
            PlotSeries(name: name, points: validation.compactMap { record in
                guard let step = record["step"] as? Int, let value = record[name] as? Double else { return nil }
                return (x: Double(step), y: value)
            })
        }
        return LinePlotSVG.render(title: "aligncl train --recipe \(recipe.rawValue)", panels: [
            PlotPanel(title: "training loss", xLabel: "step", yLabel: "loss",
                      series: [PlotSeries(name: "loss", points: raw), PlotSeries(name: "smoothed", points: smoothed)]),
            PlotPanel(title: "validation", xLabel: "step", yLabel: "metric", series: metricSeries),
        ])
    }
}
