/*
 * attention.cl -- scaled dot-product attention (FlashAttention-style), forward
 * and backward, float32, for AlignCL.
 *
 * Layouts (row-major, dense): q [B,H,Lq,D], k [B,H,Lk,D], v [B,H,Lk,Dv],
 * out/dout [B,H,Lq,Dv], lse/delta [B,H,Lq], dq [B,H,Lq,D], dk [B,H,Lk,D],
 * dv [B,H,Lk,Dv], key_mask [B,Lk] (float, nonzero = keep; read only when
 * has_mask != 0, else pass any 1-float buffer). Lq != Lk and D != Dv allowed.
 * Key j of batch b is visible to query i iff
 *     (!has_mask || key_mask[b,j] != 0) && (!causal || j <= i + Lk - Lq).
 *
 * Forward:  s_ij = scale * q_i.k_j over visible j,
 *           lse_i = log sum_j exp(s_ij),   out_i = sum_j exp(s_ij - lse_i) v_j.
 *           A row with no visible key: out_i = 0 (all Dv), lse_i = -INFINITY.
 * Backward (FlashAttention-2, probabilities recomputed from lse):
 *           delta_i = dout_i . out_i,   p_ij = exp(s_ij - lse_i) (0 if invisible),
 *           ds_ij = p_ij (dout_i.v_j - delta_i),
 *           dq_i = scale sum_j ds_ij k_j,  dk_j = scale sum_i ds_ij q_i,
 *           dv_j = sum_i p_ij dout_i.
 *           Masked keys, and keys nobody sees, get exactly 0 dk/dv; empty rows 0 dq.
 * Order: attention_forward -> attention_backward_delta -> attention_backward
 * (-> attention_backward_dq_reduce when it runs with more than one key chunk).
 * The fused backward forms S and dP once per tile: 5 matrix passes (an earlier
 * pair of kernels, one owning query rows and one key rows, needed 7). lse and
 * delta must come from these kernels. Every output element is written (no
 * pre-zeroing). The GPU-style kernels are in attention_gpu.cl.
 *
 * Numerics (all kernels):
 *  - float32 everywhere, sums accumulated in float32 with fma in key (or
 *    query) order; relative error vs a double reference ~1e-7 .. 1e-6.
 *  - Online softmax: per query row a running max m and running sum l =
 *    sum exp(s - m) over the key blocks seen so far. When a block raises the
 *    max to m', the old l and the unnormalised output accumulator are
 *    multiplied by exp(m - m') <= 1 (never overflows); every exp() argument is
 *    <= 0 and the row max term is exp(0) = 1, so l >= 1 once a key was seen.
 *    The Lq x Lk matrix never exists in global memory.
 *  - -inf handling: invisible keys get s = -inf -> exp = 0. While a row has
 *    seen no visible key, m = -inf and the shift used is 0 instead of m
 *    (avoids -inf - -inf = NaN); such a row ends with l = 0 -> out 0, lse -inf.
 *    In the backward an lse of -inf is replaced by +inf, so exp(s - lse) = 0
 *    without NaN; invisible (i,j) pairs are additionally forced to p = 0.
 *  - exp: CPU kernels use exp_nonpos16 from common.cl (2^(t*log2e), 2^r by a
 *    degree-6 polynomial, ~2 ulp, exact 0 below e^-87.3), ~2x cheaper than
 *    PoCL's library exp(). GPU kernels use exp().
 *  - With large scales (e.g. 10, |q|,|k| ~ 3) p is nearly one-hot and
 *    ds = p (dp - delta) cancels: dq/dk then carry absolute errors ~1e-7 of the
 *    size of the summed terms, like any float32 FlashAttention backward.
 *
 * Constraints: all sizes >= 1; D <= ATTN_DMAX and Dv <= ATTN_DMAX;
 * B*H*Lq, B*H*Lk < 2^31 (offsets are computed in size_t).
 *
 * Tuning constants (-D build options, defaults tuned on PoCL 3.1, AVX2 EPYC):
 *   ATTN_BK        keys per block in attention_forward                   (48)
 *   ATTN_BQK       queries per block in attention_backward         (48)
 *   ATTN_KR        outputs per register micro-tile, 1..8                 (6)
 *   ATTN_DMAX      largest D / Dv supported (sizes private/local arrays) (256)
 *   ATTN_DELTA_WG  work-group size of attention_backward_delta           (64)
 *   (The GPU-class kernels take their tiles as ATTN_F_*, ATTN_Q_*, ATTN_KV_*.)
 *   Fixed (not an option): ATTN_VW = 16 query rows (backward: keys) per CPU
 *   work-item = the float16 lanes.
 * Let ceil(a,b) = (a + b - 1) / b. Launches (2-D unless noted):
 *
 * CPU style (fast on PoCL): a work-item owns 16 query rows (backward:
 *   16 keys) held as float16 lanes, walks blocks of the other side, computes
 *   S / dP tiles and accumulates with the register micro-kernel attn_mk
 *   (6 outputs x 16 lanes = 12 ymm accumulators); no __local, no barriers.
 *   attention_forward        global (ceil(Lq,16), B*H),  local (1, 1)
 *   attention_backward_delta global (ceil(B*H*Lq, ATTN_DELTA_WG) * ATTN_DELTA_WG),
 *                            local (ATTN_DELTA_WG)   -- 1-D; shared by both variants
 *   attention_backward global (C, B*H), local (1, 1), C = key chunks per
 *                            head, 1 <= C <= ceil(Lk,16). C = 1 when B*H >= 8 x
 *                            (compute units), else C = min(ceil(Lk,16),
 *                            ceil(4 x units / (B*H))) so both cores get work.
 *                            dq_part: C = 1 -> any buffer (unused); C > 1 ->
 *                            C * B*H*Lq*D floats (O(Lq*D) per head), then
 *   attention_backward_dq_reduce global (ceil(Lq*D, 64), B*H), local (1, 1)
 *                            (only when C > 1).
 *   Private memory per work-item up to 5 * ATTN_DMAX * 64 B (80 KB for the
 *   fused kernel at the default ATTN_DMAX; fine on PoCL).
 *   Measured (PoCL 3.1, 2-core EPYC, D = Dv = 64, no mask; quiet machine, min ms;
 *   the passes run at ~150 GFLOP/s, ~80% of the 2-core FMA peak):
 *     B=4,H=8,L=1024: fwd 63, delta 0.6, fused 147, fwd+bwd 212 (264 with the
 *                     earlier dq + dk/dv pair: 86 + 113);
 *     B=8,H=8,L=256:  fwd 9, fused 23, fwd+bwd 33 (37 with the pair);
 *     B=1,H=2,L=2048: fused (C = 4) 45 ms vs 24 + 32 with the pair.
 *
 * OpenCL C 1.2. clang warns "AVX vector argument ... changes the ABI" for
 * float16 values on AVX2; harmless (everything is inlined into the kernel).
 */

#ifndef ATTN_BK
#define ATTN_BK 48
#endif
#ifndef ATTN_BQK
#define ATTN_BQK 48
#endif
#ifndef ATTN_KR
#define ATTN_KR 6
#endif
#ifndef ATTN_DMAX
#define ATTN_DMAX 256
#endif
#ifndef ATTN_DELTA_WG
#define ATTN_DELTA_WG 64
#endif

#if ATTN_KR < 1 || ATTN_KR > 8
#error "ATTN_KR must be in 1..8 (2*KR accumulators + 3 must fit 16 ymm registers at 6)"
#endif
#if ATTN_BK < 1 || ATTN_BQK < 1 || ATTN_DMAX < 1
#error "ATTN_BK, ATTN_BQK, ATTN_DMAX must be >= 1"
#endif

#define ATTN_VW 16                    /* rows (or keys) per CPU work-item = float16 lanes */
#define ATTN_PAD(n) ((((n) + ATTN_KR - 1) / ATTN_KR) * ATTN_KR)

/* Register-tiled micro-kernel shared by every CPU kernel:
 *   out[o] (= 16 lanes) (+)= sum_{i<n} panel[i] * Y[o*so + i*sn],   o < nout
 * panel: private [n][16] floats, Y: global, read as broadcast scalars.
 * ATTN_KR outputs at a time: 2*KR ymm accumulators + 2 for panel[i] + 1
 * broadcast (KR = 6 -> 15 of the 16 AVX2 registers). Outputs past nout
 * re-read the last valid Y row/column (in bounds) and land in padding of out
 * (out must hold ATTN_PAD(nout) vectors). accum != 0: out[o] = out[o]*mul + sum.
 * With ATTN_KR > 4 a remainder of 1..4 outputs takes one 4-wide tile instead
 * of a padded KR-wide one (64 outputs: 10 x 6 + 4, not 11 x 6).
 * ATTN_MK_TILE(T): one register tile of T outputs starting at o0. */
#define ATTN_MK_TILE(T)                                                               \
    {                                                                                 \
        __global const float* yp[T];                                                  \
        float16 acc[T];                                                               \
        _Pragma("unroll")                                                             \
        for (int o = 0; o < (T); ++o) {                                               \
            yp[o] = Y + (size_t)min(o0 + o, nout - 1) * (size_t)so;                   \
            acc[o] = accum ? vload16(o0 + o, out) * mul : (float16)(0.0f);            \
        }                                                                             \
        for (int i = 0; i < n; ++i) {                                                 \
            const float16 p = vload16(i, panel);                                      \
            const size_t yi = (size_t)i * (size_t)sn;                                 \
            _Pragma("unroll")                                                         \
            for (int o = 0; o < (T); ++o)                                             \
                acc[o] = fma(p, (float16)(yp[o][yi]), acc[o]);                        \
        }                                                                             \
        _Pragma("unroll")                                                             \
        for (int o = 0; o < (T); ++o) vstore16(acc[o], o0 + o, out);                  \
    }

static inline __attribute__((always_inline))
void attn_mk(__private float* out, const int nout,
             __private const float* panel, const int n,
             __global const float* Y, const int so, const int sn,
             const int accum, const float16 mul)
{
    int o0 = 0;
#if ATTN_KR > 4
    for (; nout - o0 > 4; o0 += ATTN_KR) ATTN_MK_TILE(ATTN_KR)
    for (; o0 < nout; o0 += 4) ATTN_MK_TILE(4)
#else
    for (; o0 < nout; o0 += ATTN_KR) ATTN_MK_TILE(ATTN_KR)
#endif
}

/* ---------------------------------------------------------------------------
 * Forward, CPU style.
 * ------------------------------------------------------------------------- */
__kernel void attention_forward(__global const float* q, __global const float* k,
                                __global const float* v, __global const float* key_mask,
                                __global float* out, __global float* lse,
                                const int B, const int H, const int Lq, const int Lk,
                                const int D, const int Dv, const float scale,
                                const int has_mask, const int causal)
{
    const int r0 = get_global_id(0) * ATTN_VW;
    const int bh = get_global_id(1);
    if (r0 >= Lq || bh >= B * H) return;
    const int b = bh / H;
    const int nr = min(ATTN_VW, Lq - r0);
    const int off = Lk - Lq;                       /* row i sees keys j <= i + off */

    __global const float* Q = q + ((size_t)bh * Lq + r0) * D;
    __global const float* K = k + (size_t)bh * Lk * D;
    __global const float* V = v + (size_t)bh * Lk * Dv;
    __global const float* M = key_mask + (has_mask ? (size_t)b * Lk : 0);

    __private float Qt[ATTN_DMAX * ATTN_VW];
    __private float Ot[ATTN_PAD(ATTN_DMAX) * ATTN_VW];
    __private float St[ATTN_PAD(ATTN_BK) * ATTN_VW];

    load_transposed16(Qt, Q, nr, D, D);
    for (int c = 0; c < ATTN_PAD(Dv); ++c) vstore16((float16)(0.0f), c, Ot);

    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int16 lim = lane + (int16)(r0 + off);    /* last visible key per lane */
    const int kend = causal ? min(Lk, r0 + nr + off) : Lk;

    /* per lane (= query row): running max m of the scaled logits, running
     * sum l = sum exp(s - m), unnormalised output Ot (transposed: Ot[c][row]) */
    float16 m = (float16)(-INFINITY);
    float16 l = (float16)(0.0f);
    for (int kb = 0; kb < kend; kb += ATTN_BK) {
        const int nk = min(ATTN_BK, kend - kb);
        attn_mk(St, nk, Qt, D, K + (size_t)kb * D, D, 1, 0, (float16)(0.0f));
        const int diag = causal && (kb + nk - 1 > r0 + off);
        float16 mx = (float16)(-INFINITY);
        for (int j = 0; j < nk; ++j) {
            float16 s = scale * vload16(j, St);
            if (has_mask && M[kb + j] == 0.0f) s = (float16)(-INFINITY);
            if (diag) s = select(s, (float16)(-INFINITY), (int16)(kb + j) > lim);
            vstore16(s, j, St);
            mx = fmax(mx, s);
        }
        /* new max; a lane that has seen no visible key keeps m = -inf and uses
         * shift 0, so its p and alpha are exp(-inf) = 0 instead of NaN */
        const float16 mnew = fmax(m, mx);
        const float16 shift = select(mnew, (float16)(0.0f), mnew == (float16)(-INFINITY));
        /* rescale factor for what was accumulated against the old max (<= 1) */
        const float16 alpha = exp_nonpos16(m - shift);
        float16 ls = (float16)(0.0f);
        for (int j = 0; j < nk; ++j) {
            const float16 p = exp_nonpos16(vload16(j, St) - shift);
            ls += p;
            vstore16(p, j, St);
        }
        l = fma(l, alpha, ls);
        /* Ot = Ot * alpha + P V  (P = this block's exp terms, still unnormalised) */
        attn_mk(Ot, Dv, St, nk, V + (size_t)kb * Dv, 1, Dv, 1, alpha);
        m = mnew;
    }

    float ml[ATTN_VW], ll[ATTN_VW];
    vstore16(m, 0, ml);
    vstore16(l, 0, ll);
    __global float* O = out + ((size_t)bh * Lq + r0) * Dv;
    __global float* LS = lse + (size_t)bh * Lq + r0;
    for (int r = 0; r < nr; ++r) {
        /* l >= 1 iff the row saw a visible key; otherwise out = 0, lse = -inf */
        const int empty = !(ll[r] > 0.0f);
        const float inv = empty ? 0.0f : 1.0f / ll[r];
        for (int c = 0; c < Dv; ++c) O[(size_t)r * Dv + c] = Ot[c * ATTN_VW + r] * inv;
        LS[r] = empty ? -INFINITY : ml[r] + log(ll[r]);
    }
}

/* ---------------------------------------------------------------------------
 * Backward.
 * ------------------------------------------------------------------------- */
__kernel void attention_backward_delta(__global const float* out, __global const float* dout,
                                       __global float* delta, const int B, const int H,
                                       const int Lq, const int Dv)
{
    const size_t row = get_global_id(0);
    if (row >= (size_t)B * H * Lq) return;
    __global const float* o = out + row * Dv;
    __global const float* g = dout + row * Dv;
    float16 a = (float16)(0.0f);
    const int nv = Dv / 16;
    for (int i = 0; i < nv; ++i) a = fma(vload16(i, o), vload16(i, g), a);
    float s = 0.0f;
    for (int c = nv * 16; c < Dv; ++c) s = fma(o[c], g[c], s);
    float8 a8 = a.lo + a.hi;
    float4 a4 = a8.lo + a8.hi;
    float2 a2 = a4.lo + a4.hi;
    delta[row] = s + a2.x + a2.y;
}

/* ---------------------------------------------------------------------------
 * Fused backward, CPU style: one work-item owns a chunk of 16-key blocks of
 * one head and, per key block, walks the visible query blocks once, forming
 * S^T and dP^T (keys in lanes) a single time and from them dV, dK (private,
 * 16 keys in the lanes) and the dQ contributions of these 16 keys,
 * which it adds (read-modify-write) into its own [Lq, D] dQ accumulator in
 * global memory: 5 matrix passes instead of 7 for separate dq and dk/dv
 * kernels, no atomics.
 *   chunks = get_global_size(0) == 1: the accumulator is dq itself (zeroed
 *     first, scaled by `scale` at the end).
 *   chunks > 1: chunk c accumulates into dq_part + (c * B*H + bh) * Lq * D
 *     (unscaled) and attention_backward_dq_reduce sums the chunks in order.
 * dQ numerics are unchanged: each dq element is a float32 fma chain in key
 * order (per chunk), times scale at the end.
 * ------------------------------------------------------------------------- */

/* dQ[o][c] += sum_{j<16} S[o*16 + j] * Kr[j*ldk + c] for o < nout, c < D
 * (dQ global, row stride D; S private [ATTN_PAD(nout)][16]; Kr private
 * [16][ldk], ldk >= D rounded up to 16, zero padded). ATTN_KR rows x 16
 * columns per register tile (2*KR accumulators + 2 + 1 broadcast). */
static inline __attribute__((always_inline))
void attn_mk_dq(__global float* dQ, const int nout, const int D,
                __private const float* S, __private const float* Kr, const int ldk)
{
    const int dfull = D & ~15;
    for (int o0 = 0; o0 < nout; o0 += ATTN_KR) {
        __global float* rp[ATTN_KR];
        #pragma unroll
        for (int o = 0; o < ATTN_KR; ++o) rp[o] = dQ + (size_t)min(o0 + o, nout - 1) * (size_t)D;
        __private const float* so = S + o0 * ATTN_VW;
        for (int c = 0; c < dfull; c += 16) {
            float16 acc[ATTN_KR];
            #pragma unroll
            for (int o = 0; o < ATTN_KR; ++o) acc[o] = vload16(0, rp[o] + c);
            for (int j = 0; j < ATTN_VW; ++j) {
                const float16 kv = vload16(0, Kr + j * ldk + c);
                #pragma unroll
                for (int o = 0; o < ATTN_KR; ++o)
                    acc[o] = fma((float16)(so[o * ATTN_VW + j]), kv, acc[o]);
            }
            #pragma unroll
            for (int o = 0; o < ATTN_KR; ++o)
                if (o0 + o < nout) vstore16(acc[o], 0, rp[o] + c);
        }
        for (int c = dfull; c < D; ++c)                       /* D % 16 tail, scalar */
            for (int o = 0; o < ATTN_KR && o0 + o < nout; ++o) {
                float a = rp[o][c];
                for (int j = 0; j < ATTN_VW; ++j) a = fma(so[o * ATTN_VW + j], Kr[j * ldk + c], a);
                rp[o][c] = a;
            }
    }
}

__kernel void attention_backward(__global const float* q, __global const float* k,
                                       __global const float* v, __global const float* key_mask,
                                       __global const float* lse, __global const float* delta,
                                       __global const float* dout, __global float* dq,
                                       __global float* dk, __global float* dv,
                                       __global float* dq_part,
                                       const int B, const int H, const int Lq, const int Lk,
                                       const int D, const int Dv, const float scale,
                                       const int has_mask, const int causal)
{
    const int chunk = get_global_id(0);
    const int nchunks = get_global_size(0);
    const int bh = get_global_id(1);
    if (bh >= B * H) return;
    const int b = bh / H;
    const int off = Lk - Lq;
    const int nblk = (Lk + ATTN_VW - 1) / ATTN_VW;
    const int blk0 = (int)(((long)chunk * nblk) / nchunks);
    const int blk1 = (int)(((long)(chunk + 1) * nblk) / nchunks);
    const int ldk = (D + 15) & ~15;

    __global const float* Q = q + (size_t)bh * Lq * D;
    __global const float* G = dout + (size_t)bh * Lq * Dv;
    __global const float* LS = lse + (size_t)bh * Lq;
    __global const float* DL = delta + (size_t)bh * Lq;
    __global float* dQ = nchunks == 1 ? dq + (size_t)bh * Lq * D
                                      : dq_part + ((size_t)chunk * B * H + bh) * (size_t)Lq * D;

    __private float Kt[ATTN_DMAX * ATTN_VW];
    __private float Vt[ATTN_DMAX * ATTN_VW];
    __private float Kr[ATTN_VW * ((ATTN_DMAX + 15) & ~15)];
    __private float dKt[ATTN_PAD(ATTN_DMAX) * ATTN_VW];
    __private float dVt[ATTN_PAD(ATTN_DMAX) * ATTN_VW];
    __private float Pt[ATTN_PAD(ATTN_BQK) * ATTN_VW];
    __private float dSt[ATTN_PAD(ATTN_BQK) * ATTN_VW];

    {   /* zero the dQ accumulator */
        const size_t n = (size_t)Lq * D;
        size_t x = 0;
        for (; x + 16 <= n; x += 16) vstore16((float16)(0.0f), 0, dQ + x);
        for (; x < n; ++x) dQ[x] = 0.0f;
    }

    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int blk = blk0; blk < blk1; ++blk) {
        const int c0 = blk * ATTN_VW;
        const int nc = min(ATTN_VW, Lk - c0);
        __global const float* Kb = k + ((size_t)bh * Lk + c0) * D;
        load_transposed16(Kt, Kb, nc, D, D);
        load_transposed16(Vt, v + ((size_t)bh * Lk + c0) * Dv, nc, Dv, Dv);
        for (int r = 0; r < ATTN_VW; ++r)
            for (int c = 0; c < ldk; ++c)
                Kr[r * ldk + c] = (r < nc && c < D) ? Kb[(size_t)r * D + c] : 0.0f;
        for (int c = 0; c < ATTN_PAD(D); ++c) vstore16((float16)(0.0f), c, dKt);
        for (int c = 0; c < ATTN_PAD(Dv); ++c) vstore16((float16)(0.0f), c, dVt);

        float kp[ATTN_VW];
        int any = 0;
        for (int r = 0; r < ATTN_VW; ++r) {
            const int keep = (r < nc) && (!has_mask || key_mask[(size_t)b * Lk + c0 + r] != 0.0f);
            kp[r] = keep ? 1.0f : 0.0f;
            any |= keep;
        }
        const int16 keep16 = vload16(0, kp) != (float16)(0.0f);
        const int16 key = lane + (int16)(c0);
        const int ibeg = any ? (causal ? max(0, c0 - off) : 0) : Lq;

        for (int ib = ibeg; ib < Lq; ib += ATTN_BQK) {
            const int ni = min(ATTN_BQK, Lq - ib);
            attn_mk(Pt, ni, Kt, D, Q + (size_t)ib * D, D, 1, 0, (float16)(0.0f));
            attn_mk(dSt, ni, Vt, Dv, G + (size_t)ib * Dv, Dv, 1, 0, (float16)(0.0f));
            const int diag = causal && (c0 + nc - 1 > ib + off);
            for (int i = 0; i < ni; ++i) {
                const float li = LS[ib + i];
                const float ls = (li == -INFINITY) ? INFINITY : li;
                float16 p = exp_nonpos16(fma((float16)(scale), vload16(i, Pt), (float16)(-ls)));
                int16 vis = keep16;
                if (diag) vis &= key <= (int16)(ib + i + off);
                p = select((float16)(0.0f), p, vis);
                vstore16(p, i, Pt);
                vstore16(p * (vload16(i, dSt) - (float16)(DL[ib + i])), i, dSt);
            }
            attn_mk(dVt, Dv, Pt, ni, G + (size_t)ib * Dv, 1, Dv, 1, (float16)(1.0f));
            attn_mk(dKt, D, dSt, ni, Q + (size_t)ib * D, 1, D, 1, (float16)(1.0f));
            attn_mk_dq(dQ + (size_t)ib * D, ni, D, dSt, Kr, ldk);
        }

        __global float* GK = dk + ((size_t)bh * Lk + c0) * D;
        __global float* GV = dv + ((size_t)bh * Lk + c0) * Dv;
        for (int r = 0; r < nc; ++r) {
            for (int c = 0; c < D; ++c) GK[(size_t)r * D + c] = scale * dKt[c * ATTN_VW + r];
            for (int c = 0; c < Dv; ++c) GV[(size_t)r * Dv + c] = dVt[c * ATTN_VW + r];
        }
    }

    if (nchunks == 1) {
        const size_t n = (size_t)Lq * D;
        size_t x = 0;
        for (; x + 16 <= n; x += 16) vstore16(scale * vload16(0, dQ + x), 0, dQ + x);
        for (; x < n; ++x) dQ[x] *= scale;
    }
}

/* dq = scale * sum_c dq_part[c] (c = 0 .. chunks-1 in order), dq_part as
 * [chunks][B*H][Lq][D]. global (ceil(Lq*D, 64), B*H), local (1, 1). */
__kernel void attention_backward_dq_reduce(__global const float* dq_part, __global float* dq,
                                           const int B, const int H, const int Lq, const int D,
                                           const int chunks, const float scale)
{
    const size_t n = (size_t)Lq * D;
    const size_t x0 = (size_t)get_global_id(0) * 64;
    const int bh = get_global_id(1);
    if (x0 >= n || bh >= B * H) return;
    const size_t stride = (size_t)B * H * n;
    const size_t base = (size_t)bh * n;
    const size_t x1 = min(x0 + 64, n);
    for (size_t x = x0; x < x1; ++x) {
        float a = dq_part[base + x];
        for (int c = 1; c < chunks; ++c) a += dq_part[(size_t)c * stride + base + x];
        dq[base + x] = scale * a;
    }
}

