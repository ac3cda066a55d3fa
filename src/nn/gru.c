/* The gated recurrent unit: one step (cell) and whole padded sequences (layer), forward and
 * backward through time. Equations and layouts in gru.h. */
#include "nn/gru.h"

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
        attn__fail(ATTN_STATUS_BAD_ARGUMENT, "GRU parameter '%s.%s%s' is longer than %d bytes; "
                   "use a shorter prefix", prefix, base, suffix, ATTN__PARAM_NAME - 1);
        return -1;
    }
    return attn__params_add(ps, name, ndim, shape);
}

/* registers the four tensors of one cell with names "<prefix>.weight_ih<suffix>" ... */
static attn_status_t cell_register(attn__gru_cell_t *c, attn__params_t *ps, const char *prefix,
                                   const char *suffix, int64_t in, int64_t hidden) {
    int64_t wi[2] = {3 * hidden, in}, wh[2] = {3 * hidden, hidden}, b[1] = {3 * hidden};
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

attn_status_t attn__gru_cell_init(attn__gru_cell_t *c, attn__params_t *ps, const char *prefix,
                                  int64_t in, int64_t hidden) {
    if (!c || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "GRU cell init: cell, store and prefix "
                          "must not be NULL");
    if (!sizes_ok(in, hidden))
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "GRU cell '%s': input size %lld and hidden "
                          "size %lld must be positive (and below 2^28)", prefix, (long long)in,
                          (long long)hidden);
    return cell_register(c, ps, prefix, "", in, hidden);
}

attn_status_t attn__gru_cell_reset(const attn__gru_cell_t *c, attn__params_t *ps,
                                   attn__rng_t *rng) {
    if (!c || !ps || !rng)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "GRU reset: NULL argument");
    if (!ps->w)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "GRU reset: call attn__params_alloc first");
    float bound = (float)(1.0 / sqrt((double)c->hidden));
    int32_t ids[4] = {c->w_ih, c->w_hh, c->b_ih, c->b_hh};
    for (int k = 0; k < 4; k++) {
        float *w = attn__pw(ps, ids[k]);
        for (int64_t i = 0; i < ps->list[ids[k]].numel; i++)
            w[i] = (2.0f * attn__rng_uniform(rng) - 1.0f) * bound;
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__gru_init(attn__gru_t *g, attn__params_t *ps, const char *prefix,
                             int64_t in, int64_t hidden, int32_t layers, int bidirectional) {
    if (!g || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "GRU init: layer, store and prefix must "
                          "not be NULL");
    if (!sizes_ok(in, hidden) || layers < 1 || layers > ATTN__GRU_MAX_LAYERS)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "GRU '%s': input size %lld, hidden size %lld "
                          "and %d layers; sizes must be positive and layers 1..%d", prefix,
                          (long long)in, (long long)hidden, (int)layers, ATTN__GRU_MAX_LAYERS);
    memset(g, 0, sizeof *g);
    g->in = in;
    g->hidden = hidden;
    g->layers = layers;
    g->dirs = bidirectional ? 2 : 1;
    for (int32_t l = 0; l < layers; l++) {
        for (int32_t d = 0; d < g->dirs; d++) {
            char suffix[32];
            snprintf(suffix, sizeof suffix, "_l%d%s", (int)l, d ? "_reverse" : "");
            attn_status_t st = cell_register(&g->cell[l][d], ps, prefix, suffix,
                                             l ? g->dirs * hidden : in, hidden);
            if (st != ATTN_STATUS_OK) return st;
        }
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__gru_reset(const attn__gru_t *g, attn__params_t *ps, attn__rng_t *rng) {
    if (!g) return attn__fail(ATTN_STATUS_NULL_POINTER, "GRU reset: NULL layer");
    for (int32_t l = 0; l < g->layers; l++)
        for (int32_t d = 0; d < g->dirs; d++) {
            attn_status_t st = attn__gru_cell_reset(&g->cell[l][d], ps, rng);
            if (st != ATTN_STATUS_OK) return st;
        }
    return ATTN_STATUS_OK;
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

static attn_status_t check_cell(const char *what, const attn__gru_cell_t *c,
                                const attn__params_t *ps, int need_grad, int64_t B) {
    if (!c || !ps || !ps->w || (need_grad && !ps->g))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "GRU cell %s: NULL cell or store (or the "
                          "store is not allocated)", what);
    if (B < 1 || B > ((int64_t)1 << 40) / (4 * (c->hidden > c->in ? c->hidden : c->in)))
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "GRU cell %s: batch %lld must be positive and "
                          "not overflow the buffers", what, (long long)B);
    return ATTN_STATUS_OK;
}

/* forward: x [B, in], h_prev [B, H] -> h [B, H]; cache [B, 4H] */
attn_status_t attn__gru_cell_forward(const attn__gru_cell_t *c, const attn__params_t *ps,
                                     int64_t B, const float *x, const float *h_prev, float *h,
                                     float *cache) {
    attn_status_t st = check_cell("forward", c, ps, 0, B);
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
    attn_status_t st = check_cell("backward", c, ps, 1, B);
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
    colsum_valid(B, 1, NULL, work, 4 * H, 3 * H, dbih);
    if (dx) attn__gemm(0, 0, B, in, 3 * H, 1.0f, work, 4 * H, wih, in, 1.0f, dx, in);
    /* hidden side: d(W_h{r,z} h) = work[:, 0:2H], d(W_hn h + b_hn) = work[:, 3H:4H] */
    attn__gemm(1, 0, 2 * H, H, B, 1.0f, work, 4 * H, h_prev, H, 1.0f, dwhh, H);
    attn__gemm(1, 0, H, H, B, 1.0f, work + 3 * H, 4 * H, h_prev, H, 1.0f, dwhh + 2 * H * H, H);
    colsum_valid(B, 1, NULL, work, 4 * H, 2 * H, dbhh);
    colsum_valid(B, 1, NULL, work + 3 * H, 4 * H, H, dbhh + 2 * H);
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

static int64_t step_time(int dir, int64_t len, int64_t s) { return dir ? len - 1 - s : s; }

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
            int64_t t = step_time(dir, len, s);
            float *row = gates + (b * T + t) * 4 * H;
            const float *g = gh + b * 3 * H;
            for (int64_t j = 0; j < 2 * H; j++) row[j] += g[j];
            memcpy(row + 3 * H, g + 2 * H, sizeof(float) * (size_t)H);
            row_forward(H, row, bih, bhh, state + b * H, state + b * H);
            memcpy(y + (b * T + t) * ldy, state + b * H, sizeof(float) * (size_t)H);
        }
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = lens ? lens[b] : T; t < T; t++)
            memset(y + (b * T + t) * ldy, 0, sizeof(float) * (size_t)H);
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
            int64_t t = step_time(dir, len, s);
            if (s > 0)
                memcpy(hpb, y + (b * T + (dir ? t + 1 : t - 1)) * ldy, sizeof(float) * (size_t)H);
            else if (h0)
                memcpy(hpb, h0 + b * H, sizeof(float) * (size_t)H);
            else
                memset(hpb, 0, sizeof(float) * (size_t)H);
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
    colsum_valid(B, T, lens, dg, 4 * H, 3 * H, dbih);
    colsum_valid(B, T, lens, dg, 4 * H, 2 * H, dbhh);
    colsum_valid(B, T, lens, dg + 3 * H, 4 * H, H, dbhh + 2 * H);
    /* input side, one product per sequence over its valid rows only (padding never read) */
    for (int64_t b = 0; b < B; b++) {
        int64_t len = lens ? lens[b] : T;
        if (len == 0) continue;
        const float *dgb = dg + b * T * 4 * H;
        attn__gemm(1, 0, 3 * H, in, len, 1.0f, dgb, 4 * H, x + b * T * in, in, 1.0f, dwih, in);
        if (dx)
            attn__gemm(0, 0, len, in, 3 * H, 1.0f, dgb, 4 * H, wih, in, 1.0f, dx + b * T * in,
                       in);
    }
}

/* ---- the layer ----------------------------------------------------------------------------- */

static attn_status_t check_layer(const char *what, const attn__gru_t *g, const attn__params_t *ps,
                                 int need_grad, int64_t B, int64_t T, const int64_t *lens) {
    if (!g || !ps || !ps->w || (need_grad && !ps->g))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "GRU %s: NULL layer or store (or the store "
                          "is not allocated)", what);
    int64_t width = 4 * g->hidden;
    if (g->in > width) width = g->in;
    if (B < 1 || T < 1 || B > ((int64_t)1 << 40) / T / width)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "GRU %s: batch %lld and length %lld must be "
                          "positive and not overflow the buffers", what, (long long)B,
                          (long long)T);
    if (lens)
        for (int64_t b = 0; b < B; b++)
            if (lens[b] < 0 || lens[b] > T)
                return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "GRU %s: lens[%lld] = %lld is "
                                  "outside 0..T = %lld", what, (long long)b,
                                  (long long)lens[b], (long long)T);
    return ATTN_STATUS_OK;
}

/* forward: x [B, T, in] -> y [B, T, dirs H], h_n [layers dirs, B, H] */
attn_status_t attn__gru_forward(const attn__gru_t *g, const attn__params_t *ps, int64_t B,
                                int64_t T, const float *x, const int64_t *lens, const float *h0,
                                float *y, float *h_n, attn__gru_cache_t *cache,
                                attn__arena_t *arena) {
    attn_status_t st = check_layer("forward", g, ps, 0, B, T, lens);
    if (st != ATTN_STATUS_OK) return st;
    if (!x || !y || !cache || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "GRU forward: x, y, cache and arena must "
                          "not be NULL");
    int64_t H = g->hidden, D = g->dirs, L = g->layers;
    memset(cache, 0, sizeof *cache);
    cache->batch = B;
    cache->len = T;
    for (int64_t l = 0; l < L; l++) {
        for (int64_t d = 0; d < D; d++)
            if (!(cache->gates[l][d] = attn__arena_alloc(arena, (size_t)(B * T * 4 * H))))
                return ATTN_STATUS_OUT_OF_MEMORY;
        if (l + 1 < L && !(cache->y[l] = attn__arena_alloc(arena, (size_t)(B * T * D * H))))
            return ATTN_STATUS_OUT_OF_MEMORY;
    }
    float *gh = attn__arena_alloc(arena, (size_t)(B * 3 * H + (h_n ? 0 : L * D * B * H)));
    if (!gh) return ATTN_STATUS_OUT_OF_MEMORY;
    float *states = h_n ? h_n : gh + B * 3 * H;
    for (int64_t l = 0; l < L; l++) {
        const float *xin = l ? cache->y[l - 1] : x;
        float *yl = l + 1 < L ? cache->y[l] : y;
        for (int64_t d = 0; d < D; d++) {
            float *state = states + (l * D + d) * B * H;
            if (h0)
                memcpy(state, h0 + (l * D + d) * B * H, sizeof(float) * (size_t)(B * H));
            else
                memset(state, 0, sizeof(float) * (size_t)(B * H));
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
    attn_status_t st = check_layer("backward", g, ps, 1, B, T, lens);
    if (st != ATTN_STATUS_OK) return st;
    if (!x || !y || !cache || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "GRU backward: x, y, cache and arena must "
                          "not be NULL");
    if (cache->batch != B || cache->len != T || !cache->gates[0][0])
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "GRU backward: the cache is from a forward "
                          "of batch %lld and length %lld, not %lld and %lld",
                          (long long)cache->batch, (long long)cache->len, (long long)B,
                          (long long)T);
    int64_t H = g->hidden, D = g->dirs, L = g->layers;
    float *dg = attn__arena_alloc(arena, (size_t)(B * T * 4 * H));
    float *work = attn__arena_alloc(arena, (size_t)(B * 6 * H));
    float *dbuf[2] = {NULL, NULL};
    for (int k = 0; k < 2 && k + 1 < L; k++)
        if (!(dbuf[k] = attn__arena_alloc(arena, (size_t)(B * T * D * H))))
            return ATTN_STATUS_OUT_OF_MEMORY;
    if (!dg || !work) return ATTN_STATUS_OUT_OF_MEMORY;
    float *dstate = work + 5 * B * H;
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
            int64_t k = l * D + d;
            if (dh_n)
                memcpy(dstate, dh_n + k * B * H, sizeof(float) * (size_t)(B * H));
            else
                memset(dstate, 0, sizeof(float) * (size_t)(B * H));
            direction_backward(&g->cell[l][d], ps, B, T, xin, lens, (int)d,
                               h0 ? h0 + k * B * H : NULL, yl + d * H, D * H, cache->gates[l][d],
                               dcur ? dcur + d * H : NULL, D * H, dstate, dxl, dg, work);
            if (dh0)
                for (int64_t i = 0; i < B * H; i++) dh0[k * B * H + i] += dstate[i];
        }
        dcur = dxl;
    }
    return ATTN_STATUS_OK;
}
