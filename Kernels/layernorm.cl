/*
 * layernorm.cl -- layer normalisation over the last axis of a row-major float32
 * [rows, cols] matrix, forward and backward, for AlignCL.
 *
 * Forward, per row: mean = (1/C) sum_j x_j; var = (1/C) sum_j (x_j - mean)^2 (two passes
 * over the row, so no catastrophic cancellation of E[x^2] - mean^2); rstd = 1/sqrt(var + eps);
 * y_j = (x_j - mean) * rstd * weight_j + bias_j. mean and rstd [rows] are saved for the
 * backward.
 * Backward, with xhat = (x - mean) * rstd and g_j = dy_j * weight_j:
 *   dx_j = rstd * (g_j - mean_j(g) - xhat_j * mean_j(g * xhat))
 *   dweight_j = sum_rows dy_j * xhat_j,  dbias_j = sum_rows dy_j
 * The column sums cross rows: layernorm_backward writes per-chunk partial sums
 * [chunks, cols] (a work-item owns LN_CHUNK rows), layernorm_backward_reduce adds the chunks.
 * Sums accumulate in float32 over 16 lanes.
 *
 * CPU-style (PoCL): one work-item per row (forward) or per LN_CHUNK rows (backward), float16
 * loops with a scalar tail, no __local, no barriers. Launches (ceil(a,b) = (a+b-1)/b):
 *   layernorm_forward          global (ceil(rows, 8) * 8), local (8)
 *   layernorm_backward         global (ceil(rows, LN_CHUNK)), local (1)
 *   layernorm_backward_reduce  global (ceil(cols, 16)), local (1)
 * OpenCL C 1.2; offsets in size_t.
 */

#ifndef LN_CHUNK
#define LN_CHUNK 16
#endif

__kernel void layernorm_forward(__global const float* x, __global const float* weight,
                                __global const float* bias, __global float* y,
                                __global float* mean_out, __global float* rstd_out,
                                const int rows, const int cols, const float epsilon)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    __global const float* xr = x + (size_t)row * cols;
    __global float* yr = y + (size_t)row * cols;
    const int vec = cols / 16;
    float16 s16 = (float16)(0.0f);
    for (int v = 0; v < vec; ++v) s16 += vload16(v, xr);
    float s = hsum16(s16);
    for (int j = vec * 16; j < cols; ++j) s += xr[j];
    const float mean = s / cols;
    float16 q16 = (float16)(0.0f);
    for (int v = 0; v < vec; ++v) { const float16 d = vload16(v, xr) - mean; q16 = fma(d, d, q16); }
    float q = hsum16(q16);
    for (int j = vec * 16; j < cols; ++j) { const float d = xr[j] - mean; q = fma(d, d, q); }
    const float rstd = rsqrt(q / cols + epsilon);
    for (int v = 0; v < vec; ++v)
        vstore16(fma((vload16(v, xr) - mean) * rstd, vload16(v, weight), vload16(v, bias)), v, yr);
    for (int j = vec * 16; j < cols; ++j) yr[j] = fma((xr[j] - mean) * rstd, weight[j], bias[j]);
    mean_out[row] = mean;
    rstd_out[row] = rstd;
}

__kernel void layernorm_backward(__global const float* x, __global const float* weight,
                                 __global const float* mean_in, __global const float* rstd_in,
                                 __global const float* dy, __global float* dx,
                                 __global float* dweight_partial, __global float* dbias_partial,
                                 const int rows, const int cols)
{
    const int chunk = get_global_id(0);
    const int r0 = chunk * LN_CHUNK;
    if (r0 >= rows) return;
    const int r1 = min(r0 + LN_CHUNK, rows);
    const int vec = cols / 16;
    __global float* dwp = dweight_partial + (size_t)chunk * cols;
    __global float* dbp = dbias_partial + (size_t)chunk * cols;
    for (int v = 0; v < vec; ++v) { vstore16((float16)(0.0f), v, dwp); vstore16((float16)(0.0f), v, dbp); }
    for (int j = vec * 16; j < cols; ++j) { dwp[j] = 0.0f; dbp[j] = 0.0f; }
    for (int row = r0; row < r1; ++row) {
        __global const float* xr = x + (size_t)row * cols;
        __global const float* gr = dy + (size_t)row * cols;
        __global float* dxr = dx + (size_t)row * cols;
        const float mean = mean_in[row], rstd = rstd_in[row];
        float16 a16 = (float16)(0.0f), b16 = (float16)(0.0f);
        for (int v = 0; v < vec; ++v) {
            const float16 xh = (vload16(v, xr) - mean) * rstd;
            const float16 dyv = vload16(v, gr);
            const float16 g = dyv * vload16(v, weight);
            a16 += g;
            b16 = fma(g, xh, b16);
            vstore16(fma(dyv, xh, vload16(v, dwp)), v, dwp);
            vstore16(vload16(v, dbp) + dyv, v, dbp);
        }
        float a = hsum16(a16), b = hsum16(b16);
        for (int j = vec * 16; j < cols; ++j) {
            const float xh = (xr[j] - mean) * rstd;
            const float g = gr[j] * weight[j];
            a += g;
            b = fma(g, xh, b);
            dwp[j] = fma(gr[j], xh, dwp[j]);
            dbp[j] += gr[j];
        }
        const float mg = a / cols, mgx = b / cols;
        for (int v = 0; v < vec; ++v) {
            const float16 xh = (vload16(v, xr) - mean) * rstd;
            const float16 g = vload16(v, gr) * vload16(v, weight);
            vstore16(rstd * (g - mg - xh * mgx), v, dxr);
        }
        for (int j = vec * 16; j < cols; ++j) {
            const float xh = (xr[j] - mean) * rstd;
            dxr[j] = rstd * (gr[j] * weight[j] - mg - xh * mgx);
        }
    }
}

__kernel void layernorm_backward_reduce(__global const float* dweight_partial,
                                        __global const float* dbias_partial,
                                        __global float* dweight, __global float* dbias,
                                        const int chunks, const int cols)
{
    const int c0 = get_global_id(0) * 16;
    if (c0 >= cols) return;
    const int n = min(16, cols - c0);
    float w[16], b[16];
    for (int l = 0; l < 16; ++l) { w[l] = 0.0f; b[l] = 0.0f; }
    for (int k = 0; k < chunks; ++k) {
        for (int l = 0; l < n; ++l) {
            w[l] += dweight_partial[(size_t)k * cols + c0 + l];
            b[l] += dbias_partial[(size_t)k * cols + c0 + l];
        }
    }
    for (int l = 0; l < n; ++l) { dweight[c0 + l] = w[l]; dbias[c0 + l] = b[l]; }
}
