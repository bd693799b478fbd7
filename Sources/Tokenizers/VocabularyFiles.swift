import Foundation

/// tokenizer_config.json: the settings `transformers` reads next to the vocabulary files.
struct TokenizerConfig {
    let path: String
    let json: JSONValue

    init(url: URL) throws(TokenizerError) {
        path = url.path
        json = try TokenizerLoader.readJSON(url)
        guard json.members != nil else { throw .invalidField(path: path, field: "(top level)", expected: "an object", found: json.summary) }
    }

    private var fields: JSONFields { JSONFields(path: path) }

    func bool(_ key: String, default value: Bool) throws(TokenizerError) -> Bool { try fields.bool(json, key, default: value) }

    /// A setting that may be null (meaning "follow another setting").
    func optionalBool(_ key: String) throws(TokenizerError) -> Bool? {
        guard let field = json[key], !field.isNull else { return nil }
        return try fields.bool(json, key, default: false)
    }

    /// `model_max_length`; absent models get a huge placeholder (1e30) from `transformers`,
    /// which is no limit at all.
    var modelMaxLength: Int? {
        guard case .number(let value) = json["model_max_length"], value >= 1, value <= 1_000_000 else { return nil }
        return Int(value)
    }

    var tokenizerClass: String? { json["tokenizer_class"]?.string }

    /// A named special token ("unk_token" …), written either as a string or as a serialized
    /// AddedToken object. Strings become special tokens matched on the raw text.
    func specialToken(_ key: String) -> AddedToken? {
        guard let field = json[key] else { return nil }
        if let content = field.string {
            return AddedToken(content: content, id: -1, special: true, normalized: false, lstrip: false, rstrip: false, singleWord: false)
        }
        guard let content = field["content"]?.string else { return nil }
        func flag(_ name: String, _ value: Bool) -> Bool { field[name]?.bool ?? value }
        // transformers' AddedToken defaults `normalized` to `not special` as written in the entry,
        // before marking the named token special.
        return AddedToken(
            content: content, id: -1, special: true, normalized: flag("normalized", !flag("special", false)), lstrip: flag("lstrip", false),
            rstrip: flag("rstrip", false), singleWord: flag("single_word", false))
    }

    /// `added_tokens_decoder`: {"id": {content, special, normalized, lstrip, rstrip, single_word}}.
    func addedTokensDecoder() throws(TokenizerError) -> [AddedToken] {
        guard let members = json["added_tokens_decoder"]?.members else { return [] }
        var tokens: [AddedToken] = []
        for (key, entry) in members {
            guard let id = Int(key) else {
                throw .invalidField(path: path, field: "added_tokens_decoder", expected: "integer keys", found: "\"\(key)\"")
            }
            tokens.append(try fields.addedToken(entry, field: "added_tokens_decoder[\"\(key)\"]", id: id))
        }
        return tokens.sorted { $0.id < $1.id }
    }
}

/// The pipelines `transformers`' BertTokenizer and CLIPTokenizer classes build from their
/// config, with the vocabulary from tokenizer.json or from the older files (vocab.txt for
/// BERT, vocab.json + merges.txt for CLIP).
enum VocabularyFiles {
    static let wordPieceClasses = ["BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer", "DistilBertTokenizerFast"]
    static let bpeClasses = ["CLIPTokenizer", "CLIPTokenizerFast"]

    /// Lines as Rust's `BufRead::lines` gives them: split on "\n", a trailing "\r" dropped,
    /// no extra empty line after a final newline.
    static func lines(of url: URL) throws(TokenizerError) -> [String] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .unreadableFile(path: url.path, reason: error.localizedDescription) }
        guard let text = String(validating: [UInt8](data), as: UTF8.self) else {
            throw .unreadableFile(path: url.path, reason: "not valid UTF-8")
        }
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...], as: UTF8.self)
        }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// vocab.txt: one token a line, the id is the line number. WordPiece::read_file trims
    /// trailing whitespace; a repeated token keeps its last line.
    static func readVocabularyText(_ url: URL) throws(TokenizerError) -> Vocabulary {
        var vocabulary: Vocabulary = [:]
        for (index, line) in try lines(of: url).enumerated() {
            var scalars = Array(line.unicodeScalars)
            while let last = scalars.last, CharacterClasses.isWhitespace(last) { scalars.removeLast() }
            vocabulary[TokenKey(scalars)] = Int32(index)
        }
        return vocabulary
    }

    static func readVocabularyJSON(_ url: URL) throws(TokenizerError) -> Vocabulary {
        let root = try TokenizerLoader.readJSON(url)
        guard let members = root.members else {
            throw .invalidField(path: url.path, field: "(top level)", expected: "an object of token → id", found: root.summary)
        }
        return try JSONFields(path: url.path).vocabulary(members, field: "vocab")
    }

    /// merges.txt: "a b" a line after an optional "#version" header; ranks count from the
    /// first merge.
    static func readMerges(_ url: URL) throws(TokenizerError) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for (index, line) in try lines(of: url).enumerated() where !line.hasPrefix("#version") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw .malformedLine(path: url.path, line: index + 1, expected: "two tokens separated by one space", found: line)
            }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        return pairs
    }

    /// BertTokenizer's pipeline: BertNormalizer from the config flags, BertPreTokenizer,
    /// WordPiece, then [CLS] … [SEP]. `path` names the vocabulary's file in errors.
    static func bert(vocabulary: Vocabulary, path: String, config: TokenizerConfig?) throws(TokenizerError) -> TokenizerPipeline {
        let lowercase = try config?.bool("do_lower_case", default: true) ?? true
        let normalizer = Normalizer.bert(
            cleanText: true, handleChineseCharacters: try config?.bool("tokenize_chinese_chars", default: true) ?? true,
            stripAccents: try config?.optionalBool("strip_accents") ?? lowercase, lowercase: lowercase)

        let names = ["unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"]
        let added = try addedTokens(config: config, names: names, order: ["unk_token", "sep_token", "pad_token", "cls_token", "mask_token"], vocabulary: vocabulary)
        let unknown = added.named["unk_token"]!
        guard let unknownId = vocabulary[TokenKey(unknown)] else { throw .missingToken(path: path, token: unknown, role: "unk_token") }
        let cls = try id(of: added.named["cls_token"]!, role: "cls_token", in: added.tokens, path: path)
        let sep = try id(of: added.named["sep_token"]!, role: "sep_token", in: added.tokens, path: path)
        let model = WordPieceModel(vocabulary: vocabulary, unknownId: unknownId, continuingSubwordPrefix: Array("##".utf8), maxInputCharactersPerWord: 100)
        return try TokenizerLoader.assemble(
            model: .wordPiece(model), normalizer: normalizer, preTokenizer: .bert, addedTokens: added.tokens,
            prefix: [cls], suffix: [sep], padId: try? id(of: added.named["pad_token"]!, role: "", in: added.tokens, path: path), config: config)
    }

    /// CLIPTokenizer's pipeline: NFC, whitespace runs to one space, lowercase; the CLIP split
    /// then byte-level; BPE with "</w>"; then <|startoftext|> … <|endoftext|>.
    static func clip(vocabulary: Vocabulary, merges pairs: [(String, String)], path: String, config: TokenizerConfig?) throws(TokenizerError) -> TokenizerPipeline {
        let names = ["bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"]
        let added = try addedTokens(config: config, names: names, order: ["bos_token", "eos_token", "unk_token", "pad_token"], vocabulary: vocabulary)
        let model = try TokenizerLoader.bpeModel(
            vocabulary: vocabulary, merges: pairs, unknown: added.named["unk_token"], continuingSubwordPrefix: [],
            endOfWordSuffix: Array("</w>".utf8), fuseUnknown: false, byteFallback: false, ignoreMerges: false, path: path)
        let bos = try id(of: added.named["bos_token"]!, role: "bos_token", in: added.tokens, path: path)
        let eos = try id(of: added.named["eos_token"]!, role: "eos_token", in: added.tokens, path: path)
        let normalizer = Normalizer.sequence([.nfc, .replaceWhitespaceRuns(with: [" "]), .lowercase])
        let preTokenizer = PreTokenizer.sequence([.split(.clip, keepMatchesOnly: true), .byteLevel(addPrefixSpace: false, useRegex: true)])
        return try TokenizerLoader.assemble(
            model: .bpe(model), normalizer: normalizer, preTokenizer: preTokenizer, addedTokens: added.tokens,
            prefix: [bos], suffix: [eos], padId: try? id(of: added.named["pad_token"]!, role: "", in: added.tokens, path: path), config: config)
    }

    static func checkClass(_ config: TokenizerConfig?, allowed: [String]) throws(TokenizerError) {
        guard let config, let name = config.tokenizerClass, !allowed.contains(name) else { return }
        throw .unsupported(path: config.path, component: "tokenizer_class without tokenizer.json", found: name, supported: allowed)
    }

    private static func id(of token: String, role: String, in added: [AddedToken], path: String) throws(TokenizerError) -> Int32 {
        guard let match = added.first(where: { $0.content.utf8.elementsEqual(token.utf8) }) else {
            throw .missingToken(path: path, token: token, role: role)
        }
        return match.id
    }

    /// The config's `added_tokens_decoder` entries (by id), then each named special token not
    /// among them, in the order transformers adds them; ids as the Rust crate assigns them.
    private static func addedTokens(
        config: TokenizerConfig?, names defaults: [String: String], order: [String], vocabulary: Vocabulary
    ) throws(TokenizerError) -> (tokens: [AddedToken], named: [String: String]) {
        var tokens = try config?.addedTokensDecoder() ?? []
        var named: [String: String] = [:]
        for key in order {
            let token = config?.specialToken(key)
                ?? AddedToken(content: defaults[key]!, id: -1, special: true, normalized: false, lstrip: false, rstrip: false, singleWord: false)
            named[key] = token.content
            if !tokens.contains(where: { $0.content.utf8.elementsEqual(token.content.utf8) }) { tokens.append(token) }
        }
        return (AddedToken.assigningIds(tokens, vocabulary: vocabulary), named)
    }
}
