/* Internal: the position-wise feed-forward block of PyTorch's nn.TransformerEncoderLayer,
 * without the residual dropout (dropout2 belongs to the layer):
 *
 *     y = linear2(dropout(act(linear1(x))))       x, y [N, E]; hidden [N, F]
 *
 * Parameters "<prefix>.linear1.{weight,bias}" [F, E], [F] and "<prefix>.linear2.{weight,bias}"
 * [E, F], [E]: with the transformer layer's own prefix these are PyTorch's names. The inner
 * dropout site is "<prefix>.dropout". */
#ifndef ATTN_NN_FEEDFORWARD_H
#define ATTN_NN_FEEDFORWARD_H

#include "nn/activation.h"
#include "nn/dropout.h"
#include "nn/linear.h"

typedef struct attn__feedforward {
    int64_t e, f;
    attn__linear_t linear1, linear2;
    attn__act_t act;
    attn__dropout_t dropout;
} attn__feedforward_t;

/* What the backward needs, filled by the forward from the arena. */
typedef struct attn__feedforward_cache {
    float *h;  /* [N, F] linear1's output (the activation's input) */
    float *a;  /* [N, F] after activation and dropout (linear2's input) */
} attn__feedforward_cache_t;

attn_status_t attn__feedforward_init(attn__feedforward_t *ff, attn__params_t *ps,
                                     const char *prefix, int64_t e, int64_t f, attn__act_t act,
                                     float dropout);
attn_status_t attn__feedforward_reset(const attn__feedforward_t *ff, attn__params_t *ps,
                                      attn__rng_t *rng);

/* forward: x [N, E] -> y [N, E]; cache from the arena */
attn_status_t attn__feedforward_forward(const attn__feedforward_t *ff, const attn__params_t *ps,
                                        attn__mode_t mode, int64_t n, const float *x, float *y,
                                        attn__feedforward_cache_t *cache, attn__arena_t *arena);
/* backward: x [N, E] and cache from the forward (same mode), dy [N, E] -> dx [N, E] +=,
 * parameter gradients +=; scratch 2 N F floats from the arena */
attn_status_t attn__feedforward_backward(const attn__feedforward_t *ff, attn__params_t *ps,
                                         attn__mode_t mode, int64_t n, const float *x,
                                         const attn__feedforward_cache_t *cache,
                                         const float *dy, float *dx, attn__arena_t *arena);

#endif
