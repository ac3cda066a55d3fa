/* Internal: an ensemble of sequence-to-sequence models decoded as one.
 *
 * attn__ensemble_init wraps n member steppers (models/decode.h) of the same target vocabulary
 * in one stepper whose log-probabilities are those of the members' mean probability,
 *     log p(y) = log((1/n) sum_i p_i(y)),
 * taken per token as fairseq's EnsembleModel does (OpenNMT-py averages the log-probabilities
 * instead; the mean of probabilities keeps a distribution that sums to one). Greedy decoding
 * and beam search then run unchanged: `begin` and `reorder` go to every member, `step` asks
 * each member in order and folds its log-probabilities in with a stable log-add-exp, so the
 * result depends only on the members and their order. Each member must have encoded the same
 * sources first. */
#ifndef ATTN_MODELS_ENSEMBLE_H
#define ATTN_MODELS_ENSEMBLE_H

#include "models/decode.h"

typedef struct attn__ensemble {
    attn__stepper_t *members; /* [n] copies */
    int32_t n;
    float *scratch;           /* [rows * vocab] one member's log-probabilities */
    int64_t rows, cap;
} attn__ensemble_t;

/* Checks that the n >= 1 members agree on vocabulary size, <s> and </s> (a mismatch is
 * ATTN_STATUS_BAD_ARGUMENT naming the member) and fills *out with the ensemble's stepper,
 * valid while e lives. */
attn_status_t attn__ensemble_init(attn__ensemble_t *e, const attn__stepper_t *members, int32_t n,
                                  attn__stepper_t *out);
void attn__ensemble_free(attn__ensemble_t *e);

#endif
