// The `aligncl` entry point: runs the command, and turns every error into one line on stderr
// and a non-zero exit status (help and version go to stdout with status 0).
import ArgumentParser
import Foundation

do {
    try requireBuildCPUFeatures()
    var command = try AlignCLCommand.parseAsRoot()
    try command.run()
} catch {
    let status = AlignCLCommand.exitCode(for: error)
    if status == .success {
        print(AlignCLCommand.fullMessage(for: error))
    } else {
        let message = (error as? CLIError)?.description ?? AlignCLCommand.message(for: error)
        let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: "; ")
        // An ExitCode carries no message: whatever explains it was printed already.
        if !oneLine.isEmpty { FileHandle.standardError.write(Data("aligncl: error: \(oneLine)\n".utf8)) }
    }
    // The process's only exit: the status of the command as a whole (128 + signal after Ctrl-C / SIGTERM).
    exit(status == .success ? 0 : min(max(status.rawValue, 1), 255))
}
