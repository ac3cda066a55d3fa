/* Token embedding: forward (a row gather) and backward (a row scatter-add in a fixed order). */
#include "nn/embedding.h"

#include <stdio.h>
#include <string.h>

attn_status_t attn__embedding_init(attn__embedding_t *e, attn__params_t *ps, const char *prefix,
                                   int64_t num, int64_t dim, int64_t padding_idx) {
    if (!e || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "embedding init: e, ps and prefix are "
                          "required");
    if (num < 1 || dim < 1)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "embedding '%s': %lld rows of width %lld; both "
                          "must be at least 1", prefix, (long long)num, (long long)dim);
    if (padding_idx < -1 || padding_idx >= num)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "embedding '%s': padding_idx %lld is outside "
                          "[0, %lld); pass -1 for none (PyTorch's negative indices count from "
                          "the end: use V + padding_idx)", prefix, (long long)padding_idx,
                          (long long)num);
    char name[ATTN__PARAM_NAME];
    if (snprintf(name, sizeof name, "%s.weight", prefix) >= (int)sizeof name)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "embedding prefix '%s' is too long", prefix);
    const int64_t shape[2] = {num, dim};
    int32_t id = attn__params_add(ps, name, 2, shape);
    if (id < 0) return ATTN_STATUS_BAD_ARGUMENT; /* attn__params_add set the message */
    e->num = num;
    e->dim = dim;
    e->padding_idx = padding_idx;
    e->weight = id;
    return ATTN_STATUS_OK;
}

attn_status_t attn__embedding_reset(const attn__embedding_t *e, attn__params_t *ps,
                                    attn__rng_t *rng) {
    if (!e || !ps || !ps->w || !rng)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "embedding reset: e, an allocated parameter "
                          "store and rng are required");
    float *w = attn__pw(ps, e->weight);
    for (int64_t i = 0; i < e->num * e->dim; i++) w[i] = attn__rng_normal(rng);
    if (e->padding_idx >= 0) memset(w + e->padding_idx * e->dim, 0, sizeof(float) * (size_t)e->dim);
    return ATTN_STATUS_OK;
}

static attn_status_t check_ids(const attn__embedding_t *e, const attn__params_t *ps,
                               const int32_t *ids, int64_t n, const void *buf, const char *what) {
    if (!e || !ps || !ps->w || (n > 0 && (!ids || !buf)))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "embedding %s: e, an allocated parameter "
                          "store, ids and the %s buffer are required", what,
                          what[0] == 'f' ? "output" : "gradient");
    if (n < 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "embedding %s: %lld ids", what, (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= e->num)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "embedding %s: id %ld at position %lld "
                              "is outside the vocabulary of %lld rows [0, %lld)", what,
                              (long)ids[i], (long long)i, (long long)e->num, (long long)e->num);
    return ATTN_STATUS_OK;
}

/* ids [N] -> out [N, C] */
attn_status_t attn__embedding_forward(const attn__embedding_t *e, const attn__params_t *ps,
                                      const int32_t *ids, int64_t n, float *out) {
    attn_status_t st = check_ids(e, ps, ids, n, out, "forward");
    if (st != ATTN_STATUS_OK) return st;
    const float *w = attn__pw(ps, e->weight);
    const int64_t C = e->dim;
    for (int64_t i = 0; i < n; i++)
        memcpy(out + i * C, w + (int64_t)ids[i] * C, sizeof(float) * (size_t)C);
    return ATTN_STATUS_OK;
}

/* ids [N], dout [N, C] -> dweight [V, C] += scatter of dout rows, i ascending */
attn_status_t attn__embedding_backward(const attn__embedding_t *e, attn__params_t *ps,
                                       const int32_t *ids, int64_t n, const float *dout) {
    attn_status_t st = check_ids(e, ps, ids, n, dout, "backward");
    if (st != ATTN_STATUS_OK) return st;
    float *dw = attn__pg(ps, e->weight);
    const int64_t C = e->dim;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] == e->padding_idx) continue;
        float *row = dw + (int64_t)ids[i] * C;
        const float *g = dout + i * C;
        for (int64_t c = 0; c < C; c++) row[c] += g[c];
    }
    return ATTN_STATUS_OK;
}
