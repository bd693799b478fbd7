import Checkpoints
import Compute
import Foundation
import Testing
import TestSupport
import Multimodal
import Training

/// Checkpoints: an interrupted-and-resumed run equals the uninterrupted one on the CPU path,
/// only the newest K are kept, and a checkpoint that does not fit the model is refused with
/// every mismatch named.
@Suite struct CheckpointTests {
    func copy(_ source: URL) throws -> URL {
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-run-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: target)
        return target
    }

    @Test(arguments: [Recipe.itcItm, .clip])
    func resumedRunEqualsTheUninterruptedOne(recipe: Recipe) throws {
        var options = RecipeSmokeTests.options(recipe, steps: 8)
        (options.checkpointEvery, options.keepCheckpoints, options.evaluateEvery) = (2, 2, 3)
        let run = try RecipeSmokeTests.runDirectory()
        let full = try #require(try Trainer(options: options, data: RecipeSmokeTests.data, backend: CPUBackend(), run: run, interactive: false).train())
        #expect(CheckpointStore.list(run: run.url).map(\.step) == [6, 8], "the newest two are kept")

        // Resume a copy from step 6 (as if killed there): the last two losses must be identical.
        let resumedURL = try copy(run.url)
        let checkpoint = resumedURL.appendingPathComponent("checkpoints/step-6")
        let state = try CheckpointStore.loadState(from: checkpoint)
        #expect(state.step == 6 && state.epoch == 1 && state.batchInEpoch == 0, "\(state)")
        let resumed = try #require(try Trainer(options: options, data: RecipeSmokeTests.data, backend: CPUBackend(), run: try RunDirectory(resuming: resumedURL),
                                               interactive: false).train(resumingFrom: checkpoint))
        #expect(resumed.losses == Array(full.losses[6...]), "full \(full.losses), resumed \(resumed.losses)")
        #expect(resumed.test == full.test)
        // The log holds each step once: the lines after the checkpoint were replaced, not repeated.
        let steps = try RunDirectory(resuming: resumedURL).readMetrics().filter { $0["split"] == nil }.compactMap { $0["step"] as? Int }
        #expect(steps == [1, 2, 3, 4, 5, 6, 7, 8])
    }

    @Test func checkpointFilesFollowTheFormatAndMismatchesAreListed() throws {
        let run = try RecipeSmokeTests.runDirectory()
        _ = try Trainer(options: RecipeSmokeTests.options(.clip, steps: 2), data: RecipeSmokeTests.data, backend: CPUBackend(), run: run,
                        interactive: false).train()
        let checkpoint = try #require(CheckpointStore.list(run: run.url).last?.url)
        let model = try SafeTensorsFile(contentsOf: checkpoint.appendingPathComponent("model.safetensors"))
        #expect(model.tensors["text.tokens.weight"]?.dtype == .F32)
        #expect(model.metadata["recipe"] == "clip")
        #expect(try JSONSerialization.jsonObject(with: Data(model.metadata["config"]!.utf8)) is [String: Any], "the config as a JSON string")
        let optimizer = try SafeTensorsFile(contentsOf: checkpoint.appendingPathComponent("optimizer.safetensors"))
        #expect(optimizer.metadata["step"] == "2" && optimizer.tensors.count == 2 * model.tensors.count)

        // A wider model cannot take these weights: every parameter is named in one error.
        var wider = RecipeSmokeTests.options(.clip, steps: 2)
        wider.model.width = 32
        let other = try Trainer(options: wider, data: RecipeSmokeTests.data, backend: CPUBackend(), run: try RecipeSmokeTests.runDirectory(), interactive: false)
        do {
            try CheckpointStore.loadModel(other.model, from: checkpoint)
            Issue.record("a mismatched checkpoint loaded")
        } catch {
            #expect("\(error)".contains("text.tokens.weight has shape [") && "\(error)".contains("image.patch.weight"), "\(error)")
        }
        let loaded = try LoadedRun(run: run.url, backend: CPUBackend())
        #expect(loaded.checkpoint.lastPathComponent == "step-2")
        #expect(throws: TrainingError.self) { try LoadedRun(run: run.url, checkpoint: "step-99", backend: CPUBackend()) }
    }
}
