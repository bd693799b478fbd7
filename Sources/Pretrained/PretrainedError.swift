import Foundation

/// What can be wrong with a Hugging Face model folder, each naming the file and what was
/// expected and found.
public enum PretrainedError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String, what: String)
    /// Only `pytorch_model.bin` (a pickle, which can run code when loaded) was found.
    case pickleOnly(folder: String)
    case invalidJSON(path: String, reason: String)
    case invalidConfig(path: String, key: String, expected: String, found: String)
    case unsupportedArchitecture(path: String, found: String, supported: [String])
    /// Every problem with the weights at once: missing tensors, wrong shapes or dtypes.
    case weightMismatch(path: String, problems: [String])
    case invalidWeights(path: String, reason: String)
    case tokenizerMismatch(folder: String, reason: String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .missingFile(let path, let what): return "\(path): not found (expected \(what))"
        case .pickleOnly(let folder):
            return "\(folder) holds only pytorch_model.bin, a pickle, which can run code when it is loaded; AlignCL reads safetensors only. "
                + "Convert it once, in a Python environment with transformers: "
                + "python -c \"from transformers import AutoModel; AutoModel.from_pretrained('\(folder)').save_pretrained('\(folder)', safe_serialization=True)\""
        case .invalidJSON(let path, let reason): return "\(path): not valid JSON: \(reason)"
        case .invalidConfig(let path, let key, let expected, let found): return "\(path): \"\(key)\" must be \(expected), found \(found)"
        case .unsupportedArchitecture(let path, let found, let supported):
            return "\(path): unsupported architecture \(found); supported: \(supported.joined(separator: ", "))"
        case .weightMismatch(let path, let problems):
            let shown = problems.prefix(20).map { "  - \($0)" }.joined(separator: "\n")
            return "\(path): the weights do not match the config (\(problems.count) problem\(problems.count == 1 ? "" : "s")):\n\(shown)"
                + (problems.count > 20 ? "\n  … and \(problems.count - 20) more" : "")
        case .invalidWeights(let path, let reason): return "\(path): \(reason)"
        case .tokenizerMismatch(let folder, let reason): return "\(folder): the tokenizer does not fit the model: \(reason)"
        case .invalidInput(let message): return message
        }
    }
}

/// A parsed JSON object with typed lookups that throw naming the file and key.
public struct JSONObject: @unchecked Sendable {
    public let values: [String: Any]
    public let path: String

    public init(values: [String: Any], path: String) { (self.values, self.path) = (values, path) }

    /// Reads and parses `url`; a missing file is `missingFile(what:)`.
    public init(contentsOf url: URL, what: String) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { throw PretrainedError.missingFile(path: url.path, what: what) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw PretrainedError.invalidJSON(path: url.path, reason: error.localizedDescription) }
        try self.init(data: data, path: url.path)
    }

    /// Parses `data`, a JSON object; `path` names it in errors.
    public init(data: Data, path: String) throws {
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
            throw PretrainedError.invalidJSON(path: path, reason: "\(error.localizedDescription)")
        }
        guard let object = parsed as? [String: Any] else { throw PretrainedError.invalidJSON(path: path, reason: "expected a JSON object at the top level") }
        self.init(values: object, path: path)
    }

    private func fail(_ key: String, _ expected: String) -> PretrainedError {
        .invalidConfig(path: path, key: key, expected: expected, found: values[key].map { "\($0)" } ?? "nothing")
    }

    public func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }

    /// JSON numbers, not `true`/`false`: on Linux both parse to NSNumber (a 0 even casts to
    /// Bool), and only the booleans carry the objCType "c".
    private func number(_ key: String) -> NSNumber? {
        guard let number = values[key] as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
        return number
    }

    public func int(_ key: String, default fallback: Int? = nil, atLeast minimum: Int = 1) throws -> Int {
        guard has(key) else {
            if let fallback { return fallback }
            throw fail(key, "an integer")
        }
        guard let number = number(key), Double(number.intValue) == number.doubleValue else { throw fail(key, "an integer") }
        guard number.intValue >= minimum else { throw fail(key, "an integer ≥ \(minimum)") }
        return number.intValue
    }

    public func double(_ key: String, default fallback: Double? = nil) throws -> Double {
        guard has(key) else {
            if let fallback { return fallback }
            throw fail(key, "a number")
        }
        guard let number = number(key), number.doubleValue.isFinite else { throw fail(key, "a finite number") }
        return number.doubleValue
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard has(key) else { return fallback }
        guard let value = values[key] as? NSNumber, String(cString: value.objCType) == "c" else { throw fail(key, "true or false") }
        return value.boolValue
    }

    public func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard has(key) else {
            if let fallback { return fallback }
            throw fail(key, "a string")
        }
        guard let value = values[key] as? String else { throw fail(key, "a string") }
        return value
    }

    public func strings(_ key: String) throws -> [String]? {
        guard has(key) else { return nil }
        guard let value = values[key] as? [String] else { throw fail(key, "a list of strings") }
        return value
    }

    public func doubles(_ key: String) throws -> [Double]? {
        guard has(key) else { return nil }
        guard let list = values[key] as? [NSNumber] else { throw fail(key, "a list of numbers") }
        return list.map(\.doubleValue)
    }

    /// A nested object (CLIP's `text_config`), or an empty one when absent.
    public func object(_ key: String) throws -> JSONObject {
        guard has(key) else { return JSONObject(values: [:], path: "\(path) (\(key))") }
        guard let value = values[key] as? [String: Any] else { throw fail(key, "an object") }
        return JSONObject(values: value, path: "\(path) (\(key))")
    }
}
