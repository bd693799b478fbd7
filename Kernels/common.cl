/*
 * common.cl -- helpers every AlignCL kernel file shares. The Swift side puts this file in
 * front of each program's source (then `#line 1`, so build logs keep the file's own line
 * numbers), so it defines only static inline functions.
 *
 * exp2_nonpos16 / exp_nonpos16: 2^t and e^t for t <= 0 (t may be -INFINITY), 16 lanes, no
 * branches. Why not exp(): on CPU OpenCL (PoCL) the library exp() handles the full range and
 * its special cases and was the bottleneck of the softmax, attention and InfoNCE loops (~2x);
 * every exponential there has an argument <= 0 (a score minus its row maximum or its
 * log-sum-exp), so a reduced-range version suffices:
 *   t = n + r, n = rint(t) via the 1.5*2^23 shifter (the low mantissa bits of t + shifter are
 *   n; far cheaper than rint() on PoCL), |r| <= 1/2 exact; 2^r by a degree-6 polynomial; 2^n
 *   built in the exponent field. About 2 ulp; results below 2^-126 (and -INFINITY from masked
 *   entries) are exactly 0, which masking needs. Slightly positive rounding noise is fine
 *   (valid below 128). e^t = 2^(t*log2 e): the product rounds, so e^t carries a relative error
 *   ~|t|*4e-8, largest where e^t is already negligible next to the row's largest term (1).
 */

static inline __attribute__((always_inline)) float16 exp2_nonpos16(const float16 t)
{
    const float16 tc = fmax(t, (float16)(-126.0f));
    const float16 big = (float16)(12582912.0f);             /* 1.5 * 2^23 */
    const float16 sh = tc + big;                             /* low mantissa bits = rint(tc) */
    const float16 r = tc - (sh - big);                       /* exact, |r| <= 1/2 */
    float16 e = (float16)(1.5370704932138324e-4f);
    e = fma(e, r, (float16)(1.3399848248809576e-3f));
    e = fma(e, r, (float16)(9.618373587727547e-3f));
    e = fma(e, r, (float16)(5.550329014658928e-2f));
    e = fma(e, r, (float16)(2.4022647738456726e-1f));
    e = fma(e, r, (float16)(6.931471824645996e-1f));
    e = fma(e, r, (float16)(1.0f));
    const int16 ni = as_int16(sh) - as_int16(big);
    return select(e * as_float16((ni + (int16)(127)) << 23), (float16)(0.0f),
                  isless(t, (float16)(-126.0f)));
}

static inline __attribute__((always_inline)) float16 exp_nonpos16(const float16 t)
{
    return exp2_nonpos16(t * (float16)(M_LOG2E_F));
}

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
