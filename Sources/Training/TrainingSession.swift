import DataParallel
import Foundation
import Multimodal

/// A training job across the ranks an MPI launcher started (one process without one): the
/// process group, and what the ranks must agree on around the trainer — how an error ends the
/// job, rank 0's options on a resume, the announcement of every rank's backend, and how to
/// continue after a stop. The CLI parses flags and hands the rest to a session.
public final class TrainingSession {
    public let group: any ProcessGroup
    /// Where messages for the user go (stderr, with the tool's prefix).
    let console: (String) -> Void

    /// The ranks of this job; `rankTimeout`: seconds a rank waits for the others at an exchange.
    public static func launch(rankTimeout: Double, console: @escaping (String) -> Void) throws -> TrainingSession {
        guard rankTimeout > 0, rankTimeout.isFinite else {
            throw TrainingError.invalidOption("--rank-timeout must be a positive number of seconds, got \(rankTimeout)")
        }
        return TrainingSession(group: try Launch.processGroup(timeout: rankTimeout), console: console)
    }

    init(group: any ProcessGroup, console: @escaping (String) -> Void) {
        (self.group, self.console) = (group, console)
    }

    /// One process, saying nothing (tests, benchmarks, library use).
    public static func singleProcess() -> TrainingSession { TrainingSession(group: SingleProcess(), console: { _ in }) }

    public var isRoot: Bool { group.isRoot }

    /// Runs `body` on every rank. With several ranks an error must end the whole job without
    /// leaving a rank waiting forever in an exchange the failed one will never reach: an error
    /// that every rank raises at the same point (decided from exchanged values) is reported
    /// once, by rank 0, after one more exchange (mpirun ends the whole job at the first non-zero
    /// exit, so no rank may leave before the report); any other error is said by its rank,
    /// which then aborts the job. A stop (`TrainingError.interrupted`, after the ranks agreed
    /// on it) passes through. `describe` words an error for the user.
    public func run(describe: (any Error) -> String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error where group.size > 1 && !Self.endsEveryRankAlike(error) {
            let message = describe(error).split(whereSeparator: \.isNewline).joined(separator: "; ")
            if Self.isRaisedByEveryRank(error) {
                if group.isRoot { console("error: \(message)") }
                var reported: [Float] = [0]
                do { try group.allReduceSum(&reported, label: "the error report") } catch { group.abort(status: 1) }
                throw SessionError.reported
            }
            console("rank \(group.rank) of \(group.size): error: \(message)")
            group.abort(status: 1)
            throw error
        }
    }

    /// A stop every rank makes after the same step, or an error the session has reported.
    static func endsEveryRankAlike(_ error: any Error) -> Bool {
        switch error {
        case SessionError.reported, TrainingError.interrupted: true
        default: false
        }
    }

    /// Errors every rank raises at the same point, so each rank knows the others raise it too.
    static func isRaisedByEveryRank(_ error: any Error) -> Bool {
        switch error {
        case DataParallelError.ranksDisagree, DataParallelError.invalidSplit, TrainingError.nonFiniteLoss: true
        default: false
        }
    }

    /// Says, on rank 0, which backend every rank runs on.
    public func announceBackends(_ summary: String) throws {
        guard group.size > 1 else { return }
        let backends = try group.allGather(text: summary, label: "the ranks' backends")
        if group.isRoot { console("\(group.size) ranks: " + backends.enumerated().map { "rank \($0.offset) on \($0.element)" }.joined(separator: "; ")) }
    }

    /// Rank 0's options on every rank (a resume: only rank 0 reads the run directory); the
    /// other ranks pass nil.
    public func rootOptions(_ options: TrainingOptions?) throws -> TrainingOptions {
        guard group.size > 1 else {
            guard let options else { throw TrainingError.invalidOption("resume: no options") }
            return options
        }
        let text = group.isRoot ? String(decoding: try JSONEncoder().encode(options), as: UTF8.self) : ""
        return try JSONDecoder().decode(TrainingOptions.self, from: Data(try group.allGather(text: text, label: "rank 0's options")[0].utf8))
    }

    /// The command that continues `run` with as many ranks as this job.
    public func resumeCommand(run: String) -> String {
        (group.size > 1 ? "mpirun -np \(group.size) " : "") + "aligncl train --resume \(run)"
    }

    /// What the trainer runs on this job's ranks.
    public var placement: String? { group.size > 1 ? "\(group.size) ranks" : nil }
}

/// An error the session has already told the user about (the caller only sets the exit status).
public enum SessionError: Error {
    case reported
}
