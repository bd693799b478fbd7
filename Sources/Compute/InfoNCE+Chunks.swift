/// How an InfoNCE loss forms its scores. Neither way ever holds the `N×M` matrix.
public enum InfoNCEScoreStrategy: Sendable, Equatable {
    /// Chunks when the score matrix is large, tiles when it is small.
    case automatic
    /// Kernels that form score tiles in registers and recompute them for each direction and for
    /// the backward: no score storage and few launches, but the forward and the backward each
    /// repeat the multiply-adds of the scores.
    case tiles
    /// Scores formed by GEMM, `rows` rows of a (in every group) at a time, into `[G, rows, M]`
    /// scratch: each score is formed once by the forward and once by the backward, at GEMM speed.
    case chunks(rows: Int)
}

/// The unscaled scores `â_r·b̂_c` of rows `start..<start + count` of a (every group) against all
/// of b, `[G, count, M]`, with the targets the chunk kernels read.
public struct InfoNCEScoreChunk: Sendable {
    public let start: Int
    public let count: Int
    public let scores: Buffer
    public let labelsA: Buffer?
    public let labelsB: Buffer?
    public let softTargets: Buffer?
    /// Labels targets: each row's and each column's uniform target weight (`infoNCELabelWeights`).
    public let rowWeights: Buffer?
    public let columnWeights: Buffer?
}

extension InfoNCEDescriptor {
    /// From this many scores (G·N·M) up, chunks beat tiles on PoCL and on the CPU path; below,
    /// their extra launches and copies cost more than the multiply-adds they save.
    static let automaticChunkThreshold = 1 << 20
    /// Scores per chunk (8 MiB of float32): larger chunks make larger GEMMs, and b̂ is packed
    /// once per chunk; 512 rows at M = 4096 ran 7 % faster than 256, and the peak memory of
    /// N = M = 4096, D = 256 stays below one N×N matrix.
    static let automaticChunkScores = 1 << 21

    /// Rows of a per chunk, or nil for the tile kernels.
    public var chunkRows: Int? {
        switch strategy {
        case .tiles: return nil
        case .chunks(let count): return max(1, min(count, rows))
        case .automatic:
            let scoresPerRow = groups * columns
            guard scoresPerRow * rows >= Self.automaticChunkThreshold else { return nil }
            return min(rows, max(16, Self.automaticChunkScores / scoresPerRow))
        }
    }
}

extension Backend {
    /// The forward's statistics from chunks of scores: one GEMM per chunk, then its rows'
    /// statistics and its contribution to the running column statistics.
    func infoNCEChunkedStatistics(_ descriptor: InfoNCEDescriptor, _ inputs: InfoNCEInputs, normalizedA: Buffer, normalizedB: Buffer,
                                  chunkRows: Int) throws -> (rows: InfoNCEStatistics?, columns: InfoNCEStatistics?) {
        let (g, n, m) = (descriptor.groups, descriptor.rows, descriptor.columns)
        let rowStatistics = descriptor.usesRows ? try makeStatistics(count: g * n) : nil
        let columnStatistics = descriptor.usesColumns ? try makeStatistics(count: g * m) : nil
        let running = descriptor.usesColumns ? (maximum: try makeBuffer(count: g * m), sum: try makeBuffer(count: g * m)) : nil
        try forEachScoreChunk(descriptor, inputs, normalizedA: normalizedA, normalizedB: normalizedB, chunkRows: chunkRows) { chunk, _ in
            if let rowStatistics { try infoNCEChunkRowStatistics(descriptor, chunk, statistics: rowStatistics) }
            if let columnStatistics, let running {
                try infoNCEChunkColumnStatistics(descriptor, chunk, runningMaximum: running.maximum, runningSum: running.sum,
                                                 statistics: columnStatistics)
            }
        }
        return (rowStatistics, columnStatistics)
    }

    /// The gradients with respect to the normalised rows from chunks of scores: each chunk's
    /// scores become `s·dS`, then `grad â_chunk = s·dS·b̂` and `grad b̂ += (s·dS)ᵀ·â_chunk`.
    func infoNCEChunkedGradients(_ descriptor: InfoNCEDescriptor, _ inputs: InfoNCEInputs, state: InfoNCEState, chunkRows: Int,
                                 rows: InfoNCEStatistics, columns: InfoNCEStatistics, rowCoefficient: Float, columnCoefficient: Float,
                                 gradNormalizedA: Buffer, gradNormalizedB: Buffer, gradScalePartial: Buffer) throws {
        let (g, n, m, d) = (descriptor.groups, descriptor.rows, descriptor.columns, descriptor.dimension)
        let single = chunkRows >= n
        let gradAChunk = single ? gradNormalizedA : try makeBuffer(count: g * chunkRows * d)
        let gradBPart = single ? gradNormalizedB : try makeBuffer(count: g * m * d)
        try forEachScoreChunk(descriptor, inputs, normalizedA: state.normalizedA, normalizedB: state.normalizedB,
                              chunkRows: chunkRows) { chunk, aChunk in
            try infoNCEChunkGradient(descriptor, chunk, rows: rows, columns: columns, rowCoefficient: rowCoefficient,
                                     columnCoefficient: columnCoefficient, gradScalePartial: gradScalePartial)
            let count = chunk.count
            try gemm(GEMMDescriptor(batch: g, m: count, n: d, k: m, isBatched: true), a: chunk.scores, b: state.normalizedB, c: gradAChunk)
            if !single {
                try copyBlocks(gradAChunk, to: gradNormalizedA, BlockCopy(blocks: g, blockLength: count * d, sourceStride: count * d,
                                                                          destinationOffset: chunk.start * d, destinationStride: n * d))
            }
            // The first chunk writes grad b̂, the others add to it.
            let first = chunk.start == 0
            try gemm(GEMMDescriptor(batch: g, m: m, n: d, k: count, transposeA: true, isBatched: true), a: chunk.scores, b: aChunk,
                     c: first ? gradNormalizedB : gradBPart)
            if !first { try accumulate(gradBPart, into: gradNormalizedB, count: g * m * d) }
        }
    }

    /// Forms each chunk's scores (`[G, count, M]`, by GEMM against all of b̂) and hands it to
    /// `body` with the chunk's rows of â (`[G, count, D]`), in row order.
    private func forEachScoreChunk(_ descriptor: InfoNCEDescriptor, _ inputs: InfoNCEInputs, normalizedA: Buffer, normalizedB: Buffer,
                                   chunkRows: Int, _ body: (InfoNCEScoreChunk, Buffer) throws -> Void) throws {
        let (g, n, m, d) = (descriptor.groups, descriptor.rows, descriptor.columns, descriptor.dimension)
        let single = chunkRows >= n
        let scores = try makeBuffer(count: g * min(chunkRows, n) * m)
        let aChunk = single ? normalizedA : try makeBuffer(count: g * chunkRows * d)
        var weights: (rows: Buffer, columns: Buffer)?
        if descriptor.targets == .labels, let labelsA = inputs.labelsA, let labelsB = inputs.labelsB {
            let rows = try makeBuffer(count: n), columns = try makeBuffer(count: m)
            try infoNCELabelWeights(own: labelsA, ownCount: n, other: labelsB, otherCount: m, weights: rows)
            try infoNCELabelWeights(own: labelsB, ownCount: m, other: labelsA, otherCount: n, weights: columns)
            weights = (rows, columns)
        }
        // Every chunk multiplies by b̂, which no step changes: packed once per use, not per chunk.
        try withUnchangedOperand(normalizedB) {
            for start in stride(from: 0, to: n, by: chunkRows) {
                let count = min(chunkRows, n - start)
                if !single {
                    try copyBlocks(normalizedA, to: aChunk, BlockCopy(blocks: g, blockLength: count * d, sourceOffset: start * d, sourceStride: n * d,
                                                                      destinationStride: count * d))
                }
                try gemm(GEMMDescriptor(batch: g, m: count, n: m, k: d, transposeB: true, isBatched: true), a: aChunk, b: normalizedB, c: scores)
                try body(InfoNCEScoreChunk(start: start, count: count, scores: scores, labelsA: inputs.labelsA, labelsB: inputs.labelsB,
                                           softTargets: inputs.softTargets, rowWeights: weights?.rows, columnWeights: weights?.columns), aChunk)
            }
        }
    }

    func makeStatistics(count: Int) throws -> InfoNCEStatistics {
        InfoNCEStatistics(logSumExp: try makeBuffer(count: count), targetDot: try makeBuffer(count: count),
                          targetMass: try makeBuffer(count: count))
    }
}
