import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Hugging Face safetensors: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
// (tensor name → dtype, shape, data_offsets; optional "__metadata__" of strings), then the data
// section, which the tensors must cover exactly. Reading applies the reference implementation's
// checks plus two it does not: the header must start with "{", and no JSON object in it may repeat
// a key (the reference accepts two equal tensor names and silently keeps one).

/// Element types, spelled as in the file. The sub-byte types (F4, F6_*) are left out: their
/// elements are not whole bytes, so `byteSize` could not describe them.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL
    case U64, U32, U16, C64, F8_E5M2, F8_E4M3, F8_E8M0

    public var byteSize: Int {
        switch self {
        case .F64, .I64, .U64, .C64: return 8
        case .F32, .I32, .U32: return 4
        case .F16, .BF16, .I16, .U16: return 2
        case .I8, .U8, .BOOL, .F8_E5M2, .F8_E4M3, .F8_E8M0: return 1
        }
    }

    /// Position in the reference's dtype order, by which its writer sorts; sorting the same way
    /// makes our files byte-identical to the reference's for the same tensors and metadata.
    var referenceRank: Int {
        [.BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0, .I16, .U16, .F16, .BF16, .I32, .U32, .F32, .C64, .F64, .I64, .U64].firstIndex(of: self) ?? 0
    }
}

public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    // The length field and the header as a whole.
    case truncatedHeaderLength(fileSize: Int), headerTooLarge(length: UInt64, limit: Int), headerPastEnd(length: UInt64, available: Int)
    case headerNotUTF8, headerNotObject(found: String), invalidJSON(String), duplicateKey(String), invalidMetadata(String)
    // One tensor's entry, and how the entries cover the data section.
    case invalidTensorEntry(tensor: String, reason: String), unknownDType(tensor: String, dtype: String)
    case invalidShape(tensor: String, shape: [Int], reason: String)
    case byteCountMismatch(tensor: String, dtype: SafeTensorsDType, shape: [Int], expected: Int, found: Int)
    case offsetsPastEnd(tensor: String, end: Int, dataSize: Int), invalidOffsets(tensor: String, begin: Int, end: Int, expectedBegin: Int)
    case uncoveredBytes(covered: Int, dataSize: Int)
    // Building tensors and files in code, reading values back, and the file system.
    case reservedName(String), valueCount(shape: [Int], expected: Int, found: Int), wrongDType(requested: String, found: SafeTensorsDType)
    case io(path: String, operation: String, reason: String)

    public var description: String {
        func label(_ name: String) -> String { name.isEmpty ? "" : "tensor '\(name)': " }
        switch self {
        case .truncatedHeaderLength(let size): return "expected at least 8 bytes (the header length), found a file of \(size) bytes"
        case .headerTooLarge(let length, let limit): return "header length \(length) exceeds the limit of \(limit) bytes"
        case .headerPastEnd(let length, let available): return "header length \(length) runs past the end of the file (\(available) bytes follow the length)"
        case .headerNotUTF8: return "header is not valid UTF-8"
        case .headerNotObject(let found): return "header must be a JSON object starting with '{', found \(found)"
        case .invalidJSON(let detail): return "header is not valid JSON: \(detail)"
        case .duplicateKey(let key): return "header repeats the key '\(key)' in one JSON object"
        case .invalidMetadata(let reason): return "__metadata__ must be an object of strings: \(reason)"
        case .invalidTensorEntry(let name, let reason): return label(name) + reason
        case .unknownDType(let name, let dtype): return "\(label(name))unsupported dtype '\(dtype)', expected one of \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", "))"
        case .invalidShape(let name, let shape, let reason): return "\(label(name))shape \(shape) \(reason)"
        case .byteCountMismatch(let name, let dtype, let shape, let expected, let found): return "\(label(name))\(dtype.rawValue) × shape \(shape) needs \(expected) bytes, found \(found)"
        case .offsetsPastEnd(let name, let end, let size): return "\(label(name))data ends at offset \(end), past the data section of \(size) bytes"
        case .invalidOffsets(let name, let begin, let end, let expected):
            return "\(label(name))data_offsets [\(begin), \(end)] \(begin > expected ? "leave a gap after" : "overlap") the previous tensor, expected to begin at \(expected)"
        case .uncoveredBytes(let covered, let size): return "tensors cover \(covered) bytes of the \(size)-byte data section; the rest belongs to no tensor"
        case .reservedName(let name): return "'\(name)' is reserved for metadata and cannot name a tensor"
        case .valueCount(let shape, let expected, let found): return "shape \(shape) holds \(expected) elements, found \(found) values"
        case .wrongDType(let requested, let found): return "expected dtype \(requested), found \(found.rawValue)"
        case .io(let path, let operation, let reason): return "\(path): cannot \(operation): \(reason)"
        }
    }
}

public struct SafeTensor: Sendable, Equatable {
    public var dtype: SafeTensorsDType
    public var shape: [Int]
    /// Little-endian elements in C order.
    public var data: Data

    public init(dtype: SafeTensorsDType, shape: [Int], data: Data) throws {
        try Self.checkByteCount(name: "", dtype: dtype, shape: shape, byteCount: data.count)
        self.init(unchecked: dtype, shape: shape, data: data)
    }

    fileprivate init(unchecked dtype: SafeTensorsDType, shape: [Int], data: Data) { (self.dtype, self.shape, self.data) = (dtype, shape, data) }

    public init(float32 values: [Float], shape: [Int]) throws { try self.init(values, .F32, shape) { $0.bitPattern } }
    public init(float64 values: [Double], shape: [Int]) throws { try self.init(values, .F64, shape) { $0.bitPattern } }
    public init(int32 values: [Int32], shape: [Int]) throws { try self.init(values, .I32, shape) { UInt32(bitPattern: $0) } }
    public init(int64 values: [Int64], shape: [Int]) throws { try self.init(values, .I64, shape) { UInt64(bitPattern: $0) } }

    private init<T, Bits: FixedWidthInteger>(_ values: [T], _ dtype: SafeTensorsDType, _ shape: [Int], _ bits: (T) -> Bits) throws {
        let count = try Self.elementCount(name: "", shape: shape)
        guard count == values.count else { throw SafeTensorsError.valueCount(shape: shape, expected: count, found: values.count) }
        var data = Data(count: count * MemoryLayout<Bits>.size)
        data.withUnsafeMutableBytes { raw in
            for (index, value) in values.enumerated() {
                raw.storeBytes(of: bits(value).littleEndian, toByteOffset: index * MemoryLayout<Bits>.size, as: Bits.self)
            }
        }
        self.init(unchecked: dtype, shape: shape, data: data)
    }

    /// F32 as stored; F64 rounded; F16 and BF16 widened exactly.
    public func floatValues() throws -> [Float] {
        switch dtype {
        case .F32: return load(UInt32.self) { Float(bitPattern: $0) }
        case .F64: return load(UInt64.self) { Float(Double(bitPattern: $0)) }
        case .F16: return load(UInt16.self, halfToFloat)
        case .BF16: return load(UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
        default: throw SafeTensorsError.wrongDType(requested: "F32, F64, F16 or BF16", found: dtype)
        }
    }

    /// F64 as stored, F32 widened exactly.
    public func doubleValues() throws -> [Double] {
        switch dtype {
        case .F64: return load(UInt64.self) { Double(bitPattern: $0) }
        case .F32: return load(UInt32.self) { Double(Float(bitPattern: $0)) }
        default: throw SafeTensorsError.wrongDType(requested: "F64 or F32", found: dtype)
        }
    }

    // Integers only from their own dtype: a silent conversion could truncate ids or counts.
    public func int32Values() throws -> [Int32] {
        guard dtype == .I32 else { throw SafeTensorsError.wrongDType(requested: "I32", found: dtype) }
        return load(UInt32.self) { Int32(bitPattern: $0) }
    }

    public func int64Values() throws -> [Int64] {
        guard dtype == .I64 else { throw SafeTensorsError.wrongDType(requested: "I64", found: dtype) }
        return load(UInt64.self) { Int64(bitPattern: $0) }
    }

    // Unaligned loads, since `data` may sit at any address. The count comes from `data.count`, not
    // the shape, so this stays memory-safe even if a caller has since edited `shape` or `data`.
    private func load<Bits: FixedWidthInteger, Value>(_: Bits.Type, _ convert: (Bits) -> Value) -> [Value] {
        let size = MemoryLayout<Bits>.size
        return data.withUnsafeBytes { raw in
            (0..<raw.count / size).map { convert(Bits(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: Bits.self))) }
        }
    }

    static func elementCount(name: String, shape: [Int]) throws -> Int {
        try shape.reduce(1) { count, dimension in
            guard dimension >= 0 else { throw SafeTensorsError.invalidShape(tensor: name, shape: shape, reason: "has a negative dimension") }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw SafeTensorsError.invalidShape(tensor: name, shape: shape, reason: "has more elements than fit in Int") }
            return product
        }
    }

    static func checkByteCount(name: String, dtype: SafeTensorsDType, shape: [Int], byteCount: Int) throws {
        let (bytes, overflow) = try elementCount(name: name, shape: shape).multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw SafeTensorsError.invalidShape(tensor: name, shape: shape, reason: "has more bytes than fit in Int") }
        guard bytes == byteCount else { throw SafeTensorsError.byteCountMismatch(tensor: name, dtype: dtype, shape: shape, expected: bytes, found: byteCount) }
    }
}

// IEEE binary16 → binary32 by hand, because `Float16` is not available on every platform.
private func halfToFloat(_ half: UInt16) -> Float {
    let sign = UInt32(half & 0x8000) << 16, exponent = UInt32(half >> 10) & 0x1F, mantissa = UInt32(half & 0x3FF)
    switch exponent {
    case 0: return Float(sign == 0 ? 1 : -1) * Float(mantissa) * 0x1p-24 // zero or subnormal: mantissa × 2⁻²⁴
    case 0x1F: return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13) // infinity or NaN
    default: return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13) // exponent bias 15 → 127
    }
}

public struct SafeTensorsFile: Sendable, Equatable {
    /// The reference implementation's MAX_HEADER_SIZE: the most header an untrusted file can make us parse.
    public static let maximumHeaderLength = 100_000_000
    static let metadataKey = "__metadata__"

    public var tensors: [String: SafeTensor]
    public var metadata: [String: String]

    public init(tensors: [String: SafeTensor] = [:], metadata: [String: String] = [:]) { (self.tensors, self.metadata) = (tensors, metadata) }

    public func encoded() throws -> Data {
        let (prefix, ordered) = try prepared()
        var out = Data(capacity: ordered.reduce(prefix.count) { $0 + $1.data.count })
        out.append(prefix)
        for tensor in ordered { out.append(tensor.data) }
        return out
    }

    /// Parses a whole file held in memory; the bytes are untrusted.
    public init(data: Data) throws {
        let start = data.startIndex
        guard data.count >= 8 else { throw SafeTensorsError.truncatedHeaderLength(fileSize: data.count) }
        let length = try Self.headerLength(data[start..<start + 8], fileSize: data.count)
        let section = data[(start + 8 + length)...]
        let (entries, metadata) = try Self.parseHeader(data[(start + 8)..<(start + 8 + length)], dataSize: section.count)
        self.init(entries: entries, metadata: metadata, section: section)
    }

    /// Reads the data section only after the header has accounted for every byte of it, so a hostile
    /// length field cannot make us allocate more than the file holds.
    public init(contentsOf url: URL) throws {
        let path = url.path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError(path, "open for reading") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ioError(path, "stat") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw SafeTensorsError.io(path: path, operation: "read", reason: "not a regular file") }
        let fileSize = Int(info.st_size)
        guard fileSize >= 8 else { throw SafeTensorsError.truncatedHeaderLength(fileSize: fileSize) }
        let length = try Self.headerLength(try readExactly(fd, 8, path), fileSize: fileSize)
        let (entries, metadata) = try Self.parseHeader(try readExactly(fd, length, path), dataSize: fileSize - 8 - length)
        let section = try readExactly(fd, fileSize - 8 - length, path)
        // A file that grew after fstat would otherwise load as a valid prefix of itself.
        guard try readExactly(fd, 1, path, allowShort: true).isEmpty else {
            throw SafeTensorsError.io(path: path, operation: "read", reason: "the file grew while it was being read")
        }
        self.init(entries: entries, metadata: metadata, section: section)
    }

    /// Writes atomically (see `AtomicFile.write`): a crash at any moment leaves either the old
    /// file or the new one.
    public func write(to url: URL) throws {
        let (prefix, ordered) = try prepared()
        try AtomicFile.write([prefix] + ordered.map(\.data), to: url)
    }

    private init(entries: [Entry], metadata: [String: String], section: Data) {
        var tensors: [String: SafeTensor] = [:]
        for entry in entries {
            // Copied, so each tensor's `data` is zero-based and does not keep the whole file alive.
            let bytes = Data(section[(section.startIndex + entry.begin)..<(section.startIndex + entry.end)])
            tensors[entry.name] = SafeTensor(unchecked: entry.dtype, shape: entry.shape, data: bytes)
        }
        self.init(tensors: tensors, metadata: metadata)
    }

    // MARK: Writing

    /// The length field and padded header, and the tensors in data order: as in the reference, larger
    /// elements first (then names, bytewise), which starts every tensor aligned to its element size.
    private func prepared() throws -> (prefix: Data, ordered: [SafeTensor]) {
        let ordered = tensors.sorted { left, right in
            let (l, r) = (left.value.dtype.referenceRank, right.value.dtype.referenceRank)
            return l != r ? l > r : left.key.utf8.lexicographicallyPrecedes(right.key.utf8)
        }
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            fields.append("\(jsonString(Self.metadataKey)):{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in ordered {
            guard name != Self.metadataKey else { throw SafeTensorsError.reservedName(name) }
            // `shape` and `data` are public vars, so they may have drifted apart since init.
            try SafeTensor.checkByteCount(name: name, dtype: tensor.dtype, shape: tensor.shape, byteCount: tensor.data.count)
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.data.count)]}")
            offset += tensor.data.count
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        // Spaces (JSON whitespace) pad the header so that the data section starts 8-byte aligned.
        header += Array(repeating: UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        guard header.count <= Self.maximumHeaderLength else { throw SafeTensorsError.headerTooLarge(length: UInt64(header.count), limit: Self.maximumHeaderLength) }
        var prefix = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) }
        prefix.append(contentsOf: header)
        return (prefix, ordered.map(\.value))
    }

    // Escapes as the reference's serde_json does, so that headers come out byte-identical.
    private static let escapes: [Unicode.Scalar: String] = ["\"": "\\\"", "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\u{8}": "\\b", "\u{C}": "\\f"]
    private func jsonString(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            if let escaped = Self.escapes[scalar] { out += escaped }
            else if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) }
            else { out.unicodeScalars.append(scalar) }
        }
        return out + "\""
    }

    // MARK: Reading

    struct Entry { var name: String, dtype: SafeTensorsDType, shape: [Int], begin: Int, end: Int }

    private static func headerLength(_ bytes: Data, fileSize: Int) throws -> Int {
        let length = bytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(maximumHeaderLength) else { throw SafeTensorsError.headerTooLarge(length: length, limit: maximumHeaderLength) }
        guard Int(length) <= fileSize - 8 else { throw SafeTensorsError.headerPastEnd(length: length, available: fileSize - 8) }
        return Int(length)
    }

    private static func parseHeader(_ header: Data, dataSize: Int) throws -> ([Entry], [String: String]) {
        guard header.first == UInt8(ascii: "{") else {
            throw SafeTensorsError.headerNotObject(found: header.first.map { "byte 0x" + String($0, radix: 16) } ?? "an empty header")
        }
        guard String(data: header, encoding: .utf8) != nil else { throw SafeTensorsError.headerNotUTF8 }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: header) } catch {
            throw SafeTensorsError.invalidJSON((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)")
        }
        guard let object = json as? [String: Any] else { throw SafeTensorsError.headerNotObject(found: jsonKind(json)) }
        if let key = firstDuplicateKey(Array(header)) { throw SafeTensorsError.duplicateKey(key) }

        var metadata: [String: String] = [:], entries: [Entry] = []
        // In name order, so that a header with several bad entries always reports the same one.
        for (name, value) in object.sorted(by: { $0.key < $1.key }) where name != metadataKey { entries.append(try entry(name, value)) }
        switch object[metadataKey] {
        case nil, is NSNull: break // the reference reads null as no metadata
        case let pairs as [String: Any]:
            for (key, item) in pairs.sorted(by: { $0.key < $1.key }) {
                guard let text = item as? String else { throw SafeTensorsError.invalidMetadata("'\(key)' is \(jsonKind(item))") }
                metadata[key] = text
            }
        case let other: throw SafeTensorsError.invalidMetadata("found \(jsonKind(other))")
        }
        // Checked in data order, as the reference does; names break ties so that errors are deterministic.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expectedBegin = 0
        for entry in entries {
            guard entry.end <= dataSize else { throw SafeTensorsError.offsetsPastEnd(tensor: entry.name, end: entry.end, dataSize: dataSize) }
            guard entry.begin == expectedBegin else {
                throw SafeTensorsError.invalidOffsets(tensor: entry.name, begin: entry.begin, end: entry.end, expectedBegin: expectedBegin)
            }
            try SafeTensor.checkByteCount(name: entry.name, dtype: entry.dtype, shape: entry.shape, byteCount: entry.end - entry.begin)
            expectedBegin = entry.end
        }
        guard expectedBegin == dataSize else { throw SafeTensorsError.uncoveredBytes(covered: expectedBegin, dataSize: dataSize) }
        return (entries, metadata)
    }

    // Unknown extra fields are ignored, as the reference does.
    private static func entry(_ name: String, _ value: Any) throws -> Entry {
        func fail(_ reason: String) -> SafeTensorsError { .invalidTensorEntry(tensor: name, reason: reason) }
        guard let fields = value as? [String: Any] else { throw fail("expected an object with dtype, shape and data_offsets, found \(jsonKind(value))") }
        guard let dtypeName = fields["dtype"] as? String else { throw fail("expected \"dtype\" to be a string, found \(jsonKind(fields["dtype"]))") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else { throw SafeTensorsError.unknownDType(tensor: name, dtype: dtypeName) }
        let shape = try integers(fields["shape"], field: "shape", fail)
        let offsets = try integers(fields["data_offsets"], field: "data_offsets", fail)
        guard offsets.count == 2 else { throw fail("expected \"data_offsets\" to be [begin, end], found \(offsets.count) integers") }
        guard offsets[0] <= offsets[1] else { throw fail("data_offsets [\(offsets[0]), \(offsets[1])] end before they begin") }
        return Entry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    /// Non-negative JSON integers only. JSONSerialization's NSNumbers convert to Int from 1.0 and from
    /// true alike, so the stored C type decides: integer types pass, "c" (boolean) and "d" (fraction or
    /// exponent) do not. Comparing the signed and unsigned readings rejects values above Int64.max.
    private static func integers(_ value: Any?, field: String, _ fail: (String) -> SafeTensorsError) throws -> [Int] {
        guard let array = value as? [Any] else { throw fail("expected \"\(field)\" to be an array of non-negative integers, found \(jsonKind(value))") }
        return try array.enumerated().map { index, item in
            guard let number = item as? NSNumber, "silqSILQ".contains(String(cString: number.objCType)), number.int64Value >= 0,
                  UInt64(number.int64Value) == number.uint64Value, let int = Int(exactly: number.int64Value) else {
                throw fail("expected \"\(field)\" to hold non-negative integers, found \(jsonKind(item)) at index \(index)")
            }
            return int
        }
    }

    private static func jsonKind(_ value: Any?) -> String {
        switch value {
        case nil: return "nothing"
        case is NSNull: return "null"
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case let number as NSNumber: return String(cString: number.objCType) == "c" ? "a boolean" : "the number \(number)"
        case let other?: return "\(type(of: other))"
        }
    }

    /// JSONSerialization silently keeps one of two equal keys, so repeats are looked for in the raw text,
    /// which it has already accepted as JSON: strings are terminated and brackets balanced.
    private static func firstDuplicateKey(_ bytes: [UInt8]) -> String? {
        var keys: [Set<String>] = [], isObject: [Bool] = [], expectingKey = false, index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                expectingKey = bytes[index] == UInt8(ascii: "{")
                keys.append([]); isObject.append(expectingKey)
            case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = keys.popLast(); _ = isObject.popLast(); expectingKey = false
            case UInt8(ascii: ","): expectingKey = isObject.last ?? false
            case UInt8(ascii: "\""):
                var end = index + 1, escaped = false
                while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
                    let backslash = bytes[end] == UInt8(ascii: "\\")
                    (escaped, end) = (escaped || backslash, end + (backslash ? 2 : 1))
                }
                if expectingKey, !keys.isEmpty {
                    let token = Data(bytes[index..<min(end + 1, bytes.count)])
                    // Escapes are decoded, so that "a" and "\u0061" count as the same key.
                    let key = escaped ? (try? JSONSerialization.jsonObject(with: token, options: .fragmentsAllowed)) as? String ?? ""
                        : String(decoding: token.dropFirst().dropLast(), as: UTF8.self)
                    if !keys[keys.count - 1].insert(key).inserted { return key }
                    expectingKey = false
                }
                index = end
            default: break
            }
            index += 1
        }
        return nil
    }
}

// File-scope, so that read(2) and write(2) are not shadowed by SafeTensorsFile's members.
func ioError(_ path: String, _ operation: String) -> SafeTensorsError {
    .io(path: path, operation: operation, reason: String(cString: strerror(errno)))
}

private func readExactly(_ fd: Int32, _ count: Int, _ path: String, allowShort: Bool = false) throws -> Data {
    var data = Data(count: count), filled = 0
    try data.withUnsafeMutableBytes { raw in
        while filled < count {
            let got = read(fd, raw.baseAddress! + filled, count - filled)
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else { throw ioError(path, "read") }
            if got == 0 { break }
            filled += got
        }
    }
    guard filled == count || allowShort else { throw SafeTensorsError.io(path: path, operation: "read", reason: "the file shrank while it was being read") }
    return data.prefix(filled)
}

func writeAll(_ fd: Int32, _ data: Data, _ path: String) throws {
    try data.withUnsafeBytes { raw in
        var written = 0
        while written < raw.count {
            let put = write(fd, raw.baseAddress! + written, raw.count - written)
            if put < 0 && errno == EINTR { continue }
            guard put > 0 else { throw ioError(path, "write") }
            written += put
        }
    }
}
