/* Internal: the gated recurrent unit, PyTorch's nn.GRUCell and nn.GRU (batch_first).
 *
 * One step, gates in PyTorch's order r, z, n (rows of the weights: [W_r; W_z; W_n]):
 *     r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
 *     z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *     n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
 *     h' = (1 - z) * n + z * h
 * Parameters of a cell: weight_ih [3H, in], weight_hh [3H, H], bias_ih [3H], bias_hh [3H];
 * initialised uniform in [-1/sqrt(H), 1/sqrt(H)] like PyTorch.
 *
 * attn__gru_cell_t is one step, for decoders that feed their own outputs back one step at a
 * time (nn.GRUCell's names "<prefix>.weight_ih" ...; a cell of a layer, g->cell[0][0], can be
 * stepped the same way).
 *
 * attn__gru_t is nn.GRU(in, H, num_layers, batch_first=True, bidirectional) over a padded batch
 * x [B, T, in] with lengths lens[B], with the semantics of a packed sequence
 * (pack_padded_sequence(enforce_sorted=False)): sequence b is processed for t < lens[b] only;
 * its state stays unchanged after that, so h_n holds the state at t = lens[b] - 1, and its
 * outputs at t >= lens[b] are 0. The reverse direction starts at t = lens[b] - 1.
 * Names "<prefix>.weight_ih_l{k}", "<prefix>.weight_hh_l{k}", "<prefix>.bias_ih_l{k}",
 * "<prefix>.bias_hh_l{k}", and the same with the suffix "_reverse" for the reverse direction.
 * Layer k > 0 reads layer k-1's output [B, T, dirs * H]; no dropout between layers.
 * Outputs y [B, T, dirs * H] (forward direction in columns 0..H-1, reverse in H..2H-1) and
 * states h0, h_n [layers * dirs, B, H] (index k * dirs + d), as in PyTorch.
 *
 * Backward through time accumulates (+=) into the parameter gradients and the gradients of
 * the inputs and initial states (nn.h). Padding rows of x never influence anything: their
 * gradients receive nothing and NaNs there do not spread. */
#ifndef ATTN_NN_GRU_H
#define ATTN_NN_GRU_H

#include "nn/rnn_common.h"

enum { ATTN__GRU_MAX_LAYERS = ATTN__RNN_MAX_LAYERS };

/* sizes and parameter ids (rnn_common.h) */
typedef attn__rnn_cell_t attn__gru_cell_t;

/* Registers "<prefix>.weight_ih", "<prefix>.weight_hh", "<prefix>.bias_ih", "<prefix>.bias_hh"
 * (nn.GRUCell). An empty prefix gives the bare names. */
attn_status_t attn__gru_cell_init(attn__gru_cell_t *c, attn__params_t *ps, const char *prefix,
                                  int64_t in, int64_t hidden);
attn_status_t attn__gru_cell_reset(const attn__gru_cell_t *c, attn__params_t *ps,
                                   attn__rng_t *rng);

/* forward, one step: x [B, in], h_prev [B, H] -> h [B, H] (overwritten; may be h_prev).
 * cache [B, 4H] (overwritten): r, z, n and W_hn h_prev + b_hn per row, for the backward. */
attn_status_t attn__gru_cell_forward(const attn__gru_cell_t *c, const attn__params_t *ps,
                                     int64_t B, const float *x, const float *h_prev, float *h,
                                     float *cache);
/* backward, one step: x, h_prev and cache as in the forward, dh [B, H] the whole gradient of
 * this step's h ->  dx [B, in] +=, dh_prev [B, H] += (either may be NULL), parameter
 * gradients +=. work [B, 4H] is scratch. dh must not alias dh_prev. */
attn_status_t attn__gru_cell_backward(const attn__gru_cell_t *c, attn__params_t *ps, int64_t B,
                                      const float *x, const float *h_prev, const float *cache,
                                      const float *dh, float *dx, float *dh_prev, float *work);

/* in, hidden, layers, dirs (1, or 2 when bidirectional), cell[layer][direction] (rnn_common.h) */
typedef attn__rnn_t attn__gru_t;

/* What the backward needs, taken from the arena by the forward (rnn_common.h); here
 * gates[layer][direction] is [B, T, 4H], the cell's cache of each step. */
typedef attn__rnn_cache_t attn__gru_cache_t;

/* layers in 1..ATTN__GRU_MAX_LAYERS; bidirectional 0 or 1 */
attn_status_t attn__gru_init(attn__gru_t *g, attn__params_t *ps, const char *prefix,
                             int64_t in, int64_t hidden, int32_t layers, int bidirectional);
attn_status_t attn__gru_reset(const attn__gru_t *g, attn__params_t *ps, attn__rng_t *rng);

/* forward: x [B, T, in], lens [B] (each in 0..T; NULL: all T), h0 [layers dirs, B, H] (NULL:
 * zeros) -> y [B, T, dirs H] (0 at t >= lens[b]), h_n [layers dirs, B, H] (may be NULL).
 * cache and a little scratch come from the arena. */
attn_status_t attn__gru_forward(const attn__gru_t *g, const attn__params_t *ps, int64_t B,
                                int64_t T, const float *x, const int64_t *lens, const float *h0,
                                float *y, float *h_n, attn__gru_cache_t *cache,
                                attn__arena_t *arena);
/* backward: the forward's x, lens, h0, y and cache; dy [B, T, dirs H] (NULL: zero; rows
 * t >= lens[b] are ignored) and dh_n [layers dirs, B, H] (NULL: zero) ->
 * dx [B, T, in] += (NULL: not needed; padding rows get nothing), dh0 += (NULL: not needed),
 * parameter gradients +=. Scratch from the arena: B T 4H + 6 B H floats, and 2 B T dirs H
 * more with 2 or more layers (the gradient passed between layers). */
attn_status_t attn__gru_backward(const attn__gru_t *g, attn__params_t *ps, int64_t B, int64_t T,
                                 const float *x, const int64_t *lens, const float *h0,
                                 const float *y, const attn__gru_cache_t *cache,
                                 const float *dy, const float *dh_n, float *dx, float *dh0,
                                 attn__arena_t *arena);

#endif
