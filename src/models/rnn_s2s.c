/* The RNN encoder-decoders: Luong-style global attention with input feeding ("rnn-attention"),
 * and the same encoder and decoder without attention ("rnn"). With E = d_model (embedding
 * size), H = hidden (per encoder direction), D = 2H (the decoder's hidden size):
 *
 *   encoder:  x = dropout(src_embed(src))                                    [B, S, E]
 *             h, (h_n, c_n) = bidirectional GRU/LSTM (enc_layers) over x, src_len
 *                                             h [B, S, D], zero past each source's length
 *   bridge:   s_0 = tanh(bridge([h_n fwd; h_n bwd]))       Linear(D -> D), top layer's states
 *             c_0 = tanh(bridge_c([c_n fwd; c_n bwd]))     (LSTM only)
 *   decoder, rnn-attention (att_{-1} = 0; one cell, dec_layers must be 1):
 *             s_t          = cell([tgt_embed(y_{t-1}); att_{t-1}], s_{t-1})   input E + D
 *             alpha_t, c_t = attention(s_t, h, keys, src_len)   additive (A = D), dot, general
 *             att_t        = tanh(attn_combine([s_t; c_t]))     Linear(2D -> D)
 *             logits_t     = generator(dropout(att_t))          Linear(D -> V)
 *   decoder, rnn:
 *             s_t          = cell(tgt_embed(y_{t-1}), s_{t-1})                 input E
 *             logits_t     = generator(dropout(s_t))
 *             (the source reaches the decoder only through s_0)
 *
 * Dropout acts on the source embeddings and on the generator's input only; the state fed back
 * (s_t, att_t) is the undropped one. Names: src_embed.weight, tgt_embed.weight (padding row
 * <pad> = 0), encoder.rnn.* (nn.GRU / nn.LSTM names), bridge.*, bridge_c.* (LSTM),
 * decoder.cell.* (nn.GRUCell / nn.LSTMCell names), attention.* (nn/rnn_attention.h),
 * attn_combine.*, generator.*. Initialisation: each layer's PyTorch default, from one seeded
 * generator in the order of the names above.
 *
 * Training runs the decoder over the T teacher-forced steps with per-step caches from the
 * arena and back through time in reverse. Positions past a target's length are computed like
 * the others; the loss gives them zero gradient and the decoder is causal, so they change
 * nothing for real positions. Decoding keeps per-row s, c and att_{t-1}; the attention runs
 * over a per-row copy of its source's h and keys. */
#include "models/config.h"
#include "nn/embedding.h"
#include "nn/gru.h"
#include "nn/linear.h"
#include "nn/lstm.h"
#include "nn/rnn_attention.h"
#include "g2p/vocab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The encoder's results for a batch of sources (pointers into an arena). */
typedef struct {
    int64_t B, S;
    const int64_t *lens;
    float *x, *h, *hn, *cn;  /* x [B, S, E], h [B, S, D], hn and cn [layers 2, B, H] */
    float *hcat, *ccat;      /* [B, D]: the top layer's final states, forward then backward */
    float *s0, *c0, *keys;   /* [B, D], [B, D], [B, S, Dk] */
    attn__gru_cache_t gc;
    attn__lstm_cache_t lc;
} enc_t;

/* One decoder step for R rows: where its outputs (and caches) go. */
typedef struct {
    float *s, *c, *gates;    /* [R, D] each, gates [R, 4D] */
    float *alpha, *ctx, *ac; /* [R, S], [R, D], attention cache */
    float *u, *att;          /* [R, 2D] = [s; ctx], [R, D] */
} step_t;

typedef struct {
    attn__s2s_config_t cfg;
    int attention, lstm;
    int64_t E, H, D, L, in, dk, acn; /* acn: attention cache floats per row */
    attn__embedding_t src_embed, tgt_embed;
    attn__dropout_t src_drop, out_drop;
    attn__gru_t enc_gru;
    attn__lstm_t enc_lstm;
    attn__linear_t bridge, bridge_c, combine, generator;
    attn__gru_cell_t dec_gru;
    attn__lstm_cell_t dec_lstm;
    attn__rnn_attention_t at;
    /* the last teacher-forced forward (pointers into its arena); step t's s is s[t + 1] */
    enc_t fe;
    int32_t *ids;            /* [T, B] the decoder's inputs, time-major */
    float *emb, *x;          /* [T, B, E], [T, B, in] (attention; rnn reads emb) */
    float *s, *c;            /* [T + 1, B, D] */
    float *gates, *alpha, *ctx, *ac, *u, *att; /* [T, B, ...] */
    float *out;              /* [B, T, D] the generator's input, after dropout */
    /* decoding */
    attn__arena_t enc_arena;
    enc_t de;
    int64_t *dlens, rows;
    float *dbuf;             /* one block for the rows' buffers below ("d" for decoding: */
    int64_t *rlens;          /* ds, dc, datt are the rows' s, c and att_{t-1}, not gradients) */
    float *rh, *rkeys, *ds, *dc, *datt, *dx, *demb, *dlogits, *dtmp;
    step_t dstep;
} rnn_t;

static rnn_t *impl(attn__s2s_t *m) { return (rnn_t *)m->impl; }

static attn_status_t oom(void) {
    return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "RNN model: out of memory");
}

/* ---- encoder ------------------------------------------------------------------------------- */

static attn_status_t encode_into(const rnn_t *r, const attn__params_t *ps, attn__mode_t mode,
                                 int64_t B, int64_t S, const int32_t *src, const int64_t *lens,
                                 attn__arena_t *ar, enc_t *e) {
    const int64_t E = r->E, H = r->H, D = r->D, top = (r->L - 1) * 2;
    attn_status_t st;
    memset(e, 0, sizeof *e);
    e->B = B;
    e->S = S;
    e->lens = lens;
    e->x = attn__arena_alloc(ar, (size_t)(B * S * E));
    e->h = attn__arena_alloc(ar, (size_t)(B * S * D));
    e->hn = attn__arena_alloc(ar, (size_t)(r->L * 2 * B * H));
    e->hcat = attn__arena_alloc(ar, (size_t)(B * D));
    e->s0 = attn__arena_alloc(ar, (size_t)(B * D));
    if (!e->x || !e->h || !e->hn || !e->hcat || !e->s0) return oom();
    if (r->lstm) {
        e->cn = attn__arena_alloc(ar, (size_t)(r->L * 2 * B * H));
        e->ccat = attn__arena_alloc(ar, (size_t)(B * D));
        e->c0 = attn__arena_alloc(ar, (size_t)(B * D));
        if (!e->cn || !e->ccat || !e->c0) return oom();
    }
    if ((st = attn__embedding_forward(&r->src_embed, ps, src, B * S, e->x))) return st;
    if ((st = attn__dropout_forward(&r->src_drop, mode, B * S * E, e->x, e->x))) return st;
    if (r->lstm)
        st = attn__lstm_forward(&r->enc_lstm, ps, B, S, e->x, lens, NULL, NULL, e->h, e->hn,
                                e->cn, &e->lc, ar);
    else
        st = attn__gru_forward(&r->enc_gru, ps, B, S, e->x, lens, NULL, e->h, e->hn, &e->gc, ar);
    if (st != ATTN_STATUS_OK) return st;
    for (int pass = 0; pass < 1 + r->lstm; pass++) {
        const float *fin = pass ? e->cn : e->hn;
        float *cat = pass ? e->ccat : e->hcat, *init = pass ? e->c0 : e->s0;
        for (int64_t b = 0; b < B; b++) {
            memcpy(cat + b * D, fin + (top * B + b) * H, sizeof(float) * (size_t)H);
            memcpy(cat + b * D + H, fin + ((top + 1) * B + b) * H, sizeof(float) * (size_t)H);
        }
        if ((st = attn__linear_forward(pass ? &r->bridge_c : &r->bridge, ps, B, cat, init)))
            return st;
        for (int64_t i = 0; i < B * D; i++) init[i] = tanhf(init[i]);
    }
    if (r->attention) {
        if (!(e->keys = attn__arena_alloc(ar, (size_t)(B * S * r->dk)))) return oom();
        return attn__rnn_attention_keys_forward(&r->at, ps, B, S, e->h, e->keys);
    }
    return ATTN_STATUS_OK;
}

/* dh [B, S, D] (the decoder's gradient of h; grows here), dkeys (NULL without attention),
 * ds0 and dc0 [B, D] -> parameter gradients of the encoder, the bridges and src_embed. */
static attn_status_t encode_backward(const rnn_t *r, attn__params_t *ps, attn__mode_t mode,
                                     const enc_t *e, const int32_t *src, float *dh,
                                     const float *dkeys, const float *ds0, const float *dc0,
                                     attn__arena_t *ar) {
    const int64_t B = e->B, S = e->S, E = r->E, H = r->H, D = r->D, top = (r->L - 1) * 2;
    attn_status_t st;
    float *dhn = attn__arena_zeros(ar, (size_t)(r->L * 2 * B * H));
    float *dcn = r->lstm ? attn__arena_zeros(ar, (size_t)(r->L * 2 * B * H)) : NULL;
    float *dpre = attn__arena_alloc(ar, (size_t)(B * D));
    float *dcat = attn__arena_alloc(ar, (size_t)(B * D));
    float *dx = attn__arena_zeros(ar, (size_t)(B * S * E));
    float *dxd = attn__arena_zeros(ar, (size_t)(B * S * E));
    if (!dhn || (r->lstm && !dcn) || !dpre || !dcat || !dx || !dxd) return oom();
    for (int pass = 0; pass < 1 + r->lstm; pass++) {
        const float *init = pass ? e->c0 : e->s0, *dinit = pass ? dc0 : ds0;
        float *dfin = pass ? dcn : dhn;
        for (int64_t i = 0; i < B * D; i++) dpre[i] = dinit[i] * (1.0f - init[i] * init[i]);
        memset(dcat, 0, sizeof(float) * (size_t)(B * D));
        if ((st = attn__linear_backward(pass ? &r->bridge_c : &r->bridge, ps, B,
                                        pass ? e->ccat : e->hcat, dpre, dcat)))
            return st;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < H; i++) {
                dfin[(top * B + b) * H + i] += dcat[b * D + i];
                dfin[((top + 1) * B + b) * H + i] += dcat[b * D + H + i];
            }
    }
    if (dkeys && (st = attn__rnn_attention_keys_backward(&r->at, ps, B, S, e->h, e->lens,
                                                         dkeys, dh)))
        return st;
    if (r->lstm)
        st = attn__lstm_backward(&r->enc_lstm, ps, B, S, e->x, e->lens, NULL, NULL, e->h, &e->lc,
                                 dh, dhn, dcn, dx, NULL, NULL, ar);
    else
        st = attn__gru_backward(&r->enc_gru, ps, B, S, e->x, e->lens, NULL, e->h, &e->gc, dh,
                                dhn, dx, NULL, ar);
    if (st != ATTN_STATUS_OK) return st;
    if ((st = attn__dropout_backward(&r->src_drop, mode, B * S * E, dx, dxd))) return st;
    return attn__embedding_backward(&r->src_embed, ps, src, B * S, dxd);
}

/* ---- one decoder step ---------------------------------------------------------------------- */

/* x [R, in], s_prev and c_prev [R, D] -> o (s, c, gates; attention: alpha, ctx, u, att).
 * o->s may be s_prev and o->c may be c_prev. */
static attn_status_t dec_step(const rnn_t *r, const attn__params_t *ps, int64_t R, int64_t S,
                              const float *x, const float *s_prev, const float *c_prev,
                              const float *h, const float *keys, const int64_t *lens,
                              const step_t *o) {
    const int64_t D = r->D;
    attn_status_t st;
    if (r->lstm)
        st = attn__lstm_cell_forward(&r->dec_lstm, ps, R, x, s_prev, c_prev, o->s, o->c,
                                     o->gates);
    else
        st = attn__gru_cell_forward(&r->dec_gru, ps, R, x, s_prev, o->s, o->gates);
    if (st != ATTN_STATUS_OK || !r->attention) return st;
    if ((st = attn__rnn_attention_forward(&r->at, ps, R, S, o->s, h, keys, lens, o->alpha,
                                          o->ctx, o->ac)))
        return st;
    for (int64_t b = 0; b < R; b++) {
        memcpy(o->u + b * 2 * D, o->s + b * D, sizeof(float) * (size_t)D);
        memcpy(o->u + b * 2 * D + D, o->ctx + b * D, sizeof(float) * (size_t)D);
    }
    if ((st = attn__linear_forward(&r->combine, ps, R, o->u, o->att))) return st;
    for (int64_t i = 0; i < R * D; i++) o->att[i] = tanhf(o->att[i]);
    return ATTN_STATUS_OK;
}

/* step t's buffers in the training caches (B rows) */
static step_t train_step(const rnn_t *r, int64_t B, int64_t S, int64_t t) {
    const int64_t D = r->D;
    step_t o;
    o.s = r->s + (t + 1) * B * D;
    o.c = r->lstm ? r->c + (t + 1) * B * D : NULL;
    o.gates = r->gates + t * B * 4 * D;
    o.alpha = r->attention ? r->alpha + t * B * S : NULL;
    o.ctx = r->attention ? r->ctx + t * B * D : NULL;
    o.ac = r->attention && r->acn ? r->ac + t * B * r->acn : NULL;
    o.u = r->attention ? r->u + t * B * 2 * D : NULL;
    o.att = r->attention ? r->att + t * B * D : NULL;
    return o;
}

/* ---- teacher-forced training ----------------------------------------------------------------- */

static attn_status_t rnn_forward(attn__s2s_t *m, const attn__s2s_batch_t *b, attn__mode_t mode,
                                 attn__arena_t *ar, float **logits) {
    rnn_t *r = impl(m);
    const attn__params_t *ps = &m->params;
    const int64_t B = b->B, S = b->S, T = b->T, E = r->E, D = r->D, in = r->in;
    const int att = r->attention;
    attn_status_t st = encode_into(r, ps, mode, B, S, b->src, b->src_len, ar, &r->fe);
    if (st != ATTN_STATUS_OK) return st;
    r->ids = (int32_t *)attn__arena_alloc(ar, (size_t)(T * B));
    r->emb = attn__arena_alloc(ar, (size_t)(T * B * E));
    r->s = attn__arena_alloc(ar, (size_t)((T + 1) * B * D));
    r->gates = attn__arena_alloc(ar, (size_t)(T * B * 4 * D));
    r->out = attn__arena_alloc(ar, (size_t)(B * T * D));
    *logits = attn__arena_alloc(ar, (size_t)(B * T * m->tgt_vocab));
    if (!r->ids || !r->emb || !r->s || !r->gates || !r->out || !*logits) return oom();
    r->c = r->x = r->alpha = r->ctx = r->ac = r->u = r->att = NULL;
    if (r->lstm && !(r->c = attn__arena_alloc(ar, (size_t)((T + 1) * B * D)))) return oom();
    if (att) {
        r->x = attn__arena_alloc(ar, (size_t)(T * B * in));
        r->alpha = attn__arena_alloc(ar, (size_t)(T * B * S));
        r->ctx = attn__arena_alloc(ar, (size_t)(T * B * D));
        r->u = attn__arena_alloc(ar, (size_t)(T * B * 2 * D));
        r->att = attn__arena_alloc(ar, (size_t)(T * B * D));
        if (!r->x || !r->alpha || !r->ctx || !r->u || !r->att) return oom();
        if (r->acn && !(r->ac = attn__arena_alloc(ar, (size_t)(T * B * r->acn)))) return oom();
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < B; i++) r->ids[t * B + i] = b->tgt_in[i * T + t];
    if ((st = attn__embedding_forward(&r->tgt_embed, ps, r->ids, T * B, r->emb))) return st;
    memcpy(r->s, r->fe.s0, sizeof(float) * (size_t)(B * D));
    if (r->lstm) memcpy(r->c, r->fe.c0, sizeof(float) * (size_t)(B * D));
    for (int64_t t = 0; t < T; t++) {
        const float *x = r->emb + t * B * E;
        if (att) {
            float *xt = r->x + t * B * in;
            for (int64_t i = 0; i < B; i++) {
                memcpy(xt + i * in, x + i * E, sizeof(float) * (size_t)E);
                if (t == 0) memset(xt + i * in + E, 0, sizeof(float) * (size_t)D);
                else memcpy(xt + i * in + E, r->att + ((t - 1) * B + i) * D,
                            sizeof(float) * (size_t)D);
            }
            x = xt;
        }
        step_t o = train_step(r, B, S, t);
        st = dec_step(r, ps, B, S, x, r->s + t * B * D, r->lstm ? r->c + t * B * D : NULL,
                      r->fe.h, r->fe.keys, b->src_len, &o);
        if (st != ATTN_STATUS_OK) return st;
        const float *y = att ? o.att : o.s;
        for (int64_t i = 0; i < B; i++)
            memcpy(r->out + (i * T + t) * D, y + i * D, sizeof(float) * (size_t)D);
    }
    if ((st = attn__dropout_forward(&r->out_drop, mode, B * T * D, r->out, r->out))) return st;
    return attn__linear_forward(&r->generator, ps, B * T, r->out, *logits);
}

static attn_status_t rnn_backward(attn__s2s_t *m, const attn__s2s_batch_t *b, attn__mode_t mode,
                                  const float *dlogits, attn__arena_t *ar) {
    rnn_t *r = impl(m);
    attn__params_t *ps = &m->params;
    const int64_t B = b->B, S = b->S, T = b->T, E = r->E, D = r->D, in = r->in;
    const int att = r->attention;
    attn_status_t st;
    float *d_out = attn__arena_zeros(ar, (size_t)(B * T * D));
    float *d_gen = attn__arena_zeros(ar, (size_t)(B * T * D)); /* of att_t (or s_t) */
    float *dh = attn__arena_zeros(ar, (size_t)(B * S * D));
    float *dkeys = att ? attn__arena_zeros(ar, (size_t)(B * S * r->dk)) : NULL;
    float *demb = attn__arena_zeros(ar, (size_t)(T * B * E));
    float *ds = attn__arena_alloc(ar, (size_t)(B * D));        /* all of s_t's gradient */
    float *ds_next = attn__arena_zeros(ar, (size_t)(B * D));   /* from step t + 1 */
    float *ds_prev = attn__arena_alloc(ar, (size_t)(B * D));
    float *dc_next = attn__arena_zeros(ar, (size_t)(B * D));
    float *dc_prev = attn__arena_alloc(ar, (size_t)(B * D));
    float *datt_next = attn__arena_zeros(ar, (size_t)(B * D)); /* input feeding */
    float *dz = attn__arena_alloc(ar, (size_t)(B * D));
    float *du = attn__arena_alloc(ar, (size_t)(B * 2 * D));
    float *dctx = attn__arena_alloc(ar, (size_t)(B * D));
    float *dx = attn__arena_alloc(ar, (size_t)(B * in));
    float *work = attn__arena_alloc(ar, (size_t)(B * 4 * D));
    if (!d_out || !d_gen || !dh || (att && !dkeys) || !demb || !ds || !ds_next || !ds_prev ||
        !dc_next || !dc_prev || !datt_next || !dz || !du || !dctx || !dx || !work)
        return oom();
    if ((st = attn__linear_backward(&r->generator, ps, B * T, r->out, dlogits, d_out))) return st;
    if ((st = attn__dropout_backward(&r->out_drop, mode, B * T * D, d_out, d_gen))) return st;
    for (int64_t t = T - 1; t >= 0; t--) {
        step_t o = train_step(r, B, S, t);
        const float *s_prev = r->s + t * B * D, *c_prev = r->lstm ? r->c + t * B * D : NULL;
        if (att) {
            for (int64_t i = 0; i < B; i++)
                for (int64_t j = 0; j < D; j++) {
                    float a = o.att[i * D + j];
                    dz[i * D + j] = (d_gen[(i * T + t) * D + j] + datt_next[i * D + j]) *
                                    (1.0f - a * a);
                }
            memset(du, 0, sizeof(float) * (size_t)(B * 2 * D));
            if ((st = attn__linear_backward(&r->combine, ps, B, o.u, dz, du))) return st;
            for (int64_t i = 0; i < B; i++)
                for (int64_t j = 0; j < D; j++) {
                    ds[i * D + j] = du[i * 2 * D + j] + ds_next[i * D + j];
                    dctx[i * D + j] = du[i * 2 * D + D + j];
                }
            st = attn__rnn_attention_backward(&r->at, ps, B, S, o.s, r->fe.h, r->fe.keys,
                                              b->src_len, o.alpha, o.ac, dctx, NULL, ds, dh,
                                              dkeys);
            if (st != ATTN_STATUS_OK) return st;
        } else {
            for (int64_t i = 0; i < B; i++)
                for (int64_t j = 0; j < D; j++)
                    ds[i * D + j] = d_gen[(i * T + t) * D + j] + ds_next[i * D + j];
        }
        /* the cell: input gradient straight into demb (rnn) or split below (attention) */
        const float *x = att ? r->x + t * B * in : r->emb + t * B * E;
        float *dxt = att ? dx : demb + t * B * E;
        if (att) memset(dx, 0, sizeof(float) * (size_t)(B * in));
        memset(ds_prev, 0, sizeof(float) * (size_t)(B * D));
        if (r->lstm) {
            memset(dc_prev, 0, sizeof(float) * (size_t)(B * D));
            st = attn__lstm_cell_backward(&r->dec_lstm, ps, B, x, s_prev, c_prev, o.c, o.gates,
                                          ds, dc_next, dxt, ds_prev, dc_prev, work);
        } else {
            st = attn__gru_cell_backward(&r->dec_gru, ps, B, x, s_prev, o.gates, ds, dxt,
                                         ds_prev, work);
        }
        if (st != ATTN_STATUS_OK) return st;
        if (att)
            for (int64_t i = 0; i < B; i++) {
                memcpy(demb + (t * B + i) * E, dx + i * in, sizeof(float) * (size_t)E);
                memcpy(datt_next + i * D, dx + i * in + E, sizeof(float) * (size_t)D);
            }
        float *sw = ds_next; ds_next = ds_prev; ds_prev = sw;
        sw = dc_next; dc_next = dc_prev; dc_prev = sw;
    }
    if ((st = attn__embedding_backward(&r->tgt_embed, ps, r->ids, T * B, demb))) return st;
    return encode_backward(r, ps, mode, &r->fe, b->src, dh, dkeys, ds_next,
                           r->lstm ? dc_next : NULL, ar);
}

/* ---- decoding ------------------------------------------------------------------------------ */

static void free_rows(rnn_t *r) {
    free(r->dbuf);
    free(r->rlens);
    r->dbuf = NULL;
    r->rlens = NULL;
    r->rows = 0;
}

static attn_status_t rnn_encode(attn__s2s_t *m, int64_t B, int64_t S, const int32_t *src,
                                const int64_t *src_len) {
    rnn_t *r = impl(m);
    attn__mode_t eval = {0, 0};
    free_rows(r);
    attn__arena_reset(&r->enc_arena);
    free(r->dlens);
    r->dlens = NULL;
    r->de.B = 0;
    if (B < 1 || S < 1)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "decoding: %lld sources of length %lld",
                          (long long)B, (long long)S);
    if (!(r->dlens = malloc(sizeof(int64_t) * (size_t)B))) return oom();
    memcpy(r->dlens, src_len, sizeof(int64_t) * (size_t)B);
    attn_status_t st = encode_into(r, &m->params, eval, B, S, src, r->dlens, &r->enc_arena,
                                   &r->de);
    if (st != ATTN_STATUS_OK) r->de.B = 0;
    return st;
}

static attn_status_t rnn_begin(void *ctx, int64_t rows) {
    attn__s2s_t *m = ctx;
    rnn_t *r = impl(m);
    const int64_t B = r->de.B, S = r->de.S, D = r->D, E = r->E, V = m->tgt_vocab;
    if (B < 1 || rows < 1 || rows % B != 0)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "decoding: %lld rows for %lld encoded "
                          "sources; call encode first", (long long)rows, (long long)B);
    free_rows(r);
    const int64_t K = rows / B, R = rows, att = r->attention, Sa = att ? S : 0;
    /* sizes of the carved pieces, in order */
    const int64_t sz[] = {
        R * Sa * D, R * Sa * r->dk,           /* rh, rkeys */
        R * D, R * D, R * D,                  /* s, c, att_{t-1} */
        R * r->in, R * V, R * D,              /* x, logits, reorder scratch */
        R * 4 * D, R * Sa, R * D * att,       /* gates, alpha, ctx */
        R * r->acn * att, R * 2 * D * att,    /* attention cache, u */
        R * E * att};                         /* embeddings (attention) */
    int64_t total = 0;
    for (size_t i = 0; i < sizeof sz / sizeof *sz; i++) total += sz[i];
    r->dbuf = calloc((size_t)total, sizeof(float));
    r->rlens = malloc(sizeof(int64_t) * (size_t)R);
    if (!r->dbuf || !r->rlens) {
        free_rows(r);
        return oom();
    }
    float *p[sizeof sz / sizeof *sz], *q = r->dbuf;
    for (size_t i = 0; i < sizeof sz / sizeof *sz; i++) {
        p[i] = sz[i] ? q : NULL;
        q += sz[i];
    }
    r->rh = p[0]; r->rkeys = p[1]; r->ds = p[2]; r->dc = p[3]; r->datt = p[4];
    r->dx = p[5]; r->dlogits = p[6]; r->dtmp = p[7];
    r->dstep.s = r->ds;
    r->dstep.c = r->lstm ? r->dc : NULL;
    r->dstep.gates = p[8];
    r->dstep.alpha = p[9];
    r->dstep.ctx = p[10];
    r->dstep.ac = p[11];
    r->dstep.u = p[12];
    r->dstep.att = att ? r->datt : NULL;
    r->demb = p[13];
    for (int64_t i = 0; i < R; i++) {
        const int64_t src = i / K;
        r->rlens[i] = r->dlens[src];
        memcpy(r->ds + i * D, r->de.s0 + src * D, sizeof(float) * (size_t)D);
        if (r->lstm) memcpy(r->dc + i * D, r->de.c0 + src * D, sizeof(float) * (size_t)D);
        if (att) {
            memcpy(r->rh + i * S * D, r->de.h + src * S * D, sizeof(float) * (size_t)(S * D));
            memcpy(r->rkeys + i * S * r->dk, r->de.keys + src * S * r->dk,
                   sizeof(float) * (size_t)(S * r->dk));
        }
    }
    r->rows = R;
    return ATTN_STATUS_OK;
}

static attn_status_t rnn_step(void *ctx, int64_t pos, const int32_t *prev, float *logp) {
    attn__s2s_t *m = ctx;
    rnn_t *r = impl(m);
    const int64_t R = r->rows, V = m->tgt_vocab, E = r->E, D = r->D, in = r->in;
    const attn__params_t *ps = &m->params;
    (void)pos; /* the recurrent state carries the position */
    if (!R) return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "decoding: step before begin");
    attn_status_t st;
    float *x = r->dx;
    if (r->attention) { /* [embed(prev); att_{t-1}] per row */
        if ((st = attn__embedding_forward(&r->tgt_embed, ps, prev, R, r->demb))) return st;
        for (int64_t i = 0; i < R; i++) {
            memcpy(x + i * in, r->demb + i * E, sizeof(float) * (size_t)E);
            memcpy(x + i * in + E, r->datt + i * D, sizeof(float) * (size_t)D);
        }
    } else if ((st = attn__embedding_forward(&r->tgt_embed, ps, prev, R, x))) {
        return st;
    }
    st = dec_step(r, ps, R, r->de.S, x, r->ds, r->lstm ? r->dc : NULL, r->rh, r->rkeys, r->rlens,
                  &r->dstep);
    if (st != ATTN_STATUS_OK) return st;
    const float *y = r->attention ? r->datt : r->ds;
    if ((st = attn__linear_forward(&r->generator, ps, R, y, r->dlogits))) return st;
    const int32_t banned[2] = {ATTN__TOK_PAD, ATTN__TOK_BOS}; /* never emitted */
    attn__log_softmax_rows(R, V, r->dlogits, logp, banned, 2);
    return ATTN_STATUS_OK;
}

/* row i continues the state of row from[i]: s, c (LSTM) and att_{t-1} (attention); h, keys
 * and lengths are the same within a source and beams never cross sources */
static attn_status_t rnn_reorder(void *ctx, const int64_t *from) {
    attn__s2s_t *m = ctx;
    rnn_t *r = impl(m);
    const int64_t R = r->rows, D = r->D;
    if (!R) return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "decoding: reorder before begin");
    for (int64_t i = 0; i < R; i++)
        if (from[i] < 0 || from[i] >= R)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "decoding: reorder from row %lld of "
                              "%lld", (long long)from[i], (long long)R);
    float *bufs[3] = {r->ds, r->lstm ? r->dc : NULL, r->attention ? r->datt : NULL};
    for (int k = 0; k < 3; k++) {
        if (!bufs[k]) continue;
        for (int64_t i = 0; i < R; i++)
            memcpy(r->dtmp + i * D, bufs[k] + from[i] * D, sizeof(float) * (size_t)D);
        memcpy(bufs[k], r->dtmp, sizeof(float) * (size_t)(R * D));
    }
    return ATTN_STATUS_OK;
}

static attn_status_t rnn_alignments(attn__s2s_t *m, const attn__s2s_batch_t *pair,
                                    attn__arena_t *ar, float **maps, int32_t *layers,
                                    int32_t *heads) {
    rnn_t *r = impl(m);
    if (!r->attention)
        return attn__fail(ATTN_STATUS_UNSUPPORTED, "the rnn model has no attention, so it has "
                          "no alignments to show; use rnn-attention or transformer");
    if (pair->B != 1)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "alignments take one pair, not %lld",
                          (long long)pair->B);
    attn__mode_t eval = {0, 0};
    float *logits;
    attn_status_t st = rnn_forward(m, pair, eval, ar, &logits);
    if (st != ATTN_STATUS_OK) return st;
    float *out = attn__arena_alloc(ar, (size_t)(pair->T * pair->S));
    if (!out) return oom();
    memcpy(out, r->alpha, sizeof(float) * (size_t)(pair->T * pair->S)); /* [T, 1, S] */
    *maps = out;
    *layers = 1;
    *heads = 1;
    return ATTN_STATUS_OK;
}

static void rnn_destroy(attn__s2s_t *m) {
    rnn_t *r = impl(m);
    if (r) {
        free_rows(r);
        attn__arena_free(&r->enc_arena);
        free(r->dlens);
        free(r);
    }
    attn__params_free(&m->params);
    free(m->config);
    free(m);
}

static const attn__s2s_ops_t rnn_attention_ops = {
    "rnn-attention", rnn_forward, rnn_backward, rnn_encode,
    {NULL, 0, ATTN__TOK_BOS, ATTN__TOK_EOS, rnn_begin, rnn_step, rnn_reorder},
    rnn_alignments, rnn_destroy,
};

static const attn__s2s_ops_t rnn_plain_ops = {
    "rnn", rnn_forward, rnn_backward, rnn_encode,
    {NULL, 0, ATTN__TOK_BOS, ATTN__TOK_EOS, rnn_begin, rnn_step, rnn_reorder},
    rnn_alignments, rnn_destroy,
};

/* ---- construction ---------------------------------------------------------------------------- */

static attn_status_t check_config(const attn__s2s_config_t *c) {
    const int att = !strcmp(c->kind, "rnn-attention");
    if (!att && strcmp(c->kind, "rnn"))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "RNN model: kind '%s'; use rnn-attention "
                          "or rnn", c->kind);
    if (c->dec_layers != 1)
        return attn__fail(ATTN_STATUS_UNSUPPORTED, "the %s decoder is one recurrent cell: "
                          "dec_layers must be 1, not %lld", c->kind, (long long)c->dec_layers);
    if (c->enc_layers < 1 || c->enc_layers > ATTN__GRU_MAX_LAYERS ||
        c->enc_layers > ATTN__LSTM_MAX_LAYERS)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "the %s encoder takes 1 to %d layers, not "
                          "%lld", c->kind, (int)ATTN__GRU_MAX_LAYERS, (long long)c->enc_layers);
    if (c->d_model < 1 || c->hidden < 1 || c->src_vocab <= ATTN__TOK_EOS ||
        c->tgt_vocab <= ATTN__TOK_EOS)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "RNN model: d_model %lld, hidden %lld and "
                          "vocabularies %lld / %lld must be positive (vocabularies past the "
                          "reserved ids)", (long long)c->d_model, (long long)c->hidden,
                          (long long)c->src_vocab, (long long)c->tgt_vocab);
    if (strcmp(c->cell, "gru") && strcmp(c->cell, "lstm"))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "RNN model: cell '%s'; use gru or lstm",
                          c->cell);
    if (att && strcmp(c->score, "additive") && strcmp(c->score, "dot") &&
        strcmp(c->score, "general"))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "RNN model: score '%s'; use additive, dot "
                          "or general", c->score);
    return ATTN_STATUS_OK;
}

attn_status_t attn__rnn_s2s_create(const attn__s2s_config_t *c, uint64_t seed,
                                   attn__s2s_t **out) {
    *out = NULL;
    attn_status_t st = check_config(c);
    if (st != ATTN_STATUS_OK) return st;
    attn__s2s_t *m = calloc(1, sizeof *m);
    rnn_t *r = calloc(1, sizeof *r);
    if (!m || !r) {
        free(m);
        free(r);
        return oom();
    }
    r->cfg = *c;
    r->attention = !strcmp(c->kind, "rnn-attention");
    r->lstm = !strcmp(c->cell, "lstm");
    r->E = c->d_model;
    r->H = c->hidden;
    r->D = 2 * c->hidden;
    r->L = c->enc_layers;
    r->in = r->attention ? r->E + r->D : r->E;
    m->ops = r->attention ? &rnn_attention_ops : &rnn_plain_ops;
    m->impl = r;
    m->src_vocab = c->src_vocab;
    m->tgt_vocab = c->tgt_vocab;
    attn__params_init(&m->params);
    attn__arena_init(&r->enc_arena, 0);
    if (!(m->config = attn__s2s_config_to_json(c))) st = oom();
    attn__params_t *ps = &m->params;
    const int64_t E = r->E, H = r->H, D = r->D;
    const int32_t L = (int32_t)r->L;
    if (!st) st = attn__embedding_init(&r->src_embed, ps, "src_embed", c->src_vocab, E,
                                       ATTN__TOK_PAD);
    if (!st) st = attn__embedding_init(&r->tgt_embed, ps, "tgt_embed", c->tgt_vocab, E,
                                       ATTN__TOK_PAD);
    if (!st) st = attn__dropout_init(&r->src_drop, "src_embed.dropout", c->dropout);
    if (!st) st = attn__dropout_init(&r->out_drop, "decoder.dropout", c->dropout);
    if (!st) st = r->lstm ? attn__lstm_init(&r->enc_lstm, ps, "encoder.rnn", E, H, L, 1)
                          : attn__gru_init(&r->enc_gru, ps, "encoder.rnn", E, H, L, 1);
    if (!st) st = attn__linear_init(&r->bridge, ps, "bridge", D, D, 1);
    if (!st && r->lstm) st = attn__linear_init(&r->bridge_c, ps, "bridge_c", D, D, 1);
    if (!st) st = r->lstm ? attn__lstm_cell_init(&r->dec_lstm, ps, "decoder.cell", r->in, D)
                          : attn__gru_cell_init(&r->dec_gru, ps, "decoder.cell", r->in, D);
    if (!st && r->attention) {
        attn__rnn_score_t score = !strcmp(c->score, "dot")       ? ATTN__RNN_SCORE_DOT
                                  : !strcmp(c->score, "general") ? ATTN__RNN_SCORE_GENERAL
                                                                 : ATTN__RNN_SCORE_ADDITIVE;
        st = attn__rnn_attention_init(&r->at, ps, "attention", score, D, D, D);
        r->dk = r->at.dk;
        r->acn = attn__rnn_attention_cache_floats(&r->at, 1);
        if (!st) st = attn__linear_init(&r->combine, ps, "attn_combine", 2 * D, D, 1);
    }
    if (!st) st = attn__linear_init(&r->generator, ps, "generator", D, c->tgt_vocab, 1);
    if (!st) st = attn__params_alloc(ps);
    /* initial values: each layer's PyTorch default, one seeded generator, in the order above */
    attn__rng_t rng;
    attn__rng_seed(&rng, seed);
    if (!st) st = attn__embedding_reset(&r->src_embed, ps, &rng);
    if (!st) st = attn__embedding_reset(&r->tgt_embed, ps, &rng);
    if (!st) st = r->lstm ? attn__lstm_reset(&r->enc_lstm, ps, &rng)
                          : attn__gru_reset(&r->enc_gru, ps, &rng);
    if (!st) st = attn__linear_reset(&r->bridge, ps, &rng);
    if (!st && r->lstm) st = attn__linear_reset(&r->bridge_c, ps, &rng);
    if (!st) st = r->lstm ? attn__lstm_cell_reset(&r->dec_lstm, ps, &rng)
                          : attn__gru_cell_reset(&r->dec_gru, ps, &rng);
    if (!st && r->attention) st = attn__rnn_attention_reset(&r->at, ps, &rng);
    if (!st && r->attention) st = attn__linear_reset(&r->combine, ps, &rng);
    if (!st) st = attn__linear_reset(&r->generator, ps, &rng);
    if (st != ATTN_STATUS_OK) {
        rnn_destroy(m);
        return st;
    }
    *out = m;
    return ATTN_STATUS_OK;
}
