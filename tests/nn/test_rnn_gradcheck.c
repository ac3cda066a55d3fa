/* Finite-difference checks of the GRU and LSTM layers (src/nn/gru.h, src/nn/lstm.h) over
 * padded batches with unequal lengths (including 1, and 0 in one case), uni- and
 * bidirectional, one and two layers, with and without initial states.
 *
 * Loss L = sum(y * Gy) + sum(h_n * Gh) (+ sum(c_n * Gc) for the LSTM), G random, summed in
 * double from the fp32 outputs. Gy is random at padding positions too: the backward must
 * ignore it. Every element of x, h0, c0 and every parameter is checked:
 *   fd = (L(w + eps) - L(w - eps)) / (the fp32 step actually taken),  eps = 1e-2
 *   |fd - g| <= 2e-3 * max(|g|, 0.05 * max|g over the tensor|) + 3e-5
 * (relative 2e-3: eps^2 truncation is ~1e-5 relative; the floor covers entries near zero,
 * where the fp32 rounding of L divided by 2 eps, ~1e-6, dominates).
 * Also, exactly: outputs and input gradients at padding positions are 0; NaN in the padding
 * rows of x changes no output or gradient bit; the same call twice gives the same bits; a
 * second backward accumulates (gradients double). */
#include "nn/gru.h"
#include "nn/lstm.h"
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
    int lstm;
    int64_t B, T, in, H;
    int32_t layers;
    int bidir, use_h0;
    int64_t lens[4];
} layer_case;

static const layer_case cases[] = {
    {"GRU uni, h0", 0, 3, 4, 3, 4, 1, 0, 1, {4, 1, 3}},
    {"GRU bi, h0", 0, 3, 4, 3, 4, 1, 1, 1, {2, 4, 1}},
    {"GRU bi 2 layers, no h0, a length 0", 0, 4, 3, 2, 3, 2, 1, 0, {3, 1, 0, 2}},
    {"GRU uni 2 layers, h0, equal lengths", 0, 2, 3, 3, 3, 2, 0, 1, {3, 3}},
    {"LSTM uni, h0 c0", 1, 3, 4, 3, 4, 1, 0, 1, {4, 1, 3}},
    {"LSTM bi, h0 c0", 1, 3, 4, 3, 4, 1, 1, 1, {2, 4, 1}},
    {"LSTM bi 2 layers, no h0, a length 0", 1, 4, 3, 2, 3, 2, 1, 0, {3, 1, 0, 2}},
    {"LSTM uni 3 layers, h0 c0", 1, 2, 3, 2, 3, 3, 0, 1, {1, 3}},
};

typedef struct {
    const layer_case *c;
    attn__params_t ps;
    attn__gru_t gru;
    attn__lstm_t lstm;
    attn__arena_t arena;
    int64_t S, D;                    /* states per tensor [layers dirs, B, H]; dirs */
    float *x, *h0, *c0, *y, *hn, *cn; /* c0, cn: LSTM only */
    float *gy, *ghn, *gcn;
    float *dx, *dh0, *dc0;
} ctx_t;

static int64_t n_x(const ctx_t *k) { return k->c->B * k->c->T * k->c->in; }
static int64_t n_y(const ctx_t *k) { return k->c->B * k->c->T * k->D * k->c->H; }

static void forward(ctx_t *k) {
    const layer_case *c = k->c;
    attn__arena_reset(&k->arena);
    if (c->lstm) {
        attn__lstm_cache_t cache;
        TR_OK(attn__lstm_forward(&k->lstm, &k->ps, c->B, c->T, k->x, c->lens,
                                 c->use_h0 ? k->h0 : NULL, c->use_h0 ? k->c0 : NULL, k->y, k->hn,
                                 k->cn, &cache, &k->arena));
    } else {
        attn__gru_cache_t cache;
        TR_OK(attn__gru_forward(&k->gru, &k->ps, c->B, c->T, k->x, c->lens,
                                c->use_h0 ? k->h0 : NULL, k->y, k->hn, &cache, &k->arena));
    }
}

static double loss(void *p) {
    ctx_t *k = p;
    forward(k);
    double L = tr_dot(k->y, k->gy, n_y(k)) + tr_dot(k->hn, k->ghn, k->S);
    if (k->c->lstm) L += tr_dot(k->cn, k->gcn, k->S);
    return L;
}

/* zero gradients, forward, backward */
static void forward_backward(ctx_t *k, int zero) {
    const layer_case *c = k->c;
    if (zero) {
        attn__params_zero_grad(&k->ps);
        memset(k->dx, 0, sizeof(float) * (size_t)n_x(k));
        memset(k->dh0, 0, sizeof(float) * (size_t)k->S);
        memset(k->dc0, 0, sizeof(float) * (size_t)k->S);
    }
    attn__arena_reset(&k->arena);
    const float *h0 = c->use_h0 ? k->h0 : NULL, *c0 = c->use_h0 ? k->c0 : NULL;
    float *dh0 = c->use_h0 ? k->dh0 : NULL, *dc0 = c->use_h0 ? k->dc0 : NULL;
    if (c->lstm) {
        attn__lstm_cache_t cache;
        TR_OK(attn__lstm_forward(&k->lstm, &k->ps, c->B, c->T, k->x, c->lens, h0, c0, k->y,
                                 k->hn, k->cn, &cache, &k->arena));
        TR_OK(attn__lstm_backward(&k->lstm, &k->ps, c->B, c->T, k->x, c->lens, h0, c0, k->y,
                                  &cache, k->gy, k->ghn, k->gcn, k->dx, dh0, dc0, &k->arena));
    } else {
        attn__gru_cache_t cache;
        TR_OK(attn__gru_forward(&k->gru, &k->ps, c->B, c->T, k->x, c->lens, h0, k->y, k->hn,
                                &cache, &k->arena));
        TR_OK(attn__gru_backward(&k->gru, &k->ps, c->B, c->T, k->x, c->lens, h0, k->y, &cache,
                                 k->gy, k->ghn, k->dx, dh0, &k->arena));
    }
}

/* copies of everything a run produces, to compare runs bit for bit */
typedef struct {
    float *y, *hn, *cn, *dx, *dh0, *dc0, *g;
} snapshot_t;

static void take(const ctx_t *k, snapshot_t *s) {
    int64_t n[7] = {n_y(k), k->S, k->S, n_x(k), k->S, k->S, k->ps.total};
    const float *src[7] = {k->y, k->hn, k->cn, k->dx, k->dh0, k->dc0, k->ps.g};
    float **dst[7] = {&s->y, &s->hn, &s->cn, &s->dx, &s->dh0, &s->dc0, &s->g};
    for (int i = 0; i < 7; i++) {
        *dst[i] = tr_zeros(n[i]);
        memcpy(*dst[i], src[i], sizeof(float) * (size_t)n[i]);
    }
}

static void release(snapshot_t *s) {
    free(s->y); free(s->hn); free(s->cn); free(s->dx); free(s->dh0); free(s->dc0); free(s->g);
}

/* bitwise equality of two runs, skipping padding rows of dx (compared separately) */
static int same_bits(const ctx_t *k, const snapshot_t *a, const snapshot_t *b) {
    int64_t n[7] = {n_y(k), k->S, k->S, n_x(k), k->S, k->S, k->ps.total};
    const float *pa[7] = {a->y, a->hn, a->cn, a->dx, a->dh0, a->dc0, a->g};
    const float *pb[7] = {b->y, b->hn, b->cn, b->dx, b->dh0, b->dc0, b->g};
    for (int i = 0; i < 7; i++)
        if (memcmp(pa[i], pb[i], sizeof(float) * (size_t)n[i]) != 0) return 0;
    return 1;
}

static void run_case(const layer_case *c, uint64_t seed) {
    ctx_t k;
    memset(&k, 0, sizeof k);
    k.c = c;
    k.D = c->bidir ? 2 : 1;
    k.S = c->layers * k.D * c->B * c->H;
    attn__params_init(&k.ps);
    attn__arena_init(&k.arena, 1 << 14);
    if (c->lstm)
        TR_OK(attn__lstm_init(&k.lstm, &k.ps, "rnn", c->in, c->H, c->layers, c->bidir));
    else
        TR_OK(attn__gru_init(&k.gru, &k.ps, "rnn", c->in, c->H, c->layers, c->bidir));
    TR_OK(attn__params_alloc(&k.ps));
    attn__rng_t rng;
    attn__rng_seed(&rng, seed);
    /* weights larger than PyTorch's default so that every gate leaves its linear range */
    tr_fill(k.ps.w, k.ps.total, &rng, 0.8f);
    k.x = tr_zeros(n_x(&k)); k.dx = tr_zeros(n_x(&k));
    k.y = tr_zeros(n_y(&k)); k.gy = tr_zeros(n_y(&k));
    float **st[7] = {&k.h0, &k.c0, &k.hn, &k.cn, &k.ghn, &k.gcn, &k.dh0};
    for (int i = 0; i < 7; i++) *st[i] = tr_zeros(k.S);
    k.dc0 = tr_zeros(k.S);
    tr_fill(k.x, n_x(&k), &rng, 1.0f);
    for (int64_t b = 0; b < c->B; b++) /* padding rows of x are 0 here */
        for (int64_t t = c->lens[b]; t < c->T; t++)
            memset(k.x + (b * c->T + t) * c->in, 0, sizeof(float) * (size_t)c->in);
    tr_fill(k.h0, k.S, &rng, 0.8f);
    tr_fill(k.c0, k.S, &rng, 0.8f);
    tr_fill(k.gy, n_y(&k), &rng, 1.0f);
    tr_fill(k.ghn, k.S, &rng, 1.0f);
    tr_fill(k.gcn, k.S, &rng, 1.0f);

    forward_backward(&k, 1);
    snapshot_t first;
    take(&k, &first);

    /* padding: zero outputs, zero input gradients (exactly) */
    int64_t H = c->H, DH = k.D * H;
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t t = c->lens[b]; t < c->T; t++) {
            for (int64_t j = 0; j < DH; j++)
                TR_CHECK(k.y[(b * c->T + t) * DH + j] == 0.0f, "%s: y[%lld, %lld, %lld] = %g "
                         "at padding", c->name, (long long)b, (long long)t, (long long)j,
                         k.y[(b * c->T + t) * DH + j]);
            for (int64_t j = 0; j < c->in; j++)
                TR_CHECK(k.dx[(b * c->T + t) * c->in + j] == 0.0f, "%s: dx at padding (%lld, "
                         "%lld) is %g", c->name, (long long)b, (long long)t,
                         k.dx[(b * c->T + t) * c->in + j]);
        }
    /* a sequence of length 0 keeps its initial state */
    for (int64_t b = 0; b < c->B; b++) {
        if (c->lens[b] != 0) continue;
        for (int64_t s = 0; s < k.S / (c->B * H); s++)
            for (int64_t j = 0; j < H; j++) {
                int64_t i = (s * c->B + b) * H + j;
                TR_CHECK(k.hn[i] == (c->use_h0 ? k.h0[i] : 0.0f), "%s: length 0 changed h_n",
                         c->name);
            }
    }

    /* finite differences of every input and parameter */
    char label[128];
    double worst = 0.0, r;
    snprintf(label, sizeof label, "%s dx", c->name);
    r = tr_fd_check(label, k.x, first.dx, n_x(&k), loss, &k, EPS, RTOL, ATOL);
    worst = fmax(worst, r);
    if (c->use_h0) {
        snprintf(label, sizeof label, "%s dh0", c->name);
        worst = fmax(worst, tr_fd_check(label, k.h0, first.dh0, k.S, loss, &k, EPS, RTOL, ATOL));
        if (c->lstm) {
            snprintf(label, sizeof label, "%s dc0", c->name);
            worst = fmax(worst, tr_fd_check(label, k.c0, first.dc0, k.S, loss, &k, EPS, RTOL,
                                            ATOL));
        }
    }
    /* parameter gradients: compare against the stored copy (the live g is not touched by
     * the forward passes, but keep the check independent of that) */
    memcpy(k.ps.g, first.g, sizeof(float) * (size_t)k.ps.total);
    worst = fmax(worst, tr_fd_params(c->name, &k.ps, loss, &k, EPS, RTOL, ATOL));

    /* determinism: the same call again gives the same bits */
    forward_backward(&k, 1);
    snapshot_t again;
    take(&k, &again);
    TR_CHECK(same_bits(&k, &first, &again), "%s: a second run differs in some bit", c->name);
    release(&again);

    /* NaN in the padding rows of x: nothing changes */
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t t = c->lens[b]; t < c->T; t++)
            for (int64_t j = 0; j < c->in; j++) k.x[(b * c->T + t) * c->in + j] = NAN;
    forward_backward(&k, 1);
    for (int64_t b = 0; b < c->B; b++) /* dx at padding: still exactly 0 */
        for (int64_t t = c->lens[b]; t < c->T; t++)
            for (int64_t j = 0; j < c->in; j++)
                TR_CHECK(k.dx[(b * c->T + t) * c->in + j] == 0.0f, "%s: NaN padding: dx at "
                         "padding is %g", c->name, k.dx[(b * c->T + t) * c->in + j]);
    take(&k, &again);
    TR_CHECK(same_bits(&k, &first, &again), "%s: NaN in the padding of x changed a result",
             c->name);
    release(&again);

    /* accumulation: a second backward without zeroing doubles every gradient */
    forward_backward(&k, 0);
    int doubled = 1;
    for (int64_t i = 0; i < k.ps.total; i++)
        if (fabsf(k.ps.g[i] - 2.0f * first.g[i]) > 1e-6f * (1.0f + fabsf(first.g[i])))
            doubled = 0;
    for (int64_t i = 0; i < n_x(&k); i++)
        if (isfinite(first.dx[i]) &&
            fabsf(k.dx[i] - 2.0f * first.dx[i]) > 1e-6f * (1.0f + fabsf(first.dx[i])))
            doubled = 0;
    TR_CHECK(doubled, "%s: a second backward did not accumulate", c->name);

    printf("  %-40s worst |fd - g| / tolerance %.3f\n", c->name, worst);
    release(&first);
    free(k.x); free(k.dx); free(k.y); free(k.gy);
    free(k.h0); free(k.c0); free(k.hn); free(k.cn); free(k.ghn); free(k.gcn); free(k.dh0);
    free(k.dc0);
    attn__arena_free(&k.arena);
    attn__params_free(&k.ps);
}

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 1000 + i);
    return tr_finish("test_rnn_gradcheck");
}
