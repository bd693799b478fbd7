/// The tiles of the GPU-class matrix kernels, chosen from the device's limits and the shapes.
/// Each reaches its kernel file as `-D` options; a program is built per tile (and head width).

/// Tiles a program is built for: kernels are cached by their value, and `buildOptions` is
/// formed only when a program is built (not on every launch).
protocol KernelTiles: Hashable {
    var buildOptions: String { get }
}

/// The work-group and register tile of `gemm_gpu` (`Kernels/gemm_gpu.cl`): a work-group of
/// `itemsM × itemsN` work-items computes a `rows × columns` tile of C, walking K in slices of
/// `depth` staged through `__local` memory; each work-item holds
/// `(rows / itemsM) × (columns / itemsN)` outputs in registers.
public struct GEMMTile: Sendable, Codable, KernelTiles, CustomStringConvertible {
    public var rows: Int, columns: Int, depth: Int
    public var itemsM: Int, itemsN: Int
    /// Vector width of a work-item's rows and columns (1, 2 or 4).
    public var vectorM: Int, vectorN: Int
    /// `__local` row padding in floats, against bank conflicts of the transposed staging.
    public var padding = 4

    public init(rows: Int, columns: Int, depth: Int, itemsM: Int, itemsN: Int, vectorM: Int, vectorN: Int, padding: Int = 4) {
        (self.rows, self.columns, self.depth, self.itemsM, self.itemsN) = (rows, columns, depth, itemsM, itemsN)
        (self.vectorM, self.vectorN, self.padding) = (vectorM, vectorN, padding)
    }

    /// 64×64×16, 16×16 work-items of 4×4 outputs, 8.5 KiB: fits the smallest GPUs (32 KiB,
    /// 256 work-items) and register files of ~64 accumulators (Mali, Adreno, Intel).
    public static let standard = GEMMTile(rows: 64, columns: 64, depth: 16, itemsM: 16, itemsN: 16, vectorM: 4, vectorN: 4)
    /// 128×128×16, 16×16 work-items of 8×8 outputs, 16.5 KiB: half the `__local` loads per
    /// FMA of `standard` (0.25 against 0.5), for GPUs with large register files (NVIDIA, AMD).
    public static let large = GEMMTile(rows: 128, columns: 128, depth: 16, itemsM: 16, itemsN: 16, vectorM: 4, vectorN: 4)

    public var workGroupSize: Int { itemsM * itemsN }

    /// The same register tile over fewer work-items, for devices whose work-groups are smaller.
    func halvingWorkItems() -> GEMMTile {
        var tile = self
        if tile.itemsM >= tile.itemsN { tile.itemsM /= 2; tile.rows /= 2 } else { tile.itemsN /= 2; tile.columns /= 2 }
        return tile
    }

    var buildOptions: String {
        "-D GEMM_MWG=\(rows) -D GEMM_NWG=\(columns) -D GEMM_KWG=\(depth) -D GEMM_MDIMC=\(itemsM) -D GEMM_NDIMC=\(itemsN)"
            + " -D GEMM_VWM=\(vectorM) -D GEMM_VWN=\(vectorN) -D GEMM_PAD=\(padding)"
    }

    public var description: String {
        "\(rows)×\(columns)×\(depth), \(workGroupSize) work-items of \(rows / itemsM)×\(columns / itemsN)"
    }
}

/// The tiles of the FlashAttention-2-shaped kernels of `Kernels/attention_gpu.cl` for one
/// head-width bucket: `__local` rows are padded to `headWidth`, so tiles shrink as it grows.
public struct AttentionTiles: Sendable, KernelTiles {
    /// A work-group owns `owned` rows (queries; keys for dk/dv) and walks tiles of `walked`
    /// rows of the other side; a work-item holds `ownedPerItem × walkedPerItem` scores.
    public struct Block: Sendable, Hashable {
        public var owned: Int, walked: Int, ownedPerItem: Int, walkedPerItem: Int
        public var workGroupSize: Int { (owned / ownedPerItem) * (walked / walkedPerItem) }
    }

    /// The padded head width (a multiple of 16 ≥ max(D, Dv)).
    public var headWidth: Int
    public var forward: Block, gradQ: Block, gradKV: Block
    /// Work-group of the `delta` kernel and the work-items summing one row of it.
    public var deltaWorkGroup = 256, deltaItemsPerRow = 16

    /// The widest head the kernels take: wider rows leave no room for useful tiles in 32 KiB.
    public static let maximumHeadWidth = 256
    static let buckets = [16, 32, 64, 128, 256]

    /// The tiles for heads of width `width` on a device with `limits`: the 48 KiB row where the
    /// device has that much `__local` memory and work-groups of 128, else rows that fit 32 KiB
    /// and 256 work-items (each ≤ 30 KiB, ≤ ~64 accumulators per work-item). Nil when the head
    /// is wider than `maximumHeadWidth`.
    public static func pick(headWidth width: Int, limits: DeviceLimits) -> AttentionTiles? {
        guard let bucket = buckets.first(where: { $0 >= width }) else { return nil }
        let large = limits.localMemoryBytes >= 48 * 1024 && limits.maxWorkGroupSize >= 128
        func b(_ o: Int, _ w: Int, _ ro: Int, _ rw: Int) -> Block { Block(owned: o, walked: w, ownedPerItem: ro, walkedPerItem: rw) }
        var tiles: AttentionTiles
        switch (bucket, large) {
        case (16, false): tiles = AttentionTiles(headWidth: 16, forward: b(64, 32, 4, 2), gradQ: b(64, 32, 4, 4), gradKV: b(32, 32, 4, 4))
        case (32, false): tiles = AttentionTiles(headWidth: 32, forward: b(64, 32, 4, 4), gradQ: b(64, 16, 4, 2), gradKV: b(32, 32, 4, 4))
        case (64, false): tiles = AttentionTiles(headWidth: 64, forward: b(32, 32, 4, 4), gradQ: b(32, 16, 4, 2), gradKV: b(16, 24, 2, 3))
        case (128, false): tiles = AttentionTiles(headWidth: 128, forward: b(32, 16, 4, 2), gradQ: b(16, 8, 2, 1), gradKV: b(16, 8, 2, 1))
        case (_, false): tiles = AttentionTiles(headWidth: 256, forward: b(16, 8, 2, 1), gradQ: b(4, 8, 1, 1), gradKV: b(4, 8, 1, 1))
        case (16, true): tiles = AttentionTiles(headWidth: 16, forward: b(128, 32, 8, 4), gradQ: b(128, 16, 8, 2), gradKV: b(128, 16, 8, 2))
        case (32, true): tiles = AttentionTiles(headWidth: 32, forward: b(128, 16, 8, 2), gradQ: b(64, 32, 4, 4), gradKV: b(64, 32, 8, 2))
        case (64, true): tiles = AttentionTiles(headWidth: 64, forward: b(64, 32, 8, 2), gradQ: b(32, 32, 8, 2), gradKV: b(32, 32, 8, 2))
        case (128, true): tiles = AttentionTiles(headWidth: 128, forward: b(32, 32, 8, 2), gradQ: b(16, 16, 4, 2), gradKV: b(8, 32, 4, 2))
        case (_, true): tiles = AttentionTiles(headWidth: 256, forward: b(16, 16, 4, 1), gradQ: b(8, 8, 2, 1), gradKV: b(8, 8, 1, 1))
        }
        tiles.deltaWorkGroup = limits.largestPowerOfTwoWorkGroup(atMost: 256)
        tiles.deltaItemsPerRow = min(16, tiles.deltaWorkGroup)
        return tiles
    }

    var buildOptions: String {
        func block(_ prefix: String, _ block: Block, ownedName: String, walkedName: String) -> String {
            let (o, w) = (ownedName, walkedName)
            return " -D ATTN_\(prefix)_B\(o)=\(block.owned) -D ATTN_\(prefix)_B\(w)=\(block.walked)"
                + " -D ATTN_\(prefix)_R\(o)=\(block.ownedPerItem) -D ATTN_\(prefix)_R\(w)=\(block.walkedPerItem)"
        }
        return "-D ATTN_DP=\(headWidth)" + block("F", forward, ownedName: "Q", walkedName: "K")
            + block("Q", gradQ, ownedName: "Q", walkedName: "K") + block("KV", gradKV, ownedName: "K", walkedName: "Q")
            + " -D ATTN_DG_WG=\(deltaWorkGroup) -D ATTN_DG_TPR=\(deltaItemsPerRow)"
    }
}

/// The work-groups of the GPU-class InfoNCE kernels (`Kernels/infonce_gpu.cl`,
/// `infonce_chunks_gpu.cl`): `tileColumns × tileRows` work-items of `registerRows ×
/// registerColumns` scores for the similarity tiles, `rowLanes × rowsPerGroup` for row
/// reductions, `columnLanes × columnRowLanes` for the chunked column statistics.
public struct InfoNCETiles: Sendable, Hashable {
    public var tileColumns = 16, tileRows = 16, registerRows = 4, registerColumns = 4
    /// D slice staged in `__local`, and the rows of y staged per step of the backward's dS·Y.
    public var dimensionSlice = 16, stagedRows = 4
    public var rowLanes = 32, rowsPerGroup = 8
    public var columnLanes = 32, columnRowLanes = 8
    public var labelGroup = 128

    /// Rows and columns of one similarity tile.
    public var blockRows: Int { tileRows * registerRows }
    public var blockColumns: Int { tileColumns * registerColumns }

    /// Work-groups of 256 where the device allows them (64 and fewer lanes otherwise), with
    /// twice the D slice where it has 48 KiB of `__local` memory (backward 33 KB, not 25).
    public static func pick(limits: DeviceLimits) -> InfoNCETiles {
        var tiles = InfoNCETiles()
        let group = limits.largestPowerOfTwoWorkGroup(atMost: 256)
        if group < 256 {
            (tiles.tileColumns, tiles.tileRows) = (8, max(1, group / 8))
            tiles.rowLanes = min(32, group)
            tiles.rowsPerGroup = group / tiles.rowLanes
            (tiles.columnLanes, tiles.columnRowLanes) = (tiles.rowLanes, tiles.rowsPerGroup)
        }
        tiles.labelGroup = min(group, limits.localMemoryBytes >= 48 * 1024 ? 256 : 128)
        if limits.localMemoryBytes >= 48 * 1024 { (tiles.dimensionSlice, tiles.stagedRows) = (32, 8) }
        return tiles
    }

    var buildOptions: String {
        "-D NCG_TX=\(tileColumns) -D NCG_TY=\(tileRows) -D NCG_WM=\(registerRows) -D NCG_WN=\(registerColumns)"
            + " -D NCG_DK=\(dimensionSlice) -D NCG_CK=\(stagedRows) -D NCG_RL=\(rowLanes)"
            + " -D NCG_RR=\(rowsPerGroup) -D NCG_CL=\(columnLanes) -D NCG_CR=\(columnRowLanes) -D NCG_LW=\(labelGroup)"
    }
}

extension GEMMTile {
    /// `__local` bytes of the A and B slices a work-group stages (padded rows).
    public var localBytes: Int { 4 * depth * (rows + padding + columns + padding) }

    /// Tile lists `aligncl tune` tries for the GPU variant's GEMM.
    public static let tuningCandidates: [[GEMMTile]] = {
        let narrow = GEMMTile(rows: 32, columns: 32, depth: 16, itemsM: 8, itemsN: 8, vectorM: 4, vectorN: 4)
        let deep = GEMMTile(rows: 64, columns: 64, depth: 32, itemsM: 16, itemsN: 16, vectorM: 4, vectorN: 4)
        let wide = GEMMTile(rows: 64, columns: 128, depth: 16, itemsM: 16, itemsN: 16, vectorM: 4, vectorN: 4)
        // The standard tile with 2-wide vectors: some GPUs (Mali, older Intel) load float2 better.
        let pairs = GEMMTile(rows: 64, columns: 64, depth: 16, itemsM: 16, itemsN: 16, vectorM: 2, vectorN: 2)
        return [[.standard], [.large, .standard], [deep], [wide, .standard], [narrow], [.standard, narrow], [pairs]]
    }()
}
