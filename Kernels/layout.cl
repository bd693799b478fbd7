/*
 * layout.cl -- moving data between layouts, for AlignCL.
 *
 * swap_axes12: in [A, B, C, D] -> out [A, C, B, D] (e.g. [batch, length, heads, head_dim] to
 * [batch, heads, length, head_dim] for attention, and back: the operation is its own inverse
 * with B and C exchanged). Rows of D floats stay contiguous, so a work-item copies one row.
 * Launch: global (A*B*C), local (1). OpenCL C 1.2; offsets in size_t.
 */

__kernel void swap_axes12(__global const float* in, __global float* out, const int A, const int B, const int C, const int D)
{
    const size_t row = get_global_id(0);
    if (row >= (size_t)A * B * C) return;
    const size_t c = row % C, b = (row / C) % B, a = row / ((size_t)B * C);
    __global const float* src = in + row * D;                         /* in[a, b, c, :] */
    __global float* dst = out + (((a * C) + c) * B + b) * D;         /* out[a, c, b, :] */
    for (int d = 0; d < D; ++d) dst[d] = src[d];
}
