import CLRuntime

/// The entry points of `Kernels/gemm.cl` (CPU variant; the GPU variant's `gemm_gpu` is built
/// per tile).
struct GEMMKernels: KernelFamily {
    let packA: CLKernel
    let packATransposed: CLKernel
    let packB: CLKernel
    let packed: CLKernel
    let direct: CLKernel

    init(tuning: OpenCLTuning, program make: (KernelProgram) throws(CLError) -> CLProgram) throws(CLError) {
        let program = try make(.gemm)
        packA = try program.kernel("gemm_pack_a")
        packATransposed = try program.kernel("gemm_pack_a_transposed")
        packB = try program.kernel("gemm_pack_b")
        packed = try program.kernel("gemm_forward_packed")
        direct = try program.kernel("gemm_forward_direct")
    }
}

extension OpenCLBackend {
    public func gemm(_ descriptor: GEMMDescriptor, a: Buffer, b: Buffer, c: Buffer) throws {
        try BufferCounts.gemm(descriptor, a: a, b: b, c: c)
        let (m, n, k, batch) = (Int32(descriptor.m), Int32(descriptor.n), Int32(descriptor.k), descriptor.batch)
        let transposeA: Int32 = descriptor.transposeA ? 1 : 0, transposeB: Int32 = descriptor.transposeB ? 1 : 0
        switch tuning.variant {
        case .cpu:
            // Pack B into column panels of NR (zero padded), and A into row panels of MR unless
            // it is read in place (see `gemmDirectMaximumN`), so the micro-kernel streams both
            // contiguously whatever the transposes and sizes.
            let (mr, nr) = (tuning.gemmMicroRows, tuning.gemmMicroColumns)
            let paddedM = roundUp(descriptor.m, mr), paddedN = roundUp(descriptor.n, nr)
            let readsAInPlace = !descriptor.transposeA && descriptor.n <= tuning.gemmDirectMaximumN
            let packedA = readsAInPlace ? nil : try makeBuffer(count: batch * paddedM * descriptor.k)
            try locked("gemm") {
                let kernels = try kernels(GEMMKernels.self)
                // B promised unchanged is packed once per way it is used (transposed or not).
                let key = PackedOperandKey(transposed: descriptor.transposeB, k: descriptor.k, n: descriptor.n, batch: batch)
                let reusable = unchangedOperand?.buffer === b
                let packedB: Buffer
                if reusable, let cached = unchangedOperand?.packed[key] {
                    packedB = cached
                } else {
                    packedB = try makeBuffer(count: batch * paddedN * descriptor.k)
                    try kernels.packB.bind(.buffer(b.deviceMemory), .buffer(packedB.deviceMemory), .int32(k), .int32(n), .int32(transposeB))
                    try queue.enqueue(kernels.packB, global: [paddedN / nr, descriptor.k, batch])
                    if reusable { unchangedOperand?.packed[key] = packedB }
                }
                // Each work-item computes tilesPerItemM × tilesPerItemN micro-tiles; (1,1,1) groups
                // keep PoCL from fusing work-items into loops that would spill the accumulators.
                let grid = [ceilDiv(paddedN / nr, tuning.gemmTilesPerItemN), ceilDiv(paddedM / mr, tuning.gemmTilesPerItemM), batch]
                guard let packedA else {
                    try kernels.direct.bind(.buffer(a.deviceMemory), .buffer(packedB.deviceMemory), .buffer(c.deviceMemory),
                                            .int32(m), .int32(n), .int32(k))
                    try queue.enqueue(kernels.direct, global: grid, local: [1, 1, 1])
                    return
                }
                if descriptor.transposeA {
                    // A stored [K, M]: 32 k per work-item, each panel written contiguously.
                    try kernels.packATransposed.bind(.buffer(a.deviceMemory), .buffer(packedA.deviceMemory), .int32(m), .int32(k))
                    try queue.enqueue(kernels.packATransposed, global: [paddedM / mr, ceilDiv(descriptor.k, 32), batch])
                } else {
                    try kernels.packA.bind(.buffer(a.deviceMemory), .buffer(packedA.deviceMemory), .int32(m), .int32(k))
                    try queue.enqueue(kernels.packA, global: [paddedM / mr, descriptor.k, batch])
                }
                try kernels.packed.bind(.buffer(packedA.deviceMemory), .buffer(packedB.deviceMemory), .buffer(c.deviceMemory),
                                        .int32(m), .int32(n), .int32(k))
                try queue.enqueue(kernels.packed, global: grid, local: [1, 1, 1])
            }
        case .gpu:
            // Register-tiled: each work-item holds a block of C; both operands are staged through
            // `__local` memory whatever their transposes.
            let tile = tuning.gemmTile(m: descriptor.m, n: descriptor.n, batch: batch, computeUnits: device.computeUnits)
            try locked("gemm") {
                let kernel = try specializedKernel("gemm_gpu", of: .gemmGPU, tiles: tile, workGroupSize: tile.workGroupSize)
                try kernel.bind(.buffer(a.deviceMemory), .buffer(b.deviceMemory), .buffer(c.deviceMemory),
                                .int32(m), .int32(n), .int32(k), .int32(transposeA), .int32(transposeB))
                try queue.enqueue(kernel, global: [ceilDiv(descriptor.n, tile.columns) * tile.itemsN, ceilDiv(descriptor.m, tile.rows) * tile.itemsM, batch],
                                  local: [tile.itemsN, tile.itemsM, 1])
            }
        }
    }
}
