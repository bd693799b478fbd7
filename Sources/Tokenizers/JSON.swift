import Foundation

/// A parsed JSON value. Objects keep their members as an ordered list of pairs rather than a
/// `[String: Any]`: Swift `String`s compare by canonical equivalence, so a dictionary would fold
/// vocabulary entries such as "Ω" (U+2126) and "Ω" (U+03A9) into one, while the Rust tokenizers
/// keep them apart byte for byte. Key lookups here are byte-exact too.
indirect enum JSONValue: Sendable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    /// The member named `key` (byte-exact), nil when absent or when this is not an object.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        let wanted = Array(key.utf8)
        return members.first { $0.key.utf8.elementsEqual(wanted) }?.value
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    var members: [(key: String, value: JSONValue)]? { if case .object(let m) = self { return m } else { return nil } }
    var isNull: Bool { if case .null = self { return true } else { return false } }
    /// An integral number, nil for fractions and non-numbers.
    var int: Int? {
        guard case .number(let d) = self, d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }

    /// A short rendering for error messages ("found …").
    var summary: String {
        switch self {
        case .object: return "an object"
        case .array(let a): return "an array of \(a.count)"
        case .string(let s): return "\"\(s.prefix(40))\""
        case .number(let d): return d.rounded() == d && abs(d) < 1e15 ? String(Int(d)) : String(d)
        case .bool(let b): return String(b)
        case .null: return "null"
        }
    }
}

/// A recursive-descent parser over UTF-8 bytes. Hand-written because `JSONSerialization`
/// returns `[String: Any]` (see `JSONValue`), and a tokenizer.json is large enough (tens of
/// thousands of vocabulary entries) that avoiding the `Any` boxing also pays.
struct JSONParser {
    struct Failure: Error { let offset: Int; let reason: String }

    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0

    static func parse(_ data: Data) throws(Failure) -> JSONValue {
        var parser = JSONParser(bytes: [UInt8](data))
        parser.skipWhitespace()
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { throw parser.failure("unexpected text after the top-level value") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func failure(_ reason: String) -> Failure { Failure(offset: position, reason: reason) }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private mutating func parseValue() throws(Failure) -> JSONValue {
        guard position < bytes.count else { throw failure("unexpected end of input") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        default: return .number(try parseNumber())
        }
    }

    private mutating func expectLiteral(_ word: String) throws(Failure) {
        let utf8 = Array(word.utf8)
        guard position + utf8.count <= bytes.count, Array(bytes[position..<position + utf8.count]) == utf8 else {
            throw failure("expected \(word)")
        }
        position += utf8.count
    }

    private mutating func enterContainer() throws(Failure) {
        depth += 1
        // Deeply nested input would otherwise overflow the stack instead of failing cleanly.
        guard depth <= 512 else { throw failure("nesting deeper than 512 levels") }
        position += 1
        skipWhitespace()
    }

    private mutating func parseObject() throws(Failure) -> JSONValue {
        try enterContainer()
        var members: [(key: String, value: JSONValue)] = []
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1; depth -= 1
            return .object(members)
        }
        while true {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw failure("expected ':'") }
            position += 1
            skipWhitespace()
            members.append((key, try parseValue()))
            skipWhitespace()
            guard position < bytes.count else { throw failure("unterminated object") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; skipWhitespace(); continue }
            guard bytes[position] == UInt8(ascii: "}") else { throw failure("expected ',' or '}'") }
            position += 1; depth -= 1
            return .object(members)
        }
    }

    private mutating func parseArray() throws(Failure) -> JSONValue {
        try enterContainer()
        var elements: [JSONValue] = []
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1; depth -= 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else { throw failure("unterminated array") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; skipWhitespace(); continue }
            guard bytes[position] == UInt8(ascii: "]") else { throw failure("expected ',' or ']'") }
            position += 1; depth -= 1
            return .array(elements)
        }
    }

    private mutating func parseNumber() throws(Failure) -> Double {
        let start = position
        while position < bytes.count, "+-0123456789.eE".utf8.contains(bytes[position]) { position += 1 }
        guard position > start, let text = String(bytes: bytes[start..<position], encoding: .ascii), let value = Double(text) else {
            position = start
            throw failure("expected a value")
        }
        return value
    }

    private mutating func parseHex4() throws(Failure) -> UInt32 {
        guard position + 4 <= bytes.count else { throw failure("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw failure("bad hex digit in \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private mutating func parseString() throws(Failure) -> String {
        position += 1  // opening quote
        var out: [UInt8] = []
        var runStart = position
        while true {
            guard position < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[runStart..<position])
                position += 1
                break
            }
            guard byte == UInt8(ascii: "\\") else {
                guard byte >= 0x20 else { throw failure("control character inside a string") }
                position += 1
                continue
            }
            out.append(contentsOf: bytes[runStart..<position])
            position += 1
            guard position < bytes.count else { throw failure("unterminated escape") }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800..<0xDC00).contains(code) {
                    // A high surrogate must be followed by an escaped low one; serde_json rejects lone halves.
                    guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                        throw failure("lone surrogate in \\u escape")
                    }
                    position += 2
                    let low = try parseHex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw failure("lone surrogate in \\u escape") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(code) {
                    throw failure("lone surrogate in \\u escape")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(code)!)).utf8)
            default: throw failure("unknown escape \\\(Character(Unicode.Scalar(escape)))")
            }
            runStart = position
        }
        // Invalid UTF-8 is an error rather than silently repaired, as in serde_json.
        guard let string = String(validating: out, as: UTF8.self) else { throw failure("invalid UTF-8 in a string") }
        return string
    }
}
