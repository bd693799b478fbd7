/*
 * infonce_gpu.cl -- GPU-class InfoNCE tile kernels (normalise, row statistics, backward,
 * logits), float32, for AlignCL. Maths, layouts, target kinds and call order are those of
 * infonce.cl (tile path); every kernel is `<cpu name>_gpu` with the CPU kernel's argument list
 * and no scratch buffers. The chunked path and the mutual-information bounds are in
 * infonce_chunks_gpu.cl.
 * Build (host): common.cl + "\n" + infonce_gpu_common.cl + "\n#line 1\n" + this file,
 *   options "-w -D NCG_...=..." (the tunables below; an unset one takes its default).
 * Let ceil(a,b) = (a+b-1)/b, up(a,b) = ceil(a,b)*b, f = sizeof(float) = 4.
 *
 * Tunables (defaults fit 32 KiB / 256 work-items):                                  default
 *   NCG_TX, NCG_TY  tile work-group TX x TY work-items, TX*TY <= 1024                 16, 16
 *   NCG_WM, NCG_WN  register tile per work-item, rows x columns, 1..8                 4, 4
 *                   -> BM = TY*WM rows x BN = TX*WN columns per work-group tile (64 x 64)
 *   NCG_DK          D slice staged in __local, multiple of 4                           16
 *   NCG_CK          y rows staged per step of the backward's dS.Y product, >= 1       4
 *   NCG_DMAX        largest D backward_rows accepts (sizes its gradient registers,
 *                   WM*GD floats, GD = ceil(DMAX, TX), GW = GD*TX; build it near the
 *                   real D, e.g. up(D, 64); a DMAX far above D only costs registers)  512
 *   NCG_RL, NCG_RR  normalize kernels: RL lanes per row x RR rows, powers of 2,
 *                   RL*RR <= 1024 (defined in infonce_gpu_common.cl)                   32, 8
 * Host choice: TX*TY and RL*RR <= CL_DEVICE_MAX_WORK_GROUP_SIZE, and every __local formula
 * below <= CL_DEVICE_LOCAL_MEM_SIZE minus ~2 KB. 32 KiB / 256: the defaults with DMAX =
 * up(D, 64) (backward 25.0 KB at DMAX = 512; for D > 512 use the chunked path, whose GEMM has
 * no D limit). >= 48 KiB: also DK = 32, CK = 8 (backward 33.3 KB). Keep TX*TY = 256 on
 * 1024-work-item GPUs (a larger tile overflows __local, a thinner one costs __local loads);
 * take TY = 8 when ceil(R, 64)*G < 2 * CL_DEVICE_MAX_COMPUTE_UNITS. RL = 32 (64 on AMD
 * wave64), RR = 256 / RL; RL = 16 when D <= 64.
 *
 * Tile kernels. S = scale * xhat . yhat as one fma chain over d = 0..D-1 from 0, then *scale,
 * in every kernel: S of row_stats, backward_rows and logits is bitwise identical, and S_rc of
 * one direction equals S_cr of the other; the stats fed to backward_rows_gpu must come from
 * row_stats_gpu. Work-item (tx, ty) owns rows rbase+ty+TY*i (i<WM) and columns cb+tx+TX*j
 * (j<WN): x slice reads are broadcasts, y slice reads consecutive words (no bank conflicts).
 * Both operands are staged d-major ([DK][BM+1], [DK][BN+1]) by coalesced float4 row reads;
 * the D loop runs ceil(D, DK) slices (tail zero-filled). Rows/columns past R/C are clamped for
 * loads and masked for results. G groups along dimension 2; no scratch buffers anywhere.
 *  infonce_row_stats_gpu(const float* xhat, const float* yhat, const float* labels_x,
 *      const float* labels_y, const float* soft_targets, float* row_lse,
 *      float* row_target_dot, float* row_target_mass, int G, int R, int C, int D,
 *      float scale, int target_kind, int transpose_targets)       -- as infonce_row_stats
 *    global (TX, ceil(R, BM)*TY, G), local (TX, TY, 1); any D.
 *    __local f*max(DK*(BM+BN+2), BM*(BN+1), 4*BM*TX)  (default 16.6 KB).
 *    Online log-sum-exp per (row, work-item) over its columns, merged over the TX lanes in
 *    lane order. Kind 1 counts n_r during the sweep; kind 2 stages the BM x BN target tile
 *    through __local (coalesced in either orientation).
 *  infonce_backward_rows_gpu(const float* xhat, const float* yhat, const float* labels_x,
 *      const float* labels_y, const float* soft_targets, const float* row_lse,
 *      const float* row_target_mass, const float* col_lse, const float* col_target_mass,
 *      float* grad_xhat, float* grad_scale_partial, int G, int R, int C, int D, float scale,
 *      int target_kind, int transpose_targets, float row_coefficient,
 *      float col_coefficient)                                      -- as infonce_backward_rows
 *    global (TX, ceil(R, BM)*TY, G), local (TX, TY, 1); needs D <= DMAX.
 *    __local f*(BM*(BN+1) + max(DK*(BM+BN+2), CK*GW, TY*BN, BM*TX))  (default 25.0 KB).
 *    Per column tile: S tile in registers -> dS tile (written over the staged targets) ->
 *    grad[BM][D] += dS . Y_tile with y staged CK rows x GW at a time; the gradient stays in
 *    registers (WM x GD per work-item, d = tx + TX*k). Kind 1 with col_coefficient != 0 counts
 *    n'_c = #{r: labels_x[r] == labels_y[c]} per tile in-kernel (R*BN compares per tile).
 *  infonce_logits_gpu(const float* xhat, const float* yhat, float* logits, int G, int R,
 *      int C, int D, float scale)                                  -- as infonce_logits
 *    global (ceil(C, BN)*TX, ceil(R, BM)*TY, G), local (TX, TY, 1); any D.
 *    __local f*DK*(BM+BN+2)  (default 8.3 KB).
 *
 * Row kernels: a work-group = RR rows x RL lanes; lanes stride float4s of a row (vload4 at any
 * alignment, tails scalar); the row's sum is a tree over its RL lanes in __local (fixed order).
 *  infonce_normalize_gpu(const float* x, float* xhat, float* norms, int rows, int D,
 *      float eps, int normalize)                                   -- as infonce_normalize
 *  infonce_normalize_backward_gpu(const float* x, const float* norms, const float* grad_xhat,
 *      float* grad_x, int rows, int D, float eps, int normalize)
 *                                               -- as infonce_normalize_backward
 *    both: global (RL, up(rows, RR)), local (RL, RR); __local f*RL*RR  (default 1 KB).
 *
 * Numerics: online max-subtracted log-sum-exp (exp arguments <= 0; the backward's clamped at
 * 0), library exp/log, no float atomics, no `/` whose rounding matters (reciprocals multiply);
 * results agree with the CPU kernels to float32 rounding, not bits.
 * Rules: no early return; every barrier is unconditional, even where its condition would be
 * uniform (PoCL 3.1 miscompiled a barrier under a uniform `if` inside a loop: a lane-0-only
 * update ran on every lane), only the work around it is conditional; loops holding barriers
 * have work-group-uniform trip counts.
 *
 * Cost, NVIDIA H100 (60 TFLOP/s FP32, 3 TB/s; per SM 228 KB smem, 64K registers, 4 FFMA but
 * 1 shared-memory load warp-instruction per clock; 132 SMs):
 *  row_stats / logits: 2*BM*BN*DK FMAs per (BM+BN)*DK staged floats; __local loads per FMA
 *    (WM+WN)/(WM*WN) = 0.5 (x reads broadcast); global bytes per score 4*D*(1/BM+1/BN) from
 *    L2 (32 B at D=256; logits also writes 4 B). ~40 registers, 16.6 KB -> 4+ groups/SM. The
 *    load:FMA issue ratio caps it at ~50 % of peak; estimate 30-45 % for large R*C (2 barriers
 *    per DK slice, one exp per score). ceil(R, BM)*G < 2*132 groups under-fills the GPU
 *    (R = 4096, G = 1: 64 groups -> build TY = 8 for 128).
 *  backward_rows: the S tile as above, plus dS.Y with (WM+GD')/(WM*GD') __local loads per FMA,
 *    GD' = ceil(D, TX) (0.31 at D=256, 0.28 at 512); global bytes per score
 *    4*D*(1/BM + 2/BN); registers ~WM*GD+40 (168 at DMAX=512, 104 at 256) -> 1-2 groups/SM,
 *    8-16 warps, little latency hiding. Estimate 20-35 % of peak.
 *  normalize: reads D floats (second pass from cache) and writes D: 8 B per element;
 *    normalize_backward 12 B per element (x, grad_xhat, grad_x). Memory bound, 60-80 % of
 *    3 TB/s once ceil(rows, RR) >= ~4*132 groups; __local traffic only in the row reduction.
 *  Whole InfoNCE, symmetric fwd+bwd, N=M=4096, D=256, G=1: 2 row_stats (2*2N^2D = 17.2 GFLOP)
 *    + 2 backward_rows (4*2N^2D = 34.4 GFLOP) = 51.5 GFLOP at 25-35 % (15-21 TFLOP/s) ->
 *    2.5-3.5 ms with TY=8 (128 groups), ~4-5 ms at the defaults (64 groups); normalize ~10 us.
 *    The chunked path (infonce_chunks_gpu.cl + gemm_gpu) is ~1.2-1.5 ms there: prefer chunks
 *    for N*M >= 2^22 on GPUs.
 */

#ifndef NCG_GPU_COMMON
#error "build as common.cl + infonce_gpu_common.cl + infonce_gpu.cl (see the header)"
#endif

#ifndef NCG_TX
#define NCG_TX 16
#endif
#ifndef NCG_TY
#define NCG_TY 16
#endif
#ifndef NCG_WM
#define NCG_WM 4
#endif
#ifndef NCG_WN
#define NCG_WN 4
#endif
#ifndef NCG_DK
#define NCG_DK 16
#endif
#ifndef NCG_CK
#define NCG_CK 4
#endif
#ifndef NCG_DMAX
#define NCG_DMAX 512
#endif

#if NCG_TX < 1 || NCG_TY < 1 || NCG_TX * NCG_TY > 1024
#error "NCG_TX, NCG_TY >= 1 with NCG_TX * NCG_TY <= 1024"
#endif
#if NCG_WM < 1 || NCG_WM > 8 || NCG_WN < 1 || NCG_WN > 8
#error "NCG_WM, NCG_WN must be in 1..8"
#endif
#if NCG_DK < 4 || (NCG_DK % 4) != 0
#error "NCG_DK must be a positive multiple of 4"
#endif
#if NCG_CK < 1 || NCG_DMAX < 1
#error "NCG_CK, NCG_DMAX must be >= 1"
#endif

#define NCG_BM (NCG_TY * NCG_WM)
#define NCG_BN (NCG_TX * NCG_WN)
#define NCG_NT (NCG_TX * NCG_TY)
#define NCG_GD ((NCG_DMAX + NCG_TX - 1) / NCG_TX)
#define NCG_GW (NCG_GD * NCG_TX)
#define NCG_XS (NCG_BM + 1)        /* pitches of the d-major slices and of the target tile */
#define NCG_YS (NCG_BN + 1)
#define NCG_TS (NCG_BN + 1)
#define NCG_MX(a, b) ((a) > (b) ? (a) : (b))
#define NCG_SLICES (NCG_DK * (NCG_XS + NCG_YS))
#define NCG_FPOOL NCG_MX(NCG_SLICES, NCG_MX(NCG_BM * NCG_TS, 4 * NCG_BM * NCG_TX))
#define NCG_BPOOL NCG_MX(NCG_MX(NCG_SLICES, NCG_CK * NCG_GW), NCG_MX(NCG_TY * NCG_BN, NCG_BM * NCG_TX))

/* ---------------------------------------------------------------------------
 * Normalisation: a work-group = NCG_RR rows x NCG_RL lanes.
 * ------------------------------------------------------------------------- */
__kernel __attribute__((reqd_work_group_size(NCG_RL, NCG_RR, 1)))
void infonce_normalize_gpu(__global const float* x, __global float* xhat, __global float* norms,
                           const int rows, const int D, const float eps, const int normalize)
{
    __local float red[NCG_RT];
    const int l = get_local_id(0), b = get_local_id(1) * NCG_RL;
    const int row = get_global_id(1), live = row < rows;
    __global const float* p = x + (size_t)min(row, rows - 1) * D;
    float s = 0.0f;
    for (int c = 4 * l; live && c < D; c += 4 * NCG_RL) {
        const float4 v = ncg_load4(p, c, D, 0.0f);
        s = fma(v.x, v.x, s); s = fma(v.y, v.y, s); s = fma(v.z, v.z, s); s = fma(v.w, v.w, s);
    }
    s = ncg_tsum(red, b, l, NCG_RL, s);
    const float nrm = sqrt(s);
    const float inv = normalize ? 1.0f / fmax(nrm, eps) : 1.0f;
    if (live) {
        if (l == 0) norms[row] = nrm;
        __global float* o = xhat + (size_t)row * D;
        for (int c = 4 * l; c < D; c += 4 * NCG_RL) ncg_store4(ncg_load4(p, c, D, 0.0f) * inv, o, c, D);
    }
}

/* |x| > eps: (g - xhat (xhat.g)) / |x|, xhat = x / |x|; else g / eps; normalize == 0: copy */
__kernel __attribute__((reqd_work_group_size(NCG_RL, NCG_RR, 1)))
void infonce_normalize_backward_gpu(__global const float* x, __global const float* norms,
                                    __global const float* grad_xhat, __global float* grad_x,
                                    const int rows, const int D, const float eps,
                                    const int normalize)
{
    __local float red[NCG_RT];
    const int l = get_local_id(0), b = get_local_id(1) * NCG_RL;
    const int row = get_global_id(1), live = row < rows;
    const size_t off = (size_t)min(row, rows - 1) * D;
    __global const float* xr = x + off;
    __global const float* gr = grad_xhat + off;
    const float nrm = norms[min(row, rows - 1)];
    const int proj = normalize && nrm > eps;
    const float inv = proj ? 1.0f / nrm : (normalize ? 1.0f / eps : 1.0f);
    float c = 0.0f;
    for (int d = 4 * l; live && proj && d < D; d += 4 * NCG_RL) {
        const float4 xv = ncg_load4(xr, d, D, 0.0f) * inv, gv = ncg_load4(gr, d, D, 0.0f);
        c = fma(xv.x, gv.x, c); c = fma(xv.y, gv.y, c); c = fma(xv.z, gv.z, c); c = fma(xv.w, gv.w, c);
    }
    c = ncg_tsum(red, b, l, NCG_RL, c);
    if (live) {
        __global float* o = grad_x + (size_t)row * D;
        for (int d = 4 * l; d < D; d += 4 * NCG_RL) {
            const float4 gv = ncg_load4(gr, d, D, 0.0f);
            const float4 r = proj ? (gv - (ncg_load4(xr, d, D, 0.0f) * inv) * c) * inv : gv * inv;
            ncg_store4(r, o, d, D);
        }
    }
}

/* ---------------------------------------------------------------------------
 * Tile kernels.
 * ------------------------------------------------------------------------- */

/* dst[dd*pitch + r] = src[row0 + r (clamped to nvalid-1)][db + dd], 0 past D; r < nrows,
 * dd < NCG_DK. Consecutive work-items read consecutive float4s of a row. */
static inline void ncg_stage_slice(__local float* dst, const int pitch, const int nrows,
                                   __global const float* src, const int row0, const int nvalid,
                                   const int D, const int db)
{
    const int f = get_local_id(1) * NCG_TX + get_local_id(0);
    for (int e = f; e < nrows * (NCG_DK / 4); e += NCG_NT) {
        const int r = e / (NCG_DK / 4), q = e - r * (NCG_DK / 4);
        const float4 v = ncg_load4(src + (size_t)min(row0 + r, nvalid - 1) * D, db + 4 * q, D, 0.0f);
        __local float* o = dst + 4 * q * pitch + r;
        o[0] = v.x; o[pitch] = v.y; o[2 * pitch] = v.z; o[3 * pitch] = v.w;
    }
}

/* acc[i*WN + j] = xhat_{rbase+ty+TY*i} . yhat_{cb+tx+TX*j}: one fma chain over d from 0 (the
 * zero-filled tail adds +0). Starts and ends with a barrier-separated use of Xs/Ys. */
static inline __attribute__((always_inline))
void ncg_scores(__private float* acc, __local float* Xs, __local float* Ys,
                __global const float* X, const int R, const int rbase,
                __global const float* Y, const int C, const int cb, const int D)
{
    const int tx = get_local_id(0), ty = get_local_id(1);
    #pragma unroll
    for (int k = 0; k < NCG_WM * NCG_WN; ++k) acc[k] = 0.0f;
    for (int db = 0; db < D; db += NCG_DK) {
        ncg_stage_slice(Xs, NCG_XS, NCG_BM, X, rbase, R, D, db);
        ncg_stage_slice(Ys, NCG_YS, NCG_BN, Y, cb, C, D, db);
        barrier(CLK_LOCAL_MEM_FENCE);
        #pragma unroll
        for (int dd = 0; dd < NCG_DK; ++dd) {
            float a[NCG_WM], b[NCG_WN];
            #pragma unroll
            for (int i = 0; i < NCG_WM; ++i) a[i] = Xs[dd * NCG_XS + ty + NCG_TY * i];
            #pragma unroll
            for (int j = 0; j < NCG_WN; ++j) b[j] = Ys[dd * NCG_YS + tx + NCG_TX * j];
            #pragma unroll
            for (int i = 0; i < NCG_WM; ++i)
                #pragma unroll
                for (int j = 0; j < NCG_WN; ++j) acc[i * NCG_WN + j] = fma(a[i], b[j], acc[i * NCG_WN + j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* Ts[r*TS + c] = t_{rbase+r, cb+c} (clamped), coalesced along the matrix's contiguous axis */
static inline void ncg_stage_targets(__local float* Ts, __global const float* T, const int R,
                                     const int C, const int rbase, const int cb, const int transp)
{
    const int f = get_local_id(1) * NCG_TX + get_local_id(0);
    for (int e = f; e < NCG_BM * NCG_BN; e += NCG_NT) {
        int r, c;
        if (transp) { c = e / NCG_BM; r = e - c * NCG_BM; } else { r = e / NCG_BN; c = e - r * NCG_BN; }
        const size_t gr = min(rbase + r, R - 1), gc = min(cb + c, C - 1);
        Ts[r * NCG_TS + c] = transp ? T[gc * R + gr] : T[gr * C + gc];
    }
}

__kernel __attribute__((reqd_work_group_size(NCG_TX, NCG_TY, 1)))
void infonce_row_stats_gpu(__global const float* xhat, __global const float* yhat,
                           __global const float* labels_x, __global const float* labels_y,
                           __global const float* soft_targets,
                           __global float* row_lse, __global float* row_target_dot,
                           __global float* row_target_mass,
                           const int G, const int R, const int C, const int D,
                           const float scale, const int target_kind,
                           const int transpose_targets)
{
    __local float pool[NCG_FPOOL];
    const int tx = get_local_id(0), ty = get_local_id(1), f = ty * NCG_TX + tx;
    const int g = get_group_id(2), rbase = get_group_id(1) * NCG_BM;
    __global const float* X = xhat + (size_t)g * R * D;
    __global const float* Y = yhat + (size_t)g * C * D;
    float lab[NCG_WM], m[NCG_WM], l[NCG_WM], dt[NCG_WM], ms[NCG_WM];
    #pragma unroll
    for (int i = 0; i < NCG_WM; ++i) {
        lab[i] = target_kind == 1 ? labels_x[min(rbase + ty + NCG_TY * i, R - 1)] : 0.0f;
        m[i] = -INFINITY; l[i] = dt[i] = ms[i] = 0.0f;
    }
    for (int cb = 0; cb < C; cb += NCG_BN) {
        float acc[NCG_WM * NCG_WN];
        ncg_scores(acc, pool, pool + NCG_DK * NCG_XS, X, R, rbase, Y, C, cb, D);
        /* the target tile reuses the slices' __local; barriers unconditional (PoCL 3.1
         * miscompiles a barrier under a uniform `if` inside a loop) */
        if (target_kind == 2) ncg_stage_targets(pool, soft_targets, R, C, rbase, cb, transpose_targets);
        barrier(CLK_LOCAL_MEM_FENCE);
        float ly[NCG_WN];
        #pragma unroll
        for (int j = 0; j < NCG_WN; ++j)
            ly[j] = target_kind == 1 ? labels_y[min(cb + tx + NCG_TX * j, C - 1)] : 0.0f;
        #pragma unroll
        for (int i = 0; i < NCG_WM; ++i) {
            const int r = rbase + ty + NCG_TY * i;
            float s[NCG_WN], mx = -INFINITY;
            #pragma unroll
            for (int j = 0; j < NCG_WN; ++j) {
                s[j] = scale * acc[i * NCG_WN + j];
                if (cb + tx + NCG_TX * j < C) mx = fmax(mx, s[j]);
            }
            if (mx > -INFINITY) {
                const float M = fmax(m[i], mx);
                float add = 0.0f;
                #pragma unroll
                for (int j = 0; j < NCG_WN; ++j)
                    if (cb + tx + NCG_TX * j < C) add += exp(s[j] - M);
                l[i] = fma(l[i], exp(m[i] - M), add);
                m[i] = M;
            }
            #pragma unroll
            for (int j = 0; j < NCG_WN; ++j) {
                const int c = cb + tx + NCG_TX * j;
                if (c >= C) continue;
                if (target_kind == 0) {
                    if (r == c) dt[i] += s[j];
                } else if (target_kind == 1) {
                    if (ly[j] == lab[i]) { dt[i] += s[j]; ms[i] += 1.0f; }
                } else {
                    const float t = pool[(ty + NCG_TY * i) * NCG_TS + tx + NCG_TX * j];
                    dt[i] = fma(t, s[j], dt[i]);
                    ms[i] += t;
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    /* merge each row's TX lanes in lane order */
    __local float* Rm = pool;
    __local float* Rl = pool + NCG_BM * NCG_TX;
    __local float* Rd = pool + 2 * NCG_BM * NCG_TX;
    __local float* Rs = pool + 3 * NCG_BM * NCG_TX;
    #pragma unroll
    for (int i = 0; i < NCG_WM; ++i) {
        const int o = (ty + NCG_TY * i) * NCG_TX + tx;
        Rm[o] = m[i]; Rl[o] = l[i]; Rd[o] = dt[i]; Rs[o] = ms[i];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int rr = f; rr < NCG_BM; rr += NCG_NT) {
        const int row = rbase + rr;
        float M = -INFINITY, L = 0.0f, Dt = 0.0f, Ms = 0.0f;
        for (int k = 0; k < NCG_TX; ++k) {
            ncg_lse_merge(&M, &L, Rm[rr * NCG_TX + k], Rl[rr * NCG_TX + k]);
            Dt += Rd[rr * NCG_TX + k];
            Ms += Rs[rr * NCG_TX + k];
        }
        if (target_kind == 0) Ms = row < C ? 1.0f : 0.0f;
        else if (target_kind == 1) { Dt *= Ms > 0.0f ? 1.0f / Ms : 0.0f; Ms = Ms > 0.0f ? 1.0f : 0.0f; }
        if (row < R)
            ncg_store_stats(row_lse, row_target_dot, row_target_mass, (size_t)g * R + row, M, L, Dt, Ms);
    }
}

/* What the dS formula needs of row (column) k of group g, k clamped to n - 1 (its side has n
 * of them): its label (target kind 1), log-sum-exp and coefficient * target mass (when that
 * side's term is used), as (label, lse, coefficient * mass); 0 where not needed, unread. */
static inline float3 ncg_side_stats(__global const float* labels, __global const float* lse,
                                    __global const float* mass, const int g, const int n,
                                    const int k, const int target_kind, const int use,
                                    const float coefficient)
{
    const size_t c = min(k, n - 1);
    return (float3)(target_kind == 1 ? labels[c] : 0.0f,
                    use ? lse[(size_t)g * n + c] : 0.0f,
                    use ? coefficient * mass[(size_t)g * n + c] : 0.0f);
}

__kernel __attribute__((reqd_work_group_size(NCG_TX, NCG_TY, 1)))
void infonce_backward_rows_gpu(__global const float* xhat, __global const float* yhat,
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
    __local float dSs[NCG_BM * NCG_TS];     /* staged targets, then dS, of the column tile */
    __local float pool[NCG_BPOOL];          /* x/y slices, y rows, label counts, partials */
    const int tx = get_local_id(0), ty = get_local_id(1), f = ty * NCG_TX + tx;
    const int g = get_group_id(2), rbase = get_group_id(1) * NCG_BM;
    __global const float* X = xhat + (size_t)g * R * D;
    __global const float* Y = yhat + (size_t)g * C * D;
    const int use_row = row_coefficient != 0.0f, use_col = col_coefficient != 0.0f;
    const int colcnt = target_kind == 1 && use_col;
    const float TC = row_coefficient + col_coefficient;
    float lab[NCG_WM], inv[NCG_WM], Lr[NCG_WM], Mr[NCG_WM], gs[NCG_WM];
    #pragma unroll
    for (int i = 0; i < NCG_WM; ++i) {
        const float3 st = ncg_side_stats(labels_x, row_lse, row_target_mass, g, R,
                                         rbase + ty + NCG_TY * i, target_kind, use_row, row_coefficient);
        lab[i] = st.x; Lr[i] = st.y; Mr[i] = st.z;
        inv[i] = gs[i] = 0.0f;
    }
    {                         /* kind 1: n_r = #{c: labels_y[c] == labels_x[r]}, lanes tx (mod TX) */
        float n[NCG_WM];
        #pragma unroll
        for (int i = 0; i < NCG_WM; ++i) n[i] = 0.0f;
        for (int c = tx; target_kind == 1 && c < C; c += NCG_TX) {
            const float ly = labels_y[c];
            #pragma unroll
            for (int i = 0; i < NCG_WM; ++i) n[i] += ly == lab[i] ? 1.0f : 0.0f;
        }
        #pragma unroll
        for (int i = 0; i < NCG_WM; ++i) pool[(ty + NCG_TY * i) * NCG_TX + tx] = n[i];
        barrier(CLK_LOCAL_MEM_FENCE);
        #pragma unroll
        for (int i = 0; i < NCG_WM; ++i) {
            float t = 0.0f;
            for (int k = 0; k < NCG_TX; ++k) t += pool[(ty + NCG_TY * i) * NCG_TX + k];
            inv[i] = t > 0.0f ? 1.0f / t : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float gacc[NCG_WM * NCG_GD];
    #pragma unroll
    for (int k = 0; k < NCG_WM * NCG_GD; ++k) gacc[k] = 0.0f;

    for (int cb = 0; cb < C; cb += NCG_BN) {
        float ly[NCG_WN], icol[NCG_WN], cl[NCG_WN], cm[NCG_WN];
        #pragma unroll
        for (int j = 0; j < NCG_WN; ++j) {
            const float3 st = ncg_side_stats(labels_y, col_lse, col_target_mass, g, C,
                                             cb + tx + NCG_TX * j, target_kind, use_col, col_coefficient);
            ly[j] = st.x; cl[j] = st.y; cm[j] = st.z;
            icol[j] = 0.0f;
        }
        {                     /* colcnt: n'_c over rows ty (mod TY), summed over ty in order */
            float n[NCG_WN];
            #pragma unroll
            for (int j = 0; j < NCG_WN; ++j) n[j] = 0.0f;
            for (int r = ty; colcnt && r < R; r += NCG_TY) {
                const float lx = labels_x[r];
                #pragma unroll
                for (int j = 0; j < NCG_WN; ++j) n[j] += lx == ly[j] ? 1.0f : 0.0f;
            }
            #pragma unroll
            for (int j = 0; j < NCG_WN; ++j) pool[ty * NCG_BN + tx + NCG_TX * j] = n[j];
            barrier(CLK_LOCAL_MEM_FENCE);
            #pragma unroll
            for (int j = 0; j < NCG_WN; ++j) {
                float t = 0.0f;
                for (int q = 0; q < NCG_TY; ++q) t += pool[q * NCG_BN + tx + NCG_TX * j];
                icol[j] = t > 0.0f ? 1.0f / t : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        /* dSs was last read before the previous tile's final barrier; ncg_scores' first
         * barrier publishes the staged targets */
        if (target_kind == 2) ncg_stage_targets(dSs, soft_targets, R, C, rbase, cb, transpose_targets);
        float acc[NCG_WM * NCG_WN];
        ncg_scores(acc, pool, pool + NCG_DK * NCG_XS, X, R, rbase, Y, C, cb, D);
        #pragma unroll
        for (int i = 0; i < NCG_WM; ++i) {
            const int r = rbase + ty + NCG_TY * i;
            #pragma unroll
            for (int j = 0; j < NCG_WN; ++j) {
                const int c = cb + tx + NCG_TX * j;
                __local float* cell = dSs + (ty + NCG_TY * i) * NCG_TS + tx + NCG_TX * j;
                const float raw = acc[i * NCG_WN + j], s = scale * raw;
                const int match = ly[j] == lab[i];
                const float t = target_kind == 0 ? (r == c ? 1.0f : 0.0f)
                              : target_kind == 1 ? (match ? inv[i] : 0.0f) : *cell;
                float ds = colcnt ? -row_coefficient * t - col_coefficient * (match ? icol[j] : 0.0f)
                                  : -TC * t;
                if (use_row) ds = fma(Mr[i], exp(fmin(s - Lr[i], 0.0f)), ds);
                if (use_col) ds = fma(cm[j], exp(fmin(s - cl[j], 0.0f)), ds);
                ds = c < C ? ds : 0.0f;
                gs[i] = fma(ds, raw, gs[i]);
                *cell = ds;      /* the cell this work-item alone read */
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        /* grad[r][d] += sum_c dS[r][c] y_c[d], d = tx + TX*k; y rows staged CK at a time */
        const int dw = min(((D + NCG_TX - 1) / NCG_TX) * NCG_TX, NCG_GW);
        for (int c0 = 0; c0 < NCG_BN; c0 += NCG_CK) {
            for (int e = f; e < NCG_CK * ((dw + 3) / 4); e += NCG_NT) {
                const int c = e / ((dw + 3) / 4), q = e - c * ((dw + 3) / 4);
                const int yc = cb + c0 + c;
                const float4 v = (yc < C && c0 + c < NCG_BN)
                               ? ncg_load4(Y + (size_t)yc * D, 4 * q, D, 0.0f) : (float4)(0.0f);
                __local float* o = pool + c * NCG_GW + 4 * q;
                o[0] = v.x;
                if (4 * q + 1 < NCG_GW) o[1] = v.y;
                if (4 * q + 2 < NCG_GW) o[2] = v.z;
                if (4 * q + 3 < NCG_GW) o[3] = v.w;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            #pragma unroll
            for (int c = 0; c < NCG_CK; ++c) {
                if (c0 + c < NCG_BN) {
                    float a[NCG_WM];
                    #pragma unroll
                    for (int i = 0; i < NCG_WM; ++i) a[i] = dSs[(ty + NCG_TY * i) * NCG_TS + c0 + c];
                    #pragma unroll
                    for (int k = 0; k < NCG_GD; ++k) {
                        if (k * NCG_TX < D) {
                            const float y = pool[c * NCG_GW + tx + NCG_TX * k];
                            #pragma unroll
                            for (int i = 0; i < NCG_WM; ++i)
                                gacc[i * NCG_GD + k] = fma(a[i], y, gacc[i * NCG_GD + k]);
                        }
                    }
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
    #pragma unroll
    for (int i = 0; i < NCG_WM; ++i) {
        const int row = rbase + ty + NCG_TY * i;
        if (row < R) {
            __global float* o = grad_xhat + ((size_t)g * R + row) * D;
            #pragma unroll
            for (int k = 0; k < NCG_GD; ++k)
                if (tx + NCG_TX * k < D) o[tx + NCG_TX * k] = scale * gacc[i * NCG_GD + k];
        }
        pool[(ty + NCG_TY * i) * NCG_TX + tx] = gs[i];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int rr = f; rr < NCG_BM; rr += NCG_NT) {
        float t = 0.0f;
        for (int k = 0; k < NCG_TX; ++k) t += pool[rr * NCG_TX + k];
        if (rbase + rr < R) grad_scale_partial[(size_t)g * R + rbase + rr] = t;
    }
}

__kernel __attribute__((reqd_work_group_size(NCG_TX, NCG_TY, 1)))
void infonce_logits_gpu(__global const float* xhat, __global const float* yhat,
                        __global float* logits, const int G, const int R, const int C,
                        const int D, const float scale)
{
    __local float pool[NCG_SLICES];
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int cb = get_group_id(0) * NCG_BN, rbase = get_group_id(1) * NCG_BM, g = get_group_id(2);
    float acc[NCG_WM * NCG_WN];
    ncg_scores(acc, pool, pool + NCG_DK * NCG_XS, xhat + (size_t)g * R * D, R, rbase,
               yhat + (size_t)g * C * D, C, cb, D);
    #pragma unroll
    for (int i = 0; i < NCG_WM; ++i) {
        const int r = rbase + ty + NCG_TY * i;
        #pragma unroll
        for (int j = 0; j < NCG_WN; ++j) {
            const int c = cb + tx + NCG_TX * j;
            if (r < R && c < C) logits[((size_t)g * R + r) * C + c] = scale * acc[i * NCG_WN + j];
        }
    }
}

