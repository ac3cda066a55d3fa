/* Long short-term memory: one step (cell) and whole padded sequences (layer), forward and
 * backward through time. Equations and layouts in lstm.h. */
#include "nn/lstm.h"

#include <math.h>
#include <string.h>

/* name in messages, 4 gate blocks (i, f, g, o), 5H per step in a layer's cache (i, f, g, o, c) */
static const attn__rnn_kind_t LSTM = {"LSTM", 4, 5};

/* ---- parameters ------------------------------------------------------------------------- */

attn_status_t attn__lstm_cell_init(attn__lstm_cell_t *c, attn__params_t *ps, const char *prefix,
                                   int64_t in, int64_t hidden) {
    return attn__rnn_cell_init(&LSTM, c, ps, prefix, in, hidden);
}

attn_status_t attn__lstm_cell_reset(const attn__lstm_cell_t *c, attn__params_t *ps,
                                    attn__rng_t *rng) {
    return attn__rnn_cell_reset(&LSTM, c, ps, rng);
}

attn_status_t attn__lstm_init(attn__lstm_t *m, attn__params_t *ps, const char *prefix,
                              int64_t in, int64_t hidden, int32_t layers, int bidirectional) {
    return attn__rnn_init(&LSTM, m, ps, prefix, in, hidden, layers, bidirectional);
}

attn_status_t attn__lstm_reset(const attn__lstm_t *m, attn__params_t *ps, attn__rng_t *rng) {
    return attn__rnn_reset(&LSTM, m, ps, rng);
}

/* ---- one row of one step -------------------------------------------------------------------
 * forward: row [4H] holds on entry the pre-activations without biases, W_ih x + W_hh h; on
 * exit the gates i, f, g, o. c_out = f cp + i g, h_out = o tanh(c_out) (c_out may be cp). */
static void row_forward(int64_t H, float *row, const float *bih, const float *bhh,
                        const float *cp, float *c_out, float *h_out) {
    for (int64_t j = 0; j < H; j++) {
        float i = 1.0f / (1.0f + expf(-(row[j] + bih[j] + bhh[j])));
        float f = 1.0f / (1.0f + expf(-(row[H + j] + bih[H + j] + bhh[H + j])));
        float g = tanhf(row[2 * H + j] + bih[2 * H + j] + bhh[2 * H + j]);
        float o = 1.0f / (1.0f + expf(-(row[3 * H + j] + bih[3 * H + j] + bhh[3 * H + j])));
        float c = f * cp[j] + i * g;
        row[j] = i;
        row[H + j] = f;
        row[2 * H + j] = g;
        row[3 * H + j] = o;
        c_out[j] = c;
        h_out[j] = o * tanhf(c);
    }
}

/* backward: gate [4H] = i, f, g, o; cp and c the step's previous and new cell state; dh and
 * dc (NULL: zero) the gradients of h_out and c_out -> dg [4H] the gradients of the four
 * pre-activations; dcp [H] += the gradient reaching cp (NULL to skip). */
static void row_backward(int64_t H, const float *gate, const float *cp, const float *c,
                         const float *dh, const float *dc, float *dg, float *dcp) {
    for (int64_t j = 0; j < H; j++) {
        float i = gate[j], f = gate[H + j], g = gate[2 * H + j], o = gate[3 * H + j];
        float tc = tanhf(c[j]);
        float dct = (dc ? dc[j] : 0.0f) + dh[j] * o * (1.0f - tc * tc);
        dg[j] = dct * g * i * (1.0f - i);
        dg[H + j] = dct * cp[j] * f * (1.0f - f);
        dg[2 * H + j] = dct * i * (1.0f - g * g);
        dg[3 * H + j] = dh[j] * tc * o * (1.0f - o);
        if (dcp) dcp[j] += dct * f;
    }
}

/* ---- the cell ------------------------------------------------------------------------------ */

/* forward: x [B, in], h_prev, c_prev [B, H] -> h, c [B, H]; cache [B, 4H] */
attn_status_t attn__lstm_cell_forward(const attn__lstm_cell_t *cell, const attn__params_t *ps,
                                      int64_t B, const float *x, const float *h_prev,
                                      const float *c_prev, float *h, float *c, float *cache) {
    attn_status_t st = attn__rnn_check_cell(&LSTM, "forward", cell, ps, 0, B);
    if (st != ATTN_STATUS_OK) return st;
    if (!x || !h_prev || !c_prev || !h || !c || !cache)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "LSTM cell forward: x, h_prev, c_prev, h, "
                          "c and cache must not be NULL");
    int64_t H = cell->hidden, in = cell->in;
    attn__gemm(0, 1, B, 4 * H, in, 1.0f, x, in, attn__pw(ps, cell->w_ih), in, 0.0f, cache,
               4 * H);
    attn__gemm(0, 1, B, 4 * H, H, 1.0f, h_prev, H, attn__pw(ps, cell->w_hh), H, 1.0f, cache,
               4 * H);
    const float *bih = attn__pw(ps, cell->b_ih), *bhh = attn__pw(ps, cell->b_hh);
    for (int64_t b = 0; b < B; b++)
        row_forward(H, cache + b * 4 * H, bih, bhh, c_prev + b * H, c + b * H, h + b * H);
    return ATTN_STATUS_OK;
}

/* backward: dh, dc [B, H] -> dx [B, in] +=, dh_prev, dc_prev [B, H] +=, params +=;
 * work [B, 4H] */
attn_status_t attn__lstm_cell_backward(const attn__lstm_cell_t *cell, attn__params_t *ps,
                                       int64_t B, const float *x, const float *h_prev,
                                       const float *c_prev, const float *c, const float *cache,
                                       const float *dh, const float *dc, float *dx,
                                       float *dh_prev, float *dc_prev, float *work) {
    attn_status_t st = attn__rnn_check_cell(&LSTM, "backward", cell, ps, 1, B);
    if (st != ATTN_STATUS_OK) return st;
    if (!x || !h_prev || !c_prev || !c || !cache || !dh || !work)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "LSTM cell backward: x, h_prev, c_prev, c, "
                          "cache, dh and work must not be NULL");
    int64_t H = cell->hidden, in = cell->in;
    for (int64_t b = 0; b < B; b++)
        row_backward(H, cache + b * 4 * H, c_prev + b * H, c + b * H, dh + b * H,
                     dc ? dc + b * H : NULL, work + b * 4 * H, dc_prev ? dc_prev + b * H : NULL);
    attn__gemm(1, 0, 4 * H, in, B, 1.0f, work, 4 * H, x, in, 1.0f, attn__pg(ps, cell->w_ih), in);
    attn__gemm(1, 0, 4 * H, H, B, 1.0f, work, 4 * H, h_prev, H, 1.0f, attn__pg(ps, cell->w_hh),
               H);
    attn__rnn_colsum_valid(B, 1, NULL, work, 4 * H, 4 * H, attn__pg(ps, cell->b_ih));
    attn__rnn_colsum_valid(B, 1, NULL, work, 4 * H, 4 * H, attn__pg(ps, cell->b_hh));
    if (dx)
        attn__gemm(0, 0, B, in, 4 * H, 1.0f, work, 4 * H, attn__pw(ps, cell->w_ih), in, 1.0f, dx,
                   in);
    if (dh_prev)
        attn__gemm(0, 0, B, H, 4 * H, 1.0f, work, 4 * H, attn__pw(ps, cell->w_hh), H, 1.0f,
                   dh_prev, H);
    return ATTN_STATUS_OK;
}

/* ---- one direction of one layer over the padded batch ----------------------------------------
 * Step s processes, for every sequence b with s < lens[b], time t = s (forward direction) or
 * t = lens[b] - 1 - s (reverse); the other rows keep their state. */

/* forward: x [B, T, in] -> y (this direction's columns, row stride ldy); hs, cs [B, H] hold
 * (h0, c0) on entry and (h_n, c_n) on exit; gates [B, T, 5H]; gh [B, 4H] scratch */
static void direction_forward(const attn__lstm_cell_t *cell, const attn__params_t *ps, int64_t B,
                              int64_t T, const float *x, const int64_t *lens, int dir,
                              float *y, int64_t ldy, float *hs, float *cs, float *gates,
                              float *gh) {
    int64_t H = cell->hidden, in = cell->in, G = 5 * H;
    const float *wih = attn__pw(ps, cell->w_ih), *whh = attn__pw(ps, cell->w_hh);
    const float *bih = attn__pw(ps, cell->b_ih), *bhh = attn__pw(ps, cell->b_hh);
    /* input projections of every position in one product */
    attn__gemm(0, 1, B * T, 4 * H, in, 1.0f, x, in, wih, in, 0.0f, gates, G);
    for (int64_t s = 0; s < T; s++) {
        attn__gemm(0, 1, B, 4 * H, H, 1.0f, hs, H, whh, H, 0.0f, gh, 4 * H);
        for (int64_t b = 0; b < B; b++) {
            int64_t len = lens ? lens[b] : T;
            if (s >= len) continue;
            int64_t t = attn__rnn_step_time(dir, len, s);
            float *row = gates + (b * T + t) * G;
            const float *g = gh + b * 4 * H;
            for (int64_t j = 0; j < 4 * H; j++) row[j] += g[j];
            row_forward(H, row, bih, bhh, cs + b * H, cs + b * H, hs + b * H);
            memcpy(row + 4 * H, cs + b * H, sizeof(float) * (size_t)H);
            memcpy(y + (b * T + t) * ldy, hs + b * H, sizeof(float) * (size_t)H);
        }
    }
    attn__rnn_zero_padding(B, T, lens, y, ldy, H);
}

/* backward of direction_forward: y and dy are this direction's columns (row strides ldy,
 * lddy; dy may be NULL); dhs, dcs [B, H] hold (dh_n, dc_n) on entry and (dh0, dc0) on exit.
 * dx [B, T, in] += (may be NULL). dg [B, T, 4H] and work [B, 7H] + H are scratch. */
static void direction_backward(const attn__lstm_cell_t *cell, attn__params_t *ps, int64_t B,
                               int64_t T, const float *x, const int64_t *lens, int dir,
                               const float *h0, const float *c0, const float *y, int64_t ldy,
                               const float *gates, const float *dy, int64_t lddy, float *dhs,
                               float *dcs, float *dx, float *dg, float *work) {
    int64_t H = cell->hidden, in = cell->in, G = 5 * H;
    const float *wih = attn__pw(ps, cell->w_ih), *whh = attn__pw(ps, cell->w_hh);
    float *dwih = attn__pg(ps, cell->w_ih), *dwhh = attn__pg(ps, cell->w_hh);
    float *dh = work;             /* [B, H] whole gradients of this step's h and c */
    float *dc = work + B * H;     /* [B, H] */
    float *dgh = work + 2 * B * H; /* [B, 4H] pre-activation gradients, gathered */
    float *hp = work + 6 * B * H; /* [B, H] h_prev, gathered */
    float *zero = work + 7 * B * H; /* [H] */
    memset(zero, 0, sizeof(float) * (size_t)H);
    for (int64_t s = T - 1; s >= 0; s--) {
        for (int64_t b = 0; b < B; b++) {
            int64_t len = lens ? lens[b] : T;
            float *dghb = dgh + b * 4 * H, *hpb = hp + b * H;
            if (s >= len) { /* not part of this step: contributes nothing, state passes */
                memset(dghb, 0, sizeof(float) * (size_t)(4 * H));
                memset(hpb, 0, sizeof(float) * (size_t)H);
                continue;
            }
            int64_t t = attn__rnn_step_time(dir, len, s), tp = dir ? t + 1 : t - 1;
            const float *cp;
            if (s > 0) {
                memcpy(hpb, y + (b * T + tp) * ldy, sizeof(float) * (size_t)H);
                cp = gates + (b * T + tp) * G + 4 * H;
            } else {
                attn__rnn_copy_or_zero(hpb, h0 ? h0 + b * H : NULL, H);
                cp = c0 ? c0 + b * H : zero;
            }
            float *dhsb = dhs + b * H, *dcsb = dcs + b * H, *dhb = dh + b * H, *dcb = dc + b * H;
            const float *dyr = dy ? dy + (b * T + t) * lddy : NULL;
            for (int64_t j = 0; j < H; j++) {
                dhb[j] = dhsb[j] + (dyr ? dyr[j] : 0.0f);
                dcb[j] = dcsb[j];
                dhsb[j] = 0.0f;
                dcsb[j] = 0.0f;
            }
            const float *row = gates + (b * T + t) * G;
            float *dgr = dg + (b * T + t) * 4 * H;
            row_backward(H, row, cp, row + 4 * H, dhb, dcb, dgr, dcsb);
            memcpy(dghb, dgr, sizeof(float) * (size_t)(4 * H));
        }
        attn__gemm(0, 0, B, H, 4 * H, 1.0f, dgh, 4 * H, whh, H, 1.0f, dhs, H);
        attn__gemm(1, 0, 4 * H, H, B, 1.0f, dgh, 4 * H, hp, H, 1.0f, dwhh, H);
    }
    attn__rnn_colsum_valid(B, T, lens, dg, 4 * H, 4 * H, attn__pg(ps, cell->b_ih));
    attn__rnn_colsum_valid(B, T, lens, dg, 4 * H, 4 * H, attn__pg(ps, cell->b_hh));
    attn__rnn_input_backward(B, T, lens, dg, 4 * H, 4 * H, x, in, wih, dwih, dx);
}

/* ---- the layer ----------------------------------------------------------------------------- */

/* forward: x [B, T, in] -> y [B, T, dirs H], h_n, c_n [layers dirs, B, H] */
attn_status_t attn__lstm_forward(const attn__lstm_t *m, const attn__params_t *ps, int64_t B,
                                 int64_t T, const float *x, const int64_t *lens,
                                 const float *h0, const float *c0, float *y, float *h_n,
                                 float *c_n, attn__lstm_cache_t *cache, attn__arena_t *arena) {
    attn_status_t st = attn__rnn_forward_begin(&LSTM, m, ps, B, T, x, lens, y, cache, arena);
    if (st != ATTN_STATUS_OK) return st;
    int64_t H = m->hidden, D = m->dirs, L = m->layers, S = L * D * B * H;
    float *gh = attn__arena_alloc(arena, (size_t)(B * 4 * H + (h_n ? 0 : S) + (c_n ? 0 : S)));
    if (!gh) return ATTN_STATUS_OUT_OF_MEMORY;
    float *hstates = h_n ? h_n : gh + B * 4 * H;
    float *cstates = c_n ? c_n : gh + B * 4 * H + (h_n ? 0 : S);
    for (int64_t l = 0; l < L; l++) {
        const float *xin = l ? cache->y[l - 1] : x;
        float *yl = l + 1 < L ? cache->y[l] : y;
        for (int64_t d = 0; d < D; d++) {
            int64_t k = (l * D + d) * B * H;
            float *hs = hstates + k, *cs = cstates + k;
            attn__rnn_copy_or_zero(hs, h0 ? h0 + k : NULL, B * H);
            attn__rnn_copy_or_zero(cs, c0 ? c0 + k : NULL, B * H);
            direction_forward(&m->cell[l][d], ps, B, T, xin, lens, (int)d, yl + d * H, D * H,
                              hs, cs, cache->gates[l][d], gh);
        }
    }
    return ATTN_STATUS_OK;
}

/* backward: dy [B, T, dirs H], dh_n, dc_n [layers dirs, B, H] -> dx [B, T, in] +=,
 * dh0, dc0 +=, params += */
attn_status_t attn__lstm_backward(const attn__lstm_t *m, attn__params_t *ps, int64_t B,
                                  int64_t T, const float *x, const int64_t *lens,
                                  const float *h0, const float *c0, const float *y,
                                  const attn__lstm_cache_t *cache, const float *dy,
                                  const float *dh_n, const float *dc_n, float *dx, float *dh0,
                                  float *dc0, attn__arena_t *arena) {
    attn_status_t st = attn__rnn_backward_check(&LSTM, m, ps, B, T, x, lens, y, cache, arena);
    if (st != ATTN_STATUS_OK) return st;
    int64_t H = m->hidden, D = m->dirs, L = m->layers;
    float *dg, *work, *dbuf[2];
    st = attn__rnn_backward_scratch(m, arena, B, T, B * 9 * H + H, &dg, &work, dbuf);
    if (st != ATTN_STATUS_OK) return st;
    float *dhs = work + 7 * B * H + H, *dcs = dhs + B * H;
    const float *dcur = dy;
    for (int64_t l = L - 1; l >= 0; l--) {
        const float *xin = l ? cache->y[l - 1] : x;
        const float *yl = l + 1 < L ? cache->y[l] : y;
        float *dxl = attn__rnn_input_grad(l, L, dbuf, dx, B * T * D * H);
        for (int64_t d = 0; d < D; d++) {
            int64_t k = (l * D + d) * B * H;
            attn__rnn_copy_or_zero(dhs, dh_n ? dh_n + k : NULL, B * H);
            attn__rnn_copy_or_zero(dcs, dc_n ? dc_n + k : NULL, B * H);
            direction_backward(&m->cell[l][d], ps, B, T, xin, lens, (int)d,
                               h0 ? h0 + k : NULL, c0 ? c0 + k : NULL, yl + d * H, D * H,
                               cache->gates[l][d], dcur ? dcur + d * H : NULL, D * H, dhs, dcs,
                               dxl, dg, work);
            for (int64_t i = 0; i < B * H; i++) {
                if (dh0) dh0[k + i] += dhs[i];
                if (dc0) dc0[k + i] += dcs[i];
            }
        }
        dcur = dxl;
    }
    return ATTN_STATUS_OK;
}
