#if MPI
import CMPI
import Foundation

/// The ranks of `MPI_COMM_WORLD`. Every collective is non-blocking and polled against a
/// deadline, so a rank that died or hangs turns into a `timeout` error instead of a wait
/// forever. MPI is called from one thread only (`MPI_THREAD_FUNNELED`).
public final class MPIProcessGroup: ProcessGroup {
    public let rank: Int
    public let size: Int
    public let localRank: Int
    public private(set) var exchangeSeconds: Double = 0
    let timeout: Double

    private init(rank: Int, size: Int, localRank: Int, timeout: Double) {
        (self.rank, self.size, self.localRank, self.timeout) = (rank, size, localRank, timeout)
    }

    static func start(timeout: Double) throws -> MPIProcessGroup {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            try check(MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided), "MPI_Init_thread")
            // Finalize at exit, after the command's last exchange (all ranks get there unless
            // one aborted, and then MPI_Abort has ended the job).
            atexit { var finalized: Int32 = 0; MPI_Finalized(&finalized); if finalized == 0 { MPI_Finalize() } }
        }
        // Return codes instead of MPI's default of aborting, so failures become typed errors.
        try check(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0, size: Int32 = 0
        try check(MPI_Comm_rank(cmpi_comm_world(), &rank), "MPI_Comm_rank")
        try check(MPI_Comm_size(cmpi_comm_world(), &size), "MPI_Comm_size")
        let environment = ProcessInfo.processInfo.environment
        let localRank = (environment["OMPI_COMM_WORLD_LOCAL_RANK"] ?? environment["MPI_LOCALRANKID"]).flatMap(Int.init) ?? Int(rank)
        return MPIProcessGroup(rank: Int(rank), size: Int(size), localRank: localRank, timeout: timeout)
    }

    static func check(_ code: Int32, _ operation: String) throws {
        guard code != cmpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        throw DataParallelError.mpi(operation: operation, message: String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// Starts a non-blocking collective and polls it to completion or the deadline.
    private func exchange(_ label: String, _ operation: String, _ start: (inout MPI_Request?) -> Int32) throws {
        let began = DispatchTime.now().uptimeNanoseconds
        defer { exchangeSeconds += Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9 }
        var request: MPI_Request?
        try Self.check(start(&request), operation)
        let deadline = began + UInt64(min(timeout, 1e9) * 1e9)  // at most ~31 years: no overflow
        var done: Int32 = 0, polls = 0
        while true {
            try Self.check(MPI_Test(&request, &done, cmpi_status_ignore()), "MPI_Test (\(operation))")
            if done != 0 { return }
            polls += 1
            // Spin briefly (exchanges between ranks in step are quick), then give the core
            // away: ranks often share cores with each other's compute threads.
            if polls > 2000 { usleep(polls > 20000 ? 1000 : 50) }
            if DispatchTime.now().uptimeNanoseconds > deadline {
                throw DataParallelError.timeout(label: label, seconds: timeout)
            }
        }
    }

    public func broadcast(_ values: inout [Float], from root: Int, label: String) throws {
        let count = Int32(values.count)
        try values.withUnsafeMutableBytes { buffer in
            try exchange(label, "MPI_Ibcast") { MPI_Ibcast(buffer.baseAddress, count, cmpi_float(), Int32(root), cmpi_comm_world(), &$0) }
        }
    }

    public func allReduceSum(_ values: inout [Float], label: String) throws {
        let count = Int32(values.count)
        try values.withUnsafeMutableBytes { buffer in
            try exchange(label, "MPI_Iallreduce") {
                MPI_Iallreduce(cmpi_in_place(), buffer.baseAddress, count, cmpi_float(), cmpi_sum(), cmpi_comm_world(), &$0)
            }
        }
    }

    public func allGather(_ values: [Float], label: String) throws -> [Float] {
        try allGather(values, cmpi_float(), zero: 0, label: label)
    }

    public func reduceScatterSum(_ values: [Float], label: String) throws -> [Float] {
        precondition(values.count % size == 0, "reduce-scatter of \(values.count) values over \(size) ranks")
        var block = [Float](repeating: 0, count: values.count / size)
        let count = Int32(block.count)
        try values.withUnsafeBytes { source in
            try block.withUnsafeMutableBytes { target in
                try exchange(label, "MPI_Ireduce_scatter_block") {
                    MPI_Ireduce_scatter_block(source.baseAddress, target.baseAddress, count, cmpi_float(), cmpi_sum(), cmpi_comm_world(), &$0)
                }
            }
        }
        return block
    }

    public func allGather(bytes: [UInt8], label: String) throws -> [UInt8] {
        try allGather(bytes, cmpi_byte(), zero: 0, label: label)
    }

    private func allGather<Element>(_ values: [Element], _ datatype: MPI_Datatype?, zero: Element, label: String) throws -> [Element] {
        var gathered = [Element](repeating: zero, count: values.count * size)
        let count = Int32(values.count)
        try values.withUnsafeBytes { source in
            try gathered.withUnsafeMutableBytes { target in
                try exchange(label, "MPI_Iallgather") {
                    MPI_Iallgather(source.baseAddress, count, datatype, target.baseAddress, count, datatype, cmpi_comm_world(), &$0)
                }
            }
        }
        return gathered
    }

    public func abort(status: Int32) {
        MPI_Abort(cmpi_comm_world(), status)
    }
}
#endif
