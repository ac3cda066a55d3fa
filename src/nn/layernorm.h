/* Internal: layer normalisation over the last dimension, PyTorch's nn.LayerNorm(C, eps).
 *
 *     y[n, c] = (x[n, c] - mean[n]) * rstd[n] * weight[c] + bias[c]
 *     mean[n] = sum_c x[n, c] / C,   rstd[n] = 1 / sqrt(sum_c (x[n, c] - mean[n])^2 / C + eps)
 *
 * (biased variance, as PyTorch). Parameters "<prefix>.weight" [C] (initially 1) and
 * "<prefix>.bias" [C] (initially 0). The forward's row statistics are computed in double; the
 * backward's row sums in float lanes totalled in double, dweight and dbias in double. */
#ifndef ATTN_NN_LAYERNORM_H
#define ATTN_NN_LAYERNORM_H

#include "nn/nn.h"

typedef struct attn__layernorm {
    int64_t c;
    float eps;  /* PyTorch's default is 1e-5 */
    int32_t w, b;
} attn__layernorm_t;

attn_status_t attn__layernorm_init(attn__layernorm_t *ln, attn__params_t *ps,
                                   const char *prefix, int64_t c, float eps);
/* weight = 1, bias = 0 */
attn_status_t attn__layernorm_reset(const attn__layernorm_t *ln, attn__params_t *ps);

/* forward: x [N, C] -> y [N, C]; cache mean [N] and rstd [N] (caller memory). */
attn_status_t attn__layernorm_forward(const attn__layernorm_t *ln, const attn__params_t *ps,
                                      int64_t n, const float *x, float *y, float *mean,
                                      float *rstd);
/* backward: x [N, C], mean and rstd from the forward, dy [N, C]
 *   dx [N, C] += rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)),  g = dy * weight
 *   dweight += sum_n dy * xhat,  dbias += sum_n dy   (rows in order) */
attn_status_t attn__layernorm_backward(const attn__layernorm_t *ln, attn__params_t *ps,
                                       int64_t n, const float *x, const float *mean,
                                       const float *rstd, const float *dy, float *dx);

#endif
