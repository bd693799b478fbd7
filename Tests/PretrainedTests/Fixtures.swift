import Foundation
import NumPyFiles

/// The committed fixtures of `scripts/make-hf-fixtures.py` (Tests/Fixtures/hf).
enum HFFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hf")

    static func folder(_ name: String) -> URL { root.appendingPathComponent(name) }

    static func floats(_ folder: String, _ file: String) throws -> (shape: [Int], values: [Float]) {
        let array = try NPY.read(Self.folder(folder).appendingPathComponent(file))
        return (array.shape, array.floatValues())
    }

    static func ints(_ folder: String, _ file: String) throws -> (shape: [Int], values: [Int32]) {
        let (shape, values) = try floats(folder, file)
        return (shape, values.map { Int32($0) })
    }

    static func texts(_ folder: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(contentsOf: Self.folder(folder).appendingPathComponent("texts.json")))
    }

    /// A copy of a fixture folder in a fresh temporary directory, to break on purpose.
    static func copy(_ name: String) throws -> URL {
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-hf-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: folder(name), to: destination)
        return destination
    }
}
