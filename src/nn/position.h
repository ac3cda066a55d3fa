/* Internal: positional information added to a batch of embeddings x [B, T, C].
 *
 * Sinusoidal (the Transformer paper's, no parameters), for position p = pos0 + t:
 *     PE[p, 2i]   = sin(p / 10000^(2i / C))
 *     PE[p, 2i+1] = cos(p / 10000^(2i / C))          i = 0 .. ceil(C / 2) - 1
 * (interleaved sin/cos, as the paper and PyTorch's tutorial; an odd C ends with a sin). Each
 * angle is computed in double and the sin/cos rounded to float once. The gradient of x is the
 * incoming gradient itself, so there is no backward.
 *
 * Learned positions (BERT/GPT style): an embedding over positions,
 *     "<prefix>.weight"  [Tmax, C], initialised N(0, 1) like nn.Embedding,
 * x[b, t, :] += weight[pos0 + t, :]. Positions at or beyond Tmax are an error.
 *
 * pos0 is the position of row t = 0 (0 for training; the number of tokens already decoded
 * when decoding one step at a time). */
#ifndef ATTN_NN_POSITION_H
#define ATTN_NN_POSITION_H

#include "nn/embedding.h"

/* Fills pe [T, C] with PE[pos0 + t, :] for t = 0 .. T-1. */
attn_status_t attn__sinusoid_table(float *pe, int64_t T, int64_t C, int64_t pos0);
/* Forward (in place).  x [B, T, C]  ->  x[b, t, :] += PE[pos0 + t, :]. */
attn_status_t attn__sinusoid_add(float *x, int64_t B, int64_t T, int64_t C, int64_t pos0);

typedef struct attn__learned_pos {
    attn__embedding_t table; /* [Tmax, C], no padding row */
} attn__learned_pos_t;

/* Registers "<prefix>.weight" [max_len, dim]. */
attn_status_t attn__learned_pos_init(attn__learned_pos_t *lp, attn__params_t *ps,
                                     const char *prefix, int64_t max_len, int64_t dim);
/* weight ~ N(0, 1) (nn.Embedding's default). */
attn_status_t attn__learned_pos_reset(const attn__learned_pos_t *lp, attn__params_t *ps,
                                      attn__rng_t *rng);
/* Forward (in place).  x [B, T, C]  ->  x[b, t, :] += weight[pos0 + t, :]; no cache.
 * pos0 + T > Tmax is ATTN_STATUS_BAD_ARGUMENT naming the first position past the table. */
attn_status_t attn__learned_pos_forward(const attn__learned_pos_t *lp, const attn__params_t *ps,
                                        float *x, int64_t B, int64_t T, int64_t pos0);
/* Backward.  dy [B, T, C]  ->  dweight[pos0 + t, :] += sum_b dy[b, t, :]   (b ascending)
 * lens [B] (optional, may be NULL): rows t >= lens[b] are padding and add nothing. The
 * gradient of x is dy itself (the forward is an in-place add), so nothing is written there. */
attn_status_t attn__learned_pos_backward(const attn__learned_pos_t *lp, attn__params_t *ps,
                                         const float *dy, int64_t B, int64_t T, int64_t pos0,
                                         const int64_t *lens);

#endif
