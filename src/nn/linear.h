/* Internal: the fully connected layer, PyTorch's nn.Linear.
 *
 *     y[N, out] = x[N, in] W^T + b        W [out, in], b [out] (optional)
 *
 * Parameters "<prefix>.weight" and "<prefix>.bias". Initialisation as PyTorch's: W and b
 * uniform in [-1/sqrt(in), 1/sqrt(in)] (kaiming_uniform with a = sqrt(5)).
 *
 * The raw functions (attn__dense_*) take the weight and bias pointers and leading dimensions
 * directly, so layers that own a packed projection (the attention's in_proj_weight [3E, E])
 * can apply a block of rows of it. Both the layer and the raw functions follow nn.h: backward
 * accumulates into dx, dW and db. */
#ifndef ATTN_NN_LINEAR_H
#define ATTN_NN_LINEAR_H

#include "nn/nn.h"

typedef struct attn__linear {
    int64_t in, out;
    int32_t w;  /* "<prefix>.weight" [out, in] */
    int32_t b;  /* "<prefix>.bias" [out], or -1 without bias */
} attn__linear_t;

/* Registers the parameters. bias: nonzero to have one. */
attn_status_t attn__linear_init(attn__linear_t *l, attn__params_t *ps, const char *prefix,
                                int64_t in, int64_t out, int bias);
/* PyTorch's default initialisation (ps must be allocated). */
attn_status_t attn__linear_reset(const attn__linear_t *l, attn__params_t *ps, attn__rng_t *rng);

/* forward: x [N, in] -> y [N, out] (overwritten); no cache beyond x itself. */
attn_status_t attn__linear_forward(const attn__linear_t *l, const attn__params_t *ps, int64_t n,
                                   const float *x, float *y);
/* backward: x [N, in] (the forward's input), dy [N, out]
 *   dx [N, in] += dy W      (dx may be NULL: no input gradient)
 *   dW [out, in] += dy^T x,  db [out] += sum over rows of dy */
attn_status_t attn__linear_backward(const attn__linear_t *l, attn__params_t *ps, int64_t n,
                                    const float *x, const float *dy, float *dx);

/* ---- raw dense products (row-major; ld* are row strides in elements) --------------------- */
/* y[n, out] = x[n, in] W[out, in]^T + b[out]   (b may be NULL; y overwritten) */
void attn__dense_forward(int64_t n, int64_t in, int64_t out, const float *x, int64_t ldx,
                         const float *w, int64_t ldw, const float *b, float *y, int64_t ldy);
/* dx[n, in] += dy W (dx may be NULL); dw[out, in] += dy^T x (dw may be NULL);
 * db[out] += column sums of dy, rows added in order 0..n-1 in double (db may be NULL). */
void attn__dense_backward(int64_t n, int64_t in, int64_t out, const float *x, int64_t ldx,
                          const float *w, int64_t ldw, const float *dy, int64_t lddy,
                          float *dx, int64_t lddx, float *dw, int64_t lddw, float *db);

#endif
