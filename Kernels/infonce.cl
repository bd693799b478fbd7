/*
 * infonce.cl -- InfoNCE / contrastive losses and mutual-information bounds,
 * forward and backward, float32, for AlignCL.
 *
 * Layouts (row-major, dense): x [G,R,D], y [G,C,D] (x = the side whose rows
 * are being reduced, y = the other side), xhat/yhat same shapes, norms [rows],
 * row_lse/row_target_dot/row_target_mass [G,R], col_lse/col_target_mass
 * [G,C] (the stats of the other direction), grad_xhat [G,R,D],
 * grad_scale_partial [G,R], logits [G,R,C], F/grad_F [G,N,N], bound [G],
 * stats [G,2]. Targets (shared by all groups, not per group):
 *   labels_x [R], labels_y [C] (float, exact integers), soft_targets [R,C]
 *   (or, with transpose_targets != 0, the original [C,R] matrix read as
 *   t_rc = T[c*R + r]). Buffers a call does not read may be 1-float dummies.
 *
 * Math, per group g:
 *   xhat_r = x_r / max(|x_r|, eps)  (normalize != 0; else xhat = x),
 *   S_rc = scale * xhat_r . yhat_c,
 *   t_rc: kind 0 diagonal  t_rc = (r == c)                     (R == C)
 *         kind 1 labels    t_rc = [lx_r == ly_c] / n_r, n_r = #{c: ly_c == lx_r},
 *                          a row with n_r = 0 has t = 0 (mass 0, dot 0)
 *         kind 2 soft      t_rc = T[r*C + c]   (transpose_targets: T[c*R + r])
 *   row_lse_r  = log sum_c exp(S_rc)
 *   row_target_dot_r = sum_c t_rc S_rc,   row_target_mass_r = sum_c t_rc
 *     (kind 1: the mass is exactly 1 or 0, the dot is (sum_{match} S)/n_r)
 *   direction loss = (1/R) sum_r (mass_r lse_r - dot_r)   (assembled by the host)
 *   backward, dS_rc = rc*(mass_r exp(S_rc - lse_r) - t_rc)
 *                   + cc*(colmass_c exp(S_rc - collse_c) - t_rc)
 *     (rc = row_coefficient, cc = col_coefficient; a coefficient of exactly 0
 *      switches that term off and its two stat buffers are not read).
 *     The second t is the other direction's target of the pair, t'_cr: equal
 *     to t_rc for kinds 0 and 2; for kind 1 it is [match] / n'_c with
 *     n'_c = #{r': labels_x[r'] == labels_y[c]}, counted in-kernel (costs
 *     ~R*C/16 vector compares per 16 rows, only when cc != 0).
 *     grad_xhat_r = scale sum_c dS_rc yhat_c  (overwritten),
 *     grad_scale_partial[g*R + r] = sum_c dS_rc S_rc / scale (= dS . raw dot).
 *   normalize backward: |x| > eps: (g - xhat (xhat.g)) / |x|; else g / eps;
 *     normalize == 0: copy.
 *   MI bounds from F (diagonal = positive pairs), per group:
 *     0 InfoNCE: mean_i F_ii - mean_i lse_k F_ik + log N
 *     1 DV:      mean_i F_ii - log(mean_{i!=k} exp F_ik)                  (N >= 2)
 *     2 JS:      mean_i -softplus(-F_ii) - mean_{i!=k} softplus(F_ik)     (N >= 2)
 *     stats[g] = { off-diagonal max M, sum_{i!=k} exp(F_ik - M) } for DV
 *     (0 for the others). Estimators 1, 2 with N == 1 give bound NaN and
 *     grad_F 0. Unknown estimator: bound NaN, grad 0.
 *
 * Numerics:
 *  - Online log-sum-exp per row over column blocks: running max m and
 *    l = sum exp(S - m); when a block raises the max, l is multiplied by
 *    exp(m_old - m_new) <= 1. Every exp() argument is <= 0 (up to rounding),
 *    so nothing overflows even for |S| ~ 1e8 (scale 100, unnormalised inputs
 *    of norm 1e3): then l = 1 exactly and lse = the row max exactly.
 *  - S is formed by the same fma chain (d = 0..D-1, from 0, then * scale) in
 *    every kernel of this file (and of infonce_gpu.cl; both directions: the
 *    product is commutative), so S is bitwise identical in row_stats and
 *    backward_rows and S_rc of one direction equals S_cr of the other. That
 *    keeps exp(S - lse) <= 1 at |S| ~ 1e8, where one ulp of S is 8.
 *  - exp: CPU kernels use exp_nonpos16 (2^(t log2 e), degree-6 polynomial,
 *    ~2 ulp, exact 0 below e^-87.3; fine for slightly positive rounding noise).
 *    The MI kernels use the library exp/log/log1p.
 *  - Sums are float32 (CPU: per-lane, in column order); relative error vs a
 *    double reference ~1e-7 .. 1e-6.
 *
 * Constraints: all sizes >= 1; D <= NCE_DMAX; G*R*D, G*C*D, G*R*C,
 * G*N*N < 2^31 is NOT required (offsets are size_t), but R, C, D, N < 2^31.
 *
 * Tuning constants (-D build options, defaults tuned on PoCL 3.1, AVX2 EPYC):
 *   NCE_BK     columns per block in the CPU row kernels / logits     (96)
 *   NCE_KR     outputs per register micro-tile, 1..8                 (6)
 *   NCE_RB     16-row panels per work-item in the CPU row_stats /
 *              backward_rows (each y block is reused by all panels)  (1)
 *   NCE_TOUCH  0: off; 1: prefetch() each y block; 2: touch one float
 *              per cache line of each y block before use              (0)
 *   NCE_DMAX   largest D (sizes private arrays)                      (512)
 *   NCE_NWG    work-group size of the normalize / MI-backward kernels (8)
 *   Fixed: NCE_VW = 16 rows per CPU work-item (the float16 lanes).
 * Let ceil(a,b) = (a + b - 1) / b. Launches:
 *
 * Element-wise / small (shared by both variants), 1-D:
 *   infonce_normalize, infonce_normalize_backward
 *                    global (ceil(rows, NCE_NWG) * NCE_NWG), local (NCE_NWG)
 *   mutual_information_forward global (G), local (1)
 *   mutual_information_backward global (ceil(G*N, NCE_NWG) * NCE_NWG), local (NCE_NWG)
 *
 * Variant 1 -- CPU style (fast on PoCL): a work-item owns NCE_RB panels of 16
 *   rows of x held as float16 lanes (xhat^T in private memory), walks y in
 *   blocks of NCE_BK rows, forms each panel's 16 x NCE_BK score tile with the
 *   register micro-kernel nce_mk (6 columns x 16 lanes = 12 ymm
 *   accumulators), and (backward) adds dS_tile . Y_block into a private
 *   16 x D gradient with the same micro-kernel. No __local, no barriers. 2-D:
 *   infonce_row_stats, infonce_backward_rows
 *                    global (ceil(R, 16 * NCE_RB), G), local (1, 1)
 *   infonce_logits   global (ceil(R, 16), G), local (1, 1)
 *   Private memory per work-item ~ NCE_RB * 2 * D * 64 B + 2 * NCE_BK * 64 B
 *   (~70 KB at D = 512, NCE_RB = 1; fine on PoCL).
 *   Measured (PoCL 3.1, 2-core EPYC, normalize on, kind 0; symmetric loss
 *   forward + backward = normalize x2, row_stats x2, backward_rows x2,
 *   normalize_backward x2; medians of 7, runs vary ~+-15% on this VM):
 *     N=256,  D=512:  4-7 ms (bimodal: PoCL thread wake-up; min 3.6; PyTorch 4.2)
 *     N=1024, D=512:  52-56 ms (PyTorch CPU 2 threads: 45)
 *     N=4096, D=256:  380-410 ms, min 346-368 (PyTorch: 788)
 *   (row_stats ~130-140 GFLOP/s at 2 N^2 D, backward_rows ~125-135 GFLOP/s
 *   at 4 N^2 D; FMA peak ~173.)
 *
 * GPU class: infonce_gpu.cl holds the _gpu versions of every kernel here
 *   (register-tiled, __local-staged; built as its own program for GPU devices).
 *
 * Order per loss: normalize(a), normalize(b) -> row_stats (a->b), row_stats
 * (b->a, transpose_targets = 1) -> backward_rows for a and for b (independent)
 * -> normalize_backward(a), normalize_backward(b). The stats fed to
 * backward_rows must come from row_stats of this file, not from another
 * implementation (infonce_gpu.cl forms S by the same fma chain, but pair
 * its row_stats_gpu with its backward_rows_gpu), because
 * at |S| ~ 1e8 one ulp of S (8) would break exp(S - lse) <= 1.
 *
 * OpenCL C 1.2. clang warns "AVX vector argument ... changes the ABI" for
 * float16 values on AVX2; harmless (everything is inlined).
 */

#ifndef NCE_BK
#define NCE_BK 96
#endif
#ifndef NCE_KR
#define NCE_KR 6
#endif
#ifndef NCE_RB
#define NCE_RB 1
#endif
#ifndef NCE_DMAX
#define NCE_DMAX 512
#endif
#ifndef NCE_NWG
#define NCE_NWG 8
#endif

#if NCE_KR < 1 || NCE_KR > 8
#error "NCE_KR must be in 1..8"
#endif
#if NCE_BK < 1 || NCE_DMAX < 1 || NCE_NWG < 1 || NCE_RB < 1
#error "NCE_BK, NCE_DMAX, NCE_NWG, NCE_RB must be >= 1"
#endif

#define NCE_VW 16
#define NCE_PAD(n) ((((n) + NCE_KR - 1) / NCE_KR) * NCE_KR)

/* Register micro-kernel:
 *   out[o] (16 lanes) (+)= sum_{i<n} panel[i] * Y[o*so + i*sn],   o < nout
 * panel: private [n][16]; Y: global, read as broadcast scalars. NCE_KR outputs
 * at a time (2*KR accumulators + 2 panel registers + 1 broadcast). Outputs past
 * nout re-read the last valid Y row (in bounds) and land in the padding of
 * out (out holds NCE_PAD(nout) vectors). accum != 0: out[o] += sum. */
static inline __attribute__((always_inline))
void nce_mk(__private float* out, const int nout,
            __private const float* panel, const int n,
            __global const float* Y, const int so, const int sn, const int accum)
{
    for (int o0 = 0; o0 < nout; o0 += NCE_KR) {
        __global const float* yp[NCE_KR];
        float16 acc[NCE_KR];
        #pragma unroll
        for (int o = 0; o < NCE_KR; ++o) {
            yp[o] = Y + (size_t)min(o0 + o, nout - 1) * (size_t)so;
            acc[o] = accum ? vload16(o0 + o, out) : (float16)(0.0f);
        }
        for (int i = 0; i < n; ++i) {
            const float16 p = vload16(i, panel);
            const size_t yi = (size_t)i * (size_t)sn;
            #pragma unroll
            for (int o = 0; o < NCE_KR; ++o)
                acc[o] = fma(p, (float16)(yp[o][yi]), acc[o]);
        }
        #pragma unroll
        for (int o = 0; o < NCE_KR; ++o) vstore16(acc[o], o0 + o, out);
    }
}

#ifndef NCE_TOUCH
#define NCE_TOUCH 0
#endif
/* Pull a block of y (n contiguous floats) towards the core before the
 * micro-kernel walks it as 6 short interleaved row streams (which the
 * hardware prefetcher handles poorly when y comes from L3/DRAM): one
 * independent load per 64-byte line, folded into a sink the caller keeps. */
static inline float nce_touch(__global const float* p, const int n)
{
#if NCE_TOUCH == 1
    prefetch(p, (size_t)n);
    return 0.0f;
#elif NCE_TOUCH == 2
    float16 a = (float16)(0.0f);
    int i = 0;
    for (; i + 256 <= n; i += 256) {
        a.s0 += p[i];       a.s1 += p[i + 16];  a.s2 += p[i + 32];  a.s3 += p[i + 48];
        a.s4 += p[i + 64];  a.s5 += p[i + 80];  a.s6 += p[i + 96];  a.s7 += p[i + 112];
        a.s8 += p[i + 128]; a.s9 += p[i + 144]; a.sa += p[i + 160]; a.sb += p[i + 176];
        a.sc += p[i + 192]; a.sd += p[i + 208]; a.se += p[i + 224]; a.sf += p[i + 240];
    }
    float s = hsum16(a);
    for (; i < n; i += 16) s += p[i];
    return s;
#else
    return 0.0f;
#endif
}

/* soft targets t_{r0+l, c} for the 16 lanes (rows past R clamped to R-1) */
static inline float16 nce_soft16(__global const float* T, const int c, const int r0,
                                 const int nr, const int R, const int C, const int transp)
{
    if (transp && nr == NCE_VW) return vload16(0, T + (size_t)c * R + r0);
    float t[NCE_VW];
    for (int l = 0; l < NCE_VW; ++l) {
        const int r = r0 + min(l, nr - 1);
        t[l] = transp ? T[(size_t)c * R + r] : T[(size_t)r * C + c];
    }
    return vload16(0, t);
}

/* per lane: label of row r0+l (clamped) and n_r = #{c: labels_y[c] == label} */
static inline void nce_label_rows(__global const float* lx, __global const float* ly,
                                  const int r0, const int nr, const int C,
                                  float16* lab, float16* cnt)
{
    float t[NCE_VW];
    for (int l = 0; l < NCE_VW; ++l) t[l] = lx[r0 + min(l, nr - 1)];
    const float16 L = vload16(0, t);
    float16 n = (float16)(0.0f);
    for (int c = 0; c < C; ++c)
        n += select((float16)(0.0f), (float16)(1.0f), L == (float16)(ly[c]));
    *lab = L;
    *cnt = n;
}

/* icol[j] = 1 / #{r < R: lx[r] == ly[j]} (0 if none), j < n */
static inline void nce_col_inv(__private float* icol, __global const float* lx,
                               __global const float* ly, const int n, const int R)
{
    const int nv = R / 16;
    for (int j = 0; j < n; ++j) {
        const float16 L = (float16)(ly[j]);
        float16 a = (float16)(0.0f);
        for (int v = 0; v < nv; ++v)
            a += select((float16)(0.0f), (float16)(1.0f), vload16(v, lx) == L);
        float k = hsum16(a);
        for (int r = nv * 16; r < R; ++r) k += (lx[r] == ly[j]) ? 1.0f : 0.0f;
        icol[j] = k > 0.0f ? 1.0f / k : 0.0f;
    }
}

/* ---------------------------------------------------------------------------
 * Normalisation.
 * ------------------------------------------------------------------------- */
__kernel void infonce_normalize(__global const float* x, __global float* xhat,
                                __global float* norms, const int rows, const int D,
                                const float eps, const int normalize)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    __global const float* xr = x + (size_t)row * D;
    __global float* yr = xhat + (size_t)row * D;
    const int nv = D / 16;
    float16 a = (float16)(0.0f);
    for (int v = 0; v < nv; ++v) { const float16 t = vload16(v, xr); a = fma(t, t, a); }
    float s = hsum16(a);
    for (int d = nv * 16; d < D; ++d) s = fma(xr[d], xr[d], s);
    const float nrm = sqrt(s);
    norms[row] = nrm;
    const float den = normalize ? fmax(nrm, eps) : 1.0f;
    for (int v = 0; v < nv; ++v) vstore16(vload16(v, xr) / den, v, yr);
    for (int d = nv * 16; d < D; ++d) yr[d] = xr[d] / den;
}

__kernel void infonce_normalize_backward(__global const float* x, __global const float* norms,
                                         __global const float* grad_xhat, __global float* grad_x,
                                         const int rows, const int D, const float eps,
                                         const int normalize)
{
    const int row = get_global_id(0);
    if (row >= rows) return;
    __global const float* xr = x + (size_t)row * D;
    __global const float* gr = grad_xhat + (size_t)row * D;
    __global float* outr = grad_x + (size_t)row * D;
    const int nv = D / 16;
    const float nrm = norms[row];
    if (!normalize) {
        for (int v = 0; v < nv; ++v) vstore16(vload16(v, gr), v, outr);
        for (int d = nv * 16; d < D; ++d) outr[d] = gr[d];
        return;
    }
    if (!(nrm > eps)) {
        const float inv = 1.0f / eps;
        for (int v = 0; v < nv; ++v) vstore16(vload16(v, gr) / eps, v, outr);
        for (int d = nv * 16; d < D; ++d) outr[d] = gr[d] / eps;
        return;
    }
    /* xhat = x / nrm (as in the forward), c = xhat . g */
    float16 a = (float16)(0.0f);
    for (int v = 0; v < nv; ++v) a = fma(vload16(v, xr) / nrm, vload16(v, gr), a);
    float c = hsum16(a);
    for (int d = nv * 16; d < D; ++d) c = fma(xr[d] / nrm, gr[d], c);
    for (int v = 0; v < nv; ++v)
        vstore16((vload16(v, gr) - (vload16(v, xr) / nrm) * c) / nrm, v, outr);
    for (int d = nv * 16; d < D; ++d) outr[d] = (gr[d] - (xr[d] / nrm) * c) / nrm;
}

/* ---------------------------------------------------------------------------
 * CPU style row kernels.
 * ------------------------------------------------------------------------- */
__kernel void infonce_row_stats(__global const float* xhat, __global const float* yhat,
                                __global const float* labels_x, __global const float* labels_y,
                                __global const float* soft_targets,
                                __global float* row_lse, __global float* row_target_dot,
                                __global float* row_target_mass,
                                const int G, const int R, const int C, const int D,
                                const float scale, const int target_kind,
                                const int transpose_targets)
{
    const int rb0 = get_global_id(0) * (NCE_VW * NCE_RB);
    const int g = get_global_id(1);
    if (rb0 >= R || g >= G) return;
    const int np = min(NCE_RB, (R - rb0 + NCE_VW - 1) / NCE_VW);   /* panels of 16 rows */
    __global const float* Y = yhat + (size_t)g * C * D;

    __private float Xt[NCE_RB * NCE_DMAX * NCE_VW];                /* panel p at p*D*16 */
    __private float St[NCE_PAD(NCE_BK) * NCE_VW];
    float16 Mx[NCE_RB], Ls[NCE_RB], Dt[NCE_RB], Ms[NCE_RB], Lab[NCE_RB], Cnt[NCE_RB];
    float sink = 0.0f;
    for (int p = 0; p < np; ++p) {
        const int r0 = rb0 + p * NCE_VW, nr = min(NCE_VW, R - r0);
        load_transposed16(Xt + p * D * NCE_VW, xhat + ((size_t)g * R + r0) * D, nr, D, D);
        Mx[p] = (float16)(-INFINITY);
        Ls[p] = Dt[p] = Ms[p] = Lab[p] = Cnt[p] = (float16)(0.0f);
        if (target_kind == 1) nce_label_rows(labels_x, labels_y, r0, nr, C, &Lab[p], &Cnt[p]);
    }
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

    for (int kb = 0; kb < C; kb += NCE_BK) {
        const int nk = min(NCE_BK, C - kb);
        sink += nce_touch(Y + (size_t)kb * D, nk * D);
        for (int p = 0; p < np; ++p) {
            const int r0 = rb0 + p * NCE_VW, nr = min(NCE_VW, R - r0);
            nce_mk(St, nk, Xt + p * D * NCE_VW, D, Y + (size_t)kb * D, D, 1, 0);
            float16 mx = (float16)(-INFINITY);
            for (int j = 0; j < nk; ++j) {
                const float16 s = scale * vload16(j, St);
                vstore16(s, j, St);
                mx = fmax(mx, s);
            }
            const float16 m = Mx[p];
            const float16 mnew = fmax(m, mx);                /* finite: S is finite */
            const float16 alpha = exp_nonpos16(m - mnew);  /* first block: exp(-inf) = 0 */
            float16 ls = (float16)(0.0f);
            for (int j = 0; j < nk; ++j) ls += exp_nonpos16(vload16(j, St) - mnew);
            Ls[p] = fma(Ls[p], alpha, ls);
            Mx[p] = mnew;
            float16 dot = Dt[p];
            if (target_kind == 0) {
                if (kb < r0 + nr && kb + nk > r0) {
                    const int16 row = lane + (int16)(r0);
                    for (int j = 0; j < nk; ++j)
                        dot += select((float16)(0.0f), vload16(j, St), row == (int16)(kb + j));
                }
            } else if (target_kind == 1) {
                const float16 lab = Lab[p];
                for (int j = 0; j < nk; ++j)
                    dot += select((float16)(0.0f), vload16(j, St), lab == (float16)(labels_y[kb + j]));
            } else {
                float16 mass = Ms[p];
                for (int j = 0; j < nk; ++j) {
                    const float16 t = nce_soft16(soft_targets, kb + j, r0, nr, R, C, transpose_targets);
                    dot = fma(t, vload16(j, St), dot);
                    mass += t;
                }
                Ms[p] = mass;
            }
            Dt[p] = dot;
        }
    }
    { volatile float keep = sink; (void)keep; }   /* keeps the nce_touch loads */

    for (int p = 0; p < np; ++p) {
        const int r0 = rb0 + p * NCE_VW, nr = min(NCE_VW, R - r0);
        float16 dot = Dt[p], mass = Ms[p];
        if (target_kind == 0) {
            mass = select((float16)(0.0f), (float16)(1.0f), lane + (int16)(r0) < (int16)(C));
        } else if (target_kind == 1) {
            const int16 has = Cnt[p] > (float16)(0.0f);
            dot = select((float16)(0.0f), dot / Cnt[p], has);
            mass = select((float16)(0.0f), (float16)(1.0f), has);
        }
        float ml[NCE_VW], ll[NCE_VW], dl[NCE_VW], sl[NCE_VW];
        vstore16(Mx[p], 0, ml); vstore16(Ls[p], 0, ll); vstore16(dot, 0, dl); vstore16(mass, 0, sl);
        const size_t o = (size_t)g * R + r0;
        for (int r = 0; r < nr; ++r) {
            row_lse[o + r] = ml[r] + log(ll[r]);
            row_target_dot[o + r] = dl[r];
            row_target_mass[o + r] = sl[r];
        }
    }
}

__kernel void infonce_backward_rows(__global const float* xhat, __global const float* yhat,
                                    __global const float* labels_x, __global const float* labels_y,
                                    __global const float* soft_targets,
                                    __global const float* row_lse,
                                    __global const float* row_target_mass,
                                    __global const float* col_lse,
                                    __global const float* col_target_mass,
                                    __global float* grad_xhat, __global float* grad_scale_partial,
                                    const int G, const int R, const int C, const int D,
                                    const float scale, const int target_kind,
                                    const int transpose_targets,
                                    const float row_coefficient, const float col_coefficient)
{
    const int rb0 = get_global_id(0) * (NCE_VW * NCE_RB);
    const int g = get_global_id(1);
    if (rb0 >= R || g >= G) return;
    const int np = min(NCE_RB, (R - rb0 + NCE_VW - 1) / NCE_VW);
    __global const float* Y = yhat + (size_t)g * C * D;
    const int use_row = row_coefficient != 0.0f;
    const int use_col = col_coefficient != 0.0f;
    __global const float* CL = col_lse + (use_col ? (size_t)g * C : 0);
    __global const float* CM = col_target_mass + (use_col ? (size_t)g * C : 0);
    const int DP = NCE_PAD(D);

    __private float Xt[NCE_RB * NCE_DMAX * NCE_VW];                /* panel p at p*D*16 */
    __private float Gt[NCE_RB * NCE_PAD(NCE_DMAX) * NCE_VW];       /* panel p at p*DP*16 */
    __private float St[NCE_PAD(NCE_BK) * NCE_VW];
    float16 L16[NCE_RB], M16[NCE_RB], Lab[NCE_RB], Inv[NCE_RB], Gs[NCE_RB];
    float sink = 0.0f;
    for (int p = 0; p < np; ++p) {
        const int r0 = rb0 + p * NCE_VW, nr = min(NCE_VW, R - r0);
        load_transposed16(Xt + p * D * NCE_VW, xhat + ((size_t)g * R + r0) * D, nr, D, D);
        for (int c = 0; c < DP; ++c) vstore16((float16)(0.0f), c, Gt + p * DP * NCE_VW);
        L16[p] = M16[p] = Lab[p] = Inv[p] = Gs[p] = (float16)(0.0f);
        if (target_kind == 1) {
            float16 cnt;
            nce_label_rows(labels_x, labels_y, r0, nr, C, &Lab[p], &cnt);
            Inv[p] = select((float16)(0.0f), (float16)(1.0f) / cnt, cnt > (float16)(0.0f));
        }
        if (use_row) {
            float a[NCE_VW], b[NCE_VW];
            for (int l = 0; l < NCE_VW; ++l) {
                const size_t i = (size_t)g * R + r0 + min(l, nr - 1);
                a[l] = row_lse[i];
                b[l] = row_target_mass[i];
            }
            L16[p] = vload16(0, a);
            M16[p] = vload16(0, b) * row_coefficient;   /* rc * mass_r */
        }
    }
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    /* kind 1, column term: the other direction's target of (c, r) is
     * [match] / n'_c with n'_c = #{r': labels_x[r'] == labels_y[c]} (not t_rc) */
    const int colcnt = target_kind == 1 && use_col;
    float icol[NCE_BK];
    const float16 RC = (float16)(row_coefficient), CC = (float16)(col_coefficient);
    const float16 TC = (float16)(row_coefficient + col_coefficient);  /* t enters both terms */

    for (int kb = 0; kb < C; kb += NCE_BK) {
        const int nk = min(NCE_BK, C - kb);
        sink += nce_touch(Y + (size_t)kb * D, nk * D);
        if (colcnt) nce_col_inv(icol, labels_x, labels_y + kb, nk, R);
        for (int p = 0; p < np; ++p) {
            const int r0 = rb0 + p * NCE_VW, nr = min(NCE_VW, R - r0);
            nce_mk(St, nk, Xt + p * D * NCE_VW, D, Y + (size_t)kb * D, D, 1, 0);
            const int diag = target_kind == 0 && kb < r0 + nr && kb + nk > r0;
            const int16 row = lane + (int16)(r0);
            const float16 Lp = L16[p], Mp = M16[p], lab = Lab[p], inv = Inv[p];
            float16 gs = Gs[p];
            for (int j = 0; j < nk; ++j) {
                const int c = kb + j;
                const float16 raw = vload16(j, St);
                const float16 s = scale * raw;
                float16 t;
                if (target_kind == 0)
                    t = diag ? select((float16)(0.0f), (float16)(1.0f), row == (int16)(c)) : (float16)(0.0f);
                else if (target_kind == 1)
                    t = select((float16)(0.0f), inv, lab == (float16)(labels_y[c]));
                else
                    t = nce_soft16(soft_targets, c, r0, nr, R, C, transpose_targets);
                float16 ds = -TC * t;
                if (colcnt) ds = fma(-CC, select((float16)(0.0f), (float16)(icol[j]), t != (float16)(0.0f)), -RC * t);
                if (use_row) ds = fma(Mp, exp_nonpos16(s - Lp), ds);
                if (use_col) ds = fma((float16)(col_coefficient * CM[c]),
                                      exp_nonpos16(s - (float16)(CL[c])), ds);
                gs = fma(ds, raw, gs);
                vstore16(ds, j, St);
            }
            Gs[p] = gs;
            nce_mk(Gt + p * DP * NCE_VW, D, St, nk, Y + (size_t)kb * D, 1, D, 1);
        }
    }
    { volatile float keep = sink; (void)keep; }   /* keeps the nce_touch loads */

    for (int p = 0; p < np; ++p) {
        const int r0 = rb0 + p * NCE_VW, nr = min(NCE_VW, R - r0);
        float gl[NCE_VW];
        vstore16(Gs[p], 0, gl);
        __global float* GX = grad_xhat + ((size_t)g * R + r0) * D;
        __private const float* Gp = Gt + p * DP * NCE_VW;
        for (int r = 0; r < nr; ++r) {
            for (int c = 0; c < D; ++c) GX[(size_t)r * D + c] = scale * Gp[c * NCE_VW + r];
            grad_scale_partial[(size_t)g * R + r0 + r] = gl[r];
        }
    }
}

__kernel void infonce_logits(__global const float* xhat, __global const float* yhat,
                             __global float* logits, const int G, const int R, const int C,
                             const int D, const float scale)
{
    const int r0 = get_global_id(0) * NCE_VW;
    const int g = get_global_id(1);
    if (r0 >= R || g >= G) return;
    const int nr = min(NCE_VW, R - r0);
    __global const float* Y = yhat + (size_t)g * C * D;
    __private float Xt[NCE_DMAX * NCE_VW];
    __private float St[NCE_PAD(NCE_BK) * NCE_VW];
    float sink = 0.0f;
    load_transposed16(Xt, xhat + ((size_t)g * R + r0) * D, nr, D, D);
    __global float* Lg = logits + ((size_t)g * R + r0) * C;
    for (int kb = 0; kb < C; kb += NCE_BK) {
        const int nk = min(NCE_BK, C - kb);
        sink += nce_touch(Y + (size_t)kb * D, nk * D);
        nce_mk(St, nk, Xt, D, Y + (size_t)kb * D, D, 1, 0);
        for (int r = 0; r < nr; ++r)
            for (int j = 0; j < nk; ++j) Lg[(size_t)r * C + kb + j] = scale * St[j * NCE_VW + r];
    }
    { volatile float keep = sink; (void)keep; }   /* keeps the nce_touch loads */
}

/* ---------------------------------------------------------------------------
 * Mutual-information bounds.
 * ------------------------------------------------------------------------- */
static inline float nce_softplus(const float x)
{
    return fmax(x, 0.0f) + log1p(exp(-fabs(x)));
}

static inline float nce_sigmoid(const float x)
{
    const float e = exp(-fabs(x));               /* <= 1 */
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

__kernel void mutual_information_forward(__global const float* F, __global float* bound,
                               __global float* stats, const int G, const int N,
                               const int estimator)
{
    const int g = get_global_id(0);
    if (g >= G) return;
    __global const float* A = F + (size_t)g * N * N;
    float diag = 0.0f, res = NAN, s0 = 0.0f, s1 = 0.0f;
    if (estimator == 0) {
        float lsum = 0.0f;
        for (int i = 0; i < N; ++i) {
            __global const float* a = A + (size_t)i * N;
            float m = -INFINITY;
            for (int k = 0; k < N; ++k) m = fmax(m, a[k]);
            float s = 0.0f;
            for (int k = 0; k < N; ++k) s += exp(a[k] - m);
            lsum += m + log(s);
            diag += a[i];
        }
        res = (diag - lsum) / N + log((float)N);
    } else if (estimator == 1 && N >= 2) {
        float m = -INFINITY;
        for (int i = 0; i < N; ++i)
            for (int k = 0; k < N; ++k)
                if (k != i) m = fmax(m, A[(size_t)i * N + k]);
        float s = 0.0f;
        for (int i = 0; i < N; ++i) {
            diag += A[(size_t)i * N + i];
            for (int k = 0; k < N; ++k)
                if (k != i) s += exp(A[(size_t)i * N + k] - m);
        }
        s0 = m;
        s1 = s;
        res = diag / N - (m + log(s) - log((float)N * (float)(N - 1)));
    } else if (estimator == 2 && N >= 2) {
        float off = 0.0f;
        for (int i = 0; i < N; ++i)
            for (int k = 0; k < N; ++k) {
                const float f = A[(size_t)i * N + k];
                if (k == i) diag -= nce_softplus(-f);
                else off += nce_softplus(f);
            }
        res = diag / N - off / ((float)N * (float)(N - 1));
    }
    bound[g] = res;
    stats[2 * (size_t)g] = s0;
    stats[2 * (size_t)g + 1] = s1;
}

__kernel void mutual_information_backward(__global const float* F, __global const float* stats,
                                __global const float* grad_bound, __global float* grad_F,
                                const int G, const int N, const int estimator)
{
    const size_t id = get_global_id(0);
    if (id >= (size_t)G * N) return;
    const int g = id / N, i = id - (size_t)g * N;
    __global const float* a = F + id * N;
    __global float* o = grad_F + id * N;
    const float gb = grad_bound[g];
    if (estimator == 0) {
        float m = -INFINITY;
        for (int k = 0; k < N; ++k) m = fmax(m, a[k]);
        float s = 0.0f;
        for (int k = 0; k < N; ++k) s += exp(a[k] - m);
        const float w = gb / N;
        for (int k = 0; k < N; ++k)
            o[k] = w * ((k == i ? 1.0f : 0.0f) - exp(a[k] - m) / s);
    } else if (estimator == 1 && N >= 2) {
        const float m = stats[2 * (size_t)g], s = stats[2 * (size_t)g + 1];
        for (int k = 0; k < N; ++k)
            o[k] = (k == i) ? gb / N : -gb * (exp(a[k] - m) / s);
    } else if (estimator == 2 && N >= 2) {
        const float wd = gb / N, wo = gb / ((float)N * (float)(N - 1));
        for (int k = 0; k < N; ++k)
            o[k] = (k == i) ? wd * nce_sigmoid(-a[k]) : -wo * nce_sigmoid(a[k]);
    } else {
        for (int k = 0; k < N; ++k) o[k] = 0.0f;
    }
}
