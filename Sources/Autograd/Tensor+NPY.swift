import Compute
import Foundation
import NumPyFiles

extension Tensor {
    /// A leaf from a `.npy` file (float32 or float64; integers and booleans are converted, so
    /// ids and masks load too).
    public convenience init(npy url: URL, on backend: any Backend, requiresGradient: Bool = false) throws {
        let array = try NPY.read(url)
        try self.init(array.floatValues(), shape: array.shape, on: backend, requiresGradient: requiresGradient)
    }

    /// The values as a version-1 `.npy` file (float32, C order), written atomically.
    public func save(npy url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        try Data(NPY.encode(shape: shape, values: try values())).write(to: temporary)
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw BackendError.invalidArgument(op: "save", message: "cannot rename \(temporary.path) to \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}
