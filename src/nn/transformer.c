/* Pre-norm Transformer encoder and decoder layers: forward and backward side by side, then
 * the decoder's incremental step. Both layers are chains of pre-norm residual blocks,
 * out = in + dropoutK(branch(normK(in))), with self-attention, cross-attention (decoder) and
 * feed-forward branches; the blocks the layers share are the helpers below. */
#include "nn/transformer.h"

#include <stdio.h>
#include <string.h>

attn__transformer_config_t attn__transformer_default_config(int64_t d_model, int64_t nhead) {
    attn__transformer_config_t c;
    c.d_model = d_model;
    c.nhead = nhead;
    c.dim_feedforward = 2048;
    c.dropout = 0.1f;
    c.attention_dropout = 0.0f;
    c.activation = ATTN__ACT_RELU;
    c.layer_norm_eps = 1e-5f;
    return c;
}

/* ---- shared pieces ------------------------------------------------------------------------- */
static const char *join(char *buf, size_t size, const char *prefix, const char *name) {
    snprintf(buf, size, "%s.%s", prefix, name);
    return buf;
}

static attn_status_t check_cfg(const char *prefix, attn__transformer_config_t cfg) {
    if (cfg.d_model < 1 || cfg.nhead < 1 || cfg.dim_feedforward < 1 ||
        cfg.d_model % cfg.nhead != 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "transformer layer '%s': d_model %lld must be "
                          "a positive multiple of nhead %lld, dim_feedforward %lld positive",
                          prefix, (long long)cfg.d_model, (long long)cfg.nhead,
                          (long long)cfg.dim_feedforward);
    return ATTN_STATUS_OK;
}

/* norm "<prefix>.normK", dropout "<prefix>.dropoutK" */
static attn_status_t init_norm_drop(attn__layernorm_t *ln, attn__dropout_t *d,
                                    attn__params_t *ps, const char *prefix, int k,
                                    attn__transformer_config_t cfg) {
    char name[ATTN__PARAM_NAME], sub[16];
    snprintf(sub, sizeof sub, "norm%d", k);
    attn_status_t st = attn__layernorm_init(ln, ps, join(name, sizeof name, prefix, sub),
                                            cfg.d_model, cfg.layer_norm_eps);
    if (st) return st;
    snprintf(sub, sizeof sub, "dropout%d", k);
    return attn__dropout_init(d, join(name, sizeof name, prefix, sub), cfg.dropout);
}

/* The parts of a layer, registered in PyTorch's order: self_attn, multihead_attn (cross, the
 * decoder's; NULL for the encoder), linear1 and linear2, then norm1/dropout1 .. normK/dropoutK
 * (norm[k - 1], drop[k - 1]). cfg is stored in *cfg_out once it passes the check. */
static attn_status_t init_layer(attn__transformer_config_t *cfg_out, attn__params_t *ps,
                                const char *prefix, attn__transformer_config_t cfg,
                                attn__mha_t *self_attn, attn__mha_t *cross,
                                attn__feedforward_t *ff, attn__layernorm_t *const norm[],
                                attn__dropout_t *const drop[], int nblocks) {
    attn_status_t st = check_cfg(prefix, cfg);
    if (st) return st;
    char name[ATTN__PARAM_NAME];
    *cfg_out = cfg;
    if ((st = attn__mha_init(self_attn, ps, join(name, sizeof name, prefix, "self_attn"),
                             cfg.d_model, cfg.nhead)))
        return st;
    if (cross && (st = attn__mha_init(cross, ps, join(name, sizeof name, prefix,
                                                      "multihead_attn"),
                                      cfg.d_model, cfg.nhead)))
        return st;
    if ((st = attn__mha_set_dropout(self_attn, cfg.attention_dropout)) ||
        (cross && (st = attn__mha_set_dropout(cross, cfg.attention_dropout))))
        return st;
    if ((st = attn__feedforward_init(ff, ps, prefix, cfg.d_model, cfg.dim_feedforward,
                                     cfg.activation, cfg.dropout)))
        return st;
    for (int k = 0; k < nblocks; k++)
        if ((st = init_norm_drop(norm[k], drop[k], ps, prefix, k + 1, cfg))) return st;
    return ATTN_STATUS_OK;
}

/* initial values of the parts of init_layer, in the same order (cross may be NULL) */
static attn_status_t reset_layer(attn__params_t *ps, attn__rng_t *rng,
                                 const attn__mha_t *self_attn, const attn__mha_t *cross,
                                 const attn__feedforward_t *ff,
                                 const attn__layernorm_t *const norm[], int nblocks) {
    attn_status_t st;
    if ((st = attn__mha_reset(self_attn, ps, rng)) ||
        (cross && (st = attn__mha_reset(cross, ps, rng))) ||
        (st = attn__feedforward_reset(ff, ps, rng)))
        return st;
    for (int k = 0; k < nblocks; k++)
        if ((st = attn__layernorm_reset(norm[k], ps))) return st;
    return ATTN_STATUS_OK;
}

/* norm buffers of one block: y [N, E], mean [N], rstd [N] */
static attn_status_t alloc_norm(attn__arena_t *a, int64_t n, int64_t e, float **y,
                                float **mean, float **rstd) {
    *y = attn__arena_alloc(a, (size_t)(n * e));
    *mean = attn__arena_alloc(a, (size_t)n);
    *rstd = attn__arena_alloc(a, (size_t)n);
    return *y && *mean && *rstd ? ATTN_STATUS_OK : ATTN_STATUS_OUT_OF_MEMORY;
}

/* two or three buffers of ne floats each, in this order (r may be NULL) */
static attn_status_t alloc_rows(attn__arena_t *a, int64_t ne, float **p, float **q, float **r) {
    *p = attn__arena_alloc(a, (size_t)ne);
    *q = attn__arena_alloc(a, (size_t)ne);
    if (r) *r = attn__arena_alloc(a, (size_t)ne);
    return *p && *q && (!r || *r) ? ATTN_STATUS_OK : ATTN_STATUS_OUT_OF_MEMORY;
}

/* out = x + dropout(branch) */
static attn_status_t residual(const attn__dropout_t *d, attn__mode_t mode, int64_t n,
                              const float *x, float *branch, float *out) {
    return attn__dropout_add(d, mode, n, x, branch, out);
}

/* start of a block's backward: g = dropout'(dy), and dn = 0 for the branch's input gradient */
static attn_status_t branch_grad(const attn__dropout_t *d, attn__mode_t mode, int64_t n,
                                 const float *dy, float *g, float *dn) {
    attn_status_t st = attn__dropout_grad(d, mode, n, dy, g);
    if (st) return st;
    memset(dn, 0, sizeof(float) * (size_t)n);
    return ATTN_STATUS_OK;
}

static void add(int64_t n, const float *src, float *dst) {
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

/* ---- pre-norm blocks ----------------------------------------------------------------------- */
/* One block of a pass over N = B T rows: its norm and dropout, its input in [N, E] (the
 * residual stream) and the norm's buffers ln = norm(in) [N, E], mean and rstd [N]. */
typedef struct block {
    const attn__layernorm_t *norm;
    const attn__dropout_t *drop;
    const float *in;
    float *ln, *mean, *rstd;
} block_t;

/* attention block: out = in + drop(m(ln, memory)) with memory NULL for self-attention (then
 * len_k is len); t [N, E] scratch, the attention's cache in mc */
static attn_status_t attn_block_forward(const attn__mha_t *m, block_t b, const attn__params_t *ps,
                                        attn__mode_t mode, int64_t batch, int64_t len,
                                        int64_t len_k, int64_t e, const float *memory,
                                        const int64_t *key_lens, attn_causal_t causal,
                                        float *t, attn__mha_cache_t *mc, float *out,
                                        attn__arena_t *arena) {
    const int64_t n = batch * len;
    attn_status_t st;
    if ((st = attn__layernorm_forward(b.norm, ps, n, b.in, b.ln, b.mean, b.rstd)) ||
        (st = attn__mha_forward_mode(m, ps, mode, batch, len, len_k, b.ln, memory, key_lens,
                                     causal, t, mc, arena)) ||
        (st = residual(b.drop, mode, n * e, b.in, t, out)))
        return st;
    return ATTN_STATUS_OK;
}

/* feed-forward block: out = in + drop(ff(ln)); t [N, E] scratch, ff's cache in fc */
static attn_status_t ff_block_forward(const attn__feedforward_t *ff, block_t b,
                                      const attn__params_t *ps, attn__mode_t mode, int64_t n,
                                      int64_t e, float *t, attn__feedforward_cache_t *fc,
                                      float *out, attn__arena_t *arena) {
    attn_status_t st;
    if ((st = attn__layernorm_forward(b.norm, ps, n, b.in, b.ln, b.mean, b.rstd)) ||
        (st = attn__feedforward_forward(ff, ps, mode, n, b.ln, t, fc, arena)) ||
        (st = residual(b.drop, mode, n * e, b.in, t, out)))
        return st;
    return ATTN_STATUS_OK;
}

/* attention block backward: din += norm'(m'(drop'(dout))) (din may be dout), dmemory += for
 * cross-attention (memory and dmemory NULL for self-attention); g, dn [N, E] scratch */
static attn_status_t attn_block_backward(const attn__mha_t *m, block_t b,
                                         const attn__mha_cache_t *mc, attn__params_t *ps,
                                         attn__mode_t mode, int64_t n, int64_t e,
                                         const float *memory, const float *dout, float *din,
                                         float *dmemory, float *g, float *dn,
                                         attn__arena_t *arena) {
    attn_status_t st;
    if ((st = branch_grad(b.drop, mode, n * e, dout, g, dn)) ||
        (st = attn__mha_backward(m, ps, b.ln, memory, mc, g, dn, dmemory, arena)) ||
        (st = attn__layernorm_backward(b.norm, ps, n, b.in, b.mean, b.rstd, dn, din)))
        return st;
    return ATTN_STATUS_OK;
}

/* feed-forward block backward (a layer's last block): din = dout + norm'(ff'(drop'(dout)));
 * g, dn [N, E] scratch */
static attn_status_t ff_block_backward(const attn__feedforward_t *ff, block_t b,
                                       const attn__feedforward_cache_t *fc, attn__params_t *ps,
                                       attn__mode_t mode, int64_t n, int64_t e,
                                       const float *dout, float *din, float *g, float *dn,
                                       attn__arena_t *arena) {
    memcpy(din, dout, sizeof(float) * (size_t)(n * e));
    attn_status_t st;
    if ((st = branch_grad(b.drop, mode, n * e, dout, g, dn)) ||
        (st = attn__feedforward_backward(ff, ps, mode, n, b.ln, fc, g, dn, arena)) ||
        (st = attn__layernorm_backward(b.norm, ps, n, b.in, b.mean, b.rstd, dn, din)))
        return st;
    return ATTN_STATUS_OK;
}

/* ---- encoder layer ------------------------------------------------------------------------- */
attn_status_t attn__encoder_layer_init(attn__encoder_layer_t *l, attn__params_t *ps,
                                       const char *prefix, attn__transformer_config_t cfg) {
    if (!l || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "encoder layer init: NULL argument");
    attn__layernorm_t *const norm[] = {&l->norm1, &l->norm2};
    attn__dropout_t *const drop[] = {&l->dropout1, &l->dropout2};
    return init_layer(&l->cfg, ps, prefix, cfg, &l->self_attn, NULL, &l->ff, norm, drop, 2);
}

attn_status_t attn__encoder_layer_reset(const attn__encoder_layer_t *l, attn__params_t *ps,
                                        attn__rng_t *rng) {
    if (!l) return attn__fail(ATTN_STATUS_NULL_POINTER, "encoder layer reset: NULL layer");
    const attn__layernorm_t *const norm[] = {&l->norm1, &l->norm2};
    return reset_layer(ps, rng, &l->self_attn, NULL, &l->ff, norm, 2);
}

/* forward: x [B, T, E] -> ln1 -> self_attn -> x1 = x + drop1(.) [B, T, E]
 *          -> ln2 -> ff -> y = x1 + drop2(.) [B, T, E] */
attn_status_t attn__encoder_layer_forward(const attn__encoder_layer_t *l,
                                          const attn__params_t *ps, attn__mode_t mode,
                                          int64_t batch, int64_t len, const float *x,
                                          const int64_t *key_lens, attn_causal_t causal,
                                          float *y, attn__encoder_cache_t *c,
                                          attn__arena_t *arena) {
    if (!l || !ps || !x || !y || !c || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "encoder layer forward: NULL argument");
    if (y == x)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "encoder layer forward: y must not be x "
                          "(the backward reads x)");
    if (batch < 1 || len < 1)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "encoder layer forward: B = %lld and T = "
                          "%lld must be positive", (long long)batch, (long long)len);
    const int64_t E = l->cfg.d_model, N = batch * len;
    memset(c, 0, sizeof *c);
    c->batch = batch;
    c->len = len;
    float *t;
    attn_status_t st;
    if ((st = alloc_norm(arena, N, E, &c->ln1, &c->mean1, &c->rstd1)) ||
        (st = alloc_norm(arena, N, E, &c->ln2, &c->mean2, &c->rstd2)) ||
        (st = alloc_rows(arena, N * E, &c->x1, &t, NULL)))
        return st;
    const block_t b1 = {&l->norm1, &l->dropout1, x, c->ln1, c->mean1, c->rstd1};
    const block_t b2 = {&l->norm2, &l->dropout2, c->x1, c->ln2, c->mean2, c->rstd2};
    if ((st = attn_block_forward(&l->self_attn, b1, ps, mode, batch, len, len, E, NULL,
                                 key_lens, causal, t, &c->sa, c->x1, arena)) ||
        (st = ff_block_forward(&l->ff, b2, ps, mode, N, E, t, &c->ff, y, arena)))
        return st;
    return ATTN_STATUS_OK;
}

/* backward: dy [B, T, E] -> dx1 = dy + ln2'(ff'(drop2'(dy)))
 *           -> dx += dx1 + ln1'(self_attn'(drop1'(dx1))) */
attn_status_t attn__encoder_layer_backward(const attn__encoder_layer_t *l, attn__params_t *ps,
                                           attn__mode_t mode, const float *x,
                                           const attn__encoder_cache_t *c, const float *dy,
                                           float *dx, attn__arena_t *arena) {
    if (!l || !ps || !x || !c || !dy || !dx || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "encoder layer backward: NULL argument");
    if (!c->x1)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "encoder layer backward: the cache is not "
                          "from a forward");
    const int64_t E = l->cfg.d_model, N = c->batch * c->len;
    float *dx1, *g, *dn;
    attn_status_t st = alloc_rows(arena, N * E, &dx1, &g, &dn);
    if (st) return st;
    const block_t b1 = {&l->norm1, &l->dropout1, x, c->ln1, c->mean1, c->rstd1};
    const block_t b2 = {&l->norm2, &l->dropout2, c->x1, c->ln2, c->mean2, c->rstd2};
    if ((st = ff_block_backward(&l->ff, b2, &c->ff, ps, mode, N, E, dy, dx1, g, dn, arena)))
        return st;
    add(N * E, dx1, dx);
    return attn_block_backward(&l->self_attn, b1, &c->sa, ps, mode, N, E, NULL, dx1, dx, NULL,
                               g, dn, arena);
}

/* ---- decoder layer ------------------------------------------------------------------------- */
attn_status_t attn__decoder_layer_init(attn__decoder_layer_t *l, attn__params_t *ps,
                                       const char *prefix, attn__transformer_config_t cfg) {
    if (!l || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "decoder layer init: NULL argument");
    attn__layernorm_t *const norm[] = {&l->norm1, &l->norm2, &l->norm3};
    attn__dropout_t *const drop[] = {&l->dropout1, &l->dropout2, &l->dropout3};
    return init_layer(&l->cfg, ps, prefix, cfg, &l->self_attn, &l->multihead_attn, &l->ff,
                      norm, drop, 3);
}

attn_status_t attn__decoder_layer_reset(const attn__decoder_layer_t *l, attn__params_t *ps,
                                        attn__rng_t *rng) {
    if (!l) return attn__fail(ATTN_STATUS_NULL_POINTER, "decoder layer reset: NULL layer");
    const attn__layernorm_t *const norm[] = {&l->norm1, &l->norm2, &l->norm3};
    return reset_layer(ps, rng, &l->self_attn, &l->multihead_attn, &l->ff, norm, 3);
}

/* forward: x [B, T, E] -> ln1 -> causal self_attn -> x1 = x + drop1(.)
 *          -> ln2 -> multihead_attn(., memory [B, Tk, E]) -> x2 = x1 + drop2(.)
 *          -> ln3 -> ff -> y = x2 + drop3(.) [B, T, E] */
attn_status_t attn__decoder_layer_forward(const attn__decoder_layer_t *l,
                                          const attn__params_t *ps, attn__mode_t mode,
                                          int64_t batch, int64_t len, int64_t len_mem,
                                          const float *x, const float *memory,
                                          const int64_t *tgt_lens, const int64_t *memory_lens,
                                          float *y, attn__decoder_cache_t *c,
                                          attn__arena_t *arena) {
    if (!l || !ps || !x || !memory || !y || !c || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "decoder layer forward: NULL argument");
    if (y == x)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "decoder layer forward: y must not be x "
                          "(the backward reads x)");
    if (batch < 1 || len < 1 || len_mem < 1)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "decoder layer forward: B = %lld, T = %lld, "
                          "Tk = %lld must be positive", (long long)batch, (long long)len,
                          (long long)len_mem);
    const int64_t E = l->cfg.d_model, N = batch * len;
    memset(c, 0, sizeof *c);
    c->batch = batch;
    c->len = len;
    c->len_mem = len_mem;
    float *t;
    attn_status_t st;
    if ((st = alloc_norm(arena, N, E, &c->ln1, &c->mean1, &c->rstd1)) ||
        (st = alloc_norm(arena, N, E, &c->ln2, &c->mean2, &c->rstd2)) ||
        (st = alloc_norm(arena, N, E, &c->ln3, &c->mean3, &c->rstd3)) ||
        (st = alloc_rows(arena, N * E, &c->x1, &c->x2, &t)))
        return st;
    const block_t b1 = {&l->norm1, &l->dropout1, x, c->ln1, c->mean1, c->rstd1};
    const block_t b2 = {&l->norm2, &l->dropout2, c->x1, c->ln2, c->mean2, c->rstd2};
    const block_t b3 = {&l->norm3, &l->dropout3, c->x2, c->ln3, c->mean3, c->rstd3};
    if ((st = attn_block_forward(&l->self_attn, b1, ps, mode, batch, len, len, E, NULL,
                                 tgt_lens, ATTN_CAUSAL_TOP_LEFT, t, &c->sa, c->x1, arena)) ||
        (st = attn_block_forward(&l->multihead_attn, b2, ps, mode, batch, len, len_mem, E,
                                 memory, memory_lens, ATTN_CAUSAL_NONE, t, &c->ca, c->x2,
                                 arena)) ||
        (st = ff_block_forward(&l->ff, b3, ps, mode, N, E, t, &c->ff, y, arena)))
        return st;
    return ATTN_STATUS_OK;
}

/* backward: dy -> dx2 = dy + ln3'(ff'(drop3'(dy)))
 *           -> dx1 = dx2 + ln2'(multihead_attn'(drop2'(dx2)))   (and dmemory +=)
 *           -> dx += dx1 + ln1'(self_attn'(drop1'(dx1))) */
attn_status_t attn__decoder_layer_backward(const attn__decoder_layer_t *l, attn__params_t *ps,
                                           attn__mode_t mode, const float *x,
                                           const float *memory,
                                           const attn__decoder_cache_t *c, const float *dy,
                                           float *dx, float *dmemory, attn__arena_t *arena) {
    if (!l || !ps || !x || !memory || !c || !dy || !dx || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "decoder layer backward: NULL argument");
    if (!c->x2)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "decoder layer backward: the cache is not "
                          "from a forward");
    const int64_t E = l->cfg.d_model, N = c->batch * c->len;
    float *dres, *g, *dn; /* dres: dx2, then dx1 */
    attn_status_t st = alloc_rows(arena, N * E, &dres, &g, &dn);
    if (st) return st;
    const block_t b1 = {&l->norm1, &l->dropout1, x, c->ln1, c->mean1, c->rstd1};
    const block_t b2 = {&l->norm2, &l->dropout2, c->x1, c->ln2, c->mean2, c->rstd2};
    const block_t b3 = {&l->norm3, &l->dropout3, c->x2, c->ln3, c->mean3, c->rstd3};
    if ((st = ff_block_backward(&l->ff, b3, &c->ff, ps, mode, N, E, dy, dres, g, dn, arena)) ||
        (st = attn_block_backward(&l->multihead_attn, b2, &c->ca, ps, mode, N, E, memory, dres,
                                  dres, dmemory, g, dn, arena)))
        return st;
    add(N * E, dres, dx);
    return attn_block_backward(&l->self_attn, b1, &c->sa, ps, mode, N, E, NULL, dres, dx, NULL,
                               g, dn, arena);
}

/* ---- incremental decoding ------------------------------------------------------------------ */
attn_status_t attn__decoder_layer_start(const attn__decoder_layer_t *l,
                                        const attn__params_t *ps, attn__decoder_state_t *s,
                                        int64_t batch, int64_t max_len, int64_t len_mem,
                                        const float *memory, const int64_t *memory_lens) {
    if (!l || !ps || !s || !memory)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "decoder start: NULL argument");
    memset(s, 0, sizeof *s);
    const int64_t E = l->cfg.d_model;
    attn_status_t st;
    if ((st = attn__kv_cache_init(&s->self, batch, max_len, E)) ||
        (st = attn__kv_cache_init(&s->cross, batch, len_mem, E)) ||
        (st = attn__mha_kv_append(&l->multihead_attn, ps, &s->cross, len_mem, memory))) {
        attn__decoder_state_free(s);
        return st;
    }
    s->memory_lens = memory_lens;
    return ATTN_STATUS_OK;
}

/* step: x [B, t, E] -> x1 = x + self_attn step(ln1 x) -> x2 = x1 + cross(ln2 x1)
 *       -> y = x2 + ff(ln3 x2)                                            (eval: no dropout) */
attn_status_t attn__decoder_layer_step(const attn__decoder_layer_t *l, const attn__params_t *ps,
                                       attn__decoder_state_t *s, int64_t t, const float *x,
                                       float *y, attn__arena_t *arena) {
    if (!l || !ps || !s || !x || !y || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "decoder step: NULL argument");
    if (!s->self.k || !s->cross.k)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "decoder step: call "
                          "attn__decoder_layer_start first");
    if (t < 1)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "decoder step: t = %lld must be positive",
                          (long long)t);
    const attn__mode_t eval = {0, 0};
    const int64_t E = l->cfg.d_model, N = s->self.batch * t, NE = N * E;
    float *ln, *mean, *rstd, *br, *x1, *x2;
    attn_status_t st;
    if ((st = alloc_norm(arena, N, E, &ln, &mean, &rstd)) ||
        (st = alloc_rows(arena, NE, &br, &x1, &x2)))
        return st;
    attn__feedforward_cache_t ffc;
    const block_t b3 = {&l->norm3, &l->dropout3, x2, ln, mean, rstd};

    if ((st = attn__layernorm_forward(&l->norm1, ps, N, x, ln, mean, rstd)) ||
        (st = attn__mha_step(&l->self_attn, ps, &s->self, t, ln, br, arena)) ||
        (st = residual(&l->dropout1, eval, NE, x, br, x1)) ||
        (st = attn__layernorm_forward(&l->norm2, ps, N, x1, ln, mean, rstd)) ||
        (st = attn__mha_attend_cached(&l->multihead_attn, ps, &s->cross, t, ln, s->memory_lens,
                                      ATTN_CAUSAL_NONE, br, arena)) ||
        (st = residual(&l->dropout2, eval, NE, x1, br, x2)) ||
        (st = ff_block_forward(&l->ff, b3, ps, eval, N, E, br, &ffc, y, arena)))
        return st;
    return ATTN_STATUS_OK;
}

void attn__decoder_state_free(attn__decoder_state_t *s) {
    if (!s) return;
    attn__kv_cache_free(&s->self);
    attn__kv_cache_free(&s->cross);
    s->memory_lens = NULL;
}
