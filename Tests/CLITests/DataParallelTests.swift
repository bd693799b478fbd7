import Checkpoints
import Foundation
import Testing
import TestSupport

#if MPI
/// `mpirun -np N aligncl train` end to end on one machine, on the CPU path: N ranks × batch b
/// against one process × batch N·b, and the failures a user meets (ranks that disagree, more
/// ranks than samples, a rank that hangs, a resume with another number of ranks).
@Suite(.serialized) struct DataParallelTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-mpi-\(UUID().uuidString)")
    /// Running as root (CI containers) needs --allow-run-as-root; 2 ranks on 2 cores, --oversubscribe.
    static let mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
    static let common = ["train", "--backend", "cpu", "--eval-every", "0", "--log-every", "1", "--train-samples", "320", "--eval-samples", "32"]

    /// Runs `mpirun` with `arguments` (an aligncl binary path where `aligncl` stands).
    static func mpirun(_ arguments: [String]) throws -> CommandResult {
        try AlignCLBinary.run(launcher: mpirun + arguments.map { $0 == "aligncl" ? AlignCLBinary.url.path : $0 })
    }

    static func losses(_ run: URL) throws -> [Int: Double] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        var losses: [Int: Double] = [:]
        for line in text.split(separator: "\n") {
            guard let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], record["split"] == nil,
                  let step = record["step"] as? Int, let loss = record["loss"] as? Double else { continue }
            losses[step] = loss
        }
        return losses
    }

    static func finalParameters(_ run: URL) throws -> [String: [Float]] {
        let newest = try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path)
            .compactMap { $0.hasPrefix("step-") ? Int($0.dropFirst(5)) : nil }.max() ?? -1
        let file = try SafeTensorsFile(contentsOf: run.appendingPathComponent("checkpoints/step-\(newest)/model.safetensors"))
        return try file.tensors.mapValues { try $0.floatValues() }
    }

    /// 2 ranks × 16 against 1 process × 32: the same loss at each of 20 steps and the same
    /// parameters at the end, up to summation order (the allreduce, and GEMMs of other shapes).
    @Test(arguments: ["itc-itm", "itc-itm --itm-negatives hard", "clip", "vlcdoc", "ita", "local-mi --estimator dv"])
    func twoRanksEqualOneProcessWithTheGlobalBatch(recipe: String) throws {
        let flags = Self.common + ["--steps", "20", "--recipe"] + recipe.split(separator: " ").map(String.init)
        let single = base.appendingPathComponent("single-\(recipe.hashValue)"), ranks = base.appendingPathComponent("ranks-\(recipe.hashValue)")
        let one = try AlignCLBinary.run(flags + ["--batch-size", "32", "--run-dir", single.path])
        #expect(one.status == 0, "\(one.stderr)")
        let two = try Self.mpirun(["-np", "2", "aligncl"] + flags + ["--batch-size", "16", "--run-dir", ranks.path])
        #expect(two.status == 0, "\(two.stderr)")
        #expect(two.stderr.contains("2 ranks × batch 16"), "\(two.stderr)")
        let (expected, measured) = (try Self.losses(single), try Self.losses(ranks))
        #expect(expected.count == 20 && measured.keys.sorted() == expected.keys.sorted())
        for (step, loss) in expected {
            let other = try #require(measured[step])
            // local-mi's bound starts near 0, where a relative error divides by ~0.
            let scale = recipe.hasPrefix("local-mi") ? max(abs(loss), 0.1) : abs(loss)
            #expect(abs(other - loss) <= 1e-5 * scale, "\(recipe) step \(step): \(loss) vs \(other)")
        }
        let (a, b) = (try Self.finalParameters(single), try Self.finalParameters(ranks))
        #expect(a.keys.sorted() == b.keys.sorted())
        var (difference, norm) = (0.0, 0.0)
        for (name, values) in a {
            let others = try #require(b[name])
            let d = zip(values, others).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            let n = values.reduce(0.0) { $0 + Double($1) * Double($1) }
            (difference, norm) = (difference + d, norm + n)
            // Per tensor a looser bound: small tensors near 0 (LayerNorm biases) amplify it.
            #expect(d.squareRoot() <= 1e-4 * max(n.squareRoot(), 1e-3), "\(recipe) \(name): \(d.squareRoot()) of \(n.squareRoot())")
        }
        #expect(difference.squareRoot() <= 1e-5 * norm.squareRoot(), "\(recipe): parameters differ by \(difference.squareRoot()) of \(norm.squareRoot())")
    }

    @Test func ranksWithDifferentOptionsStopWithAMessage() throws {
        let flags = Self.common + ["--steps", "3", "--batch-size", "8", "--run-dir", base.appendingPathComponent("disagree").path]
        let result = try Self.mpirun(["-np", "1", "aligncl"] + flags + ["--seed", "1", ":", "-np", "1", "aligncl"] + flags + ["--seed", "2"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("the ranks disagree: rank 1 has [option \"seed\" : 2] where rank 0 has [option \"seed\" : 1]"), "\(result.stderr)")
    }

    @Test func moreRanksThanSamplesIsAnError() throws {
        let result = try Self.mpirun(["-np", "3", "aligncl", "train", "--backend", "cpu", "--train-samples", "2", "--batch-size", "2",
                                      "--run-dir", base.appendingPathComponent("few").path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("launched with 3 ranks, but the training split has only 2 samples"), "\(result.stderr)")
    }

    /// A rank that stops answering (SIGSTOP: alive, so mpirun does not notice) turns into an
    /// error on the others after --rank-timeout, not a wait forever.
    @Test func aHungRankTimesOut() throws {
        let run = base.appendingPathComponent("hung").path
        let process = try AlignCLBinary.start(launcher: Self.mpirun + ["-np", "2", AlignCLBinary.url.path] + Self.common
                                                + ["--steps", "100000", "--batch-size", "16", "--rank-timeout", "3", "--run-dir", run])
        let began = Date()
        try waitForMetrics(in: run, lines: 2)
        let rankOne = try #require(Self.processes(withArgument: run).first { Self.environment(of: $0)["OMPI_COMM_WORLD_RANK"] == "1" })
        kill(rankOne, SIGSTOP)
        defer { kill(rankOne, SIGKILL) }
        let result = process.finish()
        #expect(result.status != 0)
        #expect(result.stderr.contains("the other ranks did not reach the exchange"), "\(result.stderr)")
        #expect(Date().timeIntervalSince(began) < 60)
    }

    /// A rank that dies (SIGKILL) ends the whole job through mpirun, promptly and with a
    /// failure status, instead of leaving the others waiting.
    @Test func aDeadRankEndsTheJob() throws {
        let run = base.appendingPathComponent("dead").path
        let process = try AlignCLBinary.start(launcher: Self.mpirun + ["-np", "2", AlignCLBinary.url.path] + Self.common
                                                + ["--steps", "100000", "--batch-size", "16", "--run-dir", run])
        try waitForMetrics(in: run, lines: 2)
        let killed = Date()
        let rankOne = try #require(Self.processes(withArgument: run).first { Self.environment(of: $0)["OMPI_COMM_WORLD_RANK"] == "1" })
        kill(rankOne, SIGKILL)
        let result = process.finish()
        #expect(result.status != 0)
        #expect(Date().timeIntervalSince(killed) < 30, "the job took \(Date().timeIntervalSince(killed)) s to end")
    }

    /// SIGTERM stops every rank after the same step with one checkpoint; the run resumes with
    /// the same number of ranks (and refuses another number), and its losses are those of a
    /// run that was never stopped.
    @Test func stopAndResumeWithTheSameRanks() throws {
        let tiny = ["--width", "16", "--heads", "2", "--text-layers", "1", "--image-layers", "1", "--fusion-layers", "1", "--image-size", "16",
                    "--projection", "8", "--batch-size", "8", "--steps", "800", "--checkpoint-every", "0"]
        let (stopped, full) = (base.appendingPathComponent("stopped").path, base.appendingPathComponent("full").path)
        let process = try AlignCLBinary.start(launcher: Self.mpirun + ["-np", "2", AlignCLBinary.url.path] + Self.common + tiny + ["--run-dir", stopped])
        try waitForMetrics(in: stopped, lines: 5)
        // What mpirun does with a SIGTERM, done here directly: this test process keeps SIGTERM
        // blocked, and mpirun would inherit that. The ranks get it at different moments.
        let rankProcesses = Self.processes(withArgument: stopped).filter { Self.environment(of: $0)["OMPI_COMM_WORLD_RANK"] != nil }
        try #require(rankProcesses.count == 2)
        for pid in rankProcesses { kill(pid, SIGTERM); usleep(30_000) }
        let interrupted = process.finish()
        #expect(interrupted.stderr.contains("continue with: mpirun -np 2 aligncl train --resume"), "\(interrupted.stderr)")
        let saved = try FileManager.default.contentsOfDirectory(atPath: "\(stopped)/checkpoints").filter { $0.hasPrefix("step-") }
        try #require(saved.count == 1, "\(saved)")

        let alone = try AlignCLBinary.run(["train", "--resume", stopped, "--backend", "cpu"])
        #expect(alone.status != 0 && alone.stderr.contains("resume it with mpirun -np 2, not 1"), "\(alone.stderr)")
        let resumed = try Self.mpirun(["-np", "2", "aligncl", "train", "--resume", stopped, "--backend", "cpu"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let uninterrupted = try Self.mpirun(["-np", "2", "aligncl"] + Self.common + tiny + ["--run-dir", full])
        #expect(uninterrupted.status == 0, "\(uninterrupted.stderr)")
        let (a, b) = (try Self.losses(URL(fileURLWithPath: stopped)), try Self.losses(URL(fileURLWithPath: full)))
        #expect(a.count == 800 && a == b, "resumed and uninterrupted losses differ")
    }

    private func waitForMetrics(in run: String, lines: Int) throws {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let text = (try? String(contentsOfFile: "\(run)/metrics.jsonl", encoding: .utf8)) ?? ""
            if text.split(separator: "\n").count >= lines { return }
            usleep(20_000)
        }
        Issue.record("no \(lines) metrics lines in \(run) after 120 s")
    }

    /// The pids of processes whose command line contains `argument`.
    static func processes(withArgument argument: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(pid_t.init).filter { pid in
            let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            return command.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == argument }
        }
    }

    static func environment(of pid: pid_t) -> [String: String] {
        let data = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
        return Dictionary(data.split(separator: 0).compactMap { entry -> (String, String)? in
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { return nil }
            return (String(text[..<equals]), String(text[text.index(after: equals)...]))
        }, uniquingKeysWith: { first, _ in first })
    }
}
#else
/// Without the MPI trait, a launch as one of several ranks is refused (it would otherwise train
/// N independent copies into one run directory).
@Suite struct DataParallelTests {
    @Test func severalRanksWithoutMPIAreRefused() throws {
        let result = try AlignCLBinary.run(["train", "--backend", "cpu", "--steps", "1"], environment: ["OMPI_COMM_WORLD_SIZE": "2"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("built without MPI"), "\(result.stderr)")
    }
}
#endif
