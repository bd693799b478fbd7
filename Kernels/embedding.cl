/*
 * embedding.cl -- token embedding lookup, forward and backward, for AlignCL.
 *
 * table [vocab, dim], ids [count] (int32, validated by the host: 0 <= id < vocab), out / grad_out
 * [count, dim]; the float arrays are float32 row-major.
 *   embedding_forward   out[n, :] = table[ids[n], :]
 *   embedding_backward  grad_table[v, :] = sum over n with ids[n] == v of grad_out[n, :]
 *                       (overwrites: rows no id touches become 0)
 * The backward uses no atomics: a work-item owns a 16-column slice of the whole table, zeroes
 * it, then walks n = 0 .. count-1 in order and adds grad_out[n, slice] into row ids[n]. The
 * summation order is therefore fixed (by n), so the result is deterministic and the same
 * for any schedule; repeated ids are handled by the in-order walk.
 *
 * CPU-style (PoCL): float16 loads/stores (vload16, no alignment needed) with a scalar tail,
 * no __local, no barriers. -D build option:
 *   EMB_ROWS  rows (ids) per work-item of embedding_forward (default 8)
 * Launches (ceil(a,b) = (a+b-1)/b), local (1):
 *   embedding_forward   global (ceil(count, EMB_ROWS))
 *   embedding_backward  global (ceil(dim, 16))
 * Work-items past the end return. OpenCL C 1.2; offsets in size_t.
 */

#ifndef EMB_ROWS
#define EMB_ROWS 8
#endif

__kernel void embedding_forward(__global const float* table, __global const int* ids,
                                __global float* out, const int count, const int dim)
{
    const int n0 = get_global_id(0) * EMB_ROWS;
    if (n0 >= count) return;
    const int n1 = min(n0 + EMB_ROWS, count);
    const int vec = dim / 16;
    for (int n = n0; n < n1; ++n) {
        __global const float* src = table + (size_t)ids[n] * dim;
        __global float* dst = out + (size_t)n * dim;
        for (int v = 0; v < vec; ++v) vstore16(vload16(v, src), v, dst);
        for (int j = vec * 16; j < dim; ++j) dst[j] = src[j];
    }
}

__kernel void embedding_backward(__global const float* grad_out, __global const int* ids,
                                 __global float* grad_table, const int count, const int dim,
                                 const int vocab)
{
    const int c0 = get_global_id(0) * 16;
    if (c0 >= dim) return;
    if (c0 + 16 <= dim) {
        for (int v = 0; v < vocab; ++v) vstore16((float16)(0.0f), 0, grad_table + (size_t)v * dim + c0);
        for (int n = 0; n < count; ++n) {
            __global float* g = grad_table + (size_t)ids[n] * dim + c0;
            vstore16(vload16(0, g) + vload16(0, grad_out + (size_t)n * dim + c0), 0, g);
        }
    } else {
        const int nc = dim - c0;
        for (int v = 0; v < vocab; ++v)
            for (int l = 0; l < nc; ++l) grad_table[(size_t)v * dim + c0 + l] = 0.0f;
        for (int n = 0; n < count; ++n) {
            __global float* g = grad_table + (size_t)ids[n] * dim + c0;
            __global const float* s = grad_out + (size_t)n * dim + c0;
            for (int l = 0; l < nc; ++l) g[l] += s[l];
        }
    }
}
