/*
 * attention_gpu.cl -- GPU-class attention (FlashAttention-2 shape, arXiv 2307.08691),
 * float32, for AlignCL. Built only for GPU devices, as its own program; the host builds one
 * program per head-width bucket ATTN_DP = 16/32/64/128/256 (the smallest >= max(D, Dv)).
 * Layouts, key mask, causal rule, lse, empty rows and numerics are those of attention.cl:
 *   q [B,H,Lq,D], k [B,H,Lk,D], v [B,H,Lk,Dv], out/dout [B,H,Lq,Dv], lse/delta [B,H,Lq],
 *   dq [B,H,Lq,D], dk [B,H,Lk,D], dv [B,H,Lk,Dv], key_mask [B,Lk] (nonzero = keep, read only
 *   when has_mask != 0). Key j is visible to query i iff
 *   (!has_mask || key_mask[b,j] != 0) && (!causal || j <= i + Lk - Lq).
 *   Empty row (no visible key): out = 0, lse = -INFINITY, dq = 0; unseen keys: dk = dv = 0.
 * Order: forward -> attention_backward_delta_gpu -> dq and dkdv (either order). No atomics,
 * no scratch buffers, every output element written, deterministic (fixed reduction orders).
 *
 * ceil(a,b) = (a+b-1)/b. Run-time sizes: all >= 1, D <= ATTN_DP, Dv <= ATTN_DP.
 * attention_forward_gpu(q, k, v, key_mask, out, lse, B, H, Lq, Lk, D, Dv, scale, has_mask, causal)
 *   global (ceil(Lq, F_BQ) * F_WG, B*H), local (F_WG, 1);  F_WG = (F_BQ/F_RQ) * (F_BK/F_RK)
 *   __local bytes = 4 * (F_BQ*(DP+4) + F_BK*(DP+1) + F_BQ*(F_BK+4) + F_BQ*F_BK/F_RK)
 * attention_backward_delta_gpu(out, dout, delta, B, H, Lq, Dv)
 *   global (ceil(B*H*Lq, DG_WG/DG_TPR) * DG_WG), local (DG_WG)   -- 1-D
 *   __local bytes = 4 * DG_WG
 * attention_backward_dq_gpu(q, k, v, key_mask, lse, delta, dout, dq, B, H, Lq, Lk, D, Dv,
 *                           scale, has_mask, causal)
 *   global (ceil(Lq, Q_BQ) * Q_WG, B*H), local (Q_WG, 1);  Q_WG = (Q_BQ/Q_RQ) * (Q_BK/Q_RK)
 *   __local bytes = 4 * (2*Q_BQ*(DP+4) + 2*Q_BK*(DP+1) + Q_BQ*(Q_BK+4))
 * attention_backward_dkdv_gpu(q, k, v, key_mask, lse, delta, dout, dk, dv, B, H, Lq, Lk, D, Dv,
 *                             scale, has_mask, causal)
 *   global (ceil(Lk, KV_BK) * KV_WG, B*H), local (KV_WG, 1); KV_WG = (KV_BK/KV_RK)*(KV_BQ/KV_RQ)
 *   __local bytes = 4 * (2*KV_BK*(DP+4) + 2*KV_BQ*(DP+1) + 2*KV_BK*(KV_BQ+4))
 * (Define names: F_x = ATTN_F_x, Q_x = ATTN_Q_x, KV_x = ATTN_KV_x, DG_x = ATTN_DG_x, DP = ATTN_DP.)
 *
 * Shape (FlashAttention-2). A work-group owns a block of BQ queries (dkdv: BK keys) of one
 * (b,h) and walks tiles of the other side, staged through __local, zero padded to DP
 * columns and past the sequence end. Work-item (tq, tk), local id = tq*NC + tk, owns a
 * register tile of S (= scale Q K^T, or dP = dO V^T) with rows tq*R + i (i < R, R = RQ; dkdv:
 * keys, R = RK) and other-side indices tk + j*NC (j < C), NC = BK/RK (dkdv: BQ/RQ), and an
 * R x RC tile of the output (O, dQ, dK, dV) with columns tk + u*NC, u < RC = DP/NC.
 * Every product is acc[i][j] += A[row i][k] * B(j, k) with A read as float4 along k (the
 * same address for the NC work-items of a row: a broadcast) from rows padded to +4 floats,
 * and B read as scalars from rows padded to +1 float (consecutive tk -> consecutive banks).
 *   forward: S = Q K^T; online softmax per row (running max m, running sum l); the tile
 *     max is reduced over the NC owners of a row through __local; each owner keeps its own
 *     partial sum l (rescaled by the row's common alpha) and the NC partials are added, in tk
 *     order, once at the end. P goes to __local, O = alpha O + P V in registers. K and V
 *     share one __local tile (V is staged after S is formed). 4 barriers per key tile.
 *   dq: per key tile S = Q K^T, dP = dO V^T, dS = P (dP - delta), P = exp(scale S - lse)
 *     recomputed from the saved lse; dS to __local; dQ += dS K. 3 barriers per tile.
 *   dkdv: K, V of the block stay in __local; per query tile S^T = K Q^T, dP^T = V dO^T;
 *     P^T, dS^T to __local; dV += P^T dO, dK += dS^T Q. 3 barriers per tile.
 * Causal: the forward and dq stop at the key tile holding the last key the block's last
 * query sees; dkdv starts at the first query that sees the block's first key. Both bounds
 * are work-group uniform; the per-element test masks the rest.
 * Numerics: float32 fma; an empty row keeps m = -inf and uses shift 0 (no -inf - -inf);
 * exp arguments are <= 0 (backward: up to rounding); lse = m + log(l) (natural log); the
 * backward replaces lse = -inf by +inf and forces p = 0 for invisible pairs, so masked
 * keys get exact zeros. Results differ from attention.cl only by summation order (~1e-6).
 *
 * Cost. Per item the S-type products (S, dP, S^T, dP^T) run an R x C tile over k and the
 *   output products (P.V, dS.K, P^T.dO, dS^T.Q) an R x RC tile over the tile's keys
 *   (queries): __local words per FMA = (R + C)/(R*C), resp. (R + RC)/(R*RC); load
 *   instructions per FMA = (R/4 + C)/(R*C), resp. (R/4 + RC)/(R*RC) (float4 broadcasts).
 *     tiles (DP = 64)         S-type words/instr per FMA   output-type words/instr
 *     32 KiB F  32x32 4x4,RC8      0.50 / 0.31               0.38 / 0.28
 *     32 KiB Q  32x16 4x2,RC8      0.75 / 0.38               0.38 / 0.28
 *     32 KiB KV 16x24 2x3,RC8      0.83 / 0.58               0.63 / 0.53
 *     NVIDIA F/Q/KV 8x2, RC4       0.63 / 0.25               0.38 / 0.19
 *   Global bytes per output element (d = D = Dv; reads of a head's other side repeat per
 *   block and are L2 hits for L <= ~8K): forward 8*Lk/F_BQ (K, V) + 4 (q) + 4 (out);
 *   dq 8*Lk/Q_BQ + 8 (q, dout) + 4; dkdv 4*Lq/KV_BK (q, dout per dk+dv pair) + 4 (k or v)
 *   + 4 + 8*Lq/(KV_BK*d) (lse, delta); delta kernel 8 B per dout element, 4 per row.
 *   At L = 1024 with the NVIDIA tiles: ~136 B/out (fwd), ~270 (dq), ~136 (dkdv) from L2,
 *   i.e. >= 30 FLOP per L2 byte; DRAM traffic is ~compulsory (all heads' K,V fit the L2).
 * H100 estimate, B4 H8 L1024 D64 fwd+bwd, NVIDIA tiles (DP = 64 row below). Work: 9
 *   L x L x 64 matrix products per head (fwd 2, dq 3, dkdv 4; S is recomputed in both
 *   backward kernels) = 38.7 GFLOP. SM model: 4 FFMA warp-instr/clk, shared memory 128
 *   B/clk = 1 wavefront/clk (a warp's LDS.32 of 32 consecutive words, or a float4
 *   broadcast to 2 row groups), 1 instruction/clk per scheduler.
 *   forward 64x32, 8x2 S / 8x4 O, 128 items, 39 KiB -> 5 groups (20 warps)/SM, ~96 regs:
 *     S: per k 2 LDS.128 + 2 LDS.32 per 16 FFMA -> 4 wavefronts vs 4 FFMA-clk: balanced,
 *     issue 20 instr / 16 FFMA (80%); P.V 6 wavefronts per 32 FFMA (FMA-bound, 84% issue);
 *     per tile the row-max reduction (8 rows x 16 partials), 16 exp, mask and P stores are
 *     ~20% of the 2048 FFMA, 4 barriers hidden by the other groups -> ~50-60% of peak.
 *     512 groups fill 132 SMs x ~3.9 groups in one wave.
 *   dq 32x32 and dkdv 32x32 (8x2 S, 8x4 out, 64 items, 38-43 KiB, 5 groups = 10 warps/SM,
 *     ~110-140 regs): same load ratios, 3 barriers per tile with only 10 warps, exp +
 *     dS stores, and 1024 groups = 1.55 waves of 660 slots (tail) -> ~35-45% each.
 *   Overall ~40-45% of FP32 peak on the 9 products (~25 TFLOP/s, ~1.6 ms), ~35% counted as
 *   FlashAttention-2's 7 products. Limits: FP32 FFMA only (OpenCL C has no tensor cores,
 *   FA2's fp16 kernel is ~10x faster), no double-buffered staging, no subgroup shuffles.
 *   Real numbers depend on NVIDIA's OpenCL compiler keeping the tiles in registers.
 *
 * Tile picks (-D ATTN_DP=... plus the tiles; WG = items, bytes = __local):
 *   DP    F: BQ BK RQ RK (WG, bytes)    Q: BQ BK RQ RK (WG, bytes)    KV: BK BQ RK RQ (WG, bytes)
 *   32 KiB / 256 items (these are the #ifndef defaults; all <= 30 KiB; 4x4-ish tiles keep
 *   <= ~64 accumulators, safe on Mali/Adreno/Intel register files):
 *   16    64 32 4 2 (256, 20608)        64 32 4 4 (128, 23808)        32 32 4 4 (64, 18688)
 *   32    64 32 4 4 (128, 24704)        64 16 4 2 (128, 27776)        32 32 4 4 (64, 26880)
 *   64    32 32 4 4 (64, 22656)         32 16 4 2 (64, 28288)         16 24 2 3 (64, 24768)
 *   128   32 16 4 2 (64, 28736)         16  8 2 1 (64, 25920)         16  8 2 1 (64, 26688)
 *   256   16  8 2 1 (64, 26144)          4  8 1 1 (32, 24960)          4  8 1 1 (32, 25152)
 *   48 KiB static / 1024 items (NVIDIA; also AMD's 64 KiB LDS), all <= 45312 B:
 *   16   128 32 8 4 (128, 34944)       128 16 8 2 (128, 32896)       128 16 8 2 (128, 43136)
 *   32   128 16 8 2 (128, 34880)        64 32 4 4 (128, 36096)        64 32 8 2 (128, 45312)
 *   64    64 32 8 2 (128, 39040)        32 32 8 2 (64, 38656)         32 32 8 2 (64, 43264)
 *   128   32 32 8 2 (64, 40064)         16 16 4 2 (32, 34688)          8 32 4 2 (32, 43776)
 *   256   16 16 4 1 (64, 35392)          8  8 2 1 (32, 33472)          8  8 1 1 (64, 33856)
 *   Rule: DP = the smallest bucket >= max(D, Dv); the 48 KiB row when
 *   CL_DEVICE_LOCAL_MEM_SIZE >= 48 KiB and CL_DEVICE_MAX_WORK_GROUP_SIZE >= 128, else the
 *   defaults; any other legal tiles are correct if their bytes fit the local memory (minus
 *   ~1 KiB for the runtime) and WG <= the device's (and the kernel's) max work-group size.
 *   Delta: ATTN_DG_WG = 256 (64 on devices with smaller groups), ATTN_DG_TPR = 16.
 * PoCL (CPU, 2-core EPYC, B4 H8 L256 D64, 32 KiB defaults): fwd 232 + delta 2 + dq 241 +
 *   dkdv 345 ms = ~0.8 s; correct but ~15x slower than attention.cl's CPU kernels and
 *   ~1.6x faster than the previous one-row-per-item GPU kernels there.
 * Legal values (checked below): ATTN_DP a multiple of 16; R* in 1..8; BQ % RQ == 0,
 * BK % RK == 0; the P tile's k-side (F_BK, Q_BK, KV_BQ) a multiple of 4; DP % NC == 0;
 * WG <= 1024. No early return (PoCL 3.1): out-of-range items compute on zero-padded rows
 * and skip their stores; every loop with a barrier has a work-group-uniform trip count.
 */

#ifndef ATTN_DP
#define ATTN_DP 64
#endif
#if ATTN_DP < 16 || (ATTN_DP % 16) != 0
#error "ATTN_DP must be a positive multiple of 16"
#endif

/* Defaults: the 32 KiB / 256-item row for DP = 64. The host passes every tile
 * (Sources/Compute/OpenCL/GPUTiles.swift holds the table above, per bucket and device). */
#define ATTN_DEF_F 32, 32, 4, 4
#define ATTN_DEF_Q 32, 16, 4, 2
#define ATTN_DEF_KV 16, 24, 2, 3
#define ATTN_P0(a, b, c, d) a
#define ATTN_P1(a, b, c, d) b
#define ATTN_P2(a, b, c, d) c
#define ATTN_P3(a, b, c, d) d
#define ATTN_PICK(n, ...) ATTN_P##n(__VA_ARGS__)
#define ATTN_PICKX(n, t) ATTN_PICK(n, t)

#ifndef ATTN_F_BQ
#define ATTN_F_BQ ATTN_PICKX(0, ATTN_DEF_F)
#endif
#ifndef ATTN_F_BK
#define ATTN_F_BK ATTN_PICKX(1, ATTN_DEF_F)
#endif
#ifndef ATTN_F_RQ
#define ATTN_F_RQ ATTN_PICKX(2, ATTN_DEF_F)
#endif
#ifndef ATTN_F_RK
#define ATTN_F_RK ATTN_PICKX(3, ATTN_DEF_F)
#endif
#ifndef ATTN_Q_BQ
#define ATTN_Q_BQ ATTN_PICKX(0, ATTN_DEF_Q)
#endif
#ifndef ATTN_Q_BK
#define ATTN_Q_BK ATTN_PICKX(1, ATTN_DEF_Q)
#endif
#ifndef ATTN_Q_RQ
#define ATTN_Q_RQ ATTN_PICKX(2, ATTN_DEF_Q)
#endif
#ifndef ATTN_Q_RK
#define ATTN_Q_RK ATTN_PICKX(3, ATTN_DEF_Q)
#endif
#ifndef ATTN_KV_BK
#define ATTN_KV_BK ATTN_PICKX(0, ATTN_DEF_KV)
#endif
#ifndef ATTN_KV_BQ
#define ATTN_KV_BQ ATTN_PICKX(1, ATTN_DEF_KV)
#endif
#ifndef ATTN_KV_RK
#define ATTN_KV_RK ATTN_PICKX(2, ATTN_DEF_KV)
#endif
#ifndef ATTN_KV_RQ
#define ATTN_KV_RQ ATTN_PICKX(3, ATTN_DEF_KV)
#endif
#ifndef ATTN_DG_WG
#define ATTN_DG_WG 256
#endif
#ifndef ATTN_DG_TPR
#define ATTN_DG_TPR 16
#endif

#define ATTN_LA (ATTN_DP + 4)                    /* broadcast-operand row stride (float4 aligned) */
#define ATTN_LB (ATTN_DP + 1)                    /* scalar-operand row stride (bank-conflict free) */

#define ATTN_F_NC (ATTN_F_BK / ATTN_F_RK)
#define ATTN_F_WG ((ATTN_F_BQ / ATTN_F_RQ) * ATTN_F_NC)
#define ATTN_F_RC (ATTN_DP / ATTN_F_NC)
#define ATTN_F_PS (ATTN_F_BK + 4)
#define ATTN_Q_NC (ATTN_Q_BK / ATTN_Q_RK)
#define ATTN_Q_WG ((ATTN_Q_BQ / ATTN_Q_RQ) * ATTN_Q_NC)
#define ATTN_Q_RC (ATTN_DP / ATTN_Q_NC)
#define ATTN_Q_PS (ATTN_Q_BK + 4)
#define ATTN_KV_NC (ATTN_KV_BQ / ATTN_KV_RQ)
#define ATTN_KV_WG ((ATTN_KV_BK / ATTN_KV_RK) * ATTN_KV_NC)
#define ATTN_KV_RC (ATTN_DP / ATTN_KV_NC)
#define ATTN_KV_PS (ATTN_KV_BQ + 4)

#if ATTN_F_RQ < 1 || ATTN_F_RQ > 8 || ATTN_F_RK < 1 || ATTN_F_RK > 8 || \
    ATTN_Q_RQ < 1 || ATTN_Q_RQ > 8 || ATTN_Q_RK < 1 || ATTN_Q_RK > 8 || \
    ATTN_KV_RQ < 1 || ATTN_KV_RQ > 8 || ATTN_KV_RK < 1 || ATTN_KV_RK > 8
#error "register tile sizes ATTN_*_RQ, ATTN_*_RK must be in 1..8"
#endif
#if (ATTN_F_BQ % ATTN_F_RQ) || (ATTN_F_BK % ATTN_F_RK) || (ATTN_F_BK % 4) || (ATTN_DP % ATTN_F_NC)
#error "forward tiles: need F_BQ % F_RQ == 0, F_BK % F_RK == 0, F_BK % 4 == 0, DP % (F_BK/F_RK) == 0"
#endif
#if (ATTN_Q_BQ % ATTN_Q_RQ) || (ATTN_Q_BK % ATTN_Q_RK) || (ATTN_Q_BK % 4) || (ATTN_DP % ATTN_Q_NC)
#error "dq tiles: need Q_BQ % Q_RQ == 0, Q_BK % Q_RK == 0, Q_BK % 4 == 0, DP % (Q_BK/Q_RK) == 0"
#endif
#if (ATTN_KV_BK % ATTN_KV_RK) || (ATTN_KV_BQ % ATTN_KV_RQ) || (ATTN_KV_BQ % 4) || (ATTN_DP % ATTN_KV_NC)
#error "dkdv tiles: need KV_BK % KV_RK == 0, KV_BQ % KV_RQ == 0, KV_BQ % 4 == 0, DP % (KV_BQ/KV_RQ) == 0"
#endif
#if ATTN_F_WG > 1024 || ATTN_Q_WG > 1024 || ATTN_KV_WG > 1024
#error "work-group size (BQ/RQ)*(BK/RK) must be <= 1024"
#endif
#if ATTN_DG_WG < 1 || ATTN_DG_WG > 1024 || (ATTN_DG_WG & (ATTN_DG_WG - 1)) || \
    ATTN_DG_TPR < 1 || ATTN_DG_TPR > ATTN_DG_WG || (ATTN_DG_TPR & (ATTN_DG_TPR - 1))
#error "ATTN_DG_WG and ATTN_DG_TPR must be powers of two with ATTN_DG_TPR <= ATTN_DG_WG <= 1024"
#endif

/* acc[i][j] += sum_{k < K4} A[i*lda + k] * Bt[j*sj + k*sk], i < R, j < C.
 * A: this item's first row in __local, float4 along k (lda, k multiples of 4); Bt: this
 * item's first element of B. Fully unrolled over i, j, and the 4 lanes of k. */
#define ATTN_MM(acc, R, C, A, lda, K4, Bt, sj, sk)                                       \
    for (int k0_ = 0; k0_ < (K4); k0_ += 4) {                                            \
        float a_[R][4];                                                                  \
        _Pragma("unroll") for (int i_ = 0; i_ < (R); ++i_) {                             \
            const float4 t_ = vload4(0, (A) + i_ * (lda) + k0_);                         \
            a_[i_][0] = t_.x; a_[i_][1] = t_.y; a_[i_][2] = t_.z; a_[i_][3] = t_.w;      \
        }                                                                                \
        _Pragma("unroll") for (int kk_ = 0; kk_ < 4; ++kk_) {                            \
            float b_[C];                                                                 \
            _Pragma("unroll") for (int j_ = 0; j_ < (C); ++j_)                           \
                b_[j_] = (Bt)[j_ * (sj) + (k0_ + kk_) * (sk)];                           \
            _Pragma("unroll") for (int i_ = 0; i_ < (R); ++i_)                           \
                _Pragma("unroll") for (int j_ = 0; j_ < (C); ++j_)                       \
                    acc[i_][j_] = fma(a_[i_][kk_], b_[j_], acc[i_][j_]);                 \
        }                                                                                \
    }

#define ATTN_ZERO(acc, R, C)                                                             \
    _Pragma("unroll") for (int i_ = 0; i_ < (R); ++i_)                                   \
        _Pragma("unroll") for (int j_ = 0; j_ < (C); ++j_) acc[i_][j_] = 0.0f

/* Cooperative copy of rows [r0, r0 + nrows) x columns [0, ATTN_DP) of a dense [n, w] global
 * matrix into dst (row stride lds); rows >= n and columns >= w become 0. Consecutive items
 * take consecutive float4 chunks of a row (coalesced); scalar when w % 4 != 0. */
static inline void attn_stage(__local float* dst, const int lds, __global const float* src,
                              const int r0, const int nrows, const int n, const int w,
                              const int lid, const int wg)
{
    if ((w & 3) == 0) {
        const int cpr = ATTN_DP / 4;
        for (int x = lid; x < nrows * cpr; x += wg) {
            const int r = x / cpr, c = (x - r * cpr) * 4;
            float4 t = (float4)(0.0f);
            if (r0 + r < n && c < w) t = vload4(0, src + (size_t)(r0 + r) * w + c);
            __local float* d = dst + r * lds + c;
            d[0] = t.x; d[1] = t.y; d[2] = t.z; d[3] = t.w;
        }
    } else {
        for (int x = lid; x < nrows * ATTN_DP; x += wg) {
            const int r = x / ATTN_DP, c = x - r * ATTN_DP;
            dst[r * lds + c] = (r0 + r < n && c < w) ? src[(size_t)(r0 + r) * w + c] : 0.0f;
        }
    }
}

__kernel __attribute__((reqd_work_group_size(ATTN_F_WG, 1, 1)))
void attention_forward_gpu(__global const float* q, __global const float* k,
                           __global const float* v, __global const float* key_mask,
                           __global float* out, __global float* lse,
                           const int B, const int H, const int Lq, const int Lk,
                           const int D, const int Dv, const float scale,
                           const int has_mask, const int causal)
{
    __local float Qs[ATTN_F_BQ * ATTN_LA] __attribute__((aligned(16)));
    __local float KVs[ATTN_F_BK * ATTN_LB];
    __local float Ps[ATTN_F_BQ * ATTN_F_PS] __attribute__((aligned(16)));
    __local float red[ATTN_F_NC * ATTN_F_BQ];
    const int lid = get_local_id(0), tk = lid % ATTN_F_NC, tq = lid / ATTN_F_NC;
    const int q0 = get_group_id(0) * ATTN_F_BQ, bh = get_group_id(1), b = bh / H;
    const int off = Lk - Lq;
    const int glast = min(q0 + ATTN_F_BQ, Lq) - 1;  /* the block's last query: uniform */
    const int kend = causal ? clamp(glast + off + 1, 0, Lk) : Lk;
    const int ntiles = (kend + ATTN_F_BK - 1) / ATTN_F_BK;
    const int D4 = (D + 3) & ~3, Dv4 = (Dv + 3) & ~3;
    __global const float* K = k + (size_t)bh * Lk * D;
    __global const float* V = v + (size_t)bh * Lk * Dv;

    attn_stage(Qs, ATTN_LA, q + (size_t)bh * Lq * D, q0, ATTN_F_BQ, Lq, D, lid, ATTN_F_WG);
    float o[ATTN_F_RQ][ATTN_F_RC], m[ATTN_F_RQ], l[ATTN_F_RQ];
    ATTN_ZERO(o, ATTN_F_RQ, ATTN_F_RC);
    #pragma unroll
    for (int i = 0; i < ATTN_F_RQ; ++i) { m[i] = -INFINITY; l[i] = 0.0f; }

    for (int t = 0; t < ntiles; ++t) {
        const int kt = t * ATTN_F_BK;
        attn_stage(KVs, ATTN_LB, K, kt, ATTN_F_BK, Lk, D, lid, ATTN_F_WG);
        barrier(CLK_LOCAL_MEM_FENCE);
        float s[ATTN_F_RQ][ATTN_F_RK];
        ATTN_ZERO(s, ATTN_F_RQ, ATTN_F_RK);
        ATTN_MM(s, ATTN_F_RQ, ATTN_F_RK, Qs + tq * ATTN_F_RQ * ATTN_LA, ATTN_LA, D4,
                KVs + tk * ATTN_LB, ATTN_F_NC * ATTN_LB, 1);
        float pm[ATTN_F_RQ];
        #pragma unroll
        for (int i = 0; i < ATTN_F_RQ; ++i) pm[i] = -INFINITY;
        #pragma unroll
        for (int j = 0; j < ATTN_F_RK; ++j) {
            const int key = kt + tk + j * ATTN_F_NC;
            const int kvis = key < kend &&
                             (!has_mask || key_mask[(size_t)b * Lk + min(key, Lk - 1)] != 0.0f);
            #pragma unroll
            for (int i = 0; i < ATTN_F_RQ; ++i) {
                const int vis = kvis && (!causal || key <= q0 + tq * ATTN_F_RQ + i + off);
                s[i][j] = vis ? scale * s[i][j] : -INFINITY;
                pm[i] = fmax(pm[i], s[i][j]);
            }
        }
        #pragma unroll
        for (int i = 0; i < ATTN_F_RQ; ++i) red[tk * ATTN_F_BQ + tq * ATTN_F_RQ + i] = pm[i];
        barrier(CLK_LOCAL_MEM_FENCE);               /* K no longer read; tile maxima visible */
        attn_stage(KVs, ATTN_LB, V, kt, ATTN_F_BK, Lk, Dv, lid, ATTN_F_WG);
        #pragma unroll
        for (int i = 0; i < ATTN_F_RQ; ++i) {
            const int r = tq * ATTN_F_RQ + i;
            float mx = m[i];
            for (int x = 0; x < ATTN_F_NC; ++x) mx = fmax(mx, red[x * ATTN_F_BQ + r]);
            /* no visible key yet: keep m = -inf, shift 0 -> p = alpha = 0, never NaN */
            const float shift = (mx == -INFINITY) ? 0.0f : mx;
            const float alpha = exp(m[i] - shift);
            float ls = 0.0f;
            #pragma unroll
            for (int j = 0; j < ATTN_F_RK; ++j) {
                const float p = exp(s[i][j] - shift);
                ls += p;
                Ps[r * ATTN_F_PS + tk + j * ATTN_F_NC] = p;
            }
            l[i] = fma(l[i], alpha, ls);            /* this item's share of the row sum */
            #pragma unroll
            for (int u = 0; u < ATTN_F_RC; ++u) o[i][u] *= alpha;
            m[i] = mx;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ATTN_MM(o, ATTN_F_RQ, ATTN_F_RC, Ps + tq * ATTN_F_RQ * ATTN_F_PS, ATTN_F_PS, ATTN_F_BK,
                KVs + tk, ATTN_F_NC, ATTN_LB);
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    #pragma unroll
    for (int i = 0; i < ATTN_F_RQ; ++i) red[tk * ATTN_F_BQ + tq * ATTN_F_RQ + i] = l[i];
    barrier(CLK_LOCAL_MEM_FENCE);
    #pragma unroll
    for (int i = 0; i < ATTN_F_RQ; ++i) {
        const int r = tq * ATTN_F_RQ + i, row = q0 + r;
        float ls = 0.0f;
        for (int x = 0; x < ATTN_F_NC; ++x) ls += red[x * ATTN_F_BQ + r];
        /* l >= 1 iff the row saw a visible key; otherwise out = 0, lse = -inf */
        const int empty = !(ls > 0.0f);
        const float inv = empty ? 0.0f : 1.0f / ls;
        if (row < Lq) {
            __global float* O = out + ((size_t)bh * Lq + row) * Dv;
            #pragma unroll
            for (int u = 0; u < ATTN_F_RC; ++u) {
                const int c = tk + u * ATTN_F_NC;
                if (c < Dv) O[c] = o[i][u] * inv;
            }
            if (tk == 0) lse[(size_t)bh * Lq + row] = empty ? -INFINITY : m[i] + log(ls);
        }
    }
}

/* delta_i = dout_i . out_i: ATTN_DG_TPR items per row read it in coalesced float4 (scalar
 * when Dv % 4 != 0) chunks; partials added by a fixed tree in __local. */
__kernel __attribute__((reqd_work_group_size(ATTN_DG_WG, 1, 1)))
void attention_backward_delta_gpu(__global const float* out, __global const float* dout,
                                  __global float* delta, const int B, const int H,
                                  const int Lq, const int Dv)
{
    __local float red[ATTN_DG_WG];
    const int lid = get_local_id(0), lane = lid % ATTN_DG_TPR;
    const size_t rows = (size_t)B * H * Lq;
    const size_t row = (size_t)get_group_id(0) * (ATTN_DG_WG / ATTN_DG_TPR) + lid / ATTN_DG_TPR;
    const size_t rc = min(row, rows - 1);
    __global const float* o = out + rc * Dv;
    __global const float* g = dout + rc * Dv;
    float a = 0.0f;
    if ((Dv & 3) == 0) {
        float4 a4 = (float4)(0.0f);
        for (int c = lane * 4; c < Dv; c += ATTN_DG_TPR * 4)
            a4 = fma(vload4(0, o + c), vload4(0, g + c), a4);
        a = (a4.x + a4.y) + (a4.z + a4.w);
    } else {
        for (int c = lane; c < Dv; c += ATTN_DG_TPR) a = fma(o[c], g[c], a);
    }
    red[lid] = a;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = ATTN_DG_TPR / 2; s > 0; s >>= 1) {
        if (lane < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lane == 0 && row < rows) delta[row] = red[lid];
}

__kernel __attribute__((reqd_work_group_size(ATTN_Q_WG, 1, 1)))
void attention_backward_dq_gpu(__global const float* q, __global const float* k,
                               __global const float* v, __global const float* key_mask,
                               __global const float* lse, __global const float* delta,
                               __global const float* dout, __global float* dq,
                               const int B, const int H, const int Lq, const int Lk,
                               const int D, const int Dv, const float scale,
                               const int has_mask, const int causal)
{
    __local float Qs[ATTN_Q_BQ * ATTN_LA] __attribute__((aligned(16)));
    __local float Gs[ATTN_Q_BQ * ATTN_LA] __attribute__((aligned(16)));
    __local float Ks[ATTN_Q_BK * ATTN_LB];
    __local float Vs[ATTN_Q_BK * ATTN_LB];
    __local float dSs[ATTN_Q_BQ * ATTN_Q_PS] __attribute__((aligned(16)));
    const int lid = get_local_id(0), tk = lid % ATTN_Q_NC, tq = lid / ATTN_Q_NC;
    const int q0 = get_group_id(0) * ATTN_Q_BQ, bh = get_group_id(1), b = bh / H;
    const int off = Lk - Lq;
    const int glast = min(q0 + ATTN_Q_BQ, Lq) - 1;
    const int kend = causal ? clamp(glast + off + 1, 0, Lk) : Lk;
    const int ntiles = (kend + ATTN_Q_BK - 1) / ATTN_Q_BK;
    const int D4 = (D + 3) & ~3, Dv4 = (Dv + 3) & ~3;
    __global const float* K = k + (size_t)bh * Lk * D;
    __global const float* V = v + (size_t)bh * Lk * Dv;

    attn_stage(Qs, ATTN_LA, q + (size_t)bh * Lq * D, q0, ATTN_Q_BQ, Lq, D, lid, ATTN_Q_WG);
    attn_stage(Gs, ATTN_LA, dout + (size_t)bh * Lq * Dv, q0, ATTN_Q_BQ, Lq, Dv, lid, ATTN_Q_WG);
    float L[ATTN_Q_RQ], dl[ATTN_Q_RQ];
    #pragma unroll
    for (int i = 0; i < ATTN_Q_RQ; ++i) {
        const size_t ri = (size_t)bh * Lq + min(q0 + tq * ATTN_Q_RQ + i, Lq - 1);
        const float li = lse[ri];
        L[i] = (li == -INFINITY) ? INFINITY : li;   /* empty row: exp(s - inf) = 0 */
        dl[i] = delta[ri];
    }
    float acc[ATTN_Q_RQ][ATTN_Q_RC];
    ATTN_ZERO(acc, ATTN_Q_RQ, ATTN_Q_RC);

    for (int t = 0; t < ntiles; ++t) {
        const int kt = t * ATTN_Q_BK;
        attn_stage(Ks, ATTN_LB, K, kt, ATTN_Q_BK, Lk, D, lid, ATTN_Q_WG);
        attn_stage(Vs, ATTN_LB, V, kt, ATTN_Q_BK, Lk, Dv, lid, ATTN_Q_WG);
        barrier(CLK_LOCAL_MEM_FENCE);
        float s[ATTN_Q_RQ][ATTN_Q_RK], dp[ATTN_Q_RQ][ATTN_Q_RK];
        ATTN_ZERO(s, ATTN_Q_RQ, ATTN_Q_RK);
        ATTN_ZERO(dp, ATTN_Q_RQ, ATTN_Q_RK);
        ATTN_MM(s, ATTN_Q_RQ, ATTN_Q_RK, Qs + tq * ATTN_Q_RQ * ATTN_LA, ATTN_LA, D4,
                Ks + tk * ATTN_LB, ATTN_Q_NC * ATTN_LB, 1);
        ATTN_MM(dp, ATTN_Q_RQ, ATTN_Q_RK, Gs + tq * ATTN_Q_RQ * ATTN_LA, ATTN_LA, Dv4,
                Vs + tk * ATTN_LB, ATTN_Q_NC * ATTN_LB, 1);
        #pragma unroll
        for (int j = 0; j < ATTN_Q_RK; ++j) {
            const int key = kt + tk + j * ATTN_Q_NC;
            const int kvis = key < kend &&
                             (!has_mask || key_mask[(size_t)b * Lk + min(key, Lk - 1)] != 0.0f);
            #pragma unroll
            for (int i = 0; i < ATTN_Q_RQ; ++i) {
                const int r = tq * ATTN_Q_RQ + i;
                const int vis = kvis && (!causal || key <= q0 + r + off);
                const float p = vis ? exp(scale * s[i][j] - L[i]) : 0.0f;
                dSs[r * ATTN_Q_PS + tk + j * ATTN_Q_NC] = p * (dp[i][j] - dl[i]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ATTN_MM(acc, ATTN_Q_RQ, ATTN_Q_RC, dSs + tq * ATTN_Q_RQ * ATTN_Q_PS, ATTN_Q_PS, ATTN_Q_BK,
                Ks + tk, ATTN_Q_NC, ATTN_LB);
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    #pragma unroll
    for (int i = 0; i < ATTN_Q_RQ; ++i) {
        const int row = q0 + tq * ATTN_Q_RQ + i;
        if (row < Lq) {
            __global float* G = dq + ((size_t)bh * Lq + row) * D;
            #pragma unroll
            for (int u = 0; u < ATTN_Q_RC; ++u) {
                const int c = tk + u * ATTN_Q_NC;
                if (c < D) G[c] = scale * acc[i][u];
            }
        }
    }
}

__kernel __attribute__((reqd_work_group_size(ATTN_KV_WG, 1, 1)))
void attention_backward_dkdv_gpu(__global const float* q, __global const float* k,
                                 __global const float* v, __global const float* key_mask,
                                 __global const float* lse, __global const float* delta,
                                 __global const float* dout, __global float* dk,
                                 __global float* dv,
                                 const int B, const int H, const int Lq, const int Lk,
                                 const int D, const int Dv, const float scale,
                                 const int has_mask, const int causal)
{
    __local float Ks[ATTN_KV_BK * ATTN_LA] __attribute__((aligned(16)));
    __local float Vs[ATTN_KV_BK * ATTN_LA] __attribute__((aligned(16)));
    __local float Qs[ATTN_KV_BQ * ATTN_LB];
    __local float Gs[ATTN_KV_BQ * ATTN_LB];
    __local float Ps[ATTN_KV_BK * ATTN_KV_PS] __attribute__((aligned(16)));
    __local float dSs[ATTN_KV_BK * ATTN_KV_PS] __attribute__((aligned(16)));
    const int lid = get_local_id(0), tk = lid % ATTN_KV_NC, tq = lid / ATTN_KV_NC;
    const int k0 = get_group_id(0) * ATTN_KV_BK, bh = get_group_id(1), b = bh / H;
    const int off = Lk - Lq;
    /* the first query that sees the block's first key: uniform */
    const int ibeg = causal ? clamp(k0 - off, 0, Lq) : 0;
    const int ntiles = (Lq - ibeg + ATTN_KV_BQ - 1) / ATTN_KV_BQ;
    const int D4 = (D + 3) & ~3, Dv4 = (Dv + 3) & ~3;
    __global const float* Q = q + (size_t)bh * Lq * D;
    __global const float* G = dout + (size_t)bh * Lq * Dv;

    attn_stage(Ks, ATTN_LA, k + (size_t)bh * Lk * D, k0, ATTN_KV_BK, Lk, D, lid, ATTN_KV_WG);
    attn_stage(Vs, ATTN_LA, v + (size_t)bh * Lk * Dv, k0, ATTN_KV_BK, Lk, Dv, lid, ATTN_KV_WG);
    int keep[ATTN_KV_RK];
    #pragma unroll
    for (int j = 0; j < ATTN_KV_RK; ++j) {
        const int key = k0 + tq * ATTN_KV_RK + j;
        keep[j] = key < Lk && (!has_mask || key_mask[(size_t)b * Lk + min(key, Lk - 1)] != 0.0f);
    }
    float gk[ATTN_KV_RK][ATTN_KV_RC], gv[ATTN_KV_RK][ATTN_KV_RC];
    ATTN_ZERO(gk, ATTN_KV_RK, ATTN_KV_RC);
    ATTN_ZERO(gv, ATTN_KV_RK, ATTN_KV_RC);

    for (int t = 0; t < ntiles; ++t) {
        const int it = ibeg + t * ATTN_KV_BQ;
        attn_stage(Qs, ATTN_LB, Q, it, ATTN_KV_BQ, Lq, D, lid, ATTN_KV_WG);
        attn_stage(Gs, ATTN_LB, G, it, ATTN_KV_BQ, Lq, Dv, lid, ATTN_KV_WG);
        float L[ATTN_KV_RQ], dl[ATTN_KV_RQ];
        #pragma unroll
        for (int i = 0; i < ATTN_KV_RQ; ++i) {
            const size_t ri = (size_t)bh * Lq + min(it + tk + i * ATTN_KV_NC, Lq - 1);
            const float li = lse[ri];
            L[i] = (li == -INFINITY) ? INFINITY : li;
            dl[i] = delta[ri];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        float s[ATTN_KV_RK][ATTN_KV_RQ], dp[ATTN_KV_RK][ATTN_KV_RQ];
        ATTN_ZERO(s, ATTN_KV_RK, ATTN_KV_RQ);
        ATTN_ZERO(dp, ATTN_KV_RK, ATTN_KV_RQ);
        ATTN_MM(s, ATTN_KV_RK, ATTN_KV_RQ, Ks + tq * ATTN_KV_RK * ATTN_LA, ATTN_LA, D4,
                Qs + tk * ATTN_LB, ATTN_KV_NC * ATTN_LB, 1);
        ATTN_MM(dp, ATTN_KV_RK, ATTN_KV_RQ, Vs + tq * ATTN_KV_RK * ATTN_LA, ATTN_LA, Dv4,
                Gs + tk * ATTN_LB, ATTN_KV_NC * ATTN_LB, 1);
        #pragma unroll
        for (int j = 0; j < ATTN_KV_RK; ++j) {
            const int kr = tq * ATTN_KV_RK + j;
            #pragma unroll
            for (int i = 0; i < ATTN_KV_RQ; ++i) {
                const int qi = it + tk + i * ATTN_KV_NC;
                const int vis = keep[j] && qi < Lq && (!causal || k0 + kr <= qi + off);
                const float p = vis ? exp(scale * s[j][i] - L[i]) : 0.0f;
                Ps[kr * ATTN_KV_PS + tk + i * ATTN_KV_NC] = p;
                dSs[kr * ATTN_KV_PS + tk + i * ATTN_KV_NC] = p * (dp[j][i] - dl[i]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ATTN_MM(gv, ATTN_KV_RK, ATTN_KV_RC, Ps + tq * ATTN_KV_RK * ATTN_KV_PS, ATTN_KV_PS,
                ATTN_KV_BQ, Gs + tk, ATTN_KV_NC, ATTN_LB);
        ATTN_MM(gk, ATTN_KV_RK, ATTN_KV_RC, dSs + tq * ATTN_KV_RK * ATTN_KV_PS, ATTN_KV_PS,
                ATTN_KV_BQ, Qs + tk, ATTN_KV_NC, ATTN_LB);
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    #pragma unroll
    for (int j = 0; j < ATTN_KV_RK; ++j) {
        const int key = k0 + tq * ATTN_KV_RK + j;
        if (key < Lk) {
            __global float* GK = dk + ((size_t)bh * Lk + key) * D;
            __global float* GV = dv + ((size_t)bh * Lk + key) * Dv;
            #pragma unroll
            for (int u = 0; u < ATTN_KV_RC; ++u) {
                const int c = tk + u * ATTN_KV_NC;
                if (c < D) GK[c] = scale * gk[j][u];
                if (c < Dv) GV[c] = gv[j][u];
            }
        }
    }
}
