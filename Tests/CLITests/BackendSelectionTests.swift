import Foundation
import NumPyFiles
import Testing
import TestSupport

/// What users see when OpenCL is there, missing, or half there: `auto` says what it picked and
/// why, `opencl` fails listing what was found, and the CPU path runs without any OpenCL.
@Suite struct BackendSelectionTests {
    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-select-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func input() throws -> String {
        let url = directory.appendingPathComponent("x.npy")
        try Data(NPY.encode(shape: [2, 5], values: (0..<10).map { Float($0) })).write(to: url)
        return url.path
    }

    /// No loader at all (ALIGNCL_OPENCL_LIBRARY points nowhere), and no platform
    /// (OCL_ICD_VENDORS at an empty directory; the loader reads it once, so a child process).
    static let withoutOpenCL: [(String, [String: String?], String)] = [
        ("no loader", ["ALIGNCL_OPENCL_LIBRARY": "/nonexistent/libOpenCL.so.1"], "no OpenCL ICD loader"),
        ("no platform", ["OCL_ICD_VENDORS": FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-empty-vendors").path,
                         "OPENCL_VENDOR_PATH": nil], "no OpenCL platform"),
    ]

    @Test(arguments: withoutOpenCL.indices)
    func autoFallsBackToCPUAndSaysWhy(index: Int) throws {
        let (_, environment, reason) = Self.withoutOpenCL[index]
        try? FileManager.default.createDirectory(atPath: FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-empty-vendors").path,
                                                 withIntermediateDirectories: true)
        let output = directory.appendingPathComponent("auto-\(index)")
        let result = try AlignCLBinary.run(["op", "softmax", "--input", "x=\(try input())", "--output-dir", output.path],
                                           environment: environment.merging(["ALIGNCL_BACKEND": nil]) { $1 })
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("backend auto → cpu: \(reason)"), "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("y.npy").path))

        let devices = try AlignCLBinary.run(["devices"], environment: environment)
        #expect(devices.status == 0)
        #expect(devices.stdout.contains(reason) && devices.stdout.contains("backend auto would choose: cpu"), "\(devices.stdout)")
    }

    @Test(arguments: withoutOpenCL.indices)
    func openCLRequestedButMissingFails(index: Int) throws {
        let (_, environment, reason) = Self.withoutOpenCL[index]
        try? FileManager.default.createDirectory(atPath: FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-empty-vendors").path,
                                                 withIntermediateDirectories: true)
        let output = directory.appendingPathComponent("opencl-\(index)")
        let result = try AlignCLBinary.run(["op", "softmax", "--backend", "opencl", "--input", "x=\(try input())", "--output-dir", output.path],
                                           environment: environment)
        #expect(result.status != 0)
        #expect(result.stderrLines.count == 1 && result.stderr.contains("OpenCL is not usable: \(reason)"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    @Test func flagOverridesEnvironment() throws {
        let output = directory.appendingPathComponent("flag")
        let result = try AlignCLBinary.run(["op", "softmax", "--backend", "cpu", "--verbose", "--input", "x=\(try input())", "--output-dir", output.path],
                                           environment: ["ALIGNCL_BACKEND": "opencl", "ALIGNCL_OPENCL_LIBRARY": "/nonexistent/libOpenCL.so.1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("backend cpu"))
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func devicesListsTheOpenCLDevice() throws {
        let result = try AlignCLBinary.run(["devices"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("[0] "), "\(result.stdout)")
        #expect(result.stdout.contains("backend auto would choose: opencl, device 0"), "\(result.stdout)")
        let missing = try AlignCLBinary.run(["op", "softmax", "--backend", "opencl", "--device", "7", "--input", "x=\(try input())",
                                             "--output-dir", directory.appendingPathComponent("nodevice").path])
        #expect(missing.status != 0 && missing.stderr.contains("no OpenCL device 7: found 0: "), "\(missing.stderr)")
    }

    /// Attention heads wider than the OpenCL kernels take: `auto` runs the CPU path and says why;
    /// `opencl` fails up front in one line, writing nothing.
    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func autoRoutesWhatTheDeviceCannotRun() throws {
        let url = directory.appendingPathComponent("q300.npy")
        try Data(NPY.encode(shape: [1, 1, 3, 300], values: (0..<900).map { Float($0 % 7) / 7 })).write(to: url)
        let inputs = ["--input", "q=\(url.path)", "--input", "k=\(url.path)", "--input", "v=\(url.path)"]
        let auto = try AlignCLBinary.run(["op", "attention"] + inputs + ["--output-dir", directory.appendingPathComponent("wide-auto").path],
                                         environment: ["ALIGNCL_BACKEND": nil])
        #expect(auto.status == 0, "\(auto.stderr)")
        #expect(auto.stderr.contains("backend auto → cpu: the OpenCL attention kernels take head widths D and Dv up to 256, got D = 300"), "\(auto.stderr)")
        let output = directory.appendingPathComponent("wide-opencl")
        let openCL = try AlignCLBinary.run(["op", "attention", "--backend", "opencl"] + inputs + ["--output-dir", output.path])
        #expect(openCL.status != 0 && openCL.stderrLines.count == 1 && openCL.stderr.contains("[attention] not supported here"), "\(openCL.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    /// `--kernels` (or ALIGNCL_KERNELS) picks the OpenCL kernel variant, and says so; it is refused
    /// with the CPU path, and a bad value names what it takes.
    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func kernelsPicksTheOpenCLVariant() throws {
        let arguments = ["op", "softmax", "--backend", "opencl", "--verbose", "--input", "x=\(try input())"]
        let gpu = try AlignCLBinary.run(arguments + ["--kernels", "gpu", "--output-dir", directory.appendingPathComponent("gpu").path])
        #expect(gpu.status == 0 && gpu.stderr.contains("gpu-style kernels"), "\(gpu.stderr)")
        let fromEnvironment = try AlignCLBinary.run(arguments + ["--output-dir", directory.appendingPathComponent("env").path], environment: ["ALIGNCL_KERNELS": "gpu"])
        #expect(fromEnvironment.status == 0 && fromEnvironment.stderr.contains("gpu-style kernels"), "\(fromEnvironment.stderr)")
        let bad = try AlignCLBinary.run(arguments + ["--output-dir", directory.appendingPathComponent("bad").path], environment: ["ALIGNCL_KERNELS": "fast"])
        #expect(bad.status != 0 && bad.stderr.contains("ALIGNCL_KERNELS must be auto, cpu or gpu, got 'fast'"), "\(bad.stderr)")
        let cpu = try AlignCLBinary.run(["op", "softmax", "--backend", "cpu", "--kernels", "gpu", "--input", "x=\(try input())",
                                         "--output-dir", directory.appendingPathComponent("cpu").path])
        #expect(cpu.status != 0 && cpu.stderr.contains("--kernels selects OpenCL kernels"), "\(cpu.stderr)")
    }

    /// Cold start builds and stores the programs; a warm start (PoCL's own cache off, so only
    /// ours can help) loads them with no build.
    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func warmStartLoadsProgramsFromTheCache() throws {
        let cache = directory.appendingPathComponent("cache")
        let environment: [String: String?] = ["ALIGNCL_CACHE_DIR": cache.path, "POCL_KERNEL_CACHE": "0", "ALIGNCL_CACHE": nil]
        let arguments = ["op", "softmax", "--backend", "opencl", "--verbose", "--input", "x=\(try input())",
                         "--output-dir", directory.appendingPathComponent("cache-out").path]
        let cold = try AlignCLBinary.run(arguments, environment: environment)
        #expect(cold.status == 0, "\(cold.stderr)")
        #expect(cold.stderr.contains("program softmax: built from source"))
        #expect(cold.stderr.contains("0 hits, 1 misses, 0 corrupt, 1 stored"), "only the program the op runs is built: \(cold.stderr)")
        let warm = try AlignCLBinary.run(arguments, environment: environment)
        #expect(warm.status == 0)
        #expect(warm.stderr.contains("program softmax: loaded from cache, no build"))
        #expect(warm.stderr.contains("1 hits, 0 misses"), "\(warm.stderr)")
        let devices = try AlignCLBinary.run(["devices"], environment: environment)
        #expect(devices.stdout.contains("program cache: \(cache.path) (1 program,"), "\(devices.stdout)")

        let disabled = try AlignCLBinary.run(arguments, environment: environment.merging(["ALIGNCL_CACHE": "0"]) { $1 })
        #expect(disabled.stderr.contains("program cache disabled"), "\(disabled.stderr)")
    }
}
