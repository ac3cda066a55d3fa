/* Internal: dropout with reproducible masks.
 *
 *     training:  y[i] = keep[i] ? x[i] / (1 - p) : 0,   keep[i] = u(seed, stream, i) >= p
 *     eval:      y = x
 *
 * u(seed, stream, i) is 24 bits of h = attn__hash_u64(seed, stream, i / 2) (core/rng.h) times
 * 2^-24: bits 40-63 of h for even i, bits 16-39 for odd i (one hash for two elements). It is a
 * pure function of the step's seed, the dropout site's stream and the element index i: a mask
 * does not depend on threads, call order or what else ran, and the backward regenerates it instead of storing it. The stream is a hash
 * of the site's name ("encoder.layers.0.dropout1"), so every site of a model draws its own
 * mask; a caller that applies one site twice in a step must change the seed between the two.
 * The keep probability is 1 - p to within 2^-24 (u has 24 random bits). p = 1 drops all. */
#ifndef ATTN_NN_DROPOUT_H
#define ATTN_NN_DROPOUT_H

#include "nn/nn.h"

/* What changes from step to step: training (dropout on) or eval (off), and the seed of this
 * step's masks (derive it from the global seed and the step number). */
typedef struct attn__mode {
    int training;
    uint64_t seed;
} attn__mode_t;

typedef struct attn__dropout {
    float p;          /* probability of zeroing an element, 0 <= p <= 1 */
    uint64_t stream;  /* hash of the site's name */
} attn__dropout_t;

attn_status_t attn__dropout_init(attn__dropout_t *d, const char *name, float p);
/* 1 when the forward changes anything (training and p > 0) */
int attn__dropout_active(const attn__dropout_t *d, attn__mode_t mode);

/* forward: x [n] -> y [n] (y may be x); nothing to cache */
attn_status_t attn__dropout_forward(const attn__dropout_t *d, attn__mode_t mode, int64_t n,
                                    const float *x, float *y);
/* residual connection: y = x + dropout(branch) (y may be x or branch) */
attn_status_t attn__dropout_add(const attn__dropout_t *d, attn__mode_t mode, int64_t n,
                                const float *x, const float *branch, float *y);
/* backward: dy [n] -> dx [n] += keep * dy / (1 - p) with the forward's mode (same mask) */
attn_status_t attn__dropout_backward(const attn__dropout_t *d, attn__mode_t mode, int64_t n,
                                     const float *dy, float *dx);
/* the same, overwriting: dx = keep * dy / (1 - p) (dx may be dy) */
attn_status_t attn__dropout_grad(const attn__dropout_t *d, attn__mode_t mode, int64_t n,
                                 const float *dy, float *dx);

#endif
