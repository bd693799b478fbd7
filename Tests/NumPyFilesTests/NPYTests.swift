import Foundation
import NumPyFiles
import Testing

/// `.npy` files are untrusted: every malformed file is a clear error naming the file, never a
/// trap or a huge allocation.
@Suite struct NPYTests {
    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-npy-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func file(_ bytes: [UInt8], name: String = "array.npy") throws -> URL {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// A version-1 file with a hand-written header and payload.
    func npy(header: String, payload: [UInt8], major: UInt8 = 1) -> [UInt8] {
        let text = Array(header.utf8)
        let length = major == 1 ? [UInt8(text.count & 0xff), UInt8(text.count >> 8)]
            : [UInt8(text.count & 0xff), UInt8(text.count >> 8 & 0xff), 0, 0]
        return [0x93] + Array("NUMPY".utf8) + [major, 0] + length + text + payload
    }

    @Test(arguments: [[Int](), [1], [5], [2, 3], [2, 1, 3], [0, 4]])
    func roundTripsFloat32(shape: [Int]) throws {
        let values = (0..<shape.reduce(1, *)).map { Float($0) * 0.5 - 1 }
        let bytes = NPY.encode(shape: shape, values: values)
        #expect((bytes.count - values.count * 4) % 64 == 0, "data starts on a 64-byte boundary")
        let array = try NPY.read(file(bytes))
        #expect(array.shape == shape)
        #expect(array.dtype == .float32)
        #expect(array.floatValues() == values)
    }

    @Test func readsFloat64BoolAndIntegersAndVersion2() throws {
        let doubles = [1.5, -2.25].flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init) }
        #expect(try NPY.read(file(npy(header: "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", payload: doubles))).floatValues() == [1.5, -2.25])
        #expect(try NPY.read(file(npy(header: "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }\n", payload: [1, 0, 1]))).floatValues() == [1, 0, 1])
        let ints = [Int32(7), -3].flatMap { value in withUnsafeBytes(of: value.littleEndian, Array.init) }
        #expect(try NPY.read(file(npy(header: "{'shape': (2,), 'fortran_order': False, 'descr': '<i4'}", payload: ints))).floatValues() == [7, -3])
        #expect(try NPY.read(file(npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", payload: [0, 0, 128, 63], major: 2))).floatValues() == [1])
    }

    @Test(arguments: [
        ("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", "Fortran order"),
        ("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "not supported"),
        ("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", "not supported"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "needs 12 data bytes, the file has 8"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "needs 4 data bytes, the file has 8"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }", "overflows"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", "negative"),
        ("{'descr': '<f4', 'fortran_order': False}", "header keys"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': True}", "header keys"),
        ("{'descr': __import__('os'), 'fortran_order': False, 'shape': (2,), }", "malformed header"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ", "malformed header"),
    ])
    func rejectsMalformedHeaders(header: String, expected: String) throws {
        let url = try file(npy(header: header, payload: [0, 0, 0, 0, 0, 0, 0, 0]))
        #expect { try NPY.read(url) } throws: { error in
            "\(error)".contains(expected) && "\(error)".contains(url.path)
        }
    }

    @Test func rejectsNonFilesAndForeignBytes() throws {
        #expect { try NPY.read(directory) } throws: { "\($0)".contains("is a directory") }
        #expect { try NPY.read(directory.appendingPathComponent("missing.npy")) } throws: { "\($0)".contains("no such file") }
        #expect { try NPY.read(file(Array("hello world, not numpy".utf8))) } throws: { "\($0)".contains("not a .npy file") }
        #expect { try NPY.read(file([0x93] + Array("NUMPY".utf8) + [1])) } throws: { "\($0)".contains("not a .npy file") }
        #expect { try NPY.read(file([0x93] + Array("NUMPY".utf8) + [9, 0, 4, 0])) } throws: { "\($0)".contains("version 9.0") }
    }

    @Test func boundsTheHeaderLengthBeforeReadingIt() throws {
        // A version-2 header claiming 2 GiB is refused from its length field alone.
        let bytes = [0x93] + Array("NUMPY".utf8) + [2, 0, 0, 0, 0, 0x80] + Array("{}".utf8)
        #expect { try NPY.read(file(bytes)) } throws: { "\($0)".contains("exceeds the limit") }
    }
}
