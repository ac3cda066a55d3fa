/* The fully connected layer: forward and backward through attn__gemm. */
#include "nn/linear.h"

#include "core/runtime.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int32_t add_param(attn__params_t *ps, const char *prefix, const char *suffix,
                         int32_t ndim, const int64_t *shape) {
    char name[ATTN__PARAM_NAME];
    int len = snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    if (len < 0 || len >= (int)sizeof name) {
        attn__fail(ATTN_STATUS_BAD_ARGUMENT, "parameter name '%s.%s' is longer than %d bytes; "
                   "use a shorter prefix", prefix, suffix, ATTN__PARAM_NAME - 1);
        return -1;
    }
    return attn__params_add(ps, name, ndim, shape);
}

attn_status_t attn__linear_init(attn__linear_t *l, attn__params_t *ps, const char *prefix,
                                int64_t in, int64_t out, int bias) {
    if (!l || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "linear init: layer, store and prefix "
                          "must not be NULL");
    if (in < 1 || out < 1)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "linear '%s': in = %lld and out = %lld must "
                          "be positive", prefix, (long long)in, (long long)out);
    l->in = in;
    l->out = out;
    l->b = -1;
    int64_t shape[2] = {out, in};
    l->w = add_param(ps, prefix, "weight", 2, shape);
    if (l->w < 0) return ATTN_STATUS_BAD_ARGUMENT;
    if (bias) {
        l->b = add_param(ps, prefix, "bias", 1, &out);
        if (l->b < 0) return ATTN_STATUS_BAD_ARGUMENT;
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__linear_reset(const attn__linear_t *l, attn__params_t *ps, attn__rng_t *rng) {
    if (!l || !ps || !rng)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "linear reset: NULL argument");
    if (!ps->w)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "linear reset: call attn__params_alloc "
                          "first");
    float bound = (float)(1.0 / sqrt((double)l->in));
    float *w = attn__pw(ps, l->w);
    for (int64_t i = 0; i < l->out * l->in; i++)
        w[i] = (2.0f * attn__rng_uniform(rng) - 1.0f) * bound;
    if (l->b >= 0) {
        float *b = attn__pw(ps, l->b);
        for (int64_t i = 0; i < l->out; i++) b[i] = (2.0f * attn__rng_uniform(rng) - 1.0f) * bound;
    }
    return ATTN_STATUS_OK;
}

/* ---- raw products --------------------------------------------------------------------------
 * forward: y[n, out] = x[n, in] W[out, in]^T + b */
typedef struct fill_job {
    int64_t out, ldy;
    const float *b;
    float *y;
} fill_job_t;

static void fill_rows(void *ctx, int64_t i0, int64_t i1) {
    const fill_job_t *J = ctx;
    for (int64_t i = i0; i < i1; i++)
        memcpy(J->y + i * J->ldy, J->b, sizeof(float) * (size_t)J->out);
}

void attn__dense_forward(int64_t n, int64_t in, int64_t out, const float *x, int64_t ldx,
                         const float *w, int64_t ldw, const float *b, float *y, int64_t ldy) {
    if (n <= 0) return;
    if (b) { /* the bias in every row, split over the threads (megabytes a call in training) */
        fill_job_t J = {out, ldy, b, y};
        attn__parallel_range(n, 64, (double)n * (double)out, fill_rows, &J);
    }
    attn__gemm(0, 1, n, out, in, 1.0f, x, ldx, w, ldw, b ? 1.0f : 0.0f, y, ldy);
}

/* db[out] += colsum dy: column blocks accumulated in double, rows in order (a fixed summation
 * order), one block per item on the thread pool */
enum { BIAS_COLS = 64 };
typedef struct bias_job {
    int64_t n, out;
    const float *dy;
    int64_t lddy;
    float *db;
} bias_job_t;

static void bias_block(void *ctx, int64_t blk, int thread) {
    (void)thread;
    const bias_job_t *J = ctx;
    const int64_t j0 = blk * BIAS_COLS, nj = J->out - j0 < BIAS_COLS ? J->out - j0 : BIAS_COLS;
    double acc[BIAS_COLS];
    for (int64_t j = 0; j < nj; j++) acc[j] = 0.0;
    for (int64_t i = 0; i < J->n; i++) {
        const float *row = J->dy + i * J->lddy + j0;
        for (int64_t j = 0; j < nj; j++) acc[j] += (double)row[j];
    }
    for (int64_t j = 0; j < nj; j++) J->db[j0 + j] += (float)acc[j];
}

/* backward: dx[n, in] += dy[n, out] W[out, in];  dW[out, in] += dy^T x;  db[out] += colsum dy */
void attn__dense_backward(int64_t n, int64_t in, int64_t out, const float *x, int64_t ldx,
                          const float *w, int64_t ldw, const float *dy, int64_t lddy,
                          float *dx, int64_t lddx, float *dw, int64_t lddw, float *db) {
    if (n <= 0) return;
    if (dx) attn__gemm(0, 0, n, in, out, 1.0f, dy, lddy, w, ldw, 1.0f, dx, lddx);
    if (dw) attn__gemm(1, 0, out, in, n, 1.0f, dy, lddy, x, ldx, 1.0f, dw, lddw);
    if (db) {
        bias_job_t J = {n, out, dy, lddy, db};
        int64_t blocks = (out + BIAS_COLS - 1) / BIAS_COLS;
        attn__parallel_for(blocks, attn__threads_for(blocks, (double)n * (double)out),
                           bias_block, &J);
    }
}

/* ---- the layer ------------------------------------------------------------------------------
 * forward: x [N, in] -> y [N, out] */
attn_status_t attn__linear_forward(const attn__linear_t *l, const attn__params_t *ps, int64_t n,
                                   const float *x, float *y) {
    if (!l || !ps || !ps->w || !x || !y)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "linear forward: NULL argument (or the "
                          "parameter store is not allocated)");
    if (n < 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "linear forward: N = %lld is negative",
                          (long long)n);
    attn__dense_forward(n, l->in, l->out, x, l->in, attn__pw(ps, l->w), l->in,
                        l->b >= 0 ? attn__pw(ps, l->b) : NULL, y, l->out);
    return ATTN_STATUS_OK;
}

/* backward: x [N, in], dy [N, out] -> dx [N, in] +=, dW +=, db += */
attn_status_t attn__linear_backward(const attn__linear_t *l, attn__params_t *ps, int64_t n,
                                    const float *x, const float *dy, float *dx) {
    if (!l || !ps || !ps->w || !x || !dy)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "linear backward: NULL argument (or the "
                          "parameter store is not allocated)");
    if (n < 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "linear backward: N = %lld is negative",
                          (long long)n);
    attn__dense_backward(n, l->in, l->out, x, l->in, attn__pw(ps, l->w), l->in, dy, l->out,
                         dx, l->in, attn__pg(ps, l->w), l->in,
                         l->b >= 0 ? attn__pg(ps, l->b) : NULL);
    return ATTN_STATUS_OK;
}
