import Foundation

/// Builds a `TokenizerPipeline` from a Hugging Face folder.
///
/// Which file decides what follows `transformers` (5.x, and 4.x for the normalizer flags):
/// when tokenizer_config.json names BertTokenizer, DistilBertTokenizer or CLIPTokenizer, those
/// classes rebuild the pipeline from the config (do_lower_case, strip_accents,
/// tokenize_chinese_chars, the special tokens and added_tokens_decoder) and take only the
/// vocabulary (and merges) from tokenizer.json; its normalizer, pre-tokenizer, post-processor
/// and added_tokens are not used. Any other class, or no tokenizer_config.json, means
/// tokenizer.json is the whole description, as the `tokenizers` library reads it.
enum TokenizerLoader {
    static func load(folder: URL) throws(TokenizerError) -> TokenizerPipeline {
        let fileManager = FileManager.default
        func file(_ name: String) -> URL? {
            let url = folder.appendingPathComponent(name)
            return fileManager.fileExists(atPath: url.path) ? url : nil
        }
        let config = try file("tokenizer_config.json").map { url throws(TokenizerError) in try TokenizerConfig(url: url) }
        if let tokenizerJSON = file("tokenizer.json") {
            return try fromTokenizerJSON(tokenizerJSON, config: config)
        }
        if let vocabText = file("vocab.txt") {
            try VocabularyFiles.checkClass(config, allowed: VocabularyFiles.wordPieceClasses)
            let vocabulary = try VocabularyFiles.readVocabularyText(vocabText)
            return try VocabularyFiles.bert(vocabulary: vocabulary, path: vocabText.path, config: config)
        }
        if let vocabJSON = file("vocab.json") {
            guard let merges = file("merges.txt") else {
                throw .missingFiles(folder: folder.path, expected: "merges.txt next to vocab.json (BPE)")
            }
            try VocabularyFiles.checkClass(config, allowed: VocabularyFiles.bpeClasses)
            let vocabulary = try VocabularyFiles.readVocabularyJSON(vocabJSON)
            return try VocabularyFiles.clip(
                vocabulary: vocabulary, merges: try VocabularyFiles.readMerges(merges), path: merges.path, config: config)
        }
        throw .missingFiles(folder: folder.path, expected: "tokenizer.json, or vocab.txt (WordPiece), or vocab.json and merges.txt (BPE)")
    }

    static func readJSON(_ url: URL) throws(TokenizerError) -> JSONValue {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .unreadableFile(path: url.path, reason: error.localizedDescription) }
        do { return try JSONParser.parse(data) } catch { throw .malformedJSON(path: url.path, reason: "\(error.reason) at byte \(error.offset)") }
    }

    private static func fromTokenizerJSON(_ url: URL, config: TokenizerConfig?) throws(TokenizerError) -> TokenizerPipeline {
        let root = try readJSON(url)
        let fields = JSONFields(path: url.path)
        guard root.members != nil else { throw .invalidField(path: url.path, field: "(top level)", expected: "an object", found: root.summary) }
        guard let modelJSON = root["model"], modelJSON.members != nil else {
            throw .invalidField(path: url.path, field: "model", expected: "an object", found: root["model"]?.summary ?? "nothing")
        }
        // Files written by old versions of the library have no "type"; the fields tell.
        let modelType = modelJSON["type"]?.string
            ?? (modelJSON["merges"] != nil ? "BPE" : (modelJSON["continuing_subword_prefix"] != nil ? "WordPiece" : "(none)"))
        guard ["WordPiece", "BPE"].contains(modelType) else {
            throw .unsupported(path: url.path, component: "model type", found: modelType, supported: ["WordPiece", "BPE"])
        }
        if let config, let name = config.tokenizerClass {
            let family = VocabularyFiles.wordPieceClasses.contains(name) ? "WordPiece" : (VocabularyFiles.bpeClasses.contains(name) ? "BPE" : nil)
            if let family {
                guard family == modelType else {
                    throw .unsupported(path: url.path, component: "model type for \(name)", found: modelType, supported: [family])
                }
                let vocabulary = try vocabulary(modelJSON, fields)
                if family == "WordPiece" { return try VocabularyFiles.bert(vocabulary: vocabulary, path: url.path, config: config) }
                return try VocabularyFiles.clip(vocabulary: vocabulary, merges: try merges(modelJSON, fields), path: url.path, config: config)
            }
        }
        let normalizer = try root["normalizer"].flatMap { json throws(TokenizerError) in try parseNormalizer(json, fields) }
        let preTokenizer = try root["pre_tokenizer"].flatMap { json throws(TokenizerError) in try parsePreTokenizer(json, fields) }
        let model = try parseModel(modelJSON, type: modelType, fields)

        var addedTokens: [AddedToken] = []
        for (index, entry) in (try fields.array(root, "added_tokens", default: [])).enumerated() {
            addedTokens.append(try fields.addedToken(entry, field: "added_tokens[\(index)]"))
        }
        addedTokens = AddedToken.assigningIds(addedTokens, vocabulary: model.vocabulary)
        let (prefix, suffix) = try root["post_processor"].map { json throws(TokenizerError) in
            try parsePostProcessor(json, fields)
        } ?? ([], [])

        var padId: Int32? = nil
        if let padding = root["padding"], !padding.isNull, let id = padding["pad_id"]?.int { padId = Int32(id) }
        return try assemble(
            model: model, normalizer: normalizer, preTokenizer: preTokenizer, addedTokens: addedTokens,
            prefix: prefix, suffix: suffix, padId: padId, config: config)
    }

    /// Joins the parts. The pad id is the config's pad token's (it overrides tokenizer.json's
    /// padding in transformers), else `padId`, else 0.
    static func assemble(
        model: TokenizerModel, normalizer: Normalizer?, preTokenizer: PreTokenizer?, addedTokens: [AddedToken],
        prefix: [Int32], suffix: [Int32], padId: Int32?, config: TokenizerConfig?
    ) throws(TokenizerError) -> TokenizerPipeline {
        var raw: [(scalars: [Unicode.Scalar], token: AddedToken)] = []
        var normalized: [(scalars: [Unicode.Scalar], token: AddedToken)] = []
        for token in addedTokens {
            var scalars = Array(token.content.unicodeScalars)
            if token.normalized {
                // Matched against normalized text, so looked for in its normalized form.
                normalizer?.apply(&scalars)
                normalized.append((scalars, token))
            } else {
                raw.append((scalars, token))
            }
        }
        let vocabulary = model.vocabulary
        let largest = max(vocabulary.values.max() ?? -1, addedTokens.map(\.id).max() ?? -1)
        var pad = padId
        if let name = config?.specialToken("pad_token")?.content,
            let id = addedTokens.first(where: { $0.content.utf8.elementsEqual(name.utf8) })?.id ?? vocabulary[TokenKey(name)]
        {
            pad = id
        }
        return TokenizerPipeline(
            rawAddedTokens: AddedTokenMatcher(raw), normalizedAddedTokens: AddedTokenMatcher(normalized),
            normalizer: normalizer, preTokenizer: preTokenizer, model: model, prefix: prefix, suffix: suffix,
            vocabularySize: Int(largest) + 1, padId: pad ?? 0, maximumLength: config?.modelMaxLength)
    }

    // MARK: - tokenizer.json components

    private static func type(of json: JSONValue, _ fields: JSONFields, _ field: String) throws(TokenizerError) -> String {
        guard let type = json["type"]?.string else {
            throw .invalidField(path: fields.path, field: "\(field).type", expected: "a string", found: json["type"]?.summary ?? "nothing")
        }
        return type
    }

    static let supportedNormalizers = ["BertNormalizer", "Sequence", "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "StripAccents", "Strip", "Replace"]

    static func parseNormalizer(_ json: JSONValue, _ fields: JSONFields) throws(TokenizerError) -> Normalizer? {
        if json.isNull { return nil }
        let type = try type(of: json, fields, "normalizer")
        switch type {
        case "BertNormalizer":
            let lowercase = try fields.bool(json, "lowercase", default: true)
            let strip = json["strip_accents"].flatMap { $0.isNull ? nil : $0 }
            return .bert(
                cleanText: try fields.bool(json, "clean_text", default: true),
                handleChineseCharacters: try fields.bool(json, "handle_chinese_chars", default: true),
                stripAccents: try strip.map { value throws(TokenizerError) in
                    try fields.bool(json, "strip_accents", default: lowercase)
                } ?? lowercase,
                lowercase: lowercase)
        case "Sequence":
            var steps: [Normalizer] = []
            for step in try fields.array(json, "normalizers") {
                if let parsed = try parseNormalizer(step, fields) { steps.append(parsed) }
            }
            return .sequence(steps)
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "StripAccents": return .stripAccents
        case "Strip":
            return .strip(left: try fields.bool(json, "strip_left", default: true), right: try fields.bool(json, "strip_right", default: true))
        case "Replace":
            let content = Array((json["content"]?.string ?? "").unicodeScalars)
            if let literal = json["pattern"]?["String"]?.string {
                return .replaceLiteral(pattern: Array(literal.unicodeScalars), with: content)
            }
            if let regex = json["pattern"]?["Regex"]?.string, regex == #"\s+"# {
                return .replaceWhitespaceRuns(with: content)
            }
            throw .unsupported(
                path: fields.path, component: "Replace pattern", found: json["pattern"]?.summary ?? "nothing",
                supported: [#"{"String": …}"#, #"{"Regex": "\s+"}"#])
        default:
            throw .unsupported(path: fields.path, component: "normalizer", found: type, supported: supportedNormalizers)
        }
    }

    static let supportedPreTokenizers = ["BertPreTokenizer", "WhitespaceSplit", "Split", "ByteLevel", "Sequence"]

    static func parsePreTokenizer(_ json: JSONValue, _ fields: JSONFields) throws(TokenizerError) -> PreTokenizer? {
        if json.isNull { return nil }
        let type = try type(of: json, fields, "pre_tokenizer")
        switch type {
        case "BertPreTokenizer": return .bert
        case "WhitespaceSplit": return .whitespaceSplit
        case "Sequence":
            var steps: [PreTokenizer] = []
            for step in try fields.array(json, "pretokenizers") {
                if let parsed = try parsePreTokenizer(step, fields) { steps.append(parsed) }
            }
            return .sequence(steps)
        case "ByteLevel":
            return .byteLevel(
                addPrefixSpace: try fields.bool(json, "add_prefix_space", default: true),
                useRegex: try fields.bool(json, "use_regex", default: true))
        case "Split":
            let source = json["pattern"]?["Regex"]?.string
            guard let source, let pattern = SplitPattern.sources.first(where: { $0.0 == source })?.1 else {
                throw .unsupported(
                    path: fields.path, component: "Split pattern", found: json["pattern"]?.summary ?? "nothing",
                    supported: SplitPattern.sources.map(\.0))
            }
            let behavior = json["behavior"]?.string ?? ""
            let invert = try fields.bool(json, "invert", default: false)
            switch (behavior, invert) {
            case ("Removed", true): return .split(pattern, keepMatchesOnly: true)
            case ("Isolated", false): return .split(pattern, keepMatchesOnly: false)
            default:
                throw .unsupported(
                    path: fields.path, component: "Split behavior", found: "\(behavior) (invert \(invert))",
                    supported: ["Removed (invert true)", "Isolated (invert false)"])
            }
        default:
            throw .unsupported(path: fields.path, component: "pre_tokenizer", found: type, supported: supportedPreTokenizers)
        }
    }

    private static func vocabulary(_ model: JSONValue, _ fields: JSONFields) throws(TokenizerError) -> Vocabulary {
        guard let members = model["vocab"]?.members else {
            throw .invalidField(path: fields.path, field: "model.vocab", expected: "an object of token → id", found: model["vocab"]?.summary ?? "nothing")
        }
        return try fields.vocabulary(members, field: "model.vocab")
    }

    /// `model.merges`: "a b" strings (older files) or ["a", "b"] pairs.
    private static func merges(_ model: JSONValue, _ fields: JSONFields) throws(TokenizerError) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for (index, merge) in (try fields.array(model, "merges", default: [])).enumerated() {
            if let line = merge.string {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw .invalidField(path: fields.path, field: "model.merges[\(index)]", expected: "two tokens separated by one space", found: merge.summary)
                }
                pairs.append((String(parts[0]), String(parts[1])))
            } else if let parts = merge.array, parts.count == 2, let a = parts[0].string, let b = parts[1].string {
                pairs.append((a, b))
            } else {
                throw .invalidField(path: fields.path, field: "model.merges[\(index)]", expected: "\"a b\" or [\"a\", \"b\"]", found: merge.summary)
            }
        }
        return pairs
    }

    private static func parseModel(_ json: JSONValue, type: String, _ fields: JSONFields) throws(TokenizerError) -> TokenizerModel {
        let vocabulary = try vocabulary(json, fields)
        if type == "WordPiece" {
            let unknown = json["unk_token"]?.string ?? "[UNK]"
            guard let unknownId = vocabulary[TokenKey(unknown)] else {
                throw .missingToken(path: fields.path, token: unknown, role: "model.unk_token")
            }
            return .wordPiece(
                WordPieceModel(
                    vocabulary: vocabulary, unknownId: unknownId,
                    continuingSubwordPrefix: Array((json["continuing_subword_prefix"]?.string ?? "##").utf8),
                    maxInputCharactersPerWord: json["max_input_chars_per_word"]?.int ?? 100))
        }
        if let dropout = json["dropout"], case .number(let p) = dropout, p > 0 {
            throw .unsupported(path: fields.path, component: "BPE dropout", found: String(p), supported: ["null", "0"])
        }
        let optionalString = { (key: String) -> [UInt8]? in json[key]?.string.map { Array($0.utf8) } }
        return .bpe(
            try bpeModel(
                vocabulary: vocabulary, merges: try merges(json, fields), unknown: json["unk_token"]?.string,
                continuingSubwordPrefix: optionalString("continuing_subword_prefix"),
                endOfWordSuffix: optionalString("end_of_word_suffix"),
                fuseUnknown: try fields.bool(json, "fuse_unk", default: false),
                byteFallback: try fields.bool(json, "byte_fallback", default: false),
                ignoreMerges: try fields.bool(json, "ignore_merges", default: false), path: fields.path))
    }

    /// Resolves merges to id pairs; every part and every merged token must be in the
    /// vocabulary (the Rust crate refuses to load otherwise). A repeated pair keeps its last
    /// rank, as the crate's map does.
    static func bpeModel(
        vocabulary: Vocabulary, merges pairs: [(String, String)], unknown: String?, continuingSubwordPrefix: [UInt8]?,
        endOfWordSuffix: [UInt8]?, fuseUnknown: Bool, byteFallback: Bool, ignoreMerges: Bool, path: String
    ) throws(TokenizerError) -> BPEModel {
        let prefixLength = continuingSubwordPrefix?.count ?? 0
        var merges: [UInt64: BPEModel.Merge] = [:]
        merges.reserveCapacity(pairs.count)
        for (rank, (a, b)) in pairs.enumerated() {
            let aBytes = Array(a.utf8), bBytes = Array(b.utf8)
            guard let aId = vocabulary[TokenKey(aBytes)] else { throw .missingToken(path: path, token: a, role: "merge \(rank + 1)") }
            guard let bId = vocabulary[TokenKey(bBytes)] else { throw .missingToken(path: path, token: b, role: "merge \(rank + 1)") }
            let merged = aBytes + bBytes.dropFirst(min(prefixLength, bBytes.count))
            guard let newId = vocabulary[TokenKey(merged)] else {
                throw .missingToken(path: path, token: String(decoding: merged, as: UTF8.self), role: "result of merge \(rank + 1)")
            }
            merges[BPEModel.pairKey(aId, bId)] = BPEModel.Merge(rank: Int32(rank), newId: newId)
        }
        return BPEModel(
            vocabulary: vocabulary, merges: merges, unknownId: unknown.flatMap { vocabulary[TokenKey($0)] },
            continuingSubwordPrefix: continuingSubwordPrefix, endOfWordSuffix: endOfWordSuffix, fuseUnknown: fuseUnknown,
            byteFallback: byteFallback, ignoreMerges: ignoreMerges)
    }

    static let supportedPostProcessors = ["TemplateProcessing", "BertProcessing", "RobertaProcessing", "ByteLevel", "Sequence"]

    /// The ids a single sequence gets before and after it.
    private static func parsePostProcessor(_ json: JSONValue, _ fields: JSONFields) throws(TokenizerError) -> ([Int32], [Int32]) {
        if json.isNull { return ([], []) }
        let type = try type(of: json, fields, "post_processor")
        switch type {
        case "BertProcessing", "RobertaProcessing":
            func pair(_ key: String) throws(TokenizerError) -> Int32 {
                guard let parts = json[key]?.array, parts.count == 2, let id = parts[1].int else {
                    throw .invalidField(path: fields.path, field: "post_processor.\(key)", expected: "[token, id]", found: json[key]?.summary ?? "nothing")
                }
                return Int32(id)
            }
            return ([try pair("cls")], [try pair("sep")])
        case "ByteLevel": return ([], [])
        case "Sequence":
            var prefix: [Int32] = [], suffix: [Int32] = []
            // Each processor wraps what the previous ones produced.
            for step in try fields.array(json, "processors") {
                let (p, s) = try parsePostProcessor(step, fields)
                prefix = p + prefix
                suffix += s
            }
            return (prefix, suffix)
        case "TemplateProcessing":
            var specials: [String: [Int32]] = [:]
            for (name, entry) in json["special_tokens"]?.members ?? [] {
                specials[name] = (entry["ids"]?.array ?? []).compactMap { $0.int.map(Int32.init) }
            }
            var prefix: [Int32] = [], suffix: [Int32] = []
            var sawSequence = false
            for piece in try fields.array(json, "single") {
                if piece["Sequence"] != nil {
                    guard !sawSequence else {
                        throw .unsupported(path: fields.path, component: "single template", found: "two sequences", supported: ["one $A"])
                    }
                    sawSequence = true
                } else if let name = piece["SpecialToken"]?["id"]?.string {
                    guard let ids = specials[name] else {
                        throw .invalidField(path: fields.path, field: "post_processor.special_tokens", expected: "an entry for \(name)", found: "none")
                    }
                    if sawSequence { suffix += ids } else { prefix += ids }
                } else {
                    throw .invalidField(path: fields.path, field: "post_processor.single", expected: "SpecialToken or Sequence items", found: piece.summary)
                }
            }
            return (prefix, suffix)
        default:
            throw .unsupported(path: fields.path, component: "post_processor", found: type, supported: supportedPostProcessors)
        }
    }
}

/// Typed field access that throws `TokenizerError.invalidField` naming the file.
struct JSONFields {
    let path: String

    func bool(_ json: JSONValue, _ key: String, default value: Bool) throws(TokenizerError) -> Bool {
        guard let field = json[key], !field.isNull else { return value }
        guard let flag = field.bool else { throw .invalidField(path: path, field: key, expected: "true or false", found: field.summary) }
        return flag
    }

    func array(_ json: JSONValue, _ key: String, default value: [JSONValue]? = nil) throws(TokenizerError) -> [JSONValue] {
        guard let field = json[key], !field.isNull else {
            if let value { return value }
            throw .invalidField(path: path, field: key, expected: "an array", found: "nothing")
        }
        guard let array = field.array else { throw .invalidField(path: path, field: key, expected: "an array", found: field.summary) }
        return array
    }

    func vocabulary(_ members: [(key: String, value: JSONValue)], field: String) throws(TokenizerError) -> Vocabulary {
        var vocabulary: Vocabulary = [:]
        vocabulary.reserveCapacity(members.count)
        for (token, value) in members {
            guard let id = value.int, id >= 0, id <= Int(Int32.max) else {
                throw .invalidField(path: path, field: "\(field)[\"\(token)\"]", expected: "a non-negative integer id", found: value.summary)
            }
            vocabulary[TokenKey(token)] = Int32(id)
        }
        return vocabulary
    }

    /// An `added_tokens` entry: {id, content, special, normalized, lstrip, rstrip, single_word}.
    func addedToken(_ json: JSONValue, field: String, id fallbackId: Int? = nil) throws(TokenizerError) -> AddedToken {
        guard let content = json["content"]?.string else {
            throw .invalidField(path: path, field: "\(field).content", expected: "a string", found: json["content"]?.summary ?? "nothing")
        }
        guard let id = json["id"]?.int ?? fallbackId else {
            throw .invalidField(path: path, field: "\(field).id", expected: "an integer", found: json["id"]?.summary ?? "nothing")
        }
        let special = try bool(json, "special", default: false)
        return AddedToken(
            content: content, id: Int32(id), special: special,
            normalized: try bool(json, "normalized", default: !special),
            lstrip: try bool(json, "lstrip", default: false), rstrip: try bool(json, "rstrip", default: false),
            singleWord: try bool(json, "single_word", default: false))
    }
}
