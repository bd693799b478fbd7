/*
 * common.cl -- helpers every AlignCL kernel file shares. The Swift side puts this file in
 * front of each program's source (then `#line 1`, so build logs keep the file's own line
 * numbers), so it defines only static inline functions and a few macros (used only
 * where a file expands them).
 *
 * exp2_nonpos16 / exp_nonpos16 (float4: exp2_nonpos4 / exp_nonpos4): 2^t and e^t for t <= 0
 * (t may be -INFINITY), 16 (4) lanes, no branches. Why not exp(): on CPU OpenCL (PoCL) the
 * library exp() handles the full range and its special cases and was the bottleneck of the
 * softmax, attention and InfoNCE loops (~2x);
 * every exponential there has an argument <= 0 (a score minus its row maximum or its
 * log-sum-exp), so a reduced-range version suffices:
 *   t = n + r, n = rint(t) via the 1.5*2^23 shifter (the low mantissa bits of t + shifter are
 *   n; far cheaper than rint() on PoCL), |r| <= 1/2 exact; 2^r by a degree-6 polynomial; 2^n
 *   built in the exponent field. About 2 ulp; results below 2^-126 (and -INFINITY from masked
 *   entries) are exactly 0, which masking needs. Slightly positive rounding noise is fine
 *   (valid below 128). e^t = 2^(t*log2 e): the product rounds, so e^t carries a relative error
 *   ~|t|*4e-8, largest where e^t is already negligible next to the row's largest term (1).
 */

/* One definition per width (16 lanes for the CPU-class kernels, 4 for the float4 GPU-class
 * ones): the same steps lane for lane, so exp_nonpos4 gives exp_nonpos16's bits. */
#define EXP_NONPOS_DEFINE_(N)                                                               \
static inline __attribute__((always_inline)) float##N exp2_nonpos##N(const float##N t)     \
{                                                                                           \
    const float##N tc = fmax(t, (float##N)(-126.0f));                                       \
    const float##N big = (float##N)(12582912.0f);            /* 1.5 * 2^23 */               \
    const float##N sh = tc + big;                            /* low mantissa bits = rint(tc) */ \
    const float##N r = tc - (sh - big);                      /* exact, |r| <= 1/2 */        \
    float##N e = (float##N)(1.5370704932138324e-4f);                                        \
    e = fma(e, r, (float##N)(1.3399848248809576e-3f));                                      \
    e = fma(e, r, (float##N)(9.618373587727547e-3f));                                       \
    e = fma(e, r, (float##N)(5.550329014658928e-2f));                                       \
    e = fma(e, r, (float##N)(2.4022647738456726e-1f));                                      \
    e = fma(e, r, (float##N)(6.931471824645996e-1f));                                       \
    e = fma(e, r, (float##N)(1.0f));                                                        \
    const int##N ni = as_int##N(sh) - as_int##N(big);                                       \
    return select(e * as_float##N((ni + (int##N)(127)) << 23), (float##N)(0.0f),            \
                  isless(t, (float##N)(-126.0f)));                                          \
}                                                                                           \
                                                                                            \
static inline __attribute__((always_inline)) float##N exp_nonpos##N(const float##N t)      \
{                                                                                           \
    return exp2_nonpos##N(t * (float##N)(M_LOG2E_F));                                       \
}

EXP_NONPOS_DEFINE_(16)
EXP_NONPOS_DEFINE_(4)
#undef EXP_NONPOS_DEFINE_

/* Horizontal max and sum of 16 lanes (a tree, which also bounds rounding growth). */
static inline float hmax16(const float16 v)
{
    const float8 a = fmax(v.lo, v.hi);
    const float4 b = fmax(a.lo, a.hi);
    const float2 c = fmax(b.lo, b.hi);
    return fmax(c.x, c.y);
}

static inline float hsum16(const float16 v)
{
    const float8 a = v.lo + v.hi;
    const float4 b = a.lo + a.hi;
    const float2 c = b.lo + b.hi;
    return c.x + c.y;
}

/* Up to 16 consecutive floats (a row's tail): lanes from n on get `pad` (-INFINITY drops out
 * of a max, 0 out of a sum). store_part16 writes lanes below n only. */
static inline float16 load_part16(__global const float* p, const int n, const float pad)
{
    if (n >= 16) return vload16(0, p);
    float v[16];
    for (int l = 0; l < 16; ++l) v[l] = l < n ? p[l] : pad;
    return vload16(0, v);
}

static inline void store_part16(const float16 x, __global float* p, const int n)
{
    if (n >= 16) { vstore16(x, 0, p); return; }
    float v[16];
    vstore16(x, 0, v);
    for (int l = 0; l < n; ++l) p[l] = v[l];
}

/* Transposes up to 16 rows into lanes: dst[c*16 + r] = src[r*ld + c] for r < nr (0 for
 * nr <= r < 16), c < ncol. The CPU-style kernels keep 16 rows in the lanes of a float16. */
static inline void load_transposed16(__private float* dst, __global const float* src,
                                     const int nr, const int ncol, const int ld)
{
    for (int c = 0; c < ncol; ++c)
        for (int r = 0; r < 16; ++r)
            dst[c * 16 + r] = (r < nr) ? src[(size_t)r * ld + c] : 0.0f;
}

/* =============================================================================================
 * Work-group helpers (prefix wg_) for the GPU-class row kernels (layernorm, losses, softmax).
 *
 * Reductions -- wg_sum, wg_max, wg_sum2, wg_sum2_strided, wg_lse, wg_lse_x2:
 *   - 1-D work-groups. `wg` is the work-group size (get_local_size(0)), a power of two; callers
 *     pass their reqd_work_group_size define, so the tree unrolls and no define of this file
 *     is involved (every program includes common.cl, most without these defines).
 *   - `red` is caller-provided __local scratch of at least wg values of the reduced type. Every
 *     work-item of the group must make the call (barriers inside): group-uniform control flow.
 *   - The result is returned to every work-item and the helper ends with a barrier, so `red`
 *     may be reused (or aliased as another type) by the next reduction at once.
 *   - Fixed pairwise tree (work-item l combines l and l + s for s = wg/2, wg/4, ..., 1):
 *     the same inputs give the same bits on every run; the log2(wg) depth bounds rounding.
 * ========================================================================================== */

/* Shared tree body, only expanded inside the wg_ functions below: combines over the local ids
 * with the same residue mod `width` (1: the whole group) with COMBINE, an expression of a_
 * (the work-item's own partial) and b_ (its partner's), both of type T. */
#define WG_TREE_BODY_(T, v, red, wg, width, COMBINE)                                        \
    const int lid_ = (int)get_local_id(0);                                                  \
    red[lid_] = (v);                                                                        \
    barrier(CLK_LOCAL_MEM_FENCE);                                                           \
    for (int s_ = (wg) >> 1; s_ >= (width); s_ >>= 1) {                                     \
        if (lid_ < s_) {                                                                    \
            const T a_ = red[lid_], b_ = red[lid_ + s_];                                    \
            red[lid_] = (COMBINE);                                                          \
        }                                                                                   \
        barrier(CLK_LOCAL_MEM_FENCE);                                                       \
    }                                                                                       \
    const T r_ = red[lid_ & ((width) - 1)];                                                 \
    barrier(CLK_LOCAL_MEM_FENCE);                                                           \
    return r_

static inline float wg_sum(const float v, __local float* red, const int wg)
{
    WG_TREE_BODY_(float, v, red, wg, 1, a_ + b_);
}

static inline float wg_max(const float v, __local float* red, const int wg)
{
    WG_TREE_BODY_(float, v, red, wg, 1, fmax(a_, b_));
}

static inline float2 wg_sum2(const float2 v, __local float2* red, const int wg)
{
    WG_TREE_BODY_(float2, v, red, wg, 1, a_ + b_);
}

/* The group as `stride` interleaved sub-groups (a power of two <= wg): returns the sum over the
 * work-items whose local id equals the caller's mod stride (stride 1 = wg_sum2). */
static inline float2 wg_sum2_strided(const float2 v, __local float2* red, const int wg,
                                     const int stride)
{
    WG_TREE_BODY_(float2, v, red, wg, stride, a_ + b_);
}

/* Online log-sum-exp state (m, s) = (max x, sum exp((x - m) k)) of a set of values x, with a
 * scale k > 0 (1/temperature); the empty set is (-INFINITY, 0). Merging rescales each sum by
 * exp((m - M) k) <= 1, so no exp() argument is positive (logits of +-1e4 are safe); two empty
 * sets give the empty set instead of exp(-inf - -inf) = NaN. */
static inline float2 wg_lse_merge(const float2 a, const float2 b, const float k)
{
    const float m = fmax(a.x, b.x);
    if (m == -INFINITY) return (float2)(-INFINITY, 0.0f);
    return (float2)(m, a.y * exp((a.x - m) * k) + b.y * exp((b.x - m) * k));
}

static inline float2 wg_lse(const float2 ms, __local float2* red, const int wg, const float k)
{
    WG_TREE_BODY_(float2, ms, red, wg, 1, wg_lse_merge(a_, b_, k));
}

/* Two independent (m, s) states at once, in .xy and .zw (e.g. student and teacher rows). */
static inline float4 wg_lse_x2(const float4 ms2, __local float4* red, const int wg, const float k)
{
    WG_TREE_BODY_(float4, ms2, red, wg, 1,
                  (float4)(wg_lse_merge(a_.xy, b_.xy, k), wg_lse_merge(a_.zw, b_.zw, k)));
}

#undef WG_TREE_BODY_

/* Row layout of the float4 row kernels (layernorm, losses): a row of n floats is cut into
 * wg_nchunks4(n, wg) chunks of 4 * wg columns. In chunk k work-item l owns the four columns
 * wg_cols4(k, l, wg, vec): k*4*wg + 4l + (0..3) as one float4 when vec (n % 4 == 0 and the
 * row 16-byte aligned), else k*4*wg + l + wg*(0..3) as four scalars -- consecutive work-items
 * touch consecutive addresses either way. Columns at or past n read as `pad` (0 for sums,
 * -INFINITY for a max / log-sum-exp) and are never written. */
static inline int wg_nchunks4(const int n, const int wg) { return (n + 4 * wg - 1) / (4 * wg); }

static inline int4 wg_cols4(const int k, const int lid, const int wg, const int vec)
{
    const int base = k * 4 * wg;
    return vec ? (int4)(base + 4 * lid) + (int4)(0, 1, 2, 3)
               : (int4)(base + lid) + (int4)(0, wg, 2 * wg, 3 * wg);
}

static inline float4 wg_load4(__global const float* p, const int4 c, const int n, const int vec,
                              const float pad)
{
    if (vec && c.w < n) return ((__global const float4*)p)[c.x >> 2];
    return (float4)(c.x < n ? p[c.x] : pad, c.y < n ? p[c.y] : pad,
                    c.z < n ? p[c.z] : pad, c.w < n ? p[c.w] : pad);
}

static inline void wg_store4(__global float* p, const int4 c, const int n, const int vec,
                             const float4 v)
{
    if (vec && c.w < n) { ((__global float4*)p)[c.x >> 2] = v; return; }
    if (c.x < n) p[c.x] = v.x;
    if (c.y < n) p[c.y] = v.y;
    if (c.z < n) p[c.z] = v.z;
    if (c.w < n) p[c.w] = v.w;
}

/* =============================================================================================
 * The float4 scaffold of the GPU-class elementwise kernels (elementwise, activation,
 * optimizer): work-item g owns floats [4g, min(4g+4, n)) as one float4.
 *   EW4_RANGE(n) declares i (the first float) and rem (floats left from i, 1..4) and returns
 *   past the end (only for kernels without barriers).
 *   ew_load4 / ew_store4: vload4 / vstore4 when all 4 floats exist, else lanes from rem on
 *   read 0 and are never stored.
 *   EW_GPU: the kernel qualifier with reqd_work_group_size(EW_WG, 1, 1).
 *   -D EW_WG: their work-group size, 1..1024, pow2 not required (default 256). Defined in
 *   every program (unused outside those three files), so one default and one check serve all.
 * ========================================================================================== */
#ifndef EW_WG
#define EW_WG 256
#endif
#if EW_WG < 1 || EW_WG > 1024
#error "EW_WG must be in 1..1024"
#endif

#define EW4_RANGE(n)                                            \
    const size_t i = (size_t)get_global_id(0) * 4;              \
    if (i >= (size_t)(n)) return;                               \
    const int rem = (int)min((size_t)4, (size_t)(n) - i);

#define EW_GPU __kernel __attribute__((reqd_work_group_size(EW_WG, 1, 1)))

static inline float4 ew_load4(__global const float* p, const int rem)
{
    if (rem >= 4) return vload4(0, p);
    float4 v = (float4)(0.0f);
    v.x = p[0];
    if (rem > 1) v.y = p[1];
    if (rem > 2) v.z = p[2];
    return v;
}

static inline void ew_store4(const float4 v, __global float* p, const int rem)
{
    if (rem >= 4) { vstore4(v, 0, p); return; }
    p[0] = v.x;
    if (rem > 1) p[1] = v.y;
    if (rem > 2) p[2] = v.z;
}
