import Foundation

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case invalidData(String)
    case runDirectory(String)
    case nonFiniteLoss(step: Int, parts: String)
    /// `checkpoint` and `run` are nil on ranks other than 0, which write nothing.
    case interrupted(signal: Int32, step: Int, checkpoint: String?, run: String?)

    public var description: String {
        switch self {
        case .invalidOption(let message): "invalid option: \(message)"
        case .invalidData(let message): "invalid data: \(message)"
        case .runDirectory(let message): "run directory: \(message)"
        case .nonFiniteLoss(let step, let parts): "the loss became non-finite at step \(step) (\(parts)); lower --lr or check the data"
        case .interrupted(let signal, let step, let checkpoint, let run):
            "stopped by \(signal == SIGINT ? "SIGINT" : signal == SIGUSR1 ? "SIGUSR1" : "SIGTERM") after step \(step)" + (checkpoint.map { "; saved \($0)" } ?? "")
                + (run.map { "; continue with: aligncl train --resume \($0)" } ?? "")
        }
    }
}
