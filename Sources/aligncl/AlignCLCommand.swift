import ArgumentParser

struct AlignCLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aligncl",
        abstract: "Train image–text models on OpenCL devices, with a CPU path behind the same ops.",
        discussion: """
        Every command takes --backend auto|opencl|cpu and --device N (or ALIGNCL_BACKEND and \
        ALIGNCL_DEVICE in the environment; a flag overrides the environment). `auto` picks the best \
        OpenCL device and says on stderr what it picked and why; `opencl` never falls back.

        Environment: ALIGNCL_OPENCL_LIBRARY (path of the OpenCL ICD loader, default libOpenCL.so.1), \
        ALIGNCL_CACHE_DIR (program cache; else $XDG_CACHE_HOME/aligncl, else ~/.cache/aligncl), \
        ALIGNCL_CACHE=0 (no program cache), ALIGNCL_TUNING=0 (ignore what `aligncl tune` stored).
        """,
        version: "0.1.0",
        subcommands: [DevicesCommand.self, OpCommand.self, BenchCommand.self, TuneCommand.self, TrainCommand.self, EvalCommand.self, EmbedCommand.self, PredictCommand.self, ExportCommand.self]
    )
}

/// An error a command reports as one line: what was expected and what was found.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
