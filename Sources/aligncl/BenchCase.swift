import Compute
import Foundation

/// One benchmark case: how to make its inputs on a backend, run it, and count its work.
struct BenchCase {
    let name: String
    /// "GFLOP/s" or "GB/s".
    let unit: String
    /// FLOPs or bytes per run.
    let work: Double
    /// Makes the inputs on `backend` and returns a closure that runs the op once and waits.
    let prepare: (any Backend) throws -> () throws -> Void
    /// Runs the op once on fresh inputs and returns the output, for the check.
    let output: (any Backend) throws -> [Float]

    func run(on backend: any Backend) throws -> [Float] { try output(backend) }

    static func gemm(m: Int, n: Int, k: Int) -> BenchCase {
        let descriptor = GEMMDescriptor(m: m, n: n, k: k)
        let a = seededValues(count: m * k, seed: 1), b = seededValues(count: k * n, seed: 2)
        func setUp(_ backend: any Backend) throws -> (() throws -> Void, Buffer) {
            let (left, right, c) = (try backend.makeBuffer(a), try backend.makeBuffer(b), try backend.makeBuffer(count: m * n))
            return ({ try backend.gemm(descriptor, a: left, b: right, c: c); try backend.synchronize() }, c)
        }
        return BenchCase(name: "gemm \(m)x\(n)x\(k)", unit: "GFLOP/s", work: descriptor.flops,
                         prepare: { try setUp($0).0 },
                         output: { backend in let (run, c) = try setUp(backend); try run(); return try backend.read(c) })
    }

    static func softmax(rows: Int, columns: Int, backward: Bool) -> BenchCase {
        let descriptor = SoftmaxDescriptor(rows: rows, columns: columns)
        // Logits spread over ±10 so the exponentials span a realistic range.
        let x = seededValues(count: rows * columns, seed: 3).map { $0 * 10 }
        let upstream = seededValues(count: rows * columns, seed: 4)
        func setUp(_ backend: any Backend) throws -> (() throws -> Void, Buffer) {
            let input = try backend.makeBuffer(x), y = try backend.makeBuffer(count: rows * columns)
            try backend.softmaxForward(descriptor, x: input, mask: nil, y: y)
            guard backward else {
                return ({ try backend.softmaxForward(descriptor, x: input, mask: nil, y: y); try backend.synchronize() }, y)
            }
            let dy = try backend.makeBuffer(upstream), dx = try backend.makeBuffer(count: rows * columns)
            return ({ try backend.softmaxBackward(descriptor, y: y, gradY: dy, mask: nil, gradX: dx); try backend.synchronize() }, dx)
        }
        return BenchCase(name: "softmax\(backward ? " backward" : "") \(rows)x\(columns)", unit: "GB/s",
                         work: backward ? descriptor.backwardBytes : descriptor.bytes,
                         prepare: { try setUp($0).0 },
                         output: { backend in let (run, out) = try setUp(backend); try run(); return try backend.read(out) })
    }
}

/// Uniform values in [-1, 1) from a fixed-seed generator (SplitMix64), the same on every run.
func seededValues(count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15
    return (0..<count).map { _ in
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
}

/// One row of the report.
struct BenchResult: Codable {
    let name: String
    let backend: String
    let unit: String
    var checkError: Double?
    var failure: String?
    var medianSeconds: Double?
    var minSeconds: Double?
    var maxSeconds: Double?
    var throughput: Double?
    /// OpenCL's speed relative to the CPU path on the same case (CPU time / OpenCL time).
    var speedupOverCPU: Double?

    init(name: String, backend: String, unit: String) {
        self.name = name
        self.backend = backend
        self.unit = unit
    }

    static func withRatios(_ results: [BenchResult]) -> [BenchResult] {
        results.map { result in
            var result = result
            if result.backend == "opencl", let time = result.medianSeconds,
               let cpu = results.first(where: { $0.name == result.name && $0.backend == "cpu" })?.medianSeconds {
                result.speedupOverCPU = cpu / time
            }
            return result
        }
    }

    static func table(_ results: [BenchResult]) -> String {
        let header = ["case", "backend", "median ms", "min ms", "max ms", "throughput", "opencl/cpu"]
        let rows = withRatios(results).map { r -> [String] in
            guard r.failure == nil, let median = r.medianSeconds else {
                return [r.name, r.backend, "FAILED", "", "", r.failure ?? "", ""]
            }
            return [r.name, r.backend, String(format: "%.3f", median * 1e3), String(format: "%.3f", (r.minSeconds ?? 0) * 1e3),
                    String(format: "%.3f", (r.maxSeconds ?? 0) * 1e3), String(format: "%.1f %@", r.throughput ?? 0, r.unit),
                    r.speedupOverCPU.map { String(format: "%.2fx", $0) } ?? ""]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func json(_ results: [BenchResult]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(withRatios(results)), as: UTF8.self)
    }
}
