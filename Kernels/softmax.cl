/*
 * softmax.cl -- masked, scaled (log-)softmax over the last axis of a
 * row-major float32 [rows, cols] matrix, forward and backward, for AlignCL.
 *
 * Forward, per row, over the kept entries j (mask[j] != 0, or all entries
 * when has_mask == 0):
 *   m = max_j scale*x[j]                      (subtracted so exp never overflows:
 *                                              logits of +-1e4 times scale ~100
 *                                              would overflow exp() directly)
 *   s = sum_j exp(scale*x[j] - m)             (each term in [0,1], one is 1,
 *                                              so 1 <= s <= cols: no overflow)
 *   softmax:     y[j] = exp(scale*x[j] - m) / s   kept,  0         masked
 *   log-softmax: y[j] = (scale*x[j] - m) - log(s) kept, -INFINITY  masked
 *   A fully masked row gives all 0 (softmax) / all -INFINITY (log) -- never NaN.
 * Backward, from the forward output y and the upstream gradient dy:
 *   softmax:     dx[j] = scale * y[j] * (dy[j] - sum_kept(dy*y))
 *   log-softmax: dx[j] = scale * (dy[j] - exp(y[j]) * sum_kept(dy))
 *   masked entries (and every entry of a fully masked row) get dx = 0.
 * All reductions accumulate in float32; the row-wise kernels keep 16 partial
 * sums (one per float16 lane) which also limits rounding growth on long rows.
 *
 * Arguments (all variants):
 *   (x|y, [dy,] mask, y|dx, rows, cols, scale, has_mask, log_mode)
 *   mask is a float [rows, cols] buffer read only when has_mask != 0 (else a
 *   dummy 1-element buffer may be passed). log_mode != 0 selects log-softmax.
 *
 * Variant 1 -- CPU style (fast on PoCL): one work-item per row, explicit
 *   float16 loops (vload16/vstore16, no alignment needed) + scalar tail for
 *   cols % 16, no __local and no barriers.
 *     softmax_forward_rowwise, softmax_backward_rowwise
 *     global (roundUp(rows, 8)), local (8); work-items with id >= rows return.
 *   exp() of arguments that are always <= 0 uses exp_nonpos16 (common.cl, ~2 ulp),
 *   which is ~2x cheaper than PoCL's library exp(); the forward pass reads
 *   the next row ahead under the exp work (see comment in the kernel).
 *
 * Variant 2 -- GPU style: one work-group of SOFTMAX_WG work-items per row,
 *   strided (coalesced) column loop, __local tree reductions.
 *     softmax_forward_workgroup, softmax_backward_workgroup
 *     global (rows * SOFTMAX_WG), local (SOFTMAX_WG) -- required.
 *   SOFTMAX_WG: -D build option, power of two in [1, 1024], default 256.
 *   __local: 4 * SOFTMAX_WG bytes (1 KiB at 256, 4 KiB at 1024), any device fits.
 *   Cost: memory-bound. Forward reads x (and mask) 3 times, backward y, dy (and mask) twice;
 *   for rows of a few thousand floats the re-reads hit L1/L2, so DRAM sees 8 bytes per output
 *   forward (12 with a mask) and 12 backward (16). Scalar coalesced loads, 2 (1) 8-level
 *   barrier trees per row: ~60-75% of an H100's 3 TB/s for rows >= 1K columns.
 *   These kernels have no early return (PoCL 3.1 crashes on a return before
 *   a barrier); they use library exp() (fast on GPUs). Slow on PoCL.
 *
 * OpenCL C 1.2. Offsets are size_t (rows*cols may exceed 2^31); assumes
 * cols >= 1 and finite x (an x of +INF gives NaN as in any softmax).
 */

#ifndef SOFTMAX_WG
#define SOFTMAX_WG 256
#endif
#if SOFTMAX_WG < 1 || SOFTMAX_WG > 1024 || (SOFTMAX_WG & (SOFTMAX_WG - 1)) != 0
#error "SOFTMAX_WG must be a power of two in [1, 1024]"
#endif

/* scale*x with masked entries mapped to -INFINITY: they then drop out of the
 * max, give exp(-inf - m) = 0 in the sum / softmax output, and -inf - m -
 * log(s) = -inf in the log-softmax output without any further branching. */
#define SX16(v) (has_mask ? select((float16)(-INFINITY), scale * vload16((v), xr), \
                                   isnotequal(vload16((v), mr), (float16)(0.0f))) \
                          : scale * vload16((v), xr))
#define SX1(j) ((has_mask && mr[(j)] == 0.0f) ? -INFINITY : scale * xr[(j)])

/* ------------------------------------------------------------------------- */
__kernel void softmax_forward_rowwise(__global const float* x, __global const float* mask,
                                      __global float* y, const int rows, const int cols,
                                      const float scale, const int has_mask, const int log_mode)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    const size_t off = (size_t)row * cols;
    __global const float* xr = x + off;
    __global const float* mr = mask + (has_mask ? off : 0);
    __global float* yr = y + off;
    const int nv = cols / 16;
    const int tail = nv * 16;

    /* pass 1: max of kept scaled logits */
    float16 mx16 = (float16)(-INFINITY);
    for (int v = 0; v < nv; ++v) mx16 = fmax(mx16, SX16(v));
    float m = hmax16(mx16);
    for (int j = tail; j < cols; ++j) m = fmax(m, SX1(j));

    if (m == -INFINITY) {
        /* fully masked row: 0 / -inf everywhere, avoids (-inf) - (-inf) = NaN */
        const float fill = log_mode ? -INFINITY : 0.0f;
        for (int v = 0; v < nv; ++v) vstore16((float16)(fill), v, yr);
        for (int j = tail; j < cols; ++j) yr[j] = fill;
        return;
    }

    /* pass 2: s = sum of exp(sx - m); every term is in [0,1] and the max term
     * is exactly 1, so s is in [1, cols] and cannot overflow or vanish.
     * Softmax mode also parks the unnormalised terms in y, so exp() is
     * evaluated once per element (it dominates the cost on a CPU). */
    float16 s16 = (float16)(0.0f);
    float s = 0.0f;
    /* Read-ahead: this pass is compute-bound (exp) while pass 1 is memory-
     * bound, and PoCL runs the work-items of a work-group one after another on
     * one core, so the next row (normally the next work-item's) is loaded here
     * to pull it into cache under the exp work. prefetch() is a no-op in PoCL,
     * hence real loads; the sum feeds a never-true NaN test whose only effect
     * would be a volatile re-store of an unchanged value, which keeps the loads
     * alive without changing any result. Costs nothing on the last row. */
    const int ahead = (row + 1 < rows) ? cols : 0;
    __global const float* xn = xr + ahead;
    __global const float* mn = mr + (has_mask ? ahead : 0);
    float16 pf = (float16)(0.0f);
    if (log_mode) {
        for (int v = 0; v < nv; ++v) {
            pf += vload16(v, xn);
            if (has_mask) pf += vload16(v, mn);
            s16 += exp_nonpos16(SX16(v) - m);
        }
        s = hsum16(s16);
        for (int j = tail; j < cols; ++j) s += exp(SX1(j) - m);
    } else {
        for (int v = 0; v < nv; ++v) {
            pf += vload16(v, xn);
            if (has_mask) pf += vload16(v, mn);
            const float16 e = exp_nonpos16(SX16(v) - m);
            s16 += e;
            vstore16(e, v, yr);
        }
        s = hsum16(s16);
        for (int j = tail; j < cols; ++j) {
            const float e = exp(SX1(j) - m);
            s += e;
            yr[j] = e;
        }
    }

    if (isnan(hsum16(pf))) *(volatile __global float*)yr = yr[0];

    /* pass 3: normalise (the row is still in L1/L2 for typical widths) */
    if (log_mode) {
        /* (z - m) - log(s), not z - (m + log(s)): the shift m + log(s) would be
         * rounded at the magnitude of the logits (1e4 keeps only ~1e-3). */
        const float log_s = log(s);
        for (int v = 0; v < nv; ++v) vstore16((SX16(v) - m) - log_s, v, yr);
        for (int j = tail; j < cols; ++j) yr[j] = (SX1(j) - m) - log_s;
    } else {
        const float inv = 1.0f / s;
        for (int v = 0; v < nv; ++v) vstore16(vload16(v, yr) * inv, v, yr);
        for (int j = tail; j < cols; ++j) yr[j] *= inv;
    }
}

/* ------------------------------------------------------------------------- */
#define KEEP16(v) (has_mask ? isnotequal(vload16((v), mr), (float16)(0.0f)) : (int16)(-1))
#define KEEP1(j)  (!has_mask || mr[(j)] != 0.0f)

__kernel void softmax_backward_rowwise(__global const float* y, __global const float* dy,
                                       __global const float* mask, __global float* dx,
                                       const int rows, const int cols, const float scale,
                                       const int has_mask, const int log_mode)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    const size_t off = (size_t)row * cols;
    __global const float* yr = y + off;
    __global const float* gr = dy + off;
    __global const float* mr = mask + (has_mask ? off : 0);
    __global float* dr = dx + off;
    const int nv = cols / 16;
    const int tail = nv * 16;
    const float16 z16 = (float16)(0.0f);

    /* dot = sum_kept(dy*y) (softmax) or sum_kept(dy) (log-softmax), in float */
    float16 a16 = z16;
    float dot;
    if (log_mode) {
        for (int v = 0; v < nv; ++v) a16 += select(z16, vload16(v, gr), KEEP16(v));
        dot = hsum16(a16);
        for (int j = tail; j < cols; ++j) if (KEEP1(j)) dot += gr[j];
        for (int v = 0; v < nv; ++v) {
            const float16 g = scale * (vload16(v, gr) - exp_nonpos16(vload16(v, yr)) * dot);
            vstore16(select(z16, g, KEEP16(v)), v, dr);
        }
        for (int j = tail; j < cols; ++j)
            dr[j] = KEEP1(j) ? scale * (gr[j] - exp(yr[j]) * dot) : 0.0f;
    } else {
        for (int v = 0; v < nv; ++v)
            a16 += select(z16, vload16(v, gr) * vload16(v, yr), KEEP16(v));
        dot = hsum16(a16);
        for (int j = tail; j < cols; ++j) if (KEEP1(j)) dot += gr[j] * yr[j];
        for (int v = 0; v < nv; ++v) {
            const float16 yv = vload16(v, yr);
            const float16 g = scale * yv * (vload16(v, gr) - dot);
            vstore16(select(z16, g, KEEP16(v)), v, dr);
        }
        for (int j = tail; j < cols; ++j)
            dr[j] = KEEP1(j) ? scale * yr[j] * (gr[j] - dot) : 0.0f;
    }
}

/* ---------------------------------------------------------------------------
 * GPU style: one work-group per row; wg_max / wg_sum (common.cl) are the
 * fixed-order __local trees (deterministic).
 * ------------------------------------------------------------------------- */
__kernel __attribute__((reqd_work_group_size(SOFTMAX_WG, 1, 1)))
void softmax_forward_workgroup(__global const float* x, __global const float* mask,
                               __global float* y, const int rows, const int cols,
                               const float scale, const int has_mask, const int log_mode)
{
    __local float red[SOFTMAX_WG];
    /* No early return anywhere in this kernel: every work-item must reach every
     * barrier (PoCL 3.1 also crashes on a return that precedes a barrier, even
     * a group-uniform one). An out-of-range group just sees an empty row. */
    const int row = get_group_id(0);
    const int n = (row < rows) ? cols : 0;
    const int lid = get_local_id(0);
    const size_t off = (row < rows) ? (size_t)row * cols : 0;
    __global const float* xr = x + off;
    __global const float* mr = mask + (has_mask ? off : 0);
    __global float* yr = y + off;

    float m = -INFINITY;
    for (int j = lid; j < n; j += SOFTMAX_WG) m = fmax(m, SX1(j));
    m = wg_max(m, red, SOFTMAX_WG);

    /* Fully masked row: m = -inf. Use 0 as the shift so the sum below is an
     * exact 0 instead of exp(-inf - -inf) = NaN; the output is a fill value. */
    const int empty = (m == -INFINITY);
    const float ms = empty ? 0.0f : m;

    float s = 0.0f;
    for (int j = lid; j < n; j += SOFTMAX_WG) s += exp(SX1(j) - ms);
    s = wg_sum(s, red, SOFTMAX_WG);

    if (empty) {
        const float fill = log_mode ? -INFINITY : 0.0f;
        for (int j = lid; j < n; j += SOFTMAX_WG) yr[j] = fill;
    } else if (log_mode) {
        const float log_s = log(s);  /* (z - m) - log(s): see softmax_forward_rowwise */
        for (int j = lid; j < n; j += SOFTMAX_WG) yr[j] = (SX1(j) - m) - log_s;
    } else {
        const float inv = 1.0f / s;
        for (int j = lid; j < n; j += SOFTMAX_WG) yr[j] = exp(SX1(j) - m) * inv;
    }
}

__kernel __attribute__((reqd_work_group_size(SOFTMAX_WG, 1, 1)))
void softmax_backward_workgroup(__global const float* y, __global const float* dy,
                                __global const float* mask, __global float* dx,
                                const int rows, const int cols, const float scale,
                                const int has_mask, const int log_mode)
{
    __local float red[SOFTMAX_WG];
    const int row = get_group_id(0);       /* no early return: see forward */
    const int n = (row < rows) ? cols : 0;
    const int lid = get_local_id(0);
    const size_t off = (row < rows) ? (size_t)row * cols : 0;
    __global const float* yr = y + off;
    __global const float* gr = dy + off;
    __global const float* mr = mask + (has_mask ? off : 0);
    __global float* dr = dx + off;

    float a = 0.0f;
    if (log_mode) {
        for (int j = lid; j < n; j += SOFTMAX_WG) if (KEEP1(j)) a += gr[j];
    } else {
        for (int j = lid; j < n; j += SOFTMAX_WG) if (KEEP1(j)) a += gr[j] * yr[j];
    }
    const float dot = wg_sum(a, red, SOFTMAX_WG);

    for (int j = lid; j < n; j += SOFTMAX_WG) {
        float g = 0.0f;
        if (KEEP1(j))
            g = log_mode ? scale * (gr[j] - exp(yr[j]) * dot)
                         : scale * yr[j] * (gr[j] - dot);
        dr[j] = g;
    }
}
