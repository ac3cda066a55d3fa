/* Internal: what the fused forward (sdpa_fused.c) and backward (sdpa_fused_backward.c) share:
 * tile sizes, the log2 units of the score tiles, and masking a transposed score tile. */
#ifndef ATTN_KERNELS_SDPA_FUSED_H
#define ATTN_KERNELS_SDPA_FUSED_H

#include "kernels/sdpa.h"

/* Tile sizes: multiples of the micro-kernel's 6 rows and 16 or 32 columns (tiles.c). BR
 * queries by BC keys; the forward takes BR_LONG queries per block where one head's K and V
 * exceed LONG_KV_BYTES, or a quarter of the last-level cache where that is less
 * (sdpa_fused.c). */
enum { BR = 96, BC = 96, BR_LONG = 192 };
#define LONG_KV_BYTES ((int64_t)16 << 20)

/* Scores live in log2 units inside the tiles, so the softmax uses 2^x: Q is packed scaled by
 * scale * log2(e), a bias is added times log2(e), and LSE goes out times ln(2). */
#define LOG2E 1.44269504088896341f
#define LN2 0.69314718055994531f

static inline int64_t attn__min64(int64_t a, int64_t b) { return a < b ? a : b; }
/* query columns of a tile, padded to the vector width the softmax steps need */
static inline int64_t attn__padded(int64_t rows) { return (rows + 15) / 16 * 16; }

/* First query whose visible keys reach key j (key_end is non-decreasing in i). */
static inline int64_t attn__first_query_seeing(const attn__sdpa_t *p, int64_t b, int64_t j) {
    int64_t i = 0;
    if (p->causal == ATTN_CAUSAL_TOP_LEFT) i = j;
    else if (p->causal == ATTN_CAUSAL_BOTTOM_RIGHT) i = j - attn__key_len(p, b) + p->Nq;
    return i < 0 ? 0 : i;
}

/* Hides, in the transposed score tile St (keys j0.. by queries i0.., row stride ld), what the
 * causal rule and the mask hide, and adds the bias (in log2 units). Keys at or past key_lens
 * never reach a tile. */
void attn__mask_tile(const attn__sdpa_t *p, int64_t b, int64_t h, int64_t i0, int64_t rows,
                     int64_t j0, int64_t cols, float *St, int64_t ld);

/* Attention dropout on a transposed tile (keys j0.. by queries i0.., row stride ld) of weights
 * (P^T, or dP^T in the backward): each kept entry times drop_scale, each dropped one 0, by
 * attn__drop_keep's mask (computed with the tile set's keep_masks). Call only when drop_p > 0. */
struct attn__tiles;
void attn__drop_tile(const attn__sdpa_t *p, const struct attn__tiles *t, int64_t b, int64_t h,
                     int64_t i0, int64_t rows, int64_t j0, int64_t cols, float *St, int64_t ld);

/* On a tile cut by the causal rule (queries i0.., keys j0..; n query columns, rows of them
 * real): how many keys (from the first) each block of t->nr query columns of S^T needs
 * (need_rows[], for gemm_nn_rows), and each block of t->mr query rows of a product over the
 * keys needs (need_keys[], for gemm_tn_depth): the keys not hidden from the block's last
 * query. The arrays hold n / t->nr and rows / t->mr entries, rounded up. */
void attn__causal_limits(const attn__sdpa_t *p, const struct attn__tiles *t, int64_t b,
                         int64_t i0, int64_t rows, int64_t j0, int64_t cols, int64_t n,
                         int32_t *need_rows, int32_t *need_keys);

#endif
