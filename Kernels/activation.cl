/*
 * activation.cl -- GELU, forward and backward, elementwise over n floats, for AlignCL.
 *
 *   exact (approximate == 0): gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
 *                              gelu'(x) = Phi(x) + x * phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)
 *   tanh  (approximate != 0): u = sqrt(2/pi) (x + 0.044715 x^3), gelu(x) = 0.5 x (1 + tanh u),
 *                              gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3*0.044715 x^2)
 * tanh u is formed as 1 - 2/(1 + exp(2u)), which saturates to +-1 without overflow to NaN.
 *
 * CPU-style: a work-item owns ACT_ITEMS consecutive floats (vector loads, scalar tail).
 * Launch: global (ceil(n, ACT_ITEMS)), local (1). OpenCL C 1.2.
 */

#ifndef ACT_ITEMS
#define ACT_ITEMS 256
#endif

#define GELU_SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_COEFF 0.044715f

static inline float gelu_tanh_u(const float x) { return GELU_SQRT_2_OVER_PI * fma(GELU_COEFF * x, x * x, x); }

static inline float stable_tanh(const float u)
{
    /* 1 - 2/(1+e^{2u}): e^{2u} = inf gives 1, e^{2u} = 0 gives -1 */
    return 1.0f - 2.0f / (1.0f + exp(2.0f * u));
}

__kernel void gelu_forward(__global const float* x, __global float* y, const int n, const int approximate)
{
    const size_t i0 = (size_t)get_global_id(0) * ACT_ITEMS;
    if (i0 >= (size_t)n) return;
    const size_t i1 = min(i0 + ACT_ITEMS, (size_t)n);
    for (size_t i = i0; i < i1; ++i) {
        const float v = x[i];
        y[i] = approximate ? 0.5f * v * (1.0f + stable_tanh(gelu_tanh_u(v)))
                           : 0.5f * v * (1.0f + erf(v * M_SQRT1_2_F));
    }
}

__kernel void gelu_backward(__global const float* x, __global const float* dy, __global float* dx,
                            const int n, const int approximate)
{
    const size_t i0 = (size_t)get_global_id(0) * ACT_ITEMS;
    if (i0 >= (size_t)n) return;
    const size_t i1 = min(i0 + ACT_ITEMS, (size_t)n);
    for (size_t i = i0; i < i1; ++i) {
        const float v = x[i];
        float d;
        if (approximate) {
            const float t = stable_tanh(gelu_tanh_u(v));
            d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_SQRT_2_OVER_PI * fma(3.0f * GELU_COEFF, v * v, 1.0f);
        } else {
            d = 0.5f * (1.0f + erf(v * M_SQRT1_2_F)) + v * exp(-0.5f * v * v) * 0.3989422804014327f;
        }
        dx[i] = dy[i] * d;
    }
}
