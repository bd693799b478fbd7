import Checkpoints
import Foundation
import Testing

/// safetensors as the format defines it: round trips, the layout rules enforced on untrusted
/// files (each with its own error), and random corruption that never crashes.
@Suite struct SafeTensorsTests {
    static let file: SafeTensorsFile = {
        let weight = (try? SafeTensor(float32: [1, -2, 3.5, 0, 1e-30, -0.0], shape: [2, 3]))!
        let ids = (try? SafeTensor(int32: [0, -1, .max, .min], shape: [4]))!
        let scalar = (try? SafeTensor(float32: [3.25], shape: []))!
        return SafeTensorsFile(tensors: ["weight": weight, "ids": ids, "scale": scalar], metadata: ["config": #"{"width": 4}"#])
    }()

    /// A file with this JSON header over `data` bytes.
    func file(header: String, data: [UInt8]) -> Data {
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
        bytes += Array(header.utf8) + data
        return Data(bytes)
    }

    @Test func roundTripsThroughBytesAndFiles() throws {
        let encoded = try Self.file.encoded()
        #expect(try SafeTensorsFile(data: encoded) == Self.file)
        let headerLength = Int(encoded.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        #expect(headerLength % 8 == 0, "the header is padded to 8 bytes")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-\(UUID().uuidString).safetensors")
        try Self.file.write(to: url)
        #expect(try SafeTensorsFile(contentsOf: url) == Self.file)
        #expect(try SafeTensorsFile(contentsOf: url).tensors["ids"]?.int32Values() == [0, -1, .max, .min])
    }

    @Test(arguments: [
        (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4, "byteCountMismatch|offsetsPastEnd"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, 8, "invalidOffsets"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, 12, "invalidOffsets"),
        (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8, "uncoveredBytes"),
        (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}"#, 4, "byteCountMismatch"),
        (#"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, 4, "unknownDType"),
        (#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4, "invalidTensorEntry"),
        (#"{"__metadata__":{"n":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 4, "invalidMetadata"),
        (#"[1, 2]"#, 0, "headerNotObject"),
        (#"{"a":"#, 0, "invalidJSON"),
    ])
    func layoutRulesAreEnforced(header: String, dataBytes: Int, expected: String) throws {
        do {
            _ = try SafeTensorsFile(data: file(header: header, data: [UInt8](repeating: 0, count: dataBytes)))
            Issue.record("accepted \(header)")
        } catch let error as SafeTensorsError {
            // The case name, e.g. "invalidOffsets", from the enum's reflection.
            let kind = Mirror(reflecting: error).children.first?.label ?? "\(error)"
            #expect(expected.split(separator: "|").contains { kind.hasPrefix($0) }, "\(kind): \(error)")
        }
    }

    @Test func headerLengthIsBoundedAndChecked() throws {
        var huge = withUnsafeBytes(of: UInt64(200_000_000).littleEndian) { Array($0) }
        huge += [UInt8](repeating: 0x20, count: 16)
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: Data(huge)) }
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: Data([1, 2, 3])) }
        var pastEnd = withUnsafeBytes(of: UInt64(64).littleEndian) { Array($0) }
        pastEnd += Array("{}".utf8)
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(data: Data(pastEnd)) }
    }

    @Test func randomCorruptionNeverCrashes() throws {
        let valid = [UInt8](try Self.file.encoded())
        var state: UInt64 = 7
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var rejected = 0
        for _ in 0..<2_000 {
            var bytes = valid
            for _ in 0..<(1 + next() % 4) { bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next()) }
            if next() % 5 == 0 { bytes.removeLast(next() % 16) }
            if (try? SafeTensorsFile(data: Data(bytes))) == nil { rejected += 1 }
        }
        #expect(rejected > 500, "most mutations must be caught: \(rejected) of 2000")
    }
}
