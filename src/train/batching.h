/* Internal: length-bucketed batching of N variable-length sequence pairs (source, target),
 * deterministic from a seed, resumable mid-epoch.
 *
 * The size of pair i is max(src_len[i], tgt_len[i], 1); a batch costs count * (its largest
 * size) tokens, which is what a padded [count, T] tensor holds. The plan of epoch e is a pure
 * function of (lengths, options, seed, e):
 *   1. the pairs are shuffled (Fisher-Yates, attn__rng_t seeded from (seed, e));
 *   2. the shuffled list is cut into buckets of bucket_size pairs, and each bucket is sorted
 *      by (size, src_len, tgt_len, index);
 *   3. each bucket is packed greedily in that order: a batch takes the next pair unless that
 *      would exceed max_tokens or max_sentences (batches never span buckets);
 *   4. the batches of the epoch are shuffled with the same generator.
 * So every pair is in exactly one batch per epoch, pairs of similar length are batched
 * together, and the batch order changes every epoch.
 *
 * Resuming: (epoch, position) names the next batch; a checkpoint saves the two numbers and
 * attn__batcher_seek(b, epoch, position) continues exactly where training stopped. */
#ifndef ATTN_TRAIN_BATCHING_H
#define ATTN_TRAIN_BATCHING_H

#include "attn.h"

#include <stdint.h>

typedef struct attn__batching_opts {
    int64_t max_tokens;    /* padded tokens per batch, 0 = no limit; default 4096 */
    int64_t max_sentences; /* pairs per batch, 0 = no limit; default 0 (one must be set) */
    int64_t bucket_size;   /* pairs sorted together, 0 = all of them; default 4096 */
    uint64_t seed;         /* default 1 */
} attn__batching_opts_t;

attn__batching_opts_t attn__batching_default_opts(void);

typedef struct attn__batch {
    const int64_t *idx;      /* [count] pair indices, valid until the next call on the batcher */
    int64_t count;
    int64_t max_src, max_tgt; /* longest source and target in the batch */
    int64_t epoch, index;     /* the epoch, and the batch's position in that epoch (0-based) */
} attn__batch_t;

typedef struct attn__batch_key attn__batch_key_t; /* private sort record */

typedef struct attn__batcher {
    attn__batching_opts_t opts;
    int64_t n;                /* pairs */
    int64_t *src_len, *tgt_len; /* [n] copies of the lengths */
    int64_t epoch, position;  /* the batch attn__batcher_next returns next */
    int64_t nbatches;         /* batches in the epoch `epoch` */
    /* private: the plan of the epoch `epoch` */
    int64_t *order;           /* [n] pair indices, batch after batch */
    int64_t *start;           /* [n + 1] batch k is order[start[k] .. start[k + 1]) */
    int64_t *perm;            /* [n] the shuffled order of the batches */
    attn__batch_key_t *keys;  /* [n] scratch for sorting */
} attn__batcher_t;

/* Copies the lengths (>= 0) and plans epoch 0, position 0. A pair whose size alone exceeds
 * max_tokens is ATTN_STATUS_BAD_ARGUMENT naming it (filter such pairs out first). */
attn_status_t attn__batcher_init(attn__batcher_t *b, int64_t n, const int64_t *src_len,
                                 const int64_t *tgt_len, attn__batching_opts_t opts);
void attn__batcher_free(attn__batcher_t *b);
/* Moves to batch `position` (0 .. nbatches of that epoch) of epoch `epoch` (>= 0). */
attn_status_t attn__batcher_seek(attn__batcher_t *b, int64_t epoch, int64_t position);
/* The next batch; after the last batch of an epoch, the first of the next epoch. No memory is
 * allocated after init. */
attn_status_t attn__batcher_next(attn__batcher_t *b, attn__batch_t *out);

#endif
