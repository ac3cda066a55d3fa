/* Positional encodings: the fixed sinusoids and a learned table over positions. */
#include "nn/position.h"

#include <math.h>
#include <stdlib.h>

static attn_status_t check_btc(const void *x, int64_t B, int64_t T, int64_t C, int64_t pos0,
                               const char *what) {
    if (!x && B > 0 && T > 0)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "%s: the activation buffer is NULL", what);
    if (B < 0 || T < 0 || C < 1 || pos0 < 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "%s: B=%lld T=%lld C=%lld pos0=%lld; B and T "
                          "must be >= 0, C >= 1 and pos0 >= 0", what, (long long)B,
                          (long long)T, (long long)C, (long long)pos0);
    return ATTN_STATUS_OK;
}

/* one row PE[p, :] */
static void sinusoid_row(float *row, int64_t C, int64_t p) {
    /* 10000^(-2i/C) = exp(-2i * ln(10000) / C) */
    const double k = -log(10000.0) / (double)C;
    for (int64_t c = 0; c < C; c += 2) {
        double angle = (double)p * exp((double)c * k);
        row[c] = (float)sin(angle);
        if (c + 1 < C) row[c + 1] = (float)cos(angle);
    }
}

attn_status_t attn__sinusoid_table(float *pe, int64_t T, int64_t C, int64_t pos0) {
    attn_status_t st = check_btc(pe, 1, T, C, pos0, "sinusoid table");
    if (st != ATTN_STATUS_OK) return st;
    for (int64_t t = 0; t < T; t++) sinusoid_row(pe + t * C, C, pos0 + t);
    return ATTN_STATUS_OK;
}

/* x [B, T, C] += PE[pos0 + t] */
attn_status_t attn__sinusoid_add(float *x, int64_t B, int64_t T, int64_t C, int64_t pos0) {
    attn_status_t st = check_btc(x, B, T, C, pos0, "sinusoid add");
    if (st != ATTN_STATUS_OK) return st;
    /* the rows of PE once, then added row by row in memory order (the loop below, its
     * fallback, reads every (t, c) once but writes B rows apart) */
    float *pe = T > 0 ? malloc(sizeof(float) * (size_t)(T * C)) : NULL;
    if (pe) {
        for (int64_t t = 0; t < T; t++) sinusoid_row(pe + t * C, C, pos0 + t);
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++) {
                float *row = x + (b * T + t) * C;
                const float *add = pe + t * C;
                for (int64_t c = 0; c < C; c++) row[c] += add[c];
            }
        free(pe);
        return ATTN_STATUS_OK;
    }
    const double k = -log(10000.0) / (double)C;
    for (int64_t t = 0; t < T; t++) {
        const double p = (double)(pos0 + t);
        for (int64_t c = 0; c < C; c += 2) {
            double angle = p * exp((double)c * k);
            float s = (float)sin(angle), co = (float)cos(angle);
            for (int64_t b = 0; b < B; b++) {
                float *row = x + (b * T + t) * C;
                row[c] += s;
                if (c + 1 < C) row[c + 1] += co;
            }
        }
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__learned_pos_init(attn__learned_pos_t *lp, attn__params_t *ps,
                                     const char *prefix, int64_t max_len, int64_t dim) {
    if (!lp) return attn__fail(ATTN_STATUS_NULL_POINTER, "learned positions init: lp is NULL");
    return attn__embedding_init(&lp->table, ps, prefix, max_len, dim, -1);
}

attn_status_t attn__learned_pos_reset(const attn__learned_pos_t *lp, attn__params_t *ps,
                                      attn__rng_t *rng) {
    if (!lp) return attn__fail(ATTN_STATUS_NULL_POINTER, "learned positions reset: lp is NULL");
    return attn__embedding_reset(&lp->table, ps, rng);
}

static attn_status_t check_range(const attn__learned_pos_t *lp, const attn__params_t *ps,
                                 const void *x, int64_t B, int64_t T, int64_t pos0,
                                 const char *what) {
    if (!lp || !ps || !ps->w)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "%s: lp and an allocated parameter store are "
                          "required", what);
    attn_status_t st = check_btc(x, B, T, lp->table.dim, pos0, what);
    if (st != ATTN_STATUS_OK) return st;
    if (T > 0 && pos0 + T > lp->table.num)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s: position %lld is beyond the table of "
                          "%lld learned positions (pos0 %lld, T %lld); shorten the sequences "
                          "or build the model with a larger maximum length", what,
                          (long long)(pos0 > lp->table.num ? pos0 : lp->table.num),
                          (long long)lp->table.num, (long long)pos0, (long long)T);
    return ATTN_STATUS_OK;
}

/* x [B, T, C] += weight[pos0 + t] */
attn_status_t attn__learned_pos_forward(const attn__learned_pos_t *lp, const attn__params_t *ps,
                                        float *x, int64_t B, int64_t T, int64_t pos0) {
    attn_status_t st = check_range(lp, ps, x, B, T, pos0, "learned positions forward");
    if (st != ATTN_STATUS_OK) return st;
    const int64_t C = lp->table.dim;
    const float *w = attn__pw(ps, lp->table.weight) + pos0 * C;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            float *row = x + (b * T + t) * C;
            const float *pe = w + t * C;
            for (int64_t c = 0; c < C; c++) row[c] += pe[c];
        }
    return ATTN_STATUS_OK;
}

/* dy [B, T, C] -> dweight[pos0 + t] += sum over b (ascending) of dy[b, t] */
attn_status_t attn__learned_pos_backward(const attn__learned_pos_t *lp, attn__params_t *ps,
                                         const float *dy, int64_t B, int64_t T, int64_t pos0,
                                         const int64_t *lens) {
    attn_status_t st = check_range(lp, ps, dy, B, T, pos0, "learned positions backward");
    if (st != ATTN_STATUS_OK) return st;
    if (lens)
        for (int64_t b = 0; b < B; b++)
            if (lens[b] < 0 || lens[b] > T)
                return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "learned positions backward: "
                                  "lens[%lld] = %lld is outside [0, T = %lld]", (long long)b,
                                  (long long)lens[b], (long long)T);
    const int64_t C = lp->table.dim;
    float *dw = attn__pg(ps, lp->table.weight) + pos0 * C;
    for (int64_t t = 0; t < T; t++) {
        float *g = dw + t * C;
        for (int64_t b = 0; b < B; b++) {
            if (lens && t >= lens[b]) continue;
            const float *d = dy + (b * T + t) * C;
            for (int64_t c = 0; c < C; c++) g[c] += d[c];
        }
    }
    return ATTN_STATUS_OK;
}
