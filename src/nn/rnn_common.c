/* What the GRU and the LSTM share: parameters, checks, buffers and pieces of the time loops.
 * Layouts and the kinds in rnn_common.h. */
#include "nn/rnn_common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- parameters ------------------------------------------------------------------------- */

static int32_t add_param(const attn__rnn_kind_t *k, attn__params_t *ps, const char *prefix,
                         const char *base, const char *suffix, int32_t ndim,
                         const int64_t *shape) {
    char name[ATTN__PARAM_NAME];
    int len = snprintf(name, sizeof name, "%s%s%s%s", prefix, prefix[0] ? "." : "", base,
                       suffix);
    if (len < 0 || len >= (int)sizeof name) {
        attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s parameter '%s.%s%s' is longer than %d bytes; "
                   "use a shorter prefix", k->name, prefix, base, suffix, ATTN__PARAM_NAME - 1);
        return -1;
    }
    return attn__params_add(ps, name, ndim, shape);
}

/* registers the four tensors of one cell with names "<prefix>.weight_ih<suffix>" ... */
static attn_status_t cell_register(const attn__rnn_kind_t *k, attn__rnn_cell_t *c,
                                   attn__params_t *ps, const char *prefix, const char *suffix,
                                   int64_t in, int64_t hidden) {
    int64_t G = k->gates * hidden;
    int64_t wi[2] = {G, in}, wh[2] = {G, hidden}, b[1] = {G};
    c->in = in;
    c->hidden = hidden;
    c->w_ih = add_param(k, ps, prefix, "weight_ih", suffix, 2, wi);
    if (c->w_ih < 0) return ATTN_STATUS_BAD_ARGUMENT;
    c->w_hh = add_param(k, ps, prefix, "weight_hh", suffix, 2, wh);
    if (c->w_hh < 0) return ATTN_STATUS_BAD_ARGUMENT;
    c->b_ih = add_param(k, ps, prefix, "bias_ih", suffix, 1, b);
    if (c->b_ih < 0) return ATTN_STATUS_BAD_ARGUMENT;
    c->b_hh = add_param(k, ps, prefix, "bias_hh", suffix, 1, b);
    if (c->b_hh < 0) return ATTN_STATUS_BAD_ARGUMENT;
    return ATTN_STATUS_OK;
}

static int sizes_ok(int64_t in, int64_t hidden) {
    return in >= 1 && hidden >= 1 && in <= ((int64_t)1 << 30) && hidden <= ((int64_t)1 << 28);
}

attn_status_t attn__rnn_cell_init(const attn__rnn_kind_t *k, attn__rnn_cell_t *c,
                                  attn__params_t *ps, const char *prefix, int64_t in,
                                  int64_t hidden) {
    if (!c || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "%s cell init: cell, store and prefix "
                          "must not be NULL", k->name);
    if (!sizes_ok(in, hidden))
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "%s cell '%s': input size %lld and hidden "
                          "size %lld must be positive (and below 2^28)", k->name, prefix,
                          (long long)in, (long long)hidden);
    return cell_register(k, c, ps, prefix, "", in, hidden);
}

attn_status_t attn__rnn_cell_reset(const attn__rnn_kind_t *k, const attn__rnn_cell_t *c,
                                   attn__params_t *ps, attn__rng_t *rng) {
    if (!c || !ps || !rng)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "%s reset: NULL argument", k->name);
    if (!ps->w)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s reset: call attn__params_alloc first",
                          k->name);
    float bound = (float)(1.0 / sqrt((double)c->hidden));
    int32_t ids[4] = {c->w_ih, c->w_hh, c->b_ih, c->b_hh};
    for (int i = 0; i < 4; i++) {
        float *w = attn__pw(ps, ids[i]);
        for (int64_t e = 0; e < ps->list[ids[i]].numel; e++)
            w[e] = (2.0f * attn__rng_uniform(rng) - 1.0f) * bound;
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__rnn_init(const attn__rnn_kind_t *k, attn__rnn_t *r, attn__params_t *ps,
                             const char *prefix, int64_t in, int64_t hidden, int32_t layers,
                             int bidirectional) {
    if (!r || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "%s init: layer, store and prefix must "
                          "not be NULL", k->name);
    if (!sizes_ok(in, hidden) || layers < 1 || layers > ATTN__RNN_MAX_LAYERS)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "%s '%s': input size %lld, hidden size %lld "
                          "and %d layers; sizes must be positive and layers 1..%d", k->name,
                          prefix, (long long)in, (long long)hidden, (int)layers,
                          ATTN__RNN_MAX_LAYERS);
    memset(r, 0, sizeof *r);
    r->in = in;
    r->hidden = hidden;
    r->layers = layers;
    r->dirs = bidirectional ? 2 : 1;
    for (int32_t l = 0; l < layers; l++) {
        for (int32_t d = 0; d < r->dirs; d++) {
            char suffix[32];
            snprintf(suffix, sizeof suffix, "_l%d%s", (int)l, d ? "_reverse" : "");
            attn_status_t st = cell_register(k, &r->cell[l][d], ps, prefix, suffix,
                                             l ? r->dirs * hidden : in, hidden);
            if (st != ATTN_STATUS_OK) return st;
        }
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__rnn_reset(const attn__rnn_kind_t *k, const attn__rnn_t *r,
                              attn__params_t *ps, attn__rng_t *rng) {
    if (!r) return attn__fail(ATTN_STATUS_NULL_POINTER, "%s reset: NULL layer", k->name);
    for (int32_t l = 0; l < r->layers; l++)
        for (int32_t d = 0; d < r->dirs; d++) {
            attn_status_t st = attn__rnn_cell_reset(k, &r->cell[l][d], ps, rng);
            if (st != ATTN_STATUS_OK) return st;
        }
    return ATTN_STATUS_OK;
}

/* ---- checks and buffers ------------------------------------------------------------------- */

attn_status_t attn__rnn_check_cell(const attn__rnn_kind_t *k, const char *what,
                                   const attn__rnn_cell_t *c, const attn__params_t *ps,
                                   int need_grad, int64_t B) {
    if (!c || !ps || !ps->w || (need_grad && !ps->g))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "%s cell %s: NULL cell or store (or the "
                          "store is not allocated)", k->name, what);
    if (B < 1 || B > ((int64_t)1 << 40) / (4 * (c->hidden > c->in ? c->hidden : c->in)))
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "%s cell %s: batch %lld must be positive and "
                          "not overflow the buffers", k->name, what, (long long)B);
    return ATTN_STATUS_OK;
}

/* the layer, its store, B, T and lens; then x, y, cache and arena */
static attn_status_t check_layer(const attn__rnn_kind_t *k, const char *what,
                                 const attn__rnn_t *r, const attn__params_t *ps, int need_grad,
                                 int64_t B, int64_t T, const int64_t *lens, const float *x,
                                 const float *y, const attn__rnn_cache_t *cache,
                                 const attn__arena_t *arena) {
    if (!r || !ps || !ps->w || (need_grad && !ps->g))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "%s %s: NULL layer or store (or the store "
                          "is not allocated)", k->name, what);
    int64_t width = k->step * r->hidden;
    if (r->in > width) width = r->in;
    if (B < 1 || T < 1 || B > ((int64_t)1 << 40) / T / width)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "%s %s: batch %lld and length %lld must be "
                          "positive and not overflow the buffers", k->name, what, (long long)B,
                          (long long)T);
    if (lens)
        for (int64_t b = 0; b < B; b++)
            if (lens[b] < 0 || lens[b] > T)
                return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s %s: lens[%lld] = %lld is "
                                  "outside 0..T = %lld", k->name, what, (long long)b,
                                  (long long)lens[b], (long long)T);
    if (!x || !y || !cache || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "%s %s: x, y, cache and arena must not be "
                          "NULL", k->name, what);
    return ATTN_STATUS_OK;
}

attn_status_t attn__rnn_forward_begin(const attn__rnn_kind_t *k, const attn__rnn_t *r,
                                      const attn__params_t *ps, int64_t B, int64_t T,
                                      const float *x, const int64_t *lens, const float *y,
                                      attn__rnn_cache_t *cache, attn__arena_t *arena) {
    attn_status_t st = check_layer(k, "forward", r, ps, 0, B, T, lens, x, y, cache, arena);
    if (st != ATTN_STATUS_OK) return st;
    int64_t H = r->hidden, D = r->dirs, L = r->layers;
    memset(cache, 0, sizeof *cache);
    cache->batch = B;
    cache->len = T;
    for (int64_t l = 0; l < L; l++) {
        for (int64_t d = 0; d < D; d++)
            if (!(cache->gates[l][d] = attn__arena_alloc(arena, (size_t)(B * T * k->step * H))))
                return ATTN_STATUS_OUT_OF_MEMORY;
        if (l + 1 < L && !(cache->y[l] = attn__arena_alloc(arena, (size_t)(B * T * D * H))))
            return ATTN_STATUS_OUT_OF_MEMORY;
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__rnn_backward_check(const attn__rnn_kind_t *k, const attn__rnn_t *r,
                                       const attn__params_t *ps, int64_t B, int64_t T,
                                       const float *x, const int64_t *lens, const float *y,
                                       const attn__rnn_cache_t *cache, const attn__arena_t *arena) {
    attn_status_t st = check_layer(k, "backward", r, ps, 1, B, T, lens, x, y, cache, arena);
    if (st != ATTN_STATUS_OK) return st;
    if (cache->batch != B || cache->len != T || !cache->gates[0][0])
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s backward: the cache is from a forward "
                          "of batch %lld and length %lld, not %lld and %lld", k->name,
                          (long long)cache->batch, (long long)cache->len, (long long)B,
                          (long long)T);
    return ATTN_STATUS_OK;
}

attn_status_t attn__rnn_backward_scratch(const attn__rnn_t *r, attn__arena_t *arena, int64_t B,
                                         int64_t T, int64_t work_floats, float **dg,
                                         float **work, float *dbuf[2]) {
    int64_t H = r->hidden, D = r->dirs, L = r->layers;
    *dg = attn__arena_alloc(arena, (size_t)(B * T * 4 * H));
    *work = attn__arena_alloc(arena, (size_t)work_floats);
    dbuf[0] = dbuf[1] = NULL;
    for (int i = 0; i < 2 && i + 1 < L; i++)
        if (!(dbuf[i] = attn__arena_alloc(arena, (size_t)(B * T * D * H))))
            return ATTN_STATUS_OUT_OF_MEMORY;
    if (!*dg || !*work) return ATTN_STATUS_OUT_OF_MEMORY;
    return ATTN_STATUS_OK;
}

float *attn__rnn_input_grad(int64_t l, int64_t L, float *const dbuf[2], float *dx, int64_t n) {
    if (l == 0) return dx;
    float *d = dbuf[(L - 1 - l) & 1];
    memset(d, 0, sizeof(float) * (size_t)n);
    return d;
}

/* ---- pieces of the time loops ------------------------------------------------------------- */

void attn__rnn_copy_or_zero(float *dst, const float *src, int64_t n) {
    if (src)
        memcpy(dst, src, sizeof(float) * (size_t)n);
    else
        memset(dst, 0, sizeof(float) * (size_t)n);
}

void attn__rnn_zero_padding(int64_t B, int64_t T, const int64_t *lens, float *y, int64_t ldy,
                            int64_t n) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = lens ? lens[b] : T; t < T; t++)
            memset(y + (b * T + t) * ldy, 0, sizeof(float) * (size_t)n);
}

void attn__rnn_colsum_valid(int64_t B, int64_t T, const int64_t *lens, const float *src,
                            int64_t ld, int64_t n, float *dst) {
    enum { BLK = 64 };
    double acc[BLK];
    for (int64_t j0 = 0; j0 < n; j0 += BLK) {
        int64_t nj = n - j0 < BLK ? n - j0 : BLK;
        for (int64_t j = 0; j < nj; j++) acc[j] = 0.0;
        for (int64_t b = 0; b < B; b++) {
            int64_t len = lens ? lens[b] : T;
            for (int64_t t = 0; t < len; t++) {
                const float *row = src + (b * T + t) * ld + j0;
                for (int64_t j = 0; j < nj; j++) acc[j] += (double)row[j];
            }
        }
        for (int64_t j = 0; j < nj; j++) dst[j0 + j] += (float)acc[j];
    }
}

void attn__rnn_input_backward(int64_t B, int64_t T, const int64_t *lens, const float *dg,
                              int64_t ldg, int64_t rows, const float *x, int64_t in,
                              const float *wih, float *dwih, float *dx) {
    for (int64_t b = 0; b < B; b++) {
        int64_t len = lens ? lens[b] : T;
        if (len == 0) continue;
        const float *dgb = dg + b * T * ldg;
        attn__gemm(1, 0, rows, in, len, 1.0f, dgb, ldg, x + b * T * in, in, 1.0f, dwih, in);
        if (dx)
            attn__gemm(0, 0, len, in, rows, 1.0f, dgb, ldg, wih, in, 1.0f, dx + b * T * in, in);
    }
}
