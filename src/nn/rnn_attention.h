/* Internal: the classic attentions of RNN encoder-decoders, one decoder step at a time.
 *
 * A decoder state s [Hs] attends over the encoder outputs h_j [Hh], j < len (the source
 * length; positions j >= len are masked with -inf before the softmax):
 *     additive (Bahdanau):        e_j = v . tanh(W s + U h_j)   W [A, Hs], U [A, Hh], v [A]
 *     multiplicative dot (Luong): e_j = s . h_j                 (needs Hs == Hh)
 *     multiplicative general:     e_j = s . (W h_j)             W [Hs, Hh]
 *     alpha = softmax_j(e),  context c = sum_j alpha_j h_j
 * No scaling and no biases. A source of length 0 gives alpha = 0 and c = 0.
 *
 * Parameters (the names of bias-free nn.Linear modules, so weights move by name):
 *     additive: "<prefix>.W.weight" [A, Hs], "<prefix>.U.weight" [A, Hh], "<prefix>.v.weight"
 *               [1, A]  (nn.Linear(Hs, A), nn.Linear(Hh, A), nn.Linear(A, 1), bias=False)
 *     general:  "<prefix>.W.weight" [Hs, Hh]                (nn.Linear(Hh, Hs, bias=False))
 *     dot:      none
 * Initialised like nn.Linear: uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)].
 *
 * The part that depends on the source only is computed once per source sequence, as keys
 * k_j [Dk]: U h_j (additive, Dk = A), W h_j (general, Dk = Hs) or h_j itself (dot, Dk = Hh).
 * Use per batch of sources:
 *     attn__rnn_attention_keys_forward(h -> keys)                         once
 *     per decoder step: attn__rnn_attention_forward(s, h, keys -> alpha, c)
 *     per decoder step, in reverse: attn__rnn_attention_backward(dc -> ds, dh, dkeys)
 *     attn__rnn_attention_keys_backward(dkeys -> dh, parameter gradients)  once
 * dkeys [B, Tk, Dk] collects the steps' key gradients: zero it once before the steps.
 * Backward functions accumulate (+=) into every gradient (nn.h). Masked positions get
 * exactly zero weight and contribute exactly nothing to any gradient. */
#ifndef ATTN_NN_RNN_ATTENTION_H
#define ATTN_NN_RNN_ATTENTION_H

#include "nn/nn.h"

typedef enum attn__rnn_score {
    ATTN__RNN_SCORE_ADDITIVE = 0, /* Bahdanau: v . tanh(W s + U h_j) */
    ATTN__RNN_SCORE_DOT = 1,      /* Luong dot: s . h_j */
    ATTN__RNN_SCORE_GENERAL = 2   /* Luong general: s . (W h_j) */
} attn__rnn_score_t;

typedef struct attn__rnn_attention {
    attn__rnn_score_t score;
    int64_t hs, hh, a; /* decoder state size, encoder output size, additive size (else 0) */
    int64_t dk;        /* key size: A, Hh (dot) or Hs (general) */
    int32_t w, u, v;   /* parameter ids, -1 when the score has no such tensor */
} attn__rnn_attention_t;

/* a is the additive attention's hidden size (ignored by the others). */
attn_status_t attn__rnn_attention_init(attn__rnn_attention_t *at, attn__params_t *ps,
                                       const char *prefix, attn__rnn_score_t score, int64_t hs,
                                       int64_t hh, int64_t a);
attn_status_t attn__rnn_attention_reset(const attn__rnn_attention_t *at, attn__params_t *ps,
                                        attn__rng_t *rng);

/* keys: h [B, Tk, Hh] -> keys [B, Tk, Dk] (overwritten), one product for the whole batch. */
attn_status_t attn__rnn_attention_keys_forward(const attn__rnn_attention_t *at,
                                               const attn__params_t *ps, int64_t B, int64_t Tk,
                                               const float *h, float *keys);
/* keys backward: h [B, Tk, Hh], lens [B] (NULL: all Tk), dkeys [B, Tk, Dk] ->
 * dh [B, Tk, Hh] += (NULL: not needed), dU or dW +=. Only rows j < lens[b] are read or
 * written (one product per sequence), so padding rows of h may hold anything. */
attn_status_t attn__rnn_attention_keys_backward(const attn__rnn_attention_t *at,
                                                attn__params_t *ps, int64_t B, int64_t Tk,
                                                const float *h, const int64_t *lens,
                                                const float *dkeys, float *dh);

/* floats of the per-step cache for a batch of B: 2 B A for additive (W s, and room for the
 * backward's scratch), 0 for the multiplicative ones (cache may then be NULL). */
int64_t attn__rnn_attention_cache_floats(const attn__rnn_attention_t *at, int64_t B);

/* one decoder step: s [B, Hs], h [B, Tk, Hh], keys [B, Tk, Dk] from keys_forward, lens [B]
 * (each 0..Tk; NULL: all Tk) -> alpha [B, Tk] (0 at j >= lens[b]), ctx [B, Hh];
 * cache as attn__rnn_attention_cache_floats says (written). */
attn_status_t attn__rnn_attention_forward(const attn__rnn_attention_t *at,
                                          const attn__params_t *ps, int64_t B, int64_t Tk,
                                          const float *s, const float *h, const float *keys,
                                          const int64_t *lens, float *alpha, float *ctx,
                                          float *cache);
/* backward of one step: the forward's s, h, keys, lens, alpha and cache (the additive
 * backward uses the second half of the cache as scratch); dctx [B, Hh] and dalpha [B, Tk]
 * (either may be NULL: zero) -> ds [B, Hs] +=, dh [B, Tk, Hh] += (the path through the
 * context), dkeys [B, Tk, Dk] += (any may be NULL: not needed), dW and dv += (additive). */
attn_status_t attn__rnn_attention_backward(const attn__rnn_attention_t *at, attn__params_t *ps,
                                           int64_t B, int64_t Tk, const float *s, const float *h,
                                           const float *keys, const int64_t *lens,
                                           const float *alpha, float *cache, const float *dctx,
                                           const float *dalpha, float *ds, float *dh,
                                           float *dkeys);

#endif
