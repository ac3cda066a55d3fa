/* Pre-norm Transformer encoder and decoder layers: forward and backward side by side, then
 * the decoder's incremental step. */
#include "nn/transformer.h"

#include <stdio.h>
#include <string.h>

attn__transformer_config_t attn__transformer_default_config(int64_t d_model, int64_t nhead) {
    attn__transformer_config_t c;
    c.d_model = d_model;
    c.nhead = nhead;
    c.dim_feedforward = 2048;
    c.dropout = 0.1f;
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

/* norm buffers of one block: y [N, E], mean [N], rstd [N] */
static attn_status_t alloc_norm(attn__arena_t *a, int64_t n, int64_t e, float **y,
                                float **mean, float **rstd) {
    *y = attn__arena_alloc(a, (size_t)(n * e));
    *mean = attn__arena_alloc(a, (size_t)n);
    *rstd = attn__arena_alloc(a, (size_t)n);
    return *y && *mean && *rstd ? ATTN_STATUS_OK : ATTN_STATUS_OUT_OF_MEMORY;
}

/* out = x + dropout(branch) */
static attn_status_t residual(const attn__dropout_t *d, attn__mode_t mode, int64_t n,
                              const float *x, float *branch, float *out) {
    return attn__dropout_add(d, mode, n, x, branch, out);
}

/* g = dropout'(dy) */
static attn_status_t branch_grad(const attn__dropout_t *d, attn__mode_t mode, int64_t n,
                                 const float *dy, float *g) {
    return attn__dropout_grad(d, mode, n, dy, g);
}

static void add(int64_t n, const float *src, float *dst) {
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

/* ---- encoder layer ------------------------------------------------------------------------- */
attn_status_t attn__encoder_layer_init(attn__encoder_layer_t *l, attn__params_t *ps,
                                       const char *prefix, attn__transformer_config_t cfg) {
    if (!l || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "encoder layer init: NULL argument");
    attn_status_t st = check_cfg(prefix, cfg);
    if (st) return st;
    char name[ATTN__PARAM_NAME];
    l->cfg = cfg;
    if ((st = attn__mha_init(&l->self_attn, ps, join(name, sizeof name, prefix, "self_attn"),
                             cfg.d_model, cfg.nhead)) ||
        (st = attn__feedforward_init(&l->ff, ps, prefix, cfg.d_model, cfg.dim_feedforward,
                                     cfg.activation, cfg.dropout)) ||
        (st = init_norm_drop(&l->norm1, &l->dropout1, ps, prefix, 1, cfg)) ||
        (st = init_norm_drop(&l->norm2, &l->dropout2, ps, prefix, 2, cfg)))
        return st;
    return ATTN_STATUS_OK;
}

attn_status_t attn__encoder_layer_reset(const attn__encoder_layer_t *l, attn__params_t *ps,
                                        attn__rng_t *rng) {
    if (!l) return attn__fail(ATTN_STATUS_NULL_POINTER, "encoder layer reset: NULL layer");
    attn_status_t st;
    if ((st = attn__mha_reset(&l->self_attn, ps, rng)) ||
        (st = attn__feedforward_reset(&l->ff, ps, rng)) ||
        (st = attn__layernorm_reset(&l->norm1, ps)) ||
        (st = attn__layernorm_reset(&l->norm2, ps)))
        return st;
    return ATTN_STATUS_OK;
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
    const int64_t E = l->cfg.d_model, N = batch * len, NE = N * E;
    memset(c, 0, sizeof *c);
    c->batch = batch;
    c->len = len;
    attn_status_t st;
    if ((st = alloc_norm(arena, N, E, &c->ln1, &c->mean1, &c->rstd1)) ||
        (st = alloc_norm(arena, N, E, &c->ln2, &c->mean2, &c->rstd2)))
        return st;
    c->x1 = attn__arena_alloc(arena, (size_t)NE);
    float *t = attn__arena_alloc(arena, (size_t)NE);
    if (!c->x1 || !t) return ATTN_STATUS_OUT_OF_MEMORY;

    if ((st = attn__layernorm_forward(&l->norm1, ps, N, x, c->ln1, c->mean1, c->rstd1)) ||
        (st = attn__mha_forward(&l->self_attn, ps, batch, len, len, c->ln1, NULL, key_lens,
                                causal, t, &c->sa, arena)) ||
        (st = residual(&l->dropout1, mode, NE, x, t, c->x1)))
        return st;
    if ((st = attn__layernorm_forward(&l->norm2, ps, N, c->x1, c->ln2, c->mean2, c->rstd2)) ||
        (st = attn__feedforward_forward(&l->ff, ps, mode, N, c->ln2, t, &c->ff, arena)) ||
        (st = residual(&l->dropout2, mode, NE, c->x1, t, y)))
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
    const int64_t E = l->cfg.d_model, N = c->batch * c->len, NE = N * E;
    float *dx1 = attn__arena_alloc(arena, (size_t)NE);
    float *g = attn__arena_alloc(arena, (size_t)NE), *dn = attn__arena_alloc(arena, (size_t)NE);
    if (!dx1 || !g || !dn) return ATTN_STATUS_OUT_OF_MEMORY;
    memcpy(dx1, dy, sizeof(float) * (size_t)NE);
    attn_status_t st;
    if ((st = branch_grad(&l->dropout2, mode, NE, dy, g))) return st;
    memset(dn, 0, sizeof(float) * (size_t)NE);
    if ((st = attn__feedforward_backward(&l->ff, ps, mode, N, c->ln2, &c->ff, g, dn, arena)) ||
        (st = attn__layernorm_backward(&l->norm2, ps, N, c->x1, c->mean2, c->rstd2, dn, dx1)))
        return st;
    add(NE, dx1, dx);
    if ((st = branch_grad(&l->dropout1, mode, NE, dx1, g))) return st;
    memset(dn, 0, sizeof(float) * (size_t)NE);
    if ((st = attn__mha_backward(&l->self_attn, ps, c->ln1, NULL, &c->sa, g, dn, NULL, arena)) ||
        (st = attn__layernorm_backward(&l->norm1, ps, N, x, c->mean1, c->rstd1, dn, dx)))
        return st;
    return ATTN_STATUS_OK;
}

/* ---- decoder layer ------------------------------------------------------------------------- */
attn_status_t attn__decoder_layer_init(attn__decoder_layer_t *l, attn__params_t *ps,
                                       const char *prefix, attn__transformer_config_t cfg) {
    if (!l || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "decoder layer init: NULL argument");
    attn_status_t st = check_cfg(prefix, cfg);
    if (st) return st;
    char name[ATTN__PARAM_NAME];
    l->cfg = cfg;
    if ((st = attn__mha_init(&l->self_attn, ps, join(name, sizeof name, prefix, "self_attn"),
                             cfg.d_model, cfg.nhead)) ||
        (st = attn__mha_init(&l->multihead_attn, ps,
                             join(name, sizeof name, prefix, "multihead_attn"), cfg.d_model,
                             cfg.nhead)) ||
        (st = attn__feedforward_init(&l->ff, ps, prefix, cfg.d_model, cfg.dim_feedforward,
                                     cfg.activation, cfg.dropout)) ||
        (st = init_norm_drop(&l->norm1, &l->dropout1, ps, prefix, 1, cfg)) ||
        (st = init_norm_drop(&l->norm2, &l->dropout2, ps, prefix, 2, cfg)) ||
        (st = init_norm_drop(&l->norm3, &l->dropout3, ps, prefix, 3, cfg)))
        return st;
    return ATTN_STATUS_OK;
}

attn_status_t attn__decoder_layer_reset(const attn__decoder_layer_t *l, attn__params_t *ps,
                                        attn__rng_t *rng) {
    if (!l) return attn__fail(ATTN_STATUS_NULL_POINTER, "decoder layer reset: NULL layer");
    attn_status_t st;
    if ((st = attn__mha_reset(&l->self_attn, ps, rng)) ||
        (st = attn__mha_reset(&l->multihead_attn, ps, rng)) ||
        (st = attn__feedforward_reset(&l->ff, ps, rng)) ||
        (st = attn__layernorm_reset(&l->norm1, ps)) ||
        (st = attn__layernorm_reset(&l->norm2, ps)) ||
        (st = attn__layernorm_reset(&l->norm3, ps)))
        return st;
    return ATTN_STATUS_OK;
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
    const int64_t E = l->cfg.d_model, N = batch * len, NE = N * E;
    memset(c, 0, sizeof *c);
    c->batch = batch;
    c->len = len;
    c->len_mem = len_mem;
    attn_status_t st;
    if ((st = alloc_norm(arena, N, E, &c->ln1, &c->mean1, &c->rstd1)) ||
        (st = alloc_norm(arena, N, E, &c->ln2, &c->mean2, &c->rstd2)) ||
        (st = alloc_norm(arena, N, E, &c->ln3, &c->mean3, &c->rstd3)))
        return st;
    c->x1 = attn__arena_alloc(arena, (size_t)NE);
    c->x2 = attn__arena_alloc(arena, (size_t)NE);
    float *t = attn__arena_alloc(arena, (size_t)NE);
    if (!c->x1 || !c->x2 || !t) return ATTN_STATUS_OUT_OF_MEMORY;

    if ((st = attn__layernorm_forward(&l->norm1, ps, N, x, c->ln1, c->mean1, c->rstd1)) ||
        (st = attn__mha_forward(&l->self_attn, ps, batch, len, len, c->ln1, NULL, tgt_lens,
                                ATTN_CAUSAL_TOP_LEFT, t, &c->sa, arena)) ||
        (st = residual(&l->dropout1, mode, NE, x, t, c->x1)))
        return st;
    if ((st = attn__layernorm_forward(&l->norm2, ps, N, c->x1, c->ln2, c->mean2, c->rstd2)) ||
        (st = attn__mha_forward(&l->multihead_attn, ps, batch, len, len_mem, c->ln2, memory,
                                memory_lens, ATTN_CAUSAL_NONE, t, &c->ca, arena)) ||
        (st = residual(&l->dropout2, mode, NE, c->x1, t, c->x2)))
        return st;
    if ((st = attn__layernorm_forward(&l->norm3, ps, N, c->x2, c->ln3, c->mean3, c->rstd3)) ||
        (st = attn__feedforward_forward(&l->ff, ps, mode, N, c->ln3, t, &c->ff, arena)) ||
        (st = residual(&l->dropout3, mode, NE, c->x2, t, y)))
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
    const int64_t E = l->cfg.d_model, N = c->batch * c->len, NE = N * E;
    float *dres = attn__arena_alloc(arena, (size_t)NE); /* dx2, then dx1 */
    float *g = attn__arena_alloc(arena, (size_t)NE), *dn = attn__arena_alloc(arena, (size_t)NE);
    if (!dres || !g || !dn) return ATTN_STATUS_OUT_OF_MEMORY;
    attn_status_t st;

    memcpy(dres, dy, sizeof(float) * (size_t)NE); /* dx2 */
    if ((st = branch_grad(&l->dropout3, mode, NE, dy, g))) return st;
    memset(dn, 0, sizeof(float) * (size_t)NE);
    if ((st = attn__feedforward_backward(&l->ff, ps, mode, N, c->ln3, &c->ff, g, dn, arena)) ||
        (st = attn__layernorm_backward(&l->norm3, ps, N, c->x2, c->mean3, c->rstd3, dn, dres)))
        return st;

    if ((st = branch_grad(&l->dropout2, mode, NE, dres, g))) return st; /* dres becomes dx1 */
    memset(dn, 0, sizeof(float) * (size_t)NE);
    if ((st = attn__mha_backward(&l->multihead_attn, ps, c->ln2, memory, &c->ca, g, dn,
                                 dmemory, arena)) ||
        (st = attn__layernorm_backward(&l->norm2, ps, N, c->x1, c->mean2, c->rstd2, dn, dres)))
        return st;

    add(NE, dres, dx);
    if ((st = branch_grad(&l->dropout1, mode, NE, dres, g))) return st;
    memset(dn, 0, sizeof(float) * (size_t)NE);
    if ((st = attn__mha_backward(&l->self_attn, ps, c->ln1, NULL, &c->sa, g, dn, NULL, arena)) ||
        (st = attn__layernorm_backward(&l->norm1, ps, N, x, c->mean1, c->rstd1, dn, dx)))
        return st;
    return ATTN_STATUS_OK;
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
    float *ln, *mean, *rstd;
    attn_status_t st = alloc_norm(arena, N, E, &ln, &mean, &rstd);
    if (st) return st;
    float *br = attn__arena_alloc(arena, (size_t)NE);
    float *x1 = attn__arena_alloc(arena, (size_t)NE), *x2 = attn__arena_alloc(arena, (size_t)NE);
    if (!br || !x1 || !x2) return ATTN_STATUS_OUT_OF_MEMORY;
    attn__feedforward_cache_t ffc;

    if ((st = attn__layernorm_forward(&l->norm1, ps, N, x, ln, mean, rstd)) ||
        (st = attn__mha_step(&l->self_attn, ps, &s->self, t, ln, br, arena)) ||
        (st = residual(&l->dropout1, eval, NE, x, br, x1)) ||
        (st = attn__layernorm_forward(&l->norm2, ps, N, x1, ln, mean, rstd)) ||
        (st = attn__mha_attend_cached(&l->multihead_attn, ps, &s->cross, t, ln, s->memory_lens,
                                      ATTN_CAUSAL_NONE, br, arena)) ||
        (st = residual(&l->dropout2, eval, NE, x1, br, x2)) ||
        (st = attn__layernorm_forward(&l->norm3, ps, N, x2, ln, mean, rstd)) ||
        (st = attn__feedforward_forward(&l->ff, ps, eval, N, ln, br, &ffc, arena)) ||
        (st = residual(&l->dropout3, eval, NE, x2, br, y)))
        return st;
    return ATTN_STATUS_OK;
}

void attn__decoder_state_free(attn__decoder_state_t *s) {
    if (!s) return;
    attn__kv_cache_free(&s->self);
    attn__kv_cache_free(&s->cross);
    s->memory_lens = NULL;
}
