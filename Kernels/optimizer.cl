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
