import Foundation

/// Writes a command's output files all or nothing: every file goes to a temporary name in the
/// directory first (written and synced), and only when all are written are they renamed.
enum OutputWriter {
    static func writeAll(_ files: [(name: String, bytes: [UInt8])], to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CLIError("cannot create output directory \(directory.path): \(error.localizedDescription)")
        }
        var temporaries: [(URL, URL)] = []
        defer { for (temporary, _) in temporaries { try? FileManager.default.removeItem(at: temporary) } }
        for file in files {
            let final = directory.appendingPathComponent(file.name)
            let temporary = directory.appendingPathComponent(".\(file.name).\(ProcessInfo.processInfo.processIdentifier).tmp")
            temporaries.append((temporary, final))
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
                  let handle = FileHandle(forWritingAtPath: temporary.path) else {
                throw CLIError("cannot write \(temporary.path)")
            }
            do {
                try handle.write(contentsOf: file.bytes)
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                throw CLIError("cannot write \(final.path): \(error.localizedDescription)")
            }
        }
        for (temporary, final) in temporaries where rename(temporary.path, final.path) != 0 {
            throw CLIError("cannot rename \(temporary.path) to \(final.path): \(String(cString: strerror(errno)))")
        }
        temporaries.removeAll()
    }
}

extension OutputWriter {
    /// One file, written whole or not at all (the directory is created if needed).
    static func writeFile(_ text: String, to url: URL) throws {
        try writeAll([(url.lastPathComponent, Array(text.utf8))], to: url.deletingLastPathComponent())
    }
}
