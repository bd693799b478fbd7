import COpenCL
import Foundation

/// A failed OpenCL call: the status by name, the call that returned it, and for program builds
/// the device's build log.
public struct CLError: Error, CustomStringConvertible, Sendable {
    public let status: Int32
    public let call: String
    public let buildLog: String?

    public init(status: Int32, call: String, buildLog: String? = nil) {
        self.status = status
        self.call = call
        self.buildLog = buildLog
    }

    public var statusName: String { CLError.name(of: status) }

    public var description: String {
        var text = "\(call) failed with \(statusName) (\(status))"
        if let buildLog, !buildLog.isEmpty { text += "\nbuild log:\n\(buildLog)" }
        return text
    }

    static func name(of status: Int32) -> String {
        switch status {
        case 0: "CL_SUCCESS"
        case -1: "CL_DEVICE_NOT_FOUND"
        case -2: "CL_DEVICE_NOT_AVAILABLE"
        case -3: "CL_COMPILER_NOT_AVAILABLE"
        case -4: "CL_MEM_OBJECT_ALLOCATION_FAILURE"
        case -5: "CL_OUT_OF_RESOURCES"
        case -6: "CL_OUT_OF_HOST_MEMORY"
        case -7: "CL_PROFILING_INFO_NOT_AVAILABLE"
        case -11: "CL_BUILD_PROGRAM_FAILURE"
        case -12: "CL_MAP_FAILURE"
        case -30: "CL_INVALID_VALUE"
        case -31: "CL_INVALID_DEVICE_TYPE"
        case -32: "CL_INVALID_PLATFORM"
        case -33: "CL_INVALID_DEVICE"
        case -34: "CL_INVALID_CONTEXT"
        case -35: "CL_INVALID_QUEUE_PROPERTIES"
        case -36: "CL_INVALID_COMMAND_QUEUE"
        case -38: "CL_INVALID_MEM_OBJECT"
        case -42: "CL_INVALID_BINARY"
        case -43: "CL_INVALID_BUILD_OPTIONS"
        case -44: "CL_INVALID_PROGRAM"
        case -45: "CL_INVALID_PROGRAM_EXECUTABLE"
        case -46: "CL_INVALID_KERNEL_NAME"
        case -48: "CL_INVALID_KERNEL"
        case -49: "CL_INVALID_ARG_INDEX"
        case -50: "CL_INVALID_ARG_VALUE"
        case -51: "CL_INVALID_ARG_SIZE"
        case -52: "CL_INVALID_KERNEL_ARGS"
        case -53: "CL_INVALID_WORK_DIMENSION"
        case -54: "CL_INVALID_WORK_GROUP_SIZE"
        case -55: "CL_INVALID_WORK_ITEM_SIZE"
        case -56: "CL_INVALID_GLOBAL_OFFSET"
        case -57: "CL_INVALID_EVENT_WAIT_LIST"
        case -58: "CL_INVALID_EVENT"
        case -59: "CL_INVALID_OPERATION"
        case -61: "CL_INVALID_BUFFER_SIZE"
        case -63: "CL_INVALID_GLOBAL_WORK_SIZE"
        case -1001: "CL_PLATFORM_NOT_FOUND_KHR"
        default: "CL status \(status)"
        }
    }
}

/// The one place every OpenCL status is checked.
@inline(__always)
func check(_ status: cl_int, _ call: StaticString) throws(CLError) {
    if status != CL_SUCCESS { throw CLError(status: status, call: "\(call)") }
}

/// For calls that return a handle and report their status through an out-parameter.
@inline(__always)
func checked<T>(_ call: StaticString, _ body: (UnsafeMutablePointer<cl_int>) -> T?) throws(CLError) -> T {
    var status: cl_int = CL_SUCCESS
    let result = body(&status)
    try check(status, call)
    guard let result else { throw CLError(status: CL_INVALID_VALUE, call: "\(call)") }
    return result
}

/// How many OpenCL objects AlignCL holds right now, by kind: incremented when an owner is
/// created, decremented in its `deinit`. Kept for the whole process (shown by `--verbose`) and
/// per context (so a test can prove one backend leaks nothing while other tests run).
public final class CLLiveObjects: @unchecked Sendable {  // `counts` only under `lock`
    public enum Kind: Int, CaseIterable, Sendable { case context, queue, memory, program, kernel, event }

    /// Every object of the process.
    public static let process = CLLiveObjects()

    private let lock = NSLock()
    private var counts = [Int](repeating: 0, count: Kind.allCases.count)

    /// The process-wide live count of each kind.
    public static var snapshot: [Kind: Int] { process.snapshot }

    /// The live count of each kind.
    public var snapshot: [Kind: Int] {
        lock.withLock { Dictionary(uniqueKeysWithValues: Kind.allCases.map { ($0, counts[$0.rawValue]) }) }
    }

    private func add(_ kind: Kind, _ delta: Int) { lock.withLock { counts[kind.rawValue] += delta } }

    /// Counts an object of `kind` made in `context` (nil: the context itself).
    static func created(_ kind: Kind, in context: CLContext?) {
        process.add(kind, 1)
        context?.liveObjects.add(kind, 1)
    }

    static func released(_ kind: Kind, in context: CLContext?) {
        process.add(kind, -1)
        context?.liveObjects.add(kind, -1)
    }
}
