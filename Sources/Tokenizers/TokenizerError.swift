/// What can be wrong with a tokenizer folder, each case naming the file and what was expected
/// and found.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The folder holds none of the file sets a tokenizer loads from (or one file of a pair).
    case missingFiles(folder: String, expected: String)
    case unreadableFile(path: String, reason: String)
    case malformedJSON(path: String, reason: String)
    /// A field is absent, of the wrong type, or has an impossible value.
    case invalidField(path: String, field: String, expected: String, found: String)
    /// A model, normalizer, pre-tokenizer or post-processor this package does not implement.
    case unsupported(path: String, component: String, found: String, supported: [String])
    /// A token the configuration relies on (unknown, [CLS]/[SEP], a merge part) is not in the vocabulary.
    case missingToken(path: String, token: String, role: String)
    /// A line of a vocabulary or merges file that does not have the expected form (1-based).
    case malformedLine(path: String, line: Int, expected: String, found: String)

    public var description: String {
        switch self {
        case .missingFiles(let folder, let expected): return "\(folder): no tokenizer files (expected \(expected))"
        case .unreadableFile(let path, let reason): return "\(path): cannot be read: \(reason)"
        case .malformedJSON(let path, let reason): return "\(path): not valid JSON: \(reason)"
        case .invalidField(let path, let field, let expected, let found):
            return "\(path): \"\(field)\" must be \(expected), found \(found)"
        case .unsupported(let path, let component, let found, let supported):
            return "\(path): unsupported \(component) \(found); supported: \(supported.joined(separator: ", "))"
        case .missingToken(let path, let token, let role):
            return "\(path): the vocabulary has no \"\(token)\" (\(role))"
        case .malformedLine(let path, let line, let expected, let found):
            return "\(path):\(line): expected \(expected), found \"\(found.prefix(60))\""
        }
    }
}
