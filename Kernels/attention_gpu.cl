/*
 * attention_gpu.cl -- the GPU-style attention kernels (forward, backward dq and
 * dk/dv), float32, for AlignCL: built only for GPU devices. Layouts, masks,
 * numerics and attention_backward_delta (which the GPU backward uses too) are
 * those of attention.cl.
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
 *   (delta: attention_backward_delta of attention.cl)
 *
 */

#ifndef ATTN_DMAX
#define ATTN_DMAX 256
#endif
#ifndef ATTN_WG
#define ATTN_WG 64
#endif
#ifndef ATTN_TK
#define ATTN_TK 16
#endif
#if ATTN_TK < 1 || ATTN_WG < 1 || ATTN_DMAX < 1
#error "ATTN_TK, ATTN_WG, ATTN_DMAX must be >= 1"
#endif

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
