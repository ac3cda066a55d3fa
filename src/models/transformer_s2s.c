/* The Transformer encoder-decoder (pre-norm, as PyTorch's nn.Transformer with norm_first=True):
 *
 *   encoder:  x = dropout(embed(src) * sqrt(E) + PE);  x = enc_layer_i(x) ...;  mem = norm(x)
 *   decoder:  y = dropout(embed(tgt_in) * sqrt(E) + PE); y = dec_layer_i(y, mem) ...;
 *             logits = generator(norm(y))
 *
 * Names: src_embed.weight, tgt_embed.weight (padding row <pad> = 0), encoder.layers.<i>.*,
 * encoder.norm.*, decoder.layers.<i>.*, decoder.norm.*, generator.weight / .bias. Keys past a
 * source's length are hidden (key_lens) in encoder self-attention and in cross-attention; the
 * decoder's self-attention is causal. Decoding runs one position at a time over per-layer
 * key/value caches (nn/transformer.h), beams reordering the self-attention caches. */
#include "models/config.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/position.h"
#include "nn/transformer.h"
#include "g2p/vocab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    attn__s2s_config_t cfg;
    int64_t L_enc, L_dec, E;
    float emb_scale;
    attn__embedding_t src_embed, tgt_embed;
    attn__dropout_t src_drop, tgt_drop;
    attn__encoder_layer_t *enc;
    attn__decoder_layer_t *dec;
    attn__layernorm_t enc_norm, dec_norm;
    attn__linear_t generator;
    /* the last forward (pointers into its arena) */
    float *xs0, **xs, *mem, *mem_mean, *mem_rstd;
    float *yt0, **yt, *out, *out_mean, *out_rstd;
    attn__encoder_cache_t *ec;
    attn__decoder_cache_t *dc;
    /* decoding */
    attn__arena_t enc_arena, step_arena;
    float *dmem;
    int64_t dB, dS, rows;
    int64_t *dlens, *rlens;
    float *rmem, *x, *y, *mean, *rstd, *logits;
    attn__decoder_state_t *states;
    int started;
} tf_t;

static tf_t *impl(attn__s2s_t *m) { return (tf_t *)m->impl; }

/* x [n, E] = embed(ids) * sqrt(E) + PE (positions 0.. per row of T), then dropout */
static attn_status_t embed(const tf_t *t, const attn__params_t *ps, const attn__embedding_t *e,
                           const attn__dropout_t *d, attn__mode_t mode, const int32_t *ids,
                           int64_t B, int64_t T, int64_t pos0, float *x) {
    const int64_t n = B * T, E = t->E;
    attn_status_t st = attn__embedding_forward(e, ps, ids, n, x);
    if (st != ATTN_STATUS_OK) return st;
    for (int64_t i = 0; i < n * E; i++) x[i] *= t->emb_scale;
    if ((st = attn__sinusoid_add(x, B, T, E, pos0)) != ATTN_STATUS_OK) return st;
    return d ? attn__dropout_forward(d, mode, n * E, x, x) : ATTN_STATUS_OK;
}

static attn_status_t embed_backward(const tf_t *t, attn__params_t *ps,
                                    const attn__embedding_t *e, const attn__dropout_t *d,
                                    attn__mode_t mode, const int32_t *ids, int64_t n,
                                    const float *dx, attn__arena_t *arena) {
    const int64_t E = t->E;
    float *g = attn__arena_zeros(arena, (size_t)(n * E));
    if (!g) return ATTN_STATUS_OUT_OF_MEMORY;
    attn_status_t st = attn__dropout_backward(d, mode, n * E, dx, g);
    if (st != ATTN_STATUS_OK) return st;
    for (int64_t i = 0; i < n * E; i++) g[i] *= t->emb_scale;
    return attn__embedding_backward(e, ps, ids, n, g);
}

/* The encoder over B sources: mem [B*S, E] (and the caches, from the arena). */
static attn_status_t encode_into(tf_t *t, const attn__params_t *ps, attn__mode_t mode,
                                 int64_t B, int64_t S, const int32_t *src,
                                 const int64_t *src_len, attn__arena_t *ar) {
    const int64_t N = B * S, E = t->E;
    attn_status_t st;
    if (!(t->xs0 = attn__arena_alloc(ar, (size_t)(N * E)))) return ATTN_STATUS_OUT_OF_MEMORY;
    if ((st = embed(t, ps, &t->src_embed, &t->src_drop, mode, src, B, S, 0, t->xs0))) return st;
    const float *cur = t->xs0;
    for (int64_t i = 0; i < t->L_enc; i++) {
        if (!(t->xs[i] = attn__arena_alloc(ar, (size_t)(N * E)))) return ATTN_STATUS_OUT_OF_MEMORY;
        st = attn__encoder_layer_forward(&t->enc[i], ps, mode, B, S, cur, src_len,
                                         ATTN_CAUSAL_NONE, t->xs[i], &t->ec[i], ar);
        if (st != ATTN_STATUS_OK) return st;
        cur = t->xs[i];
    }
    t->mem = attn__arena_alloc(ar, (size_t)(N * E));
    t->mem_mean = attn__arena_alloc(ar, (size_t)N);
    t->mem_rstd = attn__arena_alloc(ar, (size_t)N);
    if (!t->mem || !t->mem_mean || !t->mem_rstd) return ATTN_STATUS_OUT_OF_MEMORY;
    return attn__layernorm_forward(&t->enc_norm, ps, N, cur, t->mem, t->mem_mean, t->mem_rstd);
}

static attn_status_t tf_forward(attn__s2s_t *m, const attn__s2s_batch_t *b, attn__mode_t mode,
                                attn__arena_t *ar, float **logits) {
    tf_t *t = impl(m);
    const int64_t B = b->B, S = b->S, T = b->T, N = B * T, E = t->E;
    attn_status_t st = encode_into(t, &m->params, mode, B, S, b->src, b->src_len, ar);
    if (st != ATTN_STATUS_OK) return st;
    if (!(t->yt0 = attn__arena_alloc(ar, (size_t)(N * E)))) return ATTN_STATUS_OUT_OF_MEMORY;
    if ((st = embed(t, &m->params, &t->tgt_embed, &t->tgt_drop, mode, b->tgt_in, B, T, 0,
                    t->yt0)))
        return st;
    const float *cur = t->yt0;
    for (int64_t i = 0; i < t->L_dec; i++) {
        if (!(t->yt[i] = attn__arena_alloc(ar, (size_t)(N * E)))) return ATTN_STATUS_OUT_OF_MEMORY;
        st = attn__decoder_layer_forward(&t->dec[i], &m->params, mode, B, T, S, cur, t->mem,
                                         NULL, b->src_len, t->yt[i], &t->dc[i], ar);
        if (st != ATTN_STATUS_OK) return st;
        cur = t->yt[i];
    }
    t->out = attn__arena_alloc(ar, (size_t)(N * E));
    t->out_mean = attn__arena_alloc(ar, (size_t)N);
    t->out_rstd = attn__arena_alloc(ar, (size_t)N);
    *logits = attn__arena_alloc(ar, (size_t)(N * m->tgt_vocab));
    if (!t->out || !t->out_mean || !t->out_rstd || !*logits) return ATTN_STATUS_OUT_OF_MEMORY;
    if ((st = attn__layernorm_forward(&t->dec_norm, &m->params, N, cur, t->out, t->out_mean,
                                      t->out_rstd)))
        return st;
    return attn__linear_forward(&t->generator, &m->params, N, t->out, *logits);
}

static attn_status_t tf_backward(attn__s2s_t *m, const attn__s2s_batch_t *b, attn__mode_t mode,
                                 const float *dlogits, attn__arena_t *ar) {
    tf_t *t = impl(m);
    attn__params_t *ps = &m->params;
    const int64_t B = b->B, S = b->S, T = b->T, Nt = B * T, Ns = B * S, E = t->E;
    attn_status_t st;
    float *d_out = attn__arena_zeros(ar, (size_t)(Nt * E));
    float *d_cur = attn__arena_zeros(ar, (size_t)(Nt * E));
    float *d_mem = attn__arena_zeros(ar, (size_t)(Ns * E));
    if (!d_out || !d_cur || !d_mem) return ATTN_STATUS_OUT_OF_MEMORY;
    if ((st = attn__linear_backward(&t->generator, ps, Nt, t->out, dlogits, d_out))) return st;
    const float *last = t->L_dec ? t->yt[t->L_dec - 1] : t->yt0;
    if ((st = attn__layernorm_backward(&t->dec_norm, ps, Nt, last, t->out_mean, t->out_rstd,
                                       d_out, d_cur)))
        return st;
    for (int64_t i = t->L_dec - 1; i >= 0; i--) {
        const float *in = i ? t->yt[i - 1] : t->yt0;
        float *d_in = attn__arena_zeros(ar, (size_t)(Nt * E));
        if (!d_in) return ATTN_STATUS_OUT_OF_MEMORY;
        st = attn__decoder_layer_backward(&t->dec[i], ps, mode, in, t->mem, &t->dc[i], d_cur,
                                          d_in, d_mem, ar);
        if (st != ATTN_STATUS_OK) return st;
        d_cur = d_in;
    }
    if ((st = embed_backward(t, ps, &t->tgt_embed, &t->tgt_drop, mode, b->tgt_in, Nt, d_cur, ar)))
        return st;
    float *d_x = attn__arena_zeros(ar, (size_t)(Ns * E));
    if (!d_x) return ATTN_STATUS_OUT_OF_MEMORY;
    const float *elast = t->L_enc ? t->xs[t->L_enc - 1] : t->xs0;
    if ((st = attn__layernorm_backward(&t->enc_norm, ps, Ns, elast, t->mem_mean, t->mem_rstd,
                                       d_mem, d_x)))
        return st;
    for (int64_t i = t->L_enc - 1; i >= 0; i--) {
        const float *in = i ? t->xs[i - 1] : t->xs0;
        float *d_in = attn__arena_zeros(ar, (size_t)(Ns * E));
        if (!d_in) return ATTN_STATUS_OUT_OF_MEMORY;
        st = attn__encoder_layer_backward(&t->enc[i], ps, mode, in, &t->ec[i], d_x, d_in, ar);
        if (st != ATTN_STATUS_OK) return st;
        d_x = d_in;
    }
    return embed_backward(t, ps, &t->src_embed, &t->src_drop, mode, b->src, Ns, d_x, ar);
}

/* ---- decoding ------------------------------------------------------------------------------ */

static void free_states(tf_t *t) {
    if (t->started)
        for (int64_t i = 0; i < t->L_dec; i++) attn__decoder_state_free(&t->states[i]);
    t->started = 0;
    free(t->rmem); free(t->rlens); free(t->x); free(t->y); free(t->mean); free(t->rstd);
    free(t->logits);
    t->rmem = t->x = t->y = t->mean = t->rstd = t->logits = NULL;
    t->rlens = NULL;
}

static attn_status_t tf_encode(attn__s2s_t *m, int64_t B, int64_t S, const int32_t *src,
                               const int64_t *src_len) {
    tf_t *t = impl(m);
    attn__mode_t eval = {0, 0};
    free_states(t);
    attn__arena_reset(&t->enc_arena);
    free(t->dlens);
    if (!(t->dlens = malloc(sizeof(int64_t) * (size_t)B)))
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "decoding: out of memory");
    memcpy(t->dlens, src_len, sizeof(int64_t) * (size_t)B);
    attn_status_t st = encode_into(t, &m->params, eval, B, S, src, t->dlens, &t->enc_arena);
    t->dmem = t->mem;
    t->dB = B;
    t->dS = S;
    return st;
}

static attn_status_t tf_begin(void *ctx, int64_t rows) {
    attn__s2s_t *m = ctx;
    tf_t *t = impl(m);
    const int64_t E = t->E, S = t->dS, V = m->tgt_vocab;
    if (!t->dmem || rows % t->dB != 0)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "decoding: %lld rows for %lld encoded "
                          "sources; call encode first", (long long)rows, (long long)t->dB);
    free_states(t);
    int64_t K = rows / t->dB;
    t->rows = rows;
    t->rmem = malloc(sizeof(float) * (size_t)(rows * S * E));
    t->rlens = malloc(sizeof(int64_t) * (size_t)rows);
    t->x = malloc(sizeof(float) * (size_t)(rows * E));
    t->y = malloc(sizeof(float) * (size_t)(rows * E));
    t->mean = malloc(sizeof(float) * (size_t)rows);
    t->rstd = malloc(sizeof(float) * (size_t)rows);
    t->logits = malloc(sizeof(float) * (size_t)(rows * V));
    if (!t->rmem || !t->rlens || !t->x || !t->y || !t->mean || !t->rstd || !t->logits)
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "decoding: out of memory");
    for (int64_t r = 0; r < rows; r++) {
        memcpy(t->rmem + r * S * E, t->dmem + (r / K) * S * E, sizeof(float) * (size_t)(S * E));
        t->rlens[r] = t->dlens[r / K];
    }
    for (int64_t i = 0; i < t->L_dec; i++) {
        attn_status_t st = attn__decoder_layer_start(&t->dec[i], &m->params, &t->states[i], rows,
                                                     t->cfg.max_len, S, t->rmem, t->rlens);
        if (st != ATTN_STATUS_OK) {
            for (int64_t j = 0; j < i; j++) attn__decoder_state_free(&t->states[j]);
            return st;
        }
    }
    t->started = 1;
    return ATTN_STATUS_OK;
}

static attn_status_t tf_step(void *ctx, int64_t pos, const int32_t *prev, float *logp) {
    attn__s2s_t *m = ctx;
    tf_t *t = impl(m);
    const int64_t R = t->rows, V = m->tgt_vocab;
    attn__mode_t eval = {0, 0};
    if (!t->started) return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "decoding: step before begin");
    if (pos >= t->cfg.max_len)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "decoding: position %lld is past the "
                          "model's max_len %lld", (long long)pos, (long long)t->cfg.max_len);
    attn__arena_reset(&t->step_arena);
    attn_status_t st = embed(t, &m->params, &t->tgt_embed, NULL, eval, prev, R, 1, pos, t->x);
    for (int64_t i = 0; i < t->L_dec && st == ATTN_STATUS_OK; i++) {
        st = attn__decoder_layer_step(&t->dec[i], &m->params, &t->states[i], 1, t->x, t->y,
                                      &t->step_arena);
        float *sw = t->x; t->x = t->y; t->y = sw;
    }
    if (st == ATTN_STATUS_OK)
        st = attn__layernorm_forward(&t->dec_norm, &m->params, R, t->x, t->y, t->mean, t->rstd);
    if (st == ATTN_STATUS_OK)
        st = attn__linear_forward(&t->generator, &m->params, R, t->y, t->logits);
    if (st != ATTN_STATUS_OK) return st;
    const int32_t banned[2] = {ATTN__TOK_PAD, ATTN__TOK_BOS}; /* never emitted */
    attn__log_softmax_rows(R, V, t->logits, logp, banned, 2);
    return ATTN_STATUS_OK;
}

/* Rows continue the self-attention caches of rows from[r] (cross-attention caches are equal
 * within a source, and beams never cross sources). */
static attn_status_t tf_reorder(void *ctx, const int64_t *from) {
    attn__s2s_t *m = ctx;
    tf_t *t = impl(m);
    attn__arena_reset(&t->step_arena);
    for (int64_t i = 0; i < t->L_dec; i++) {
        attn_status_t st = attn__kv_cache_reorder(&t->states[i].self, from, &t->step_arena);
        if (st != ATTN_STATUS_OK) return st;
    }
    return ATTN_STATUS_OK;
}

static attn_status_t tf_alignments(attn__s2s_t *m, const attn__s2s_batch_t *pair,
                                   attn__arena_t *ar, float **maps, int32_t *layers,
                                   int32_t *heads) {
    tf_t *t = impl(m);
    if (pair->B != 1)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "alignments take one pair, not %lld",
                          (long long)pair->B);
    attn__mode_t eval = {0, 0};
    float *logits;
    attn_status_t st = tf_forward(m, pair, eval, ar, &logits);
    if (st != ATTN_STATUS_OK) return st;
    const int64_t H = t->cfg.heads, Dh = t->E / H, T = pair->T, S = pair->S;
    float *out = attn__arena_alloc(ar, (size_t)(t->L_dec * H * T * S));
    if (!out) return ATTN_STATUS_OUT_OF_MEMORY;
    for (int64_t i = 0; i < t->L_dec && st == ATTN_STATUS_OK; i++) {
        const attn__mha_cache_t *ca = &t->dc[i].ca;
        attn_shape_t shape = {1, H, H, T, S, Dh, Dh};
        attn_params_t p = attn_default_params();
        p.key_lens = pair->src_len;
        attn_src_t q = attn_src_f32(ca->q, T * ca->ld_q, Dh, ca->ld_q);
        attn_src_t k = attn_src_f32(ca->k, S * ca->ld_kv, Dh, ca->ld_kv);
        for (int64_t h = 0; h < H && st == ATTN_STATUS_OK; h++)
            st = attn_probs(&shape, &p, q, k, ca->lse, 0, h, 0, T, out + (i * H + h) * T * S, S);
    }
    *maps = out;
    *layers = (int32_t)t->L_dec;
    *heads = (int32_t)H;
    return st;
}

static void tf_destroy(attn__s2s_t *m) {
    tf_t *t = impl(m);
    if (t) {
        free_states(t);
        attn__arena_free(&t->enc_arena);
        attn__arena_free(&t->step_arena);
        free(t->dlens);
        free(t->enc); free(t->dec); free(t->xs); free(t->yt); free(t->ec); free(t->dc);
        free(t->states);
        free(t);
    }
    attn__params_free(&m->params);
    free(m->config);
    free(m);
}

static const attn__s2s_ops_t tf_ops = {
    "transformer", tf_forward, tf_backward, tf_encode,
    {NULL, 0, ATTN__TOK_BOS, ATTN__TOK_EOS, tf_begin, tf_step, tf_reorder},
    tf_alignments, tf_destroy,
};

attn_status_t attn__transformer_s2s_create(const attn__s2s_config_t *c, uint64_t seed,
                                           attn__s2s_t **out) {
    *out = NULL;
    attn__s2s_t *m = calloc(1, sizeof *m);
    tf_t *t = calloc(1, sizeof *t);
    if (!m || !t) {
        free(m);
        free(t);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot allocate a model");
    }
    m->ops = &tf_ops;
    m->impl = t;
    m->src_vocab = c->src_vocab;
    m->tgt_vocab = c->tgt_vocab;
    attn__params_init(&m->params);
    t->cfg = *c;
    t->E = c->d_model;
    t->L_enc = c->enc_layers;
    t->L_dec = c->dec_layers;
    t->emb_scale = sqrtf((float)c->d_model);
    attn__arena_init(&t->enc_arena, 0);
    attn__arena_init(&t->step_arena, 0);
    t->enc = calloc((size_t)t->L_enc, sizeof *t->enc);
    t->dec = calloc((size_t)t->L_dec, sizeof *t->dec);
    t->xs = calloc((size_t)t->L_enc, sizeof *t->xs);
    t->yt = calloc((size_t)t->L_dec, sizeof *t->yt);
    t->ec = calloc((size_t)t->L_enc, sizeof *t->ec);
    t->dc = calloc((size_t)t->L_dec, sizeof *t->dc);
    t->states = calloc((size_t)t->L_dec, sizeof *t->states);
    m->config = attn__s2s_config_to_json(c);
    attn_status_t st = ATTN_STATUS_OK;
    if (!t->enc || !t->dec || !t->xs || !t->yt || !t->ec || !t->dc || !t->states || !m->config)
        st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot allocate a model");
    attn__transformer_config_t lc = attn__transformer_default_config(c->d_model, c->heads);
    lc.dim_feedforward = c->ff;
    lc.dropout = c->dropout;
    lc.attention_dropout = c->attention_dropout;
    lc.activation = strcmp(c->activation, "gelu") == 0 ? ATTN__ACT_GELU : ATTN__ACT_RELU;
    char name[64];
    if (st == ATTN_STATUS_OK)
        st = attn__embedding_init(&t->src_embed, &m->params, "src_embed", c->src_vocab, t->E,
                                  ATTN__TOK_PAD);
    if (st == ATTN_STATUS_OK)
        st = attn__embedding_init(&t->tgt_embed, &m->params, "tgt_embed", c->tgt_vocab, t->E,
                                  ATTN__TOK_PAD);
    if (st == ATTN_STATUS_OK) st = attn__dropout_init(&t->src_drop, "src_embed.dropout", c->dropout);
    if (st == ATTN_STATUS_OK) st = attn__dropout_init(&t->tgt_drop, "tgt_embed.dropout", c->dropout);
    for (int64_t i = 0; i < t->L_enc && st == ATTN_STATUS_OK; i++) {
        snprintf(name, sizeof name, "encoder.layers.%lld", (long long)i);
        st = attn__encoder_layer_init(&t->enc[i], &m->params, name, lc);
    }
    if (st == ATTN_STATUS_OK)
        st = attn__layernorm_init(&t->enc_norm, &m->params, "encoder.norm", t->E, 1e-5f);
    for (int64_t i = 0; i < t->L_dec && st == ATTN_STATUS_OK; i++) {
        snprintf(name, sizeof name, "decoder.layers.%lld", (long long)i);
        st = attn__decoder_layer_init(&t->dec[i], &m->params, name, lc);
    }
    if (st == ATTN_STATUS_OK)
        st = attn__layernorm_init(&t->dec_norm, &m->params, "decoder.norm", t->E, 1e-5f);
    if (st == ATTN_STATUS_OK)
        st = attn__linear_init(&t->generator, &m->params, "generator", t->E, c->tgt_vocab, 1);
    if (st == ATTN_STATUS_OK) st = attn__params_alloc(&m->params);
    /* initial values: each layer's PyTorch default, from one seeded generator in a fixed order */
    attn__rng_t rng;
    attn__rng_seed(&rng, seed);
    if (st == ATTN_STATUS_OK) st = attn__embedding_reset(&t->src_embed, &m->params, &rng);
    if (st == ATTN_STATUS_OK) st = attn__embedding_reset(&t->tgt_embed, &m->params, &rng);
    for (int64_t i = 0; i < t->L_enc && st == ATTN_STATUS_OK; i++)
        st = attn__encoder_layer_reset(&t->enc[i], &m->params, &rng);
    if (st == ATTN_STATUS_OK) st = attn__layernorm_reset(&t->enc_norm, &m->params);
    for (int64_t i = 0; i < t->L_dec && st == ATTN_STATUS_OK; i++)
        st = attn__decoder_layer_reset(&t->dec[i], &m->params, &rng);
    if (st == ATTN_STATUS_OK) st = attn__layernorm_reset(&t->dec_norm, &m->params);
    if (st == ATTN_STATUS_OK) st = attn__linear_reset(&t->generator, &m->params, &rng);
    if (st == ATTN_STATUS_OK) {
        /* embeddings start at N(0, 1/E) so that embed * sqrt(E) is unit scale */
        for (int pass = 0; pass < 2; pass++) {
            const attn__embedding_t *e = pass ? &t->tgt_embed : &t->src_embed;
            float *w = attn__pw(&m->params, e->weight), s = 1.0f / t->emb_scale;
            for (int64_t i = 0; i < e->num * e->dim; i++) w[i] *= s;
        }
    }
    if (st != ATTN_STATUS_OK) {
        tf_destroy(m);
        return st;
    }
    *out = m;
    return ATTN_STATUS_OK;
}
