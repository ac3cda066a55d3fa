/* Multi-head attention: projections through attn__gemm, attention through the fused kernel,
 * forward and backward side by side, then the key/value cache for incremental decoding. */
#include "nn/mha.h"
#include "nn/linear.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

attn_status_t attn__mha_init(attn__mha_t *m, attn__params_t *ps, const char *prefix,
                             int64_t e, int64_t heads) {
    if (!m || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "mha init: NULL argument");
    if (e < 1 || heads < 1 || e % heads != 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "mha '%s': embed dim %lld must be a positive "
                          "multiple of the number of heads %lld", prefix, (long long)e,
                          (long long)heads);
    m->e = e;
    m->heads = heads;
    m->head_dim = e / heads;
    int64_t in_w[2] = {3 * e, e}, in_b = 3 * e, out_w[2] = {e, e};
    if ((m->in_w = add_param(ps, prefix, "in_proj_weight", 2, in_w)) < 0 ||
        (m->in_b = add_param(ps, prefix, "in_proj_bias", 1, &in_b)) < 0 ||
        (m->out_w = add_param(ps, prefix, "out_proj.weight", 2, out_w)) < 0 ||
        (m->out_b = add_param(ps, prefix, "out_proj.bias", 1, &e)) < 0)
        return ATTN_STATUS_BAD_ARGUMENT;
    char name[ATTN__PARAM_NAME + 16];
    snprintf(name, sizeof name, "%s.attn_dropout", prefix);
    return attn__dropout_init(&m->attn_drop, name, 0.0f);
}

attn_status_t attn__mha_set_dropout(attn__mha_t *m, float p) {
    if (!m) return attn__fail(ATTN_STATUS_NULL_POINTER, "mha set_dropout: NULL layer");
    if (!(p >= 0.0f && p < 1.0f))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "mha: attention dropout %g; use [0, 1)",
                          (double)p);
    m->attn_drop.p = p;
    return ATTN_STATUS_OK;
}

attn_status_t attn__mha_reset(const attn__mha_t *m, attn__params_t *ps, attn__rng_t *rng) {
    if (!m || !ps || !rng || !ps->w)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "mha reset: NULL argument (or the "
                          "parameter store is not allocated)");
    const int64_t E = m->e;
    float xavier = (float)sqrt(6.0 / (double)(E + 3 * E)), kaiming = (float)(1.0 / sqrt((double)E));
    float *w = attn__pw(ps, m->in_w), *ow = attn__pw(ps, m->out_w);
    for (int64_t i = 0; i < 3 * E * E; i++) w[i] = (2.0f * attn__rng_uniform(rng) - 1.0f) * xavier;
    for (int64_t i = 0; i < E * E; i++) ow[i] = (2.0f * attn__rng_uniform(rng) - 1.0f) * kaiming;
    memset(attn__pw(ps, m->in_b), 0, sizeof(float) * (size_t)(3 * E));
    memset(attn__pw(ps, m->out_b), 0, sizeof(float) * (size_t)E);
    return ATTN_STATUS_OK;
}

/* The kernel's view of q [B, Tq, H, Dh] (rows ld_q apart), k and v [B, Tk, H, Dh] (rows ld_kv
 * apart), o [B, Tq, H, Dh] (rows E apart), all in the logical order [B, H, T, Dh]. */
typedef struct {
    attn_shape_t shape;
    attn_params_t params;
    attn_src_t q, k, v;
    attn_dst_t o;
} kernel_args;

static kernel_args kernel_view(const attn__mha_t *m, int64_t batch, int64_t len_q, int64_t len_k,
                               const float *q, int64_t ld_q, const float *k, const float *v,
                               int64_t ld_kv, int64_t kv_batch_rows, float *o,
                               const int64_t *key_lens, attn_causal_t causal, float drop_p,
                               uint64_t drop_seed) {
    kernel_args a;
    const int64_t Dh = m->head_dim, H = m->heads;
    a.shape = (attn_shape_t){batch, H, H, len_q, len_k, Dh, Dh};
    a.params = attn_default_params();
    a.params.causal = causal;
    a.params.key_lens = key_lens;
    a.params.kernel = ATTN_KERNEL_AUTO;
    a.params.dropout_p = drop_p;
    a.params.dropout_seed = drop_seed;
    a.q = attn_src_f32(q, len_q * ld_q, Dh, ld_q);
    a.k = attn_src_f32(k, kv_batch_rows * ld_kv, Dh, ld_kv);
    a.v = attn_src_f32(v, kv_batch_rows * ld_kv, Dh, ld_kv);
    a.o = attn_dst_f32(o, len_q * m->e, Dh, m->e);
    return a;
}

static attn_status_t check_sizes(const char *what, const attn__mha_t *m, int64_t batch,
                                 int64_t len_q, int64_t len_k) {
    if (batch < 1 || len_q < 1 || len_k < 1)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "%s: B = %lld, Tq = %lld, Tk = %lld must be "
                          "positive", what, (long long)batch, (long long)len_q,
                          (long long)len_k);
    if (m->e < 1 || m->heads < 1 || m->head_dim * m->heads != m->e)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s: the layer is not initialised "
                          "(call attn__mha_init)", what);
    return ATTN_STATUS_OK;
}

/* forward: x [B, Tq, E] (and memory [B, Tk, E]) -> q, k, v -> o [B, Tq, E], lse [B, H, Tq]
 *          -> y [B, Tq, E] */
attn_status_t attn__mha_forward(const attn__mha_t *m, const attn__params_t *ps, int64_t batch,
                                int64_t len_q, int64_t len_k, const float *x,
                                const float *memory, const int64_t *key_lens,
                                attn_causal_t causal, float *y, attn__mha_cache_t *cache,
                                attn__arena_t *arena) {
    const attn__mode_t eval = {0, 0};
    return attn__mha_forward_mode(m, ps, eval, batch, len_q, len_k, x, memory, key_lens, causal,
                                  y, cache, arena);
}

attn_status_t attn__mha_forward_mode(const attn__mha_t *m, const attn__params_t *ps,
                                     attn__mode_t mode, int64_t batch, int64_t len_q,
                                     int64_t len_k, const float *x, const float *memory,
                                     const int64_t *key_lens, attn_causal_t causal, float *y,
                                     attn__mha_cache_t *cache, attn__arena_t *arena) {
    if (!m || !ps || !ps->w || !x || !y || !cache || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "mha forward: NULL argument (or the "
                          "parameter store is not allocated)");
    attn_status_t st = check_sizes("mha forward", m, batch, len_q, len_k);
    if (st) return st;
    if (!memory && len_k != len_q)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "mha forward: self-attention (memory NULL) "
                          "needs Tk = Tq, got Tk = %lld and Tq = %lld", (long long)len_k,
                          (long long)len_q);
    const int64_t E = m->e, nq = batch * len_q, nk = batch * len_k;
    const float *w = attn__pw(ps, m->in_w), *b = attn__pw(ps, m->in_b);
    memset(cache, 0, sizeof *cache);
    cache->batch = batch;
    cache->len_q = len_q;
    cache->len_k = len_k;
    cache->self = memory == NULL;
    cache->key_lens = key_lens;
    cache->causal = causal;
    if (attn__dropout_active(&m->attn_drop, mode)) {
        cache->dropout_p = m->attn_drop.p;
        cache->dropout_seed = attn__hash_u64(mode.seed, m->attn_drop.stream, 0);
    }
    if (cache->self) {
        float *qkv = attn__arena_alloc(arena, (size_t)(nq * 3 * E));
        if (!qkv) return ATTN_STATUS_OUT_OF_MEMORY;
        attn__dense_forward(nq, E, 3 * E, x, E, w, E, b, qkv, 3 * E);
        cache->q = qkv;
        cache->k = qkv + E;
        cache->v = qkv + 2 * E;
        cache->ld_q = cache->ld_kv = 3 * E;
    } else {
        float *q = attn__arena_alloc(arena, (size_t)(nq * E));
        float *kv = attn__arena_alloc(arena, (size_t)(nk * 2 * E));
        if (!q || !kv) return ATTN_STATUS_OUT_OF_MEMORY;
        attn__dense_forward(nq, E, E, x, E, w, E, b, q, E);
        attn__dense_forward(nk, E, 2 * E, memory, E, w + E * E, E, b + E, kv, 2 * E);
        cache->q = q;
        cache->k = kv;
        cache->v = kv + E;
        cache->ld_q = E;
        cache->ld_kv = 2 * E;
    }
    cache->o = attn__arena_alloc(arena, (size_t)(nq * E));
    cache->lse = attn__arena_alloc(arena, (size_t)(batch * m->heads * len_q));
    if (!cache->o || !cache->lse) return ATTN_STATUS_OUT_OF_MEMORY;
    kernel_args a = kernel_view(m, batch, len_q, len_k, cache->q, cache->ld_q, cache->k,
                                cache->v, cache->ld_kv, len_k, cache->o, key_lens, causal,
                                cache->dropout_p, cache->dropout_seed);
    st = attn_forward(&a.shape, &a.params, a.q, a.k, a.v, a.o, cache->lse);
    if (st) return st;
    attn__dense_forward(nq, E, E, cache->o, E, attn__pw(ps, m->out_w), E,
                        attn__pw(ps, m->out_b), y, E);
    return ATTN_STATUS_OK;
}

/* backward: dy [B, Tq, E] -> do [B, Tq, E] (and dW_out, db_out) -> dq, dk, dv through the
 *           kernel -> dx [B, Tq, E] (and dmemory [B, Tk, E], dW_in, db_in) */
attn_status_t attn__mha_backward(const attn__mha_t *m, attn__params_t *ps, const float *x,
                                 const float *memory, const attn__mha_cache_t *cache,
                                 const float *dy, float *dx, float *dmemory,
                                 attn__arena_t *arena) {
    if (!m || !ps || !ps->w || !x || !cache || !dy || !dx || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "mha backward: NULL argument (or the "
                          "parameter store is not allocated)");
    if (!cache->o || !cache->lse || (!cache->self && !memory))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "mha backward: the cache is not from a "
                          "forward (or memory is NULL for cross-attention)");
    const int64_t E = m->e, B = cache->batch, Tq = cache->len_q, Tk = cache->len_k;
    const int64_t nq = B * Tq, nk = B * Tk;
    float *d_o = attn__arena_zeros(arena, (size_t)(nq * E));
    float *dproj = attn__arena_alloc(arena, (size_t)(cache->self ? nq * 3 * E
                                                                  : nq * E + nk * 2 * E));
    if (!d_o || !dproj) return ATTN_STATUS_OUT_OF_MEMORY;

    attn__dense_backward(nq, E, E, cache->o, E, attn__pw(ps, m->out_w), E, dy, E, d_o, E,
                         attn__pg(ps, m->out_w), E, attn__pg(ps, m->out_b));

    /* dq, dk, dv in the layout of q, k, v */
    float *dq = dproj, *dk, *dv;
    if (cache->self) {
        dk = dproj + E;
        dv = dproj + 2 * E;
    } else {
        dk = dproj + nq * E;
        dv = dk + E;
    }
    kernel_args a = kernel_view(m, B, Tq, Tk, cache->q, cache->ld_q, cache->k, cache->v,
                                cache->ld_kv, Tk, cache->o, cache->key_lens, cache->causal,
                                cache->dropout_p, cache->dropout_seed);
    /* gradients in the layout of their tensors; O and dO read as [B, Tq, H, Dh] */
    const int64_t Dh = m->head_dim;
    attn_dst_t ddq = attn_dst_f32(dq, Tq * cache->ld_q, Dh, cache->ld_q);
    attn_dst_t ddk = attn_dst_f32(dk, Tk * cache->ld_kv, Dh, cache->ld_kv);
    attn_dst_t ddv = attn_dst_f32(dv, Tk * cache->ld_kv, Dh, cache->ld_kv);
    attn_src_t o_src = attn_src_f32(cache->o, Tq * E, Dh, E);
    attn_src_t do_src = attn_src_f32(d_o, Tq * E, Dh, E);
    attn_dst_t no_dbias = {NULL, {0, 0, 0, 0}};
    attn_status_t st = attn_backward(&a.shape, &a.params, a.q, a.k, a.v, o_src, cache->lse,
                                     do_src, ddq, ddk, ddv, no_dbias);
    if (st) return st;

    float *dw = attn__pg(ps, m->in_w), *db = attn__pg(ps, m->in_b);
    const float *w = attn__pw(ps, m->in_w);
    if (cache->self) {
        attn__dense_backward(nq, E, 3 * E, x, E, w, E, dproj, 3 * E, dx, E, dw, E, db);
    } else {
        attn__dense_backward(nq, E, E, x, E, w, E, dq, E, dx, E, dw, E, db);
        attn__dense_backward(nk, E, 2 * E, memory, E, w + E * E, E, dk, 2 * E, dmemory, E,
                             dw + E * E, E, db + E);
    }
    return ATTN_STATUS_OK;
}

/* ---- incremental decoding ------------------------------------------------------------------ */
attn_status_t attn__kv_cache_init(attn__kv_cache_t *c, int64_t batch, int64_t max_len,
                                  int64_t e) {
    if (!c) return attn__fail(ATTN_STATUS_NULL_POINTER, "kv cache init: NULL cache");
    memset(c, 0, sizeof *c);
    if (batch < 1 || max_len < 1 || e < 1 || batch > INT64_MAX / max_len / e / 4)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "kv cache: B = %lld, Tmax = %lld, E = %lld "
                          "must be positive (and not absurdly large)", (long long)batch,
                          (long long)max_len, (long long)e);
    size_t n = (size_t)(batch * max_len * e);
    c->k = calloc(n, sizeof(float));
    c->v = calloc(n, sizeof(float));
    if (!c->k || !c->v) {
        attn__kv_cache_free(c);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "kv cache: cannot allocate 2 x %zu "
                          "bytes", n * sizeof(float));
    }
    c->batch = batch;
    c->max_len = max_len;
    c->e = e;
    return ATTN_STATUS_OK;
}

void attn__kv_cache_clear(attn__kv_cache_t *c) {
    if (c) c->len = 0;
}

void attn__kv_cache_free(attn__kv_cache_t *c) {
    if (!c) return;
    free(c->k);
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* reorder: sequence r continues sequence from[r] (beam search) */
attn_status_t attn__kv_cache_reorder(attn__kv_cache_t *c, const int64_t *from,
                                     attn__arena_t *arena) {
    if (!c || !from || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "kv reorder: NULL argument");
    if (!c->k)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "kv reorder: the cache is not allocated");
    for (int64_t r = 0; r < c->batch; r++)
        if (from[r] < 0 || from[r] >= c->batch)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "kv reorder: from[%lld] = %lld is not "
                              "a sequence of the cache (0 .. %lld)", (long long)r,
                              (long long)from[r], (long long)(c->batch - 1));
    if (c->len == 0) return ATTN_STATUS_OK;
    const int64_t used = c->len * c->e, ld = c->max_len * c->e;
    float *tmp = attn__arena_alloc(arena, (size_t)(c->batch * used));
    if (!tmp) return ATTN_STATUS_OUT_OF_MEMORY;
    for (int pass = 0; pass < 2; pass++) {
        float *buf = pass ? c->v : c->k;
        for (int64_t r = 0; r < c->batch; r++)
            memcpy(tmp + r * used, buf + from[r] * ld, sizeof(float) * (size_t)used);
        for (int64_t r = 0; r < c->batch; r++)
            memcpy(buf + r * ld, tmp + r * used, sizeof(float) * (size_t)used);
    }
    return ATTN_STATUS_OK;
}

/* append: src [B, t, E] -> k, v [B, Tmax, E] at positions len .. len + t - 1 */
attn_status_t attn__mha_kv_append(const attn__mha_t *m, const attn__params_t *ps,
                                  attn__kv_cache_t *c, int64_t t, const float *src) {
    if (!m || !ps || !ps->w || !c || !src)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "kv append: NULL argument");
    if (!c->k || c->e != m->e)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "kv append: the cache is not allocated "
                          "for embed dim %lld", (long long)m->e);
    if (t < 1 || t > c->max_len - c->len)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "kv append: %lld new positions do not fit "
                          "(%lld of %lld used)", (long long)t, (long long)c->len,
                          (long long)c->max_len);
    const int64_t E = m->e, ld = c->max_len * E, off = c->len * E;
    const float *w = attn__pw(ps, m->in_w), *b = attn__pw(ps, m->in_b);
    if (t == 1) { /* decoding: one product over all sequences, rows max_len * E apart */
        attn__dense_forward(c->batch, E, E, src, E, w + E * E, E, b + E, c->k + off, ld);
        attn__dense_forward(c->batch, E, E, src, E, w + 2 * E * E, E, b + 2 * E, c->v + off, ld);
    } else {
        for (int64_t bi = 0; bi < c->batch; bi++) {
            const float *s = src + bi * t * E;
            attn__dense_forward(t, E, E, s, E, w + E * E, E, b + E, c->k + bi * ld + off, E);
            attn__dense_forward(t, E, E, s, E, w + 2 * E * E, E, b + 2 * E,
                                c->v + bi * ld + off, E);
        }
    }
    c->len += t;
    return ATTN_STATUS_OK;
}

/* attend: x [B, t, E] -> q [B, t, E] -> o over the cached k, v [B, len, E] -> y [B, t, E] */
attn_status_t attn__mha_attend_cached(const attn__mha_t *m, const attn__params_t *ps,
                                      const attn__kv_cache_t *c, int64_t t, const float *x,
                                      const int64_t *key_lens, attn_causal_t causal, float *y,
                                      attn__arena_t *arena) {
    if (!m || !ps || !ps->w || !c || !x || !y || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "mha attend: NULL argument");
    if (!c->k || c->e != m->e || c->len < 1)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "mha attend: the cache is empty or not "
                          "for embed dim %lld", (long long)m->e);
    attn_status_t st = check_sizes("mha attend", m, c->batch, t, c->len);
    if (st) return st;
    const int64_t E = m->e, n = c->batch * t;
    float *q = attn__arena_alloc(arena, (size_t)(n * E));
    float *o = attn__arena_alloc(arena, (size_t)(n * E));
    if (!q || !o) return ATTN_STATUS_OUT_OF_MEMORY;
    attn__dense_forward(n, E, E, x, E, attn__pw(ps, m->in_w), E, attn__pw(ps, m->in_b), q, E);
    kernel_args a = kernel_view(m, c->batch, t, c->len, q, E, c->k, c->v, E, c->max_len, o,
                                key_lens, causal, 0.0f, 0);
    st = attn_forward(&a.shape, &a.params, a.q, a.k, a.v, a.o, NULL);
    if (st) return st;
    attn__dense_forward(n, E, E, o, E, attn__pw(ps, m->out_w), E, attn__pw(ps, m->out_b), y, E);
    return ATTN_STATUS_OK;
}

/* step: x [B, t, E] -> append its k, v -> attend with bottom-right causal -> y [B, t, E] */
attn_status_t attn__mha_step(const attn__mha_t *m, const attn__params_t *ps,
                             attn__kv_cache_t *c, int64_t t, const float *x, float *y,
                             attn__arena_t *arena) {
    attn_status_t st = attn__mha_kv_append(m, ps, c, t, x);
    if (st) return st;
    return attn__mha_attend_cached(m, ps, c, t, x, NULL, ATTN_CAUSAL_BOTTOM_RIGHT, y, arena);
}
