/*
 * activation.cl -- GELU, forward and backward, elementwise over n floats, for AlignCL.
 *
 *   exact (approximate == 0): gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
 *                              gelu'(x) = Phi(x) + x * phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)
 *   tanh  (approximate != 0): u = sqrt(2/pi) (x + 0.044715 x^3), gelu(x) = 0.5 x (1 + tanh u),
 *                              gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3*0.044715 x^2)
 * CPU-style: a work-item owns ACT_ITEMS consecutive floats in 16-lane vectors (a padded
 * private buffer for the tail).
 * Launch: global (ceil(n, ACT_ITEMS)), local (1). OpenCL C 1.2.
 */

#ifndef ACT_ITEMS
#define ACT_ITEMS 256
#endif

#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_COEFF 0.044715f

/* Both forms work on 16 lanes with exp_nonpos16 (common.cl): on PoCL the library erf() and
 * exp() run per element and made GELU a third of a training step's kernel time.
 *
 * erf(z), z >= 0: Abramowitz & Stegun 7.1.26, 1 - t(a1 + t(a2 + t(a3 + t(a4 + t a5)))) e^{-z^2}
 * with t = 1/(1 + p z); absolute error <= 1.5e-7, below float32 rounding of 1 + erf. The
 * e^{-z^2} it needs is also phi's exponential in the derivative. */
static inline float16 erf_nonneg16(const float16 z, const float16 e)
{
    const float16 t = 1.0f / fma(0.3275911f, z, 1.0f);
    const float16 poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    return 1.0f - poly * e;
}

/* tanh u = sign(u) (1 - e)/(1 + e) with e = e^{-2|u|} <= 1: no overflow, saturates to +-1. */
static inline float16 tanh16(const float16 u)
{
    const float16 e = exp_nonpos16(-2.0f * fabs(u));
    return copysign((1.0f - e) / (1.0f + e), u);
}

static inline float16 gelu_tanh_u16(const float16 x) { return GELU_SQRT_2_OVER_PI * fma(GELU_COEFF * x, x * x, x); }

static inline float16 gelu16(const float16 v, const int approximate)
{
    if (approximate) return 0.5f * v * (1.0f + tanh16(gelu_tanh_u16(v)));
    const float16 z = fabs(v) * M_SQRT1_2_F;
    return 0.5f * v * (1.0f + copysign(erf_nonneg16(z, exp_nonpos16(-z * z)), v));
}

static inline float16 gelu_derivative16(const float16 v, const int approximate)
{
    if (approximate) {
        const float16 t = tanh16(gelu_tanh_u16(v));
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_SQRT_2_OVER_PI * fma(3.0f * GELU_COEFF, v * v, 1.0f);
    }
    const float16 z = fabs(v) * M_SQRT1_2_F, e = exp_nonpos16(-z * z);  /* e = e^{-x^2/2} */
    return 0.5f * (1.0f + copysign(erf_nonneg16(z, e), v)) + v * e * 0.3989422804014327f;
}

/* The last n - i0 < 16 floats go through a private buffer padded with zeros. */
#define ACT_RANGE                                                   \
    const size_t i0 = (size_t)get_global_id(0) * ACT_ITEMS;         \
    if (i0 >= (size_t)n) return;                                    \
    const size_t i1 = min(i0 + ACT_ITEMS, (size_t)n);               \
    const size_t iv = i0 + ((i1 - i0) & ~(size_t)15);

__kernel void gelu_forward(__global const float* x, __global float* y, const int n, const int approximate)
{
    ACT_RANGE
    for (size_t i = i0; i < iv; i += 16) vstore16(gelu16(vload16(0, x + i), approximate), 0, y + i);
    if (iv < i1) {
        float buf[16] = {0};
        for (size_t i = iv; i < i1; ++i) buf[i - iv] = x[i];
        vstore16(gelu16(vload16(0, buf), approximate), 0, buf);
        for (size_t i = iv; i < i1; ++i) y[i] = buf[i - iv];
    }
}

__kernel void gelu_backward(__global const float* x, __global const float* dy, __global float* dx,
                            const int n, const int approximate)
{
    ACT_RANGE
    for (size_t i = i0; i < iv; i += 16)
        vstore16(vload16(0, dy + i) * gelu_derivative16(vload16(0, x + i), approximate), 0, dx + i);
    if (iv < i1) {
        float buf[16] = {0};
        for (size_t i = iv; i < i1; ++i) buf[i - iv] = x[i];
        vstore16(gelu_derivative16(vload16(0, buf), approximate), 0, buf);
        for (size_t i = iv; i < i1; ++i) dx[i] = dy[i] * buf[i - iv];
    }
}

/* ==================================================================================== *
 * GPU-class kernels                                                                      *
 * ==================================================================================== *
 * gelu_forward_gpu(x, y, n, approximate), gelu_backward_gpu(x, dy, dx, n, approximate):
 *   the arguments of gelu_forward / gelu_backward. Work-item g owns floats
 *   [4g, min(4g+4, n)) as one float4 (vload4/vstore4; the last one pads with zeros).
 *   global (up(ceil(n, 4), EW_WG)), local (EW_WG), up(a,b) = ceil(a,b)*b; skip n = 0.
 *   __local 0 B; no scratch.
 *   -D EW_WG: work-group size, 1..1024, pow2 not required (default 256).
 * Numerics: the float4 helpers below are the float16 ones above lane for lane (the same
 * expressions, exp2_nonpos4 the same steps as common.cl's exp2_nonpos16), so on one device
 * the results are the CPU-class bits (tested on PoCL and Oclgrind). Across devices they can
 * differ: erf's t = 1/(1 + p z) and tanh's (1 - e)/(1 + e) use `/`, which OpenCL 1.2 lets a
 * GPU round to 2.5 ulp unless built with -cl-fp32-correctly-rounded-divide-sqrt, and a
 * compiler may contract a*b + c into fma (FP_CONTRACT is on by default in OpenCL C). Both
 * stay far inside the Swift test's 1e-4 tolerance.
 * Cost: forward 8 B, backward 12 B per element; ~35-45 FP32 operations per element with
 * one divide (forward) or two (tanh form). H100: at 3 TB/s the forward needs ~375 G elem/s
 * x ~45 ops = ~17 TFLOP/s, under the ~60 TFLOP/s peak, so still memory-bound: ~75-85 % of
 * bandwidth for n >~ 4M.
 */

#ifndef EW_WG
#define EW_WG 256
#endif
#if EW_WG < 1 || EW_WG > 1024
#error "EW_WG must be in 1..1024"
#endif

static inline float4 act_exp2_nonpos4(const float4 t)
{
    const float4 tc = fmax(t, (float4)(-126.0f));
    const float4 big = (float4)(12582912.0f);              /* 1.5 * 2^23 */
    const float4 sh = tc + big;
    const float4 r = tc - (sh - big);
    float4 e = (float4)(1.5370704932138324e-4f);
    e = fma(e, r, (float4)(1.3399848248809576e-3f));
    e = fma(e, r, (float4)(9.618373587727547e-3f));
    e = fma(e, r, (float4)(5.550329014658928e-2f));
    e = fma(e, r, (float4)(2.4022647738456726e-1f));
    e = fma(e, r, (float4)(6.931471824645996e-1f));
    e = fma(e, r, (float4)(1.0f));
    const int4 ni = as_int4(sh) - as_int4(big);
    return select(e * as_float4((ni + (int4)(127)) << 23), (float4)(0.0f), isless(t, (float4)(-126.0f)));
}

static inline float4 act_exp_nonpos4(const float4 t) { return act_exp2_nonpos4(t * (float4)(M_LOG2E_F)); }

static inline float4 erf_nonneg4(const float4 z, const float4 e)
{
    const float4 t = 1.0f / fma(0.3275911f, z, 1.0f);
    const float4 poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    return 1.0f - poly * e;
}

static inline float4 tanh4(const float4 u)
{
    const float4 e = act_exp_nonpos4(-2.0f * fabs(u));
    return copysign((1.0f - e) / (1.0f + e), u);
}

static inline float4 gelu_tanh_u4(const float4 x) { return GELU_SQRT_2_OVER_PI * fma(GELU_COEFF * x, x * x, x); }

static inline float4 gelu4(const float4 v, const int approximate)
{
    if (approximate) return 0.5f * v * (1.0f + tanh4(gelu_tanh_u4(v)));
    const float4 z = fabs(v) * M_SQRT1_2_F;
    return 0.5f * v * (1.0f + copysign(erf_nonneg4(z, act_exp_nonpos4(-z * z)), v));
}

static inline float4 gelu_derivative4(const float4 v, const int approximate)
{
    if (approximate) {
        const float4 t = tanh4(gelu_tanh_u4(v));
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_SQRT_2_OVER_PI * fma(3.0f * GELU_COEFF, v * v, 1.0f);
    }
    const float4 z = fabs(v) * M_SQRT1_2_F, e = act_exp_nonpos4(-z * z);
    return 0.5f * (1.0f + copysign(erf_nonneg4(z, e), v)) + v * e * 0.3989422804014327f;
}

static inline float4 act_load4(__global const float* p, const int rem)
{
    if (rem >= 4) return vload4(0, p);
    float4 v = (float4)(0.0f);
    v.x = p[0];
    if (rem > 1) v.y = p[1];
    if (rem > 2) v.z = p[2];
    return v;
}

static inline void act_store4(const float4 v, __global float* p, const int rem)
{
    if (rem >= 4) { vstore4(v, 0, p); return; }
    p[0] = v.x;
    if (rem > 1) p[1] = v.y;
    if (rem > 2) p[2] = v.z;
}

/* No barriers, so a work-item past the end may return. */
#define ACT4_RANGE                                              \
    const size_t i = (size_t)get_global_id(0) * 4;              \
    if (i >= (size_t)n) return;                                 \
    const int rem = (int)min((size_t)4, (size_t)n - i);

__kernel __attribute__((reqd_work_group_size(EW_WG, 1, 1)))
void gelu_forward_gpu(__global const float* x, __global float* y, const int n, const int approximate)
{
    ACT4_RANGE
    act_store4(gelu4(act_load4(x + i, rem), approximate), y + i, rem);
}

/* dy * gelu'(x), the product order of gelu_backward. */
__kernel __attribute__((reqd_work_group_size(EW_WG, 1, 1)))
void gelu_backward_gpu(__global const float* x, __global const float* dy, __global float* dx,
                       const int n, const int approximate)
{
    ACT4_RANGE
    act_store4(act_load4(dy + i, rem) * gelu_derivative4(act_load4(x + i, rem), approximate), dx + i, rem);
}
