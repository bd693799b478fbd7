import Foundation

/// A NumPy `.npy` array as read from a file: its shape, element type and raw little-endian
/// payload. Files are untrusted: the header is parsed (never evaluated), its length bounded, the
/// shape product overflow-checked, and the payload length checked before it is read.
public struct NPYArray: Sendable, Equatable {
    public let shape: [Int]
    public let dtype: NPYDType
    /// `shape.product × dtype.size` bytes, little-endian, C order.
    public let payload: [UInt8]

    public var count: Int { shape.reduce(1, *) }

    /// The values as float32 (float64 is rounded; integers and booleans converted).
    public func floatValues() -> [Float] {
        payload.withUnsafeBytes { raw in
            (0..<count).map { index in dtype.load(raw, index) }
        }
    }
}

/// The element types accepted on input. float32 and float64 are data; the rest appear in masks.
public enum NPYDType: String, Sendable, CaseIterable {
    case float32 = "f4", float64 = "f8", bool = "b1"
    case int8 = "i1", int16 = "i2", int32 = "i4", int64 = "i8"
    case uint8 = "u1", uint16 = "u2", uint32 = "u4", uint64 = "u8"

    public var size: Int { Int(rawValue.dropFirst())! }
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }
    /// The NumPy name, for messages.
    public var name: String { String(describing: self) }

    func load(_ raw: UnsafeRawBufferPointer, _ index: Int) -> Float {
        let offset = index * size
        switch self {
        case .float32: return Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        case .float64: return Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
        case .bool, .uint8: return Float(raw[offset])
        case .int8: return Float(Int8(bitPattern: raw[offset]))
        case .int16: return Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
        case .int32: return Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
        case .int64: return Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
        case .uint16: return Float(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        case .uint32: return Float(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        case .uint64: return Float(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
        }
    }
}

/// Why a `.npy` file could not be read or written; the message names the file.
public struct NPYError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// The largest header accepted. Version 1 files cannot exceed it; NumPy itself refuses
    /// headers over 10,000 bytes by default.
    public static let maximumHeaderLength = 65_535

    /// Reads the `.npy` file at `url`.
    public static func read(_ url: URL) throws(NPYError) -> NPYArray {
        let path = url.path
        func fail(_ reason: String) -> NPYError { NPYError(path: path, reason: reason) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw fail("no such file") }
        guard !isDirectory.boolValue else { throw fail("is a directory, expected a .npy file") }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw fail("cannot be opened for reading") }
        defer { try? handle.close() }
        do {
            let fileSize = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
            let prefix = [UInt8](try handle.read(upToCount: 12) ?? Data())
            guard prefix.count >= 10, Array(prefix[0..<6]) == magic else { throw fail("not a .npy file (no \\x93NUMPY magic)") }
            let major = prefix[6]
            let (lengthBytes, headerLength): (Int, Int)
            switch major {
            case 1: (lengthBytes, headerLength) = (2, Int(prefix[8]) | Int(prefix[9]) << 8)
            case 2, 3:
                guard prefix.count == 12 else { throw fail("truncated header") }
                (lengthBytes, headerLength) = (4, prefix[8..<12].reversed().reduce(0) { $0 << 8 | Int($1) })
            default: throw fail("unsupported .npy format version \(major).\(prefix[7])")
            }
            guard headerLength <= maximumHeaderLength else {
                throw fail("header length \(headerLength) exceeds the limit of \(maximumHeaderLength) bytes")
            }
            let dataOffset = 8 + lengthBytes + headerLength
            try handle.seek(toOffset: UInt64(8 + lengthBytes))
            let headerBytes = [UInt8](try handle.read(upToCount: headerLength) ?? Data())
            guard headerBytes.count == headerLength else { throw fail("truncated header: expected \(headerLength) bytes, found \(headerBytes.count)") }
            let header = try parseHeader(headerBytes, path: path)
            let (payloadLength, overflow) = header.count.multipliedReportingOverflow(by: header.dtype.size)
            guard !overflow else { throw fail("shape \(header.shape) is too large") }
            let available = Int(fileSize) - dataOffset
            guard available == payloadLength else {
                throw fail("shape \(shapeText(header.shape)) of \(header.dtype.name) needs \(payloadLength) data bytes, the file has \(max(available, 0))")
            }
            try handle.seek(toOffset: UInt64(dataOffset))
            let payload = payloadLength == 0 ? [] : [UInt8](try handle.read(upToCount: payloadLength) ?? Data())
            guard payload.count == payloadLength else { throw fail("truncated data: expected \(payloadLength) bytes, read \(payload.count)") }
            return NPYArray(shape: header.shape, dtype: header.dtype, payload: payload)
        } catch let error as NPYError {
            throw error
        } catch {
            throw fail("cannot be read: \(error.localizedDescription)")
        }
    }

    /// The bytes of a version 1.0 `.npy` file holding `values` as float32 in C order.
    public static func encode(shape: [Int], values: [Float]) -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        // Pad with spaces so the data starts on a 64-byte boundary, as NumPy does.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + values.count * 4)
        for value in values {
            let bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes += $0 }
        }
        return bytes
    }

    struct Header {
        let dtype: NPYDType
        let shape: [Int]
        let count: Int
    }

    /// Parses the header, a Python dict literal such as
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`, without evaluating it.
    static func parseHeader(_ bytes: [UInt8], path: String) throws(NPYError) -> Header {
        func fail(_ reason: String) -> NPYError { NPYError(path: path, reason: reason) }
        guard let text = String(bytes: bytes, encoding: .ascii) ?? String(bytes: bytes, encoding: .utf8) else {
            throw fail("header is not text")
        }
        var parser = HeaderParser(characters: Array(text))
        let entries: [String: HeaderParser.Value]
        do { entries = try parser.parseDictionary() } catch { throw fail("malformed header \(text.trimmingCharacters(in: .whitespacesAndNewlines)): \(error.reason)") }
        let expectedKeys: Set = ["descr", "fortran_order", "shape"]
        guard Set(entries.keys) == expectedKeys else {
            throw fail("header keys must be \(expectedKeys.sorted()), found \(entries.keys.sorted())")
        }
        guard case .string(let descr) = entries["descr"] else { throw fail("descr must be a string such as '<f4'") }
        guard case .bool(let fortranOrder) = entries["fortran_order"] else { throw fail("fortran_order must be True or False") }
        guard case .tuple(let shape) = entries["shape"] else { throw fail("shape must be a tuple of integers") }
        guard !fortranOrder else { throw fail("array is in Fortran order, expected C order (use numpy.ascontiguousarray)") }
        let order = descr.first
        let code = String(descr.dropFirst())
        guard let dtype = NPYDType(rawValue: code), order == "<" || order == "|" || (order == "=" ) || (order == ">" && dtype.size == 1) else {
            let supported = NPYDType.allCases.map(\.name).joined(separator: ", ")
            throw fail("dtype '\(descr)' is not supported: expected little-endian \(supported)")
        }
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { throw fail("shape \(shapeText(shape)) has a negative dimension") }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw fail("shape \(shapeText(shape)) overflows") }
            count = product
        }
        return Header(dtype: dtype, shape: shape, count: count)
    }
}

/// Describes a shape as `[2, 3]`.
public func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

/// A recursive-descent parser for the small Python-literal subset `.npy` headers use.
struct HeaderParser {
    enum Value { case string(String), bool(Bool), tuple([Int]) }
    struct Failure: Error { let reason: String }

    let characters: [Character]
    var position = 0

    init(characters: [Character]) { self.characters = characters }

    mutating func parseDictionary() throws(Failure) -> [String: Value] {
        try expect("{")
        var entries: [String: Value] = [:]
        while true {
            skipSpace()
            if peek() == "}" { position += 1; break }
            let key = try parseString()
            try expect(":")
            guard entries[key] == nil else { throw Failure(reason: "duplicate key '\(key)'") }
            entries[key] = try parseValue()
            skipSpace()
            if peek() == "," { position += 1; continue }
            try expect("}")
            break
        }
        skipSpace()
        guard position == characters.count else { throw Failure(reason: "unexpected text after the dictionary") }
        return entries
    }

    private mutating func parseValue() throws(Failure) -> Value {
        skipSpace()
        switch peek() {
        case "'", "\"": return .string(try parseString())
        case "(": return .tuple(try parseTuple())
        default:
            if consume("True") { return .bool(true) }
            if consume("False") { return .bool(false) }
            throw Failure(reason: "unexpected value at offset \(position)")
        }
    }

    private mutating func parseTuple() throws(Failure) -> [Int] {
        try expect("(")
        var values: [Int] = []
        while true {
            skipSpace()
            if peek() == ")" { position += 1; return values }
            var digits = ""
            while let c = peek(), c.isASCII, c.isNumber || (digits.isEmpty && c == "-") { digits.append(c); position += 1 }
            if peek() == "L" { position += 1 }  // Python 2 long suffix
            guard digits.count <= 19, let value = Int(digits) else { throw Failure(reason: "shape entry '\(digits)' is not an integer") }
            values.append(value)
            skipSpace()
            if peek() == "," { position += 1; continue }
            try expect(")")
            return values
        }
    }

    private mutating func parseString() throws(Failure) -> String {
        skipSpace()
        guard let quote = peek(), quote == "'" || quote == "\"" else { throw Failure(reason: "expected a quoted string at offset \(position)") }
        position += 1
        var text = ""
        while let c = peek(), c != quote {
            guard text.count < 64 else { throw Failure(reason: "string too long") }
            text.append(c)
            position += 1
        }
        try expect(quote)
        return text
    }

    private mutating func expect(_ c: Character) throws(Failure) {
        skipSpace()
        guard peek() == c else { throw Failure(reason: "expected '\(c)' at offset \(position)") }
        position += 1
    }

    private mutating func consume(_ word: String) -> Bool {
        let end = position + word.count
        guard end <= characters.count, String(characters[position..<end]) == word else { return false }
        position = end
        return true
    }

    private func peek() -> Character? { position < characters.count ? characters[position] : nil }

    private mutating func skipSpace() {
        while let c = peek(), c == " " || c == "\n" || c == "\t" || c == "\r" { position += 1 }
    }
}
