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
    /// GEMM tile edge (GPU variant): `gemmTile × gemmTile` work-groups over `__local` tiles.
    public var gemmTile = 16
    /// Softmax rows per work-group (CPU variant: one work-item per row).
    public var softmaxRowsPerGroup = 8
    /// Softmax work-group size (GPU variant: one work-group per row), a power of two.
    public var softmaxWorkGroup = 256

    /// Attention (CPU variant): keys per block of the forward and dq kernels, queries per block
    /// of the dk/dv kernel, and outputs per register tile (6 × 16 lanes fills 15 of the 16 AVX2
    /// registers; 4 and 5 ran 10–15 % slower).
    public var attentionKeyBlock = 48
    public var attentionQueryBlock = 48
    public var attentionRegisterTile = 6
    /// The largest D and Dv the attention kernels take (private arrays are sized by it).
    public var attentionMaximumHeadDimension = 256
    /// Work-group size of the attention `delta` kernel, and of the GPU-style attention kernels.
    public var attentionDeltaWorkGroup = 64
    public var attentionWorkGroup = 64
    /// Rows per `__local` tile of the GPU-style attention kernels.
    public var attentionTileRows = 16

    /// InfoNCE (CPU variant): columns per block, outputs per register tile, and panels of 16
    /// rows each work-item owns (2 ran like 1; 4 was slower and needs more private memory).
    public var infoNCEColumnBlock = 96
    public var infoNCERegisterTile = 6
    public var infoNCERowPanels = 1
    /// The largest D the InfoNCE kernels take (private arrays are sized by it).
    public var infoNCEMaximumDimension = 512
    /// Work-group size of the element-wise InfoNCE and mutual-information kernels.
    public var infoNCEElementGroup = 8
    /// InfoNCE (GPU variant): the tile edge, and the D slice staged in `__local` memory.
    public var infoNCETile = 16
    public var infoNCEDimensionSlice = 64

    /// Rows each work-item of the layer-norm backward sums into its partial weight/bias gradients.
    public var layerNormRowChunk = 16
    /// Consecutive elements each work-item of the elementwise kernels (GELU, AdamW) owns.
    public var elementsPerItem = 256

    /// Consecutive floats each work-item of `elementwise.cl` owns, rows per work-item of its
    /// bias add, and rows per partial sum of its column sums.
    public var elementwiseItems = 1024
    public var biasRowsPerItem = 8
    public var columnSumRowChunk = 64
    /// Ids per work-item of the embedding gather.
    public var embeddingRowsPerItem = 8

    /// The device limits the GPU-class parameters were derived from.
    public let limits: DeviceLimits

    /// - Parameters:
    ///   - limits: the device's limits; by default the smallest a conformant GPU may have.
    public init(variant: Variant, limits: DeviceLimits = .smallestGPU) {
        self.variant = variant
        self.limits = limits
        // Work-groups of at most 256 (the floor GPUs offer), a power of two for the tree
        // reductions, never above what the device allows.
        softmaxWorkGroup = limits.largestPowerOfTwoWorkGroup(atMost: 256)
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
        case .gpu: return "gpu-class kernels (\(limitText) → row reductions by work-groups of \(softmaxWorkGroup))"
        }
    }

    /// `-w`: PoCL's compiler prints its warnings (e.g. about `float16` ABI without AVX-512)
    /// straight to the process's stderr, which must carry only AlignCL's own diagnostics.
    private static let commonOptions = "-w"

    fileprivate var gemmBuildOptions: String {
        Self.commonOptions + " -cl-mad-enable -D GEMM_MR=\(gemmMicroRows) -D GEMM_NR=\(gemmMicroColumns) -D GEMM_MT=\(gemmTilesPerItemM) "
            + "-D GEMM_NT=\(gemmTilesPerItemN) -D GEMM_KC=\(gemmKSlice) -D GEMM_TILE=\(gemmTile)"
    }

    fileprivate var attentionBuildOptions: String {
        Self.commonOptions + " -D ATTN_BK=\(attentionKeyBlock) -D ATTN_BQK=\(attentionQueryBlock) -D ATTN_KR=\(attentionRegisterTile)"
            + " -D ATTN_DMAX=\(attentionMaximumHeadDimension) -D ATTN_DELTA_WG=\(attentionDeltaWorkGroup) -D ATTN_WG=\(attentionWorkGroup)"
            + " -D ATTN_TK=\(attentionTileRows)"
    }

    fileprivate var infoNCEBuildOptions: String {
        Self.commonOptions + " -D NCE_BK=\(infoNCEColumnBlock) -D NCE_KR=\(infoNCERegisterTile) -D NCE_RB=\(infoNCERowPanels)"
            + " -D NCE_DMAX=\(infoNCEMaximumDimension) -D NCE_NWG=\(infoNCEElementGroup) -D NCE_GT=\(infoNCETile) -D NCE_DK=\(infoNCEDimensionSlice)"
    }

    fileprivate var infoNCEChunksBuildOptions: String { Self.commonOptions }

    fileprivate var trainingBuildOptions: String {
        Self.commonOptions + " -D LN_CHUNK=\(layerNormRowChunk) -D ACT_ITEMS=\(elementsPerItem) -D OPT_ITEMS=\(elementsPerItem)"
    }

    fileprivate var elementwiseBuildOptions: String {
        Self.commonOptions + " -D EW_ITEMS=\(elementwiseItems) -D BIAS_ROWS=\(biasRowsPerItem) -D SUM_CHUNK=\(columnSumRowChunk)"
            + " -D EMB_ROWS=\(embeddingRowsPerItem)"
    }

    fileprivate var softmaxBuildOptions: String {
        Self.commonOptions + " -D SOFTMAX_WG=\(softmaxWorkGroup)"
    }
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
    case gemm, softmax, attention, attentionGPU, infoNCE, infoNCEChunks, layerNorm, activation, optimizer, elementwise, embedding, losses, layout

    /// `common.cl` first (shared inline helpers), then the file, its line numbers restored for
    /// build logs.
    var source: String {
        EmbeddedKernels.common + "\n#line 1\n" + fileSource
    }

    private var fileSource: String {
        switch self {
        case .gemm: EmbeddedKernels.gemm
        case .softmax: EmbeddedKernels.softmax
        case .attention: EmbeddedKernels.attention
        case .attentionGPU: EmbeddedKernels.attentionGpu
        case .infoNCE: EmbeddedKernels.infonce
        case .infoNCEChunks: EmbeddedKernels.infonceChunks
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
        case .softmax: tuning.softmaxBuildOptions
        case .attention, .attentionGPU: tuning.attentionBuildOptions
        case .infoNCE: tuning.infoNCEBuildOptions
        case .infoNCEChunks: tuning.infoNCEChunksBuildOptions
        case .layerNorm, .activation, .optimizer: tuning.trainingBuildOptions
        case .elementwise, .embedding, .losses, .layout: tuning.elementwiseBuildOptions
        }
    }
}
