import Foundation
import Reporting

/// A run's folder: `config.json`, `metrics.jsonl` (one JSON object per logged step and per
/// evaluation, appended and flushed as they happen, so a crash loses nothing logged), the plot.
public final class RunDirectory {
    public let url: URL
    private var metrics: FileHandle?

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
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw TrainingError.runDirectory("\(url.path) exists and is not a directory") }
            let contents = try manager.contentsOfDirectory(atPath: url.path)
            if !contents.isEmpty {
                guard overwrite else {
                    throw TrainingError.runDirectory("\(url.path) already holds \(contents.count) file(s); choose another --run-dir or pass --overwrite")
                }
                for name in contents { try manager.removeItem(at: url.appendingPathComponent(name)) }
            }
        }
        do {
            try manager.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw TrainingError.runDirectory("cannot create \(url.path): \(error.localizedDescription)")
        }
    }

    deinit { try? metrics?.close() }

    /// Writes `name` whole or not at all (temporary file, then rename).
    public func writeText(_ name: String, _ text: String) throws {
        let target = url.appendingPathComponent(name)
        let temporary = url.appendingPathComponent(".\(name).tmp")
        try Data(text.utf8).write(to: temporary)
        guard rename(temporary.path, target.path) == 0 else {
            throw TrainingError.runDirectory("cannot rename \(temporary.path) to \(target.path): \(String(cString: strerror(errno)))")
        }
    }

    public func writeJSON<T: Encodable>(_ name: String, _ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeText(name, String(decoding: try encoder.encode(value), as: UTF8.self) + "\n")
    }

    /// Appends one line to `metrics.jsonl` (non-finite numbers are written as null: JSON has no NaN).
    public func appendMetrics(_ record: [String: Any]) throws {
        if metrics == nil {
            let path = url.appendingPathComponent("metrics.jsonl")
            if !FileManager.default.fileExists(atPath: path.path) { FileManager.default.createFile(atPath: path.path, contents: nil) }
            metrics = try FileHandle(forWritingTo: path)
            try metrics?.seekToEnd()
        }
        let cleaned = record.mapValues { value -> Any in
            if let number = value as? Double, !number.isFinite { return NSNull() }
            return value
        }
        var line = try JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys])
        line.append(0x0A)
        try metrics?.write(contentsOf: line)
    }
}

/// The run's SVG: training loss (raw and smoothed) over steps, and the validation metrics.
enum TrainingPlot {
    static func render(_ result: TrainingResult, recipe: Recipe) -> String {
        let raw = result.losses.enumerated().map { (x: Double($0.offset + 1), y: $0.element) }
        var smoothed: [(x: Double, y: Double)] = [], average: Double?
        for point in raw {
            average = average.map { 0.95 * $0 + 0.05 * point.y } ?? point.y
            smoothed.append((point.x, average!))
        }
        let names = result.validation.first?.evaluation.flattened.map(\.name) ?? []
        let metricSeries = names.map { name in
            PlotSeries(name: name, points: result.validation.compactMap { entry in
                entry.evaluation.flattened.first { $0.name == name }.map { (x: Double(entry.step), y: $0.value) }
            })
        }
        return LinePlotSVG.render(title: "aligncl train --recipe \(recipe.rawValue)", panels: [
            PlotPanel(title: "training loss", xLabel: "step", yLabel: "loss",
                      series: [PlotSeries(name: "loss", points: raw), PlotSeries(name: "smoothed", points: smoothed)]),
            PlotPanel(title: "validation", xLabel: "step", yLabel: "metric", series: metricSeries),
        ])
    }
}
