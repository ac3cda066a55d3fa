/* Internal: multi-head attention, PyTorch's nn.MultiheadAttention(E, H, batch_first=True)
 * with dropout = 0, on top of the fused kernel (attn_forward / attn_backward).
 *
 *     q = x W_q^T + b_q [B, Tq, E],  k = m W_k^T + b_k,  v = m W_v^T + b_v  [B, Tk, E]
 *     o = softmax(q_h k_h^T / sqrt(Dh) + masks) v_h  per head h      o [B, Tq, E]
 *     y = o W_out^T + b_out                                          y [B, Tq, E]
 *
 * m is x itself for self-attention, or a memory [B, Tk, E] for cross-attention. E = H * Dh.
 * Parameters (PyTorch's names): "<prefix>.in_proj_weight" [3E, E] (rows W_q, W_k, W_v),
 * "<prefix>.in_proj_bias" [3E], "<prefix>.out_proj.weight" [E, E], "<prefix>.out_proj.bias" [E].
 * Initialisation as PyTorch's: in_proj_weight xavier-uniform, out_proj.weight uniform in
 * +-1/sqrt(E), both biases 0.
 *
 * Every [B, T, E] tensor is [B, T, H, Dh] row-major; the kernel reads q, k, v and writes o in
 * place through strides (no transposes). Masks: key padding as key_lens [B] (int64; keys
 * j >= key_lens[b] are hidden, PyTorch's key_padding_mask), causal as ATTN_CAUSAL_TOP_LEFT
 * (PyTorch's square subsequent mask) or BOTTOM_RIGHT; see attn.h for the exact rules.
 *
 * Dropout on the attention weights (nn.MultiheadAttention's dropout): attn__mha_set_dropout;
 * the fused kernel drops weights inside its tiles with a mask it regenerates in the backward
 * (attn.h, params.dropout_p), drawn from the step's seed and the layer's name. Off (p = 0) by
 * default, and always off outside training and in incremental decoding. */
#ifndef ATTN_NN_MHA_H
#define ATTN_NN_MHA_H

#include "nn/dropout.h"
#include "nn/nn.h"

typedef struct attn__mha {
    int64_t e, heads, head_dim;
    int32_t in_w, in_b, out_w, out_b;
    attn__dropout_t attn_drop; /* on the attention weights: "<prefix>.attn_dropout", p = 0 */
} attn__mha_t;

/* What the backward needs; filled by the forward (pointers into its arena and arguments:
 * x, memory and key_lens must stay alive and unchanged until the backward). */
typedef struct attn__mha_cache {
    int64_t batch, len_q, len_k;
    int self;                  /* 1: k and v were computed from x */
    const int64_t *key_lens;   /* as given to the forward, or NULL */
    attn_causal_t causal;
    float dropout_p;           /* the kernel's attention dropout in this step (0: none) */
    uint64_t dropout_seed;
    float *q, *k, *v;          /* [B, Tq, H, Dh], [B, Tk, H, Dh] x 2, rows ld_q / ld_kv apart */
    int64_t ld_q, ld_kv;       /* self: q, k, v interleaved in one [B*T, 3E] block */
    float *o;                  /* [B, Tq, E] attention output (out_proj's input) */
    float *lse;                /* [B, H, Tq] the kernel's row log-sum-exp */
} attn__mha_cache_t;

attn_status_t attn__mha_init(attn__mha_t *m, attn__params_t *ps, const char *prefix,
                             int64_t e, int64_t heads);
attn_status_t attn__mha_reset(const attn__mha_t *m, attn__params_t *ps, attn__rng_t *rng);

/* Dropout p (0 <= p < 1) on the attention weights while training. */
attn_status_t attn__mha_set_dropout(attn__mha_t *m, float p);

/* forward: x [B, Tq, E], memory [B, Tk, E] or NULL for self-attention (then Tk must be Tq),
 * key_lens [B] or NULL, causal -> y [B, Tq, E]; cache and its memory from the arena. Without
 * attention dropout (evaluation). */
attn_status_t attn__mha_forward(const attn__mha_t *m, const attn__params_t *ps, int64_t batch,
                                int64_t len_q, int64_t len_k, const float *x,
                                const float *memory, const int64_t *key_lens,
                                attn_causal_t causal, float *y, attn__mha_cache_t *cache,
                                attn__arena_t *arena);
/* The same in a mode: with attention dropout when mode.training and the layer's p > 0 (the
 * mask from mode.seed and the layer's name; the backward reuses it through the cache). */
attn_status_t attn__mha_forward_mode(const attn__mha_t *m, const attn__params_t *ps,
                                     attn__mode_t mode, int64_t batch, int64_t len_q,
                                     int64_t len_k, const float *x, const float *memory,
                                     const int64_t *key_lens, attn_causal_t causal, float *y,
                                     attn__mha_cache_t *cache, attn__arena_t *arena);
/* backward: x and memory as given to the forward, its cache, dy [B, Tq, E]
 *   -> dx [B, Tq, E] +=, dmemory [B, Tk, E] += (cross-attention; may be NULL), parameter
 *   gradients +=. Scratch from the arena. */
attn_status_t attn__mha_backward(const attn__mha_t *m, attn__params_t *ps, const float *x,
                                 const float *memory, const attn__mha_cache_t *cache,
                                 const float *dy, float *dx, float *dmemory,
                                 attn__arena_t *arena);

/* ---- incremental decoding -------------------------------------------------------------------
 * A key/value cache holds the projected keys and values of the positions seen so far, for one
 * attention layer: k and v [B, Tmax, H, Dh], the first len positions filled. Self-attention
 * appends each new token's K and V and attends from the new queries; cross-attention projects
 * the encoder memory once and then only attends. Inference only (no backward). */
typedef struct attn__kv_cache {
    int64_t batch, max_len, e;
    int64_t len;
    float *k, *v;
} attn__kv_cache_t;

/* Allocates k and v (zeroed; len = 0). */
attn_status_t attn__kv_cache_init(attn__kv_cache_t *c, int64_t batch, int64_t max_len,
                                  int64_t e);
void attn__kv_cache_clear(attn__kv_cache_t *c); /* len = 0 */
void attn__kv_cache_free(attn__kv_cache_t *c);
/* Beam search: sequence r continues sequence from[r] (0 <= from[r] < B): its len cached
 * positions are replaced by those of from[r]. Scratch B len E floats from the arena. */
attn_status_t attn__kv_cache_reorder(attn__kv_cache_t *c, const int64_t *from,
                                     attn__arena_t *arena);

/* Appends K = src W_k^T + b_k and V = src W_v^T + b_v of src [B, t, E] at positions
 * len .. len + t - 1 (BAD_SHAPE when they do not fit in max_len). */
attn_status_t attn__mha_kv_append(const attn__mha_t *m, const attn__params_t *ps,
                                  attn__kv_cache_t *c, int64_t t, const float *src);
/* Queries from x [B, t, E] attend to the len cached positions -> y [B, t, E]. causal is
 * applied as the kernel defines it with Nq = t and Nk = len (use ATTN_CAUSAL_BOTTOM_RIGHT for
 * the last t positions of a sequence, ATTN_CAUSAL_NONE for cross-attention); key_lens [B] or
 * NULL. Scratch (2 B t E floats) from the arena. */
attn_status_t attn__mha_attend_cached(const attn__mha_t *m, const attn__params_t *ps,
                                      const attn__kv_cache_t *c, int64_t t, const float *x,
                                      const int64_t *key_lens, attn_causal_t causal, float *y,
                                      attn__arena_t *arena);
/* Causal self-attention step: appends x [B, t, E] (the next t positions) to the cache and
 * attends from them with bottom-right alignment -> y [B, t, E]. t > 1 processes a prompt.
 * When the attention fails after the append, the cache keeps the appended positions. */
attn_status_t attn__mha_step(const attn__mha_t *m, const attn__params_t *ps,
                             attn__kv_cache_t *c, int64_t t, const float *x, float *y,
                             attn__arena_t *arena);

#endif
