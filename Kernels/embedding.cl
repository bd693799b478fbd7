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

/* ==================================================================================== *
 * GPU-class kernels                                                                      *
 * ==================================================================================== *
 * -D build options: EMB_WX, EMB_WY, the 2-D work-group of both kernels (default 64 x 4;
 * each >= 1, EMB_WX * EMB_WY <= the device's max work-group size). up(a,b) = ceil(a,b)*b.
 *
 * embedding_forward_gpu(table, ids, out, count, dim) (the arguments of embedding_forward):
 *   work-item (j, n) copies out[n, j] = table[ids[n], j]: a row's floats are read and
 *   written by consecutive work-items. global (up(dim, EMB_WX), up(count, EMB_WY)),
 *   local (EMB_WX, EMB_WY); __local 0 B. Skip count*dim = 0. Bit-exact (a copy).
 *   8 B per output float (+ the id, broadcast from cache). H100: ~85-90 % of 3 TB/s when
 *   dim >= ~EMB_WX (table rows gathered at random, each row contiguous).
 *
 * embedding_backward_gpu(grad_out, order, offsets, grad_table, dim, vocab):
 *   grad_out   [count, dim] float   the upstream gradient
 *   order      [count] int          the positions 0..count-1 sorted by ids[position],
 *                                   ascending positions within one id (a stable sort)
 *   offsets    [vocab + 1] int      offsets[v] = number of ids < v (so offsets[0] = 0,
 *                                   offsets[vocab] = count); id v's positions are
 *                                   order[offsets[v] .. offsets[v+1]-1]
 *   grad_table [vocab, dim] float   out, overwritten: every row is written, untouched rows 0
 *   The host builds order and offsets from the ids it already holds (a counting sort,
 *   O(count + vocab)), uploads (count + vocab + 1) ints per backward:
 *       offsets[0..vocab] = 0; for id in ids: offsets[id + 1] += 1; prefix-sum offsets;
 *       next = offsets[0..vocab-1]; for n in 0..count-1: order[next[ids[n]]++] = n
 *   Work-item (j, v) sums grad_out[order[p], j] for p = offsets[v] .. offsets[v+1]-1 from
 *   0.0f: the positions in ascending order, the order of embedding_backward and of the CPU
 *   path, so the same bits as both (tested), every run; no atomics.
 *   global (up(dim, EMB_WX), up(vocab, EMB_WY)), local (EMB_WX, EMB_WY); __local 0 B.
 *   Skip vocab*dim = 0 (count = 0 needs offsets of zeros, giving a zero table).
 *   Cost: 4 B written per table float (a fill's cost; untouched rows cost nothing more) +
 *   4 B read per gathered float + (8 B + 4 B per id) / dim for offsets and order (broadcast).
 *   H100: ~80 % of bandwidth over the table + grad_out when ids are spread; a single very
 *   frequent id (a padding token) makes its row's work-items sum that many rows one after
 *   another (latency ~count_of_that_id * ~0.05 us).
 */

#ifndef EMB_WX
#define EMB_WX 64
#endif
#ifndef EMB_WY
#define EMB_WY 4
#endif
#if EMB_WX < 1 || EMB_WY < 1 || EMB_WX * EMB_WY > 1024
#error "EMB_WX, EMB_WY must be >= 1 with EMB_WX * EMB_WY <= 1024"
#endif

/* No barriers, so work-items past the end return. */
__kernel __attribute__((reqd_work_group_size(EMB_WX, EMB_WY, 1)))
void embedding_forward_gpu(__global const float* table, __global const int* ids,
                           __global float* out, const int count, const int dim)
{
    const int j = get_global_id(0), n = get_global_id(1);
    if (j >= dim || n >= count) return;
    out[(size_t)n * dim + j] = table[(size_t)ids[n] * dim + j];
}

__kernel __attribute__((reqd_work_group_size(EMB_WX, EMB_WY, 1)))
void embedding_backward_gpu(__global const float* grad_out, __global const int* order,
                            __global const int* offsets, __global float* grad_table,
                            const int dim, const int vocab)
{
    const int j = get_global_id(0), v = get_global_id(1);
    if (j >= dim || v >= vocab) return;
    const int p1 = offsets[v + 1];
    float s = 0.0f;
    for (int p = offsets[v]; p < p1; ++p) s += grad_out[(size_t)order[p] * dim + j];
    grad_table[(size_t)v * dim + j] = s;
}
