import Foundation
import CLRuntime

/// What can go wrong in the compute layer, with the op named and, for bad arguments, what was
/// expected and what was found.
public enum BackendError: Error, CustomStringConvertible, Sendable {
    /// An op was given arguments it cannot take: `[gemm] b must be [K, N] = [3, 4], got [4, 4]`.
    case invalidArgument(op: String, message: String)
    /// OpenCL was asked for but is not usable; the reason says what was found.
    case openCLUnavailable(reason: String)
    /// `--device N` names no device.
    case noSuchDevice(index: Int, found: [String])
    /// The backend cannot run `op` at these sizes (`Backend.supports` says so beforehand).
    case unsupported(op: String, message: String)
    /// Memory for `op` could not be had: what was asked for, and the limit where known.
    case outOfMemory(op: String, message: String)
    /// An OpenCL call failed while running `op`.
    case openCL(op: String, CLError)

    public var description: String {
        switch self {
        case .invalidArgument(let op, let message): "[\(op)] \(message)"
        case .openCLUnavailable(let reason): "OpenCL is not usable: \(reason)"
        case .noSuchDevice(let index, let found):
            "no OpenCL device \(index): found \(found.isEmpty ? "none" : found.enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: ", "))"
        case .unsupported(let op, let message): "[\(op)] not supported here: \(message)"
        case .outOfMemory(let op, let message): "[\(op)] out of memory: \(message)"
        case .openCL(let op, let error): "[\(op)] \(error)"
        }
    }
}

/// Describes a shape as `[2, 3]`.
func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

/// A byte count for people: `1.5 KiB`, `21.5 GiB` (binary units).
public func formatBytes(_ bytes: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = bytes, unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(Int(value)) B" : String(format: "%.1f %@", value, units[unit])
}
