/*
 * infonce_chunks_gpu.cl -- GPU-class kernels of InfoNCE's chunked path (label weights, chunk
 * row/column statistics, chunk gradient) and of the mutual-information bounds, float32, for
 * AlignCL. Maths, layouts and call order are those of infonce_chunks.cl (chunks: P[g, i, c] =
 * a^_{start+i} . b^_c, [G, count, M], formed by a GEMM; S = scale * P) and of infonce.cl's
 * mutual_information_* kernels. Every kernel is `<cpu name>_gpu` with the CPU kernel's
 * argument list and no scratch buffers. The tile kernels are in infonce_gpu.cl.
 * Build (host): common.cl + "\n" + infonce_gpu_common.cl + "\n#line 1\n" + this file,
 *   options "-w -D NCG_...=..." (the tunables below; an unset one takes its default).
 * Let up(a,b) = ceil(a/b)*b, f = sizeof(float) = 4.
 *
 * Tunables (defaults fit 32 KiB / 256 work-items):                                  default
 *   NCG_RL, NCG_RR  row kernels: RL lanes per row x RR rows, powers of 2, RL*RR <= 1024 32, 8
 *   NCG_CL, NCG_CR  column stats: CL columns x CR row lanes, CL*CR <= 1024              32, 8
 *   NCG_LW          label weights work-group size, 1..1024                              128
 * (NCG_RL/NCG_RR are also infonce_gpu.cl's normalize tunables, defined and checked in
 * infonce_gpu_common.cl; the two programs are built separately, so the host may give them
 * different values.) Host choice: the group sizes
 * <= CL_DEVICE_MAX_WORK_GROUP_SIZE (__local is at most 4 KB at 256 work-items). 32 KiB / 256:
 * the defaults; 1024-work-item GPUs: the same 256-item groups (these kernels are bandwidth
 * bound; more, smaller groups fill the GPU better), RL = CL = 64, RR = CR = 4 on AMD wave64,
 * LW = 256.
 *
 * Row kernels: a work-group = RR rows x RL lanes; lanes stride float4s of the row (vload4 at
 * any alignment, tails scalar); per-row tree reductions over the RL lanes in __local (fixed
 * order); rows past the end compute on a clamped row and store nothing.
 *  infonce_chunk_row_stats_gpu(const float* P, const float* labels_a, const float* labels_b,
 *      const float* soft, const float* row_weight, float* lse, float* dot, float* mass,
 *      int N, int M, int start, int count, float scale, int kind)
 *    global (RL, up(count, RR), G), local (RL, RR, 1); __local f*2*RL*RR  (default 2 KB).
 *  infonce_chunk_gradient_gpu(float* P, const float* labels_a, const float* labels_b,
 *      const float* soft, const float* row_weight, const float* column_weight,
 *      const float* row_lse, const float* row_mass, const float* col_lse,
 *      const float* col_mass, float* grad_scale_partial, int N, int M, int start, int count,
 *      float scale, int kind, float row_coefficient, float col_coefficient)
 *    global (RL, up(count, RR), G), local (RL, RR, 1); __local f*RL*RR  (default 1 KB).
 *    Overwrites P in place with scale * dS (only live rows touch P).
 *  mutual_information_backward_gpu(const float* F, const float* stats,
 *      const float* grad_bound, float* grad_F, int G, int N, int estimator)
 *    global (RL, up(G*N, RR)), local (RL, RR); __local f*2*RL*RR  (default 2 KB).
 *  mutual_information_forward_gpu(const float* F, float* bound, float* stats, int G, int N,
 *      int estimator)
 *    one work-group per group g: global (RL, RR, G), local (RL, RR, 1); __local f*2*RL*RR
 *    (default 2 KB). Rows ry (mod RR), each row's float4s over the RL lanes, then one tree
 *    over all RL*RR work-items. stats[2g..2g+1] = (max, sum) of the off-diagonal
 *    log-sum-exp for estimator 1 (read by the backward), else 0.
 * Column kernel:
 *  infonce_chunk_column_stats_gpu(const float* P, const float* labels_a,
 *      const float* labels_b, const float* soft, const float* column_weight,
 *      float* running_max, float* running_sum, float* lse, float* dot, float* mass,
 *      int N, int M, int start, int count, float scale, int kind)
 *    global (up(M, CL), CR, G), local (CL, CR, 1); __local f*4*CL*CR  (default 4 KB).
 *    Consecutive work-items read consecutive columns; the CR lanes split the chunk's rows
 *    (i = cy mod CR), merged in lane order. Chunks run in order (in-order queue), as on CPU.
 *  infonce_label_weights_gpu(const float* own, const float* other, int n_own, int n_other,
 *      float* weights)
 *    global (up(n_own, LW)), local (LW); __local f*LW  (default 512 B); `other` staged LW
 *    labels at a time.
 *
 * Numerics: online max-subtracted log-sum-exp everywhere (exp arguments <= 0; the gradient's
 * clamped at 0), library exp/log/log1p, no float atomics, no `/` whose rounding matters
 * (reciprocals multiply); results agree with the CPU kernels to float32 rounding, not bits.
 * Rules: no early return; every barrier is unconditional (PoCL 3.1 miscompiled a barrier under
 * a uniform `if` inside a loop), only the work around it is conditional; loops holding
 * barriers have work-group-uniform trip counts. Vector masks come from direct comparisons
 * (==, !=, <, isequal): Oclgrind evaluates a negated vector comparison (!c, c == 0) wrongly.
 *
 * Cost, NVIDIA H100 (3 TB/s HBM, 132 SMs): no matrix products here; all memory bound, the
 * __local traffic is only the log2(RL)-step reductions. Global bytes per element of P / F:
 *  chunk_row_stats 4 (+4 soft for kind 2; labels_b is cached), chunk_column_stats 4 (+4 soft),
 *  chunk_gradient 8 (read + write P; + 4 soft, col_lse/col_mass rows cached), MI backward 8
 *  (12 for estimator 0, which re-reads its row after the log-sum-exp; cached for short rows),
 *  MI forward 4, label weights n_own*n_other compares from __local (tiny).
 *  Row kernels and column stats: 60-80 % of 3 TB/s once there are >= ~4*132 work-groups
 *  (count*G/RR >= ~512, up(M, CL)/CL*G >= ~512), e.g. a 512-row chunk at M = 4096: 8 MB per
 *  pass, ~4 us. MI forward runs one work-group per group: bandwidth-bound for G >= 132,
 *  otherwise about G SMs' worth (G = 1, N = 4096: 64 MB at ~100 GB/s, ~0.6 ms; the usual small
 *  G*N^2 is microseconds).
 */

#ifndef NCG_GPU_COMMON
#error "build as common.cl + infonce_gpu_common.cl + infonce_chunks_gpu.cl (see the header)"
#endif

#ifndef NCG_CL
#define NCG_CL 32
#endif
#ifndef NCG_CR
#define NCG_CR 8
#endif
#ifndef NCG_LW
#define NCG_LW 128
#endif

#if NCG_CL < 1 || NCG_CR < 1 || NCG_CL * NCG_CR > 1024
#error "NCG_CL, NCG_CR >= 1 with NCG_CL * NCG_CR <= 1024"
#endif
#if NCG_LW < 1 || NCG_LW > 1024
#error "NCG_LW must be in 1..1024"
#endif


/* ---------------------------------------------------------------------------
 * Chunked path (infonce_chunks.cl semantics).
 * ------------------------------------------------------------------------- */
__kernel __attribute__((reqd_work_group_size(NCG_LW, 1, 1)))
void infonce_label_weights_gpu(__global const float* own, __global const float* other,
                               const int n_own, const int n_other, __global float* weights)
{
    __local float ls[NCG_LW];
    const int i = get_global_id(0), li = get_local_id(0);
    const float label = own[min(i, n_own - 1)];
    int matches = 0;
    for (int j0 = 0; j0 < n_other; j0 += NCG_LW) {
        ls[li] = j0 + li < n_other ? other[j0 + li] : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        const int n = min(NCG_LW, n_other - j0);
        for (int k = 0; k < n; ++k) matches += ls[k] == label;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i < n_own) weights[i] = matches > 0 ? 1.0f / (float)matches : 0.0f;
}

__kernel __attribute__((reqd_work_group_size(NCG_RL, NCG_RR, 1)))
void infonce_chunk_row_stats_gpu(__global const float* P, __global const float* labels_a,
                                 __global const float* labels_b, __global const float* soft,
                                 __global const float* row_weight,
                                 __global float* lse, __global float* dot, __global float* mass,
                                 const int N, const int M, const int start, const int count,
                                 const float scale, const int kind)
{
    __local float rm[NCG_RT], rl[NCG_RT];
    const int ln = get_local_id(0), b = get_local_id(1) * NCG_RL;
    const int i = get_global_id(1), g = get_group_id(2), live = i < count;
    const int r = start + min(i, count - 1);
    __global const float* p = P + ((size_t)g * count + min(i, count - 1)) * M;
    const float la = kind == 1 ? labels_a[r] : 0.0f;
    const float wr = kind == 1 ? row_weight[r] : 0.0f;
    float m = -INFINITY, l = 0.0f, td = 0.0f, tm = 0.0f;
    for (int c = 4 * ln; live && c < M; c += 4 * NCG_RL) {
        const float4 s = scale * ncg_load4(p, c, M, -INFINITY);
        ncg_lse4(&m, &l, s);
        if (kind == 1 && wr > 0.0f) {
            const int4 match = isequal(ncg_load4(labels_b, c, M, NAN), (float4)(la));
            const float4 v = select((float4)(0.0f), s, match);
            td += (v.x + v.y) + (v.z + v.w);
        } else if (kind == 2) {
            const float4 t = ncg_load4(soft + (size_t)r * M, c, M, 0.0f);
            const float4 v = select((float4)(0.0f), t * s, isnotequal(t, (float4)(0.0f)));
            td += (v.x + v.y) + (v.z + v.w);
            tm += (t.x + t.y) + (t.z + t.w);
        }
    }
    ncg_tmerge(rm, rl, b, ln, NCG_RL, &m, &l);
    td = ncg_tsum(rm, b, ln, NCG_RL, td);
    tm = ncg_tsum(rm, b, ln, NCG_RL, tm);
    if (live && ln == 0) {
        float d = 0.0f, w = 0.0f;
        if (kind == 0) { if (r < M) { d = scale * p[r]; w = 1.0f; } }
        else if (kind == 1) { if (wr > 0.0f) { d = wr * td; w = 1.0f; } }
        else { d = td; w = tm; }
        ncg_store_stats(lse, dot, mass, (size_t)g * N + r, m, l, d, w);
    }
}

__kernel __attribute__((reqd_work_group_size(NCG_CL, NCG_CR, 1)))
void infonce_chunk_column_stats_gpu(__global const float* P, __global const float* labels_a,
                                    __global const float* labels_b, __global const float* soft,
                                    __global const float* column_weight,
                                    __global float* running_max, __global float* running_sum,
                                    __global float* lse, __global float* dot, __global float* mass,
                                    const int N, const int M, const int start, const int count,
                                    const float scale, const int kind)
{
    __local float red[4 * NCG_CR * NCG_CL];
    const int cx = get_local_id(0), cy = get_local_id(1);
    const int c = get_global_id(0), g = get_group_id(2);
    const int cc = min(c, M - 1);
    __global const float* p = P + (size_t)g * count * M + cc;
    const float lb = kind == 1 ? labels_b[cc] : 0.0f;
    float m = -INFINITY, l = 0.0f, cd = 0.0f, tm = 0.0f;
    for (int i = cy; c < M && i < count; i += NCG_CR) {
        const float s = scale * p[(size_t)i * M];
        if (s > m) { l = fma(l, exp(m - s), 1.0f); m = s; }
        else l += exp(s - m);
        if (kind == 1) {
            if (labels_a[start + i] == lb) cd += s;
        } else if (kind == 2) {
            const float t = soft[(size_t)(start + i) * M + cc];
            cd = fma(t, s, cd);
            tm += t;
        }
    }
    const int q = cy * NCG_CL + cx, L = NCG_CR * NCG_CL;
    red[q] = m; red[L + q] = l; red[2 * L + q] = cd; red[3 * L + q] = tm;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (cy == 0 && c < M) {
        const size_t o = (size_t)g * M + c;
        const int first = start == 0, last = start + count == N;
        float Mx = first ? -INFINITY : running_max[o], Ls = first ? 0.0f : running_sum[o];
        float CD = 0.0f, TM = 0.0f;
        for (int k = 0; k < NCG_CR; ++k) {
            const int e = k * NCG_CL + cx;
            ncg_lse_merge(&Mx, &Ls, red[e], red[L + e]);
            CD += red[2 * L + e];
            TM += red[3 * L + e];
        }
        if (kind == 0) {          /* column c's positive is row c */
            CD = (c >= start && c < start + count) ? scale * p[(size_t)(c - start) * M] : 0.0f;
            TM = 1.0f;
        } else if (kind == 1) {
            const float wc = column_weight[c];
            CD *= wc;
            TM = wc > 0.0f ? 1.0f : 0.0f;
        } else if (!first) {
            TM += mass[o];
        }
        dot[o] = (first ? 0.0f : dot[o]) + CD;
        mass[o] = TM;
        if (last) lse[o] = Mx + log(Ls);
        else { running_max[o] = Mx; running_sum[o] = Ls; }
    }
}

__kernel __attribute__((reqd_work_group_size(NCG_RL, NCG_RR, 1)))
void infonce_chunk_gradient_gpu(__global float* P, __global const float* labels_a,
                                __global const float* labels_b, __global const float* soft,
                                __global const float* row_weight, __global const float* column_weight,
                                __global const float* row_lse, __global const float* row_mass,
                                __global const float* col_lse, __global const float* col_mass,
                                __global float* grad_scale_partial,
                                const int N, const int M, const int start, const int count,
                                const float scale, const int kind,
                                const float row_coefficient, const float col_coefficient)
{
    __local float red[NCG_RT];
    const int ln = get_local_id(0), b = get_local_id(1) * NCG_RL;
    const int i = get_global_id(1), g = get_group_id(2), live = i < count;
    const int r = start + min(i, count - 1);
    __global float* p = P + ((size_t)g * count + min(i, count - 1)) * M;
    const int use_row = row_coefficient != 0.0f, use_col = col_coefficient != 0.0f;
    const size_t o = (size_t)g * N + r;
    const float L = use_row ? row_lse[o] : 0.0f;
    const float W = use_row ? row_coefficient * row_mass[o] : 0.0f;
    __global const float* CLs = col_lse + (size_t)g * M;
    __global const float* CMs = col_mass + (size_t)g * M;
    const float la = kind == 1 ? labels_a[r] : 0.0f;
    const float wr = kind == 1 ? row_weight[r] : 0.0f;
    const float4 RC = (float4)(row_coefficient), CC = (float4)(col_coefficient);
    float gs = 0.0f;
    /* only live rows touch P (a clamped duplicate reading a row its owner rewrites would race) */
    for (int c = 4 * ln; live && c < M; c += 4 * NCG_RL) {
        const float4 raw = ncg_load4(p, c, M, 0.0f), s = scale * raw;
        float4 t, tc;
        if (kind == 0) {
            t = tc = select((float4)(0.0f), (float4)(1.0f), (int4)(c) + (int4)(0, 1, 2, 3) == (int4)(r));
        } else if (kind == 1) {
            const int4 match = isequal(ncg_load4(labels_b, c, M, NAN), (float4)(la));
            t = select((float4)(0.0f), (float4)(wr), match);
            tc = select((float4)(0.0f), ncg_load4(column_weight, c, M, 0.0f), match);
        } else {
            t = tc = ncg_load4(soft + (size_t)r * M, c, M, 0.0f);
        }
        float4 ds = -(RC * t + CC * tc);
        if (use_row) ds = fma((float4)(W), exp(fmin(s - (float4)(L), (float4)(0.0f))), ds);
        if (use_col)
            ds = fma(CC * ncg_load4(CMs, c, M, 0.0f),
                     exp(fmin(s - ncg_load4(CLs, c, M, 0.0f), (float4)(0.0f))), ds);
        gs = fma(ds.x, raw.x, gs); gs = fma(ds.y, raw.y, gs);
        gs = fma(ds.z, raw.z, gs); gs = fma(ds.w, raw.w, gs);
        ncg_store4(scale * ds, p, c, M);
    }
    gs = ncg_tsum(red, b, ln, NCG_RL, gs);
    if (live && ln == 0) grad_scale_partial[o] = gs;
}

/* ---------------------------------------------------------------------------
 * Mutual-information bounds (infonce.cl semantics).
 * ------------------------------------------------------------------------- */
static inline float ncg_softplus(const float x) { return fmax(x, 0.0f) + log1p(exp(-fabs(x))); }

static inline float ncg_sigmoid(const float x)
{
    const float e = exp(-fabs(x));
    const float q = 1.0f / (1.0f + e);
    return x >= 0.0f ? q : e * q;
}

__kernel __attribute__((reqd_work_group_size(NCG_RL, NCG_RR, 1)))
void mutual_information_forward_gpu(__global const float* F, __global float* bound,
                                    __global float* stats, const int G, const int N,
                                    const int estimator)
{
    __local float ra[NCG_RT], rb[NCG_RT];
    const int ln = get_local_id(0), ry = get_local_id(1), f = ry * NCG_RL + ln;
    const int g = get_group_id(2);
    __global const float* A = F + (size_t)g * N * N;
    const int est = (estimator == 1 || estimator == 2) && N < 2 ? -1 : estimator;
    float diag = 0.0f, acc = 0.0f, m = -INFINITY, l = 0.0f;
    /* rows ry (mod RR), each row's float4s split over the RL lanes; uniform trip count */
    for (int i0 = 0; i0 < N; i0 += NCG_RR) {
        const int i = i0 + ry, live = i < N && est >= 0 && est <= 2;
        __global const float* a = A + (size_t)min(i, N - 1) * N;
        float rm = -INFINITY, rl = 0.0f;
        for (int k = 4 * ln; live && k < N; k += 4 * NCG_RL) {
            const float4 v = ncg_load4(a, k, N, -INFINITY);
            const int4 idx = (int4)(k) + (int4)(0, 1, 2, 3), isd = idx == (int4)(i);
            if (i >= k && i < k + 4) diag += est == 2 ? -ncg_softplus(-a[i]) : a[i];
            if (est == 0) ncg_lse4(&rm, &rl, v);
            else if (est == 1) ncg_lse4(&m, &l, select(v, (float4)(-INFINITY), isd));
            else {
                /* masks from direct comparisons only: Oclgrind evaluates a negated vector
                 * comparison (isd == 0, !isd) to isd ^ 1 (-2 / 1), so select() took the
                 * diagonal instead of the off-diagonal terms */
                const int4 off = (idx != (int4)(i)) & (idx < (int4)(N));
                float4 sp = (float4)(ncg_softplus(v.x), ncg_softplus(v.y), ncg_softplus(v.z), ncg_softplus(v.w));
                sp = select((float4)(0.0f), sp, off);
                acc += (sp.x + sp.y) + (sp.z + sp.w);
            }
        }
        ncg_tmerge(ra, rb, ry * NCG_RL, ln, NCG_RL, &rm, &rl);   /* unconditional: see header */
        if (est == 0 && ln == 0 && i < N) acc += rm + log(rl);
    }
    diag = ncg_tsum(ra, 0, f, NCG_RT, diag);
    acc = ncg_tsum(ra, 0, f, NCG_RT, acc);
    ncg_tmerge(ra, rb, 0, f, NCG_RT, &m, &l);
    if (f == 0) {
        const float invn = 1.0f / (float)N;
        float res = NAN, s0 = 0.0f, s1 = 0.0f;
        if (est == 0) res = (diag - acc) * invn + log((float)N);
        else if (est == 1) {
            s0 = m; s1 = l;
            res = diag * invn - (m + log(l) - log((float)N * (float)(N - 1)));
        } else if (est == 2) res = diag * invn - acc * (1.0f / ((float)N * (float)(N - 1)));
        bound[g] = res;
        stats[2 * (size_t)g] = s0;
        stats[2 * (size_t)g + 1] = s1;
    }
}

__kernel __attribute__((reqd_work_group_size(NCG_RL, NCG_RR, 1)))
void mutual_information_backward_gpu(__global const float* F, __global const float* stats,
                                     __global const float* grad_bound, __global float* grad_F,
                                     const int G, const int N, const int estimator)
{
    __local float ra[NCG_RT], rb[NCG_RT];
    const int ln = get_local_id(0), b = get_local_id(1) * NCG_RL;
    const int id = get_global_id(1), live = id < G * N;
    const int idc = min(id, G * N - 1), g = idc / N, i = idc - g * N;
    __global const float* a = F + (size_t)idc * N;
    __global float* o = grad_F + (size_t)idc * N;
    const float gb = grad_bound[g], invn = 1.0f / (float)N;
    float m = -INFINITY, l = 0.0f;
    for (int k = 4 * ln; live && estimator == 0 && k < N; k += 4 * NCG_RL)
        ncg_lse4(&m, &l, ncg_load4(a, k, N, -INFINITY));
    ncg_tmerge(ra, rb, b, ln, NCG_RL, &m, &l);
    if (estimator == 1) {
        m = stats[2 * (size_t)g];
        l = stats[2 * (size_t)g + 1];
    }
    const float invl = 1.0f / l;
    const int ok = estimator == 0 || ((estimator == 1 || estimator == 2) && N >= 2);
    const float wo = gb * (1.0f / ((float)N * (float)(N - 1)));
    for (int k = 4 * ln; live && k < N; k += 4 * NCG_RL) {
        const float4 v = ncg_load4(a, k, N, 0.0f);
        const int4 isd = (int4)(k) + (int4)(0, 1, 2, 3) == (int4)(i);
        float4 r = (float4)(0.0f);
        if (!ok) r = (float4)(0.0f);
        else if (estimator == 0)
            r = gb * invn * (select((float4)(0.0f), (float4)(1.0f), isd) - exp(v - (float4)(m)) * invl);
        else if (estimator == 1)
            r = select(-gb * (exp(v - (float4)(m)) * invl), (float4)(gb * invn), isd);
        else {
            const float4 sn = (float4)(ncg_sigmoid(-v.x), ncg_sigmoid(-v.y), ncg_sigmoid(-v.z), ncg_sigmoid(-v.w));
            const float4 sp = (float4)(ncg_sigmoid(v.x), ncg_sigmoid(v.y), ncg_sigmoid(v.z), ncg_sigmoid(v.w));
            r = select(-wo * sp, gb * invn * sn, isd);
        }
        ncg_store4(r, o, k, N);
    }
}
