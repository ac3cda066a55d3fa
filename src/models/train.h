/* Internal: the training loop shared by every sequence-to-sequence model.
 *
 * One step: the next length-bucketed batch (train/batching.h) is padded into an
 * attn__s2s_batch_t, the model's teacher-forced forward gives logits, the loss is label-smoothed
 * cross-entropy ignoring <pad> (nn/loss.h), the model's backward accumulates gradients, the
 * global gradient norm is clipped (train/clip.h), the learning rate comes from the schedule at
 * this step (train/schedule.h) and AdamW updates the weights (train/adamw.h).
 *
 * Reproducible: the batch plan is a function of the seed and the epoch, dropout masks of
 * (seed, step, site, index), and every sum has a fixed order, so the same seed and thread
 * count give the same loss curve bit for bit; the state to resume exactly is (weights, AdamW
 * moments and step, batcher epoch and position), which checkpoints save. */
#ifndef ATTN_MODELS_TRAIN_H
#define ATTN_MODELS_TRAIN_H

#include "models/s2s.h"
#include "nn/loss.h"
#include "train/adamw.h"
#include "train/batching.h"
#include "train/schedule.h"

/* Pairs of id sequences: pair i is src[src_off[i] .. src_off[i+1]) and tgt[...] likewise;
 * targets hold the output symbols only (no <s>, no </s>). */
typedef struct attn__pairs {
    int64_t n;
    int64_t *src_off, *tgt_off; /* [n + 1] */
    int32_t *src, *tgt;
} attn__pairs_t;

void attn__pairs_free(attn__pairs_t *p);

/* Buffers of a padded batch, grown as needed. */
typedef struct attn__batch_buf {
    int32_t *src, *tgt_in, *tgt_out;
    int64_t *src_len, *tgt_len;
    int64_t cap_pairs, cap_src, cap_tgt;
} attn__batch_buf_t;

/* Pads pairs idx[0..count) into buf and describes them in out (T = longest target + 1). */
attn_status_t attn__pairs_batch(const attn__pairs_t *p, const int64_t *idx, int64_t count,
                                attn__batch_buf_t *buf, attn__s2s_batch_t *out);
void attn__batch_buf_free(attn__batch_buf_t *buf);

typedef struct attn__trainer_opts {
    attn__batching_opts_t batching;
    attn__adamw_opts_t adamw;
    attn__schedule_t schedule;
    float label_smoothing;
    double clip;   /* max global gradient norm; 0 = no clipping */
    uint64_t seed; /* dropout */
} attn__trainer_opts_t;

typedef struct attn__trainer {
    attn__s2s_t *model;
    const attn__pairs_t *data;
    attn__trainer_opts_t opts;
    attn__batcher_t batcher;
    attn__adamw_t adamw;
    attn__arena_t arena;
    attn__batch_buf_t buf;
    int64_t step;    /* updates done */
    int64_t skipped; /* batches whose gradient norm was not finite: no update was made */
    /* the last step */
    double loss, grad_norm, lr;
    int64_t tokens, correct, pairs;
} attn__trainer_t;

attn_status_t attn__trainer_init(attn__trainer_t *tr, attn__s2s_t *model,
                                 const attn__pairs_t *data, attn__trainer_opts_t opts);
void attn__trainer_free(attn__trainer_t *tr);
/* One update on the next batch. */
attn_status_t attn__trainer_step(attn__trainer_t *tr);

/* Teacher-forced loss over a whole set (eval mode, no dropout, no update): mean loss per
 * target token (</s> included) without smoothing, and the token accuracy. */
attn_status_t attn__s2s_eval_loss(attn__s2s_t *model, const attn__pairs_t *data,
                                  int64_t max_tokens, attn__arena_t *arena, double *loss,
                                  double *accuracy);

#endif
