/* Internal: pre-norm Transformer layers, PyTorch 1.13's nn.TransformerEncoderLayer and
 * nn.TransformerDecoderLayer with norm_first=True and batch_first=True.
 *
 *   encoder:  x1 = x  + dropout1(self_attn(norm1(x)))               key_lens, optional causal
 *             y  = x1 + dropout2(ff(norm2(x1)))
 *   decoder:  x1 = x  + dropout1(self_attn(norm1(x)))               causal (top-left), tgt lens
 *             x2 = x1 + dropout2(multihead_attn(norm2(x1), memory)) memory lens
 *             y  = x2 + dropout3(ff(norm3(x2)))
 *   ff(z)  =  linear2(dropout(activation(linear1(z))))
 *
 * x, y [B, T, E]; memory [B, Tk, E]. Parameter names under the layer's prefix are PyTorch's:
 * self_attn.{in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias}, multihead_attn.*
 * (decoder), linear1.*, linear2.*, norm1.*, norm2.*, norm3.* (decoder).
 *
 * Dropout: p applies to dropout, dropout1, dropout2 (and dropout3), as in PyTorch. The
 * attention weights take attention_dropout (inside the fused kernel, mha.h), which PyTorch
 * ties to p; it defaults to 0. With both 0, or in eval mode, the layers compute exactly what
 * PyTorch's do.
 *
 * Padding: key_lens [B] hides keys j >= key_lens[b] (PyTorch's *_key_padding_mask); the rows
 * of padded query positions are computed but never reach a real position. */
#ifndef ATTN_NN_TRANSFORMER_H
#define ATTN_NN_TRANSFORMER_H

#include "nn/feedforward.h"
#include "nn/layernorm.h"
#include "nn/mha.h"

/* The constructor arguments of PyTorch's layers. */
typedef struct attn__transformer_config {
    int64_t d_model, nhead, dim_feedforward;
    float dropout;          /* residual and feed-forward dropout */
    float attention_dropout; /* on the attention weights (0, the default: none) */
    attn__act_t activation; /* relu or gelu, as PyTorch's "relu" / "gelu" */
    float layer_norm_eps;
} attn__transformer_config_t;

/* PyTorch's defaults: dim_feedforward 2048, dropout 0.1, relu, layer_norm_eps 1e-5. */
attn__transformer_config_t attn__transformer_default_config(int64_t d_model, int64_t nhead);

/* ---- encoder layer ------------------------------------------------------------------------- */
typedef struct attn__encoder_layer {
    attn__transformer_config_t cfg;
    attn__layernorm_t norm1, norm2;
    attn__mha_t self_attn;
    attn__feedforward_t ff;
    attn__dropout_t dropout1, dropout2;
} attn__encoder_layer_t;

typedef struct attn__encoder_cache {
    int64_t batch, len;
    float *ln1, *mean1, *rstd1;   /* norm1: [N, E], [N], [N] with N = B T */
    attn__mha_cache_t sa;
    float *x1;                    /* [N, E] after the first residual */
    float *ln2, *mean2, *rstd2;
    attn__feedforward_cache_t ff;
} attn__encoder_cache_t;

attn_status_t attn__encoder_layer_init(attn__encoder_layer_t *l, attn__params_t *ps,
                                       const char *prefix, attn__transformer_config_t cfg);
attn_status_t attn__encoder_layer_reset(const attn__encoder_layer_t *l, attn__params_t *ps,
                                        attn__rng_t *rng);
/* forward: x [B, T, E], key_lens [B] or NULL, causal (ATTN_CAUSAL_NONE for PyTorch's encoder
 * without src_mask, TOP_LEFT for a square subsequent src_mask) -> y [B, T, E] (y != x).
 * Cache from the arena; x and key_lens must stay unchanged until the backward. */
attn_status_t attn__encoder_layer_forward(const attn__encoder_layer_t *l,
                                          const attn__params_t *ps, attn__mode_t mode,
                                          int64_t batch, int64_t len, const float *x,
                                          const int64_t *key_lens, attn_causal_t causal,
                                          float *y, attn__encoder_cache_t *cache,
                                          attn__arena_t *arena);
/* backward: x and the cache of the forward (same mode), dy [B, T, E] -> dx [B, T, E] +=,
 * parameter gradients +=. Scratch from the arena. */
attn_status_t attn__encoder_layer_backward(const attn__encoder_layer_t *l, attn__params_t *ps,
                                           attn__mode_t mode, const float *x,
                                           const attn__encoder_cache_t *cache, const float *dy,
                                           float *dx, attn__arena_t *arena);

/* ---- decoder layer ------------------------------------------------------------------------- */
typedef struct attn__decoder_layer {
    attn__transformer_config_t cfg;
    attn__layernorm_t norm1, norm2, norm3;
    attn__mha_t self_attn, multihead_attn;
    attn__feedforward_t ff;
    attn__dropout_t dropout1, dropout2, dropout3;
} attn__decoder_layer_t;

typedef struct attn__decoder_cache {
    int64_t batch, len, len_mem;
    float *ln1, *mean1, *rstd1;
    attn__mha_cache_t sa;
    float *x1;
    float *ln2, *mean2, *rstd2;
    attn__mha_cache_t ca;
    float *x2;
    float *ln3, *mean3, *rstd3;
    attn__feedforward_cache_t ff;
} attn__decoder_cache_t;

attn_status_t attn__decoder_layer_init(attn__decoder_layer_t *l, attn__params_t *ps,
                                       const char *prefix, attn__transformer_config_t cfg);
attn_status_t attn__decoder_layer_reset(const attn__decoder_layer_t *l, attn__params_t *ps,
                                        attn__rng_t *rng);
/* forward: x [B, T, E] (causal self-attention), memory [B, Tk, E], tgt_lens [B] or NULL,
 * memory_lens [B] or NULL -> y [B, T, E] (y != x). x, memory and the lens must stay unchanged
 * until the backward. */
attn_status_t attn__decoder_layer_forward(const attn__decoder_layer_t *l,
                                          const attn__params_t *ps, attn__mode_t mode,
                                          int64_t batch, int64_t len, int64_t len_mem,
                                          const float *x, const float *memory,
                                          const int64_t *tgt_lens, const int64_t *memory_lens,
                                          float *y, attn__decoder_cache_t *cache,
                                          attn__arena_t *arena);
/* backward: -> dx [B, T, E] +=, dmemory [B, Tk, E] += (may be NULL), parameter gradients += */
attn_status_t attn__decoder_layer_backward(const attn__decoder_layer_t *l, attn__params_t *ps,
                                           attn__mode_t mode, const float *x,
                                           const float *memory,
                                           const attn__decoder_cache_t *cache, const float *dy,
                                           float *dx, float *dmemory, attn__arena_t *arena);

/* Incremental decoding (inference: dropout off). Per layer, a self-attention cache (grows by
 * the decoded positions) and a cross-attention cache (the memory's keys and values, computed
 * once by attn__decoder_layer_start). */
typedef struct attn__decoder_state {
    attn__kv_cache_t self, cross;
    const int64_t *memory_lens; /* [B] or NULL, as given to start; must stay alive */
} attn__decoder_state_t;

/* Allocates the caches for B sequences of up to max_len positions and a memory [B, Tk, E]
 * whose keys and values it computes now. */
attn_status_t attn__decoder_layer_start(const attn__decoder_layer_t *l,
                                        const attn__params_t *ps, attn__decoder_state_t *s,
                                        int64_t batch, int64_t max_len, int64_t len_mem,
                                        const float *memory, const int64_t *memory_lens);
/* The next t positions x [B, t, E] -> y [B, t, E]: equal (to rounding) to the rows of the full
 * causal forward (in eval mode, without tgt_lens) at those positions. Scratch from the arena. */
attn_status_t attn__decoder_layer_step(const attn__decoder_layer_t *l, const attn__params_t *ps,
                                       attn__decoder_state_t *s, int64_t t, const float *x,
                                       float *y, attn__arena_t *arena);
void attn__decoder_state_free(attn__decoder_state_t *s);

#endif
