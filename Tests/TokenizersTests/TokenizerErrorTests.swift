import Foundation
import Testing
import Tokenizers

/// Broken folders fail with a typed error that names the file and what was wrong.
@Suite struct TokenizerErrorTests {
    func loadError(_ folder: URL) -> TokenizerError? {
        do {
            _ = try PretrainedTokenizer.load(folder: folder)
            return nil
        } catch {
            return error
        }
    }

    /// Rewrites one file of a copied fixture folder; the change must change something.
    func edit(_ folder: URL, _ file: String, _ change: (String) -> String) throws {
        let url = folder.appendingPathComponent(file)
        let old = try String(contentsOf: url, encoding: .utf8)
        let new = change(old)
        try #require(new != old, "the edit of \(file) found nothing to change")
        try new.write(to: url, atomically: true, encoding: .utf8)
    }

    @Test func missingVocabulary() throws {
        let empty = try TokenizerFixtures.emptyFolder()
        guard case .missingFiles(let folder, let expected) = loadError(empty) else {
            Issue.record("expected missingFiles, got \(String(describing: loadError(empty)))")
            return
        }
        #expect(folder == empty.path)
        #expect(expected.contains("tokenizer.json") && expected.contains("vocab.txt"))

        // A config alone is not a tokenizer either.
        let configOnly = try TokenizerFixtures.copy("wordpiece-uncased", only: ["tokenizer_config.json"])
        #expect(loadError(configOnly).map { if case .missingFiles = $0 { true } else { false } } == true)

        // vocab.json without its merges.
        let noMerges = try TokenizerFixtures.copy("clip-tiny", only: ["vocab.json", "tokenizer_config.json"])
        guard case .missingFiles(_, let what) = loadError(noMerges) else {
            Issue.record("expected missingFiles for merges.txt, got \(String(describing: loadError(noMerges)))")
            return
        }
        #expect(what.contains("merges.txt"))
    }

    @Test func malformedTokenizerJSON() throws {
        let folder = try TokenizerFixtures.copy("wordpiece-uncased")
        try edit(folder, "tokenizer.json") { String($0.prefix(5_000)) }
        guard case .malformedJSON(let path, let reason) = loadError(folder) else {
            Issue.record("expected malformedJSON, got \(String(describing: loadError(folder)))")
            return
        }
        #expect(path.hasSuffix("tokenizer.json"))
        #expect(!reason.isEmpty)

        let notAnObject = try TokenizerFixtures.copy("wordpiece-uncased")
        try edit(notAnObject, "tokenizer.json") { _ in "[1, 2, 3]" }
        #expect(loadError(notAnObject).map { if case .invalidField(_, "(top level)", _, _) = $0 { true } else { false } } == true)

        let badConfig = try TokenizerFixtures.copy("wordpiece-uncased")
        try edit(badConfig, "tokenizer_config.json") { $0.replacingOccurrences(of: "}", with: "") }
        guard case .malformedJSON(let configPath, _) = loadError(badConfig) else {
            Issue.record("expected malformedJSON for tokenizer_config.json, got \(String(describing: loadError(badConfig)))")
            return
        }
        #expect(configPath.hasSuffix("tokenizer_config.json"))
    }

    @Test func unsupportedModelType() throws {
        let folder = try TokenizerFixtures.copy("wordpiece-uncased")
        try edit(folder, "tokenizer.json") { $0.replacingOccurrences(of: #""type":"WordPiece","unk_token""#, with: #""type":"Unigram","unk_token""#) }
        let error = loadError(folder)
        #expect(error == .unsupported(path: folder.appendingPathComponent("tokenizer.json").path, component: "model type", found: "Unigram", supported: ["WordPiece", "BPE"]))
        #expect(error?.description.contains("Unigram") == true)

        // Without tokenizer_config.json naming BertTokenizer / CLIPTokenizer, tokenizer.json's
        // own components are used (with it, transformers rebuilds them from the config).
        let normalizer = try TokenizerFixtures.copy("wordpiece-uncased", only: ["tokenizer.json"])
        try edit(normalizer, "tokenizer.json") { $0.replacingOccurrences(of: #""type":"BertNormalizer""#, with: #""type":"Precompiled""#) }
        #expect(loadError(normalizer).map { if case .unsupported(_, "normalizer", "Precompiled", _) = $0 { true } else { false } } == true)

        let split = try TokenizerFixtures.copy("clip-tiny", only: ["tokenizer.json"])
        try edit(split, "tokenizer.json") { $0.replacingOccurrences(of: #"[\\p{N}]|"#, with: #"[\\p{N}]+|"#) }
        #expect(loadError(split).map { if case .unsupported(_, "Split pattern", _, _) = $0 { true } else { false } } == true)

        // A folder of the other family asked for by its concrete type.
        #expect(throws: TokenizerError.self) { try BPETokenizer.load(folder: TokenizerFixtures.folder("wordpiece-uncased")) }
        #expect(throws: TokenizerError.self) { try WordPieceTokenizer.load(folder: TokenizerFixtures.folder("clip-tiny")) }
    }

    @Test func vocabularyWithoutTheNeededTokens() throws {
        // tokenizer.json (read on its own, without a config) whose unknown token is not in its vocabulary.
        let json = try TokenizerFixtures.copy("wordpiece-uncased", only: ["tokenizer.json"])
        try edit(json, "tokenizer.json") { $0.replacingOccurrences(of: #""unk_token":"[UNK]""#, with: #""unk_token":"[UNKNOWN]""#) }
        #expect(loadError(json) == .missingToken(path: json.appendingPathComponent("tokenizer.json").path, token: "[UNKNOWN]", role: "model.unk_token"))

        // vocab.txt without [UNK].
        let vocab = try TokenizerFixtures.copy("wordpiece-uncased", only: ["vocab.txt", "tokenizer_config.json"])
        try edit(vocab, "vocab.txt") { $0.replacingOccurrences(of: "[UNK]\n", with: "[UNUSED-UNK]\n") }
        #expect(loadError(vocab) == .missingToken(path: vocab.appendingPathComponent("vocab.txt").path, token: "[UNK]", role: "unk_token"))

        // A merge whose parts are not in vocab.json.
        let merges = try TokenizerFixtures.copy("clip-tiny", only: ["vocab.json", "merges.txt", "tokenizer_config.json"])
        try edit(merges, "merges.txt") { $0 + "zzzq qqqz\n" }
        guard case .missingToken(let path, "zzzq", let role) = loadError(merges) else {
            Issue.record("expected missingToken for the merge, got \(String(describing: loadError(merges)))")
            return
        }
        #expect(path.hasSuffix("merges.txt") && role.hasPrefix("merge "))

        // A merges line that is not two tokens.
        let line = try TokenizerFixtures.copy("clip-tiny", only: ["vocab.json", "merges.txt", "tokenizer_config.json"])
        try edit(line, "merges.txt") { $0.replacingOccurrences(of: "\nt h\n", with: "\nt h x\n") }
        #expect(loadError(line) == .malformedLine(path: line.appendingPathComponent("merges.txt").path, line: 3, expected: "two tokens separated by one space", found: "t h x"))
    }
}
