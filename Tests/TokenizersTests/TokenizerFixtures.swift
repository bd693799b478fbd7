import Foundation

/// The committed fixtures of `scripts/make-hf-fixtures.py` (Tests/Fixtures/hf): reference ids
/// from `transformers`' fast tokenizers.
enum TokenizerFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hf")

    static func folder(_ name: String) -> URL { root.appendingPathComponent(name) }

    struct ExpectedIds: Decodable {
        let max_length: Int
        let ids: [[Int32]]
    }

    // JSONDecoder, not JSONSerialization: on Linux the latter drops a U+FEFF that starts a
    // string or follows an escape, and several fixture strings begin with one.
    static func strings() throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(contentsOf: root.appendingPathComponent("strings.json")))
    }

    static func texts(_ folder: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(contentsOf: Self.folder(folder).appendingPathComponent("texts.json")))
    }

    static func expectedIds(_ folder: String, _ file: String) throws -> ExpectedIds {
        try JSONDecoder().decode(ExpectedIds.self, from: Data(contentsOf: Self.folder(folder).appendingPathComponent(file)))
    }

    /// A fresh temporary folder holding the named files of a fixture folder (to load from the
    /// vocabulary files alone, or to break on purpose).
    static func copy(_ name: String, only files: [String]? = nil) throws -> URL {
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-tokenizers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
        let source = folder(name)
        for file in try FileManager.default.contentsOfDirectory(atPath: source.path) where files?.contains(file) ?? true {
            try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: destination.appendingPathComponent(file))
        }
        return destination
    }

    static func emptyFolder() throws -> URL {
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent("aligncl-tokenizers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
        return destination
    }

    struct NPYError: Error, CustomStringConvertible { let description: String }

    /// A little-endian int32 C-order .npy file (all the id and mask fixtures are).
    static func int32Array(_ folder: String, _ file: String) throws -> (shape: [Int], values: [Int32]) {
        let url = Self.folder(folder).appendingPathComponent(file)
        let bytes = [UInt8](try Data(contentsOf: url))
        guard bytes.count > 10, bytes[0] == 0x93, bytes[1...5].elementsEqual("NUMPY".utf8) else { throw NPYError(description: "\(url.path): not .npy") }
        let major = bytes[6]
        let headerLength = major == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8 : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        let headerStart = major == 1 ? 10 : 12
        let header = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard header.contains("'<i4'"), header.contains("'fortran_order': False"),
            let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else { throw NPYError(description: "\(url.path): expected a C-order <i4 array, header \(header)") }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let data = bytes[(headerStart + headerLength)...]
        let count = shape.reduce(1, *)
        guard data.count == count * 4 else { throw NPYError(description: "\(url.path): \(data.count) bytes for shape \(shape)") }
        var values = [Int32](repeating: 0, count: count)
        let base = data.startIndex
        for i in 0..<count {
            let b = base + i * 4
            values[i] = Int32(bitPattern: UInt32(data[b]) | UInt32(data[b + 1]) << 8 | UInt32(data[b + 2]) << 16 | UInt32(data[b + 3]) << 24)
        }
        return (shape, values)
    }

    /// Renders a string with its non-ASCII and control scalars escaped, for failure messages.
    static func escaped(_ text: String, limit: Int = 120) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(limit) {
            if scalar.value >= 0x20 && scalar.value < 0x7F { out.unicodeScalars.append(scalar) } else { out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}" }
        }
        return text.unicodeScalars.count > limit ? out + "…" : out
    }
}
