/* Internal: token embedding, a lookup of rows of a table (PyTorch's nn.Embedding).
 *
 *   e.weight  [V, C]   "<prefix>.weight", initialised N(0, 1) as nn.Embedding, with the
 *                      padding row (if any) zeroed
 *
 * ids are int32 in [0, V). padding_idx >= 0 names a row that receives no gradient (the row
 * is still looked up like any other); a negative padding_idx means none. PyTorch accepts a
 * negative padding_idx counted from the end: pass V + padding_idx here instead. */
#ifndef ATTN_NN_EMBEDDING_H
#define ATTN_NN_EMBEDDING_H

#include "nn/nn.h"

typedef struct attn__embedding {
    int64_t num;         /* V: rows of the table */
    int64_t dim;         /* C: width of a row */
    int64_t padding_idx; /* row that gets no gradient, or -1 */
    int32_t weight;      /* parameter id of the table [V, C] */
} attn__embedding_t;

/* Registers "<prefix>.weight" [num, dim]. padding_idx must be -1 (none) or in [0, num). */
attn_status_t attn__embedding_init(attn__embedding_t *e, attn__params_t *ps, const char *prefix,
                                   int64_t num, int64_t dim, int64_t padding_idx);
/* weight ~ N(0, 1), then the padding row set to 0 (nn.Embedding.reset_parameters). */
attn_status_t attn__embedding_reset(const attn__embedding_t *e, attn__params_t *ps,
                                    attn__rng_t *rng);

/* Forward.  ids [N] int32  ->  out [N, C]   (out[i, :] = weight[ids[i], :]); no cache.
 * Every id is checked before anything is written: an id outside [0, V) is
 * ATTN_STATUS_BAD_ARGUMENT naming the position, the id and V. */
attn_status_t attn__embedding_forward(const attn__embedding_t *e, const attn__params_t *ps,
                                      const int32_t *ids, int64_t n, float *out);
/* Backward.  ids [N], dout [N, C]  ->  dweight[ids[i], :] += dout[i, :]
 * Rows are added in the order i = 0 .. N-1 (a fixed order, so repeated ids sum the same way
 * every time); positions whose id is padding_idx add nothing. Ids are checked as in the
 * forward, before any gradient is touched. */
attn_status_t attn__embedding_backward(const attn__embedding_t *e, attn__params_t *ps,
                                       const int32_t *ids, int64_t n, const float *dout);

#endif
