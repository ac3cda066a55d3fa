/* Long short-term memory: one step (cell) and whole padded sequences (layer), forward and
 * backward through time. Equations and layouts in lstm.h. */
#include "nn/lstm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- parameters ------------------------------------------------------------------------- */

static int32_t add_param(attn__params_t *ps, const char *prefix, const char *base,
                         const char *suffix, int32_t ndim, const int64_t *shape) {
    char name[ATTN__PARAM_NAME];
    int len = snprintf(name, sizeof name, "%s%s%s%s", prefix, prefix[0] ? "." : "", base,
                       suffix);
    if (len < 0 || len >= (int)sizeof name) {
        attn__fail(ATTN_STATUS_BAD_ARGUMENT, "LSTM parameter '%s.%s%s' is longer than %d "
                   "bytes; use a shorter prefix", prefix, base, suffix, ATTN__PARAM_NAME - 1);
        return -1;
    }
    return attn__params_add(ps, name, ndim, shape);
}

static attn_status_t cell_register(attn__lstm_cell_t *c, attn__params_t *ps, const char *prefix,
                                   const char *suffix, int64_t in, int64_t hidden) {
    int64_t wi[2] = {4 * hidden, in}, wh[2] = {4 * hidden, hidden}, b[1] = {4 * hidden};
    c->in = in;
    c->hidden = hidden;
    c->w_ih = add_param(ps, prefix, "weight_ih", suffix, 2, wi);
    if (c->w_ih < 0) return ATTN_STATUS_BAD_ARGUMENT;
    c->w_hh = add_param(ps, prefix, "weight_hh", suffix, 2, wh);
    if (c->w_hh < 0) return ATTN_STATUS_BAD_ARGUMENT;
    c->b_ih = add_param(ps, prefix, "bias_ih", suffix, 1, b);
    if (c->b_ih < 0) return ATTN_STATUS_BAD_ARGUMENT;
    c->b_hh = add_param(ps, prefix, "bias_hh", suffix, 1, b);
    if (c->b_hh < 0) return ATTN_STATUS_BAD_ARGUMENT;
    return ATTN_STATUS_OK;
}

static int sizes_ok(int64_t in, int64_t hidden) {
    return in >= 1 && hidden >= 1 && in <= ((int64_t)1 << 30) && hidden <= ((int64_t)1 << 28);
}

attn_status_t attn__lstm_cell_init(attn__lstm_cell_t *c, attn__params_t *ps, const char *prefix,
                                   int64_t in, int64_t hidden) {
    if (!c || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "LSTM cell init: cell, store and prefix "
                          "must not be NULL");
    if (!sizes_ok(in, hidden))
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "LSTM cell '%s': input size %lld and hidden "
                          "size %lld must be positive (and below 2^28)", prefix, (long long)in,
                          (long long)hidden);
    return cell_register(c, ps, prefix, "", in, hidden);
}

attn_status_t attn__lstm_cell_reset(const attn__lstm_cell_t *c, attn__params_t *ps,
                                    attn__rng_t *rng) {
    if (!c || !ps || !rng)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "LSTM reset: NULL argument");
    if (!ps->w)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "LSTM reset: call attn__params_alloc "
                          "first");
    float bound = (float)(1.0 / sqrt((double)c->hidden));
    int32_t ids[4] = {c->w_ih, c->w_hh, c->b_ih, c->b_hh};
    for (int k = 0; k < 4; k++) {
        float *w = attn__pw(ps, ids[k]);
        for (int64_t i = 0; i < ps->list[ids[k]].numel; i++)
            w[i] = (2.0f * attn__rng_uniform(rng) - 1.0f) * bound;
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__lstm_init(attn__lstm_t *m, attn__params_t *ps, const char *prefix,
                              int64_t in, int64_t hidden, int32_t layers, int bidirectional) {
    if (!m || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "LSTM init: layer, store and prefix must "
                          "not be NULL");
    if (!sizes_ok(in, hidden) || layers < 1 || layers > ATTN__LSTM_MAX_LAYERS)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "LSTM '%s': input size %lld, hidden size %lld "
                          "and %d layers; sizes must be positive and layers 1..%d", prefix,
                          (long long)in, (long long)hidden, (int)layers, ATTN__LSTM_MAX_LAYERS);
    memset(m, 0, sizeof *m);
    m->in = in;
    m->hidden = hidden;
    m->layers = layers;
    m->dirs = bidirectional ? 2 : 1;
    for (int32_t l = 0; l < layers; l++) {
        for (int32_t d = 0; d < m->dirs; d++) {
            char suffix[32];
            snprintf(suffix, sizeof suffix, "_l%d%s", (int)l, d ? "_reverse" : "");
            attn_status_t st = cell_register(&m->cell[l][d], ps, prefix, suffix,
                                             l ? m->dirs * hidden : in, hidden);
            if (st != ATTN_STATUS_OK) return st;
        }
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__lstm_reset(const attn__lstm_t *m, attn__params_t *ps, attn__rng_t *rng) {
    if (!m) return attn__fail(ATTN_STATUS_NULL_POINTER, "LSTM reset: NULL layer");
    for (int32_t l = 0; l < m->layers; l++)
        for (int32_t d = 0; d < m->dirs; d++) {
            attn_status_t st = attn__lstm_cell_reset(&m->cell[l][d], ps, rng);
            if (st != ATTN_STATUS_OK) return st;
        }
    return ATTN_STATUS_OK;
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

/* dst[j] += sum over valid rows of src[row * ld + j], j < n; rows are (b, t) for t < lens[b]
 * (all T when lens is NULL), added in the order b, t in double: a fixed summation order */
static void colsum_valid(int64_t B, int64_t T, const int64_t *lens, const float *src, int64_t ld,
                         int64_t n, float *dst) {
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

/* ---- the cell ------------------------------------------------------------------------------ */

static attn_status_t check_cell(const char *what, const attn__lstm_cell_t *c,
                                const attn__params_t *ps, int need_grad, int64_t B) {
    if (!c || !ps || !ps->w || (need_grad && !ps->g))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "LSTM cell %s: NULL cell or store (or the "
                          "store is not allocated)", what);
    if (B < 1 || B > ((int64_t)1 << 40) / (4 * (c->hidden > c->in ? c->hidden : c->in)))
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "LSTM cell %s: batch %lld must be positive "
                          "and not overflow the buffers", what, (long long)B);
    return ATTN_STATUS_OK;
}

/* forward: x [B, in], h_prev, c_prev [B, H] -> h, c [B, H]; cache [B, 4H] */
attn_status_t attn__lstm_cell_forward(const attn__lstm_cell_t *cell, const attn__params_t *ps,
                                      int64_t B, const float *x, const float *h_prev,
                                      const float *c_prev, float *h, float *c, float *cache) {
    attn_status_t st = check_cell("forward", cell, ps, 0, B);
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
    attn_status_t st = check_cell("backward", cell, ps, 1, B);
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
    colsum_valid(B, 1, NULL, work, 4 * H, 4 * H, attn__pg(ps, cell->b_ih));
    colsum_valid(B, 1, NULL, work, 4 * H, 4 * H, attn__pg(ps, cell->b_hh));
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

static int64_t step_time(int dir, int64_t len, int64_t s) { return dir ? len - 1 - s : s; }

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
            int64_t t = step_time(dir, len, s);
            float *row = gates + (b * T + t) * G;
            const float *g = gh + b * 4 * H;
            for (int64_t j = 0; j < 4 * H; j++) row[j] += g[j];
            row_forward(H, row, bih, bhh, cs + b * H, cs + b * H, hs + b * H);
            memcpy(row + 4 * H, cs + b * H, sizeof(float) * (size_t)H);
            memcpy(y + (b * T + t) * ldy, hs + b * H, sizeof(float) * (size_t)H);
        }
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = lens ? lens[b] : T; t < T; t++)
            memset(y + (b * T + t) * ldy, 0, sizeof(float) * (size_t)H);
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
            int64_t t = step_time(dir, len, s), tp = dir ? t + 1 : t - 1;
            const float *cp;
            if (s > 0) {
                memcpy(hpb, y + (b * T + tp) * ldy, sizeof(float) * (size_t)H);
                cp = gates + (b * T + tp) * G + 4 * H;
            } else {
                if (h0)
                    memcpy(hpb, h0 + b * H, sizeof(float) * (size_t)H);
                else
                    memset(hpb, 0, sizeof(float) * (size_t)H);
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
    colsum_valid(B, T, lens, dg, 4 * H, 4 * H, attn__pg(ps, cell->b_ih));
    colsum_valid(B, T, lens, dg, 4 * H, 4 * H, attn__pg(ps, cell->b_hh));
    /* input side, one product per sequence over its valid rows only (padding never read) */
    for (int64_t b = 0; b < B; b++) {
        int64_t len = lens ? lens[b] : T;
        if (len == 0) continue;
        const float *dgb = dg + b * T * 4 * H;
        attn__gemm(1, 0, 4 * H, in, len, 1.0f, dgb, 4 * H, x + b * T * in, in, 1.0f, dwih, in);
        if (dx)
            attn__gemm(0, 0, len, in, 4 * H, 1.0f, dgb, 4 * H, wih, in, 1.0f, dx + b * T * in,
                       in);
    }
}

/* ---- the layer ----------------------------------------------------------------------------- */

static attn_status_t check_layer(const char *what, const attn__lstm_t *m,
                                 const attn__params_t *ps, int need_grad, int64_t B, int64_t T,
                                 const int64_t *lens) {
    if (!m || !ps || !ps->w || (need_grad && !ps->g))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "LSTM %s: NULL layer or store (or the "
                          "store is not allocated)", what);
    int64_t width = 5 * m->hidden;
    if (m->in > width) width = m->in;
    if (B < 1 || T < 1 || B > ((int64_t)1 << 40) / T / width)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "LSTM %s: batch %lld and length %lld must be "
                          "positive and not overflow the buffers", what, (long long)B,
                          (long long)T);
    if (lens)
        for (int64_t b = 0; b < B; b++)
            if (lens[b] < 0 || lens[b] > T)
                return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "LSTM %s: lens[%lld] = %lld is "
                                  "outside 0..T = %lld", what, (long long)b,
                                  (long long)lens[b], (long long)T);
    return ATTN_STATUS_OK;
}

/* forward: x [B, T, in] -> y [B, T, dirs H], h_n, c_n [layers dirs, B, H] */
attn_status_t attn__lstm_forward(const attn__lstm_t *m, const attn__params_t *ps, int64_t B,
                                 int64_t T, const float *x, const int64_t *lens,
                                 const float *h0, const float *c0, float *y, float *h_n,
                                 float *c_n, attn__lstm_cache_t *cache, attn__arena_t *arena) {
    attn_status_t st = check_layer("forward", m, ps, 0, B, T, lens);
    if (st != ATTN_STATUS_OK) return st;
    if (!x || !y || !cache || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "LSTM forward: x, y, cache and arena must "
                          "not be NULL");
    int64_t H = m->hidden, D = m->dirs, L = m->layers, S = L * D * B * H;
    memset(cache, 0, sizeof *cache);
    cache->batch = B;
    cache->len = T;
    for (int64_t l = 0; l < L; l++) {
        for (int64_t d = 0; d < D; d++)
            if (!(cache->gates[l][d] = attn__arena_alloc(arena, (size_t)(B * T * 5 * H))))
                return ATTN_STATUS_OUT_OF_MEMORY;
        if (l + 1 < L && !(cache->y[l] = attn__arena_alloc(arena, (size_t)(B * T * D * H))))
            return ATTN_STATUS_OUT_OF_MEMORY;
    }
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
            if (h0)
                memcpy(hs, h0 + k, sizeof(float) * (size_t)(B * H));
            else
                memset(hs, 0, sizeof(float) * (size_t)(B * H));
            if (c0)
                memcpy(cs, c0 + k, sizeof(float) * (size_t)(B * H));
            else
                memset(cs, 0, sizeof(float) * (size_t)(B * H));
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
    attn_status_t st = check_layer("backward", m, ps, 1, B, T, lens);
    if (st != ATTN_STATUS_OK) return st;
    if (!x || !y || !cache || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "LSTM backward: x, y, cache and arena must "
                          "not be NULL");
    if (cache->batch != B || cache->len != T || !cache->gates[0][0])
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "LSTM backward: the cache is from a forward "
                          "of batch %lld and length %lld, not %lld and %lld",
                          (long long)cache->batch, (long long)cache->len, (long long)B,
                          (long long)T);
    int64_t H = m->hidden, D = m->dirs, L = m->layers;
    float *dg = attn__arena_alloc(arena, (size_t)(B * T * 4 * H));
    float *work = attn__arena_alloc(arena, (size_t)(B * 9 * H + H));
    float *dbuf[2] = {NULL, NULL};
    for (int k = 0; k < 2 && k + 1 < L; k++)
        if (!(dbuf[k] = attn__arena_alloc(arena, (size_t)(B * T * D * H))))
            return ATTN_STATUS_OUT_OF_MEMORY;
    if (!dg || !work) return ATTN_STATUS_OUT_OF_MEMORY;
    float *dhs = work + 7 * B * H + H, *dcs = dhs + B * H;
    const float *dcur = dy;
    for (int64_t l = L - 1; l >= 0; l--) {
        const float *xin = l ? cache->y[l - 1] : x;
        const float *yl = l + 1 < L ? cache->y[l] : y;
        float *dxl = dx;
        if (l > 0) {
            dxl = dbuf[(L - 1 - l) & 1]; /* the top layer writes dbuf[0] */
            memset(dxl, 0, sizeof(float) * (size_t)(B * T * D * H));
        }
        for (int64_t d = 0; d < D; d++) {
            int64_t k = (l * D + d) * B * H;
            if (dh_n)
                memcpy(dhs, dh_n + k, sizeof(float) * (size_t)(B * H));
            else
                memset(dhs, 0, sizeof(float) * (size_t)(B * H));
            if (dc_n)
                memcpy(dcs, dc_n + k, sizeof(float) * (size_t)(B * H));
            else
                memset(dcs, 0, sizeof(float) * (size_t)(B * H));
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
