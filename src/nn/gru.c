/* The gated recurrent unit: one step (cell) and whole padded sequences (layer), forward and
 * backward through time. Equations and layouts in gru.h. */
#include "nn/gru.h"

#include <math.h>
#include <string.h>

/* name in messages, 3 gate blocks (r, z, n), 4H per step in a layer's cache (r, z, n, hn) */
static const attn__rnn_kind_t GRU = {"GRU", 3, 4};

/* ---- parameters ------------------------------------------------------------------------- */

attn_status_t attn__gru_cell_init(attn__gru_cell_t *c, attn__params_t *ps, const char *prefix,
                                  int64_t in, int64_t hidden) {
    return attn__rnn_cell_init(&GRU, c, ps, prefix, in, hidden);
}

attn_status_t attn__gru_cell_reset(const attn__gru_cell_t *c, attn__params_t *ps,
                                   attn__rng_t *rng) {
    return attn__rnn_cell_reset(&GRU, c, ps, rng);
}

attn_status_t attn__gru_init(attn__gru_t *g, attn__params_t *ps, const char *prefix,
                             int64_t in, int64_t hidden, int32_t layers, int bidirectional) {
    return attn__rnn_init(&GRU, g, ps, prefix, in, hidden, layers, bidirectional);
}

attn_status_t attn__gru_reset(const attn__gru_t *g, attn__params_t *ps, attn__rng_t *rng) {
    return attn__rnn_reset(&GRU, g, ps, rng);
}

/* ---- one row of one step -------------------------------------------------------------------
 * forward: row [4H] holds on entry  a_rz = W_i{r,z} x + W_h{r,z} h  (2H, no biases),
 *          a_in = W_in x (H), a_hn = W_hn h (H); on exit r, z, n, W_hn h + b_hn.
 *          h_out[j] = (1 - z) n + z hp[j]  (h_out may be hp) */
static void row_forward(int64_t H, float *row, const float *bih, const float *bhh,
                        const float *hp, float *h_out) {
    for (int64_t j = 0; j < H; j++) {
        float r = 1.0f / (1.0f + expf(-(row[j] + bih[j] + bhh[j])));
        float z = 1.0f / (1.0f + expf(-(row[H + j] + bih[H + j] + bhh[H + j])));
        float hn = row[3 * H + j] + bhh[2 * H + j];
        float n = tanhf(row[2 * H + j] + bih[2 * H + j] + r * hn);
        float hprev = hp[j];
        row[j] = r;
        row[H + j] = z;
        row[2 * H + j] = n;
        row[3 * H + j] = hn;
        h_out[j] = (1.0f - z) * n + z * hprev;
    }
}

/* backward: gate [4H] = r, z, n, hn from the forward; dh [H] the gradient of h_out ->
 * dg [4H] = gradients of the pre-activations a_r, a_z, a_n and of hn = W_hn h + b_hn;
 * dhp [H] += dh z (the direct path; NULL to skip). */
static void row_backward(int64_t H, const float *gate, const float *hp, const float *dh,
                         float *dg, float *dhp) {
    for (int64_t j = 0; j < H; j++) {
        float r = gate[j], z = gate[H + j], n = gate[2 * H + j], hn = gate[3 * H + j];
        float d = dh[j];
        float dan = d * (1.0f - z) * (1.0f - n * n);
        float dz = d * (hp[j] - n);
        dg[j] = dan * hn * r * (1.0f - r);
        dg[H + j] = dz * z * (1.0f - z);
        dg[2 * H + j] = dan;
        dg[3 * H + j] = dan * r;
        if (dhp) dhp[j] += d * z;
    }
}

/* ---- the cell ------------------------------------------------------------------------------ */

/* forward: x [B, in], h_prev [B, H] -> h [B, H]; cache [B, 4H] */
attn_status_t attn__gru_cell_forward(const attn__gru_cell_t *c, const attn__params_t *ps,
                                     int64_t B, const float *x, const float *h_prev, float *h,
                                     float *cache) {
    attn_status_t st = attn__rnn_check_cell(&GRU, "forward", c, ps, 0, B);
    if (st != ATTN_STATUS_OK) return st;
    if (!x || !h_prev || !h || !cache)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "GRU cell forward: x, h_prev, h and cache "
                          "must not be NULL");
    int64_t H = c->hidden, in = c->in;
    const float *wih = attn__pw(ps, c->w_ih), *whh = attn__pw(ps, c->w_hh);
    const float *bih = attn__pw(ps, c->b_ih), *bhh = attn__pw(ps, c->b_hh);
    attn__gemm(0, 1, B, 3 * H, in, 1.0f, x, in, wih, in, 0.0f, cache, 4 * H);
    attn__gemm(0, 1, B, 2 * H, H, 1.0f, h_prev, H, whh, H, 1.0f, cache, 4 * H);
    attn__gemm(0, 1, B, H, H, 1.0f, h_prev, H, whh + 2 * H * H, H, 0.0f, cache + 3 * H, 4 * H);
    for (int64_t b = 0; b < B; b++)
        row_forward(H, cache + b * 4 * H, bih, bhh, h_prev + b * H, h + b * H);
    return ATTN_STATUS_OK;
}

/* backward: x [B, in], h_prev [B, H], cache [B, 4H], dh [B, H] -> dx [B, in] +=,
 * dh_prev [B, H] +=, dW_ih, dW_hh, db_ih, db_hh +=; work [B, 4H] */
attn_status_t attn__gru_cell_backward(const attn__gru_cell_t *c, attn__params_t *ps, int64_t B,
                                      const float *x, const float *h_prev, const float *cache,
                                      const float *dh, float *dx, float *dh_prev, float *work) {
    attn_status_t st = attn__rnn_check_cell(&GRU, "backward", c, ps, 1, B);
    if (st != ATTN_STATUS_OK) return st;
    if (!x || !h_prev || !cache || !dh || !work)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "GRU cell backward: x, h_prev, cache, dh "
                          "and work must not be NULL");
    int64_t H = c->hidden, in = c->in;
    const float *wih = attn__pw(ps, c->w_ih), *whh = attn__pw(ps, c->w_hh);
    float *dwih = attn__pg(ps, c->w_ih), *dwhh = attn__pg(ps, c->w_hh);
    float *dbih = attn__pg(ps, c->b_ih), *dbhh = attn__pg(ps, c->b_hh);
    for (int64_t b = 0; b < B; b++)
        row_backward(H, cache + b * 4 * H, h_prev + b * H, dh + b * H, work + b * 4 * H,
                     dh_prev ? dh_prev + b * H : NULL);
    /* input side: d(a_r, a_z, a_n) = work[:, 0:3H] */
    attn__gemm(1, 0, 3 * H, in, B, 1.0f, work, 4 * H, x, in, 1.0f, dwih, in);
    attn__rnn_colsum_valid(B, 1, NULL, work, 4 * H, 3 * H, dbih);
    if (dx) attn__gemm(0, 0, B, in, 3 * H, 1.0f, work, 4 * H, wih, in, 1.0f, dx, in);
    /* hidden side: d(W_h{r,z} h) = work[:, 0:2H], d(W_hn h + b_hn) = work[:, 3H:4H] */
    attn__gemm(1, 0, 2 * H, H, B, 1.0f, work, 4 * H, h_prev, H, 1.0f, dwhh, H);
    attn__gemm(1, 0, H, H, B, 1.0f, work + 3 * H, 4 * H, h_prev, H, 1.0f, dwhh + 2 * H * H, H);
    attn__rnn_colsum_valid(B, 1, NULL, work, 4 * H, 2 * H, dbhh);
    attn__rnn_colsum_valid(B, 1, NULL, work + 3 * H, 4 * H, H, dbhh + 2 * H);
    if (dh_prev) {
        attn__gemm(0, 0, B, H, 2 * H, 1.0f, work, 4 * H, whh, H, 1.0f, dh_prev, H);
        attn__gemm(0, 0, B, H, H, 1.0f, work + 3 * H, 4 * H, whh + 2 * H * H, H, 1.0f, dh_prev,
                   H);
    }
    return ATTN_STATUS_OK;
}

/* ---- one direction of one layer over the padded batch ----------------------------------------
 * Step s processes, for every sequence b with s < lens[b], time t = s (forward direction) or
 * t = lens[b] - 1 - s (reverse); the other rows keep their state. */

/* forward: x [B, T, in] -> y (this direction's columns, row stride ldy), state [B, H] (h0 on
 * entry, h_n on exit); gates [B, T, 4H]; gh [B, 3H] scratch */
static void direction_forward(const attn__gru_cell_t *c, const attn__params_t *ps, int64_t B,
                              int64_t T, const float *x, const int64_t *lens, int dir,
                              float *y, int64_t ldy, float *state, float *gates, float *gh) {
    int64_t H = c->hidden, in = c->in;
    const float *wih = attn__pw(ps, c->w_ih), *whh = attn__pw(ps, c->w_hh);
    const float *bih = attn__pw(ps, c->b_ih), *bhh = attn__pw(ps, c->b_hh);
    /* input projections of every position in one product */
    attn__gemm(0, 1, B * T, 3 * H, in, 1.0f, x, in, wih, in, 0.0f, gates, 4 * H);
    for (int64_t s = 0; s < T; s++) {
        attn__gemm(0, 1, B, 3 * H, H, 1.0f, state, H, whh, H, 0.0f, gh, 3 * H);
        for (int64_t b = 0; b < B; b++) {
            int64_t len = lens ? lens[b] : T;
            if (s >= len) continue;
            int64_t t = attn__rnn_step_time(dir, len, s);
            float *row = gates + (b * T + t) * 4 * H;
            const float *g = gh + b * 3 * H;
            for (int64_t j = 0; j < 2 * H; j++) row[j] += g[j];
            memcpy(row + 3 * H, g + 2 * H, sizeof(float) * (size_t)H);
            row_forward(H, row, bih, bhh, state + b * H, state + b * H);
            memcpy(y + (b * T + t) * ldy, state + b * H, sizeof(float) * (size_t)H);
        }
    }
    attn__rnn_zero_padding(B, T, lens, y, ldy, H);
}

/* backward of direction_forward: y and dy are this direction's columns (row strides ldy,
 * lddy; dy may be NULL); dstate [B, H] holds dh_n on entry and dh0 on exit.
 * dx [B, T, in] += (may be NULL). dg [B, T, 4H] and work [B, 6H] are scratch. */
static void direction_backward(const attn__gru_cell_t *c, attn__params_t *ps, int64_t B,
                               int64_t T, const float *x, const int64_t *lens, int dir,
                               const float *h0, const float *y, int64_t ldy,
                               const float *gates, const float *dy, int64_t lddy,
                               float *dstate, float *dx, float *dg, float *work) {
    int64_t H = c->hidden, in = c->in;
    const float *wih = attn__pw(ps, c->w_ih), *whh = attn__pw(ps, c->w_hh);
    float *dwih = attn__pg(ps, c->w_ih), *dwhh = attn__pg(ps, c->w_hh);
    float *dbih = attn__pg(ps, c->b_ih), *dbhh = attn__pg(ps, c->b_hh);
    float *dh = work;             /* [B, H] whole gradient of this step's h */
    float *dgh = work + B * H;    /* [B, 3H] gradients of W_hh h_prev, gathered */
    float *hp = work + 4 * B * H; /* [B, H] h_prev, gathered */
    for (int64_t s = T - 1; s >= 0; s--) {
        for (int64_t b = 0; b < B; b++) {
            int64_t len = lens ? lens[b] : T;
            float *dghb = dgh + b * 3 * H, *hpb = hp + b * H, *dhb = dh + b * H;
            if (s >= len) { /* not part of this step: contributes nothing, state passes */
                memset(dghb, 0, sizeof(float) * (size_t)(3 * H));
                memset(hpb, 0, sizeof(float) * (size_t)H);
                continue;
            }
            int64_t t = attn__rnn_step_time(dir, len, s);
            if (s > 0)
                memcpy(hpb, y + (b * T + (dir ? t + 1 : t - 1)) * ldy, sizeof(float) * (size_t)H);
            else
                attn__rnn_copy_or_zero(hpb, h0 ? h0 + b * H : NULL, H);
            float *ds = dstate + b * H;
            const float *dyr = dy ? dy + (b * T + t) * lddy : NULL;
            for (int64_t j = 0; j < H; j++) {
                dhb[j] = ds[j] + (dyr ? dyr[j] : 0.0f);
                ds[j] = 0.0f;
            }
            float *dgr = dg + (b * T + t) * 4 * H;
            row_backward(H, gates + (b * T + t) * 4 * H, hpb, dhb, dgr, ds);
            memcpy(dghb, dgr, sizeof(float) * (size_t)(2 * H));
            memcpy(dghb + 2 * H, dgr + 3 * H, sizeof(float) * (size_t)H);
        }
        attn__gemm(0, 0, B, H, 3 * H, 1.0f, dgh, 3 * H, whh, H, 1.0f, dstate, H);
        attn__gemm(1, 0, 3 * H, H, B, 1.0f, dgh, 3 * H, hp, H, 1.0f, dwhh, H);
    }
    attn__rnn_colsum_valid(B, T, lens, dg, 4 * H, 3 * H, dbih);
    attn__rnn_colsum_valid(B, T, lens, dg, 4 * H, 2 * H, dbhh);
    attn__rnn_colsum_valid(B, T, lens, dg + 3 * H, 4 * H, H, dbhh + 2 * H);
    attn__rnn_input_backward(B, T, lens, dg, 4 * H, 3 * H, x, in, wih, dwih, dx);
}

/* ---- the layer ----------------------------------------------------------------------------- */

/* forward: x [B, T, in] -> y [B, T, dirs H], h_n [layers dirs, B, H] */
attn_status_t attn__gru_forward(const attn__gru_t *g, const attn__params_t *ps, int64_t B,
                                int64_t T, const float *x, const int64_t *lens, const float *h0,
                                float *y, float *h_n, attn__gru_cache_t *cache,
                                attn__arena_t *arena) {
    attn_status_t st = attn__rnn_forward_begin(&GRU, g, ps, B, T, x, lens, y, cache, arena);
    if (st != ATTN_STATUS_OK) return st;
    int64_t H = g->hidden, D = g->dirs, L = g->layers;
    float *gh = attn__arena_alloc(arena, (size_t)(B * 3 * H + (h_n ? 0 : L * D * B * H)));
    if (!gh) return ATTN_STATUS_OUT_OF_MEMORY;
    float *states = h_n ? h_n : gh + B * 3 * H;
    for (int64_t l = 0; l < L; l++) {
        const float *xin = l ? cache->y[l - 1] : x;
        float *yl = l + 1 < L ? cache->y[l] : y;
        for (int64_t d = 0; d < D; d++) {
            int64_t k = (l * D + d) * B * H;
            float *state = states + k;
            attn__rnn_copy_or_zero(state, h0 ? h0 + k : NULL, B * H);
            direction_forward(&g->cell[l][d], ps, B, T, xin, lens, (int)d, yl + d * H, D * H,
                              state, cache->gates[l][d], gh);
        }
    }
    return ATTN_STATUS_OK;
}

/* backward: dy [B, T, dirs H], dh_n [layers dirs, B, H] -> dx [B, T, in] +=, dh0 +=, params += */
attn_status_t attn__gru_backward(const attn__gru_t *g, attn__params_t *ps, int64_t B, int64_t T,
                                 const float *x, const int64_t *lens, const float *h0,
                                 const float *y, const attn__gru_cache_t *cache,
                                 const float *dy, const float *dh_n, float *dx, float *dh0,
                                 attn__arena_t *arena) {
    attn_status_t st = attn__rnn_backward_check(&GRU, g, ps, B, T, x, lens, y, cache, arena);
    if (st != ATTN_STATUS_OK) return st;
    int64_t H = g->hidden, D = g->dirs, L = g->layers;
    float *dg, *work, *dbuf[2];
    st = attn__rnn_backward_scratch(g, arena, B, T, B * 6 * H, &dg, &work, dbuf);
    if (st != ATTN_STATUS_OK) return st;
    float *dstate = work + 5 * B * H;
    const float *dcur = dy;
    for (int64_t l = L - 1; l >= 0; l--) {
        const float *xin = l ? cache->y[l - 1] : x;
        const float *yl = l + 1 < L ? cache->y[l] : y;
        float *dxl = attn__rnn_input_grad(l, L, dbuf, dx, B * T * D * H);
        for (int64_t d = 0; d < D; d++) {
            int64_t k = (l * D + d) * B * H;
            attn__rnn_copy_or_zero(dstate, dh_n ? dh_n + k : NULL, B * H);
            direction_backward(&g->cell[l][d], ps, B, T, xin, lens, (int)d, h0 ? h0 + k : NULL,
                               yl + d * H, D * H, cache->gates[l][d], dcur ? dcur + d * H : NULL,
                               D * H, dstate, dxl, dg, work);
            if (dh0)
                for (int64_t i = 0; i < B * H; i++) dh0[k + i] += dstate[i];
        }
        dcur = dxl;
    }
    return ATTN_STATUS_OK;
}
