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

/* =============================================================================================
 * GPU style: a work-group per row (forward) or per chunk of rows (backward), __local tree
 * reductions, coalesced strided column loops. Same semantics and argument lists as above.
 *
 * -D build options (all #error-checked):
 *   ROW_WG     work-group size, a power of two in [1, 1024] (default 256). reqd_work_group_size.
 *   ROW_CACHE  float4 register tile per work-item and per operand, 1..8 (default 2): the first
 *              ROW_CACHE * 4 * ROW_WG columns of a row are read from global memory once and
 *              kept in registers for the later passes; wider rows re-read the rest (L1/L2).
 *   LN_RCOLS   columns per work-group of the reduce kernel, a power of two <= ROW_WG
 *              (default min(ROW_WG, 32): 32 consecutive floats = one 128-byte line per row).
 * Column layout: the row is cut into chunks of 4 * ROW_WG columns; in chunk k work-item l owns
 * columns k*4*ROW_WG + 4l + (0..3) as one float4 when cols % 4 == 0 (rows then start 16-byte
 * aligned), else k*4*ROW_WG + l + ROW_WG*(0..3) as four scalars -- coalesced either way
 * (wg_cols4 / wg_load4 / wg_store4 in common.cl, padding read as 0).
 * Sums: each work-item adds its own columns in order, 4 lanes pairwise, then a fixed __local
 * tree (wg_sum / wg_sum2 / wg_sum2_strided, common.cl): deterministic, and the shallow depth
 * keeps rounding below the CPU-style path's.
 * Mean and variance are two-pass (mean first, then squared deviations) as in the CPU path;
 * with the register tile the second pass costs no memory traffic. 1/cols is a reciprocal
 * multiplied in (no per-element '/').
 *
 * layernorm_forward_gpu(const float* x [rows*cols], const float* weight [cols],
 *     const float* bias [cols], float* y [rows*cols], float* mean_out [rows],
 *     float* rstd_out [rows], int rows, int cols, float epsilon)
 *   global (rows * ROW_WG), local (ROW_WG); work-group g normalises row g.
 *   __local: 4 * ROW_WG bytes (1 KiB at 256, 4 KiB at 1024).
 * layernorm_backward_gpu(const float* x, const float* weight, const float* mean_in [rows],
 *     const float* rstd_in [rows], const float* dy, float* dx,
 *     float* dweight_partial [chunks*cols], float* dbias_partial [chunks*cols], int rows, int cols)
 *   global (chunks * ROW_WG), local (ROW_WG), any 1 <= chunks (the host picks it; chunks is
 *   read from get_num_groups). Work-group g owns rows [g*R, min((g+1)*R, rows)),
 *   R = ceil(rows / chunks), computes dx for each (row reduction of sum g, sum g*xhat) and
 *   writes its column sums of dy*xhat and dy to row g of the two scratch buffers (every row
 *   0..chunks-1 is written, zeros for a group with no rows). Each work-item keeps its
 *   columns' partials in registers (first ROW_CACHE chunks; beyond that read-modify-write of
 *   its own scratch entries), so no barrier or atomic is needed for them.
 *   Scratch: 2 buffers of chunks * cols floats. Suggested chunks = min(rows, 4 *
 *   CL_DEVICE_MAX_COMPUTE_UNITS) (528 on an H100: 4 row-chunks in flight per SM, scratch
 *   ~4 MB at cols = 1024). LN_CHUNK is not used here.
 *   __local: 8 * ROW_WG bytes (2 KiB at 256, 8 KiB at 1024).
 * layernorm_backward_reduce_gpu(const float* dweight_partial, const float* dbias_partial,
 *     float* dweight [cols], float* dbias [cols], int chunks, int cols)
 *   global (ceil(cols, LN_RCOLS) * ROW_WG), local (ROW_WG). Work-item l adds column
 *   LN_RCOLS*g + l % LN_RCOLS over chunks l / LN_RCOLS, + ROW_WG/LN_RCOLS, ...; then a
 *   __local tree over those lanes. __local: 8 * ROW_WG bytes.
 *
 * Cost (memory-bound; no matrix product, so no __local loads per FMA to quote):
 *   forward: 8 bytes of DRAM traffic per output (x in, y out; weight/bias 8*cols bytes stay in
 *   L2/L1, mean/rstd 8 bytes per row). 16384 x 1024 on an H100: 134 MB, ~45 us at 3 TB/s.
 *   With ROW_CACHE * 4 * ROW_WG >= cols, x is read once; each work-item has 1 float4 load in
 *   flight per operand (16 KB-32 KB per SM at 1024-2048 resident threads, above the ~14 KB
 *   per SM Little's law asks for at 3 TB/s), ~24 registers so occupancy is not limited; the
 *   two 8-step barrier trees per row stall one group while others stream. Expect ~70-85% of
 *   3 TB/s (2.1-2.5 TB/s).
 *   backward: 12 bytes per output (x, dy in, dx out) + 8 * chunks * cols scratch written and
 *   read again (~2% at chunks = 512, cols = 1024, rows = 16384); ~40 registers. ~65-80%.
 *   reduce: 8 bytes per scratch element; short (microseconds), latency-bound for small cols.
 * ========================================================================================== */

#ifndef ROW_WG
#define ROW_WG 256
#endif
#if ROW_WG < 1 || ROW_WG > 1024 || (ROW_WG & (ROW_WG - 1)) != 0
#error "ROW_WG must be a power of two in [1, 1024]"
#endif
#ifndef ROW_CACHE
#define ROW_CACHE 2
#endif
#if ROW_CACHE < 1 || ROW_CACHE > 8
#error "ROW_CACHE must be in [1, 8]"
#endif
#ifndef LN_RCOLS
#define LN_RCOLS (ROW_WG < 32 ? ROW_WG : 32)
#endif
#if LN_RCOLS < 1 || LN_RCOLS > ROW_WG || (LN_RCOLS & (LN_RCOLS - 1)) != 0
#error "LN_RCOLS must be a power of two <= ROW_WG"
#endif

static inline float ln_hsum4(const float4 v) { return (v.x + v.y) + (v.z + v.w); }

__kernel __attribute__((reqd_work_group_size(ROW_WG, 1, 1)))
void layernorm_forward_gpu(__global const float* x, __global const float* weight,
                           __global const float* bias, __global float* y,
                           __global float* mean_out, __global float* rstd_out,
                           const int rows, const int cols, const float epsilon)
{
    __local float red[ROW_WG];
    /* No early return (barriers follow): a group past the last row sees an empty row. */
    const int row = get_group_id(0), lid = get_local_id(0);
    const int live = row < rows;
    const int n = live ? cols : 0;
    const size_t off = live ? (size_t)row * cols : 0;
    __global const float* xr = x + off;
    __global float* yr = y + off;
    const int vec = (cols & 3) == 0;
    const int nk = wg_nchunks4(n, ROW_WG);
    const float inv_c = 1.0f / (float)cols;

    float4 xc[ROW_CACHE];
    float4 s4 = (float4)(0.0f);
#pragma unroll
    for (int k = 0; k < ROW_CACHE; ++k) {
        const int4 c = wg_cols4(k, lid, ROW_WG, vec);
        xc[k] = (k < nk) ? wg_load4(xr, c, n, vec, 0.0f) : (float4)(0.0f);
        s4 += xc[k];
    }
    for (int k = ROW_CACHE; k < nk; ++k)
        s4 += wg_load4(xr, wg_cols4(k, lid, ROW_WG, vec), n, vec, 0.0f);
    const float mean = wg_sum(ln_hsum4(s4), red, ROW_WG) * inv_c;

    /* Padding lanes are masked: x - mean would not be 0 there. */
    float4 q4 = (float4)(0.0f);
#pragma unroll
    for (int k = 0; k < ROW_CACHE; ++k) {
        const float4 d = select((float4)(0.0f), xc[k] - mean, wg_cols4(k, lid, ROW_WG, vec) < n);
        q4 = fma(d, d, q4);
    }
    for (int k = ROW_CACHE; k < nk; ++k) {
        const int4 c = wg_cols4(k, lid, ROW_WG, vec);
        const float4 d = select((float4)(0.0f), wg_load4(xr, c, n, vec, 0.0f) - mean, c < n);
        q4 = fma(d, d, q4);
    }
    const float rstd = rsqrt(wg_sum(ln_hsum4(q4), red, ROW_WG) * inv_c + epsilon);

#pragma unroll
    for (int k = 0; k < ROW_CACHE; ++k) {
        if (k < nk) {
            const int4 c = wg_cols4(k, lid, ROW_WG, vec);
            const float4 w = wg_load4(weight, c, n, vec, 0.0f), b = wg_load4(bias, c, n, vec, 0.0f);
            wg_store4(yr, c, n, vec, fma((xc[k] - mean) * rstd, w, b));
        }
    }
    for (int k = ROW_CACHE; k < nk; ++k) {
        const int4 c = wg_cols4(k, lid, ROW_WG, vec);
        const float4 w = wg_load4(weight, c, n, vec, 0.0f), b = wg_load4(bias, c, n, vec, 0.0f);
        wg_store4(yr, c, n, vec, fma((wg_load4(xr, c, n, vec, 0.0f) - mean) * rstd, w, b));
    }
    if (live && lid == 0) { mean_out[row] = mean; rstd_out[row] = rstd; }
}

__kernel __attribute__((reqd_work_group_size(ROW_WG, 1, 1)))
void layernorm_backward_gpu(__global const float* x, __global const float* weight,
                            __global const float* mean_in, __global const float* rstd_in,
                            __global const float* dy, __global float* dx,
                            __global float* dweight_partial, __global float* dbias_partial,
                            const int rows, const int cols)
{
    __local float2 red[ROW_WG];
    const int g = get_group_id(0), lid = get_local_id(0);
    const int ng = get_num_groups(0);
    const int per = (rows + ng - 1) / ng;
    const int r0 = (int)min((long)g * per, (long)rows), r1 = min(r0 + per, rows);  /* group-uniform */
    const int vec = (cols & 3) == 0;
    const int nk = wg_nchunks4(cols, ROW_WG);
    const float inv_c = 1.0f / (float)cols;
    __global float* dwp = dweight_partial + (size_t)g * cols;
    __global float* dbp = dbias_partial + (size_t)g * cols;

    /* A work-item owns the same columns in every row: weight and the dweight/dbias partials
     * of its first ROW_CACHE chunks live in registers for the whole chunk of rows. */
    float4 wc[ROW_CACHE], dwc[ROW_CACHE], dbc[ROW_CACHE], xc[ROW_CACHE], gc[ROW_CACHE];
#pragma unroll
    for (int k = 0; k < ROW_CACHE; ++k) {
        const int4 c = wg_cols4(k, lid, ROW_WG, vec);
        wc[k] = (k < nk) ? wg_load4(weight, c, cols, vec, 0.0f) : (float4)(0.0f);
        dwc[k] = (float4)(0.0f);
        dbc[k] = (float4)(0.0f);
        xc[k] = (float4)(0.0f);
        gc[k] = (float4)(0.0f);
    }
    for (int k = ROW_CACHE; k < nk; ++k) {
        const int4 c = wg_cols4(k, lid, ROW_WG, vec);
        wg_store4(dwp, c, cols, vec, (float4)(0.0f));
        wg_store4(dbp, c, cols, vec, (float4)(0.0f));
    }

    for (int row = r0; row < r1; ++row) {
        const size_t off = (size_t)row * cols;
        __global const float* xr = x + off;
        __global const float* gr = dy + off;
        __global float* dxr = dx + off;
        const float mean = mean_in[row], rstd = rstd_in[row];
        /* Padding lanes have dy = weight = 0, so they add 0 to every sum. */
        float4 a4 = (float4)(0.0f), b4 = (float4)(0.0f);
#pragma unroll
        for (int k = 0; k < ROW_CACHE; ++k) {
            if (k < nk) {
                const int4 c = wg_cols4(k, lid, ROW_WG, vec);
                xc[k] = wg_load4(xr, c, cols, vec, 0.0f);
                gc[k] = wg_load4(gr, c, cols, vec, 0.0f);
                const float4 xh = (xc[k] - mean) * rstd;
                const float4 gw = gc[k] * wc[k];
                a4 += gw;
                b4 = fma(gw, xh, b4);
                dwc[k] = fma(gc[k], xh, dwc[k]);
                dbc[k] += gc[k];
            }
        }
        for (int k = ROW_CACHE; k < nk; ++k) {
            const int4 c = wg_cols4(k, lid, ROW_WG, vec);
            const float4 dyv = wg_load4(gr, c, cols, vec, 0.0f);
            const float4 xh = (wg_load4(xr, c, cols, vec, 0.0f) - mean) * rstd;
            const float4 gw = dyv * wg_load4(weight, c, cols, vec, 0.0f);
            a4 += gw;
            b4 = fma(gw, xh, b4);
            wg_store4(dwp, c, cols, vec, fma(dyv, xh, wg_load4(dwp, c, cols, vec, 0.0f)));
            wg_store4(dbp, c, cols, vec, wg_load4(dbp, c, cols, vec, 0.0f) + dyv);
        }
        const float2 ab = wg_sum2((float2)(ln_hsum4(a4), ln_hsum4(b4)), red, ROW_WG);
        const float mg = ab.x * inv_c, mgx = ab.y * inv_c;
#pragma unroll
        for (int k = 0; k < ROW_CACHE; ++k) {
            if (k < nk) {
                const float4 xh = (xc[k] - mean) * rstd;
                wg_store4(dxr, wg_cols4(k, lid, ROW_WG, vec), cols, vec,
                          rstd * (gc[k] * wc[k] - mg - xh * mgx));
            }
        }
        for (int k = ROW_CACHE; k < nk; ++k) {
            const int4 c = wg_cols4(k, lid, ROW_WG, vec);
            const float4 xh = (wg_load4(xr, c, cols, vec, 0.0f) - mean) * rstd;
            const float4 gw = wg_load4(gr, c, cols, vec, 0.0f)
                              * wg_load4(weight, c, cols, vec, 0.0f);
            wg_store4(dxr, c, cols, vec, rstd * (gw - mg - xh * mgx));
        }
    }
#pragma unroll
    for (int k = 0; k < ROW_CACHE; ++k) {
        if (k < nk) {
            const int4 c = wg_cols4(k, lid, ROW_WG, vec);
            wg_store4(dwp, c, cols, vec, dwc[k]);
            wg_store4(dbp, c, cols, vec, dbc[k]);
        }
    }
}

__kernel __attribute__((reqd_work_group_size(ROW_WG, 1, 1)))
void layernorm_backward_reduce_gpu(__global const float* dweight_partial,
                                   __global const float* dbias_partial,
                                   __global float* dweight, __global float* dbias,
                                   const int chunks, const int cols)
{
    __local float2 red[ROW_WG];
    const int lid = get_local_id(0);
    const int cl = lid & (LN_RCOLS - 1), lane = lid / LN_RCOLS;
    const int col = get_group_id(0) * LN_RCOLS + cl;
    const int cc = min(col, cols - 1);   /* clamped: out-of-range columns load, never store */
    float2 s = (float2)(0.0f);
    for (int k = lane; k < chunks; k += ROW_WG / LN_RCOLS)
        s += (float2)(dweight_partial[(size_t)k * cols + cc], dbias_partial[(size_t)k * cols + cc]);
    s = wg_sum2_strided(s, red, ROW_WG, LN_RCOLS);   /* over the lanes of column cl */
    if (lane == 0 && col < cols) { dweight[col] = s.x; dbias[col] = s.y; }
}
