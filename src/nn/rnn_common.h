/* Internal: what the GRU (gru.h) and the LSTM (lstm.h) share, written once.
 *
 * Both are PyTorch recurrent layers with the same four tensors per cell, weight_ih [gates H, in],
 * weight_hh [gates H, H], bias_ih [gates H], bias_hh [gates H] (3 gate blocks for the GRU, 4 for
 * the LSTM), initialised uniform in [-1/sqrt(H), 1/sqrt(H)], stacked the same way in layers and
 * directions over a padded batch x [B, T, in] with lengths lens[B] (semantics in gru.h). What
 * tells them apart here is an attn__rnn_kind_t: the name in error messages, the number of gate
 * blocks, and the width of one step in a layer's cache. The equations of a step, and the
 * drivers that carry the states (h, or h and c) through time, stay in gru.c and lstm.c.
 *
 * attn__gru_cell_t and attn__lstm_cell_t are attn__rnn_cell_t (likewise the layers, attn__rnn_t,
 * and their caches, attn__rnn_cache_t): the compiler does not tell a GRU from an LSTM, so call
 * the functions of the kind a layer was initialised as.
 *
 * Functions here report errors through attn__fail with the kind's name ("GRU cell forward: ..."),
 * so that the GRU and LSTM entry points keep their own messages. */
#ifndef ATTN_NN_RNN_COMMON_H
#define ATTN_NN_RNN_COMMON_H

#include "nn/nn.h"

enum { ATTN__RNN_MAX_LAYERS = 8 };

typedef struct attn__rnn_kind {
    const char *name; /* "GRU" or "LSTM", starts every error message */
    int64_t gates;    /* gate blocks in the weights: 3 (r, z, n) or 4 (i, f, g, o) */
    int64_t step;     /* floats per H that a layer's cache keeps per step: 4 or 5 */
} attn__rnn_kind_t;

/* one cell */
typedef struct attn__rnn_cell {
    int64_t in, hidden;
    int32_t w_ih, w_hh, b_ih, b_hh; /* parameter ids */
} attn__rnn_cell_t;

/* a stack of layers, each one or two directions */
typedef struct attn__rnn {
    int64_t in, hidden;
    int32_t layers, dirs;                              /* dirs: 1, or 2 when bidirectional */
    attn__rnn_cell_t cell[ATTN__RNN_MAX_LAYERS][2];    /* [layer][direction] */
} attn__rnn_t;

/* What a layer's backward needs, taken from the arena by the forward. */
typedef struct attn__rnn_cache {
    int64_t batch, len;                      /* B and T of the forward */
    float *gates[ATTN__RNN_MAX_LAYERS][2];   /* [B, T, step H] per step, layout in gru.c/lstm.c */
    float *y[ATTN__RNN_MAX_LAYERS];          /* [B, T, dirs H] outputs of layers below the
                                                top one (the top one is the caller's y) */
} attn__rnn_cache_t;

/* ---- parameters --------------------------------------------------------------------------- */

/* Checks the sizes and registers "<prefix>.weight_ih" ... (nn.GRUCell, nn.LSTMCell names). */
attn_status_t attn__rnn_cell_init(const attn__rnn_kind_t *k, attn__rnn_cell_t *c,
                                  attn__params_t *ps, const char *prefix, int64_t in,
                                  int64_t hidden);
/* Uniform in [-1/sqrt(H), 1/sqrt(H)], tensors in the order weight_ih, weight_hh, bias_ih,
 * bias_hh, each in order of its elements. */
attn_status_t attn__rnn_cell_reset(const attn__rnn_kind_t *k, const attn__rnn_cell_t *c,
                                   attn__params_t *ps, attn__rng_t *rng);
/* Checks the sizes and registers "<prefix>.weight_ih_l{k}" ... ("_reverse" for direction 1),
 * layer by layer, forward direction first; layers in 1..ATTN__RNN_MAX_LAYERS. */
attn_status_t attn__rnn_init(const attn__rnn_kind_t *k, attn__rnn_t *r, attn__params_t *ps,
                             const char *prefix, int64_t in, int64_t hidden, int32_t layers,
                             int bidirectional);
/* attn__rnn_cell_reset of every cell, in the order of attn__rnn_init */
attn_status_t attn__rnn_reset(const attn__rnn_kind_t *k, const attn__rnn_t *r,
                              attn__params_t *ps, attn__rng_t *rng);

/* ---- checks and buffers ------------------------------------------------------------------- */

/* what: "forward" or "backward". A cell with its store allocated (and its gradients when
 * need_grad); B in 1.. such that B * 4 * max(H, in) floats (cache, work) stay below 2^40. */
attn_status_t attn__rnn_check_cell(const attn__rnn_kind_t *k, const char *what,
                                   const attn__rnn_cell_t *c, const attn__params_t *ps,
                                   int need_grad, int64_t B);

/* The start of a layer's forward: checks the layer, store, B, T, lens (each in 0..T, or NULL)
 * and that x, y, cache and arena are given; then fills the cache with B, T and, from the
 * arena, gates [B, T, step H] per cell and y [B, T, dirs H] per layer below the top one. */
attn_status_t attn__rnn_forward_begin(const attn__rnn_kind_t *k, const attn__rnn_t *r,
                                      const attn__params_t *ps, int64_t B, int64_t T,
                                      const float *x, const int64_t *lens, const float *y,
                                      attn__rnn_cache_t *cache, attn__arena_t *arena);

/* The checks of a layer's backward: those of the forward (and the gradients allocated), and
 * that the cache is from a forward of this B and T. */
attn_status_t attn__rnn_backward_check(const attn__rnn_kind_t *k, const attn__rnn_t *r,
                                       const attn__params_t *ps, int64_t B, int64_t T,
                                       const float *x, const int64_t *lens, const float *y,
                                       const attn__rnn_cache_t *cache, const attn__arena_t *arena);
/* The scratch of a layer's backward, from the arena: dg [B, T, 4H], work [work_floats] and,
 * with 2 or more layers, dbuf [B, T, dirs H] that pass the gradient from a layer to the one
 * below (dbuf[1] stays NULL with fewer than 3 layers). */
attn_status_t attn__rnn_backward_scratch(const attn__rnn_t *r, attn__arena_t *arena, int64_t B,
                                         int64_t T, int64_t work_floats, float **dg,
                                         float **work, float *dbuf[2]);

/* Where the backward of layer l (of L) puts the gradient of its input: dx for layer 0 (as
 * given, may be NULL), otherwise dbuf[(L - 1 - l) % 2] (the top layer writes dbuf[0]), zeroed
 * first; n = B T dirs H. */
float *attn__rnn_input_grad(int64_t l, int64_t L, float *const dbuf[2], float *dx, int64_t n);

/* ---- pieces of the time loops ------------------------------------------------------------- */

/* Step s of direction dir (0 forward, 1 reverse) of a sequence of length len is at time
 * t = s forward, t = len - 1 - s reverse. */
static inline int64_t attn__rnn_step_time(int dir, int64_t len, int64_t s) {
    return dir ? len - 1 - s : s;
}

/* dst [n] = src [n], or zeros when src is NULL */
void attn__rnn_copy_or_zero(float *dst, const float *src, int64_t n);

/* y rows (b, t) for t >= lens[b], first n floats of each (row stride ldy), set to 0 */
void attn__rnn_zero_padding(int64_t B, int64_t T, const int64_t *lens, float *y, int64_t ldy,
                            int64_t n);

/* dst[j] += sum over valid rows of src[row * ld + j], j < n; rows are (b, t) for t < lens[b]
 * (all T when lens is NULL), added in the order b, t in double: a fixed summation order */
void attn__rnn_colsum_valid(int64_t B, int64_t T, const int64_t *lens, const float *src,
                            int64_t ld, int64_t n, float *dst);

/* The input side of one direction's backward, one product per sequence over its valid rows
 * only (padding never read): dg [B, T, ldg] whose first `rows` columns are the gradients of
 * W_ih x, x [B, T, in] -> dW_ih [rows, in] +=, dx [B, T, in] += (NULL: not needed). */
void attn__rnn_input_backward(int64_t B, int64_t T, const int64_t *lens, const float *dg,
                              int64_t ldg, int64_t rows, const float *x, int64_t in,
                              const float *wih, float *dwih, float *dx);

#endif
