import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-or-nothing file writes, shared by checkpoints and run directories.
public enum AtomicFile {
    /// Writes `chunks` to a temporary file in the same directory, fsyncs it, renames it over
    /// `url` and fsyncs the directory: a crash at any moment leaves either the old file or the
    /// new one. Errors are `SafeTensorsError.io` naming the path and the step that failed.
    public static func write(_ chunks: [Data], to url: URL) throws {
        let path = url.path, directory = url.deletingLastPathComponent().path
        // The same directory, because rename(2) is atomic only within one file system; O_EXCL and the
        // random suffix keep concurrent writers from sharing a temporary file.
        let temporary = "\(directory)/.\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: .min ... .max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError(temporary, "create") }
        do {
            for chunk in chunks { try writeAll(fd, chunk, temporary) }
            // Otherwise the rename could reach the disk before the data, and a crash leave a truncated target.
            guard fsync(fd) == 0 else { throw ioError(temporary, "fsync") }
        } catch { close(fd); unlink(temporary); throw error }
        guard close(fd) == 0 else { let error = ioError(temporary, "close"); unlink(temporary); throw error }
        guard rename(temporary, path) == 0 else { let error = ioError(path, "rename into place"); unlink(temporary); throw error }
        try syncDirectory(URL(fileURLWithPath: directory))
    }

    /// fsync on a directory makes the renames inside it durable.
    public static func syncDirectory(_ url: URL) throws {
        let descriptor = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ioError(url.path, "open for fsync") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw ioError(url.path, "fsync") }
    }
}
