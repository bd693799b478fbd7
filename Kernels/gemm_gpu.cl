/*
 * gemm_gpu.cl -- register-tiled batched SGEMM for GPUs (the design of CLBlast's Xgemm,
 * written anew), float32, for AlignCL. Built only for GPU devices, as its own program.
 *
 * Kernel gemm_gpu(__global const float* a,   // A[b]: [M,K], or [K,M] when transA
 *                 __global const float* b,   // B[b]: [K,N], or [N,K] when transB
 *                 __global float* c,         // C[b]: [M,N], overwritten
 *                 const int M, const int N, const int K,   // >= 1 each
 *                 const int transA, const int transB)      // 0 or nonzero
 *   C[b] = op(A[b]) * op(B[b]), op(X) = X^T when the flag is nonzero: the contract of the
 *   CPU-class kernels of gemm.cl (row-major, densely packed, per-batch offsets b*M*K,
 *   b*K*N, b*M*N from the logical dims, b = get_global_id(2)).
 *
 * NDRange:  global (ceil(N, GEMM_NWG) * GEMM_NDIMC, ceil(M, GEMM_MWG) * GEMM_MDIMC, batch)
 *           local  (GEMM_NDIMC, GEMM_MDIMC, 1)   -- required (reqd_work_group_size)
 *   (ceil(x, t) = (x + t - 1) / t.) Dim 0 runs along N, dim 1 along M. Any M, N, K >= 1;
 *   edge tiles are zero-filled in __local and only the valid part of C is stored. No scratch buffers.
 * __local bytes = 4 * GEMM_KWG * (GEMM_MWG + GEMM_NWG + 2 * GEMM_PAD)
 *   defaults: 4 * 16 * (64 + 64 + 8) = 8704 B.
 *
 * Shape. A work-group owns an MWG x NWG tile of C and walks K in slices of KWG. Its
 * MDIMC x NDIMC work-items each hold an MWI x NWI register tile, MWI = MWG / MDIMC,
 * NWI = NWG / NDIMC. Work-item (x, y) = local ids (0, 1) owns rows
 *   m0 + (i * MDIMC + y) * VWM + u,  i < MWI / VWM, u < VWM,
 * and columns n0 + (j * NDIMC + x) * VWN + v likewise: vectors of VWM (VWN) neighbours,
 * strided by the work-group, so that neighbouring work-items read neighbouring __local
 * vectors (conflict-free) and store neighbouring C vectors (coalesced).
 * Staging. Both slices are copied into __local k-major, As[k][m] and Bs[k][n], rows padded
 * by GEMM_PAD floats. The copy goes in float4 chunks numbered so that consecutive
 * work-items take consecutive chunks of a *storage* row of the operand, whatever the
 * transpose: an operand stored k-major ([K,M] A, [K,N] B) is copied row to row; one stored
 * m-major ([M,K] A, [N,K] B) is read along its rows (contiguous in k) and written transposed
 * into __local with 4 scalar stores -- no strided global reads ever. A chunk is loaded as an
 * aligned float4 when its leading dimension is a multiple of 4 and it lies wholly inside the
 * matrix, else element by element with zero fill. The next slice is loaded into registers
 * while the current one is multiplied (register double-buffering: costs 4*ceil(chunks/WG)
 * registers per operand, no extra __local).
 *
 * Numerics: float32, fma in plain k order from 0 (padding contributes exact 0*0), i.e. the
 * same order and the same bits as the CPU-class kernels; deterministic.
 *
 * Cost (MWI, NWI as above):
 *   __local loads per FMA = (MWI + NWI) / (MWI * NWI) floats, in (MWI/VWM + NWI/VWN)
 *     vector loads per MWI*NWI FMAs: 0.5 at the 4x4 default, 0.25 at 8x8.
 *   Global traffic: every slice of A is read by ceil(N/NWG) work-groups and every slice of B
 *     by ceil(M/MWG), i.e. 4*K*(1/NWG + 1/MWG) bytes read per output (mostly L2 hits)
 *     + 4 written: 4*K/32 + 4 B at 64x64, 4*K/64 + 4 B at 128x128; FLOP per global byte
 *     = MWG*NWG / (2*(MWG+NWG)): 16 at 64x64, 32 at 128x128.
 *   H100 estimate (~60 TFLOP/s: 132 SMs x 128 FP32 lanes, 64K registers, 228 KiB shared
 *     per SM, shared memory 128 B/clk/SM) for the NVIDIA tuning MWG=NWG=128, KWG=16,
 *     MDIMC=NDIMC=16, VWM=VWN=4 (8x8 per work-item): ~64 accumulators + 16 operands +
 *     16 prefetch + addresses = ~110-128 registers, so 256 x 128 = 32K registers per
 *     work-group -> 2 work-groups (16 warps, 25% occupancy) per SM, 2 x 16.5 KiB shared.
 *     Per k a warp issues 64 FFMA and 4 LDS.128 (2 of A, broadcast; 2 of B, 2 wavefronts
 *     each): ~6 wavefronts per 64 FFMA-cycles of its scheduler, so the four schedulers load
 *     the shared memory ~40% (+ ~10% for the transposed staging stores, 2-way conflicts).
 *     64 independent FMAs per k hide the FMA latency without more warps; one slice is
 *     ~4000 cycles of work per SM, far above the global latency the register prefetch
 *     hides; 32 FLOP per byte of L2 traffic needs ~1.9 TB/s of L2 at peak (H100 L2 ~5+ TB/s).
 *     Issue overhead ~8% (LDS, address math, 2 barriers per 16 k). Estimate: 55-65% of FP32
 *     peak (~33-40 TFLOP/s) on large GEMMs (M, N >= ~2048), about what CLBlast reaches on
 *     NVIDIA. The 4x4 default reaches less (~35-45%): 0.5 loads per FMA puts shared memory
 *     at ~75-85% of its bandwidth. Small grids are limited by filling the 132 SMs, not by
 *     the kernel: M=2048, N=256 is 32 work-groups at 128x128 (~25% of the SMs; use 64x64,
 *     128 groups), M=N=256 is 4 or 16 groups whatever K is (see report: split-K).
 *
 * Tunables (-D; all are checked below):
 *   GEMM_MWG, GEMM_NWG   work-group tile (rows, columns)             default 64, 64
 *   GEMM_KWG             K slice                                     default 16
 *   GEMM_MDIMC, GEMM_NDIMC  work-items along M, N (local size 1, 0)  default 16, 16
 *   GEMM_VWM, GEMM_VWN   vector width of the register tile, 1/2/4    default 4, 4
 *   GEMM_PAD             __local row padding in floats, multiple of 4 default 4
 * Legal: MWG % (MDIMC*VWM) == 0, NWG % (NDIMC*VWN) == 0, MWG, NWG, KWG multiples of 4,
 * MWI, NWI <= 16; MWI, NWI >= 4 is the intended regime (smaller is legal, just slow).
 * PAD: 4 halves the bank conflicts of the transposed staging stores against 0 (0 is legal);
 * any multiple of 4 keeps every __local vector 16-byte aligned.
 * Picks: 32 KiB / 256-item device: the defaults (64x64x16, 16x16 items, 4x4 each).
 *   48-64 KiB / 1024-item NVIDIA or AMD GPU: MWG=NWG=128, KWG=16, MDIMC=NDIMC=16,
 *   VWM=VWN=4 (16.5 KiB, 256 items, 8x8 each); KWG=32 (33 KiB) also fits 48 KiB.
 *   Small test/edge tuning: MWG=NWG=16, KWG=16 (or 8), MDIMC=NDIMC=4, VWM=VWN=4.
 */

#ifndef GEMM_MWG
#define GEMM_MWG 64
#endif
#ifndef GEMM_NWG
#define GEMM_NWG 64
#endif
#ifndef GEMM_KWG
#define GEMM_KWG 16
#endif
#ifndef GEMM_MDIMC
#define GEMM_MDIMC 16
#endif
#ifndef GEMM_NDIMC
#define GEMM_NDIMC 16
#endif
#ifndef GEMM_VWM
#define GEMM_VWM 4
#endif
#ifndef GEMM_VWN
#define GEMM_VWN 4
#endif
#ifndef GEMM_PAD
#define GEMM_PAD 4
#endif

#if GEMM_MDIMC < 1 || GEMM_NDIMC < 1 || GEMM_MDIMC * GEMM_NDIMC > 1024
#error "GEMM_MDIMC, GEMM_NDIMC must be >= 1 with GEMM_MDIMC * GEMM_NDIMC <= 1024"
#endif
#if GEMM_VWM != 1 && GEMM_VWM != 2 && GEMM_VWM != 4
#error "GEMM_VWM must be 1, 2 or 4"
#endif
#if GEMM_VWN != 1 && GEMM_VWN != 2 && GEMM_VWN != 4
#error "GEMM_VWN must be 1, 2 or 4"
#endif
#if GEMM_MWG < 4 || GEMM_NWG < 4 || GEMM_KWG < 4 || \
    (GEMM_MWG % 4) != 0 || (GEMM_NWG % 4) != 0 || (GEMM_KWG % 4) != 0
#error "GEMM_MWG, GEMM_NWG, GEMM_KWG must be positive multiples of 4"
#endif
#if (GEMM_MWG % (GEMM_MDIMC * GEMM_VWM)) != 0
#error "GEMM_MWG must be a multiple of GEMM_MDIMC * GEMM_VWM"
#endif
#if (GEMM_NWG % (GEMM_NDIMC * GEMM_VWN)) != 0
#error "GEMM_NWG must be a multiple of GEMM_NDIMC * GEMM_VWN"
#endif
#if GEMM_MWG / GEMM_MDIMC > 16 || GEMM_NWG / GEMM_NDIMC > 16
#error "register tile too large: GEMM_MWG/GEMM_MDIMC and GEMM_NWG/GEMM_NDIMC must be <= 16"
#endif
#if GEMM_PAD < 0 || (GEMM_PAD % 4) != 0
#error "GEMM_PAD must be a non-negative multiple of 4"
#endif

#define GEMM_MWI (GEMM_MWG / GEMM_MDIMC)
#define GEMM_NWI (GEMM_NWG / GEMM_NDIMC)
#define GEMM_WGS (GEMM_MDIMC * GEMM_NDIMC)
#define GEMM_PA (GEMM_MWG + GEMM_PAD)              /* __local row pitches, floats */
#define GEMM_PB (GEMM_NWG + GEMM_PAD)
/* float4 chunks of a slice, and per work-item (the last round may be partial) */
#define GEMM_CHA ((GEMM_MWG * GEMM_KWG / 4 + GEMM_WGS - 1) / GEMM_WGS)
#define GEMM_CHB ((GEMM_NWG * GEMM_KWG / 4 + GEMM_WGS - 1) / GEMM_WGS)

/* VW consecutive floats of __local (VW-aligned: pitches and offsets are multiples of VW,
 * the arrays are float4-aligned) into dst[0..VW). A typed load, not vloadn, so the compiler
 * knows the alignment and emits one wide load (LDS.64/.128 on NVIDIA). */
#define GEMM_LDL1(dst, p) { (dst)[0] = *(p); }
#define GEMM_LDL2(dst, p) { const float2 t_ = *(__local const float2*)(p); \
                            (dst)[0] = t_.x; (dst)[1] = t_.y; }
#define GEMM_LDL4(dst, p) { const float4 t_ = *(__local const float4*)(p); \
                            (dst)[0] = t_.x; (dst)[1] = t_.y; (dst)[2] = t_.z; (dst)[3] = t_.w; }
#define GEMM_LDL_(w) GEMM_LDL##w
#define GEMM_LDL(w) GEMM_LDL_(w)

/* ---------------------------------------------------------------------------
 * Staging of one slice of one operand: the RW x KWG block of op(X) at rows (m or n)
 * r0.., k0.. . X has R rows in op(X) and K columns; kmajor: X is stored [K,R] (ld R),
 * else [R,K] (ld K). vec: the leading dimension is a multiple of 4 (so are the batch
 * offset and every chunk start), aligned float4 loads allowed. Chunk q (q = tid + s*WGS)
 * is the q-th float4 of the block in storage order, so a warp reads consecutive chunks of
 * one storage row.
 * ------------------------------------------------------------------------- */
static inline __attribute__((always_inline))
float4 gemm_load_chunk(__global const float* X, const int q, const int r0, const int k0,
                       const int R, const int K, const int kmajor, const int vec, const int RW)
{
    /* (gr, gk): op(X) coordinates of the chunk's first element; its 4 elements run along
     * r when kmajor, along k otherwise */
    int gr, gk;
    if (kmajor) { gk = k0 + q / (RW / 4);       gr = r0 + (q % (RW / 4)) * 4; }
    else        { gr = r0 + q / (GEMM_KWG / 4); gk = k0 + (q % (GEMM_KWG / 4)) * 4; }
    const int ld = kmajor ? R : K;
    const int srow = kmajor ? gk : gr, scol = kmajor ? gr : gk;    /* storage coords */
    const int nrow = kmajor ? K : R, ncol = kmajor ? R : K;
    float4 v = (float4)(0.0f);
    if (srow < nrow) {
        __global const float* p = X + (size_t)srow * ld + scol;
        if (vec && scol + 4 <= ncol) {
            v = *(__global const float4*)p;
        } else {
            if (scol + 0 < ncol) v.x = p[0];
            if (scol + 1 < ncol) v.y = p[1];
            if (scol + 2 < ncol) v.z = p[2];
            if (scol + 3 < ncol) v.w = p[3];
        }
    }
    return v;
}

static inline __attribute__((always_inline))
void gemm_store_chunk(__local float* L, const float4 v, const int q, const int kmajor,
                      const int RW, const int P)
{
    if (kmajor) {                               /* a row of the k-major block: copy */
        const int k = q / (RW / 4), r = (q % (RW / 4)) * 4;
        *(__local float4*)(L + k * P + r) = v;
    } else {                                    /* 4 k values of row r: transpose */
        const int r = q / (GEMM_KWG / 4), k = (q % (GEMM_KWG / 4)) * 4;
        L[(k + 0) * P + r] = v.x;
        L[(k + 1) * P + r] = v.y;
        L[(k + 2) * P + r] = v.z;
        L[(k + 3) * P + r] = v.w;
    }
}

__kernel __attribute__((reqd_work_group_size(GEMM_NDIMC, GEMM_MDIMC, 1)))
void gemm_gpu(__global const float* a, __global const float* b, __global float* c,
              const int M, const int N, const int K, const int transA, const int transB)
{
    /* float4 arrays: 16-byte aligned, so the typed vector accesses above are legal */
    __local float4 As4[(GEMM_KWG * GEMM_PA) / 4];
    __local float4 Bs4[(GEMM_KWG * GEMM_PB) / 4];
    __local float* As = (__local float*)As4;
    __local float* Bs = (__local float*)Bs4;

    const int tx = get_local_id(0), ty = get_local_id(1);
    const int tid = ty * GEMM_NDIMC + tx;
    const int n0 = get_group_id(0) * GEMM_NWG;
    const int m0 = get_group_id(1) * GEMM_MWG;
    const int bt = get_global_id(2);

    __global const float* A = a + (size_t)bt * M * K;
    __global const float* B = b + (size_t)bt * K * N;
    /* op(A) is [M,K]: stored k-major iff transA; op(B) is [K,N] read as R=N rows of K,
     * stored k-major iff !transB */
    const int akm = transA != 0, bkm = transB == 0;
    const int avec = ((akm ? M : K) & 3) == 0, bvec = ((bkm ? N : K) & 3) == 0;

    float4 ra[GEMM_CHA], rb[GEMM_CHB];
    #pragma unroll
    for (int s = 0; s < GEMM_CHA; ++s) {
        const int q = tid + s * GEMM_WGS;
        ra[s] = q < GEMM_MWG * GEMM_KWG / 4
              ? gemm_load_chunk(A, q, m0, 0, M, K, akm, avec, GEMM_MWG) : (float4)(0.0f);
    }
    #pragma unroll
    for (int s = 0; s < GEMM_CHB; ++s) {
        const int q = tid + s * GEMM_WGS;
        rb[s] = q < GEMM_NWG * GEMM_KWG / 4
              ? gemm_load_chunk(B, q, n0, 0, N, K, bkm, bvec, GEMM_NWG) : (float4)(0.0f);
    }

    float acc[GEMM_MWI][GEMM_NWI];
    #pragma unroll
    for (int i = 0; i < GEMM_MWI; ++i)
        #pragma unroll
        for (int j = 0; j < GEMM_NWI; ++j)
            acc[i][j] = 0.0f;

    const int nslices = (K + GEMM_KWG - 1) / GEMM_KWG;   /* uniform: the loop has barriers */
    for (int sl = 0; sl < nslices; ++sl) {
        barrier(CLK_LOCAL_MEM_FENCE);                    /* previous slice fully read */
        #pragma unroll
        for (int s = 0; s < GEMM_CHA; ++s) {
            const int q = tid + s * GEMM_WGS;
            if (q < GEMM_MWG * GEMM_KWG / 4) gemm_store_chunk(As, ra[s], q, akm, GEMM_MWG, GEMM_PA);
        }
        #pragma unroll
        for (int s = 0; s < GEMM_CHB; ++s) {
            const int q = tid + s * GEMM_WGS;
            if (q < GEMM_NWG * GEMM_KWG / 4) gemm_store_chunk(Bs, rb[s], q, bkm, GEMM_NWG, GEMM_PB);
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        /* prefetch the next slice into registers; its latency overlaps the FMAs below */
        if (sl + 1 < nslices) {
            const int k1 = (sl + 1) * GEMM_KWG;
            #pragma unroll
            for (int s = 0; s < GEMM_CHA; ++s) {
                const int q = tid + s * GEMM_WGS;
                if (q < GEMM_MWG * GEMM_KWG / 4)
                    ra[s] = gemm_load_chunk(A, q, m0, k1, M, K, akm, avec, GEMM_MWG);
            }
            #pragma unroll
            for (int s = 0; s < GEMM_CHB; ++s) {
                const int q = tid + s * GEMM_WGS;
                if (q < GEMM_NWG * GEMM_KWG / 4)
                    rb[s] = gemm_load_chunk(B, q, n0, k1, N, K, bkm, bvec, GEMM_NWG);
            }
        }

        #pragma unroll
        for (int k = 0; k < GEMM_KWG; ++k) {
            float av[GEMM_MWI], bv[GEMM_NWI];
            #pragma unroll
            for (int i = 0; i < GEMM_MWI / GEMM_VWM; ++i)
                GEMM_LDL(GEMM_VWM)(av + i * GEMM_VWM,
                                   As + k * GEMM_PA + (i * GEMM_MDIMC + ty) * GEMM_VWM)
            #pragma unroll
            for (int j = 0; j < GEMM_NWI / GEMM_VWN; ++j)
                GEMM_LDL(GEMM_VWN)(bv + j * GEMM_VWN,
                                   Bs + k * GEMM_PB + (j * GEMM_NDIMC + tx) * GEMM_VWN)
            #pragma unroll
            for (int i = 0; i < GEMM_MWI; ++i)
                #pragma unroll
                for (int j = 0; j < GEMM_NWI; ++j)
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
    }

    /* store the valid part; a VWN-vector at once when N keeps it aligned and inside */
    __global float* C = c + (size_t)bt * M * N;
    const int cvec = GEMM_VWN > 1 && (N % GEMM_VWN) == 0;
    #pragma unroll
    for (int i = 0; i < GEMM_MWI / GEMM_VWM; ++i)
        #pragma unroll
        for (int u = 0; u < GEMM_VWM; ++u) {
            const int row = m0 + (i * GEMM_MDIMC + ty) * GEMM_VWM + u;
            if (row < M) {
                #pragma unroll
                for (int j = 0; j < GEMM_NWI / GEMM_VWN; ++j) {
                    const int col = n0 + (j * GEMM_NDIMC + tx) * GEMM_VWN;
                    const float* r = acc[i * GEMM_VWM + u] + j * GEMM_VWN;
                    __global float* p = C + (size_t)row * N + col;
#if GEMM_VWN == 4
                    if (cvec && col < N) { *(__global float4*)p = (float4)(r[0], r[1], r[2], r[3]); continue; }
#elif GEMM_VWN == 2
                    if (cvec && col < N) { *(__global float2*)p = (float2)(r[0], r[1]); continue; }
#endif
                    #pragma unroll
                    for (int v = 0; v < GEMM_VWN; ++v)
                        if (col + v < N) p[v] = r[v];
                }
            }
        }
}
