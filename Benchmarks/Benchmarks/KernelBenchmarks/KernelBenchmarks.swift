// GEMM, softmax, attention and InfoNCE on each available backend, with the cases `aligncl bench` runs. Each case is
// checked against the CPU path once before it is timed; throughput comes from the op
// descriptors' flops and bytes.
import Benchmark
import Benchmarking
import CLRuntime
import Compute

let benchmarks: @Sendable () -> Void = {
    let cases = [BenchmarkCase.gemm(m: 1024, n: 1024, k: 1024), .softmax(rows: 4096, columns: 4096, backward: false),
                 .softmax(rows: 4096, columns: 4096, backward: true),
                 .attention(batch: 8, heads: 8, length: 256, dimension: 64, backward: true),
                 .infoNCE(rows: 1024, dimension: 512, backward: true)]
    var backends: [any Backend] = [CPUBackend()]
    if let openCL = try? BackendSelection.resolve(BackendRequest(choice: .opencl)).backend { backends.append(openCL) }
    let reference = CPUBackend()
    for benchmarkCase in cases {
        guard let expected = try? benchmarkCase.run(on: reference) else { continue }
        for backend in backends {
            let name = "\(benchmarkCase.name) \(backend.summary.kind.rawValue)"
            guard let got = try? benchmarkCase.run(on: backend), normwiseError(got, expected) <= 1e-4,
                  let run = try? benchmarkCase.prepare(backend) else {
                print("skipping \(name): it does not match the CPU path")
                continue
            }
            Benchmark(name, configuration: .init(metrics: [.wallClock, .throughput], warmupIterations: 2, maxDuration: .seconds(5))) { benchmark in
                for _ in benchmark.scaledIterations { try run() }
            }
        }
    }
}
