/*
 * infonce_gpu_common.cl -- helpers shared by infonce_gpu.cl (tile kernels) and
 * infonce_chunks_gpu.cl (chunk and mutual-information kernels); not a program of its own.
 * Host build of each of those two programs:
 *   source  = common.cl + "\n" + infonce_gpu_common.cl + "\n#line 1\n" + <file>.cl
 *   options = "-w -D NCG_...=..." (the file's tunables)
 * (build logs then keep <file>.cl's own line numbers). Only static inline functions,
 * NCG_GPU_COMMON, which both files check for, so a build without this file stops with a
 * clear #error, and the one tunable both files have: NCG_RL x NCG_RR, the work-group of their
 * row kernels (documented in each file's header; default 32 x 8, checked here), NCG_RT its
 * size. Deterministic: every reduction here has a fixed order.
 */
#ifndef NCG_GPU_COMMON
#define NCG_GPU_COMMON 1

#ifndef NCG_RL
#define NCG_RL 32
#endif
#ifndef NCG_RR
#define NCG_RR 8
#endif
#if NCG_RL < 1 || NCG_RR < 1 || (NCG_RL & (NCG_RL - 1)) != 0 || (NCG_RR & (NCG_RR - 1)) != 0 || NCG_RL * NCG_RR > 1024
#error "NCG_RL, NCG_RR must be powers of 2 with NCG_RL * NCG_RR <= 1024"
#endif
#define NCG_RT (NCG_RL * NCG_RR)

/* 4 consecutive floats from p[c], lanes at or past n get pad; vload4 needs only 4-byte
 * alignment, so any c works */
static inline float4 ncg_load4(__global const float* p, const int c, const int n, const float pad)
{
    if (c + 4 <= n) return vload4(0, p + c);
    float4 v = (float4)(pad);
    if (c < n) v.x = p[c];
    if (c + 1 < n) v.y = p[c + 1];
    if (c + 2 < n) v.z = p[c + 2];
    return v;
}

static inline void ncg_store4(const float4 v, __global float* p, const int c, const int n)
{
    if (c + 4 <= n) { vstore4(v, 0, p + c); return; }
    if (c < n) p[c] = v.x;
    if (c + 1 < n) p[c + 1] = v.y;
    if (c + 2 < n) p[c + 2] = v.z;
}

static inline float ncg_max4(const float4 v) { return fmax(fmax(v.x, v.y), fmax(v.z, v.w)); }

/* Tree sum over n (a power of 2) work-items id = 0..n-1 sharing red[base..base+n); every one
 * gets the total. Called by the whole work-group with uniform n (it holds barriers); ends
 * with a barrier, so red may be reused at once. */
static inline float ncg_tsum(__local float* red, const int base, const int id, const int n,
                             const float v)
{
    red[base + id] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = n / 2; s > 0; s >>= 1) {
        if (id < s) red[base + id] += red[base + id + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float t = red[base];
    barrier(CLK_LOCAL_MEM_FENCE);
    return t;
}

/* (m, l) with l = sum exp(x - m) of two parts merged: empty parts (l = 0) drop out, so two
 * empty parts stay (-inf, 0) without an exp(-inf - -inf) = NaN */
static inline void ncg_lse_merge(float* m, float* l, const float m2, const float l2)
{
    const float M = fmax(*m, m2);
    *l = (*l > 0.0f ? *l * exp(*m - M) : 0.0f) + (l2 > 0.0f ? l2 * exp(m2 - M) : 0.0f);
    *m = M;
}

/* ncg_tsum's tree for online log-sum-exp pairs (rm, rl: n floats each from base) */
static inline void ncg_tmerge(__local float* rm, __local float* rl, const int base, const int id,
                              const int n, float* m, float* l)
{
    rm[base + id] = *m;
    rl[base + id] = *l;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = n / 2; s > 0; s >>= 1) {
        if (id < s) {
            float a = rm[base + id], b = rl[base + id];
            ncg_lse_merge(&a, &b, rm[base + id + s], rl[base + id + s]);
            rm[base + id] = a;
            rl[base + id] = b;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    *m = rm[base];
    *l = rl[base];
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* online log-sum-exp of 4 more values (pads -INFINITY); values all -inf leave (m, l) alone */
static inline void ncg_lse4(float* m, float* l, const float4 v)
{
    const float mx = ncg_max4(v);
    if (!(mx > -INFINITY)) return;
    const float M = fmax(*m, mx);
    const float4 e = exp(v - (float4)(M));
    *l = *l * exp(*m - M) + ((e.x + e.y) + (e.z + e.w));
    *m = M;
}

/* a row's final statistics at o: log-sum-exp from its online (m, l), target dot d and mass w */
static inline void ncg_store_stats(__global float* lse, __global float* dot, __global float* mass,
                                   const size_t o, const float m, const float l, const float d,
                                   const float w)
{
    lse[o] = m + log(l);
    dot[o] = d;
    mass[o] = w;
}

#endif /* NCG_GPU_COMMON */
