/*
 * elementwise.cl -- elementwise arithmetic, bias add, column sums (bias gradient)
 * over row-major float32 tensors, for AlignCL.
 *
 *   elementwise_add         y = a + b            (y may alias a or b)
 *   elementwise_multiply    y = a * b            (y may alias a or b)
 *   elementwise_scale       y = alpha * x        (y may alias x)
 *   elementwise_accumulate  dst += src
 *   elementwise_fill        y = value
 *   elementwise_scale_by    y = alpha[0] * x     (alpha on the device; y may alias x)
 *   elementwise_map         y = f(x): exp, clamp, clipping factor, reciprocal (y may alias x)
 *   bias_add                y[r,c] = x[r,c] + bias[c]   (y may alias x)
 *   column_sum_partial / column_sum_finish: out[c] = sum_r x[r,c] in two deterministic steps;
 *     partial is [ceil(rows, SUM_CHUNK), cols], work-item k sums rows
 *     [k*SUM_CHUNK, min((k+1)*SUM_CHUNK, rows)) in row order; the finish adds the chunks in
 *     order k = 0, 1, ... The result does not depend on the device or the schedule.
 *
 * CPU-style (PoCL): a work-item owns a contiguous chunk, float16 loads (vload16, no alignment
 * needed) with a scalar tail; no __local, no barriers. -D build options:
 *   EW_ITEMS   elements per work-item of the elementwise kernels (default 1024)
 *   BIAS_ROWS  rows per work-item of bias_add (default 8)
 *   SUM_CHUNK  rows per work-item of column_sum_partial (default 64)
 * Launches (ceil(a,b) = (a+b-1)/b), all with local (1):
 *   elementwise_add, _multiply, _scale, _scale_by, _map,
 *   _accumulate, _fill                                 global (ceil(n, EW_ITEMS))
 *   bias_add                                           global (ceil(rows, BIAS_ROWS))
 *   column_sum_partial                                 global (ceil(rows, SUM_CHUNK))
 *   column_sum_finish                                  global (ceil(cols, 16))
 * Work-items past the end return. OpenCL C 1.2; offsets in size_t.
 */

#ifndef EW_ITEMS
#define EW_ITEMS 1024
#endif
#ifndef BIAS_ROWS
#define BIAS_ROWS 8
#endif
#ifndef SUM_CHUNK
#define SUM_CHUNK 64
#endif

/* [i0, i1): this work-item's chunk (returns when empty); [i0, iv) is the float16 part. */
#define EW_RANGE(n)                                             \
    const size_t i0 = (size_t)get_global_id(0) * EW_ITEMS;      \
    if (i0 >= (size_t)(n)) return;                              \
    const size_t i1 = min(i0 + (size_t)EW_ITEMS, (size_t)(n));  \
    const size_t iv = i0 + ((i1 - i0) & ~(size_t)15);

__kernel void elementwise_add(__global const float* a, __global const float* b, __global float* y, const int n)
{
    EW_RANGE(n)
    size_t i = i0;
    for (; i < iv; i += 16) vstore16(vload16(0, a + i) + vload16(0, b + i), 0, y + i);
    for (; i < i1; ++i) y[i] = a[i] + b[i];
}

__kernel void elementwise_multiply(__global const float* a, __global const float* b, __global float* y, const int n)
{
    EW_RANGE(n)
    size_t i = i0;
    for (; i < iv; i += 16) vstore16(vload16(0, a + i) * vload16(0, b + i), 0, y + i);
    for (; i < i1; ++i) y[i] = a[i] * b[i];
}

__kernel void elementwise_scale(__global const float* x, __global float* y, const int n, const float alpha)
{
    EW_RANGE(n)
    size_t i = i0;
    for (; i < iv; i += 16) vstore16(alpha * vload16(0, x + i), 0, y + i);
    for (; i < i1; ++i) y[i] = alpha * x[i];
}

/* y = alpha[0] * x: a scale that lives on the device (a loss's upstream gradient, a clipping
 * factor), so the host never waits to read it. */
__kernel void elementwise_scale_by(__global const float* x, __global const float* alpha, __global float* y, const int n)
{
    EW_RANGE(n)
    const float a = alpha[0];
    size_t i = i0;
    for (; i < iv; i += 16) vstore16(a * vload16(0, x + i), 0, y + i);
    for (; i < i1; ++i) y[i] = a * x[i];
}

/* y = f(x) for the scalar functions of ScalarFunction (Sources/Compute/Backend.swift):
 * 0 exp; 1 clamp to [p0, p1]; 2 the clipping factor min(1, p0 / sqrt(x)) of a squared norm x
 * (1 when x is 0; NaN stays NaN, so a non-finite gradient is not hidden); 3 1 / x. */
__kernel void elementwise_map(__global const float* x, __global float* y, const int n, const int function,
                              const float p0, const float p1)
{
    EW_RANGE(n)
    for (size_t i = i0; i < i1; ++i) {
        const float v = x[i];
        y[i] = function == 0 ? exp(v)
             : function == 1 ? fmin(fmax(v, p0), p1)
             : function == 2 ? (v > p0 * p0 ? p0 / sqrt(v) : (v == v ? 1.0f : v))
             : 1.0f / v;
    }
}

__kernel void elementwise_accumulate(__global float* dst, __global const float* src, const int n)
{
    EW_RANGE(n)
    size_t i = i0;
    for (; i < iv; i += 16) vstore16(vload16(0, dst + i) + vload16(0, src + i), 0, dst + i);
    for (; i < i1; ++i) dst[i] += src[i];
}

__kernel void elementwise_fill(__global float* y, const int n, const float value)
{
    EW_RANGE(n)
    size_t i = i0;
    for (; i < iv; i += 16) vstore16((float16)(value), 0, y + i);
    for (; i < i1; ++i) y[i] = value;
}

__kernel void bias_add(__global const float* x, __global const float* bias, __global float* y,
                       const int rows, const int cols)
{
    const int r0 = get_global_id(0) * BIAS_ROWS;
    if (r0 >= rows) return;
    const int r1 = min(r0 + BIAS_ROWS, rows);
    const int vec = cols / 16;
    for (int r = r0; r < r1; ++r) {
        __global const float* xr = x + (size_t)r * cols;
        __global float* yr = y + (size_t)r * cols;
        for (int v = 0; v < vec; ++v) vstore16(vload16(v, xr) + vload16(v, bias), v, yr);
        for (int j = vec * 16; j < cols; ++j) yr[j] = xr[j] + bias[j];
    }
}

__kernel void column_sum_partial(__global const float* x, __global float* partial,
                                 const int rows, const int cols)
{
    const int k = get_global_id(0);
    const int r0 = k * SUM_CHUNK;
    if (r0 >= rows) return;
    const int r1 = min(r0 + SUM_CHUNK, rows);
    const int vec = cols / 16;
    __global float* pk = partial + (size_t)k * cols;
    /* 16 columns at a time, rows in order inside: the sum stays in a register. */
    for (int v = 0; v < vec; ++v) {
        float16 s = (float16)(0.0f);
        for (int r = r0; r < r1; ++r) s += vload16(v, x + (size_t)r * cols);
        vstore16(s, v, pk);
    }
    for (int j = vec * 16; j < cols; ++j) {
        float s = 0.0f;
        for (int r = r0; r < r1; ++r) s += x[(size_t)r * cols + j];
        pk[j] = s;
    }
}

__kernel void column_sum_finish(__global const float* partial, __global float* out,
                                const int chunks, const int cols)
{
    const int c0 = get_global_id(0) * 16;
    if (c0 >= cols) return;
    if (c0 + 16 <= cols) {
        float16 s = (float16)(0.0f);
        for (int k = 0; k < chunks; ++k) s += vload16(0, partial + (size_t)k * cols + c0);
        vstore16(s, 0, out + c0);
    } else {
        const int nc = cols - c0;
        for (int l = 0; l < nc; ++l) {
            float s = 0.0f;
            for (int k = 0; k < chunks; ++k) s += partial[(size_t)k * cols + c0 + l];
            out[c0 + l] = s;
        }
    }
}
