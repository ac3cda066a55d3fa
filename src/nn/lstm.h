/* Internal: long short-term memory, PyTorch's nn.LSTMCell and nn.LSTM (batch_first).
 *
 * One step, gates in PyTorch's order i, f, g, o (rows of the weights: [W_i; W_f; W_g; W_o]):
 *     i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)      f = sigmoid(... f ...)
 *     g  = tanh(W_ig x + b_ig + W_hg h + b_hg)         o = sigmoid(... o ...)
 *     c' = f * c + i * g
 *     h' = o * tanh(c')
 * Parameters of a cell: weight_ih [4H, in], weight_hh [4H, H], bias_ih [4H], bias_hh [4H];
 * initialised uniform in [-1/sqrt(H), 1/sqrt(H)] like PyTorch. No projection (proj_size 0).
 *
 * attn__lstm_cell_t is one step, for decoders that feed their own outputs back one step at a
 * time (nn.LSTMCell's names "<prefix>.weight_ih" ...; a cell of a layer, l->cell[0][0], can be
 * stepped the same way).
 *
 * attn__lstm_t is nn.LSTM(in, H, num_layers, batch_first=True, bidirectional) over a padded
 * batch x [B, T, in] with lengths lens[B], with the semantics of a packed sequence
 * (pack_padded_sequence(enforce_sorted=False)): sequence b is processed for t < lens[b] only;
 * its state (h, c) stays unchanged after that, so h_n and c_n hold the state at
 * t = lens[b] - 1, and its outputs at t >= lens[b] are 0. The reverse direction starts at
 * t = lens[b] - 1. Names "<prefix>.weight_ih_l{k}", "<prefix>.weight_hh_l{k}",
 * "<prefix>.bias_ih_l{k}", "<prefix>.bias_hh_l{k}", and the same with the suffix "_reverse".
 * Layer k > 0 reads layer k-1's output [B, T, dirs * H]; no dropout between layers.
 * Outputs y [B, T, dirs * H] (forward direction in columns 0..H-1, reverse in H..2H-1) and
 * states h0, c0, h_n, c_n [layers * dirs, B, H] (index k * dirs + d), as in PyTorch.
 *
 * Backward through time accumulates (+=) into the parameter gradients and the gradients of
 * the inputs and initial states (nn.h). Padding rows of x never influence anything: their
 * gradients receive nothing and NaNs there do not spread. */
#ifndef ATTN_NN_LSTM_H
#define ATTN_NN_LSTM_H

#include "nn/rnn_common.h"

enum { ATTN__LSTM_MAX_LAYERS = ATTN__RNN_MAX_LAYERS };

/* sizes and parameter ids (rnn_common.h) */
typedef attn__rnn_cell_t attn__lstm_cell_t;

/* Registers "<prefix>.weight_ih", "<prefix>.weight_hh", "<prefix>.bias_ih", "<prefix>.bias_hh"
 * (nn.LSTMCell). An empty prefix gives the bare names. */
attn_status_t attn__lstm_cell_init(attn__lstm_cell_t *c, attn__params_t *ps, const char *prefix,
                                   int64_t in, int64_t hidden);
attn_status_t attn__lstm_cell_reset(const attn__lstm_cell_t *c, attn__params_t *ps,
                                    attn__rng_t *rng);

/* forward, one step: x [B, in], h_prev [B, H], c_prev [B, H] -> h [B, H], c [B, H]
 * (overwritten; h may be h_prev and c may be c_prev). cache [B, 4H] (overwritten): the gates
 * i, f, g, o per row, for the backward. */
attn_status_t attn__lstm_cell_forward(const attn__lstm_cell_t *cell, const attn__params_t *ps,
                                      int64_t B, const float *x, const float *h_prev,
                                      const float *c_prev, float *h, float *c, float *cache);
/* backward, one step: x, h_prev, c_prev, the forward's c and cache; dh [B, H] and dc [B, H]
 * (NULL: zero) the whole gradients of this step's h and c -> dx [B, in] +=,
 * dh_prev [B, H] +=, dc_prev [B, H] += (each may be NULL), parameter gradients +=.
 * work [B, 4H] is scratch. dh and dc must not alias dh_prev and dc_prev. */
attn_status_t attn__lstm_cell_backward(const attn__lstm_cell_t *cell, attn__params_t *ps,
                                       int64_t B, const float *x, const float *h_prev,
                                       const float *c_prev, const float *c, const float *cache,
                                       const float *dh, const float *dc, float *dx,
                                       float *dh_prev, float *dc_prev, float *work);

/* in, hidden, layers, dirs (1, or 2 when bidirectional), cell[layer][direction] (rnn_common.h) */
typedef attn__rnn_t attn__lstm_t;

/* What the backward needs, taken from the arena by the forward (rnn_common.h); here
 * gates[layer][direction] is [B, T, 5H]: i, f, g, o and c of each step. */
typedef attn__rnn_cache_t attn__lstm_cache_t;

/* layers in 1..ATTN__LSTM_MAX_LAYERS; bidirectional 0 or 1 */
attn_status_t attn__lstm_init(attn__lstm_t *m, attn__params_t *ps, const char *prefix,
                              int64_t in, int64_t hidden, int32_t layers, int bidirectional);
attn_status_t attn__lstm_reset(const attn__lstm_t *m, attn__params_t *ps, attn__rng_t *rng);

/* forward: x [B, T, in], lens [B] (each in 0..T; NULL: all T), h0 and c0
 * [layers dirs, B, H] (NULL: zeros) -> y [B, T, dirs H] (0 at t >= lens[b]), h_n and c_n
 * [layers dirs, B, H] (either may be NULL). cache and a little scratch from the arena. */
attn_status_t attn__lstm_forward(const attn__lstm_t *m, const attn__params_t *ps, int64_t B,
                                 int64_t T, const float *x, const int64_t *lens,
                                 const float *h0, const float *c0, float *y, float *h_n,
                                 float *c_n, attn__lstm_cache_t *cache, attn__arena_t *arena);
/* backward: the forward's x, lens, h0, c0, y and cache; dy [B, T, dirs H] (NULL: zero; rows
 * t >= lens[b] are ignored), dh_n and dc_n [layers dirs, B, H] (NULL: zero) ->
 * dx [B, T, in] += (NULL: not needed; padding rows get nothing), dh0 and dc0 += (NULL: not
 * needed), parameter gradients +=. Scratch from the arena: B T 4H + 9 B H + H floats, and
 * 2 B T dirs H more with 2 or more layers (the gradient passed between layers). */
attn_status_t attn__lstm_backward(const attn__lstm_t *m, attn__params_t *ps, int64_t B,
                                  int64_t T, const float *x, const int64_t *lens,
                                  const float *h0, const float *c0, const float *y,
                                  const attn__lstm_cache_t *cache, const float *dy,
                                  const float *dh_n, const float *dc_n, float *dx, float *dh0,
                                  float *dc0, attn__arena_t *arena);

#endif
