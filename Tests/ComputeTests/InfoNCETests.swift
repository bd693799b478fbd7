import Compute
import Foundation
import Testing
import TestSupport

/// InfoNCE losses on every backend and kernel variant against the dense float64 reference: the
/// three target kinds, three directions, grouped and ungrouped, N from 1 to 4096; loss, logits
/// and the gradients of a, b and the scale; stability at scale 100 with unnormalised inputs.
@Suite struct InfoNCETests {
    struct Case: CustomStringConvertible, Sendable {
        var groups: Int? = nil
        let n, m, d: Int
        var targets: InfoNCETargets = .diagonal
        var direction: InfoNCEDirection = .symmetric
        var scale: Float = 1 / 0.07
        var normalize = true
        var magnitude: Float = 1

        var description: String {
            "G\(groups.map(String.init) ?? "-") N\(n) M\(m) D\(d) \(targets) \(direction) s \(scale)\(normalize ? "" : " unnormalised") |x|~\(magnitude)"
        }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        for targets in InfoNCETargets.allCases {
            for direction in InfoNCEDirection.allCases {
                for groups in [nil, 3] {
                    for n in [1, 7, 33] {
                        let m = targets == .diagonal ? n : n + 4
                        cases.append(Case(groups: groups, n: n, m: m, d: 8, targets: targets, direction: direction))
                    }
                }
            }
            cases.append(Case(n: 256, m: targets == .diagonal ? 256 : 200, d: 32, targets: targets))
        }
        cases.append(Case(n: 1000, m: 1000, d: 16, direction: .rows, scale: 1))
        cases.append(Case(n: 1000, m: 990, d: 8, targets: .labels, direction: .columns, scale: 100))
        cases.append(Case(groups: 2, n: 5, m: 5, d: 64, scale: 100, normalize: false, magnitude: 1e3 / 4))
        cases.append(Case(n: 9, m: 6, d: 3, targets: .labels, scale: 1 / 0.01))
        return cases
    }()

    /// Both ways of forming the scores: tiles, and chunks of 4 rows (one partial chunk at N = 1,
    /// a short last chunk at N = 7 and 33).
    static let strategies: [InfoNCEScoreStrategy] = [.tiles, .chunks(rows: 4)]

    @Test(arguments: strategies)
    func cpuMatchesReference(strategy: InfoNCEScoreStrategy) throws {
        try checkParity(on: TestBackends.cpu, strategy: strategy)
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases, strategies)
    func openCLMatchesReference(variant: OpenCLTuning.Variant, strategy: InfoNCEScoreStrategy) throws {
        try checkParity(on: TestBackends.openCL(variant), strategy: strategy)
    }

    /// The largest case: N = M = 4096, against the reference loss and gradients, with tiles and
    /// with the chunks the automatic choice takes at this size.
    @Test(arguments: [InfoNCEScoreStrategy.tiles, .automatic])
    func largeBatchOnCPU(strategy: InfoNCEScoreStrategy) throws { try largeBatch(backend: "cpu", strategy: strategy) }
    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: [InfoNCEScoreStrategy.tiles, .automatic])
    func largeBatchOnOpenCL(strategy: InfoNCEScoreStrategy) throws { try largeBatch(backend: "opencl", strategy: strategy) }
    func largeBatch(backend name: String, strategy: InfoNCEScoreStrategy) throws {
        let backend = try TestBackends.named(name)
        try check(Case(n: 4096, m: 4096, d: 4), on: backend, seed: 99, strategy: strategy)
    }

    /// D past the OpenCL tile kernels' 512: OpenCL says it cannot run the tiles, runs the loss
    /// with GEMM-formed chunks instead (and the logits by GEMM), says so once, and matches the
    /// reference whichever strategy was asked for.
    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases)
    func dimensionPastTheTileKernelsRoutesToChunks(variant: OpenCLTuning.Variant) throws {
        let backend = try TestBackends.openCL(variant)
        var tiles = try InfoNCEDescriptor(rows: 9, columns: 9, dimension: 600, scale: 1 / 0.07)
        tiles.strategy = .tiles
        #expect(!backend.supports(tiles) && backend.unsupportedReason(tiles)?.contains("D up to 512, got 600") == true)
        var chunks = tiles
        chunks.strategy = .chunks(rows: 4)
        #expect(backend.supports(chunks) && TestBackends.cpu.supports(tiles))
        for strategy in [InfoNCEScoreStrategy.tiles, .automatic] {
            try check(Case(n: 9, m: 9, d: 600), on: backend, seed: 17, strategy: strategy)
        }
    }

    @Test func automaticStrategyChunksLargeScoreMatrices() throws {
        #expect(try InfoNCEDescriptor(rows: 256, columns: 256, dimension: 8, scale: 1).chunkRows == nil)
        #expect(try InfoNCEDescriptor(rows: 4096, columns: 4096, dimension: 8, scale: 1).chunkRows == 512)
        #expect(try InfoNCEDescriptor(groups: 64, rows: 512, columns: 512, dimension: 8, scale: 1).chunkRows == 64)
        var tiles = try InfoNCEDescriptor(rows: 4096, columns: 4096, dimension: 8, scale: 1)
        tiles.strategy = .tiles
        #expect(tiles.chunkRows == nil)
    }

    /// The reference gradients against central differences of the reference loss, for every
    /// target kind and direction; the CPU path against both.
    @Test(arguments: InfoNCETargets.allCases)
    func gradientsMatchFiniteDifferences(targets: InfoNCETargets) throws {
        for direction in InfoNCEDirection.allCases {
            let testCase = Case(groups: 2, n: 4, m: targets == .diagonal ? 4 : 5, d: 3, targets: targets, direction: direction, scale: 3)
            let (a, b, labelsA, labelsB, soft) = inputs(testCase, seed: 5)
            let reference = self.reference(testCase, labelsA: labelsA, labelsB: labelsB, soft: soft)
            let (a64, b64) = (a.map(Double.init), b.map(Double.init))
            let analytic = reference.gradients(a: a64, b: b64)
            let one = [1.0]
            let numericA = finiteDifferenceGradient(of: { [reference.loss(a: $0, b: b64)] }, at: a64, weights: one)
            let numericB = finiteDifferenceGradient(of: { [reference.loss(a: a64, b: $0)] }, at: b64, weights: one)
            let numericScale = finiteDifferenceGradient(of: { [reference.loss(a: a64, b: b64, scale: $0[0])] }, at: [Double(testCase.scale)], weights: one)
            let label = "\(testCase)"
            #expect(normwiseError(analytic.da, numericA) <= 1e-6, "reference d/da \(label)")
            #expect(normwiseError(analytic.db, numericB) <= 1e-6, "reference d/db \(label)")
            #expect(abs(analytic.dscale - numericScale[0]) <= 1e-6 * max(1, abs(numericScale[0])), "reference d/ds \(label)")

            for strategy in [InfoNCEScoreStrategy.tiles, .chunks(rows: 3)] {
                let result = try run(testCase, on: TestBackends.cpu, a: a, b: b, labelsA: labelsA, labelsB: labelsB, soft: soft, strategy: strategy)
                #expect(normwiseError(result.gradA!.values, numericA) <= 1e-4, "cpu d/da \(strategy) \(label)")
                #expect(normwiseError(result.gradB!.values, numericB) <= 1e-4, "cpu d/db \(strategy) \(label)")
                #expect(abs(result.gradScale! - numericScale[0]) <= 1e-4 * max(1, abs(numericScale[0])), "cpu d/ds \(strategy) \(label)")
            }
        }
    }

    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: OpenCLTuning.Variant.allCases)
    func mutualInformationOnOpenCL(variant: OpenCLTuning.Variant) throws {
        try checkMutualInformation(on: TestBackends.openCL(variant))
    }

    @Test func mutualInformationOnCPU() throws {
        try checkMutualInformation(on: TestBackends.cpu)
    }

    /// N = M = 4096 forward and backward without the logits: the pool never holds an N×N matrix,
    /// with tiles or with the automatic choice (chunks of 512 rows).
    @Test(arguments: [InfoNCEScoreStrategy.tiles, .automatic])
    func largeBatchNeedsNoSquareMatrixOnCPU(strategy: InfoNCEScoreStrategy) throws { try largeBatchNeedsNoSquareMatrix(backend: "cpu", strategy: strategy) }
    @Test(.enabled(if: TestBackends.openCLShouldRun), arguments: [InfoNCEScoreStrategy.tiles, .automatic])
    func largeBatchNeedsNoSquareMatrixOnOpenCL(strategy: InfoNCEScoreStrategy) throws { try largeBatchNeedsNoSquareMatrix(backend: "opencl", strategy: strategy) }
    func largeBatchNeedsNoSquareMatrix(backend name: String, strategy: InfoNCEScoreStrategy) throws {
        let backend = try TestBackends.named(name, fresh: true)
        let (n, d) = (4096, 256)
        var descriptor = try InfoNCEDescriptor(rows: n, columns: n, dimension: d, scale: 1 / 0.07)
        descriptor.strategy = strategy
        let inputs = InfoNCEInputs(a: try backend.makeBuffer(SeededValues.values(n * d, seed: 1)), b: try backend.makeBuffer(SeededValues.values(n * d, seed: 2)))
        let gradA = try backend.makeBuffer(count: n * d), gradB = try backend.makeBuffer(count: n * d)
        backend.pool.resetHighWater()
        let before = backend.pool.stats.bytesInUse
        let (loss, state) = try backend.infoNCEForward(descriptor, inputs)
        let gradScale = try backend.infoNCEBackward(descriptor, inputs, state: state, gradA: gradA, gradB: gradB)
        let peak = backend.pool.stats.highWaterBytes
        #expect(try backend.read(loss)[0].isFinite && backend.read(gradScale)[0].isFinite)
        // Inputs and gradients (4 × N·D floats) plus the normalised copies and their gradients.
        #expect(peak < n * n * 4, "pool high water \(peak) bytes (\(before) for inputs and gradients) against \(n * n * 4) for one N×N matrix")
    }

    private func inputs(_ c: Case, seed: UInt64) -> ([Float], [Float], [Float]?, [Float]?, [Float]?) {
        var random = SeededValues(seed: seed)
        let g = c.groups ?? 1
        let a = random.array(g * c.n * c.d, scale: c.magnitude), b = random.array(g * c.m * c.d, scale: c.magnitude)
        switch c.targets {
        case .diagonal: return (a, b, nil, nil, nil)
        case .labels:
            // Few classes so rows share labels; label 7 appears only in b (a column no row matches),
            // and the last row of a has a label absent from b.
            var labelsA = (0..<c.n).map { _ in Float(Int((random.next() + 1) * 2)) }
            let labelsB = (0..<c.m).map { j in j == c.m - 1 ? Float(7) : Float(Int((random.next() + 1) * 2)) }
            if c.n > 2 { labelsA[c.n - 1] = 9 }
            return (a, b, labelsA, labelsB, nil)
        case .soft:
            var soft = (0..<(c.n * c.m)).map { _ in max(random.next(), 0) }
            for i in 0..<c.n {
                let sum = soft[(i * c.m)..<((i + 1) * c.m)].reduce(0, +)
                for j in 0..<c.m { soft[i * c.m + j] = sum > 0 ? soft[i * c.m + j] / sum : 1 / Float(c.m) }
            }
            return (a, b, nil, nil, soft)
        }
    }

    private func reference(_ c: Case, labelsA: [Float]?, labelsB: [Float]?, soft: [Float]?) -> InfoNCEReference {
        InfoNCEReference(groups: c.groups ?? 1, rows: c.n, columns: c.m, dimension: c.d, scale: Double(c.scale), normalizes: c.normalize,
                         targets: c.targets, labelsA: labelsA?.map(Double.init), labelsB: labelsB?.map(Double.init),
                         softTargets: soft?.map(Double.init), direction: c.direction)
    }

    private func run(_ c: Case, on backend: any Backend, a: [Float], b: [Float], labelsA: [Float]?, labelsB: [Float]?, soft: [Float]?,
                     strategy: InfoNCEScoreStrategy) throws -> InfoNCEResult {
        let prefix = c.groups.map { [$0] } ?? []
        return try Operations(backend: backend).infoNCE(
            a: HostArray(shape: prefix + [c.n, c.d], values: a), b: HostArray(shape: prefix + [c.m, c.d], values: b), scale: c.scale,
            normalize: c.normalize, targets: c.targets, labelsA: labelsA.map { HostArray(shape: [c.n], values: $0) },
            labelsB: labelsB.map { HostArray(shape: [c.m], values: $0) }, softTargets: soft.map { HostArray(shape: [c.n, c.m], values: $0) },
            direction: c.direction, strategy: strategy, logits: true, gradients: true)
    }

    private func check(_ testCase: Case, on backend: any Backend, seed: UInt64, strategy: InfoNCEScoreStrategy) throws {
        let (a, b, labelsA, labelsB, soft) = inputs(testCase, seed: seed)
        let reference = self.reference(testCase, labelsA: labelsA, labelsB: labelsB, soft: soft)
        let (a64, b64) = (a.map(Double.init), b.map(Double.init))
        let result = try run(testCase, on: backend, a: a, b: b, labelsA: labelsA, labelsB: labelsB, soft: soft, strategy: strategy)
        let logits = reference.logits(a: a64, b: b64)
        let expectedLoss = reference.loss(a: a64, b: b64)
        let gradients = reference.gradients(a: a64, b: b64)
        let label = "\(backend.summary) \(strategy) \(testCase)"
        // The loss is a difference of log-sum-exps of scores up to max|S|: compare at that scale.
        let scoreScale = max(1, logits.map(abs).max() ?? 1)
        #expect(abs(result.loss - expectedLoss) <= 1e-4 * max(abs(expectedLoss), scoreScale / 100), "loss \(result.loss) vs \(expectedLoss) \(label)")
        #expect(normwiseError(result.logits!.values, logits) <= 1e-4, "logits \(label)")
        #expect(normwiseError(result.gradA!.values, gradients.da) <= 1e-4, "grad_a \(label)")
        #expect(normwiseError(result.gradB!.values, gradients.db) <= 1e-4, "grad_b \(label)")
        #expect(abs(result.gradScale! - gradients.dscale) <= 1e-4 * max(1, abs(gradients.dscale)), "grad_scale \(result.gradScale!) vs \(gradients.dscale) \(label)")
    }

    private func checkParity(on backend: any Backend, strategy: InfoNCEScoreStrategy) throws {
        for (index, testCase) in Self.cases.enumerated() { try check(testCase, on: backend, seed: UInt64(index + 1), strategy: strategy) }
    }

    private func checkMutualInformation(on backend: any Backend) throws {
        var random = SeededValues(seed: 31)
        for estimator in MutualInformationDescriptor.Estimator.allCases {
            for n in estimator == .infoNCE ? [1, 2, 7, 17] : [2, 7, 17] {
                let g = 3
                let scores = random.array(g * n * n, scale: 5), upstream = random.array(g)
                let (bounds, gradScores) = try Operations(backend: backend).mutualInformation(
                    scores: HostArray(shape: [g, n, n], values: scores), estimator: estimator, gradBounds: HostArray(shape: [g], values: upstream))
                let f64 = scores.map(Double.init)
                let expected = referenceMutualInformation(f64, groups: g, size: n, estimator: estimator)
                let numeric = finiteDifferenceGradient(of: { referenceMutualInformation($0, groups: g, size: n, estimator: estimator) }, at: f64,
                                                       weights: upstream.map(Double.init))
                let label = "\(backend.summary) \(estimator) N\(n)"
                #expect(normwiseError(bounds.values, expected) <= 1e-4, "bound \(label)")
                #expect(normwiseError(gradScores!.values, numeric) <= 1e-4, "gradient \(label)")
            }
        }
    }
}
