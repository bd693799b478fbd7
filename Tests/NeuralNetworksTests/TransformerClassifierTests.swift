import Autograd
import CLRuntime
import Compute
import NeuralNetworks
import Testing
import TestSupport

/// A 2-block transformer classifier learns a task that needs attention across positions, on
/// both backends, reproducibly.
@Suite struct TransformerClassifierTests {
    static let (length, vocabulary, width) = (8, 6, 32)

    final class Classifier: Module {
        let tokens, positions: Embedding
        let blocks: [TransformerBlock]
        let norm: LayerNorm
        let head: Linear

        init(seed: UInt64, backend: any Backend) throws {
            let initializer = Initializer(seed: seed, backend: backend)
            tokens = try Embedding(count: vocabulary, dimensions: width, name: "tokens", initializer: initializer)
            positions = try Embedding(count: length, dimensions: width, name: "positions", initializer: initializer)
            blocks = try (0..<2).map { try TransformerBlock(dimensions: width, heads: 4, hidden: 2 * width, name: "layers.\($0)", initializer: initializer) }
            norm = try LayerNorm(dimensions: width, initializer: initializer)
            head = try Linear(width, 2, name: "head", initializer: initializer)
        }

        var namedParameters: [(name: String, tensor: Tensor)] {
            var all = Self.prefixed("tokens", tokens) + Self.prefixed("positions", positions)
            for (index, block) in blocks.enumerated() { all += Self.prefixed("layers.\(index)", block) }
            return all + Self.prefixed("norm", norm) + Self.prefixed("head", head)
        }

        /// Logits `[B, 2]` read at the [CLS] position (0) of each sequence.
        func callAsFunction(_ ids: [Int32], batch: Int) throws -> Tensor {
            let positionIds = (0..<(batch * length)).map { Int32($0 % length) }
            var x = try tokens(ids, shape: [batch, length]) + positions(positionIds, shape: [batch, length])
            for block in blocks { x = try block(x) }
            let cls = try norm(x).reshaped([batch * length, width]).gatherRows((0..<batch).map { Int32($0 * length) })
            return try head(cls)
        }
    }

    /// Sequences of [CLS] then 7 tokens from 1…5; the label says whether 1 occurs more often than 2.
    static func batch(_ size: Int, seed: UInt64) -> (ids: [Int32], labels: [Int32]) {
        var random = SeededValues(seed: seed)
        var ids: [Int32] = [], labels: [Int32] = []
        for _ in 0..<size {
            let body = (1..<length).map { _ in Int32(1 + Int((random.next() + 1) / 2 * 5) % 5) }
            ids += [0] + body
            labels.append(body.filter { $0 == 1 }.count > body.filter { $0 == 2 }.count ? 1 : 0)
        }
        return (ids, labels)
    }

    /// Trains `steps` steps and returns the loss curve and the final test accuracy.
    static func train(on backend: any Backend, steps: Int) throws -> (losses: [Float], accuracy: Double) {
        let model = try Classifier(seed: 7, backend: backend)
        let optimizer = AdamW(parameters: model.parameters, learningRate: 3e-3, weightDecay: 0)
        var losses: [Float] = []
        for step in 0..<steps {
            let (ids, labels) = batch(64, seed: UInt64(1000 + step))
            let loss = try model(ids, batch: 64).crossEntropy(targets: labels)
            losses.append(try loss.values()[0])
            try loss.backward()
            try optimizer.update()
        }
        let (ids, labels) = batch(512, seed: 99)
        let logits = try Autograd.withoutGradients { try model(ids, batch: 512) }.values()
        let correct = (0..<512).filter { (logits[2 * $0 + 1] > logits[2 * $0] ? 1 : 0) == labels[$0] }.count
        return (losses, Double(correct) / 512)
    }

    @Test func parameterNamesAreStableAndDotted() throws {
        let names = try Classifier(seed: 1, backend: CPUBackend()).namedParameters.map(\.name)
        #expect(names.contains("layers.0.attention.query.weight"))
        #expect(names.contains("layers.1.mlp.down.bias"))
        #expect(Set(names).count == names.count)
    }

    @Test func learnsOnTheCPUPathReproducibly() throws {
        let first = try Self.train(on: CPUBackend(), steps: 300)
        #expect(first.accuracy >= 0.95, "test accuracy \(first.accuracy); loss \(first.losses.first!) → \(first.losses.last!)")
        let again = try Self.train(on: CPUBackend(), steps: 20)
        #expect(Array(first.losses.prefix(20)) == again.losses, "the same seed gives the same loss curve")
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun))
    func learnsOnOpenCLAndAgreesWithTheCPUPath() throws {
        let openCL = try Self.train(on: try TestBackends.freshOpenCL(.cpu), steps: 300)
        #expect(openCL.accuracy >= 0.95, "test accuracy \(openCL.accuracy); loss \(openCL.losses.first!) → \(openCL.losses.last!)")
        let cpu = try Self.train(on: CPUBackend(), steps: 20)
        let gap = zip(openCL.losses.prefix(20), cpu.losses).map { abs($0 - $1) }.max()!
        #expect(gap <= 1e-3, "largest loss difference over the first 20 steps: \(gap)")
    }
}

/// A thousand training steps reach a steady state: after the first steps no buffer is
/// allocated (the pool reuses the freed activations and gradients of the previous step), and
/// on OpenCL the objects of the backend's context stop growing and go when their owners go.
@Suite struct TrainingSteadyStateTests {
    @Test func thousandStepsStopAllocatingAndLeakNothingOnCPU() throws { try thousandStepsStopAllocatingAndLeakNothing(backend: "cpu") }
    @Test(.enabled(if: TestBackends.openCLShouldRun)) func thousandStepsStopAllocatingAndLeakNothingOnOpenCL() throws { try thousandStepsStopAllocatingAndLeakNothing(backend: "opencl") }
    func thousandStepsStopAllocatingAndLeakNothing(backend name: String) throws {
        let backend = try TestBackends.named(name, fresh: true)
        let openCL = backend as? OpenCLBackend
        var afterWarmUp = backend.pool.stats, objectsAfterWarmUp = openCL?.liveObjects
        do {
            let model = try TransformerClassifierTests.Classifier(seed: 3, backend: backend)
            let optimizer = AdamW(parameters: model.parameters, learningRate: 1e-3)
            for step in 0..<1000 {
                let (ids, labels) = TransformerClassifierTests.batch(8, seed: UInt64(step))
                try model(ids, batch: 8).crossEntropy(targets: labels).backward()
                try optimizer.update()
                if step == 4 { (afterWarmUp, objectsAfterWarmUp) = (backend.pool.stats, openCL?.liveObjects) }
            }
            let end = backend.pool.stats
            #expect(end.allocations == afterWarmUp.allocations, "allocations after step 5: \(afterWarmUp.allocations), after 1000: \(end.allocations)")
            #expect(end.bytesInUse == afterWarmUp.bytesInUse, "bytes in use grew from \(afterWarmUp.bytesInUse) to \(end.bytesInUse)")
            #expect(end.reuses > afterWarmUp.reuses)
            #expect(openCL?.liveObjects == objectsAfterWarmUp, "OpenCL objects after step 5: \(objectsAfterWarmUp ?? [:]), after 1000: \(openCL?.liveObjects ?? [:])")
        }
        // Model and optimizer gone: no buffer in use, and once the pool lets its cache go, no
        // OpenCL buffer or event is left; programs and kernels stay with the backend.
        backend.pool.trim()
        #expect(backend.pool.stats.bytesInUse == 0)
        if let objects = openCL?.liveObjects {
            #expect(objects[.memory] == 0 && objects[.event] == 0, "left after the run: \(objects)")
            #expect(objects[.queue] == 1 && objects[.program]! <= KernelProgram.allCases.count, "\(objects)")
            print("OpenCL objects after 1000 steps, model freed and pool trimmed: \(objects.sorted { $0.key.rawValue < $1.key.rawValue })")
        }
    }
}
