/*
 * gemm.cl -- batched single-precision matrix multiply for AlignCL.
 *
 *   C[b] = op(A[b]) * op(B[b]),  op(X) = X^T when the matching flag is nonzero.
 *
 * All matrices are float32, row-major, densely packed, batched along global
 * dimension 2 (b = get_global_id(2)). Per-batch element offsets come from the
 * logical dims: A has M*K elements per batch (stored [M,K], or [K,M] when
 * transA), B has K*N (stored [K,N], or [N,K] when transB), C has M*N ([M,N]).
 *
 * Tuning constants (-D build options; defaults tuned on PoCL 3.1 / AVX2, which
 * has 16 ymm registers: 6x16 = 12 accumulator registers + 2 for B + 1 for the
 * broadcast A value; 8x32 spills there and runs at half speed):
 *   GEMM_MR    micro-tile rows                          (default 6;  1..16)
 *   GEMM_NR    micro-tile columns                       (default 16; multiple of 16)
 *   GEMM_MT    micro-tiles per work-item along M        (default 16)
 *   GEMM_NT    micro-tiles per work-item along N        (default 1)
 *   GEMM_KC    K slice length in gemm_forward_packed/direct (default 4096)
 * Let Mp = roundUp(M, GEMM_MR), Np = roundUp(N, GEMM_NR), ceil(a/b) = (a+b-1)/b.
 *
 * Variant 1 -- CPU style (fast on PoCL / CPU OpenCL), three launches in order:
 *   gemm_pack_a   args (a, packedA, M, K), for A stored [M,K];
 *   or gemm_pack_a_transposed, same arguments, for A stored [K,M] (below).
 *                 global (Mp/MR, K, batch), local NULL (any works)
 *                 packed A per batch: [Mp/MR][K][MR], rows >= M zero-filled;
 *                 batch offset b*Mp*K floats; buffer batch*Mp*K floats.
 *   gemm_pack_b   global (Np/NR, K, batch), local NULL (any works)
 *                 packed B per batch: [Np/NR][K][NR], cols >= N zero-filled;
 *                 batch offset b*Np*K floats; buffer batch*Np*K floats.
 *   gemm_forward_packed
 *                 global (ceil(Np/NR, GEMM_NT), ceil(Mp/MR, GEMM_MT), batch),
 *                 local (1, 1, 1). Extra work-items beyond that are ignored.
 *                 Each work-item owns GEMM_NT x GEMM_MT micro-tiles of
 *                 MR x NR outputs; a micro-tile is kept in float16 registers for
 *                 a whole K slice: per k one vload16 per 16 columns of the
 *                 packed B panel, one broadcast per row of the packed A panel,
 *                 MR*NR/16 float16 FMAs. No __local, no barriers (a barrier
 *                 splits PoCL's work-item loop and costs ~8x). The B panel is
 *                 reused from cache for the GEMM_MT A panels. Writes only the
 *                 valid M x N region of C (C is not padded).
 *
 * Variant 1b -- CPU style without packing A, when A is stored [M,K]
 *   (transA == 0) and N is small (the host's gemmDirectMaximumN, 256): each
 *   packed A panel would then serve only a few B panels, so packing it (a full
 *   extra pass over A, 15-20% of these GEMMs) costs more than it saves. Two
 *   launches:
 *     gemm_pack_b          as above.
 *     gemm_forward_direct  args (a, packedB, c, M, N, K),
 *                 global (ceil(Np/NR, GEMM_NT), ceil(Mp/MR, GEMM_MT), batch),
 *                 local (1, 1, 1). Same micro-kernel as gemm_forward_packed, but
 *                 the MR broadcasts per k are read straight from the MR rows of A
 *                 (rows >= M of an edge tile re-read row M-1; never stored).
 *   With larger N the packed path stays ahead (2048^3: direct 10-15% slower).
 *   A stored [K,M] (transA, K large in weight gradients) is always packed:
 *   direct loads of it thrash the cache (rows of A are M floats apart; 2-4x
 *   slower).
 *
 * GPU devices run gemm_gpu.cl instead (register-tiled, built per tile).
 *
 * Numerics: float32 accumulation with fma in plain k order (when K > GEMM_KC
 * the running sum is parked in C between slices; same order, same result).
 * Relative error vs a double reference ~1e-7 for K of a few hundred/thousand.
 * Assumptions: M, N, K >= 1; each matrix of one batch has < 2^31 elements
 * (offsets are computed in size_t).
 */

#ifndef GEMM_MR
#define GEMM_MR 6
#endif
#ifndef GEMM_NR
#define GEMM_NR 16
#endif
#ifndef GEMM_MT
#define GEMM_MT 16
#endif
#ifndef GEMM_NT
#define GEMM_NT 1
#endif
#ifndef GEMM_KC
#define GEMM_KC 4096
#endif


#if (GEMM_NR % 16) != 0
#error "GEMM_NR must be a multiple of 16"
#endif
#if GEMM_MR < 1 || GEMM_MR > 16
#error "GEMM_MR must be in 1..16"
#endif

#define GEMM_NV (GEMM_NR / 16) /* float16 vectors per micro-tile row */

/* ---------------------------------------------------------------------------
 * Packing, so the micro-kernel reads both operands with unit stride.
 * gemm_pack_a: A stored [M,K]; one work-item writes one k-slice (MR contiguous
 * floats) of one panel, k fastest so neighbouring work-items (which PoCL runs
 * as one vectorised loop) read neighbouring source addresses.
 * ------------------------------------------------------------------------- */
__kernel void gemm_pack_a(__global const float* a, __global float* packed,
                          const int M, const int K)
{
    const int bt = get_global_id(2);
    const int nP = (M + GEMM_MR - 1) / GEMM_MR;   /* = Mp / MR */
    const int Mp = nP * GEMM_MR;
    const size_t lin = get_global_id(1) * get_global_size(0) + get_global_id(0);
    if (lin >= (size_t)nP * K) return;
    const int p = (int)(lin / K), k = (int)(lin - (size_t)p * K);
    __global const float* src = a + (size_t)bt * M * K;
    __global float* dst = packed + (size_t)bt * Mp * K + ((size_t)p * K + k) * GEMM_MR;
    const int r0 = p * GEMM_MR;
    __global const float* s = src + (size_t)r0 * K + k;
    #pragma unroll
    for (int r = 0; r < GEMM_MR; ++r)
        dst[r] = (r0 + r < M) ? s[(size_t)r * K] : 0.0f;
}

__kernel void gemm_pack_b(__global const float* b, __global float* packed,
                          const int K, const int N, const int transB)
{
    const int bt = get_global_id(2);
    const int nP = (N + GEMM_NR - 1) / GEMM_NR;   /* = Np / NR */
    const int Np = nP * GEMM_NR;
    /* as in gemm_pack_a: panel fastest for [K,N], k fastest for [N,K] */
    const size_t lin = get_global_id(1) * get_global_size(0) + get_global_id(0);
    if (lin >= (size_t)nP * K) return;
    int p, k;
    if (transB) { p = (int)(lin / K);  k = (int)(lin - (size_t)p * K); }
    else        { k = (int)(lin / nP); p = (int)(lin - (size_t)k * nP); }

    __global const float* src = b + (size_t)bt * K * N;
    __global float* dst = packed + (size_t)bt * Np * K + ((size_t)p * K + k) * GEMM_NR;
    const int c0 = p * GEMM_NR;

    if (transB) {
        /* stored [N,K]: column c of op(B) row k is src[c*K + k] */
        __global const float* s = src + (size_t)c0 * K + k;
        #pragma unroll
        for (int c = 0; c < GEMM_NR; ++c)
            dst[c] = (c0 + c < N) ? s[(size_t)c * K] : 0.0f;
    } else {
        __global const float* s = src + (size_t)k * N + c0;
        if (c0 + GEMM_NR <= N) {
            #pragma unroll
            for (int v = 0; v < GEMM_NV; ++v)
                vstore16(vload16(v, s), v, dst);
        } else {
            for (int c = 0; c < GEMM_NR; ++c)
                dst[c] = (c0 + c < N) ? s[c] : 0.0f;
        }
    }
}

/* ---------------------------------------------------------------------------
 * gemm_pack_a_transposed: A stored [K,M] (the weight gradients, K = tokens),
 * the same packed layout as gemm_pack_a. Each work-item packs one panel over a
 * run of k values, whose MR rows at each k are contiguous in the source:
 *   global (Mp/MR, ceil(K / 32), batch), local NULL (32 k per work-item;
 *   8..128 ran alike; any global size(1) works, the run being
 *   ceil(K / get_global_size(1))). No divisions per element and contiguous
 *   writes: ~1.6x faster than one work-item per k-slice.
 * ------------------------------------------------------------------------- */
__kernel void gemm_pack_a_transposed(__global const float* a, __global float* packed,
                                     const int M, const int K)
{
    const int bt = get_global_id(2);
    const int nP = (M + GEMM_MR - 1) / GEMM_MR;
    const int Mp = nP * GEMM_MR;
    const int p = get_global_id(0);
    const int kper = (K + (int)get_global_size(1) - 1) / (int)get_global_size(1);
    const int k0 = (int)get_global_id(1) * kper;
    const int k1 = min(K, k0 + kper);
    if (p >= nP || k0 >= K) return;
    __global const float* src = a + (size_t)bt * M * K;
    __global float* dst = packed + (size_t)bt * Mp * K + (size_t)p * K * GEMM_MR;
    const int r0 = p * GEMM_MR;
    if (r0 + GEMM_MR <= M) {
        for (int k = k0; k < k1; ++k) {
            __global const float* s = src + (size_t)k * M + r0;
            #pragma unroll
            for (int r = 0; r < GEMM_MR; ++r) dst[(size_t)k * GEMM_MR + r] = s[r];
        }
    } else {
        for (int k = k0; k < k1; ++k) {
            __global const float* s = src + (size_t)k * M + r0;
            #pragma unroll
            for (int r = 0; r < GEMM_MR; ++r) dst[(size_t)k * GEMM_MR + r] = (r0 + r < M) ? s[r] : 0.0f;
        }
    }
}

/* ---------------------------------------------------------------------------
 * Micro-tile pieces shared by gemm_forward_packed and gemm_forward_direct (always inlined, so
 * the accumulators stay in registers).
 * ------------------------------------------------------------------------- */

/* The accumulators at the start of a K slice: 0 for the first, else the partial sums parked
 * in C (an edge tile reads its valid part, the rest 0). */
static inline __attribute__((always_inline))
void gemm_tile_begin(float16 acc[GEMM_MR][GEMM_NV], __global const float* C, const int k0, const int full,
                     const int row0, const int col0, const int M, const int N)
{
    if (k0 == 0) {
        #pragma unroll
        for (int r = 0; r < GEMM_MR; ++r)
            #pragma unroll
            for (int v = 0; v < GEMM_NV; ++v)
                acc[r][v] = (float16)(0.0f);
    } else if (full) {
        #pragma unroll
        for (int r = 0; r < GEMM_MR; ++r)
            #pragma unroll
            for (int v = 0; v < GEMM_NV; ++v)
                acc[r][v] = vload16(v, C + (size_t)r * N);
    } else {
        #pragma unroll
        for (int r = 0; r < GEMM_MR; ++r)
            #pragma unroll
            for (int v = 0; v < GEMM_NV; ++v) {
                float tmp[16];
                for (int e = 0; e < 16; ++e) {
                    const int cc = v * 16 + e;
                    tmp[e] = (row0 + r < M && col0 + cc < N) ? C[(size_t)r * N + cc] : 0.0f;
                }
                acc[r][v] = vload16(0, tmp);
            }
    }
}

/* Writes the tile; an edge tile stores only its valid part, with scalar stores. */
static inline __attribute__((always_inline))
void gemm_tile_end(float16 acc[GEMM_MR][GEMM_NV], __global float* C, const int full,
                   const int row0, const int col0, const int M, const int N)
{
    if (full) {
        #pragma unroll
        for (int r = 0; r < GEMM_MR; ++r)
            #pragma unroll
            for (int v = 0; v < GEMM_NV; ++v)
                vstore16(acc[r][v], v, C + (size_t)r * N);
    } else {
        #pragma unroll
        for (int r = 0; r < GEMM_MR; ++r)
            #pragma unroll
            for (int v = 0; v < GEMM_NV; ++v) {
                float tmp[16];
                vstore16(acc[r][v], 0, tmp);
                for (int e = 0; e < 16; ++e) {
                    const int cc = v * 16 + e;
                    if (row0 + r < M && col0 + cc < N) C[(size_t)r * N + cc] = tmp[e];
                }
            }
    }
}

/* The k loop of one K slice: per k, NR values of the packed B panel and the MR values of A
 * that ALOAD(r) reads, MR*NR/16 float16 FMAs; ASTEP advances A. */
#define GEMM_K_LOOP(ALOAD, ASTEP)                                               \
    for (int k = 0; k < kn; ++k) {                                              \
        float16 bv[GEMM_NV];                                                    \
        _Pragma("unroll")                                                       \
        for (int v = 0; v < GEMM_NV; ++v)                                       \
            bv[v] = vload16(v, B);                                              \
        _Pragma("unroll")                                                       \
        for (int r = 0; r < GEMM_MR; ++r) {                                     \
            const float16 av = (float16)(ALOAD);                                \
            _Pragma("unroll")                                                   \
            for (int v = 0; v < GEMM_NV; ++v)                                   \
                acc[r][v] = fma(av, bv[v], acc[r][v]);                          \
        }                                                                       \
        ASTEP;                                                                  \
        B += GEMM_NR;                                                           \
    }

/* ---------------------------------------------------------------------------
 * Micro-kernel on packed panels.
 * ------------------------------------------------------------------------- */
__kernel void gemm_forward_packed(__global const float* ap, __global const float* bp,
                                  __global float* c,
                                  const int M, const int N, const int K)
{
    const int bt = get_global_id(2);
    const int nPi = (M + GEMM_MR - 1) / GEMM_MR;   /* = Mp / MR */
    const int nPj = (N + GEMM_NR - 1) / GEMM_NR;   /* = Np / NR */
    const int pj0 = get_global_id(0) * GEMM_NT;
    const int pi0 = get_global_id(1) * GEMM_MT;
    if (pj0 >= nPj || pi0 >= nPi) return;
    const int pj1 = min(pj0 + GEMM_NT, nPj);
    const int pi1 = min(pi0 + GEMM_MT, nPi);

    __global const float* Ab = ap + (size_t)bt * nPi * GEMM_MR * K;
    __global const float* Bb = bp + (size_t)bt * nPj * GEMM_NR * K;
    __global float* Cb = c + (size_t)bt * M * N;

    /* K is cut into GEMM_KC slices so the B sub-panel (KC x NR floats) stays
     * in L2 while it is reused for GEMM_MT A panels (and the MT A sub-panels
     * while reused for GEMM_NT B panels). The C tile is carried across slices
     * in C itself (written after the first slice, read back and updated after
     * later ones); every partial sum is still a float32 accumulation in plain
     * k order. Slicing costs a C round trip, so it is off for K <= 4096. */
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        const int kn = min(GEMM_KC, K - k0);
        for (int pj = pj0; pj < pj1; ++pj) {
            const int col0 = pj * GEMM_NR;
            for (int pi = pi0; pi < pi1; ++pi) {
                const int row0 = pi * GEMM_MR;
                __global float* C = Cb + (size_t)row0 * N + col0;
                const int full = (row0 + GEMM_MR <= M && col0 + GEMM_NR <= N);

                float16 acc[GEMM_MR][GEMM_NV];
                gemm_tile_begin(acc, C, k0, full, row0, col0, M, N);
                __global const float* A = Ab + ((size_t)pi * K + k0) * GEMM_MR;
                __global const float* B = Bb + ((size_t)pj * K + k0) * GEMM_NR;
                GEMM_K_LOOP(A[r], A += GEMM_MR)
                gemm_tile_end(acc, C, full, row0, col0, M, N);
            }
        }
    }
}

/* ---------------------------------------------------------------------------
 * Micro-kernel reading A in place (no gemm_pack_a): global/local as
 * gemm_forward_packed, A is the original [M,K] matrix.
 * Rows >= M of an edge tile read row M-1 (clamped) and are not stored.
 * ------------------------------------------------------------------------- */
__kernel void gemm_forward_direct(__global const float* a, __global const float* bp,
                                  __global float* c, const int M, const int N, const int K)
{
    const int bt = get_global_id(2);
    const int nPi = (M + GEMM_MR - 1) / GEMM_MR;
    const int nPj = (N + GEMM_NR - 1) / GEMM_NR;
    const int pj0 = get_global_id(0) * GEMM_NT;
    const int pi0 = get_global_id(1) * GEMM_MT;
    if (pj0 >= nPj || pi0 >= nPi) return;
    const int pj1 = min(pj0 + GEMM_NT, nPj);
    const int pi1 = min(pi0 + GEMM_MT, nPi);

    __global const float* Ab = a + (size_t)bt * M * K;
    __global const float* Bb = bp + (size_t)bt * nPj * GEMM_NR * K;
    __global float* Cb = c + (size_t)bt * M * N;

    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        const int kn = min(GEMM_KC, K - k0);
        for (int pj = pj0; pj < pj1; ++pj) {
            const int col0 = pj * GEMM_NR;
            for (int pi = pi0; pi < pi1; ++pi) {
                const int row0 = pi * GEMM_MR;
                __global float* C = Cb + (size_t)row0 * N + col0;
                const int full = (row0 + GEMM_MR <= M && col0 + GEMM_NR <= N);

                float16 acc[GEMM_MR][GEMM_NV];
                gemm_tile_begin(acc, C, k0, full, row0, col0, M, N);
                __global const float* Ar[GEMM_MR];
                #pragma unroll
                for (int r = 0; r < GEMM_MR; ++r)
                    Ar[r] = Ab + (size_t)min(row0 + r, M - 1) * K + k0;
                __global const float* B = Bb + ((size_t)pj * K + k0) * GEMM_NR;
                GEMM_K_LOOP(Ar[r][k], (void)0)
                gemm_tile_end(acc, C, full, row0, col0, M, N);
            }
        }
    }
}
