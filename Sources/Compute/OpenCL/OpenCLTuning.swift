import CLRuntime

/// Which kernel shapes run on a device, with their parameters: the one typed place where they
/// are chosen. They reach the kernels as `-D` build options.
public struct OpenCLTuning: Sendable, Equatable {
    /// The family of kernel shapes.
    public enum Variant: String, Sendable, CaseIterable {
        /// For CPU devices (PoCL): work-items that each compute a large block with vector loads,
        /// no `__local` memory and no barriers (which cost ~8× on PoCL).
        case cpu
        /// For GPUs: `__local` tiles and work-group reductions.
        case gpu
    }

    public var variant: Variant
    /// GEMM micro-tile (CPU variant): `gemmMicroRows × gemmMicroColumns` of C held in vector
    /// registers over the K loop. 6×16 fits the 16 AVX2 registers PoCL targets on x86; a larger
    /// tile spills (8×32 ran at 58 GFLOP/s against 117–136 for 6×16 at 1024³).
    public var gemmMicroRows = 6
    /// A multiple of 16 (the kernel works in `float16` vectors).
    public var gemmMicroColumns = 16
    /// Micro-tiles each work-item computes along M and N: fewer, longer work-items amortise
    /// PoCL's per-work-item overhead and reuse the B panel from cache.
    public var gemmTilesPerItemM = 16
    public var gemmTilesPerItemN = 1
    /// K slice of the micro-kernel (no slicing up to this K).
    public var gemmKSlice = 4096
    /// Up to this N, an A stored `[M, K]` is read in place instead of packed: a packed panel
    /// would serve only N/16 B panels, too few to repay the extra pass over A (the skinny
    /// GEMMs of a training step ran 1.1–1.4× faster); above it, packing wins (2048³: 10–15 %).
    public var gemmDirectMaximumN = 256
    /// GEMM tiles (GPU variant), preferred first: a shape takes the first whose work-groups
    /// fill the device (see `gemmTile(m:n:batch:computeUnits:)`), else the last.
    public var gemmTiles: [GEMMTile] = [.standard]
    /// Softmax rows per work-group (CPU variant: one work-item per row).
    public var softmaxRowsPerGroup = 8
    /// Work-group of the GPU variant's row reductions (softmax, layer norm, cross-entropy, KL:
    /// a work-group per row), a power of two.
    public var rowWorkGroup = 256

    /// Attention (CPU variant): keys per block of the forward and dq kernels, queries per block
    /// of the dk/dv kernel, and outputs per register tile (6 × 16 lanes fills 15 of the 16 AVX2
    /// registers; 4 and 5 ran 10–15 % slower).
    public var attentionKeyBlock = 48
    public var attentionQueryBlock = 48
    public var attentionRegisterTile = 6
    /// The largest D and Dv the attention kernels take (private arrays are sized by it).
    public var attentionMaximumHeadDimension = 256
    /// Work-group size of the attention `delta` kernel (CPU variant).
    public var attentionDeltaWorkGroup = 64

    /// InfoNCE (CPU variant): columns per block, outputs per register tile, and panels of 16
    /// rows each work-item owns (2 ran like 1; 4 was slower and needs more private memory).
    public var infoNCEColumnBlock = 96
    public var infoNCERegisterTile = 6
    public var infoNCERowPanels = 1
    /// The largest D the InfoNCE kernels take (private arrays are sized by it).
    public var infoNCEMaximumDimension = 512
    /// Work-group size of the element-wise InfoNCE and mutual-information kernels.
    public var infoNCEElementGroup = 8
    /// InfoNCE (GPU variant): the work-groups and tiles.
    public var infoNCETiles = InfoNCETiles()

    /// Rows each work-item of the layer-norm backward sums into its partial weight/bias gradients.
    public var layerNormRowChunk = 16
    /// Columns per work-group of the GPU variant's layer-norm gradient reduction: 32 floats are
    /// one 128-byte line per row of partials.
    public var layerNormReduceColumns = 32
    /// Consecutive elements each work-item of the elementwise kernels (GELU, AdamW) owns.
    public var elementsPerItem = 256

    /// Consecutive floats each work-item of `elementwise.cl` owns, rows per work-item of its
    /// bias add, and rows per partial sum of its column sums.
    public var elementwiseItems = 1024
    public var biasRowsPerItem = 8
    public var columnSumRowChunk = 64
    /// Ids per work-item of the embedding gather.
    public var embeddingRowsPerItem = 8
    /// GPU variant: the work-group of the 1-D elementwise kernels (a `float4` per work-item),
    /// and the 2-D one of bias add, column sums and embeddings (`planeGroupColumns` consecutive
    /// columns: one 128-byte line per row).
    public var elementGroup = 256
    public var planeGroupColumns = 32
    public var planeGroupRows = 8

    /// The device limits the GPU-class parameters were derived from.
    public let limits: DeviceLimits
    /// The families whose parameters came from `aligncl tune` (empty: all defaults).
    public var tunedFamilies: [String] = []

    /// - Parameters:
    ///   - limits: the device's limits; by default the smallest a conformant GPU may have.
    public init(variant: Variant, limits: DeviceLimits = .smallestGPU) {
        self.variant = variant
        self.limits = limits
        // Work-groups of at most 256 (the floor GPUs offer), a power of two for the tree
        // reductions, never above what the device allows.
        rowWorkGroup = limits.largestPowerOfTwoWorkGroup(atMost: 256)
        layerNormReduceColumns = min(32, rowWorkGroup)
        elementGroup = rowWorkGroup
        planeGroupColumns = min(32, rowWorkGroup)
        planeGroupRows = rowWorkGroup / planeGroupColumns
        gemmTiles = Self.gemmTiles(for: limits)
        infoNCETiles = InfoNCETiles.pick(limits: limits)
    }

    /// 8×8 register tiles where the device looks like a discrete NVIDIA or AMD GPU (48 KiB or
    /// more of `__local` memory, work-groups of 1,024), with the 4×4 tile for shapes too small
    /// to fill it; the 4×4 tile elsewhere, over fewer work-items where work-groups are smaller.
    static func gemmTiles(for limits: DeviceLimits) -> [GEMMTile] {
        var tiles = limits.localMemoryBytes >= 48 * 1024 && limits.maxWorkGroupSize >= 1024 ? [GEMMTile.large, .standard] : [.standard]
        tiles = tiles.map { tile in
            var tile = tile
            while tile.workGroupSize > limits.maxWorkGroupSize && tile.workGroupSize > 1 { tile = tile.halvingWorkItems() }
            return tile
        }
        return tiles
    }

    /// The GEMM tile for an `m × n` product (`batch` of them): the first of `gemmTiles` with
    /// at least two work-groups per compute unit, else the last (the smallest).
    func gemmTile(m: Int, n: Int, batch: Int, computeUnits: Int) -> GEMMTile {
        gemmTiles.first { ceilDiv(m, $0.rows) * ceilDiv(n, $0.columns) * batch >= 2 * computeUnits } ?? gemmTiles[gemmTiles.count - 1]
    }

    /// The variant `variant` (by default the one suited to the device's type: CPU-class on CPU
    /// devices, GPU-class otherwise), with parameters derived from the device's limits.
    public init(variant: Variant?, for device: CLDevice) {
        self.init(variant: variant ?? (device.kind == .cpu ? .cpu : .gpu), limits: DeviceLimits(device))
    }

    /// One line for `aligncl devices`: the variant and the limits its parameters come from.
    public var summary: String {
        let limitText = "local memory \(limits.localMemoryBytes / 1024) KiB, max work-group \(limits.maxWorkGroupSize)"
        switch variant {
        case .cpu: return "cpu-class kernels (\(limitText); no __local memory or barriers)"
        case .gpu:
            return "gpu-class kernels (\(limitText) → row reductions by work-groups of \(rowWorkGroup); GEMM tiles "
                + gemmTiles.map(\.description).joined(separator: " or ") + ")"
        }
    }

    /// `-w`: PoCL's compiler prints its warnings (e.g. about `float16` ABI without AVX-512)
    /// straight to the process's stderr, which must carry only AlignCL's own diagnostics.
    private static let commonOptions = "-w"

    fileprivate var gemmBuildOptions: String {
        Self.commonOptions + " -cl-mad-enable -D GEMM_MR=\(gemmMicroRows) -D GEMM_NR=\(gemmMicroColumns) -D GEMM_MT=\(gemmTilesPerItemM) "
            + "-D GEMM_NT=\(gemmTilesPerItemN) -D GEMM_KC=\(gemmKSlice)"
    }

    fileprivate var attentionBuildOptions: String {
        Self.commonOptions + " -D ATTN_BK=\(attentionKeyBlock) -D ATTN_BQK=\(attentionQueryBlock) -D ATTN_KR=\(attentionRegisterTile)"
            + " -D ATTN_DMAX=\(attentionMaximumHeadDimension) -D ATTN_DELTA_WG=\(attentionDeltaWorkGroup)"
    }

    /// The GPU variant's row-reduction work-group, for every file with row kernels.
    fileprivate var rowOptions: String { " -D ROW_WG=\(rowWorkGroup) -D LN_RCOLS=\(layerNormReduceColumns)" }

    fileprivate var infoNCEBuildOptions: String {
        Self.commonOptions + " -D NCE_BK=\(infoNCEColumnBlock) -D NCE_KR=\(infoNCERegisterTile) -D NCE_RB=\(infoNCERowPanels)"
            + " -D NCE_DMAX=\(infoNCEMaximumDimension) -D NCE_NWG=\(infoNCEElementGroup)"
    }

    fileprivate var infoNCEChunksBuildOptions: String { Self.commonOptions }

    /// The backward keeps a row's gradient in registers, sized by the largest D (`NCG_DMAX`).
    fileprivate var infoNCEGPUBuildOptions: String {
        Self.commonOptions + " " + infoNCETiles.buildOptions + " -D NCG_DMAX=\(infoNCEMaximumDimension)"
    }

    fileprivate var trainingBuildOptions: String {
        Self.commonOptions + " -D LN_CHUNK=\(layerNormRowChunk) -D ACT_ITEMS=\(elementsPerItem) -D OPT_ITEMS=\(elementsPerItem)"
            + rowOptions + " -D EW_WG=\(elementGroup)"
    }

    fileprivate var elementwiseBuildOptions: String {
        let (x, y) = (planeGroupColumns, planeGroupRows)
        return Self.commonOptions + " -D EW_ITEMS=\(elementwiseItems) -D BIAS_ROWS=\(biasRowsPerItem) -D SUM_CHUNK=\(columnSumRowChunk)"
            + " -D EMB_ROWS=\(embeddingRowsPerItem)" + rowOptions + " -D EW_WG=\(elementGroup)"
            + " -D BIAS_WX=\(x) -D BIAS_WY=\(y) -D SUM_WX=\(x) -D SUM_WY=\(y) -D EMB_WX=\(x) -D EMB_WY=\(y) -D LAYOUT_WX=\(x) -D LAYOUT_WY=\(y)"
    }

    fileprivate var softmaxBuildOptions: String {
        Self.commonOptions + " -D SOFTMAX_WG=\(rowWorkGroup)"
    }

    /// Programs specialised per shape take their tiles as `specialization` options.
    fileprivate var specializedBuildOptions: String { Self.commonOptions }
}

/// What a device allows a kernel launch: GPU-class parameters are derived from it.
public struct DeviceLimits: Sendable, Equatable {
    /// `CL_DEVICE_LOCAL_MEM_SIZE`.
    public var localMemoryBytes: Int
    /// `CL_DEVICE_MAX_WORK_GROUP_SIZE`.
    public var maxWorkGroupSize: Int

    public init(localMemoryBytes: Int, maxWorkGroupSize: Int) {
        self.localMemoryBytes = localMemoryBytes
        self.maxWorkGroupSize = maxWorkGroupSize
    }

    public init(_ device: CLDevice) {
        self.init(localMemoryBytes: device.localMemoryBytes, maxWorkGroupSize: device.maxWorkGroupSize)
    }

    /// The least OpenCL lets a GPU offer (32 KiB, Arm Mali and Adreno) and the work-group size
    /// many mobile and Intel GPUs stop at.
    public static let smallestGPU = DeviceLimits(localMemoryBytes: 32 * 1024, maxWorkGroupSize: 256)

    /// The largest power of two ≤ `limit` the device allows as a work-group.
    func largestPowerOfTwoWorkGroup(atMost limit: Int) -> Int {
        var size = 1
        while size * 2 <= min(limit, maxWorkGroupSize) { size *= 2 }
        return size
    }
}

/// The kernel files of `Kernels/`, one program each.
public enum KernelProgram: String, CaseIterable, Sendable {
    case gemm, gemmGPU, softmax, attention, attentionGPU, infoNCE, infoNCEGPU, infoNCEChunks, infoNCEChunksGPU
    case layerNorm, activation, optimizer, elementwise, embedding, losses, layout

    /// The kernel variants that use this file.
    var variants: Set<OpenCLTuning.Variant> {
        switch self {
        case .gemm, .attention, .infoNCE, .infoNCEChunks: [.cpu]
        case .gemmGPU, .attentionGPU, .infoNCEGPU, .infoNCEChunksGPU: [.gpu]
        default: [.cpu, .gpu]
        }
    }

    /// Whether the file is built per tile or head width, never with its defaults alone.
    var isSpecialized: Bool { self == .gemmGPU || self == .attentionGPU }

    /// `common.cl` first (shared inline helpers), then the file, its line numbers restored for
    /// build logs.
    var source: String {
        // The GPU-class InfoNCE files share their tile and reduction helpers.
        let shared = self == .infoNCEGPU || self == .infoNCEChunksGPU ? "\n" + EmbeddedKernels.infonceGpuCommon : ""
        return EmbeddedKernels.common + shared + "\n#line 1\n" + fileSource
    }

    private var fileSource: String {
        switch self {
        case .gemm: EmbeddedKernels.gemm
        case .gemmGPU: EmbeddedKernels.gemmGpu
        case .softmax: EmbeddedKernels.softmax
        case .attention: EmbeddedKernels.attention
        case .attentionGPU: EmbeddedKernels.attentionGpu
        case .infoNCE: EmbeddedKernels.infonce
        case .infoNCEGPU: EmbeddedKernels.infonceGpu
        case .infoNCEChunks: EmbeddedKernels.infonceChunks
        case .infoNCEChunksGPU: EmbeddedKernels.infonceChunksGpu
        case .layerNorm: EmbeddedKernels.layernorm
        case .activation: EmbeddedKernels.activation
        case .optimizer: EmbeddedKernels.optimizer
        case .elementwise: EmbeddedKernels.elementwise
        case .embedding: EmbeddedKernels.embedding
        case .losses: EmbeddedKernels.losses
        case .layout: EmbeddedKernels.layout
        }
    }

    func buildOptions(_ tuning: OpenCLTuning) -> String {
        switch self {
        case .gemm: tuning.gemmBuildOptions
        case .gemmGPU, .attentionGPU: tuning.specializedBuildOptions
        case .softmax: tuning.softmaxBuildOptions
        case .attention: tuning.attentionBuildOptions
        case .infoNCE: tuning.infoNCEBuildOptions
        case .infoNCEChunks: tuning.infoNCEChunksBuildOptions
        case .infoNCEGPU, .infoNCEChunksGPU: tuning.infoNCEGPUBuildOptions
        case .layerNorm, .activation, .optimizer: tuning.trainingBuildOptions
        case .elementwise, .embedding, .losses, .layout: tuning.elementwiseBuildOptions
        }
    }
}
