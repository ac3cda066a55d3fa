/* Layer normalisation over the last dimension: forward and exact backward. */
#include "nn/layernorm.h"

#include "core/runtime.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>

attn_status_t attn__layernorm_init(attn__layernorm_t *ln, attn__params_t *ps,
                                   const char *prefix, int64_t c, float eps) {
    if (!ln || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "layernorm init: layer, store and prefix "
                          "must not be NULL");
    if (c < 1)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "layernorm '%s': C = %lld must be positive",
                          prefix, (long long)c);
    if (!(eps >= 0.0f) || isinf(eps))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "layernorm '%s': eps must be a finite "
                          "number >= 0 (PyTorch's default is 1e-5)", prefix);
    char name[ATTN__PARAM_NAME];
    int len = snprintf(name, sizeof name, "%s.weight", prefix);
    if (len < 0 || len >= (int)sizeof name)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "layernorm: prefix '%s' is too long",
                          prefix);
    ln->c = c;
    ln->eps = eps;
    ln->w = attn__params_add(ps, name, 1, &c);
    if (ln->w < 0) return ATTN_STATUS_BAD_ARGUMENT;
    snprintf(name, sizeof name, "%s.bias", prefix);
    ln->b = attn__params_add(ps, name, 1, &c);
    if (ln->b < 0) return ATTN_STATUS_BAD_ARGUMENT;
    return ATTN_STATUS_OK;
}

attn_status_t attn__layernorm_reset(const attn__layernorm_t *ln, attn__params_t *ps) {
    if (!ln || !ps || !ps->w)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "layernorm reset: NULL argument (or the "
                          "parameter store is not allocated)");
    float *w = attn__pw(ps, ln->w), *b = attn__pw(ps, ln->b);
    for (int64_t i = 0; i < ln->c; i++) {
        w[i] = 1.0f;
        b[i] = 0.0f;
    }
    return ATTN_STATUS_OK;
}

/* Rows go to the thread pool in chunks of ROWS; the backward keeps its dweight and dbias sums
 * per chunk (in double) and adds the chunks in order, so any thread count gives the same bits. */
enum { ROWS = 64 };

typedef struct fwd_job {
    int64_t C;
    float eps;
    const float *x, *w, *b;
    float *y, *mean, *rstd;
} fwd_job_t;

/* A row's sums run in LANES interleaved double chains (element c goes to chain c % LANES),
 * added together in chain order at the end: independent chains, so the loop runs at the
 * adder's throughput (vectorised) instead of waiting on one chain, and a fixed order, so the
 * bits depend on C alone, not on the thread count or the machine. */
enum { LANES = 8 };

static double lanes_total(const double *acc) {
    double t = 0.0;
    for (int k = 0; k < LANES; k++) t += acc[k];
    return t;
}

static double lanes_total_f(const float *acc) {
    double t = 0.0;
    for (int k = 0; k < LANES; k++) t += (double)acc[k];
    return t;
}

static void forward_rows(void *ctx, int64_t i0, int64_t i1) {
    const fwd_job_t *J = ctx;
    const int64_t C = J->C, body = C / LANES * LANES;
    const float *w = J->w, *b = J->b;
    for (int64_t i = i0; i < i1; i++) {
        const float *xr = J->x + i * C;
        double s[LANES] = {0}, v[LANES] = {0};
        for (int64_t c = 0; c < body; c += LANES)
            for (int k = 0; k < LANES; k++) s[k] += (double)xr[c + k];
        for (int64_t c = body; c < C; c++) s[c - body] += (double)xr[c];
        const double m = lanes_total(s) / (double)C;
        for (int64_t c = 0; c < body; c += LANES)
            for (int k = 0; k < LANES; k++) {
                double d = (double)xr[c + k] - m;
                v[k] += d * d;
            }
        for (int64_t c = body; c < C; c++) {
            double d = (double)xr[c] - m;
            v[c - body] += d * d;
        }
        const double r = 1.0 / sqrt(lanes_total(v) / (double)C + (double)J->eps);
        const float mf = (float)m, rf = (float)r;
        float *yr = J->y + i * C;
        for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - mf) * rf * w[c] + b[c];
        J->mean[i] = mf;
        J->rstd[i] = rf;
    }
}

/* forward: x [N, C] -> y [N, C], mean [N], rstd [N] */
attn_status_t attn__layernorm_forward(const attn__layernorm_t *ln, const attn__params_t *ps,
                                      int64_t n, const float *x, float *y, float *mean,
                                      float *rstd) {
    if (!ln || !ps || !ps->w || !x || !y || !mean || !rstd)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "layernorm forward: NULL argument (or "
                          "the parameter store is not allocated)");
    if (n < 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "layernorm forward: N = %lld is negative",
                          (long long)n);
    fwd_job_t J = {ln->c, ln->eps, x, attn__pw(ps, ln->w), attn__pw(ps, ln->b), y, mean, rstd};
    attn__parallel_range(n, ROWS, 8.0 * (double)n * (double)ln->c, forward_rows, &J);
    return ATTN_STATUS_OK;
}

typedef struct bwd_job {
    int64_t C;
    const float *x, *mean, *rstd, *dy, *w;
    float *dx;
    double *part; /* [chunks][2 C]: dweight, dbias of each chunk of rows */
} bwd_job_t;

static void backward_rows(void *ctx, int64_t i0, int64_t i1) {
    const bwd_job_t *J = ctx;
    const int64_t C = J->C;
    const float *w = J->w;
    double *pw = J->part + (i0 / ROWS) * 2 * C, *pb = pw + C;
    for (int64_t c = 0; c < 2 * C; c++) pw[c] = 0.0;
    const int64_t body = C / LANES * LANES;
    for (int64_t i = i0; i < i1; i++) {
        const float *xr = J->x + i * C, *dyr = J->dy + i * C;
        const float m = J->mean[i], r = J->rstd[i];
        /* the sums of g = dy * w and of g * xhat over the row, in float lanes (32 terms each
         * at C = 256; PyTorch sums these in float too), totalled in double */
        float sg[LANES] = {0}, sgx[LANES] = {0};
        for (int64_t c = 0; c < body; c += LANES)
            for (int k = 0; k < LANES; k++) {
                float g = dyr[c + k] * w[c + k];
                sg[k] += g;
                sgx[k] += g * ((xr[c + k] - m) * r);
            }
        for (int64_t c = body; c < C; c++) {
            float g = dyr[c] * w[c];
            sg[c - body] += g;
            sgx[c - body] += g * ((xr[c] - m) * r);
        }
        const float mg = (float)(lanes_total_f(sg) / (double)C);
        const float mgx = (float)(lanes_total_f(sgx) / (double)C);
        float *restrict dxr = J->dx + i * C;
        for (int64_t c = 0; c < C; c++) {
            float xh = (xr[c] - m) * r;
            dxr[c] += r * (dyr[c] * w[c] - mg - xh * mgx);
            pw[c] += (double)(dyr[c] * xh);
            pb[c] += (double)dyr[c];
        }
    }
}

/* backward: x [N, C], mean [N], rstd [N], dy [N, C] -> dx [N, C] +=, dweight, dbias += */
attn_status_t attn__layernorm_backward(const attn__layernorm_t *ln, attn__params_t *ps,
                                       int64_t n, const float *x, const float *mean,
                                       const float *rstd, const float *dy, float *dx) {
    if (!ln || !ps || !ps->w || !x || !mean || !rstd || !dy || !dx)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "layernorm backward: NULL argument (or "
                          "the parameter store is not allocated)");
    if (n < 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "layernorm backward: N = %lld is negative",
                          (long long)n);
    if (n == 0) return ATTN_STATUS_OK;
    const int64_t C = ln->c, chunks = (n + ROWS - 1) / ROWS;
    bwd_job_t J = {C, x, mean, rstd, dy, attn__pw(ps, ln->w), dx, NULL};
    J.part = malloc(sizeof(double) * (size_t)(chunks * 2 * C));
    if (!J.part)
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "layernorm backward: out of memory for "
                          "%lld x %lld partial sums", (long long)chunks, (long long)(2 * C));
    attn__parallel_range(n, ROWS, 12.0 * (double)n * (double)C, backward_rows, &J);
    float *dw = attn__pg(ps, ln->w), *db = attn__pg(ps, ln->b);
    for (int64_t c = 0; c < C; c++) {
        double sw = 0.0, sb = 0.0;
        for (int64_t k = 0; k < chunks; k++) {
            sw += J.part[k * 2 * C + c];
            sb += J.part[k * 2 * C + C + c];
        }
        dw[c] += (float)sw;
        db[c] += (float)sb;
    }
    free(J.part);
    return ATTN_STATUS_OK;
}
