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
 * Order: attention_forward -> (attention_backward_delta -> attention_backward_dq,
 * attention_backward_dkdv; the last two are independent). lse and delta must
 * come from these kernels. Every output element is written (no pre-zeroing).
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
 *   ATTN_BK        keys per block in attention_forward / _backward_dq   (48)
 *   ATTN_BQK       queries per block in attention_backward_dkdv          (48)
 *   ATTN_KR        outputs per register micro-tile, 1..8                 (6)
 *   ATTN_DMAX      largest D / Dv supported (sizes private/local arrays) (256)
 *   ATTN_DELTA_WG  work-group size of attention_backward_delta           (64)
 *   ATTN_WG        work-group size of the _gpu kernels                   (64)
 *   ATTN_TK        rows per __local tile in the _gpu kernels             (16)
 *   Fixed (not an option): ATTN_VW = 16 query rows (dkdv: keys) per CPU
 *   work-item = the float16 lanes.
 * Let ceil(a,b) = (a + b - 1) / b. Launches (2-D unless noted):
 *
 * Variant 1 -- CPU style (fast on PoCL): a work-item owns 16 query rows (dkdv:
 *   16 keys) held as float16 lanes, walks blocks of the other side, computes
 *   S / dP tiles and accumulates with the register micro-kernel attn_mk
 *   (6 outputs x 16 lanes = 12 ymm accumulators); no __local, no barriers.
 *   attention_forward        global (ceil(Lq,16), B*H),  local (1, 1)
 *   attention_backward_delta global (ceil(B*H*Lq, ATTN_DELTA_WG) * ATTN_DELTA_WG),
 *                            local (ATTN_DELTA_WG)   -- 1-D; shared by both variants
 *   attention_backward_dq    global (ceil(Lq,16), B*H),  local (1, 1)
 *   attention_backward_dkdv  global (ceil(Lk,16), B*H),  local (1, 1)
 *   Private memory per work-item up to 4 * ATTN_DMAX * 64 B (64 KB for dkdv at
 *   the default ATTN_DMAX; fine on PoCL).
 *   Measured (PoCL 3.1, 2-core EPYC, D = Dv = 64, no mask; medians, runs vary ~5%):
 *     B=4,H=8,L=1024: fwd 77-84 ms, bwd 242-265 ms (delta 1 + dq 105-113 +
 *                     dkdv 136-151), fwd+bwd 320-349 ms; causal fwd+bwd 176 ms;
 *     B=8,H=8,L=256:  fwd 11-13 ms, bwd 35-40 ms, fwd+bwd 46-52 ms;
 *     B=H=1,L=4096:   fwd 37-40 ms (~110 GFLOP/s).
 *
 * Variant 2 -- GPU style: one work-item per query row (dkdv: key row), tiles
 *   of ATTN_TK rows of K,V (dkdv: Q, dout, lse, delta) staged through __local
 *   (2 * ATTN_TK * ATTN_DMAX * 4 B = 32 KB at the defaults; a GPU build with
 *   small heads should pass e.g. -DATTN_DMAX=64 to shrink private arrays).
 *   reqd_work_group_size(ATTN_WG,1,1); no early return (PoCL 3.1 crashes on a
 *   return before a barrier). Correct on PoCL but ~20x slower there.
 *   attention_forward_gpu       global (ceil(Lq,ATTN_WG) * ATTN_WG, B*H), local (ATTN_WG, 1)
 *   attention_backward_dq_gpu   global (ceil(Lq,ATTN_WG) * ATTN_WG, B*H), local (ATTN_WG, 1)
 *   attention_backward_dkdv_gpu global (ceil(Lk,ATTN_WG) * ATTN_WG, B*H), local (ATTN_WG, 1)
 *   (delta: attention_backward_delta as above)
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
#ifndef ATTN_WG
#define ATTN_WG 64
#endif
#ifndef ATTN_TK
#define ATTN_TK 16
#endif

#if ATTN_KR < 1 || ATTN_KR > 8
#error "ATTN_KR must be in 1..8 (2*KR accumulators + 3 must fit 16 ymm registers at 6)"
#endif
#if ATTN_BK < 1 || ATTN_BQK < 1 || ATTN_TK < 1 || ATTN_DMAX < 1
#error "ATTN_BK, ATTN_BQK, ATTN_TK, ATTN_DMAX must be >= 1"
#endif

#define ATTN_VW 16                    /* rows (or keys) per CPU work-item = float16 lanes */
#define ATTN_PAD(n) ((((n) + ATTN_KR - 1) / ATTN_KR) * ATTN_KR)

/* Register-tiled micro-kernel shared by every CPU kernel:
 *   out[o] (= 16 lanes) (+)= sum_{i<n} panel[i] * Y[o*so + i*sn],   o < nout
 * panel: private [n][16] floats, Y: global, read as broadcast scalars.
 * ATTN_KR outputs at a time: 2*KR ymm accumulators + 2 for panel[i] + 1
 * broadcast (KR = 6 -> 15 of the 16 AVX2 registers). Outputs past nout
 * re-read the last valid Y row/column (in bounds) and land in padding of out
 * (out must hold ATTN_PAD(nout) vectors). accum != 0: out[o] = out[o]*mul + sum. */
static inline __attribute__((always_inline))
void attn_mk(__private float* out, const int nout,
             __private const float* panel, const int n,
             __global const float* Y, const int so, const int sn,
             const int accum, const float16 mul)
{
    for (int o0 = 0; o0 < nout; o0 += ATTN_KR) {
        __global const float* yp[ATTN_KR];
        float16 acc[ATTN_KR];
        #pragma unroll
        for (int o = 0; o < ATTN_KR; ++o) {
            yp[o] = Y + (size_t)min(o0 + o, nout - 1) * (size_t)so;
            acc[o] = accum ? vload16(o0 + o, out) * mul : (float16)(0.0f);
        }
        for (int i = 0; i < n; ++i) {
            const float16 p = vload16(i, panel);
            const size_t yi = (size_t)i * (size_t)sn;
            #pragma unroll
            for (int o = 0; o < ATTN_KR; ++o)
                acc[o] = fma(p, (float16)(yp[o][yi]), acc[o]);
        }
        #pragma unroll
        for (int o = 0; o < ATTN_KR; ++o) vstore16(acc[o], o0 + o, out);
    }
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

__kernel void attention_backward_dq(__global const float* q, __global const float* k,
                                    __global const float* v, __global const float* key_mask,
                                    __global const float* lse, __global const float* delta,
                                    __global const float* dout, __global float* dq,
                                    const int B, const int H, const int Lq, const int Lk,
                                    const int D, const int Dv, const float scale,
                                    const int has_mask, const int causal)
{
    const int r0 = get_global_id(0) * ATTN_VW;
    const int bh = get_global_id(1);
    if (r0 >= Lq || bh >= B * H) return;
    const int b = bh / H;
    const int nr = min(ATTN_VW, Lq - r0);
    const int off = Lk - Lq;

    __global const float* K = k + (size_t)bh * Lk * D;
    __global const float* V = v + (size_t)bh * Lk * Dv;
    __global const float* M = key_mask + (has_mask ? (size_t)b * Lk : 0);

    __private float Qt[ATTN_DMAX * ATTN_VW];
    __private float Gt[ATTN_DMAX * ATTN_VW];              /* dout^T */
    __private float dQt[ATTN_PAD(ATTN_DMAX) * ATTN_VW];
    __private float Pt[ATTN_PAD(ATTN_BK) * ATTN_VW];
    __private float dSt[ATTN_PAD(ATTN_BK) * ATTN_VW];

    load_transposed16(Qt, q + ((size_t)bh * Lq + r0) * D, nr, D, D);
    load_transposed16(Gt, dout + ((size_t)bh * Lq + r0) * Dv, nr, Dv, Dv);
    for (int c = 0; c < ATTN_PAD(D); ++c) vstore16((float16)(0.0f), c, dQt);

    float lt[ATTN_VW], dt[ATTN_VW];
    for (int r = 0; r < ATTN_VW; ++r) {
        const float x = (r < nr) ? lse[(size_t)bh * Lq + r0 + r] : -INFINITY;
        /* empty row: lse = -inf -> use +inf so exp(s - lse) = 0 (no -inf - -inf) */
        lt[r] = (x == -INFINITY) ? INFINITY : x;
        dt[r] = (r < nr) ? delta[(size_t)bh * Lq + r0 + r] : 0.0f;
    }
    const float16 L16 = vload16(0, lt), D16 = vload16(0, dt);

    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int16 lim = lane + (int16)(r0 + off);
    const int kend = causal ? min(Lk, r0 + nr + off) : Lk;

    for (int kb = 0; kb < kend; kb += ATTN_BK) {
        const int nk = min(ATTN_BK, kend - kb);
        attn_mk(Pt, nk, Qt, D, K + (size_t)kb * D, D, 1, 0, (float16)(0.0f));
        attn_mk(dSt, nk, Gt, Dv, V + (size_t)kb * Dv, Dv, 1, 0, (float16)(0.0f));
        const int diag = causal && (kb + nk - 1 > r0 + off);
        /* p = exp(s - lse) <= 1 (lse >= row max), ds = p (dp - delta) */
        for (int j = 0; j < nk; ++j) {
            float16 p = exp_nonpos16(fma((float16)(scale), vload16(j, Pt), -L16));
            if (has_mask && M[kb + j] == 0.0f) p = (float16)(0.0f);
            if (diag) p = select(p, (float16)(0.0f), (int16)(kb + j) > lim);
            vstore16(p * (vload16(j, dSt) - D16), j, dSt);
        }
        attn_mk(dQt, D, dSt, nk, K + (size_t)kb * D, 1, D, 1, (float16)(1.0f));
    }

    __global float* G = dq + ((size_t)bh * Lq + r0) * D;
    for (int r = 0; r < nr; ++r)
        for (int c = 0; c < D; ++c) G[(size_t)r * D + c] = scale * dQt[c * ATTN_VW + r];
}

__kernel void attention_backward_dkdv(__global const float* q, __global const float* k,
                                      __global const float* v, __global const float* key_mask,
                                      __global const float* lse, __global const float* delta,
                                      __global const float* dout, __global float* dk,
                                      __global float* dv,
                                      const int B, const int H, const int Lq, const int Lk,
                                      const int D, const int Dv, const float scale,
                                      const int has_mask, const int causal)
{
    const int c0 = get_global_id(0) * ATTN_VW;     /* first key of this work-item */
    const int bh = get_global_id(1);
    if (c0 >= Lk || bh >= B * H) return;
    const int b = bh / H;
    const int nc = min(ATTN_VW, Lk - c0);
    const int off = Lk - Lq;

    __global const float* Q = q + (size_t)bh * Lq * D;
    __global const float* G = dout + (size_t)bh * Lq * Dv;
    __global const float* LS = lse + (size_t)bh * Lq;
    __global const float* DL = delta + (size_t)bh * Lq;

    __private float Kt[ATTN_DMAX * ATTN_VW];
    __private float Vt[ATTN_DMAX * ATTN_VW];
    __private float dKt[ATTN_PAD(ATTN_DMAX) * ATTN_VW];
    __private float dVt[ATTN_PAD(ATTN_DMAX) * ATTN_VW];
    __private float Pt[ATTN_PAD(ATTN_BQK) * ATTN_VW];
    __private float dSt[ATTN_PAD(ATTN_BQK) * ATTN_VW];

    load_transposed16(Kt, k + ((size_t)bh * Lk + c0) * D, nc, D, D);
    load_transposed16(Vt, v + ((size_t)bh * Lk + c0) * Dv, nc, Dv, Dv);
    for (int c = 0; c < ATTN_PAD(D); ++c) vstore16((float16)(0.0f), c, dKt);
    for (int c = 0; c < ATTN_PAD(Dv); ++c) vstore16((float16)(0.0f), c, dVt);

    /* keep lanes: valid key and not masked. A work-item whose 16 keys are all
     * masked skips the query loop and writes zeros. */
    float kp[ATTN_VW];
    int any = 0;
    for (int r = 0; r < ATTN_VW; ++r) {
        const int keep = (r < nc) && (!has_mask || key_mask[(size_t)b * Lk + c0 + r] != 0.0f);
        kp[r] = keep ? 1.0f : 0.0f;
        any |= keep;
    }
    const int16 keep16 = vload16(0, kp) != (float16)(0.0f);
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int16 key = lane + (int16)(c0);
    /* query i sees key j iff i >= j - off */
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
    }

    __global float* GK = dk + ((size_t)bh * Lk + c0) * D;
    __global float* GV = dv + ((size_t)bh * Lk + c0) * Dv;
    for (int r = 0; r < nc; ++r) {
        for (int c = 0; c < D; ++c) GK[(size_t)r * D + c] = scale * dKt[c * ATTN_VW + r];
        for (int c = 0; c < Dv; ++c) GV[(size_t)r * Dv + c] = dVt[c * ATTN_VW + r];
    }
}

/* ---------------------------------------------------------------------------
 * GPU style: one work-item per query row (key row for dkdv), ATTN_WG rows per
 * work-group, ATTN_TK-row tiles of the other operand staged in __local.
 * No early return anywhere (PoCL 3.1 crashes on a return before a barrier):
 * out-of-range work-items compute on a clamped row and skip the store; every
 * loop that contains a barrier has a work-group-uniform trip count.
 * ------------------------------------------------------------------------- */

/* cooperative copy of rows [r0, r0+ATTN_TK) of a [n, w] matrix into t[ATTN_TK][ATTN_DMAX]
 * (rows >= n are zero-filled) */
static inline void attn_stage(__local float* t, __global const float* src, const int r0,
                              const int n, const int w)
{
    for (int x = get_local_id(0); x < ATTN_TK * w; x += ATTN_WG) {
        const int r = x / w, c = x - r * w;
        t[r * ATTN_DMAX + c] = (r0 + r < n) ? src[(size_t)(r0 + r) * w + c] : 0.0f;
    }
}

__kernel __attribute__((reqd_work_group_size(ATTN_WG, 1, 1)))
void attention_forward_gpu(__global const float* q, __global const float* k,
                           __global const float* v, __global const float* key_mask,
                           __global float* out, __global float* lse,
                           const int B, const int H, const int Lq, const int Lk,
                           const int D, const int Dv, const float scale,
                           const int has_mask, const int causal)
{
    __local float Ks[ATTN_TK * ATTN_DMAX];
    __local float Vs[ATTN_TK * ATTN_DMAX];
    const int bh = get_global_id(1);
    const int b = bh / H;
    const int row = get_global_id(0);
    const int rc = min(row, Lq - 1);               /* clamped: loads stay in bounds */
    const int off = Lk - Lq;
    /* keys needed by the group's last (clamped) row: uniform over the group */
    const int glast = min((int)(get_group_id(0) * ATTN_WG + ATTN_WG - 1), Lq - 1);
    const int kend = causal ? min(Lk, glast + off + 1) : Lk;

    __global const float* K = k + (size_t)bh * Lk * D;
    __global const float* V = v + (size_t)bh * Lk * Dv;
    __global const float* Qr = q + ((size_t)bh * Lq + rc) * D;
    float qr[ATTN_DMAX], o[ATTN_DMAX], s[ATTN_TK];
    for (int d = 0; d < D; ++d) qr[d] = Qr[d];
    for (int c = 0; c < Dv; ++c) o[c] = 0.0f;
    float m = -INFINITY, l = 0.0f;

    for (int kt = 0; kt < kend; kt += ATTN_TK) {
        attn_stage(Ks, K, kt, Lk, D);
        attn_stage(Vs, V, kt, Lk, Dv);
        barrier(CLK_LOCAL_MEM_FENCE);
        const int nk = min(ATTN_TK, kend - kt);
        float mx = -INFINITY;
        for (int j = 0; j < nk; ++j) {
            const int key = kt + j;
            const int vis = (!has_mask || key_mask[(size_t)b * Lk + key] != 0.0f)
                            && (!causal || key <= rc + off);
            float a = 0.0f;
            for (int d = 0; d < D; ++d) a = fma(qr[d], Ks[j * ATTN_DMAX + d], a);
            s[j] = vis ? scale * a : -INFINITY;
            mx = fmax(mx, s[j]);
        }
        /* online softmax: same -inf conventions as the CPU kernel */
        const float mnew = fmax(m, mx);
        const float shift = (mnew == -INFINITY) ? 0.0f : mnew;
        const float alpha = exp(m - shift);
        l *= alpha;
        for (int c = 0; c < Dv; ++c) o[c] *= alpha;
        for (int j = 0; j < nk; ++j) {
            const float p = exp(s[j] - shift);
            l += p;
            for (int c = 0; c < Dv; ++c) o[c] = fma(p, Vs[j * ATTN_DMAX + c], o[c]);
        }
        m = mnew;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row < Lq) {
        const int empty = !(l > 0.0f);
        const float inv = empty ? 0.0f : 1.0f / l;
        __global float* O = out + ((size_t)bh * Lq + row) * Dv;
        for (int c = 0; c < Dv; ++c) O[c] = o[c] * inv;
        lse[(size_t)bh * Lq + row] = empty ? -INFINITY : m + log(l);
    }
}

__kernel __attribute__((reqd_work_group_size(ATTN_WG, 1, 1)))
void attention_backward_dq_gpu(__global const float* q, __global const float* k,
                               __global const float* v, __global const float* key_mask,
                               __global const float* lse, __global const float* delta,
                               __global const float* dout, __global float* dq,
                               const int B, const int H, const int Lq, const int Lk,
                               const int D, const int Dv, const float scale,
                               const int has_mask, const int causal)
{
    __local float Ks[ATTN_TK * ATTN_DMAX];
    __local float Vs[ATTN_TK * ATTN_DMAX];
    const int bh = get_global_id(1);
    const int b = bh / H;
    const int row = get_global_id(0);
    const int rc = min(row, Lq - 1);
    const int off = Lk - Lq;
    const int glast = min((int)(get_group_id(0) * ATTN_WG + ATTN_WG - 1), Lq - 1);
    const int kend = causal ? min(Lk, glast + off + 1) : Lk;

    __global const float* K = k + (size_t)bh * Lk * D;
    __global const float* V = v + (size_t)bh * Lk * Dv;
    const size_t ri = (size_t)bh * Lq + rc;
    float qr[ATTN_DMAX], gr[ATTN_DMAX], acc[ATTN_DMAX];
    for (int d = 0; d < D; ++d) { qr[d] = q[ri * D + d]; acc[d] = 0.0f; }
    for (int c = 0; c < Dv; ++c) gr[c] = dout[ri * Dv + c];
    const float L = lse[ri], dl = delta[ri];

    for (int kt = 0; kt < kend; kt += ATTN_TK) {
        attn_stage(Ks, K, kt, Lk, D);
        attn_stage(Vs, V, kt, Lk, Dv);
        barrier(CLK_LOCAL_MEM_FENCE);
        const int nk = min(ATTN_TK, kend - kt);
        for (int j = 0; j < nk; ++j) {
            const int key = kt + j;
            /* an empty row (lse = -inf) has no visible key, so exp(s - lse) is never formed */
            const int vis = (!has_mask || key_mask[(size_t)b * Lk + key] != 0.0f)
                            && (!causal || key <= rc + off);
            if (vis) {
                float a = 0.0f, dp = 0.0f;
                for (int d = 0; d < D; ++d) a = fma(qr[d], Ks[j * ATTN_DMAX + d], a);
                for (int c = 0; c < Dv; ++c) dp = fma(gr[c], Vs[j * ATTN_DMAX + c], dp);
                const float ds = exp(scale * a - L) * (dp - dl);
                for (int d = 0; d < D; ++d) acc[d] = fma(ds, Ks[j * ATTN_DMAX + d], acc[d]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row < Lq)
        for (int d = 0; d < D; ++d) dq[((size_t)bh * Lq + row) * D + d] = scale * acc[d];
}

__kernel __attribute__((reqd_work_group_size(ATTN_WG, 1, 1)))
void attention_backward_dkdv_gpu(__global const float* q, __global const float* k,
                                 __global const float* v, __global const float* key_mask,
                                 __global const float* lse, __global const float* delta,
                                 __global const float* dout, __global float* dk,
                                 __global float* dv,
                                 const int B, const int H, const int Lq, const int Lk,
                                 const int D, const int Dv, const float scale,
                                 const int has_mask, const int causal)
{
    __local float Qs[ATTN_TK * ATTN_DMAX];
    __local float Gs[ATTN_TK * ATTN_DMAX];
    __local float Ls[ATTN_TK], Ds[ATTN_TK];
    const int bh = get_global_id(1);
    const int b = bh / H;
    const int col = get_global_id(0);               /* key index */
    const int cc = min(col, Lk - 1);
    const int off = Lk - Lq;
    /* first query that sees the group's first key: uniform over the group */
    const int gfirst = get_group_id(0) * ATTN_WG;
    const int ibeg = causal ? max(0, gfirst - off) : 0;
    const int keep = !has_mask || key_mask[(size_t)b * Lk + cc] != 0.0f;

    __global const float* Q = q + (size_t)bh * Lq * D;
    __global const float* G = dout + (size_t)bh * Lq * Dv;
    const size_t ci = (size_t)bh * Lk + cc;
    float kr[ATTN_DMAX], vr[ATTN_DMAX], gk[ATTN_DMAX], gv[ATTN_DMAX];
    for (int d = 0; d < D; ++d) { kr[d] = k[ci * D + d]; gk[d] = 0.0f; }
    for (int c = 0; c < Dv; ++c) { vr[c] = v[ci * Dv + c]; gv[c] = 0.0f; }

    for (int it = ibeg; it < Lq; it += ATTN_TK) {
        attn_stage(Qs, Q, it, Lq, D);
        attn_stage(Gs, G, it, Lq, Dv);
        for (int x = get_local_id(0); x < ATTN_TK; x += ATTN_WG) {
            Ls[x] = (it + x < Lq) ? lse[(size_t)bh * Lq + it + x] : 0.0f;
            Ds[x] = (it + x < Lq) ? delta[(size_t)bh * Lq + it + x] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        const int ni = min(ATTN_TK, Lq - it);
        for (int i = 0; i < ni; ++i) {
            if (keep && (!causal || cc <= it + i + off)) {
                float a = 0.0f, dp = 0.0f;
                for (int d = 0; d < D; ++d) a = fma(kr[d], Qs[i * ATTN_DMAX + d], a);
                for (int c = 0; c < Dv; ++c) dp = fma(vr[c], Gs[i * ATTN_DMAX + c], dp);
                const float p = exp(scale * a - Ls[i]);
                const float ds = p * (dp - Ds[i]);
                for (int c = 0; c < Dv; ++c) gv[c] = fma(p, Gs[i * ATTN_DMAX + c], gv[c]);
                for (int d = 0; d < D; ++d) gk[d] = fma(ds, Qs[i * ATTN_DMAX + d], gk[d]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (col < Lk) {
        for (int d = 0; d < D; ++d) dk[((size_t)bh * Lk + col) * D + d] = scale * gk[d];
        for (int c = 0; c < Dv; ++c) dv[((size_t)bh * Lk + col) * Dv + c] = gv[c];
    }
}
