/// What every op's descriptor provides: the op's name, the work one forward run does, and its
/// own validation. Descriptors are made only by validating initialisers — each public one
/// throws `BackendError.invalidArgument` naming what cannot work — so a backend may trust the
/// sizes it is given; `flops` and `bytes` give the benchmarks their throughput, and a backend's
/// `supports(_:)` reads the sizes to say whether it can run the op.
public protocol OpDescriptor: Sendable, Equatable {
    /// The op in errors, reports and `Backend.supports`: "gemm", "softmax", …
    static var op: String { get }
    /// Floating-point operations of one forward run (a multiply-add counts twice; nominal for
    /// ops bounded by memory).
    var flops: Double { get }
    /// Bytes one forward run must move at least: each input read once, each output written once.
    var bytes: Double { get }
    /// Throws naming the first value that cannot work: sizes below their minimum, element
    /// counts past Int32 (the kernels' index type), non-finite scalars.
    func validate() throws(BackendError)
}

extension OpDescriptor {
    func fail(_ message: String) -> BackendError { .invalidArgument(op: Self.op, message: message) }

    /// Throws unless every `(name, value)` is at least `minimum`.
    func require(_ sizes: KeyValuePairs<String, Int>, atLeast minimum: Int = 1) throws(BackendError) {
        for (name, value) in sizes where value < minimum { throw fail("\(name) must be at least \(minimum), got \(value)") }
    }

    /// Throws when an array of `(name, count)` holds more elements than the kernels can index.
    func requireIndexable(_ counts: KeyValuePairs<String, Int>) throws(BackendError) {
        for (name, count) in counts where count > Int(Int32.max) {
            throw fail("\(name) has \(count) elements, more than the supported \(Int32.max)")
        }
    }
}
