import Foundation
import NumPyFiles
import Testing
import TestSupport

/// The `op` error contract: exit status 1–127, exactly one line on stderr naming the input,
/// what was expected and what was found — and nothing written to the output directory.
@Suite struct OpErrorTests {
    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-cli-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func save(_ name: String, shape: [Int], values: [Float]? = nil) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(NPY.encode(shape: shape, values: values ?? (0..<shape.reduce(1, *)).map { Float($0 % 7) - 3 })).write(to: url)
        return url.path
    }

    func raw(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func expectCleanFailure(_ arguments: [String], mentions expected: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let output = directory.appendingPathComponent("out-\(UUID().uuidString)")
        let result = try AlignCLBinary.run(arguments + ["--output-dir", output.path, "--backend", "cpu"])
        #expect((1...127).contains(result.status), "status \(result.status)", sourceLocation: sourceLocation)
        #expect(result.stderrLines.count == 1, "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        for text in expected {
            #expect(result.stderr.contains(text), "stderr '\(result.stderr)' lacks '\(text)'", sourceLocation: sourceLocation)
        }
        let written = (try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? []
        #expect(written.isEmpty, "files written on error: \(written)", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, sourceLocation: sourceLocation)
    }

    @Test func unknownDuplicateAndMissingInputs() throws {
        let a = try save("a.npy", shape: [2, 3]), b = try save("b.npy", shape: [3, 4])
        try expectCleanFailure(["op", "gemm", "--input", "a=\(a)", "--input", "x=\(b)"], mentions: ["unknown input 'x'", "expected a, b"])
        try expectCleanFailure(["op", "gemm", "--input", "a=\(a)", "--input", "a=\(a)", "--input", "b=\(b)"], mentions: ["'a' is given twice"])
        try expectCleanFailure(["op", "gemm", "--input", "a=\(a)"], mentions: ["missing input 'b'"])
        try expectCleanFailure(["op", "gemm", "--input", "a", "--input", "b=\(b)"], mentions: ["KEY=FILE.npy", "'a'"])
        try expectCleanFailure(["op", "nosuchop", "--input", "a=\(a)"], mentions: ["nosuchop"])
    }

    @Test func shapeMismatchesNameBothShapes() throws {
        let a = try save("a.npy", shape: [2, 3]), b = try save("b.npy", shape: [4, 5]), g = try save("g.npy", shape: [2, 4])
        try expectCleanFailure(["op", "gemm", "--input", "a=\(a)", "--input", "b=\(b)"], mentions: ["[gemm]", "[2, 3]", "[4, 5]"])
        let b3 = try save("b3.npy", shape: [3, 5])
        try expectCleanFailure(["op", "gemm", "--input", "a=\(a)", "--input", "b=\(b3)", "--grad-output", g],
                               mentions: ["grad_output", "[2, 5]", "[2, 4]"])
        let x = try save("x.npy", shape: [2, 3]), mask = try save("mask.npy", shape: [3, 2])
        try expectCleanFailure(["op", "softmax", "--input", "x=\(x)", "--input", "mask=\(mask)"], mentions: ["mask", "[2, 3]", "[3, 2]"])
        let batched = try save("a3.npy", shape: [2, 2, 3]), other = try save("b3d.npy", shape: [3, 3, 4])
        try expectCleanFailure(["op", "gemm", "--input", "a=\(batched)", "--input", "b=\(other)"], mentions: ["batch"])
    }

    @Test func badFilesAreErrorsNotTraps() throws {
        let b = try save("b.npy", shape: [3, 4])
        let ints = [0x93] + Array("NUMPY".utf8) + [1, 0] + headerBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (3, 3), }") + [UInt8](repeating: 0, count: 36)
        let cases: [(String, [String])] = [
            (directory.path, ["is a directory"]),
            (directory.appendingPathComponent("missing.npy").path, ["no such file"]),
            (try raw("text.npy", Array("not numpy at all".utf8)), ["not a .npy file"]),
            (try raw("short.npy", Array(NPY.encode(shape: [3, 3], values: .init(repeating: 1, count: 9)).dropLast(5))), ["needs 36 data bytes"]),
            (try raw("ints.npy", ints), ["float32 or float64", "int32"]),
        ]
        for (path, expected) in cases {
            try expectCleanFailure(["op", "gemm", "--input", "a=\(path)", "--input", "b=\(b)"], mentions: ["input 'a'"] + expected)
        }
    }

    @Test func nonFiniteInputsNameTheFirstIndex() throws {
        var values = [Float](repeating: 1, count: 12)
        values[7] = .nan
        values[9] = .infinity
        let x = try save("nan.npy", shape: [3, 4], values: values)
        try expectCleanFailure(["op", "softmax", "--input", "x=\(x)"], mentions: ["input 'x'", "NaN", "[1, 3]"])
        values[7] = 0
        let y = try save("inf.npy", shape: [3, 4], values: values)
        try expectCleanFailure(["op", "softmax", "--input", "x=\(y)"], mentions: ["input 'x'", "inf", "[2, 1]"])
        let ok = try save("ok.npy", shape: [3, 4])
        try expectCleanFailure(["op", "softmax", "--input", "x=\(ok)", "--grad-output", y], mentions: ["grad_output", "[2, 1]"])
    }

    @Test func attentionShapesAndFlags() throws {
        let q = try save("q.npy", shape: [1, 2, 3, 4]), k = try save("k.npy", shape: [1, 2, 5, 4]), v = try save("v.npy", shape: [1, 2, 5, 6])
        let badMask = try save("km.npy", shape: [1, 4])
        try expectCleanFailure(["op", "attention", "--input", "q=\(q)", "--input", "k=\(k)", "--input", "v=\(v)", "--input", "key_mask=\(badMask)"],
                               mentions: ["key_mask must be [B, Lk] = [1, 5], got [1, 4]"])
        try expectCleanFailure(["op", "attention", "--input", "q=\(q)", "--input", "k=\(k)", "--input", "v=\(q)"],
                               mentions: ["v must be [B, H, Lk, Dv] = [1, 2, 5, Dv], got [1, 2, 3, 4]"])
        try expectCleanFailure(["op", "attention", "--input", "q=\(q)", "--input", "k=\(k)", "--input", "v=\(v)", "--log"],
                               mentions: ["--log applies to softmax only"])
        let badGrad = try save("g.npy", shape: [1, 2, 3, 4])
        try expectCleanFailure(["op", "attention", "--input", "q=\(q)", "--input", "k=\(k)", "--input", "v=\(v)", "--grad-output", badGrad],
                               mentions: ["grad_output", "[1, 2, 3, 6]", "[1, 2, 3, 4]"])
    }

    @Test func infoNCERejectsGradOutputAndBadTemperatures() throws {
        let a = try save("a.npy", shape: [4, 3]), b = try save("b.npy", shape: [4, 3]), c = try save("c.npy", shape: [5, 3])
        try expectCleanFailure(["op", "infonce", "--input", "a=\(a)", "--input", "b=\(b)", "--grad-output", a],
                               mentions: ["--grad-output applies to gemm and softmax and attention and layernorm only"])
        try expectCleanFailure(["op", "infonce", "--input", "a=\(a)", "--input", "b=\(b)", "--temperature", "0"], mentions: ["--temperature must be positive"])
        try expectCleanFailure(["op", "infonce", "--input", "a=\(a)", "--input", "b=\(c)"], mentions: ["diagonal targets need N = M", "[4, 3]", "[5, 3]"])
    }

    @Test func layerNormShapes() throws {
        let x = try save("x.npy", shape: [4, 6]), w = try save("w.npy", shape: [6]), b = try save("b.npy", shape: [5])
        try expectCleanFailure(["op", "layernorm", "--input", "x=\(x)", "--input", "weight=\(w)", "--input", "bias=\(b)"],
                               mentions: ["bias must be [C] = [6], got [5]"])
        try expectCleanFailure(["op", "layernorm", "--input", "x=\(x)", "--input", "weight=\(w)", "--input", "bias=\(w)", "--epsilon=-1"],
                               mentions: ["epsilon must be positive"])
    }

    @Test func flagsOfAnotherOpAreRejected() throws {
        let x = try save("x.npy", shape: [2, 3])
        try expectCleanFailure(["op", "softmax", "--input", "x=\(x)", "--transpose-a"], mentions: ["--transpose-a applies to gemm"])
        let a = try save("a.npy", shape: [2, 3]), b = try save("b.npy", shape: [3, 4])
        try expectCleanFailure(["op", "gemm", "--input", "a=\(a)", "--input", "b=\(b)", "--log"], mentions: ["--log applies to softmax"])
    }

    @Test func badEnvironmentIsAnError() throws {
        let x = try save("x.npy", shape: [2, 3])
        let output = directory.appendingPathComponent("env-out")
        let result = try AlignCLBinary.run(["op", "softmax", "--input", "x=\(x)", "--output-dir", output.path],
                                           environment: ["ALIGNCL_BACKEND": "gpu"])
        #expect(result.status != 0 && result.stderr.contains("ALIGNCL_BACKEND must be auto, opencl or cpu, got 'gpu'"))
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    private func headerBytes(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        return [UInt8(bytes.count & 0xff), UInt8(bytes.count >> 8)] + bytes
    }
}
