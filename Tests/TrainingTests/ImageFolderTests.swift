import Compute
import Datasets
import Foundation
import Testing
import TestSupport
import Training

/// Users' own data: a generated image folder trains to well above chance, and every kind of bad
/// input is an error naming the file and line (or, when skipping, a counted warning).
@Suite struct ImageFolderTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-folder-\(UUID().uuidString)")

    @Test func aFolderWhereOnlyTheImageDecidesTrainsWellAboveChance() throws {
        try ImageFolderFixture.write(to: root, perClass: 16)
        var options = RecipeSmokeTests.options(.itcItm, steps: 60)
        (options.batchSize, options.learningRate, options.evaluateEvery, options.data) = (12, 3e-3, 0, root.path)
        let data = try TrainingData.load(root.path, options: options)
        #expect(data.classNames == ["blue", "green", "red"])
        let result = try #require(try Trainer(options: options, data: data, backend: CPUBackend(), run: try RecipeSmokeTests.runDirectory(), interactive: false).train())
        let accuracy = try #require(result.test.accuracy)
        #expect(accuracy >= 0.8, "test accuracy \(accuracy) (chance 0.33); losses \(result.losses.first!) → \(result.losses.last!)")
    }

    /// Writes `lines` as the train metadata next to a valid image `ok.png`, and loads.
    func load(_ lines: [String], extraTest: [String]? = nil, skip: Bool = false) throws -> ImageFolderDataset {
        try? FileManager.default.removeItem(at: root)
        let train = root.appendingPathComponent("train")
        try FileManager.default.createDirectory(at: train, withIntermediateDirectories: true)
        try PNGWriter.encode(width: 4, height: 4, rgb: [UInt8](repeating: 200, count: 48)).write(to: train.appendingPathComponent("ok.png"))
        try Data("not an image".utf8).write(to: train.appendingPathComponent("broken.png"))
        try (lines.joined(separator: "\n") + "\n").write(to: train.appendingPathComponent("metadata.jsonl"), atomically: true, encoding: .utf8)
        if let extraTest {
            let test = root.appendingPathComponent("test")
            try FileManager.default.createDirectory(at: test, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: train.appendingPathComponent("ok.png"), to: test.appendingPathComponent("ok.png"))
            try (extraTest.joined(separator: "\n") + "\n").write(to: test.appendingPathComponent("metadata.jsonl"), atomically: true, encoding: .utf8)
        }
        return try ImageFolderDataset(root: root, imageSize: 8, skipBadSamples: skip)
    }

    static let good = #"{"file_name": "ok.png", "text": "a block", "label": "red"}"#

    @Test(arguments: [
        (#"{"file_name": "ok.png", "text": "a block", "label": "red""#, "not valid JSON"),
        (#"{"file_name": "ok.png", "label": "red"}"#, "\"text\""),
        (#"{"file_name": "missing.png", "text": "a block", "label": "red"}"#, "missing.png"),
        (#"{"file_name": "broken.png", "text": "a block", "label": "red"}"#, "broken.png"),
        (#"{"file_name": "/etc/passwd", "text": "a block", "label": "red"}"#, "absolute"),
        (#"{"file_name": "../../x.png", "text": "a block", "label": "red"}"#, "leaves the split folder"),
        (#"{"file_name": "ok.png", "text": "a block", "label": "red", "tags": ["O"]}"#, "tags"),
        (#"["a list"]"#, "expected a JSON object"),
    ])
    func badLineIsAnErrorNamingFileAndLine(line: String, mentions: String) throws {
        do {
            _ = try load([Self.good, line])
            Issue.record("accepted: \(line)")
        } catch let issue as DatasetIssue {
            #expect(issue.file.hasSuffix("train/metadata.jsonl") && issue.line == 2 && "\(issue)".contains(mentions), "\(issue)")
        }
        // Skipping instead: the good line stays, the bad one is counted.
        let skipped = try load([Self.good, line], skip: true)
        #expect(skipped.samples[.train]?.count == 1 && skipped.skipped.count == 1)
    }

    @Test func labelsUnseenInTrainingAndHugeImagesAreRefused() throws {
        do {
            _ = try load([Self.good], extraTest: [#"{"file_name": "ok.png", "text": "x", "label": "purple"}"#])
            Issue.record("an unseen label was accepted")
        } catch let issue as DatasetIssue {
            #expect(issue.file.hasSuffix("test/metadata.jsonl") && issue.line == 1 && "\(issue)".contains("purple"), "\(issue)")
        }
        // A PNG whose header claims 5000×5000 pixels (above the 16.7M-pixel bound) is refused
        // from its header, before anything is decoded.
        var header = [UInt8](PNGWriter.encode(width: 1, height: 1, rgb: [0, 0, 0]))
        header.replaceSubrange(16..<24, with: [0, 0, 0x13, 0x88, 0, 0, 0x13, 0x88])
        try? FileManager.default.createDirectory(at: root.appendingPathComponent("train"), withIntermediateDirectories: true)
        do {
            try Data(header).write(to: root.appendingPathComponent("train/huge.png"))
            _ = try ImageDecoder.decodeRGB(Data(header))
            Issue.record("a 5000×5000 image was decoded")
        } catch {
            #expect("\(error)".contains("5000"), "\(error)")
        }
    }
}
