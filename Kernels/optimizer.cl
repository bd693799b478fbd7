/*
 * optimizer.cl -- the AdamW update, elementwise over n parameters, for AlignCL.
 *
 *   p <- p - lr * weight_decay * p            (decoupled weight decay: on the parameter,
 *                                              not through the gradient)
 *   m <- beta1 m + (1 - beta1) g
 *   v <- beta2 v + (1 - beta2) g^2
 *   p <- p - lr * (m / c1) / (sqrt(v / c2) + eps),   c1 = 1 - beta1^t, c2 = 1 - beta2^t
 *        (bias corrections computed on the host in float64, passed in)
 *
 * CPU-style: a work-item owns OPT_ITEMS consecutive parameters.
 * Launch: global (ceil(n, OPT_ITEMS)), local (1). OpenCL C 1.2.
 */

#ifndef OPT_ITEMS
#define OPT_ITEMS 256
#endif

__kernel void adamw_step(__global float* param, __global const float* grad, __global float* m,
                         __global float* v, const int n, const float lr, const float beta1,
                         const float beta2, const float epsilon, const float weight_decay,
                         const float correction1, const float correction2)
{
    const size_t i0 = (size_t)get_global_id(0) * OPT_ITEMS;
    if (i0 >= (size_t)n) return;
    const size_t i1 = min(i0 + OPT_ITEMS, (size_t)n);
    for (size_t i = i0; i < i1; ++i) {
        const float g = grad[i];
        float p = param[i] * (1.0f - lr * weight_decay);
        const float mi = fma(beta1, m[i], (1.0f - beta1) * g);
        const float vi = fma(beta2, v[i], (1.0f - beta2) * g * g);
        m[i] = mi;
        v[i] = vi;
        param[i] = p - lr * (mi / correction1) / (sqrt(vi / correction2) + epsilon);
    }
}

/* ==================================================================================== *
 * GPU-class kernels                                                                      *
 * ==================================================================================== *
 * adamw_step_gpu: the arguments of adamw_step (param, grad, m, v, n, lr, beta1, beta2,
 *   epsilon, weight_decay, correction1, correction2). Work-item g owns parameters
 *   [4g, min(4g+4, n)) as float4s (vload4/vstore4; the last one pads with zeros, never
 *   stored).
 *   global (up(ceil(n, 4), EW_WG)), local (EW_WG), up(a,b) = ceil(a,b)*b; skip n = 0.
 *   __local 0 B; no scratch. -D EW_WG: work-group size, 1..1024, pow2 not required
 *   (default 256).
 * Numerics: the expressions of adamw_step lane for lane, so on one device the CPU-class bits
 * (tested on PoCL and Oclgrind). Across devices: two `/` and a sqrt, which OpenCL 1.2 lets
 * a GPU round to 2.5 / 3 ulp unless built with -cl-fp32-correctly-rounded-divide-sqrt, and
 * possible fma contraction of 1 - lr*weight_decay; within the Swift test's 1e-5.
 * Cost: reads param, grad, m, v (16 B), writes param, m, v (12 B): 28 B per parameter,
 * ~15 operations + 2 divides + sqrt. H100: memory-bound, ~80-90 % of ~3 TB/s for n >~ 4M
 * (~100 G parameters/s).
 */

/* ew_load4 / ew_store4, EW4_RANGE and EW_GPU: common.cl. */
EW_GPU
void adamw_step_gpu(__global float* param, __global const float* grad, __global float* m,
                    __global float* v, const int n, const float lr, const float beta1,
                    const float beta2, const float epsilon, const float weight_decay,
                    const float correction1, const float correction2)
{
    EW4_RANGE(n)
    const float4 g = ew_load4(grad + i, rem);
    const float4 p = ew_load4(param + i, rem) * (1.0f - lr * weight_decay);
    const float4 mi = fma((float4)(beta1), ew_load4(m + i, rem), (1.0f - beta1) * g);
    const float4 vi = fma((float4)(beta2), ew_load4(v + i, rem), (1.0f - beta2) * g * g);
    ew_store4(mi, m + i, rem);
    ew_store4(vi, v + i, rem);
    ew_store4(p - lr * (mi / correction1) / (sqrt(vi / correction2) + epsilon), param + i, rem);
}
