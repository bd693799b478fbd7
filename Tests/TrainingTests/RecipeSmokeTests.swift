import Compute
import Datasets
import Foundation
import Multimodal
import Testing
import TestSupport
import Training

/// Every recipe trains a few steps with tiny sizes on both backends: finite losses, the run
/// directory's files, and metrics of the right kind; the two backends' loss curves agree.
@Suite struct RecipeSmokeTests {

    static let data: TrainingData = {
        // A tiny shapes split: 48 training samples, 16 for validation and test.
        (try? TrainingData(shapesSeed: 5, imageSize: 16, counts: [.train: 48, .validation: 16, .test: 16]))!
    }()

    static func options(_ recipe: Recipe, steps: Int = 3) -> TrainingOptions {
        var options = TrainingOptions()
        options.recipe = recipe
        (options.steps, options.batchSize, options.evaluateEvery, options.logEvery, options.warmupSteps) = (steps, 8, 2, 1, 1)
        (options.model.width, options.model.heads, options.model.textLayers, options.model.imageLayers) = (16, 2, 1, 1)
        (options.model.patchSize, options.model.projection) = (8, 8)
        return options
    }

    static func runDirectory() throws -> RunDirectory {
        try RunDirectory(FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-run-\(UUID().uuidString)"), overwrite: false)
    }

    static func backend(_ name: String) throws -> any Backend {
        try TestBackends.named(name, fresh: true)
    }

    @Test(arguments: Recipe.allCases) func recipeTrainsAndLogsOnCPU(recipe: Recipe) throws { try recipeTrainsAndLogs(backend: "cpu", recipe: recipe) }
    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: Recipe.allCases)
    func recipeTrainsAndLogsOnOpenCL(recipe: Recipe) throws { try recipeTrainsAndLogs(backend: "opencl", recipe: recipe) }
    func recipeTrainsAndLogs(backend name: String, recipe: Recipe) throws {
        let run = try Self.runDirectory()
        let trainer = try Trainer(options: Self.options(recipe), data: Self.data, backend: try Self.backend(name), run: run, interactive: false)
        let result = try #require(try trainer.train())
        #expect(result.losses.count == 3 && result.losses.allSatisfy(\.isFinite), "\(result.losses)")
        let test = result.test
        #expect(test.samples == 16)
        #expect((test.accuracy != nil) == recipe.classifies)
        #expect((test.imageToText != nil) == recipe.hasRetrieval)
        #expect((test.taggingF1 != nil) == (recipe == .ita) && (test.taggingF1TextOnly != nil) == (recipe == .ita))
        // metrics.jsonl: one object per logged step (3) and per evaluation (1 periodic + final validation + test).
        let lines = try String(contentsOf: run.url.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(records.filter { $0["loss"] != nil }.count == 3)
        #expect(records.compactMap { $0["split"] as? String } == ["validation", "validation", "test"])
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: run.url.appendingPathComponent("config.json"))) as! [String: Any]
        #expect((config["options"] as? [String: Any])?["recipe"] as? String == recipe.rawValue)
        let svg = try String(contentsOf: run.url.appendingPathComponent("plot.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") || svg.hasPrefix("<svg"))
        #expect(svg.contains("training loss"))
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: [Recipe.itcItm, .ita, .localMI])
    func backendsAgreeOnTheLossCurve(recipe: Recipe) throws {
        func losses(_ name: String) throws -> [Double] {
            var options = Self.options(recipe, steps: 6)
            options.evaluateEvery = 0
            return try #require(try Trainer(options: options, data: Self.data, backend: try Self.backend(name), run: try Self.runDirectory(), interactive: false).train()).losses
        }
        let (cpu, openCL) = (try losses("cpu"), try losses("opencl"))
        let gap = zip(cpu, openCL).map { abs($0 - $1) }.max() ?? .infinity
        #expect(gap <= 1e-3, "\(recipe.rawValue): cpu \(cpu), opencl \(openCL)")
    }

    /// The trainer's CLIP step (the train-step benchmark runs it) waits for the device once: the
    /// read of its loss, which the trainer makes on logged steps only.
    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func clipStepMakesOneBlockingRead() throws {
        let backend = try TestBackends.freshOpenCL(.cpu)
        let run = try TrainStepBenchmark.benchmarkCase(batch: 4, width: 16, layers: 1).prepare(backend)
        try run()
        let transfers = try backend.hostTransfers { try run() }
        #expect(transfers.blockingReads == 1, "\(transfers)")
    }

    @Test func sameSeedSameRun() throws {
        func losses() throws -> [Double] {
            var options = Self.options(.itcItm, steps: 4)
            options.recipeOptions.itmNegatives = .hard
            options.evaluateEvery = 0
            return try #require(try Trainer(options: options, data: Self.data, backend: CPUBackend(), run: try Self.runDirectory(), interactive: false).train()).losses
        }
        #expect(try losses() == losses())
    }

    @Test func badOptionsAreRefusedWithTheirFlag() throws {
        var options = Self.options(.clip)
        options.batchSize = 1
        #expect(throws: TrainingError.self) { try options.validate() }
        options = Self.options(.itcItm)
        options.recipeOptions.betaITC = 0.8
        options.recipeOptions.betaITM = 0.5
        do {
            try options.validate()
            Issue.record("β sum above 1 accepted")
        } catch {
            #expect("\(error)".contains("--beta-itc"))
        }
        options = Self.options(.itcItm)
        options.model.heads = 3
        do {
            _ = try Trainer(options: options, data: Self.data, backend: CPUBackend(), run: try Self.runDirectory())
            Issue.record("width 16 with 3 heads accepted")
        } catch BackendError.invalidArgument(_, let message) {
            #expect(message.contains("divisible by heads 3"), "\(message)")
        }
    }

    @Test func runDirectoryIsNeverMixed() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-run-\(UUID().uuidString)")
        let first = try RunDirectory(url, overwrite: false)
        try first.writeText("config.json", "{}")
        #expect(throws: TrainingError.self) { try RunDirectory(url, overwrite: false) }
        _ = try RunDirectory(url, overwrite: true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.path).isEmpty)
    }
}
