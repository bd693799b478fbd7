/*
 * infonce_chunks.cl -- the InfoNCE loss from chunks of GEMM-formed scores, for AlignCL.
 *
 * The alternative to infonce.cl's tile kernels when N*M is large: the host forms the unscaled
 * scores of `count` consecutive rows of a (in every group) against all of b with one GEMM,
 * P[g, i, c] = a^_{start+i} . b^_c, [G, count, M], and these kernels reduce them. Only one chunk
 * exists at a time, never the N x M matrix, and the multiply-adds run at GEMM speed instead of
 * being recomputed per direction. Same maths and conventions as infonce.cl:
 *   S = scale * P; targets of the row direction t and of the column direction t':
 *     kind 0 diagonal  t = t' = [r == c]                                    (N == M)
 *     kind 1 labels    t = [la_r == lb_c] * wr_r,  t' = [la_r == lb_c] * wc_c, where
 *                      wr_r = 1/#{c: lb_c == la_r} and wc_c = 1/#{r: la_r == lb_c}, 0 when no
 *                      pair matches (infonce_label_weights)
 *     kind 2 soft      t = t' = T[r*M + c]
 *   Labels, weights and T are shared by all groups.
 *
 * Kernels:
 *   infonce_label_weights(own, other, n_own, n_other, w): w_i = 1/#{j: other_j == own_i} or 0.
 *     global roundUp(n_own, 8), local 8.
 *   infonce_chunk_row_stats: per row r of the chunk, lse_r = log sum_c exp S_rc,
 *     dot_r = sum_c t_rc S_rc, mass_r = sum_c t_rc.   global (roundUp(count, 8), G), local (8, 1).
 *   infonce_chunk_column_stats: per column c, folds the chunk's rows, 8 at a time, into a running
 *     max m_c and l_c = sum exp(S_rc - m_c) (the online log-sum-exp: l is rescaled by
 *     exp(m_old - m_new) <= 1 when the max rises), and accumulates dot'_c = sum_r t'_rc S_rc and mass'_c = sum_r t'_rc
 *     in the statistics buffers. The first chunk (start == 0) starts them; the last
 *     (start + count == N) writes lse'_c = m_c + log l_c. Chunks run in order on the in-order
 *     queue, so launches never touch a column at the same time.
 *     global (ceil(M/16), G), local (1, 1): 16 columns in the lanes of a float16.
 *   infonce_chunk_gradient: overwrites P with scale * dS, where
 *     dS_rc = rc*(mass_r exp(S_rc - lse_r) - t_rc) + cc*(mass'_c exp(S_rc - lse'_c) - t'_rc)
 *     (a coefficient of exactly 0 switches its term off; its statistics are then not read), and
 *     writes grad_scale_partial[g*N + r] = sum_c dS_rc P_rc (= d loss / d scale, per row).
 *     global (roundUp(count, 8), G), local (8, 1).
 *
 * Numerics: every maximum is subtracted before exp, so nothing overflows at |S| ~ 1e8. The
 * backward forms P by the same GEMM call as the forward, so each lse bounds its scores; exp
 * arguments are still clamped at 0 (rounding noise), so no probability exceeds 1. exp is
 * common.cl's exp_nonpos16 (~2 ulp). Sums are float32 in 16 lanes, in column (row) order.
 * max(scale * P) = scale * max(P) exactly, as rounding is monotonic and scale > 0.
 */

__kernel void infonce_label_weights(__global const float* own, __global const float* other,
                                    const int n_own, const int n_other, __global float* weights)
{
    const int i = get_global_id(0);
    if (i >= n_own) return;
    const float label = own[i];
    int matches = 0;
    for (int j = 0; j < n_other; ++j) matches += other[j] == label;
    weights[i] = matches > 0 ? 1.0f / (float)matches : 0.0f;
}

__kernel void infonce_chunk_row_stats(__global const float* P, __global const float* labels_a,
                                      __global const float* labels_b, __global const float* soft,
                                      __global const float* row_weight,
                                      __global float* lse, __global float* dot, __global float* mass,
                                      const int N, const int M, const int start, const int count,
                                      const float scale, const int kind)
{
    const int i = get_global_id(0), g = get_global_id(1);
    if (i >= count) return;
    const int r = start + i;
    __global const float* p = P + ((size_t)g * count + i) * M;

    /* pass 1: the row's maximum (padding lanes -inf drop out) */
    float16 mx = (float16)(-INFINITY);
    for (int c = 0; c < M; c += 16) mx = fmax(mx, load_part16(p + c, M - c, -INFINITY));
    const float m = scale * hmax16(mx);

    /* pass 2: sum exp(S - m) (each term in [0, 1], one is 1) and the target-weighted sums */
    float16 sum = (float16)(0.0f), tdot = (float16)(0.0f), tmass = (float16)(0.0f);
    const float la = kind == 1 ? labels_a[r] : 0.0f;
    const float wr = kind == 1 ? row_weight[r] : 0.0f;
    for (int c = 0; c < M; c += 16) {
        const int n = M - c;
        const float16 s = scale * load_part16(p + c, n, -INFINITY);
        sum += exp_nonpos16(fmin(s - m, 0.0f));
        if (kind == 1 && wr > 0.0f) {
            const int16 match = isequal(load_part16(labels_b + c, n, NAN), (float16)(la));
            tdot += select((float16)(0.0f), s, match);
        } else if (kind == 2) {
            const float16 t = load_part16(soft + (size_t)r * M + c, n, 0.0f);
            tdot += select((float16)(0.0f), t * s, t != (float16)(0.0f));
            tmass += t;
        }
    }
    float d = 0.0f, w = 0.0f;
    if (kind == 0) {
        if (r < M) { d = scale * p[r]; w = 1.0f; }
    } else if (kind == 1) {
        if (wr > 0.0f) { d = wr * hsum16(tdot); w = 1.0f; }
    } else {
        d = hsum16(tdot);
        w = hsum16(tmass);
    }
    const size_t o = (size_t)g * N + r;
    lse[o] = m + log(hsum16(sum));
    dot[o] = d;
    mass[o] = w;
}

__kernel void infonce_chunk_column_stats(__global const float* P, __global const float* labels_a,
                                         __global const float* labels_b, __global const float* soft,
                                         __global const float* column_weight,
                                         __global float* running_max, __global float* running_sum,
                                         __global float* lse, __global float* dot, __global float* mass,
                                         const int N, const int M, const int start, const int count,
                                         const float scale, const int kind)
{
    const int c0 = get_global_id(0) * 16, g = get_global_id(1);
    if (c0 >= M) return;
    const int n = M - c0;   /* lanes beyond n are padding and never stored */
    __global const float* p = P + (size_t)g * count * M + c0;
    const size_t o = (size_t)g * M + c0;
    const int first = start == 0, last = start + count == N;

    /* Blocks of 8 rows, each read once: the running max m rises to the block's max first
     * (l rescaled by exp(m_old - m_new) <= 1; at the first block exp(-inf) = 0 times 0), then
     * the block's exponentials. Rows of a chunk are M floats apart, the same cache set for
     * M = 4096: a second pass over all the chunk's rows would miss the cache, 8 rows do not. */
    float16 m = first ? (float16)(-INFINITY) : load_part16(running_max + o, n, 0.0f);
    float16 l = first ? (float16)(0.0f) : load_part16(running_sum + o, n, 0.0f);
    float16 tdot = first ? (float16)(0.0f) : load_part16(dot + o, n, 0.0f);
    float16 tmass = first ? (float16)(0.0f) : load_part16(mass + o, n, 0.0f);
    const float16 lb = kind == 1 ? load_part16(labels_b + c0, n, NAN) : (float16)(0.0f);
    const float16 wc = kind == 1 ? load_part16(column_weight + c0, n, 0.0f) : (float16)(0.0f);
    float16 chunk_dot = (float16)(0.0f);
    for (int i0 = 0; i0 < count; i0 += 8) {
        const int nb = min(8, count - i0);
        float16 s[8];
        float16 block_max = (float16)(-INFINITY);
        for (int j = 0; j < nb; ++j) {
            s[j] = scale * load_part16(p + (size_t)(i0 + j) * M, n, 0.0f);
            block_max = fmax(block_max, s[j]);
        }
        const float16 m_new = fmax(m, block_max);
        l *= exp_nonpos16(m - m_new);
        m = m_new;
        for (int j = 0; j < nb; ++j) {
            l += exp_nonpos16(fmin(s[j] - m, 0.0f));
            const int i = i0 + j;
            if (kind == 1) {
                chunk_dot += select((float16)(0.0f), s[j], isequal(lb, (float16)(labels_a[start + i])));
            } else if (kind == 2) {
                const float16 t = load_part16(soft + (size_t)(start + i) * M + c0, n, 0.0f);
                chunk_dot = fma(t, s[j], chunk_dot);
                tmass += t;
            }
        }
    }
    if (kind == 0) {
        /* column c's positive is row c: in this chunk when start <= c < start + count */
        float v[16];
        vstore16(chunk_dot, 0, v);
        for (int k = 0; k < min(n, 16); ++k) {
            const int c = c0 + k;
            if (c >= start && c < start + count) v[k] = scale * p[(size_t)(c - start) * M + k];
        }
        chunk_dot = vload16(0, v);
        tmass = (float16)(1.0f);
    } else if (kind == 1) {
        chunk_dot *= wc;
        tmass = select((float16)(0.0f), (float16)(1.0f), wc > (float16)(0.0f));
    }
    tdot += chunk_dot;

    store_part16(tdot, dot + o, n);
    store_part16(tmass, mass + o, n);
    if (last) {
        store_part16(m + log(l), lse + o, n);
    } else {
        store_part16(m, running_max + o, n);
        store_part16(l, running_sum + o, n);
    }
}

__kernel void infonce_chunk_gradient(__global float* P, __global const float* labels_a,
                                     __global const float* labels_b, __global const float* soft,
                                     __global const float* row_weight, __global const float* column_weight,
                                     __global const float* row_lse, __global const float* row_mass,
                                     __global const float* col_lse, __global const float* col_mass,
                                     __global float* grad_scale_partial,
                                     const int N, const int M, const int start, const int count,
                                     const float scale, const int kind,
                                     const float row_coefficient, const float col_coefficient)
{
    const int i = get_global_id(0), g = get_global_id(1);
    if (i >= count) return;
    const int r = start + i;
    __global float* p = P + ((size_t)g * count + i) * M;
    const int use_row = row_coefficient != 0.0f, use_col = col_coefficient != 0.0f;
    const size_t o = (size_t)g * N + r;
    const float L = use_row ? row_lse[o] : 0.0f;
    const float W = use_row ? row_coefficient * row_mass[o] : 0.0f;
    __global const float* CL = col_lse + (size_t)g * M;
    __global const float* CM = col_mass + (size_t)g * M;
    const float la = kind == 1 ? labels_a[r] : 0.0f;
    const float wr = kind == 1 ? row_weight[r] : 0.0f;
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const float16 RC = (float16)(row_coefficient), CC = (float16)(col_coefficient);

    float16 gs = (float16)(0.0f);
    for (int c = 0; c < M; c += 16) {
        const int n = M - c;
        /* padding lanes: P 0, no label match, no mass, so they add 0 to gs and are not stored */
        const float16 raw = load_part16(p + c, n, 0.0f);
        const float16 s = scale * raw;
        float16 t, tc;
        if (kind == 0) {
            t = tc = select((float16)(0.0f), (float16)(1.0f), lane + (int16)(c) == (int16)(r));
        } else if (kind == 1) {
            const int16 match = isequal(load_part16(labels_b + c, n, NAN), (float16)(la));
            t = select((float16)(0.0f), (float16)(wr), match);
            tc = select((float16)(0.0f), load_part16(column_weight + c, n, 0.0f), match);
        } else {
            t = tc = load_part16(soft + (size_t)r * M + c, n, 0.0f);
        }
        float16 ds = -(RC * t + CC * tc);
        if (use_row) ds = fma((float16)(W), exp_nonpos16(fmin(s - L, 0.0f)), ds);
        if (use_col) ds = fma(CC * load_part16(CM + c, n, 0.0f), exp_nonpos16(fmin(s - load_part16(CL + c, n, 0.0f), 0.0f)), ds);
        gs = fma(ds, raw, gs);
        store_part16(scale * ds, p + c, n);
    }
    grad_scale_partial[o] = hsum16(gs);
}
