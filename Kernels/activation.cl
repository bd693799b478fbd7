/*
 * activation.cl -- GELU, forward and backward, elementwise over n floats, for AlignCL.
 *
 *   exact (approximate == 0): gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
 *                              gelu'(x) = Phi(x) + x * phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)
 *   tanh  (approximate == 1): u = sqrt(2/pi) (x + 0.044715 x^3), gelu(x) = 0.5 x (1 + tanh u),
 *                              gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3*0.044715 x^2)
 *   sigmoid (approximate == 2, CLIP's quick_gelu): s = sigmoid(1.702 x), gelu(x) = x s,
 *                              gelu'(x) = s + 1.702 x s (1 - s)
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
 * exp() run per element and made GELU a third of a training step's kernel time. The GPU-class
 * kernels below use the same helpers on 4 lanes (exp_nonpos4), expanded from one definition,
 * so both give the same bits lane for lane.
 *
 * erf(z), z >= 0: Abramowitz & Stegun 7.1.26, 1 - t(a1 + t(a2 + t(a3 + t(a4 + t a5)))) e^{-z^2}
 * with t = 1/(1 + p z); absolute error <= 1.5e-7, below float32 rounding of 1 + erf. The
 * e^{-z^2} it needs is also phi's exponential in the derivative.
 * tanh u = sign(u) (1 - e)/(1 + e) with e = e^{-2|u|} <= 1: no overflow, saturates to +-1.
 * sigmoid z = 1/(1 + e) for z >= 0, e/(1 + e) below, with e = e^{-|z|} <= 1: the same.
 * gelu_derivative: e = e^{-x^2/2} in the exact form. */
#define GELU_DEFINE_(N)                                                                                        \
static inline float##N erf_nonneg##N(const float##N z, const float##N e)                                      \
{                                                                                                              \
    const float##N t = 1.0f / fma(0.3275911f, z, 1.0f);                                                        \
    const float##N poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f)))); \
    return 1.0f - poly * e;                                                                                    \
}                                                                                                              \
                                                                                                               \
static inline float##N tanh##N(const float##N u)                                                               \
{                                                                                                              \
    const float##N e = exp_nonpos##N(-2.0f * fabs(u));                                                         \
    return copysign((1.0f - e) / (1.0f + e), u);                                                               \
}                                                                                                              \
                                                                                                               \
static inline float##N gelu_tanh_u##N(const float##N x) { return GELU_SQRT_2_OVER_PI * fma(GELU_COEFF * x, x * x, x); } \
                                                                                                               \
static inline float##N quick_gelu_sigmoid##N(const float##N x)                                                 \
{                                                                                                              \
    const float##N z = 1.702f * x, e = exp_nonpos##N(-fabs(z)), r = 1.0f / (1.0f + e);                         \
    return select(e * r, r, isgreaterequal(z, (float##N)(0.0f)));                                              \
}                                                                                                              \
                                                                                                               \
static inline float##N gelu##N(const float##N v, const int approximate)                                        \
{                                                                                                              \
    if (approximate == 2) return v * quick_gelu_sigmoid##N(v);                                                \
    if (approximate) return 0.5f * v * (1.0f + tanh##N(gelu_tanh_u##N(v)));                                    \
    const float##N z = fabs(v) * M_SQRT1_2_F;                                                                  \
    return 0.5f * v * (1.0f + copysign(erf_nonneg##N(z, exp_nonpos##N(-z * z)), v));                           \
}                                                                                                              \
                                                                                                               \
static inline float##N gelu_derivative##N(const float##N v, const int approximate)                             \
{                                                                                                              \
    if (approximate == 2) {                                                                                    \
        const float##N s = quick_gelu_sigmoid##N(v);                                                           \
        return s + 1.702f * v * s * (1.0f - s);                                                                \
    }                                                                                                          \
    if (approximate) {                                                                                         \
        const float##N t = tanh##N(gelu_tanh_u##N(v));                                                         \
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_SQRT_2_OVER_PI * fma(3.0f * GELU_COEFF, v * v, 1.0f); \
    }                                                                                                          \
    const float##N z = fabs(v) * M_SQRT1_2_F, e = exp_nonpos##N(-z * z);                                       \
    return 0.5f * (1.0f + copysign(erf_nonneg##N(z, e), v)) + v * e * 0.3989422804014327f;                     \
}

GELU_DEFINE_(16)
GELU_DEFINE_(4)
#undef GELU_DEFINE_

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
 * Numerics: gelu4 / gelu_derivative4 are the float16 helpers expanded for 4 lanes (one
 * definition, GELU_DEFINE_ above, on common.cl's exp_nonpos4), so on one device
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

/* gelu4 / gelu_derivative4: above; ew_load4 / ew_store4, EW4_RANGE and EW_GPU: common.cl. */

EW_GPU
void gelu_forward_gpu(__global const float* x, __global float* y, const int n, const int approximate)
{
    EW4_RANGE(n)
    ew_store4(gelu4(ew_load4(x + i, rem), approximate), y + i, rem);
}

/* dy * gelu'(x), the product order of gelu_backward. */
EW_GPU
void gelu_backward_gpu(__global const float* x, __global const float* dy, __global float* dx,
                       const int n, const int approximate)
{
    EW4_RANGE(n)
    ew_store4(ew_load4(dy + i, rem) * gelu_derivative4(ew_load4(x + i, rem), approximate), dx + i, rem);
}
