// GEMM, softmax, attention, InfoNCE and layer norm on each available backend, with the cases `aligncl bench`
// runs. Each case is checked against its float64 host reference once before it is timed;
// throughput comes from the op descriptors' flops and bytes.
import Benchmark
import Benchmarking
import CLRuntime
import Compute

let benchmarks: @Sendable () -> Void = {
    // The standard preset of `aligncl bench` (the same case definitions).
    let cases: [BenchmarkCase]
    do {
        cases = try [.gemm(m: 1024, n: 1024, k: 1024), .gemm(m: 2048, n: 2048, k: 2048),
                     .softmax(rows: 4096, columns: 4096, backward: false), .softmax(rows: 4096, columns: 4096, backward: true),
                     .attention(batch: 4, heads: 8, length: 1024, dimension: 64, backward: false),
                     .attention(batch: 4, heads: 8, length: 1024, dimension: 64, backward: true),
                     .infoNCE(rows: 4096, dimension: 256, backward: false), .infoNCE(rows: 4096, dimension: 256, backward: true),
                     .layerNorm(rows: 16384, columns: 1024, backward: false), .layerNorm(rows: 16384, columns: 1024, backward: true)]
    } catch {
        print("no benchmarks: \(error)")
        return
    }
    var backends: [any Backend] = [CPUBackend()]
    if let openCL = try? BackendSelection.resolve(BackendRequest(choice: .opencl)).backend { backends.append(openCL) }
    // Device time of the kernels alone, from OpenCL profiling events (OpenCL cases only).
    let kernelTime = BenchmarkMetric.custom("kernel time (us)", polarity: .prefersSmaller)
    for benchmarkCase in cases {
        guard let expected = benchmarkCase.expected?() else { continue }
        for backend in backends {
            let name = "\(benchmarkCase.name) \(backend.summary.kind.rawValue)"
            guard let got = try? benchmarkCase.run(on: backend), expected.error(of: got) <= 1e-4,
                  let run = try? benchmarkCase.prepare(backend) else {
                print("skipping \(name): it does not match its float64 reference")
                continue
            }
            let openCL = backend as? OpenCLBackend
            let metrics: [BenchmarkMetric] = [.wallClock, .throughput] + (openCL == nil ? [] : [kernelTime])
            Benchmark(name, configuration: .init(metrics: metrics, warmupIterations: 2, maxDuration: .seconds(5))) { benchmark in
                for _ in benchmark.scaledIterations {
                    if let openCL {
                        benchmark.measurement(kernelTime, Int(try openCL.kernelSeconds { try run() } * 1e6))
                    } else {
                        try run()
                    }
                }
            }
        }
    }
}
