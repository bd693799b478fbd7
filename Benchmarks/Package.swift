// swift-tools-version: 6.1
// Package benchmarks (ordo-one/package-benchmark) over the same cases as `aligncl bench`.
// A separate package, so the main build and CI do not compile the benchmark harness.
// Run: cd Benchmarks && swift package benchmark
import Foundation
import PackageDescription

// SwiftPM names a path dependency after its directory, which is wherever the clone lives.
let alignCL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "AlignCLBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Benchmarking", package: alignCL),
                .product(name: "Compute", package: alignCL),
            ],
            path: "Benchmarks/KernelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
