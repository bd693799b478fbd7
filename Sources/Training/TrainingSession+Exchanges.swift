import Autograd
import CLRuntime
import DataParallel
import Foundation
import Multimodal
import NeuralNetworks

/// Every exchange between the ranks of a run, in the order a run makes them: the training
/// split's size, a check that every rank runs the same thing, rank 0's state on every rank at
/// the start, the batch shards (whose gathers the recipes' losses make), one averaging of
/// gradients and losses per step, and the stop checkpoint.
extension TrainingSession {
    /// Throws on every rank when the ranks' training splits differ in size (every rank must
    /// decide the split checks on the same count).
    func agreeOnSplitSize(_ count: Int) throws {
        guard group.size > 1 else { return }
        let counts = try group.allGather([Float(count)], label: "the training split sizes").map { Int($0) }
        guard Set(counts).count == 1 else {
            throw DataParallelError.ranksDisagree("the training splits have \(counts.enumerated().map { "\($0.element) samples on rank \($0.offset)" }.joined(separator: ", ")); give every rank the same data")
        }
    }

    /// Throws on every rank, naming what differs, when a rank's options or data differ from
    /// rank 0's (each rank loads the data itself, so a different folder or seed would otherwise
    /// train a silently inconsistent model).
    func checkRanksAgree(options: TrainingOptions, data: TrainingData, train: EncodedSplit) throws {
        guard group.size > 1 else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var lines = String(decoding: try encoder.encode(options), as: UTF8.self).split(separator: "\n")
            .map { "option " + $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: ",")) }
            .filter { !$0.hasSuffix("{") && !$0.hasSuffix("}") }
        lines.append("training samples: \(train.count)")
        lines.append("training data hash: \(String(Self.fingerprint(train), radix: 16))")
        lines.append("tokenizer hash: \(String(FNV1a.hash(try data.tokenizer.identity()), radix: 16))")
        lines.append("classes: \(data.classNames.joined(separator: ","))")
        let all = try group.allGather(text: lines.joined(separator: "\n"), label: "the check that all ranks run the same options and data")
        let root = all[0].split(separator: "\n")
        let differences = all.enumerated().dropFirst().compactMap { rank, text -> String? in
            let mine = text.split(separator: "\n")
            let theirs = mine.filter { !root.contains($0) }, ours = root.filter { !mine.contains($0) }
            guard !theirs.isEmpty || !ours.isEmpty else { return nil }
            return "rank \(rank) has [\(theirs.prefix(4).joined(separator: "; "))] where rank 0 has [\(ours.prefix(4).joined(separator: "; "))]"
        }
        guard differences.isEmpty else {
            throw DataParallelError.ranksDisagree(differences.joined(separator: " | ") + "; start every rank with the same flags and the same data")
        }
    }

    /// FNV-1a over the training split's token ids (both views), tag targets, labels and pixels.
    static func fingerprint(_ split: EncodedSplit) -> UInt64 {
        var fnv = FNV1a()
        for (index, sample) in split.samples.enumerated() {
            (split.ids[index] + split.crossIds[index] + split.tagTargets[index]).forEach { fnv.mix(word: UInt32(bitPattern: $0)) }
            fnv.mix(word: UInt32(truncatingIfNeeded: sample.label))
            sample.image.forEach { fnv.mix(word: $0.bitPattern) }
        }
        return fnv.hash
    }

    /// Rank 0's parameters on every rank (a fresh start or a resume), and on a resume its
    /// optimizer state and step. Returns the first step.
    /// Every rank checks that a resumed checkpoint was written by as many ranks as run now (the
    /// global batch, hence the data order, depends on it).
    func startTogether(model: any RecipeModel, optimizer: AdamW, batchSize: Int, firstStep: Int, checkpointRanks: Int) throws -> Int {
        var header = [Float(firstStep), Float(optimizer.step), Float(checkpointRanks)]
        try group.broadcast(&header, from: 0, label: "the starting step")
        let (step, optimizerStep, ranks) = (Int(header[0]), Int(header[1]), Int(header[2]))
        guard ranks == group.size else {
            throw DataParallelError.invalidSplit("the checkpoint was written by a run of \(ranks) rank(s) (a global batch of \(ranks) × \(batchSize)); resume it with \(ranks == 1 ? "one process" : "mpirun -np \(ranks)"), not \(group.size)")
        }
        guard group.size > 1 else { return firstStep }
        var values = try model.parameters.flatMap { try $0.values() }
        try group.broadcast(&values, from: 0, label: "rank 0's parameters")
        var offset = 0
        for parameter in model.parameters {
            try parameter.assign(Array(values[offset..<(offset + parameter.count)]))
            offset += parameter.count
        }
        if step > 0 {
            let moments = try optimizer.state().moments
            var flat = moments.flatMap { $0.first + $0.second }
            try group.broadcast(&flat, from: 0, label: "rank 0's optimizer state")
            offset = 0
            let restored = model.parameters.map { parameter -> (first: [Float], second: [Float]) in
                defer { offset += 2 * parameter.count }
                return (Array(flat[offset..<(offset + parameter.count)]), Array(flat[(offset + parameter.count)..<(offset + 2 * parameter.count)]))
            }
            try optimizer.restore(step: optimizerStep, moments: restored)
        }
        return step
    }

    /// The shard of the global batch at `globalIndices` that this rank trains on at `step`.
    func shard(step: Int, globalIndices: [Int]) -> BatchShard {
        BatchShard(group: group, globalIndices: globalIndices, step: step)
    }

    /// The step's loss and its parts, and whether to stop (the signal), the same on every rank.
    /// With several ranks one allreduce sums the parameter gradients, the losses and the stop
    /// requests; gradients and losses are then divided by the number of ranks. Each rank's
    /// loss is its share of the global loss (see `BatchShard`), so the averages are the global
    /// batch's loss and gradient. A stop request on any rank stops all after the same step.
    func averageAcrossRanks(_ loss: StepLoss, model: any RecipeModel, step: Int) throws -> StepOutcome {
        guard group.size > 1 else { return StepOutcome(loss: loss, exchanged: nil, stopSignal: StopSignal.received) }
        let local = try StepOutcome(loss: loss, exchanged: nil, stopSignal: 0).read()
        let withGradient = model.parameters.filter { $0.gradient != nil }
        var buffer = try withGradient.flatMap { try $0.gradientValues() }
        buffer += [Float(local.value)] + local.parts.map { Float($0.value) } + [StopSignal.received != 0 ? 1 : 0]
        try group.allReduceSum(&buffer, label: "gradients of step \(step + 1)")
        let scale = 1 / Float(group.size)
        var offset = 0
        for parameter in withGradient {
            try parameter.assignGradient(buffer[offset..<(offset + parameter.count)].map { $0 * scale })
            offset += parameter.count
        }
        let parts = local.parts.enumerated().map { ($0.element.name, Double(buffer[offset + 1 + $0.offset] * scale)) }
        let stop = buffer[buffer.count - 1] > 0 ? (StopSignal.received != 0 ? StopSignal.received : SIGTERM) : 0
        return StepOutcome(loss: loss, exchanged: (Double(buffer[offset] * scale), parts), stopSignal: stop)
    }

    /// After a stop: the other ranks leave only once rank 0's checkpoint is written.
    func waitForTheStopCheckpoint() throws {
        var written: [Float] = [0]
        try group.allReduceSum(&written, label: "the stop checkpoint")
    }
}
