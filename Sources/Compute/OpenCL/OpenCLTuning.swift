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
    /// GEMM micro-tile (CPU variant): each work-item computes `gemmMicroRows × gemmMicroColumns`
    /// of C from packed panels of A and B.
    public var gemmMicroRows = 8
    public var gemmMicroColumns = 32
    /// GEMM tile edge (GPU variant): `gemmTile × gemmTile` work-groups over `__local` tiles.
    public var gemmTile = 16
    /// Softmax rows per work-group (CPU variant: one work-item per row).
    public var softmaxRowsPerGroup = 8
    /// Softmax work-group size (GPU variant: one work-group per row).
    public var softmaxWorkGroup = 64

    public init(variant: Variant) {
        self.variant = variant
    }

    /// The variant that suits a device of `kind`.
    public static func defaults(for kind: CLDeviceKind) -> OpenCLTuning {
        OpenCLTuning(variant: kind == .cpu ? .cpu : .gpu)
    }

    var gemmBuildOptions: String {
        "-cl-mad-enable -D GEMM_MR=\(gemmMicroRows) -D GEMM_NR=\(gemmMicroColumns) -D GEMM_TILE=\(gemmTile)"
    }

    var softmaxBuildOptions: String {
        "-D SOFTMAX_WG=\(softmaxWorkGroup)"
    }
}
