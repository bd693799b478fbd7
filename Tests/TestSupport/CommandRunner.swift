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
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        // Programs built by spawned commands go to the test process's cache, not the user's.
        merged["ALIGNCL_CACHE_DIR"] = TestBackends.programCacheDirectory.appendingPathComponent("cli").path
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes before waiting, so a full pipe cannot block the child.
        var outData = Data(), errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errData = errors.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        outData = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }
}
