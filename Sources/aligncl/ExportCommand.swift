import ArgumentParser
import Compute
import Foundation
import Training

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a run's fine-tuned text tower (trained with --text-model) as a Hugging Face folder.",
        discussion: """
        The folder holds config.json and the tokenizer files the run kept, model.safetensors with \
        the tower's weights under their transformers names, and sentence-transformers files that \
        pool as the run did: `AutoModel.from_pretrained(DIR)` gives the tower's last hidden state, \
        `SentenceTransformer(DIR)` and `aligncl embed --model DIR` its pooled embedding. The \
        adapter to --width and the recipe's heads stay in the run. The folder is written whole \
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
        try TextTowerExport.write(run, to: url, overwrite: overwrite)
        printError("aligncl: exported the text tower of \(run.checkpoint.path) to \(url.path)")
    }
}
