/* Internal: softmax cross-entropy over logits with integer targets, as
 * torch.nn.functional.cross_entropy(logits, targets, ignore_index=ii, label_smoothing=eps,
 * reduction="mean").
 *
 * For a row n whose target t_n is not ignore_index, with logp = log_softmax(logits[n, :]):
 *     nll_n    = -logp[t_n]
 *     smooth_n = -(1 / V) * sum_j logp[j]
 *     loss_n   = (1 - eps) * nll_n + eps * smooth_n
 * and loss = sum_n loss_n / count, count = the number of rows not ignored. This is PyTorch's
 * definition: the smoothed target puts 1 - eps + eps / V on t_n and eps / V on every class.
 * The gradient is dlogits[n, j] = (softmax[n, j] - q[n, j]) * dloss / count with
 * q[n, j] = (1 - eps) [j == t_n] + eps / V; ignored rows get exactly 0.
 * When every row is ignored, loss is 0 and the backward adds nothing (PyTorch returns NaN).
 *
 * Numerics: each row's log-sum-exp is max + log(sum exp(x - max)) with the exponentials in
 * float and their sum in double; per-row losses and the total are accumulated in double, over
 * fixed blocks of rows summed in order, so the result does not depend on the thread count. */
#ifndef ATTN_NN_LOSS_H
#define ATTN_NN_LOSS_H

#include "nn/nn.h"

typedef struct attn__xent_opts {
    int32_t ignore_index;  /* targets equal to it are skipped; default -100 (PyTorch's) */
    float label_smoothing; /* eps in [0, 1]; default 0 */
} attn__xent_opts_t;

attn__xent_opts_t attn__xent_default_opts(void);

typedef struct attn__xent {
    double loss;     /* sum / count (0 when count is 0) */
    double sum;      /* sum of loss_n over the rows not ignored */
    int64_t count;   /* rows not ignored */
    int64_t correct; /* rows not ignored whose argmax (first maximum) is the target */
} attn__xent_t;

/* Forward.  logits [N, V], targets [N] int32  ->  *res, and the cache lse [N] (float, the
 * log-sum-exp of each row; garbage for ignored rows) that the backward reads.
 * A target outside [0, V) that is not ignore_index is ATTN_STATUS_BAD_ARGUMENT naming the row,
 * the target and V (checked before anything is written). */
attn_status_t attn__xent_forward(const float *logits, const int32_t *targets, int64_t N,
                                 int64_t V, attn__xent_opts_t opts, float *lse,
                                 attn__xent_t *res);
/* Backward.  logits [N, V], targets [N], lse [N] (the forward's cache), the forward's result
 * (for count), dloss (the gradient of the mean loss, usually 1)  ->  dlogits [N, V] +=
 * (softmax - q) * dloss / count. dlogits must not overlap logits. */
attn_status_t attn__xent_backward(const float *logits, const int32_t *targets, int64_t N,
                                  int64_t V, attn__xent_opts_t opts, const float *lse,
                                  const attn__xent_t *res, float dloss, float *dlogits);

#endif
