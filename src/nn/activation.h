/* Internal: element-wise activations on arrays of n floats.
 *
 *   relu(x)      = max(x, 0)                          d/dx = 1 where x > 0, else 0 (as PyTorch)
 *   gelu(x)      = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))       PyTorch's default F.gelu
 *   gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 *                                                     F.gelu(approximate='tanh'), GPT-2's
 *
 * Forward writes y (y may be x: in place). Backward takes the forward's INPUT x and adds
 * dy * f'(x) to dx, element by element (so dx may not be x). Computed in double per element,
 * rounded once: the same bits for any thread count and call order. */
#ifndef ATTN_NN_ACTIVATION_H
#define ATTN_NN_ACTIVATION_H

#include "nn/nn.h"

typedef enum attn__act {
    ATTN__ACT_RELU = 0,
    ATTN__ACT_GELU = 1,      /* exact, with erf */
    ATTN__ACT_GELU_TANH = 2  /* tanh approximation */
} attn__act_t;

/* "relu", "gelu", "gelu_tanh" */
const char *attn__act_name(attn__act_t act);

/* forward: x [n] -> y [n] */
attn_status_t attn__act_forward(attn__act_t act, int64_t n, const float *x, float *y);
/* backward: x [n] (forward input), dy [n] -> dx [n] += dy * f'(x) */
attn_status_t attn__act_backward(attn__act_t act, int64_t n, const float *x, const float *dy,
                                 float *dx);

/* the same, one activation each */
attn_status_t attn__relu_forward(int64_t n, const float *x, float *y);
attn_status_t attn__relu_backward(int64_t n, const float *x, const float *dy, float *dx);
attn_status_t attn__gelu_forward(int64_t n, const float *x, float *y);
attn_status_t attn__gelu_backward(int64_t n, const float *x, const float *dy, float *dx);
attn_status_t attn__gelu_tanh_forward(int64_t n, const float *x, float *y);
attn_status_t attn__gelu_tanh_backward(int64_t n, const float *x, const float *dy, float *dx);

#endif
