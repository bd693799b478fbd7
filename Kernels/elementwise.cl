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

/* ==================================================================================== *
 * GPU-class kernels                                                                      *
 * ==================================================================================== *
 * Coalesced shapes for GPUs: consecutive work-items (local id 0) touch consecutive floats.
 * Same argument lists as the CPU-class kernels above. ceil(a,b) = (a+b-1)/b,
 * up(a,b) = ceil(a,b)*b. Skip the launch when the element count (or rows*cols) is 0.
 *
 * -D build options (each checked below):
 *   EW_WG      work-group of the 1-D kernels, 1..1024, pow2 not required (default 256;
 *              defined and checked in common.cl)
 *   BIAS_WX, BIAS_WY  2-D work-group of bias_add_gpu (default 32 x 8); BIAS_ROWS (above)
 *              is the rows each of its work-items adds
 *   SUM_WX, SUM_WY    2-D work-group of the column sums (default 32 x 8); SUM_CHUNK (above)
 *              is the rows per partial sum, as in the CPU-class kernels
 *   Every work-group (product of its sides) must be <= the device's max work-group size.
 *
 * elementwise_add_gpu(a, b, y, n), elementwise_multiply_gpu(a, b, y, n),
 * elementwise_scale_gpu(x, y, n, alpha), elementwise_scale_by_gpu(x, alpha, y, n),
 * elementwise_map_gpu(x, y, n, function, p0, p1), elementwise_accumulate_gpu(dst, src, n),
 * elementwise_fill_gpu(y, n, value):
 *   work-item g owns floats [4g, min(4g+4, n)) (vload4/vstore4, scalar tail in the last one).
 *   global (up(ceil(n, 4), EW_WG)), local (EW_WG); __local 0 B; no scratch.
 *   Same expressions as the CPU-class kernels, so on one device the bits are the same
 *   (tested on PoCL and Oclgrind). add/multiply/scale/scale_by/accumulate/fill are single
 *   correctly rounded operations: the same bits on every IEEE device (denormals aside: a
 *   device may flush them, CL_FP_DENORM is optional). map: exp() may differ by a few ulp
 *   between devices (OpenCL allows 3 ulp); functions 2 and 3 use `/` (and 2 sqrt), which
 *   OpenCL 1.2 lets a GPU round to 2.5 ulp (sqrt 3 ulp) unless the program is built with
 *   -cl-fp32-correctly-rounded-divide-sqrt (a device may not support it: check
 *   CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT in CL_DEVICE_SINGLE_FP_CONFIG). The Swift test
 *   compares map with a 2e-6 relative tolerance, far above those ulps.
 *   Bytes per element: add, multiply, accumulate 12; scale, scale_by, map 8; fill 4.
 *   H100: pure streams, one 16 B access per stream per work-item, ~85-90 % of the
 *   ~3 TB/s for n >~ 4M; below ~1M floats the ~3-5 us launch dominates.
 *
 * bias_add_gpu(x, bias, y, rows, cols): work-item (c, g) adds bias[c] (one load, kept in a
 *   register) to rows [g*BIAS_ROWS, min((g+1)*BIAS_ROWS, rows)) of column c; y may alias x.
 *   global (up(cols, BIAS_WX), up(ceil(rows, BIAS_ROWS), BIAS_WY)), local (BIAS_WX, BIAS_WY);
 *   __local 0 B. Bit-identical everywhere (one add). 8 B per element (+ bias from cache);
 *   ~85-90 % of H100 bandwidth when cols >= ~BIAS_WX (fewer columns idle lanes: cols/BIAS_WX).
 *
 * column_sum_partial_gpu(x, partial, rows, cols): work-item (c, k) sums rows
 *   [k*SUM_CHUNK, min((k+1)*SUM_CHUNK, rows)) of column c in row order into partial[k, c]:
 *   the same arithmetic as column_sum_partial, so the partials are the same bits.
 *   scratch partial [chunks, cols] floats, chunks = ceil(rows, SUM_CHUNK) (as today).
 *   global (up(cols, SUM_WX), up(chunks, SUM_WY)), local (SUM_WX, SUM_WY); __local 0 B.
 *   4 B read per element, 4/SUM_CHUNK B written. Reaches ~80 % of H100 bandwidth when
 *   cols*chunks >= ~100k work-items (e.g. 768 x 8192 rows with SUM_CHUNK 64); fewer are
 *   latency-bound (a chain of SUM_CHUNK dependent adds per work-item).
 * column_sum_finish_gpu(partial, out, chunks, cols): work-group (SUM_WX, SUM_WY) owns SUM_WX
 *   columns; lane (lx, ly) adds chunks ly, ly+SUM_WY, ... in ascending order, then lane
 *   ly = 0 adds the SUM_WY lane sums in order ly = 0, 1, ...: a fixed order, so the same bits
 *   every run (and the CPU-class bits when SUM_WY = 1).
 *   global (up(cols, SUM_WX), SUM_WY), local (SUM_WX, SUM_WY);
 *   __local 4*SUM_WX*SUM_WY B (1 KiB at the defaults). Reads chunks*cols*4 B: small next to
 *   the partial pass (1/SUM_CHUNK of it); a few us.
 */

#ifndef BIAS_WX
#define BIAS_WX 32
#endif
#ifndef BIAS_WY
#define BIAS_WY 8
#endif
#ifndef SUM_WX
#define SUM_WX 32
#endif
#ifndef SUM_WY
#define SUM_WY 8
#endif
#if BIAS_WX < 1 || BIAS_WY < 1 || BIAS_WX * BIAS_WY > 1024 || BIAS_ROWS < 1
#error "BIAS_WX, BIAS_WY, BIAS_ROWS must be >= 1 with BIAS_WX * BIAS_WY <= 1024"
#endif
#if SUM_WX < 1 || SUM_WY < 1 || SUM_WX * SUM_WY > 1024 || SUM_CHUNK < 1
#error "SUM_WX, SUM_WY, SUM_CHUNK must be >= 1 with SUM_WX * SUM_WY <= 1024"
#endif

/* ew_load4 / ew_store4, EW4_RANGE and EW_GPU: common.cl. */

EW_GPU void elementwise_add_gpu(__global const float* a, __global const float* b, __global float* y, const int n)
{
    EW4_RANGE(n)
    ew_store4(ew_load4(a + i, rem) + ew_load4(b + i, rem), y + i, rem);
}

EW_GPU void elementwise_multiply_gpu(__global const float* a, __global const float* b, __global float* y, const int n)
{
    EW4_RANGE(n)
    ew_store4(ew_load4(a + i, rem) * ew_load4(b + i, rem), y + i, rem);
}

EW_GPU void elementwise_scale_gpu(__global const float* x, __global float* y, const int n, const float alpha)
{
    EW4_RANGE(n)
    ew_store4(alpha * ew_load4(x + i, rem), y + i, rem);
}

EW_GPU void elementwise_scale_by_gpu(__global const float* x, __global const float* alpha, __global float* y, const int n)
{
    EW4_RANGE(n)
    const float s = alpha[0];
    ew_store4(s * ew_load4(x + i, rem), y + i, rem);
}

/* The expression of elementwise_map, lane by lane (the `/` of functions 2 and 3: see the
 * header). */
static inline float ew_map1(const float v, const int function, const float p0, const float p1)
{
    return function == 0 ? exp(v)
         : function == 1 ? fmin(fmax(v, p0), p1)
         : function == 2 ? (v > p0 * p0 ? p0 / sqrt(v) : (v == v ? 1.0f : v))
         : 1.0f / v;
}

EW_GPU void elementwise_map_gpu(__global const float* x, __global float* y, const int n, const int function,
                                const float p0, const float p1)
{
    EW4_RANGE(n)
    const float4 v = ew_load4(x + i, rem);
    ew_store4((float4)(ew_map1(v.x, function, p0, p1), ew_map1(v.y, function, p0, p1),
                       ew_map1(v.z, function, p0, p1), ew_map1(v.w, function, p0, p1)), y + i, rem);
}

EW_GPU void elementwise_accumulate_gpu(__global float* dst, __global const float* src, const int n)
{
    EW4_RANGE(n)
    ew_store4(ew_load4(dst + i, rem) + ew_load4(src + i, rem), dst + i, rem);
}

EW_GPU void elementwise_fill_gpu(__global float* y, const int n, const float value)
{
    EW4_RANGE(n)
    ew_store4((float4)(value), y + i, rem);
}

__kernel __attribute__((reqd_work_group_size(BIAS_WX, BIAS_WY, 1)))
void bias_add_gpu(__global const float* x, __global const float* bias, __global float* y,
                  const int rows, const int cols)
{
    const int c = get_global_id(0);
    const int r0 = get_global_id(1) * BIAS_ROWS;
    if (c >= cols || r0 >= rows) return;
    const int r1 = min(r0 + BIAS_ROWS, rows);
    const float b = bias[c];
    for (int r = r0; r < r1; ++r) {
        const size_t o = (size_t)r * cols + c;
        y[o] = x[o] + b;
    }
}

__kernel __attribute__((reqd_work_group_size(SUM_WX, SUM_WY, 1)))
void column_sum_partial_gpu(__global const float* x, __global float* partial, const int rows, const int cols)
{
    const int c = get_global_id(0);
    const int k = get_global_id(1);
    const int r0 = k * SUM_CHUNK;
    if (c >= cols || r0 >= rows) return;
    const int r1 = min(r0 + SUM_CHUNK, rows);
    float s = 0.0f;
    for (int r = r0; r < r1; ++r) s += x[(size_t)r * cols + c];
    partial[(size_t)k * cols + c] = s;
}

__kernel __attribute__((reqd_work_group_size(SUM_WX, SUM_WY, 1)))
void column_sum_finish_gpu(__global const float* partial, __global float* out, const int chunks, const int cols)
{
    __local float lane_sum[SUM_WY][SUM_WX];
    const int lx = get_local_id(0), ly = get_local_id(1);
    const int c = get_group_id(0) * SUM_WX + lx;
    const int cc = min(c, cols - 1);   /* past the end: a clamped column, result not stored */
    float s = 0.0f;
    for (int k = ly; k < chunks; k += SUM_WY) s += partial[(size_t)k * cols + cc];
    lane_sum[ly][lx] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (ly == 0 && c < cols) {
        float t = lane_sum[0][lx];
        for (int j = 1; j < SUM_WY; ++j) t += lane_sum[j][lx];
        out[c] = t;
    }
}
