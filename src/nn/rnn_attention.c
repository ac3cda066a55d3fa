/* Additive (Bahdanau) and multiplicative (Luong dot, general) attention for RNN decoders:
 * source keys once per batch, then one decoder step at a time. Formulas in rnn_attention.h. */
#include "nn/rnn_attention.h"

#include "core/runtime.h"
#include "kernels/tiles.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static int32_t add_param(attn__params_t *ps, const char *prefix, const char *base, int64_t rows,
                         int64_t cols) {
    char name[ATTN__PARAM_NAME];
    int len = snprintf(name, sizeof name, "%s%s%s.weight", prefix, prefix[0] ? "." : "", base);
    if (len < 0 || len >= (int)sizeof name) {
        attn__fail(ATTN_STATUS_BAD_ARGUMENT, "attention parameter '%s.%s.weight' is longer "
                   "than %d bytes; use a shorter prefix", prefix, base, ATTN__PARAM_NAME - 1);
        return -1;
    }
    int64_t shape[2] = {rows, cols};
    return attn__params_add(ps, name, 2, shape);
}

attn_status_t attn__rnn_attention_init(attn__rnn_attention_t *at, attn__params_t *ps,
                                       const char *prefix, attn__rnn_score_t score, int64_t hs,
                                       int64_t hh, int64_t a) {
    if (!at || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "RNN attention init: attention, store and "
                          "prefix must not be NULL");
    const int64_t big = (int64_t)1 << 28;
    if (hs < 1 || hh < 1 || hs > big || hh > big)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "RNN attention '%s': state size %lld and "
                          "encoder size %lld must be positive (and below 2^28)", prefix,
                          (long long)hs, (long long)hh);
    memset(at, 0, sizeof *at);
    at->score = score;
    at->hs = hs;
    at->hh = hh;
    at->w = at->u = at->v = -1;
    switch (score) {
    case ATTN__RNN_SCORE_ADDITIVE:
        if (a < 1 || a > big)
            return attn__fail(ATTN_STATUS_BAD_SHAPE, "RNN attention '%s': the additive size "
                              "%lld must be positive (and below 2^28)", prefix, (long long)a);
        at->a = at->dk = a;
        if ((at->w = add_param(ps, prefix, "W", a, hs)) < 0 ||
            (at->u = add_param(ps, prefix, "U", a, hh)) < 0 ||
            (at->v = add_param(ps, prefix, "v", 1, a)) < 0)
            return ATTN_STATUS_BAD_ARGUMENT;
        return ATTN_STATUS_OK;
    case ATTN__RNN_SCORE_DOT:
        if (hs != hh)
            return attn__fail(ATTN_STATUS_BAD_SHAPE, "RNN attention '%s': the dot score needs "
                              "equal state and encoder sizes, got %lld and %lld; use the "
                              "general score", prefix, (long long)hs, (long long)hh);
        at->dk = hh;
        return ATTN_STATUS_OK;
    case ATTN__RNN_SCORE_GENERAL:
        at->dk = hs;
        if ((at->w = add_param(ps, prefix, "W", hs, hh)) < 0) return ATTN_STATUS_BAD_ARGUMENT;
        return ATTN_STATUS_OK;
    }
    return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "RNN attention '%s': unknown score %d", prefix,
                      (int)score);
}

attn_status_t attn__rnn_attention_reset(const attn__rnn_attention_t *at, attn__params_t *ps,
                                        attn__rng_t *rng) {
    if (!at || !ps || !rng)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "RNN attention reset: NULL argument");
    if (!ps->w)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "RNN attention reset: call "
                          "attn__params_alloc first");
    int32_t ids[3] = {at->w, at->u, at->v};
    for (int k = 0; k < 3; k++) {
        if (ids[k] < 0) continue;
        const attn__param_t *p = &ps->list[ids[k]];
        float bound = (float)(1.0 / sqrt((double)p->shape[1])); /* fan_in: the columns */
        float *w = attn__pw(ps, ids[k]);
        for (int64_t i = 0; i < p->numel; i++)
            w[i] = (2.0f * attn__rng_uniform(rng) - 1.0f) * bound;
    }
    return ATTN_STATUS_OK;
}

int64_t attn__rnn_attention_cache_floats(const attn__rnn_attention_t *at, int64_t B) {
    if (!at || at->score != ATTN__RNN_SCORE_ADDITIVE || B < 1) return 0;
    return 2 * B * at->a;
}

static attn_status_t check(const char *what, const attn__rnn_attention_t *at,
                           const attn__params_t *ps, int need_grad, int64_t B, int64_t Tk,
                           const int64_t *lens) {
    if (!at || !ps || (at->w >= 0 && !ps->w) || (need_grad && at->w >= 0 && !ps->g))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "RNN attention %s: NULL attention or store "
                          "(or the store is not allocated)", what);
    int64_t width = at->hh > at->dk ? at->hh : at->dk;
    if (B < 1 || Tk < 1 || B > ((int64_t)1 << 40) / Tk / width)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "RNN attention %s: batch %lld and source "
                          "length %lld must be positive and not overflow the buffers", what,
                          (long long)B, (long long)Tk);
    if (lens)
        for (int64_t b = 0; b < B; b++)
            if (lens[b] < 0 || lens[b] > Tk)
                return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "RNN attention %s: lens[%lld] = "
                                  "%lld is outside 0..Tk = %lld", what, (long long)b,
                                  (long long)lens[b], (long long)Tk);
    return ATTN_STATUS_OK;
}

/* ---- keys, once per source -----------------------------------------------------------------
 * forward: h [B, Tk, Hh] -> keys [B, Tk, Dk] = h U^T (additive), h W^T (general), h (dot) */
attn_status_t attn__rnn_attention_keys_forward(const attn__rnn_attention_t *at,
                                               const attn__params_t *ps, int64_t B, int64_t Tk,
                                               const float *h, float *keys) {
    attn_status_t st = check("keys forward", at, ps, 0, B, Tk, NULL);
    if (st != ATTN_STATUS_OK) return st;
    if (!h || !keys)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "RNN attention keys forward: h and keys "
                          "must not be NULL");
    int64_t hh = at->hh, dk = at->dk;
    if (at->score == ATTN__RNN_SCORE_DOT)
        memcpy(keys, h, sizeof(float) * (size_t)(B * Tk * hh));
    else
        attn__gemm(0, 1, B * Tk, dk, hh, 1.0f, h, hh,
                   attn__pw(ps, at->score == ATTN__RNN_SCORE_ADDITIVE ? at->u : at->w), hh, 0.0f,
                   keys, dk);
    return ATTN_STATUS_OK;
}

/* backward: dkeys [B, Tk, Dk] -> dh [B, Tk, Hh] += dkeys U (or W, or dkeys for dot),
 * dU (or dW) += dkeys^T h; valid rows only, one product per sequence */
attn_status_t attn__rnn_attention_keys_backward(const attn__rnn_attention_t *at,
                                                attn__params_t *ps, int64_t B, int64_t Tk,
                                                const float *h, const int64_t *lens,
                                                const float *dkeys, float *dh) {
    attn_status_t st = check("keys backward", at, ps, 1, B, Tk, lens);
    if (st != ATTN_STATUS_OK) return st;
    if (!h || !dkeys)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "RNN attention keys backward: h and dkeys "
                          "must not be NULL");
    int64_t hh = at->hh, dk = at->dk;
    int32_t id = at->score == ATTN__RNN_SCORE_ADDITIVE ? at->u : at->w;
    for (int64_t b = 0; b < B; b++) {
        int64_t len = lens ? lens[b] : Tk, off = b * Tk;
        if (len == 0) continue;
        if (at->score == ATTN__RNN_SCORE_DOT) {
            if (dh)
                for (int64_t i = 0; i < len * hh; i++) dh[off * hh + i] += dkeys[off * dk + i];
            continue;
        }
        attn__gemm(1, 0, dk, hh, len, 1.0f, dkeys + off * dk, dk, h + off * hh, hh, 1.0f,
                   attn__pg(ps, id), hh);
        if (dh)
            attn__gemm(0, 0, len, hh, dk, 1.0f, dkeys + off * dk, dk, attn__pw(ps, id), hh, 1.0f,
                       dh + off * hh, hh);
    }
    return ATTN_STATUS_OK;
}

/* ---- one decoder step ----------------------------------------------------------------------
 * The batch rows go to the thread pool in chunks of ROWS; the backward keeps dv per chunk and
 * adds the chunks in order, so the bits do not depend on the thread count. */
enum { ROWS = 4, TANH_BLOCK = 256 };

typedef struct fwd_job {
    const attn__rnn_attention_t *at;
    int64_t B, Tk;
    const float *s, *h, *keys;
    const int64_t *lens;
    float *alpha, *ctx, *cache;
    const float *v;
    int additive;
    const attn__tiles_t *tiles;
} fwd_job_t;

static void forward_rows(void *ctx_, int64_t b0, int64_t b1) {
    const fwd_job_t *J = ctx_;
    const int64_t Tk = J->Tk, hs = J->at->hs, hh = J->at->hh, dk = J->at->dk, A = J->at->a;
    const float *v = J->v;
    for (int64_t b = b0; b < b1; b++) {
        int64_t len = J->lens ? J->lens[b] : Tk;
        float *e = J->alpha + b * Tk, *c = J->ctx + b * hh;
        const float *q = J->additive ? J->cache + b * 2 * A : J->s + b * hs;
        float mx = -INFINITY;
        for (int64_t j = 0; j < len; j++) {
            const float *k = J->keys + (b * Tk + j) * dk;
            float acc = 0.0f;
            if (J->additive)
                acc = J->tiles->tanh_dot(A, v, q, k);
            else
                for (int64_t i = 0; i < dk; i++) acc += q[i] * k[i];
            e[j] = acc;
            if (acc > mx) mx = acc;
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < len; j++) sum += (e[j] = expf(e[j] - mx));
        for (int64_t j = 0; j < len; j++) e[j] /= sum;
        for (int64_t j = len; j < Tk; j++) e[j] = 0.0f;
        memset(c, 0, sizeof(float) * (size_t)hh);
        for (int64_t j = 0; j < len; j++) {
            const float *hj = J->h + (b * Tk + j) * hh;
            for (int64_t i = 0; i < hh; i++) c[i] += e[j] * hj[i];
        }
    }
}

/* forward: s [B, Hs], h [B, Tk, Hh], keys [B, Tk, Dk] -> alpha [B, Tk], ctx [B, Hh];
 * cache [B, 2A] (additive): W s in columns 0..A-1 */
attn_status_t attn__rnn_attention_forward(const attn__rnn_attention_t *at,
                                          const attn__params_t *ps, int64_t B, int64_t Tk,
                                          const float *s, const float *h, const float *keys,
                                          const int64_t *lens, float *alpha, float *ctx,
                                          float *cache) {
    attn_status_t st = check("forward", at, ps, 0, B, Tk, lens);
    if (st != ATTN_STATUS_OK) return st;
    int additive = at->score == ATTN__RNN_SCORE_ADDITIVE;
    if (!s || !h || !keys || !alpha || !ctx || (additive && !cache))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "RNN attention forward: s, h, keys, alpha, "
                          "ctx (and cache for the additive score) must not be NULL");
    int64_t hs = at->hs, dk = at->dk, A = at->a;
    const float *v = additive ? attn__pw(ps, at->v) : NULL;
    if (additive) attn__gemm(0, 1, B, A, hs, 1.0f, s, hs, attn__pw(ps, at->w), hs, 0.0f, cache,
                             2 * A);
    fwd_job_t J = {at, B, Tk, s, h, keys, lens, alpha, ctx, cache, v, additive, attn__tiles()};
    attn__parallel_range(B, ROWS, (double)B * (double)Tk * (double)(additive ? 30 * A : 2 * dk),
                         forward_rows, &J);
    return ATTN_STATUS_OK;
}

/* gradient of alpha_j: dctx . h_j + dalpha_j */
static float dalpha_at(const float *dctx, const float *hj, int64_t hh, const float *dalpha) {
    float d = dalpha ? *dalpha : 0.0f;
    if (dctx)
        for (int64_t i = 0; i < hh; i++) d += dctx[i] * hj[i];
    return d;
}

typedef struct bwd_job {
    const attn__rnn_attention_t *at;
    int64_t B, Tk;
    const float *s, *h, *keys;
    const int64_t *lens;
    const float *alpha;
    float *cache;
    const float *dctx, *dalpha;
    float *ds, *dh, *dkeys;
    const float *v;
    int additive;
    float *dv_part; /* [chunks][A] */
    const attn__tiles_t *tiles;
} bwd_job_t;

static void backward_rows(void *ctx_, int64_t b0, int64_t b1) {
    const bwd_job_t *J = ctx_;
    const int64_t Tk = J->Tk, hs = J->at->hs, hh = J->at->hh, dk = J->at->dk, A = J->at->a;
    const int additive = J->additive;
    const float *v = J->v, *h = J->h, *keys = J->keys, *s = J->s, *cache = J->cache;
    float *dv = additive ? J->dv_part + (b0 / ROWS) * A : NULL;
    float *ds = J->ds, *dh = J->dh, *dkeys = J->dkeys;
    for (int64_t b = b0; b < b1; b++) {
        int64_t len = J->lens ? J->lens[b] : Tk;
        const float *al = J->alpha + b * Tk, *dc = J->dctx ? J->dctx + b * hh : NULL;
        const float *da = J->dalpha ? J->dalpha + b * Tk : NULL;
        float *dq = additive ? J->cache + b * 2 * A + A : NULL;
        if (additive) memset(dq, 0, sizeof(float) * (size_t)A);
        /* softmax backward: de_j = alpha_j (dalpha_j - sum_k alpha_k dalpha_k) */
        float dot = 0.0f;
        for (int64_t j = 0; j < len; j++)
            dot += al[j] * dalpha_at(dc, h + (b * Tk + j) * hh, hh, da ? da + j : NULL);
        for (int64_t j = 0; j < len; j++) {
            const float *hj = h + (b * Tk + j) * hh, *k = keys + (b * Tk + j) * dk;
            float de = al[j] * (dalpha_at(dc, hj, hh, da ? da + j : NULL) - dot);
            if (dh && dc) {
                float *dhj = dh + (b * Tk + j) * hh;
                for (int64_t i = 0; i < hh; i++) dhj[i] += al[j] * dc[i];
            }
            float *dkj = dkeys ? dkeys + (b * Tk + j) * dk : NULL;
            if (additive) {
                const float *q = cache + b * 2 * A;
                float tb[TANH_BLOCK];
                for (int64_t i0 = 0; i0 < A; i0 += TANH_BLOCK) {
                    const int64_t ni = A - i0 < TANH_BLOCK ? A - i0 : TANH_BLOCK;
                    J->tiles->tanh_sum(ni, q + i0, k + i0, tb);
                    for (int64_t u = 0; u < ni; u++) {
                        const int64_t i = i0 + u;
                        float t = tb[u];
                        float dp = de * v[i] * (1.0f - t * t);
                        dv[i] += de * t;
                        dq[i] += dp;
                        if (dkj) dkj[i] += dp;
                    }
                }
            } else {
                const float *sb = s + b * hs;
                if (ds)
                    for (int64_t i = 0; i < dk; i++) ds[b * hs + i] += de * k[i];
                if (dkj)
                    for (int64_t i = 0; i < dk; i++) dkj[i] += de * sb[i];
            }
        }
    }
}

/* backward: dctx [B, Hh], dalpha [B, Tk] -> ds [B, Hs] +=, dh [B, Tk, Hh] +=,
 * dkeys [B, Tk, Dk] +=, dW, dv += (additive); cache [B, 2A]: columns A..2A-1 are scratch */
attn_status_t attn__rnn_attention_backward(const attn__rnn_attention_t *at, attn__params_t *ps,
                                           int64_t B, int64_t Tk, const float *s, const float *h,
                                           const float *keys, const int64_t *lens,
                                           const float *alpha, float *cache, const float *dctx,
                                           const float *dalpha, float *ds, float *dh,
                                           float *dkeys) {
    attn_status_t st = check("backward", at, ps, 1, B, Tk, lens);
    if (st != ATTN_STATUS_OK) return st;
    int additive = at->score == ATTN__RNN_SCORE_ADDITIVE;
    if (!s || !h || !keys || !alpha || (additive && !cache))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "RNN attention backward: s, h, keys, alpha "
                          "(and cache for the additive score) must not be NULL");
    int64_t hs = at->hs, dk = at->dk, A = at->a;
    const float *v = additive ? attn__pw(ps, at->v) : NULL;
    float *dv = additive ? attn__pg(ps, at->v) : NULL;
    bwd_job_t J = {at, B, Tk, s, h, keys, lens, alpha, cache, dctx, dalpha, ds, dh, dkeys, v,
                   additive, NULL, attn__tiles()};
    const int64_t chunks = (B + ROWS - 1) / ROWS;
    if (additive) {
        J.dv_part = calloc((size_t)(chunks * A), sizeof(float));
        if (!J.dv_part)
            return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "RNN attention backward: out of memory "
                              "for %lld x %lld partial sums", (long long)chunks, (long long)A);
    }
    attn__parallel_range(B, ROWS, (double)B * (double)Tk * (double)(additive ? 40 * A : 4 * dk),
                         backward_rows, &J);
    if (additive) {
        for (int64_t c = 0; c < chunks; c++)
            for (int64_t i = 0; i < A; i++) dv[i] += J.dv_part[c * A + i];
        free(J.dv_part);
    }
    if (additive) {
        const float *w = attn__pw(ps, at->w);
        attn__gemm(1, 0, A, hs, B, 1.0f, cache + A, 2 * A, s, hs, 1.0f, attn__pg(ps, at->w), hs);
        if (ds) attn__gemm(0, 0, B, hs, A, 1.0f, cache + A, 2 * A, w, hs, 1.0f, ds, hs);
    }
    return ATTN_STATUS_OK;
}
