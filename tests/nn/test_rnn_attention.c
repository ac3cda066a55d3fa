/* Finite-difference checks of the RNN attentions (src/nn/rnn_attention.h): additive
 * (Bahdanau), dot and general (Luong), through the whole use: keys once, a decoder step
 * forward and backward, keys backward.
 *
 * Loss L = sum(ctx * Gc) + sum(alpha * Ga), G random (Ga also at masked positions: the
 * backward must ignore it), summed in double. Every element of s, h (padding positions
 * included) and every parameter is checked:
 *   fd = (L(w + eps) - L(w - eps)) / (the fp32 step actually taken),  eps = 1e-2
 *   |fd - g| <= 2e-3 * max(|g|, 0.05 * max|g over the tensor|) + 3e-5
 * (as test_rnn_gradcheck.c: eps^2 truncation ~1e-5 relative, fp32 rounding of L over 2 eps
 * ~1e-6 absolute).
 * Exactly: masked positions (j >= lens[b]) have alpha == 0 and get dh == 0 and dkeys == 0; a
 * source of length 0 gives alpha == 0, ctx == 0 and ds == 0; NaN in the padding rows of h
 * changes no output or gradient bit; each row of alpha sums to 1 within 1e-6. */
#include "nn/rnn_attention.h"
#include "test_rnn_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-2
#define RTOL 2e-3
#define ATOL 3e-5

typedef struct {
    const char *name;
    attn__rnn_score_t score;
    int64_t B, Tk, hs, hh, a;
    int64_t lens[4];
} att_case;

static const att_case cases[] = {
    {"additive", ATTN__RNN_SCORE_ADDITIVE, 4, 5, 3, 4, 5, {5, 2, 1, 0}},
    {"dot", ATTN__RNN_SCORE_DOT, 4, 5, 4, 4, 0, {3, 0, 5, 1}},
    {"general", ATTN__RNN_SCORE_GENERAL, 4, 5, 3, 5, 0, {1, 5, 0, 2}},
    {"additive, all full", ATTN__RNN_SCORE_ADDITIVE, 2, 3, 2, 3, 4, {3, 3}},
};

typedef struct {
    const att_case *c;
    attn__params_t ps;
    attn__rnn_attention_t at;
    float *s, *h, *keys, *alpha, *ctx, *cache, *gc, *ga;
    float *ds, *dh, *dkeys;
} ctx_t;

static void forward(ctx_t *k) {
    const att_case *c = k->c;
    TR_OK(attn__rnn_attention_keys_forward(&k->at, &k->ps, c->B, c->Tk, k->h, k->keys));
    TR_OK(attn__rnn_attention_forward(&k->at, &k->ps, c->B, c->Tk, k->s, k->h, k->keys, c->lens,
                                      k->alpha, k->ctx, k->cache));
}

static double loss(void *p) {
    ctx_t *k = p;
    forward(k);
    return tr_dot(k->ctx, k->gc, k->c->B * k->c->hh) + tr_dot(k->alpha, k->ga, k->c->B * k->c->Tk);
}

static void forward_backward(ctx_t *k) {
    const att_case *c = k->c;
    attn__params_zero_grad(&k->ps);
    memset(k->ds, 0, sizeof(float) * (size_t)(c->B * c->hs));
    memset(k->dh, 0, sizeof(float) * (size_t)(c->B * c->Tk * c->hh));
    memset(k->dkeys, 0, sizeof(float) * (size_t)(c->B * c->Tk * k->at.dk));
    forward(k);
    TR_OK(attn__rnn_attention_backward(&k->at, &k->ps, c->B, c->Tk, k->s, k->h, k->keys,
                                       c->lens, k->alpha, k->cache, k->gc, k->ga, k->ds, k->dh,
                                       k->dkeys));
    TR_OK(attn__rnn_attention_keys_backward(&k->at, &k->ps, c->B, c->Tk, k->h, c->lens,
                                            k->dkeys, k->dh));
}

static void run_case(const att_case *c, uint64_t seed) {
    ctx_t k;
    memset(&k, 0, sizeof k);
    k.c = c;
    attn__params_init(&k.ps);
    TR_OK(attn__rnn_attention_init(&k.at, &k.ps, "att", c->score, c->hs, c->hh, c->a));
    TR_OK(attn__params_alloc(&k.ps));
    attn__rng_t rng;
    attn__rng_seed(&rng, seed);
    TR_OK(attn__rnn_attention_reset(&k.at, &k.ps, &rng));
    int64_t B = c->B, Tk = c->Tk, hs = c->hs, hh = c->hh, dk = k.at.dk;
    int64_t nh = B * Tk * hh;
    k.s = tr_zeros(B * hs); k.h = tr_zeros(nh); k.keys = tr_zeros(B * Tk * dk);
    k.alpha = tr_zeros(B * Tk); k.ctx = tr_zeros(B * hh);
    k.cache = tr_zeros(attn__rnn_attention_cache_floats(&k.at, B));
    k.gc = tr_zeros(B * hh); k.ga = tr_zeros(B * Tk);
    k.ds = tr_zeros(B * hs); k.dh = tr_zeros(nh); k.dkeys = tr_zeros(B * Tk * dk);
    tr_fill(k.ps.w, k.ps.total, &rng, 0.9f); /* past the default init: tanh leaves linearity */
    tr_fill(k.s, B * hs, &rng, 1.0f);
    tr_fill(k.h, nh, &rng, 1.0f);
    tr_fill(k.gc, B * hh, &rng, 1.0f);
    tr_fill(k.ga, B * Tk, &rng, 1.0f);
    for (int64_t b = 0; b < B; b++) /* padding rows of h are 0 for the finite differences */
        memset(k.h + (b * Tk + c->lens[b]) * hh, 0,
               sizeof(float) * (size_t)((Tk - c->lens[b]) * hh));

    forward_backward(&k);
    float *ds = tr_zeros(B * hs), *dh = tr_zeros(nh), *g = tr_zeros(k.ps.total + 1);
    float *alpha = tr_zeros(B * Tk), *ctx = tr_zeros(B * hh);
    memcpy(ds, k.ds, sizeof(float) * (size_t)(B * hs));
    memcpy(dh, k.dh, sizeof(float) * (size_t)nh);
    memcpy(g, k.ps.g, sizeof(float) * (size_t)k.ps.total);
    memcpy(alpha, k.alpha, sizeof(float) * (size_t)(B * Tk));
    memcpy(ctx, k.ctx, sizeof(float) * (size_t)(B * hh));

    /* masking, exactly */
    for (int64_t b = 0; b < B; b++) {
        double sum = 0.0;
        for (int64_t j = 0; j < Tk; j++) {
            sum += alpha[b * Tk + j];
            if (j < c->lens[b]) continue;
            TR_CHECK(alpha[b * Tk + j] == 0.0f, "%s: alpha[%lld, %lld] = %g is masked", c->name,
                     (long long)b, (long long)j, alpha[b * Tk + j]);
            for (int64_t i = 0; i < hh; i++)
                TR_CHECK(dh[(b * Tk + j) * hh + i] == 0.0f, "%s: dh at masked (%lld, %lld) is "
                         "%g", c->name, (long long)b, (long long)j, dh[(b * Tk + j) * hh + i]);
            for (int64_t i = 0; i < dk; i++)
                TR_CHECK(k.dkeys[(b * Tk + j) * dk + i] == 0.0f, "%s: dkeys at masked (%lld, "
                         "%lld)", c->name, (long long)b, (long long)j);
        }
        if (c->lens[b] > 0) {
            TR_CHECK(fabs(sum - 1.0) <= 1e-6, "%s: alpha row %lld sums to %.9g", c->name,
                     (long long)b, sum);
        } else {
            for (int64_t i = 0; i < hh; i++)
                TR_CHECK(ctx[b * hh + i] == 0.0f, "%s: ctx of an empty source", c->name);
            for (int64_t i = 0; i < hs; i++)
                TR_CHECK(ds[b * hs + i] == 0.0f, "%s: ds of an empty source", c->name);
        }
    }

    char label[96];
    double worst = 0.0;
    snprintf(label, sizeof label, "%s ds", c->name);
    worst = fmax(worst, tr_fd_check(label, k.s, ds, B * hs, loss, &k, EPS, RTOL, ATOL));
    snprintf(label, sizeof label, "%s dh", c->name);
    worst = fmax(worst, tr_fd_check(label, k.h, dh, nh, loss, &k, EPS, RTOL, ATOL));
    memcpy(k.ps.g, g, sizeof(float) * (size_t)k.ps.total);
    worst = fmax(worst, tr_fd_params(c->name, &k.ps, loss, &k, EPS, RTOL, ATOL));

    /* NaN in the padding rows of h: the same bits everywhere else */
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = c->lens[b] * hh; i < Tk * hh; i++) k.h[b * Tk * hh + i] = NAN;
    forward_backward(&k);
    int same = memcmp(alpha, k.alpha, sizeof(float) * (size_t)(B * Tk)) == 0 &&
               memcmp(ctx, k.ctx, sizeof(float) * (size_t)(B * hh)) == 0 &&
               memcmp(ds, k.ds, sizeof(float) * (size_t)(B * hs)) == 0 &&
               memcmp(dh, k.dh, sizeof(float) * (size_t)nh) == 0 &&
               memcmp(g, k.ps.g, sizeof(float) * (size_t)k.ps.total) == 0;
    TR_CHECK(same, "%s: NaN in the padding of h changed a result", c->name);

    printf("  %-20s worst |fd - g| / tolerance %.3f\n", c->name, worst);
    free(ds); free(dh); free(g); free(alpha); free(ctx);
    free(k.s); free(k.h); free(k.keys); free(k.alpha); free(k.ctx); free(k.cache);
    free(k.gc); free(k.ga); free(k.ds); free(k.dh); free(k.dkeys);
    attn__params_free(&k.ps);
}

static void test_names(void) {
    attn__params_t ps;
    attn__rnn_attention_t at;
    attn__params_init(&ps);
    TR_OK(attn__rnn_attention_init(&at, &ps, "dec.att", ATTN__RNN_SCORE_ADDITIVE, 3, 4, 5));
    TR_OK(attn__rnn_attention_init(&at, &ps, "dec.gen", ATTN__RNN_SCORE_GENERAL, 3, 4, 0));
    const char *names[4] = {"dec.att.W.weight", "dec.att.U.weight", "dec.att.v.weight",
                            "dec.gen.W.weight"};
    int64_t shapes[4][2] = {{5, 3}, {5, 4}, {1, 5}, {3, 4}};
    for (int i = 0; i < 4; i++) {
        int32_t id = attn__params_find(&ps, names[i]);
        TR_CHECK(id >= 0 && ps.list[id].shape[0] == shapes[i][0] &&
                 ps.list[id].shape[1] == shapes[i][1], "%s: missing or of another shape",
                 names[i]);
    }
    TR_CHECK(ps.count == 4, "%d parameters registered, expected 4", (int)ps.count);
    attn__params_free(&ps);
}

int main(void) {
    test_names();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 500 + i);
    return tr_finish("test_rnn_attention");
}
