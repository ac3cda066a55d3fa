/* Internal: the AdamW optimiser over the flat parameter store, exactly as torch.optim.AdamW
 * (amsgrad=False, maximize=False). One update with learning rate lr, for every element:
 *
 *     step += 1                                     (one counter for the whole store)
 *     p  = p * (1 - lr * wd)                        wd = 0 for tensors excluded from decay
 *     m  = beta1 * m + (1 - beta1) * g
 *     v  = beta2 * v + (1 - beta2) * g * g
 *     p  = p - (lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 *
 * The scalars (1 - lr * wd, the bias corrections, the step size) are computed in double, as
 * PyTorch does in Python, and rounded to float once; the element arithmetic is float, in
 * PyTorch's order of operations. Elements are independent, so threads never change a bit.
 *
 * State for checkpoints: m and v (PyTorch's exp_avg and exp_avg_sq) are laid out exactly like
 * ps->w (tensor i at ps->list[i].offset, ps->list[i].numel floats), and step is PyTorch's
 * state['step'] (the same for every tensor). Saving m, v and step and writing them back into
 * an optimiser made by attn__adamw_init over the same store resumes training bit for bit.
 * The learning rate is an argument of each step (see train/schedule.h), not state. */
#ifndef ATTN_TRAIN_ADAMW_H
#define ATTN_TRAIN_ADAMW_H

#include "train/params.h"

#include <stdint.h>

typedef struct attn__adamw_opts {
    double beta1;        /* default 0.9 */
    double beta2;        /* default 0.999 */
    double eps;          /* default 1e-8 */
    double weight_decay; /* default 0.01 (torch.optim.AdamW's) */
} attn__adamw_opts_t;

attn__adamw_opts_t attn__adamw_default_opts(void);

typedef struct attn__adamw_segment {
    int64_t offset, count; /* a slice of one tensor, in floats */
    int32_t tensor;
} attn__adamw_segment_t;

typedef struct attn__adamw {
    attn__adamw_opts_t opts;
    int64_t step;    /* updates taken so far */
    int64_t total;   /* floats in m and v (the store's total) */
    float *m, *v;    /* [total] first and second moments, zero at init */
    int32_t ntensors;
    uint8_t *decay;  /* [ntensors] 1 when the tensor gets weight decay (all at init) */
    /* private: the work items of a step (slices of at most a few thousand floats) */
    attn__adamw_segment_t *segs;
    int64_t nsegs;
} attn__adamw_t;

/* Allocates m and v (zeroed) for an allocated store; step = 0; every tensor decays. */
attn_status_t attn__adamw_init(attn__adamw_t *opt, const attn__params_t *ps,
                               attn__adamw_opts_t opts);
void attn__adamw_free(attn__adamw_t *opt);

/* A predicate over the store's tensors: nonzero selects the tensor. */
typedef int (*attn__param_pred_fn)(const attn__param_t *p, void *user);
/* Tensors for which no_decay(p, user) is nonzero get weight decay 0 (like a PyTorch param
 * group with weight_decay=0); the others keep it. Returns the number excluded in *excluded
 * (may be NULL). */
attn_status_t attn__adamw_exclude_decay(attn__adamw_t *opt, const attn__params_t *ps,
                                        attn__param_pred_fn no_decay, void *user,
                                        int32_t *excluded);
/* The usual rule: names ending in ".bias", and every 1-d tensor (LayerNorm weights). */
int attn__adamw_no_decay_default(const attn__param_t *p, void *user);

/* One update of every tensor from ps->g with learning rate lr (>= 0, finite). The gradients
 * are read, not cleared. */
attn_status_t attn__adamw_step(attn__adamw_t *opt, attn__params_t *ps, double lr);

#endif
