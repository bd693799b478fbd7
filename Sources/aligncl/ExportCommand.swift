import ArgumentParser
import Compute
import Foundation
import Training

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a run's fine-tuned pretrained towers (--text-model with a BERT-family folder, or --init) as a Hugging Face folder.",
        discussion: """
        A BERT-family text tower: config.json and the tokenizer files the run kept, \
        model.safetensors with the tower's weights under their transformers names, and \
        sentence-transformers files that pool as the run did: `AutoModel.from_pretrained(DIR)` \
        gives the tower's last hidden state, `SentenceTransformer(DIR)` and `aligncl embed \
        --model DIR` its pooled embedding. A run started with --init: a CLIPModel folder with \
        both fine-tuned towers, their projections and the logit scale, for \
        `CLIPModel.from_pretrained(DIR)`, `aligncl embed --model` and `predict --model`. The \
        adapters to --width and the recipe's heads stay in the run. The folder is written whole \
        or not at all.
        """
    )

    @OptionGroup var runOptions: RunOptions

    @Option(help: "The folder to write (must not exist or be empty, unless --overwrite).")
    var output: String

    @Flag(help: "Replace an existing non-empty --output folder.")
    var overwrite = false

    func run() throws {
        let (run, _) = try runOptions.load()
        let url = URL(fileURLWithPath: output)
        try RunExport.write(run, to: url, overwrite: overwrite)
        printError("aligncl: exported the pretrained towers of \(run.checkpoint.path) to \(url.path)")
    }
}
