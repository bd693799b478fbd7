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
