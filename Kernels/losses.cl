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
