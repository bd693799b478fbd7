import Foundation

/// The processes of one data-parallel run and the exchanges between them. Every collective is
/// entered by all ranks in the same order with the same sizes; `label` names the exchange in
/// errors ("gradients of step 12").
public protocol ProcessGroup: AnyObject {
    /// This process's position, 0 ..< size; rank 0 logs, evaluates and writes checkpoints.
    var rank: Int { get }
    var size: Int { get }
    /// This process's position among the ranks on its machine (picks its OpenCL device).
    var localRank: Int { get }
    /// Seconds spent inside exchanges so far, waiting for slower ranks included.
    var exchangeSeconds: Double { get }

    /// `values` becomes root's `values` on every rank (same count everywhere).
    func broadcast(_ values: inout [Float], from root: Int, label: String) throws
    /// `values` becomes the element-wise sum over ranks.
    func allReduceSum(_ values: inout [Float], label: String) throws
    /// Every rank's `values` (same count everywhere), concatenated in rank order.
    func allGather(_ values: [Float], label: String) throws -> [Float]
    /// The element-wise sum over ranks of `values` (size × n), of which this rank gets block `rank`.
    func reduceScatterSum(_ values: [Float], label: String) throws -> [Float]
    /// Every rank's bytes (same count everywhere), concatenated in rank order.
    func allGather(bytes: [UInt8], label: String) throws -> [UInt8]
    /// Takes every rank down after an unrecoverable error on this one (a collective the others
    /// are waiting in can no longer complete).
    func abort(status: Int32)
}

extension ProcessGroup {
    public var isRoot: Bool { rank == 0 }

    /// Every rank's text (lengths may differ), in rank order.
    public func allGather(text: String, label: String) throws -> [String] {
        let bytes = Array(text.utf8)
        let lengths = try allGather([Float(bytes.count)], label: label).map { Int($0) }
        let width = lengths.max() ?? 0
        let padded = try allGather(bytes: bytes + [UInt8](repeating: 0, count: width - bytes.count), label: label)
        return lengths.enumerated().map { rank, length in
            String(decoding: padded[(rank * width)..<(rank * width + length)], as: UTF8.self)
        }
    }
}

/// One process: every exchange is the identity.
public final class SingleProcess: ProcessGroup {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localRank: Int { 0 }
    public var exchangeSeconds: Double { 0 }
    public func broadcast(_ values: inout [Float], from root: Int, label: String) throws {}
    public func allReduceSum(_ values: inout [Float], label: String) throws {}
    public func allGather(_ values: [Float], label: String) throws -> [Float] { values }
    public func reduceScatterSum(_ values: [Float], label: String) throws -> [Float] { values }
    public func allGather(bytes: [UInt8], label: String) throws -> [UInt8] { bytes }
    public func abort(status: Int32) {}
}

public enum DataParallelError: Error, CustomStringConvertible, Equatable {
    /// Launched by mpirun with several ranks, but this build has no MPI.
    case builtWithoutMPI(ranks: Int)
    case mpi(operation: String, message: String)
    /// The other ranks did not reach an exchange in time.
    case timeout(label: String, seconds: Double)
    /// Ranks started with different options or data.
    case ranksDisagree(String)
    /// The run cannot be split over this many ranks.
    case invalidSplit(String)

    public var description: String {
        switch self {
        case .builtWithoutMPI(let ranks):
            return "launched as one of \(ranks) MPI ranks, but this aligncl was built without MPI: build it with `swift build -c release --traits MPI` (needs Open MPI, e.g. apt-get install libopenmpi-dev openmpi-bin); each rank would otherwise train alone"
        case .mpi(let operation, let message):
            return "MPI \(operation) failed: \(message)"
        case .timeout(let label, let seconds):
            return "the other ranks did not reach the exchange (\(label)) within \(Int(seconds)) s; a rank has died or hangs (raise --rank-timeout if evaluation or checkpoints take longer)"
        case .ranksDisagree(let message):
            return "the ranks disagree: \(message)"
        case .invalidSplit(let message):
            return message
        }
    }
}

/// How this process was started: alone, or as one rank of an MPI launch.
public enum Launch {
    /// The number of ranks an MPI launcher announced in the environment (Open MPI's mpirun,
    /// MPICH's Hydra, or Slurm's srun with PMI or PMIx), nil when there was none.
    public static func announcedRanks(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            if let value = environment[key], let ranks = Int(value) { return ranks }
        }
        if environment["PMIX_RANK"] != nil || environment["PMI_RANK"] != nil,
           let value = environment["SLURM_STEP_NUM_TASKS"] ?? environment["SLURM_NTASKS"], let ranks = Int(value) {
            return ranks
        }
        return nil
    }

    /// The process group of this process: `SingleProcess` unless an MPI launcher started more
    /// than one rank. Never falls back silently: several ranks without MPI support is an error.
    public static func processGroup(timeout: Double, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any ProcessGroup {
        guard let ranks = announcedRanks(environment), ranks > 1 else { return SingleProcess() }
        #if MPI
        return try MPIProcessGroup.start(timeout: timeout)
        #else
        throw DataParallelError.builtWithoutMPI(ranks: ranks)
        #endif
    }

}
