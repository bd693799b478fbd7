import Foundation
import NumPyFiles
import Testing
import TestSupport

/// The kernels travel inside the binary, and the cache goes where the environment says.
@Suite struct PortabilityTests {
    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-portable-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func copiedBinaryRunsKernelsFromAnotherDirectory() throws {
        let copy = directory.appendingPathComponent("bin/aligncl")
        try FileManager.default.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: AlignCLBinary.url, to: copy)
        let input = directory.appendingPathComponent("x.npy")
        try Data(NPY.encode(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])).write(to: input)
        let process = Process()
        process.executableURL = copy
        process.currentDirectoryURL = directory
        process.arguments = ["op", "softmax", "--backend", "opencl", "--input", "x=x.npy", "--output-dir", "out"]
        process.environment = ProcessInfo.processInfo.environment.merging(["ALIGNCL_CACHE": "0"]) { $1 }
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let y = try NPY.read(directory.appendingPathComponent("out/y.npy")).floatValues()
        #expect(abs(y[0..<3].reduce(0, +) - 1) < 1e-6)
    }

    @Test func cacheDirectoryFollowsTheEnvironment() throws {
        let xdg = directory.appendingPathComponent("xdg")
        let fromXDG = try AlignCLBinary.run(["devices"], environment: ["ALIGNCL_CACHE_DIR": nil, "XDG_CACHE_HOME": xdg.path])
        #expect(fromXDG.stdout.contains("program cache: \(xdg.path)/aligncl"), "\(fromXDG.stdout)")
        let fromHome = try AlignCLBinary.run(["devices"], environment: ["ALIGNCL_CACHE_DIR": nil, "XDG_CACHE_HOME": nil, "HOME": directory.path])
        #expect(fromHome.stdout.contains("program cache: \(directory.path)/.cache/aligncl"), "\(fromHome.stdout)")
        let disabled = try AlignCLBinary.run(["devices"], environment: ["ALIGNCL_CACHE": "0"])
        #expect(disabled.stdout.contains("program cache: disabled"))
    }
}
