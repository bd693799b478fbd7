/*
 * elementwise.cl -- elementwise arithmetic, bias add, column sums (bias gradient) and
 * counter-based dropout over row-major float32 tensors, for AlignCL.
 *
 *   ew_add         y = a + b            (y may alias a or b)
 *   ew_mul         y = a * b            (y may alias a or b)
 *   ew_scale       y = alpha * x        (y may alias x)
 *   ew_accumulate  dst += src
 *   ew_fill        y = value
 *   bias_add       y[r,c] = x[r,c] + bias[c]          (y may alias x)
 *   column_sum_partial / column_sum_finish: out[c] = sum_r x[r,c] in two deterministic steps;
 *     partial is [ceil(rows, SUM_CHUNK), cols], work-item k sums rows
 *     [k*SUM_CHUNK, min((k+1)*SUM_CHUNK, rows)) in row order; the finish adds the chunks in
 *     order k = 0, 1, ... The result does not depend on the device or the schedule.
 *   dropout        y = keep ? x / (1 - p) : 0  (see below; y may alias x)
 *
 * Dropout mask -- a pure function of (seed, step, element index), reproduced bit for bit by
 * the CPU path (Sources/Compute/Philox.swift):
 *   index   = ((ulong)offset_hi << 32 | offset_lo) + i        (i = 0-based element of this call)
 *   counter = (uint)index, (uint)(index >> 32), step, 0;   key = (seed_lo, seed_hi)
 *   Philox4x32-10 (Random123 philox4x32_10): 10 rounds of
 *     hi0:lo0 = 0xD2511F53 * c0 (32x32 -> 64 bits),  hi1:lo1 = 0xCD9E8D57 * c2
 *     c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
 *   with the key bumped k0 += 0x9E3779B9, k1 += 0xBB67AE85 (mod 2^32) after each of the
 *   first 9 rounds (i.e. before rounds 2..10).
 *   u    = (float)(out0 >> 8) * 0x1.0p-24f       (exact: 24-bit integer, in [0, 1))
 *   keep = u >= p;   y = keep ? x / (1.0f - p) : 0.0f   (1.0f - p rounded in float, then one
 *   IEEE float division per element). p = 0 keeps everything and y == x exactly; the host
 *   guarantees p < 1. The backward is the same kernel on dy with the same arguments.
 *   Known answers (checked by the test harness): counter 0000, key 00 ->
 *   6627e8d5 e169c58d bc57ac4c 9b00dbd8. Example: seed 42, step 7, offset 0 gives
 *   u = 0x67ee6f, 0xe5dde9, 0x24ecfc, 0x945bca (* 2^-24) for i = 0..3.
 *   The kernel runs 16 counters at once in uint16 lanes (scalar Philox for the tail); both
 *   compute exactly the function above. Bit-exact agreement with the CPU needs the IEEE
 *   division PoCL gives (no -cl-fast-relaxed-math / -cl-unsafe-math-optimizations; a GPU
 *   may also need -cl-fp32-correctly-rounded-divide-sqrt).
 *
 * CPU-style (PoCL): a work-item owns a contiguous chunk, float16 loads (vload16, no alignment
 * needed) with a scalar tail; no __local, no barriers. -D build options:
 *   EW_ITEMS   elements per work-item of the elementwise kernels (default 1024)
 *   BIAS_ROWS  rows per work-item of bias_add (default 8)
 *   SUM_CHUNK  rows per work-item of column_sum_partial (default 64)
 * Launches (ceil(a,b) = (a+b-1)/b), all with local (1):
 *   ew_add, ew_mul, ew_scale, ew_accumulate, ew_fill,
 *   dropout                                            global (ceil(n, EW_ITEMS))
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

__kernel void ew_add(__global const float* a, __global const float* b, __global float* y, const int n)
{
    EW_RANGE(n)
    size_t i = i0;
    for (; i < iv; i += 16) vstore16(vload16(0, a + i) + vload16(0, b + i), 0, y + i);
    for (; i < i1; ++i) y[i] = a[i] + b[i];
}

__kernel void ew_mul(__global const float* a, __global const float* b, __global float* y, const int n)
{
    EW_RANGE(n)
    size_t i = i0;
    for (; i < iv; i += 16) vstore16(vload16(0, a + i) * vload16(0, b + i), 0, y + i);
    for (; i < i1; ++i) y[i] = a[i] * b[i];
}

__kernel void ew_scale(__global const float* x, __global float* y, const int n, const float alpha)
{
    EW_RANGE(n)
    size_t i = i0;
    for (; i < iv; i += 16) vstore16(alpha * vload16(0, x + i), 0, y + i);
    for (; i < i1; ++i) y[i] = alpha * x[i];
}

__kernel void ew_accumulate(__global float* dst, __global const float* src, const int n)
{
    EW_RANGE(n)
    size_t i = i0;
    for (; i < iv; i += 16) vstore16(vload16(0, dst + i) + vload16(0, src + i), 0, dst + i);
    for (; i < i1; ++i) dst[i] += src[i];
}

__kernel void ew_fill(__global float* y, const int n, const float value)
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

/* Random123 philox4x32_10: counter (c0..c3), key (k0, k1) -> the 4 output words. */
static inline uint4 philox4x32_10(uint4 c, uint2 k)
{
    for (int round = 0; round < 10; ++round) {
        if (round > 0) { k.x += 0x9E3779B9u; k.y += 0xBB67AE85u; }
        const uint hi0 = mul_hi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        const uint hi1 = mul_hi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

/* The same function on 16 independent counters (lane l: c0[l], c1[l], c2[l], c3[l]), word 0
 * only: the dropout loop's 16-element body, ~10x faster than 16 scalar calls on PoCL. */
static inline uint16 philox4x32_10_x16_word0(uint16 c0, uint16 c1, uint16 c2, uint16 c3, uint k0, uint k1)
{
    for (int round = 0; round < 10; ++round) {
        if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        const uint16 hi0 = mul_hi((uint16)(0xD2511F53u), c0), lo0 = (uint16)(0xD2511F53u) * c0;
        const uint16 hi1 = mul_hi((uint16)(0xCD9E8D57u), c2), lo1 = (uint16)(0xCD9E8D57u) * c2;
        c0 = hi1 ^ c1 ^ k0; c1 = lo1; c2 = hi0 ^ c3 ^ k1; c3 = lo0;
    }
    return c0;
}

__kernel void dropout(__global const float* x, __global float* y, const int n, const float p,
                      const uint seed_lo, const uint seed_hi, const uint step,
                      const uint offset_lo, const uint offset_hi)
{
    EW_RANGE(n)
    const ulong offset = ((ulong)offset_hi << 32) | (ulong)offset_lo;
    const float keep_div = 1.0f - p;
    const uint16 lane = (uint16)(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 10u, 11u, 12u, 13u, 14u, 15u);
    size_t i = i0;
    for (; i < iv; i += 16) {
        const ulong base = offset + (ulong)i;
        const uint16 lo = (uint16)((uint)base) + lane;
        /* 64-bit carry into the high word for lanes whose low word wrapped */
        const uint16 hi = (uint16)((uint)(base >> 32)) - as_uint16(lo < (uint16)((uint)base));
        const uint16 w = philox4x32_10_x16_word0(lo, hi, (uint16)(step), (uint16)(0u), seed_lo, seed_hi);
        const float16 u = convert_float16(w >> 8) * 0x1.0p-24f;
        const float16 xv = vload16(0, x + i);
        vstore16(select((float16)(0.0f), xv / keep_div, u >= p), 0, y + i);
    }
    for (; i < i1; ++i) {
        const ulong index = offset + (ulong)i;
        const uint w = philox4x32_10((uint4)((uint)index, (uint)(index >> 32), step, 0u),
                                     (uint2)(seed_lo, seed_hi)).x;
        const float u = (float)(w >> 8) * 0x1.0p-24f;
        y[i] = (u >= p) ? x[i] / keep_div : 0.0f;
    }
}
