/* The one-step GRU and LSTM cells (the decoder's interface), and error statuses.
 *
 * 1. Finite differences of every input and parameter of one step, loss L = sum(h * Gh)
 *    (+ sum(c * Gc) for the LSTM); eps = 1e-2, |fd - g| <= 2e-3 * max(|g|, 0.05 max|g|) + 3e-5
 *    (as test_rnn_gradcheck.c). h may alias h_prev (and c c_prev): the same bits.
 * 2. Stepping a layer's own cell over T steps reproduces the layer: outputs and final states
 *    within 2e-6 absolute (the layer computes the input projections of all steps in one
 *    product, the cell one step at a time: the same sums, possibly blocked differently), and
 *    running the cell backward through time (each step's dh = dy_t + the next step's dh_prev)
 *    gives the layer's gradients within 1e-5 * (1 + |g|).
 * 3. Caller mistakes return a status with a message, never abort. */
#include "nn/gru.h"
#include "nn/lstm.h"
#include "nn/rnn_attention.h"
#include "test_rnn_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-2
#define RTOL 2e-3
#define ATOL 3e-5

enum { B = 3, IN = 3, H = 4, T = 5 };

/* ---- 1. one step, finite differences ------------------------------------------------------- */
typedef struct {
    int lstm;
    attn__params_t ps;
    attn__gru_cell_t gru;
    attn__lstm_cell_t lstm_cell;
    float x[B * IN], hp[B * H], cp[B * H], h[B * H], c[B * H], cache[B * 4 * H];
    float gh[B * H], gc[B * H];
} cell_ctx;

static void cell_forward(cell_ctx *k) {
    if (k->lstm)
        TR_OK(attn__lstm_cell_forward(&k->lstm_cell, &k->ps, B, k->x, k->hp, k->cp, k->h, k->c,
                                      k->cache));
    else
        TR_OK(attn__gru_cell_forward(&k->gru, &k->ps, B, k->x, k->hp, k->h, k->cache));
}

static double cell_loss(void *p) {
    cell_ctx *k = p;
    cell_forward(k);
    return tr_dot(k->h, k->gh, B * H) + (k->lstm ? tr_dot(k->c, k->gc, B * H) : 0.0);
}

static void test_cell_fd(int lstm) {
    const char *name = lstm ? "LSTM cell" : "GRU cell";
    cell_ctx k;
    memset(&k, 0, sizeof k);
    k.lstm = lstm;
    attn__params_init(&k.ps);
    if (lstm)
        TR_OK(attn__lstm_cell_init(&k.lstm_cell, &k.ps, "dec.cell", IN, H));
    else
        TR_OK(attn__gru_cell_init(&k.gru, &k.ps, "dec.cell", IN, H));
    TR_OK(attn__params_alloc(&k.ps));
    TR_CHECK(attn__params_find(&k.ps, "dec.cell.weight_hh") >= 0 &&
             attn__params_find(&k.ps, "dec.cell.bias_ih") >= 0, "%s: nn.%sCell's names", name,
             lstm ? "LSTM" : "GRU");
    attn__rng_t rng;
    attn__rng_seed(&rng, 7 + (uint64_t)lstm);
    if (lstm)
        TR_OK(attn__lstm_cell_reset(&k.lstm_cell, &k.ps, &rng));
    else
        TR_OK(attn__gru_cell_reset(&k.gru, &k.ps, &rng));
    float bound = 1.0f / sqrtf((float)H), wmax = 0.0f;
    for (int64_t i = 0; i < k.ps.total; i++) wmax = fmaxf(wmax, fabsf(k.ps.w[i]));
    TR_CHECK(wmax <= bound && wmax > 0.5f * bound, "%s: reset gives |w| up to %g, expected "
             "U(-%g, %g)", name, wmax, bound, bound);
    tr_fill(k.ps.w, k.ps.total, &rng, 0.8f);
    tr_fill(k.x, B * IN, &rng, 1.0f);
    tr_fill(k.hp, B * H, &rng, 0.8f);
    tr_fill(k.cp, B * H, &rng, 0.8f);
    tr_fill(k.gh, B * H, &rng, 1.0f);
    tr_fill(k.gc, B * H, &rng, 1.0f);

    float dx[B * IN] = {0}, dhp[B * H] = {0}, dcp[B * H] = {0}, work[B * 4 * H];
    cell_forward(&k);
    if (lstm)
        TR_OK(attn__lstm_cell_backward(&k.lstm_cell, &k.ps, B, k.x, k.hp, k.cp, k.c, k.cache,
                                       k.gh, k.gc, dx, dhp, dcp, work));
    else
        TR_OK(attn__gru_cell_backward(&k.gru, &k.ps, B, k.x, k.hp, k.cache, k.gh, dx, dhp,
                                      work));
    /* h written over h_prev (and c over c_prev) gives the same bits */
    float h1[B * H], c1[B * H], h2[B * H], c2[B * H], cache2[B * 4 * H];
    memcpy(h1, k.h, sizeof h1);
    memcpy(c1, k.c, sizeof c1);
    memcpy(h2, k.hp, sizeof h2);
    memcpy(c2, k.cp, sizeof c2);
    if (lstm)
        TR_OK(attn__lstm_cell_forward(&k.lstm_cell, &k.ps, B, k.x, h2, c2, h2, c2, cache2));
    else
        TR_OK(attn__gru_cell_forward(&k.gru, &k.ps, B, k.x, h2, h2, cache2));
    TR_CHECK(memcmp(h1, h2, sizeof h1) == 0 && (!lstm || memcmp(c1, c2, sizeof c1) == 0),
             "%s: writing h over h_prev changed the result", name);

    char label[64];
    double worst = 0.0;
    snprintf(label, sizeof label, "%s dx", name);
    worst = fmax(worst, tr_fd_check(label, k.x, dx, B * IN, cell_loss, &k, EPS, RTOL, ATOL));
    snprintf(label, sizeof label, "%s dh_prev", name);
    worst = fmax(worst, tr_fd_check(label, k.hp, dhp, B * H, cell_loss, &k, EPS, RTOL, ATOL));
    if (lstm) {
        snprintf(label, sizeof label, "%s dc_prev", name);
        worst = fmax(worst, tr_fd_check(label, k.cp, dcp, B * H, cell_loss, &k, EPS, RTOL, ATOL));
    }
    worst = fmax(worst, tr_fd_params(name, &k.ps, cell_loss, &k, EPS, RTOL, ATOL));
    printf("  %-30s worst |fd - g| / tolerance %.3f\n", name, worst);
    attn__params_free(&k.ps);
}

/* ---- 2. a layer's cell stepped by hand ------------------------------------------------------ */
static double max_rel(const float *a, const float *b, int64_t n) {
    double w = 0.0;
    for (int64_t i = 0; i < n; i++)
        w = fmax(w, fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i])));
    return w;
}

static void test_stepping(int lstm) {
    const char *name = lstm ? "LSTM" : "GRU";
    attn__params_t ps;
    attn__params_init(&ps);
    attn__gru_t g;
    attn__lstm_t m;
    if (lstm)
        TR_OK(attn__lstm_init(&m, &ps, "enc", IN, H, 1, 0));
    else
        TR_OK(attn__gru_init(&g, &ps, "enc", IN, H, 1, 0));
    TR_OK(attn__params_alloc(&ps));
    attn__rng_t rng;
    attn__rng_seed(&rng, 99 + (uint64_t)lstm);
    tr_fill(ps.w, ps.total, &rng, 0.8f);
    float x[B * T * IN], h0[B * H], c0[B * H], dy[B * T * H], dhn[B * H], dcn[B * H];
    tr_fill(x, B * T * IN, &rng, 1.0f);
    tr_fill(h0, B * H, &rng, 0.8f);
    tr_fill(c0, B * H, &rng, 0.8f);
    tr_fill(dy, B * T * H, &rng, 1.0f);
    tr_fill(dhn, B * H, &rng, 1.0f);
    tr_fill(dcn, B * H, &rng, 1.0f);

    /* the layer */
    attn__arena_t arena;
    attn__arena_init(&arena, 1 << 12);
    float y[B * T * H], hn[B * H], cn[B * H], dx[B * T * IN] = {0}, dh0[B * H] = {0},
          dc0[B * H] = {0};
    if (lstm) {
        attn__lstm_cache_t cache;
        TR_OK(attn__lstm_forward(&m, &ps, B, T, x, NULL, h0, c0, y, hn, cn, &cache, &arena));
        TR_OK(attn__lstm_backward(&m, &ps, B, T, x, NULL, h0, c0, y, &cache, dy, dhn, dcn, dx,
                                  dh0, dc0, &arena));
    } else {
        attn__gru_cache_t cache;
        TR_OK(attn__gru_forward(&g, &ps, B, T, x, NULL, h0, y, hn, &cache, &arena));
        TR_OK(attn__gru_backward(&g, &ps, B, T, x, NULL, h0, y, &cache, dy, dhn, dx, dh0,
                                 &arena));
    }
    float *g_layer = tr_zeros(ps.total);
    memcpy(g_layer, ps.g, sizeof(float) * (size_t)ps.total);
    attn__params_zero_grad(&ps);

    /* the cell, step by step; inputs [B, IN] per step gathered from x [B, T, IN] */
    float xs[T][B * IN], hs[T + 1][B * H], cs[T + 1][B * H], cache[T][B * 4 * H];
    memcpy(hs[0], h0, sizeof hs[0]);
    memcpy(cs[0], c0, sizeof cs[0]);
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) memcpy(xs[t] + b * IN, x + (b * T + t) * IN, sizeof(float) * IN);
        if (lstm)
            TR_OK(attn__lstm_cell_forward(&m.cell[0][0], &ps, B, xs[t], hs[t], cs[t], hs[t + 1],
                                          cs[t + 1], cache[t]));
        else
            TR_OK(attn__gru_cell_forward(&g.cell[0][0], &ps, B, xs[t], hs[t], hs[t + 1],
                                         cache[t]));
    }
    double err = 0.0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++)
                err = fmax(err, fabs(hs[t + 1][b * H + j] - y[(b * T + t) * H + j]));
    err = fmax(err, max_rel(hs[T], hn, B * H));
    if (lstm) err = fmax(err, max_rel(cs[T], cn, B * H));
    TR_CHECK(err <= 2e-6, "%s: stepping the cell differs from the layer by %.3g", name, err);

    /* backward through time with the cell */
    float dh[B * H], dc[B * H], dhp[B * H], dcp[B * H], work[B * 4 * H], dxs[B * IN];
    float dx2[B * T * IN];
    memcpy(dh, dhn, sizeof dh);
    memcpy(dc, dcn, sizeof dc);
    for (int t = T - 1; t >= 0; t--) {
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++) dh[b * H + j] += dy[(b * T + t) * H + j];
        memset(dhp, 0, sizeof dhp);
        memset(dcp, 0, sizeof dcp);
        memset(dxs, 0, sizeof dxs);
        if (lstm)
            TR_OK(attn__lstm_cell_backward(&m.cell[0][0], &ps, B, xs[t], hs[t], cs[t], cs[t + 1],
                                           cache[t], dh, dc, dxs, dhp, dcp, work));
        else
            TR_OK(attn__gru_cell_backward(&g.cell[0][0], &ps, B, xs[t], hs[t], cache[t], dh, dxs,
                                          dhp, work));
        for (int b = 0; b < B; b++) memcpy(dx2 + (b * T + t) * IN, dxs + b * IN, sizeof(float) * IN);
        memcpy(dh, dhp, sizeof dh);
        memcpy(dc, dcp, sizeof dc);
    }
    double gerr = max_rel(ps.g, g_layer, ps.total);
    gerr = fmax(gerr, max_rel(dx2, dx, B * T * IN));
    gerr = fmax(gerr, max_rel(dh, dh0, B * H));
    if (lstm) gerr = fmax(gerr, max_rel(dc, dc0, B * H));
    TR_CHECK(gerr <= 1e-5, "%s: the cell's backward through time differs from the layer's by "
             "%.3g (relative)", name, gerr);
    printf("  %-30s stepping: outputs %.2g, gradients %.2g\n", name, err, gerr);
    free(g_layer);
    attn__arena_free(&arena);
    attn__params_free(&ps);
}

/* ---- 3. errors ------------------------------------------------------------------------------ */
static void test_errors(void) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__gru_t g;
    attn__lstm_t m;
    attn__gru_cell_t gc;
    attn__rnn_attention_t at;
    TR_FAILS(attn__gru_init(&g, &ps, "g", 0, 4, 1, 0), ATTN_STATUS_BAD_SHAPE);
    TR_FAILS(attn__gru_init(&g, &ps, "g", 3, 4, ATTN__GRU_MAX_LAYERS + 1, 0),
             ATTN_STATUS_BAD_SHAPE);
    TR_FAILS(attn__lstm_init(&m, &ps, "m", 3, -1, 1, 0), ATTN_STATUS_BAD_SHAPE);
    TR_FAILS(attn__gru_init(NULL, &ps, "g", 3, 4, 1, 0), ATTN_STATUS_NULL_POINTER);
    char longname[120];
    memset(longname, 'p', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    TR_FAILS(attn__gru_cell_init(&gc, &ps, longname, 3, 4), ATTN_STATUS_BAD_ARGUMENT);
    TR_FAILS(attn__rnn_attention_init(&at, &ps, "a", ATTN__RNN_SCORE_DOT, 4, 5, 0),
             ATTN_STATUS_BAD_SHAPE);
    TR_FAILS(attn__rnn_attention_init(&at, &ps, "a", ATTN__RNN_SCORE_ADDITIVE, 4, 5, 0),
             ATTN_STATUS_BAD_SHAPE);
    TR_FAILS(attn__rnn_attention_init(&at, &ps, "a", (attn__rnn_score_t)7, 4, 5, 3),
             ATTN_STATUS_BAD_ARGUMENT);
    attn__params_free(&ps);

    attn__params_init(&ps);
    TR_OK(attn__gru_init(&g, &ps, "g", 2, 3, 1, 1));
    TR_OK(attn__lstm_init(&m, &ps, "m", 2, 3, 1, 0));
    TR_OK(attn__gru_cell_init(&gc, &ps, "c", 2, 3));
    attn__arena_t arena;
    attn__arena_init(&arena, 1 << 10);
    float x[2 * 4 * 2] = {0}, y[2 * 4 * 6], hc[2 * 3], cache[2 * 12];
    attn__gru_cache_t gcache;
    attn__lstm_cache_t mcache;
    TR_FAILS(attn__gru_forward(&g, &ps, 2, 4, x, NULL, NULL, y, NULL, &gcache, &arena),
             ATTN_STATUS_NULL_POINTER); /* store not allocated yet */
    TR_OK(attn__params_alloc(&ps));
    TR_FAILS(attn__gru_cell_init(&gc, &ps, "late", 2, 3), ATTN_STATUS_BAD_ARGUMENT);
    int64_t bad_lens[2][2] = {{4, 5}, {-1, 2}};
    for (int i = 0; i < 2; i++) {
        TR_FAILS(attn__gru_forward(&g, &ps, 2, 4, x, bad_lens[i], NULL, y, NULL, &gcache,
                                   &arena), ATTN_STATUS_BAD_ARGUMENT);
        TR_FAILS(attn__lstm_forward(&m, &ps, 2, 4, x, bad_lens[i], NULL, NULL, y, NULL, NULL,
                                    &mcache, &arena), ATTN_STATUS_BAD_ARGUMENT);
    }
    TR_FAILS(attn__gru_forward(&g, &ps, 0, 4, x, NULL, NULL, y, NULL, &gcache, &arena),
             ATTN_STATUS_BAD_SHAPE);
    TR_FAILS(attn__lstm_forward(&m, &ps, 2, 0, x, NULL, NULL, NULL, y, NULL, NULL, &mcache,
                                &arena), ATTN_STATUS_BAD_SHAPE);
    TR_FAILS(attn__gru_forward(&g, &ps, 2, 4, NULL, NULL, NULL, y, NULL, &gcache, &arena),
             ATTN_STATUS_NULL_POINTER);
    TR_OK(attn__gru_forward(&g, &ps, 2, 4, x, NULL, NULL, y, NULL, &gcache, &arena));
    TR_FAILS(attn__gru_backward(&g, &ps, 1, 4, x, NULL, NULL, y, &gcache, NULL, NULL, NULL,
                                NULL, &arena), ATTN_STATUS_BAD_ARGUMENT); /* cache of B = 2 */
    TR_FAILS(attn__gru_cell_forward(&gc, &ps, 2, x, NULL, hc, cache), ATTN_STATUS_NULL_POINTER);
    TR_FAILS(attn__gru_cell_forward(&gc, &ps, -1, x, hc, hc, cache), ATTN_STATUS_BAD_SHAPE);
    attn__arena_free(&arena);
    attn__params_free(&ps);
}

int main(void) {
    test_cell_fd(0);
    test_cell_fd(1);
    test_stepping(0);
    test_stepping(1);
    test_errors();
    return tr_finish("test_rnn_cell");
}
