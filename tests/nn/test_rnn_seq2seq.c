/* The recurrent pieces composed as an RNN encoder-decoder with attention uses them, checked by
 * finite differences end to end:
 *
 *     encoder: bidirectional GRU (or LSTM) over x [B, S, in] with source lengths -> h [B, S, 2H]
 *     keys    = attention keys of h, once
 *     decoder: s_{-1} = the encoder's forward-direction final state (h_n[0], and c_n[0]),
 *              ctx_{-1} = 0, and for t = 0 .. T-1 (input feeding: step t reads ctx_{t-1}):
 *                  s_t          = cell([e_t ; ctx_{t-1}], s_{t-1})
 *                  alpha_t, ctx_t = attention(s_t, h, keys, lens)
 *     L = sum_t (s_t . Gs_t + ctx_t . Gc_t)
 *
 * The backward runs the steps in reverse (attention backward, then the cell's, whose input
 * gradient splits into de_t and the gradient of ctx_{t-1}), collects the key gradients of all
 * steps, then keys backward and the encoder backward (dy = dh, dh_n from s_{-1}).
 * Checked: every element of x, e and every parameter, eps = 1e-2,
 *   |fd - g| <= 2e-3 * max(|g|, 0.05 * max|g over the tensor|) + 3e-5   (as the other tests);
 * the padding rows of x get exactly 0. */
#include "nn/gru.h"
#include "nn/lstm.h"
#include "nn/rnn_attention.h"
#include "test_rnn_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define EPS 1e-2
#define RTOL 2e-3
#define ATOL 3e-5

enum { B = 2, S = 4, IN = 3, HE = 3, HH = 2 * HE, HS = HE, E = 2, T = 3, XD = E + HH, A = 4 };
static const int64_t lens[B] = {4, 2};

typedef struct {
    int lstm;
    attn__params_t ps;
    attn__gru_t enc_gru;
    attn__lstm_t enc_lstm;
    attn__gru_cell_t dec_gru;
    attn__lstm_cell_t dec_lstm;
    attn__rnn_attention_t att;
    attn__arena_t arena;
    attn__gru_cache_t gcache;
    attn__lstm_cache_t lcache;
    float x[B * S * IN], e[T][B * E], gs[T][B * HS], gc[T][B * HH];
    /* forward state */
    float h[B * S * HH], hn[2 * B * HE], cn[2 * B * HE], keys[B * S * A];
    float xin[T][B * XD], s[T + 1][B * HS], c[T + 1][B * HS], ctx[T][B * HH];
    float alpha[T][B * S], cell_cache[T][B * 4 * HS], att_cache[T][2 * B * A];
} net_t;

static void forward(net_t *n) {
    attn__arena_reset(&n->arena);
    if (n->lstm)
        TR_OK(attn__lstm_forward(&n->enc_lstm, &n->ps, B, S, n->x, lens, NULL, NULL, n->h, n->hn,
                                 n->cn, &n->lcache, &n->arena));
    else
        TR_OK(attn__gru_forward(&n->enc_gru, &n->ps, B, S, n->x, lens, NULL, n->h, n->hn,
                                &n->gcache, &n->arena));
    TR_OK(attn__rnn_attention_keys_forward(&n->att, &n->ps, B, S, n->h, n->keys));
    memcpy(n->s[0], n->hn, sizeof n->s[0]); /* forward direction: the first B x H block */
    memcpy(n->c[0], n->cn, sizeof n->c[0]);
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) {
            memcpy(n->xin[t] + b * XD, n->e[t] + b * E, sizeof(float) * E);
            if (t > 0)
                memcpy(n->xin[t] + b * XD + E, n->ctx[t - 1] + b * HH, sizeof(float) * HH);
            else
                memset(n->xin[t] + b * XD + E, 0, sizeof(float) * HH);
        }
        if (n->lstm)
            TR_OK(attn__lstm_cell_forward(&n->dec_lstm, &n->ps, B, n->xin[t], n->s[t], n->c[t],
                                          n->s[t + 1], n->c[t + 1], n->cell_cache[t]));
        else
            TR_OK(attn__gru_cell_forward(&n->dec_gru, &n->ps, B, n->xin[t], n->s[t], n->s[t + 1],
                                         n->cell_cache[t]));
        TR_OK(attn__rnn_attention_forward(&n->att, &n->ps, B, S, n->s[t + 1], n->h, n->keys,
                                          lens, n->alpha[t], n->ctx[t], n->att_cache[t]));
    }
}

static double loss(void *p) {
    net_t *n = p;
    forward(n);
    double L = 0.0;
    for (int t = 0; t < T; t++)
        L += tr_dot(n->s[t + 1], n->gs[t], B * HS) + tr_dot(n->ctx[t], n->gc[t], B * HH);
    return L;
}

/* gradients of x and e (parameters into ps->g) */
static void backward(net_t *n, float *dx, float de[T][B * E]) {
    float dh[B * S * HH] = {0}, dkeys[B * S * A] = {0}, dhn[2 * B * HE] = {0},
          dcn[2 * B * HE] = {0};
    float ds[B * HS], dc[B * HS] = {0}, dctx[B * HH], dctx_next[B * HH] = {0};
    float dxin[B * XD], dsp[B * HS], dcp[B * HS], work[B * 4 * HS];
    memset(ds, 0, sizeof ds);
    for (int t = T - 1; t >= 0; t--) {
        for (int i = 0; i < B * HH; i++) dctx[i] = n->gc[t][i] + dctx_next[i];
        for (int i = 0; i < B * HS; i++) ds[i] += n->gs[t][i];
        TR_OK(attn__rnn_attention_backward(&n->att, &n->ps, B, S, n->s[t + 1], n->h, n->keys,
                                           lens, n->alpha[t], n->att_cache[t], dctx, NULL, ds,
                                           dh, dkeys));
        memset(dxin, 0, sizeof dxin);
        memset(dsp, 0, sizeof dsp);
        memset(dcp, 0, sizeof dcp);
        if (n->lstm)
            TR_OK(attn__lstm_cell_backward(&n->dec_lstm, &n->ps, B, n->xin[t], n->s[t], n->c[t],
                                           n->c[t + 1], n->cell_cache[t], ds, dc, dxin, dsp, dcp,
                                           work));
        else
            TR_OK(attn__gru_cell_backward(&n->dec_gru, &n->ps, B, n->xin[t], n->s[t],
                                          n->cell_cache[t], ds, dxin, dsp, work));
        for (int b = 0; b < B; b++) {
            memcpy(de[t] + b * E, dxin + b * XD, sizeof(float) * E);
            memcpy(dctx_next + b * HH, dxin + b * XD + E, sizeof(float) * HH);
        }
        memcpy(ds, dsp, sizeof ds);
        memcpy(dc, dcp, sizeof dc);
    }
    /* ctx_{-1} is the constant 0: dctx_next is dropped here */
    memcpy(dhn, ds, sizeof ds);
    memcpy(dcn, dc, sizeof dc);
    TR_OK(attn__rnn_attention_keys_backward(&n->att, &n->ps, B, S, n->h, lens, dkeys, dh));
    if (n->lstm)
        TR_OK(attn__lstm_backward(&n->enc_lstm, &n->ps, B, S, n->x, lens, NULL, NULL, n->h,
                                  &n->lcache, dh, dhn, dcn, dx, NULL, NULL, &n->arena));
    else
        TR_OK(attn__gru_backward(&n->enc_gru, &n->ps, B, S, n->x, lens, NULL, n->h, &n->gcache,
                                 dh, dhn, dx, NULL, &n->arena));
}

static void run(int lstm, attn__rnn_score_t score, const char *name) {
    static net_t n; /* large: keep it off the stack */
    memset(&n, 0, sizeof n);
    n.lstm = lstm;
    attn__params_init(&n.ps);
    attn__arena_init(&n.arena, 1 << 12);
    if (lstm) {
        TR_OK(attn__lstm_init(&n.enc_lstm, &n.ps, "encoder.rnn", IN, HE, 1, 1));
        TR_OK(attn__lstm_cell_init(&n.dec_lstm, &n.ps, "decoder.cell", XD, HS));
    } else {
        TR_OK(attn__gru_init(&n.enc_gru, &n.ps, "encoder.rnn", IN, HE, 1, 1));
        TR_OK(attn__gru_cell_init(&n.dec_gru, &n.ps, "decoder.cell", XD, HS));
    }
    TR_OK(attn__rnn_attention_init(&n.att, &n.ps, "decoder.attention", score, HS, HH, A));
    TR_OK(attn__params_alloc(&n.ps));
    attn__rng_t rng;
    attn__rng_seed(&rng, 4242 + (uint64_t)lstm);
    tr_fill(n.ps.w, n.ps.total, &rng, 0.7f);
    tr_fill(n.x, B * S * IN, &rng, 1.0f);
    for (int b = 0; b < B; b++) /* padding rows 0 for the finite differences */
        memset(n.x + (b * S + lens[b]) * IN, 0, sizeof(float) * (size_t)((S - lens[b]) * IN));
    tr_fill(&n.e[0][0], T * B * E, &rng, 1.0f);
    tr_fill(&n.gs[0][0], T * B * HS, &rng, 1.0f);
    tr_fill(&n.gc[0][0], T * B * HH, &rng, 1.0f);

    float dx[B * S * IN] = {0}, de[T][B * E];
    forward(&n);
    backward(&n, dx, de);
    for (int b = 0; b < B; b++)
        for (int64_t i = lens[b] * IN; i < S * IN; i++)
            TR_CHECK(dx[b * S * IN + i] == 0.0f, "%s: dx at padding is %g", name,
                     dx[b * S * IN + i]);
    char label[96];
    double worst = 0.0;
    snprintf(label, sizeof label, "%s dx", name);
    worst = fmax(worst, tr_fd_check(label, n.x, dx, B * S * IN, loss, &n, EPS, RTOL, ATOL));
    snprintf(label, sizeof label, "%s de", name);
    worst = fmax(worst, tr_fd_check(label, &n.e[0][0], &de[0][0], T * B * E, loss, &n, EPS, RTOL,
                                    ATOL));
    worst = fmax(worst, tr_fd_params(name, &n.ps, loss, &n, EPS, RTOL, ATOL));
    printf("  %-40s worst |fd - g| / tolerance %.3f\n", name, worst);
    attn__arena_free(&n.arena);
    attn__params_free(&n.ps);
}

int main(void) {
    run(0, ATTN__RNN_SCORE_ADDITIVE, "bi-GRU encoder, GRU decoder, additive");
    run(1, ATTN__RNN_SCORE_GENERAL, "bi-LSTM encoder, LSTM decoder, general");
    run(1, ATTN__RNN_SCORE_ADDITIVE, "bi-LSTM encoder, LSTM decoder, additive");
    return tr_finish("test_rnn_seq2seq");
}
