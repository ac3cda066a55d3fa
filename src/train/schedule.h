/* Internal: learning-rate schedules, lr as a pure function of the step.
 *
 * step is the 1-based number of the update about to be made: with AdamW,
 * attn__adamw_step(&opt, ps, attn__schedule_lr(&sched, opt.step + 1)). Steps below 1 are
 * treated as 1. With s = max(step, 1),
 * W = warmup, S = total, lr = the base rate, lr_min = min_lr:
 *
 *   ATTN__LR_CONSTANT       lr
 *   ATTN__LR_INV_SQRT       lr * min(s / W, sqrt(W / s))
 *                           linear warm-up to lr at s = W, then lr * sqrt(W / s)
 *   ATTN__LR_NOAM           lr * d_model^-0.5 * min(s^-0.5, s * W^-1.5)
 *                           the Transformer paper's formula (lr = 1 there, W = 4000); it is
 *                           INV_SQRT with peak lr / sqrt(d_model * W) reached at s = W
 *   ATTN__LR_WARMUP_COSINE  s <= W:  lr * s / W                       (W = 0: no warm-up)
 *                           W < s < S: lr_min + (lr - lr_min) * (1 + cos(pi * p)) / 2,
 *                                     p = (s - W) / (S - W)
 *                           s >= S:   lr_min
 * Everything is computed in double. */
#ifndef ATTN_TRAIN_SCHEDULE_H
#define ATTN_TRAIN_SCHEDULE_H

#include "attn.h"

#include <stdint.h>

typedef enum attn__lr_kind {
    ATTN__LR_CONSTANT = 0,
    ATTN__LR_INV_SQRT = 1,
    ATTN__LR_NOAM = 2,
    ATTN__LR_WARMUP_COSINE = 3
} attn__lr_kind_t;

typedef struct attn__schedule {
    attn__lr_kind_t kind;
    double lr;       /* base (peak) rate, >= 0 */
    int64_t warmup;  /* W: >= 1 for INV_SQRT and NOAM, >= 0 for WARMUP_COSINE */
    int64_t total;   /* S: WARMUP_COSINE only, > W */
    double min_lr;   /* WARMUP_COSINE only, in [0, lr] */
    double d_model;  /* NOAM only, > 0 */
} attn__schedule_t;

/* Checks the fields for the kind; BAD_ARGUMENT with the reason otherwise. */
attn_status_t attn__schedule_check(const attn__schedule_t *s);
/* The rate for this step (a schedule that fails attn__schedule_check gives NaN). */
double attn__schedule_lr(const attn__schedule_t *s, int64_t step);

#endif
