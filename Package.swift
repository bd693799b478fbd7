// swift-tools-version: 6.1
import PackageDescription

// The layers, what each promises, and the files to touch to add an op or a recipe:
// docs/architecture.md. Dependencies point down only:
//   aligncl (CLI) → Training → Multimodal → NeuralNetworks → Autograd → Compute → CLRuntime → COpenCL
//   (headers; the loader is opened at run time). Compute also uses COpenBLAS for the CPU path.
// The CPU path's loops (softmax, layer norm, GELU, the rows of attention and InfoNCE) are 16-lane
// SIMD code. For baseline x86-64 LLVM lowers them to SSE2 without FMA, which ran the softmax
// forward at half the speed of the same code with AVX2 (docs/performance.md, 2026-12-07). So on
// x86-64, Compute is built for AVX2 + FMA (Haswell, 2013, and later; every Zen), and `aligncl`
// checks the CPU before running anything. ALIGNCL_PORTABLE_BUILD=1 builds for any x86-64.
#if arch(x86_64)
let buildsForAVX2 = Context.environment["ALIGNCL_PORTABLE_BUILD"] == nil
#else
let buildsForAVX2 = false
#endif
let avx2Define: [SwiftSetting] = buildsForAVX2 ? [.define("ALIGNCL_AVX2")] : []
let avx2Code: [SwiftSetting] = buildsForAVX2 ? [.unsafeFlags(["-target-cpu", "haswell"])] + avx2Define : []

let package = Package(
    name: "AlignCL",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "aligncl", targets: ["aligncl"]),
        .library(name: "Compute", targets: ["Compute"]),
        .library(name: "NumPyFiles", targets: ["NumPyFiles"]),
        .library(name: "Autograd", targets: ["Autograd"]),
        .library(name: "NeuralNetworks", targets: ["NeuralNetworks"]),
        .library(name: "Benchmarking", targets: ["Benchmarking"]),
    ],
    traits: [
        // Opt-in (`swift build --traits MPI`): data-parallel training under `mpirun` through
        // Open MPI. The default build needs no MPI headers or library.
        .trait(name: "MPI", description: "Data-parallel training across processes with MPI (needs libopenmpi-dev)"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(
            name: "COpenCL",
            cSettings: [.define("CL_TARGET_OPENCL_VERSION", to: "120")],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .systemLibrary(name: "COpenBLAS"),
        .target(name: "CLRuntime", dependencies: ["COpenCL"]),
        .executableTarget(name: "KernelEmbedder"),
        .plugin(name: "EmbedKernels", capability: .buildTool(), dependencies: ["KernelEmbedder"]),
        .target(
            name: "Compute",
            dependencies: ["CLRuntime", "COpenBLAS"],
            swiftSettings: avx2Code,
            plugins: ["EmbedKernels"]
        ),
        .target(name: "NumPyFiles"),
        .target(name: "Autograd", dependencies: ["Compute", "NumPyFiles"]),
        .target(name: "NeuralNetworks", dependencies: ["Autograd", "CLRuntime", "Compute"]),
        .target(name: "Benchmarking", dependencies: ["CLRuntime", "Compute", "COpenBLAS"]),
        .target(name: "CSTBImage"),
        .target(name: "Datasets", dependencies: ["CSTBImage"]),
        .target(name: "Reporting"),
        // The architectures (text transformer, ViT, fusion) and the recipes that train them.
        .target(name: "Multimodal", dependencies: ["Autograd", "Checkpoints", "CLRuntime", "Compute", "DataParallel", "Datasets", "NeuralNetworks", "Pretrained"]),
        .target(name: "Checkpoints"),
        // Hugging Face model folders (BERT-family, CLIP): configs, weights, pooling.
        .target(name: "Pretrained", dependencies: ["Autograd", "Checkpoints", "Compute", "Datasets", "NeuralNetworks", "Tokenizers"]),
        // Hugging Face tokenizers (WordPiece, CLIP's byte-level BPE), id for id with `tokenizers`.
        .target(name: "Tokenizers"),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]),
        .target(name: "DataParallel", dependencies: [.target(name: "CMPI", condition: .when(traits: ["MPI"]))]),
        .target(name: "Training", dependencies: ["Autograd", "Benchmarking", "Checkpoints", "CLRuntime", "Compute", "DataParallel", "Datasets", "Multimodal", "NeuralNetworks", "Pretrained", "Reporting"]),
        .executableTarget(
            name: "aligncl",
            dependencies: [
                "Benchmarking", "Checkpoints", "Compute", "DataParallel", "Datasets", "Multimodal", "NumPyFiles", "Pretrained", "Reporting", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: avx2Define
        ),
        .target(name: "TestSupport", dependencies: ["Autograd", "Benchmarking", "Compute"], path: "Tests/TestSupport"),
        .testTarget(name: "CLRuntimeTests", dependencies: ["CLRuntime", "Compute", "TestSupport"]),
        .testTarget(name: "ComputeTests", dependencies: ["Benchmarking", "CLRuntime", "Compute", "TestSupport"]),
        .testTarget(name: "NumPyFilesTests", dependencies: ["NumPyFiles"]),
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "Compute", "NumPyFiles", "TestSupport"]),
        .testTarget(name: "NeuralNetworksTests", dependencies: ["NeuralNetworks", "Autograd", "CLRuntime", "Compute", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Checkpoints", "Multimodal", "Datasets", "Reporting", "Autograd", "Compute", "NeuralNetworks", "NumPyFiles", "Pretrained", "TestSupport"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers"]),
        .testTarget(name: "PretrainedTests", dependencies: ["Pretrained", "Datasets", "Autograd", "Checkpoints", "Compute", "NeuralNetworks", "NumPyFiles", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["aligncl", "Benchmarking", "Checkpoints", "NumPyFiles", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
