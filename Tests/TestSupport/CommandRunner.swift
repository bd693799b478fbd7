import Foundation

/// Runs the built `aligncl` binary as a user would, with a controlled environment.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    public var stderrLines: [Substring] { stderr.split(separator: "\n") }
}

public enum AlignCLBinary {
    /// `aligncl` next to the test bundle in the build products directory.
    public static var url: URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // Inside `X.xctest/Contents/MacOS` on Darwin; directly in the products directory on Linux.
        while directory.path != "/", !FileManager.default.fileExists(atPath: directory.appendingPathComponent("aligncl").path) {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("aligncl")
    }

    /// Runs `aligncl arguments` with the test process's environment plus `environment`
    /// (a nil value removes the variable), and waits for it.
    public static func run(_ arguments: [String], environment: [String: String?] = [:]) throws -> CommandResult {
        try RunningCommand(executable: url, arguments: arguments, environment: environment).finish()
    }

    /// Runs a launcher command line (e.g. `mpirun … aligncl …`, found on PATH) and waits for it.
    public static func run(launcher commandLine: [String], environment: [String: String?] = [:]) throws -> CommandResult {
        try start(launcher: commandLine, environment: environment).finish()
    }

    /// Starts a launcher command line without waiting.
    public static func start(launcher commandLine: [String], environment: [String: String?] = [:]) throws -> RunningCommand {
        try RunningCommand(executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: commandLine, environment: environment)
    }
}

/// A started command whose output is collected until `finish()`.
public final class RunningCommand: @unchecked Sendable {  // `errorData`: written by the reader, read after `errorsRead` is done
    public let process = Process()
    private let output = Pipe(), errors = Pipe()
    private let errorsRead = DispatchGroup()
    private var errorData = Data()

    init(executable: URL, arguments: [String], environment: [String: String?]) throws {
        process.executableURL = executable
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        // Programs built by spawned commands go to the test process's cache, not the user's.
        merged["ALIGNCL_CACHE_DIR"] = TestBackends.programCacheDirectory.appendingPathComponent("cli").path
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read stderr while the command runs, so a full pipe cannot block it.
        errorsRead.enter()
        DispatchQueue.global().async { [self] in
            errorData = errors.fileHandleForReading.readDataToEndOfFile()
            errorsRead.leave()
        }
    }

    /// Waits for the command and returns what it printed.
    public func finish() -> CommandResult {
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        errorsRead.wait()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errorData, as: UTF8.self))
    }
}
