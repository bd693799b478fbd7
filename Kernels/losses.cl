/*
 * losses.cl -- loss functions (per-row / per-element values; the host sums them in float64)
 * and their gradients, for AlignCL. All tensors float32 row-major.
 *
 * Cross-entropy with ignore-index, logits [rows, classes], targets [rows] (int32 class
 * ids; t = targets[r]):
 *   m = max_j x_j,  s = sum_j exp(x_j - m)    (every argument <= 0, 1 <= s <= classes: stable
 *                                              for logits of +-1e4)
 *   row_loss[r]   = (m - x_t) + log(s)                       (= lse(x) - x_t)
 *   grad[r, j]    = scale * (exp(x_j - m) / s - [j == t])
 *   t == ignore_index: row_loss 0 and a zero gradient row. Any other t outside [0, classes)
 *   gives NaN (row_loss / the whole gradient row) instead of an out-of-bounds read.
 *
 * KL divergence with temperature T (teacher detached), student/teacher [rows, classes]:
 *   lp_c = (te_c - max te) / T - log sum_j exp((te_j - max te) / T)   = log softmax(te / T)
 *   lq_c = (st_c - max st) / T - log sum_j exp((st_j - max st) / T)   = log softmax(st / T)
 *   row_loss[r]   = sum_c p_c (lp_c - lq_c),  p_c = exp(lp_c)   (terms with p_c == 0 count 0,
 *                                                                so no 0 * inf / log(0))
 *   grad[r, c]    = scale * (q_c - p_c),  q_c = exp(lq_c)
 *   The host folds T^2 / rows, the 1/T of the chain rule and the upstream gradient into scale.
 *
 * Binary cross-entropy with logits, elementwise over n (targets may be any value in [0, 1]):
 *   loss_i = max(x, 0) - x t + log1p(exp(-|x|))
 *   grad_i = scale * (sigmoid(x) - t),  sigmoid(x) = 1/(1+e) (x >= 0), e/(1+e) (x < 0),
 *            e = exp(-|x|) <= 1, so nothing overflows.
 *
 * Row kernels: one work-item per row, float16 loops; the last classes % 16 entries are
 * loaded into a float16 padded with -INFINITY (exp -> 0), so the tail takes the same path.
 * Every exponential in the row kernels has an argument <= 0 and uses exp_nonpos16 (common.cl).
 * Row sums accumulate in float32 over 16 lanes. No __local, no barriers.
 * -D build option:
 *   EW_ITEMS  elements per work-item of the BCE kernels (default 1024)
 * Launches (ceil(a,b) = (a+b-1)/b):
 *   cross_entropy_forward, cross_entropy_backward,
 *   kl_divergence_forward, kl_divergence_backward        global (ceil(rows, 8) * 8), local (8)
 *   binary_cross_entropy_forward,
 *   binary_cross_entropy_backward               global (ceil(n, EW_ITEMS)), local (1)
 * Work-items past the end return. OpenCL C 1.2; offsets in size_t.
 */

#ifndef EW_ITEMS
#define EW_ITEMS 1024
#endif

static inline float row_max(__global const float* x, const int vec, const int nc)
{
    float16 m = (float16)(-INFINITY);
    for (int v = 0; v < vec; ++v) m = fmax(m, vload16(v, x));
    if (nc) m = fmax(m, load_part16(x + vec * 16, nc, -INFINITY));
    return hmax16(m);
}

/* sum_j exp((x_j - m) * k) */
static inline float row_sumexp(__global const float* x, const int vec, const int nc,
                               const float m, const float k)
{
    float16 s = (float16)(0.0f);
    for (int v = 0; v < vec; ++v) s += exp_nonpos16((vload16(v, x) - m) * k);
    if (nc) s += exp_nonpos16((load_part16(x + vec * 16, nc, -INFINITY) - m) * k);
    return hsum16(s);
}

__kernel void cross_entropy_forward(__global const float* logits, __global const int* targets,
                                    __global float* row_loss, const int rows, const int classes,
                                    const int ignore_index)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    const int t = targets[row];
    if (t == ignore_index) { row_loss[row] = 0.0f; return; }
    if (t < 0 || t >= classes) { row_loss[row] = NAN; return; }
    __global const float* x = logits + (size_t)row * classes;
    const int vec = classes / 16, nc = classes - vec * 16;
    const float m = row_max(x, vec, nc);
    const float s = row_sumexp(x, vec, nc, m, 1.0f);
    row_loss[row] = (m - x[t]) + log(s);
}

__kernel void cross_entropy_backward(__global const float* logits, __global const int* targets,
                                     __global float* grad_logits, const int rows, const int classes,
                                     const int ignore_index, const float scale)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    __global const float* x = logits + (size_t)row * classes;
    __global float* g = grad_logits + (size_t)row * classes;
    const int vec = classes / 16, nc = classes - vec * 16;
    const int t = targets[row];
    if (t == ignore_index || t < 0 || t >= classes) {
        const float fill = (t == ignore_index) ? 0.0f : NAN;
        for (int v = 0; v < vec; ++v) vstore16((float16)(fill), v, g);
        for (int j = vec * 16; j < classes; ++j) g[j] = fill;
        return;
    }
    const float m = row_max(x, vec, nc);
    const float s = row_sumexp(x, vec, nc, m, 1.0f);
    const float k = scale / s;
    for (int v = 0; v < vec; ++v) vstore16(exp_nonpos16(vload16(v, x) - m) * k, v, g);
    if (nc) store_part16(exp_nonpos16(load_part16(x + vec * 16, nc, -INFINITY) - m) * k, g + vec * 16, nc);
    g[t] = scale * (exp(x[t] - m) / s - 1.0f);
}

/* p_c (lp_c - lq_c) per lane, 0 where p_c == 0 (also the -INFINITY padding lanes). */
static inline float16 kl_terms16(const float16 st, const float16 te, const float ms, const float mt,
                                 const float ls, const float lt, const float k)
{
    const float16 lp = (te - mt) * k - lt;
    const float16 lq = (st - ms) * k - ls;
    const float16 p = exp_nonpos16(lp);
    return select(p * (lp - lq), (float16)(0.0f), p <= (float16)(0.0f));
}

__kernel void kl_divergence_forward(__global const float* student, __global const float* teacher,
                             __global float* row_loss, const int rows, const int classes,
                             const float temperature)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    __global const float* st = student + (size_t)row * classes;
    __global const float* te = teacher + (size_t)row * classes;
    const int vec = classes / 16, nc = classes - vec * 16;
    const float k = 1.0f / temperature;
    const float ms = row_max(st, vec, nc), mt = row_max(te, vec, nc);
    const float ls = log(row_sumexp(st, vec, nc, ms, k)), lt = log(row_sumexp(te, vec, nc, mt, k));
    float16 acc = (float16)(0.0f);
    for (int v = 0; v < vec; ++v) acc += kl_terms16(vload16(v, st), vload16(v, te), ms, mt, ls, lt, k);
    if (nc) acc += kl_terms16(load_part16(st + vec * 16, nc, -INFINITY), load_part16(te + vec * 16, nc, -INFINITY), ms, mt, ls, lt, k);
    row_loss[row] = hsum16(acc);
}

__kernel void kl_divergence_backward(__global const float* student, __global const float* teacher,
                              __global float* grad_student, const int rows, const int classes,
                              const float temperature, const float scale)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    __global const float* st = student + (size_t)row * classes;
    __global const float* te = teacher + (size_t)row * classes;
    __global float* g = grad_student + (size_t)row * classes;
    const int vec = classes / 16, nc = classes - vec * 16;
    const float k = 1.0f / temperature;
    const float ms = row_max(st, vec, nc), mt = row_max(te, vec, nc);
    const float ls = log(row_sumexp(st, vec, nc, ms, k)), lt = log(row_sumexp(te, vec, nc, mt, k));
    for (int v = 0; v < vec; ++v) {
        const float16 p = exp_nonpos16((vload16(v, te) - mt) * k - lt);
        const float16 q = exp_nonpos16((vload16(v, st) - ms) * k - ls);
        vstore16(scale * (q - p), v, g);
    }
    if (nc) {
        const float16 p = exp_nonpos16((load_part16(te + vec * 16, nc, -INFINITY) - mt) * k - lt);
        const float16 q = exp_nonpos16((load_part16(st + vec * 16, nc, -INFINITY) - ms) * k - ls);
        store_part16(scale * (q - p), g + vec * 16, nc);
    }
}

__kernel void binary_cross_entropy_forward(__global const float* logits, __global const float* targets,
                                      __global float* loss, const int n)
{
    const size_t i0 = (size_t)get_global_id(0) * EW_ITEMS;
    if (i0 >= (size_t)n) return;
    const size_t i1 = min(i0 + (size_t)EW_ITEMS, (size_t)n);
    const size_t iv = i0 + ((i1 - i0) & ~(size_t)15);
    size_t i = i0;
    for (; i < iv; i += 16) {
        const float16 x = vload16(0, logits + i), t = vload16(0, targets + i);
        vstore16(fmax(x, (float16)(0.0f)) - x * t + log1p(exp(-fabs(x))), 0, loss + i);
    }
    for (; i < i1; ++i) {
        const float x = logits[i], t = targets[i];
        loss[i] = fmax(x, 0.0f) - x * t + log1p(exp(-fabs(x)));
    }
}

__kernel void binary_cross_entropy_backward(__global const float* logits, __global const float* targets,
                                       __global float* grad, const int n, const float scale)
{
    const size_t i0 = (size_t)get_global_id(0) * EW_ITEMS;
    if (i0 >= (size_t)n) return;
    const size_t i1 = min(i0 + (size_t)EW_ITEMS, (size_t)n);
    const size_t iv = i0 + ((i1 - i0) & ~(size_t)15);
    size_t i = i0;
    for (; i < iv; i += 16) {
        const float16 x = vload16(0, logits + i), t = vload16(0, targets + i);
        const float16 e = exp(-fabs(x));
        const float16 r = 1.0f / (1.0f + e);
        const float16 sig = select(e * r, r, x >= (float16)(0.0f));
        vstore16(scale * (sig - t), 0, grad + i);
    }
    for (; i < i1; ++i) {
        const float x = logits[i], t = targets[i];
        const float e = exp(-fabs(x));
        const float r = 1.0f / (1.0f + e);
        grad[i] = scale * (((x >= 0.0f) ? r : e * r) - t);
    }
}

/* =============================================================================================
 * GPU style: a work-group per row (cross-entropy, KL), one element per work-item (BCE).
 * Same semantics, argument lists and outputs as the CPU-style kernels above.
 *
 * -D build option: ROW_WG  work-group size, a power of two in [1, 1024] (default 256);
 *   every kernel here has reqd_work_group_size(ROW_WG).
 * Column layout: chunks of 4 * ROW_WG classes; in chunk k work-item l owns classes
 *   k*4*ROW_WG + 4l + (0..3) as one float4 when classes % 4 == 0 (rows 16-byte aligned), else
 *   k*4*ROW_WG + l + ROW_WG*(0..3) as scalars: coalesced either way. Padding reads -INFINITY.
 *   (wg_cols4 / wg_load4 / wg_store4 in common.cl.)
 * Log-sum-exp in one pass ("online"): each work-item keeps (m, s) = (max, sum exp((x - m) k))
 *   of its classes, rescaling s by exp((m_old - m_new) k) <= 1 when the max grows, so every
 *   exp() argument stays <= 0 (logits of +-1e4 are safe); the work-group merges the pairs in a
 *   fixed __local tree ((m, s) (+) (m', s') = (M, s e^{(m-M)k} + s' e^{(m'-M)k}): wg_lse,
 *   wg_lse_x2 and wg_lse_merge in common.cl; the KL sum is wg_sum). The loss then
 *   uses (m - x_t) + log(s) and the gradients exp((x - m) k - log s), as the CPU path does
 *   (never m + log s, which would round at the logits' magnitude). Library exp()/log().
 * Deterministic: fixed per-work-item order and tree shape, no atomics.
 *
 * cross_entropy_forward_gpu(const float* logits [rows*classes], const int* targets [rows],
 *     float* row_loss [rows], int rows, int classes, int ignore_index)
 *   global (rows * ROW_WG), local (ROW_WG). __local 8 * ROW_WG bytes.
 * cross_entropy_backward_gpu(const float* logits, const int* targets, float* grad_logits
 *     [rows*classes], int rows, int classes, int ignore_index, float scale)
 *   global (rows * ROW_WG), local (ROW_WG). __local 8 * ROW_WG bytes.
 * kl_divergence_forward_gpu(const float* student [rows*classes], const float* teacher,
 *     float* row_loss [rows], int rows, int classes, float temperature)       (temperature > 0)
 *   global (rows * ROW_WG), local (ROW_WG). __local 16 * ROW_WG bytes (16 KiB at 1024).
 * kl_divergence_backward_gpu(const float* student, const float* teacher, float* grad_student,
 *     int rows, int classes, float temperature, float scale)
 *   global (rows * ROW_WG), local (ROW_WG). __local 16 * ROW_WG bytes.
 * binary_cross_entropy_forward_gpu(const float* logits [n], const float* targets [n],
 *     float* loss [n], int n)
 * binary_cross_entropy_backward_gpu(const float* logits, const float* targets, float* grad,
 *     int n, float scale)
 *   global (ceil(n, ROW_WG) * ROW_WG), local (ROW_WG); no __local, no barrier.
 *
 * Cost (memory-bound; no matrix product, so no __local loads per FMA):
 *   CE forward: 4 bytes per logit (one pass), 4 bytes per row out. Backward: a second pass
 *   for the gradient: 4 + 4 + 4 bytes per logit, the re-read served by L1/L2 while a row is
 *   small next to the cache share of the groups resident on a CU (rows of ~1-8K classes);
 *   vocabulary-sized rows (50K classes = 200 KB) re-read from DRAM: 12 bytes.
 *   KL forward: 8 bytes per class (both inputs once) + the second pass (L1/L2; 16 from DRAM
 *   for long rows). KL backward: 8 + 4 bytes per class (20 for long rows).
 *   Per element 1-2 exp() plus the occasional rescale: ~4-8 SFU ops per 16 bytes on an H100
 *   (16 exp/clk/SM, ~3.6 T exp/s) stays below the memory time. One float4 per operand in
 *   flight per work-item, ~20-30 registers (full occupancy), one or two 8-level barrier
 *   trees per row. Expect ~70-85% of 3 TB/s for rows of >= 1K classes; short rows (< 256
 *   classes) leave most of a 256-wide group idle: pick ROW_WG ~ classes/4 there.
 *   BCE: 8 bytes in + 4 out per element, scalar coalesced 128-byte lines per warp, one exp and
 *   one log1p: ~85-90% of 3 TB/s.
 * ========================================================================================== */

#ifndef ROW_WG
#define ROW_WG 256
#endif
#if ROW_WG < 1 || ROW_WG > 1024 || (ROW_WG & (ROW_WG - 1)) != 0
#error "ROW_WG must be a power of two in [1, 1024]"
#endif

/* Adds 4 values to an online (max, sum exp((x - max) k)) state (see wg_lse_merge in
 * common.cl); all-padding chunks change nothing (and would give -inf - -inf = NaN). */
static inline float2 lse_push(const float2 ms, const float4 v, const float k)
{
    const float cm = fmax(fmax(v.x, v.y), fmax(v.z, v.w));
    if (cm == -INFINITY) return ms;
    const float m = fmax(ms.x, cm);
    const float4 e = exp((v - m) * k);
    return (float2)(m, fma(ms.y, exp((ms.x - m) * k), (e.x + e.y) + (e.z + e.w)));
}

/* Both cross-entropy kernels (backward: a compile-time constant at each call). Ignored,
 * invalid and past-the-end rows reduce an empty row (no early return: barriers follow) and
 * store their fill value (or nothing). */
static inline void ce_row_gpu(__global const float* logits, __global const int* targets,
                              __global float* row_loss, __global float* grad_logits,
                              const int rows, const int classes, const int ignore_index,
                              const float scale, const int backward, __local float2* red)
{
    const int row = get_group_id(0), lid = get_local_id(0);
    const int live = row < rows;
    const int t = targets[live ? row : 0];
    const int ok = live && t != ignore_index && t >= 0 && t < classes;
    const int vec = (classes & 3) == 0;
    const int n = ok ? classes : 0;
    const size_t off = live ? (size_t)row * classes : 0;
    __global const float* xr = logits + off;
    float2 ms = (float2)(-INFINITY, 0.0f);
    for (int k = 0; k < wg_nchunks4(n, ROW_WG); ++k)
        ms = lse_push(ms, wg_load4(xr, wg_cols4(k, lid, ROW_WG, vec), n, vec, -INFINITY), 1.0f);
    ms = wg_lse(ms, red, ROW_WG, 1.0f);
    const float log_s = log(ms.y);
    const float fill = (t == ignore_index) ? 0.0f : NAN;
    if (!backward && live && lid == 0) row_loss[row] = ok ? (ms.x - xr[t]) + log_s : fill;
    __global float* gr = grad_logits + off;
    const int nk = (backward && live) ? wg_nchunks4(classes, ROW_WG) : 0;
    for (int k = 0; k < nk; ++k) {   /* every class of a live row: the fill for !ok */
        const int4 c = wg_cols4(k, lid, ROW_WG, vec);
        float4 g = (float4)(fill);
        if (ok) {
            const float4 p = exp((wg_load4(xr, c, classes, vec, -INFINITY) - ms.x) - log_s);
            g = scale * (p - select((float4)(0.0f), (float4)(1.0f), c == (int4)(t)));
        }
        wg_store4(gr, c, classes, vec, g);
    }
}

__kernel __attribute__((reqd_work_group_size(ROW_WG, 1, 1)))
void cross_entropy_forward_gpu(__global const float* logits, __global const int* targets,
                               __global float* row_loss, const int rows, const int classes,
                               const int ignore_index)
{
    __local float2 red[ROW_WG];
    ce_row_gpu(logits, targets, row_loss, row_loss, rows, classes, ignore_index, 0.0f, 0, red);
}

__kernel __attribute__((reqd_work_group_size(ROW_WG, 1, 1)))
void cross_entropy_backward_gpu(__global const float* logits, __global const int* targets,
                                __global float* grad_logits, const int rows, const int classes,
                                const int ignore_index, const float scale)
{
    __local float2 red[ROW_WG];
    ce_row_gpu(logits, targets, grad_logits, grad_logits, rows, classes, ignore_index, scale, 1,
               red);
}

/* Both KL kernels (backward: a compile-time constant at each call). Pass 1: the online
 * (m, s) of student (.xy) and teacher (.zw) rows of x / T; pass 2: the loss terms or the
 * gradient. */
static inline void kl_row_gpu(__global const float* student, __global const float* teacher,
                              __global float* row_loss, __global float* grad_student,
                              const int rows, const int classes, const float temperature,
                              const float scale, const int backward, __local float4* red)
{
    const int row = get_group_id(0), lid = get_local_id(0);
    const int live = row < rows;
    const int n = live ? classes : 0;
    const int vec = (classes & 3) == 0;
    const size_t off = live ? (size_t)row * classes : 0;
    __global const float* st = student + off;
    __global const float* te = teacher + off;
    const float k = 1.0f / temperature;
    float2 a = (float2)(-INFINITY, 0.0f), b = a;
    for (int kk = 0; kk < wg_nchunks4(n, ROW_WG); ++kk) {
        const int4 c = wg_cols4(kk, lid, ROW_WG, vec);
        a = lse_push(a, wg_load4(st, c, n, vec, -INFINITY), k);
        b = lse_push(b, wg_load4(te, c, n, vec, -INFINITY), k);
    }
    const float4 r = wg_lse_x2((float4)(a, b), red, ROW_WG, k);
    const float ms = r.x, ls = log(r.y), mt = r.z, lt = log(r.w);
    float4 acc = (float4)(0.0f);
    for (int kk = 0; kk < wg_nchunks4(n, ROW_WG); ++kk) {
        const int4 c = wg_cols4(kk, lid, ROW_WG, vec);
        const float4 lp = (wg_load4(te, c, n, vec, -INFINITY) - mt) * k - lt;
        const float4 lq = (wg_load4(st, c, n, vec, -INFINITY) - ms) * k - ls;
        const float4 p = exp(lp);
        if (backward)
            wg_store4(grad_student + off, c, n, vec, scale * (exp(lq) - p));
        else   /* p (lp - lq), 0 where p == 0 (underflow, padding: no 0 * inf) */
            acc += select(p * (lp - lq), (float4)(0.0f), p <= (float4)(0.0f));
    }
    if (!backward) {   /* group-uniform */
        const float kl = wg_sum((acc.x + acc.y) + (acc.z + acc.w), (__local float*)red, ROW_WG);
        if (live && lid == 0) row_loss[row] = kl;
    }
}

__kernel __attribute__((reqd_work_group_size(ROW_WG, 1, 1)))
void kl_divergence_forward_gpu(__global const float* student, __global const float* teacher,
                               __global float* row_loss, const int rows, const int classes,
                               const float temperature)
{
    __local float4 red[ROW_WG];
    kl_row_gpu(student, teacher, row_loss, row_loss, rows, classes, temperature, 0.0f, 0, red);
}

__kernel __attribute__((reqd_work_group_size(ROW_WG, 1, 1)))
void kl_divergence_backward_gpu(__global const float* student, __global const float* teacher,
                                __global float* grad_student, const int rows, const int classes,
                                const float temperature, const float scale)
{
    __local float4 red[ROW_WG];
    kl_row_gpu(student, teacher, grad_student, grad_student, rows, classes, temperature, scale,
               1, red);
}

/* Elementwise: no barrier, so work-items past n may return. */
__kernel __attribute__((reqd_work_group_size(ROW_WG, 1, 1)))
void binary_cross_entropy_forward_gpu(__global const float* logits, __global const float* targets,
                                      __global float* loss, const int n)
{
    const size_t i = get_global_id(0);
    if (i >= (size_t)n) return;
    const float x = logits[i], t = targets[i];
    loss[i] = fmax(x, 0.0f) - x * t + log1p(exp(-fabs(x)));
}

__kernel __attribute__((reqd_work_group_size(ROW_WG, 1, 1)))
void binary_cross_entropy_backward_gpu(__global const float* logits, __global const float* targets,
                                       __global float* grad, const int n, const float scale)
{
    const size_t i = get_global_id(0);
    if (i >= (size_t)n) return;
    const float x = logits[i], t = targets[i];
    const float e = exp(-fabs(x));              /* <= 1: sigmoid without overflow either side */
    const float r = 1.0f / (1.0f + e);
    grad[i] = scale * (((x >= 0.0f) ? r : e * r) - t);
}
