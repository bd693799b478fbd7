import COpenCL
import Foundation

/// The ICD loader, opened at run time. Nothing in AlignCL links OpenCL directly, so the binary
/// starts on machines without it and can say why OpenCL is unavailable.
public final class OpenCLLibrary: @unchecked Sendable {  // the loader handle and C function pointers, set once in init
    /// Where the loader is looked for when no path is configured.
    public static let defaultPath = "libOpenCL.so.1"

    public let path: String
    let api: AlignCLOpenCLAPI

    /// Why the loader could not be opened: the path and the dynamic linker's reason.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "no OpenCL ICD loader (\(path): \(reason))" }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var opened: [String: OpenCLLibrary] = [:]

    /// Opens (once per process and path) the loader at `path`.
    public static func open(path: String = defaultPath) throws(LoadError) -> OpenCLLibrary {
        lock.lock()
        defer { lock.unlock() }
        if let library = opened[path] { return library }
        var message = [CChar](repeating: 0, count: 512)
        guard let table = aligncl_opencl_load(path, &message, message.count) else {
            throw LoadError(path: path, reason: decodedNulTerminated(message))
        }
        let library = OpenCLLibrary(path: path, api: table.pointee)
        opened[path] = library
        return library
    }

    private init(path: String, api: AlignCLOpenCLAPI) {
        self.path = path
        self.api = api
    }
}
