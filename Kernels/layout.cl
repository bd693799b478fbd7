/*
 * layout.cl -- moving data between layouts, for AlignCL.
 *
 * swap_axes12: in [A, B, C, D] -> out [A, C, B, D] (e.g. [batch, length, heads, head_dim] to
 * [batch, heads, length, head_dim] for attention, and back: the operation is its own inverse
 * with B and C exchanged). Rows of D floats stay contiguous, so a work-item copies one row.
 * Launch: global (A*B*C), local (1).
 *
 * copy_blocks: run i in [0, blocks) copies block_len floats from src + src_off + i*src_stride to
 * dst + dst_off + i*dst_stride (slices and concatenations along any axis; int32 data moves
 * through the same float loads and stores, bits unchanged). Work-item (i, k) copies elements
 * [k*COPY_CHUNK, min((k+1)*COPY_CHUNK, block_len)) of run i, so one long run still spreads
 * over the cores. Launch: global (blocks, ceil(block_len, 4096)), local (1, 1).
 * OpenCL C 1.2; offsets in size_t.
 */

#define COPY_CHUNK 4096

__kernel void swap_axes12(__global const float* in, __global float* out, const int A, const int B, const int C, const int D)
{
    const size_t row = get_global_id(0);
    if (row >= (size_t)A * B * C) return;
    const size_t c = row % C, b = (row / C) % B, a = row / ((size_t)B * C);
    __global const float* src = in + row * D;                         /* in[a, b, c, :] */
    __global float* dst = out + (((a * C) + c) * B + b) * D;         /* out[a, c, b, :] */
    for (int d = 0; d < D; ++d) dst[d] = src[d];
}

__kernel void copy_blocks(__global const float* src, __global float* dst, const int blocks, const int block_len,
                          const int src_off, const int src_stride, const int dst_off, const int dst_stride)
{
    const size_t i = get_global_id(0), k0 = get_global_id(1) * (size_t)COPY_CHUNK;
    if (i >= (size_t)blocks || k0 >= (size_t)block_len) return;
    const size_t k1 = min(k0 + (size_t)COPY_CHUNK, (size_t)block_len);
    __global const float* from = src + src_off + i * src_stride;
    __global float* to = dst + dst_off + i * dst_stride;
    size_t k = k0;
    for (; k + 16 <= k1; k += 16) vstore16(vload16(0, from + k), 0, to + k);
    for (; k < k1; ++k) to[k] = from[k];
}

/* GPU class: a work-item per element, consecutive work-items on consecutive floats of a row
 * (coalesced reads and writes; a row of D floats stays contiguous on both sides). No barriers.
 *
 * swap_axes12_gpu (arguments of swap_axes12): global (up(D, LAYOUT_WX), up(A*B*C, LAYOUT_WY)),
 *   local (LAYOUT_WX, LAYOUT_WY). 8 bytes moved per element.
 * copy_blocks_gpu (arguments of copy_blocks): global (up(block_len, LAYOUT_WX),
 *   up(blocks, LAYOUT_WY)), local (LAYOUT_WX, LAYOUT_WY). 8 bytes moved per element.
 * LAYOUT_WX x LAYOUT_WY (default 32 x 8) must not exceed the device's work-group size. */
#ifndef LAYOUT_WX
#define LAYOUT_WX 32
#endif
#ifndef LAYOUT_WY
#define LAYOUT_WY 8
#endif
#if LAYOUT_WX < 1 || LAYOUT_WY < 1 || LAYOUT_WX * LAYOUT_WY > 1024
#error "LAYOUT_WX, LAYOUT_WY must be >= 1 with LAYOUT_WX * LAYOUT_WY <= 1024"
#endif

__kernel __attribute__((reqd_work_group_size(LAYOUT_WX, LAYOUT_WY, 1)))
void swap_axes12_gpu(__global const float* in, __global float* out, const int A, const int B, const int C, const int D)
{
    const size_t d = get_global_id(0), row = get_global_id(1);
    if (d >= (size_t)D || row >= (size_t)A * B * C) return;
    const size_t c = row % C, b = (row / C) % B, a = row / ((size_t)B * C);
    out[(((a * C) + c) * B + b) * D + d] = in[row * D + d];
}

__kernel __attribute__((reqd_work_group_size(LAYOUT_WX, LAYOUT_WY, 1)))
void copy_blocks_gpu(__global const float* src, __global float* dst, const int blocks, const int block_len,
                     const int src_off, const int src_stride, const int dst_off, const int dst_stride)
{
    const size_t k = get_global_id(0), i = get_global_id(1);
    if (k >= (size_t)block_len || i >= (size_t)blocks) return;
    dst[dst_off + i * dst_stride + k] = src[src_off + i * src_stride + k];
}
