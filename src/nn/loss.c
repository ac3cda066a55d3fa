/* Softmax cross-entropy with ignore_index and label smoothing: forward and backward. */
#include "nn/loss.h"
#include "core/runtime.h"

#include <math.h>

/* Rows are summed in at most XENT_BLOCKS contiguous blocks fixed by N alone; the block sums
 * are then added in block order. */
enum { XENT_BLOCKS = 64, XENT_BACKWARD_ROWS = 8 };

attn__xent_opts_t attn__xent_default_opts(void) {
    attn__xent_opts_t o;
    o.ignore_index = -100;
    o.label_smoothing = 0.0f;
    return o;
}

static attn_status_t check_args(const float *logits, const int32_t *targets, int64_t N,
                                int64_t V, attn__xent_opts_t opts, const void *a, const void *b,
                                const char *what) {
    if (N > 0 && (!logits || !targets || !a || !b))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "cross-entropy %s: a required pointer is "
                          "NULL (logits, targets, lse, and the %s)", what,
                          what[0] == 'f' ? "result" : "result and dlogits");
    if (N < 0 || V < 1)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "cross-entropy %s: N = %lld rows of V = %lld "
                          "classes; N must be >= 0 and V >= 1", what, (long long)N,
                          (long long)V);
    if (!(opts.label_smoothing >= 0.0f && opts.label_smoothing <= 1.0f))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cross-entropy %s: label_smoothing is %g; "
                          "it must be in [0, 1]", what, (double)opts.label_smoothing);
    for (int64_t n = 0; n < N; n++) {
        int32_t t = targets[n];
        if (t != opts.ignore_index && (t < 0 || t >= V))
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cross-entropy %s: target %ld of row "
                              "%lld is outside the %lld classes [0, %lld) and is not "
                              "ignore_index (%ld)", what, (long)t, (long long)n, (long long)V,
                              (long long)V, (long)opts.ignore_index);
    }
    return ATTN_STATUS_OK;
}

typedef struct {
    const float *logits;
    const int32_t *targets;
    int64_t N, V, nblocks;
    attn__xent_opts_t opts;
    float *lse;
    double sum[XENT_BLOCKS];
    int64_t count[XENT_BLOCKS], correct[XENT_BLOCKS];
} xent_fwd_job;

static void xent_forward_block(void *ctx, int64_t blk, int thread) {
    (void)thread;
    xent_fwd_job *J = ctx;
    const int64_t V = J->V, n0 = blk * J->N / J->nblocks, n1 = (blk + 1) * J->N / J->nblocks;
    const double eps = J->opts.label_smoothing;
    double sum = 0.0;
    int64_t count = 0, correct = 0;
    for (int64_t n = n0; n < n1; n++) {
        const int32_t t = J->targets[n];
        if (t == J->opts.ignore_index) {
            J->lse[n] = 0.0f;
            continue;
        }
        const float *x = J->logits + n * V;
        float mx = x[0];
        int64_t arg = 0;
        for (int64_t j = 1; j < V; j++)
            if (x[j] > mx) { mx = x[j]; arg = j; }
        double se = 0.0, sx = 0.0;
        for (int64_t j = 0; j < V; j++) {
            se += (double)expf(x[j] - mx);
            sx += (double)x[j];
        }
        const double l = (double)mx + log(se);
        J->lse[n] = (float)l;
        const double nll = l - (double)x[t], smooth = l - sx / (double)V;
        sum += (1.0 - eps) * nll + eps * smooth;
        count++;
        correct += arg == t;
    }
    J->sum[blk] = sum;
    J->count[blk] = count;
    J->correct[blk] = correct;
}

/* logits [N, V], targets [N] -> res, lse [N] */
attn_status_t attn__xent_forward(const float *logits, const int32_t *targets, int64_t N,
                                 int64_t V, attn__xent_opts_t opts, float *lse,
                                 attn__xent_t *res) {
    if (!res) return attn__fail(ATTN_STATUS_NULL_POINTER, "cross-entropy forward: res is NULL");
    attn_status_t st = check_args(logits, targets, N, V, opts, lse, res, "forward");
    if (st != ATTN_STATUS_OK) return st;
    xent_fwd_job J;
    J.logits = logits;
    J.targets = targets;
    J.N = N;
    J.V = V;
    J.nblocks = N < XENT_BLOCKS ? N : XENT_BLOCKS;
    J.opts = opts;
    J.lse = lse;
    attn__parallel_for(J.nblocks, attn__threads_for(J.nblocks, 20.0 * (double)N * (double)V),
                       xent_forward_block, &J);
    res->sum = 0.0;
    res->count = 0;
    res->correct = 0;
    for (int64_t b = 0; b < J.nblocks; b++) {
        res->sum += J.sum[b];
        res->count += J.count[b];
        res->correct += J.correct[b];
    }
    res->loss = res->count > 0 ? res->sum / (double)res->count : 0.0;
    return ATTN_STATUS_OK;
}

typedef struct {
    const float *logits;
    const int32_t *targets;
    int64_t N, V;
    attn__xent_opts_t opts;
    const float *lse;
    float scale;
    float *dlogits;
} xent_bwd_job;

static void xent_backward_rows(void *ctx, int64_t item, int thread) {
    (void)thread;
    const xent_bwd_job *J = ctx;
    const int64_t V = J->V, n0 = item * XENT_BACKWARD_ROWS;
    const int64_t n1 = n0 + XENT_BACKWARD_ROWS < J->N ? n0 + XENT_BACKWARD_ROWS : J->N;
    const float off = (float)((double)J->opts.label_smoothing / (double)V);
    const float on = (float)(1.0 - (double)J->opts.label_smoothing +
                             (double)J->opts.label_smoothing / (double)V);
    const float scale = J->scale;
    for (int64_t n = n0; n < n1; n++) {
        const int32_t t = J->targets[n];
        if (t == J->opts.ignore_index) continue;
        const float *x = J->logits + n * V;
        const float l = J->lse[n];
        float *d = J->dlogits + n * V;
        for (int64_t j = 0; j < V; j++) d[j] += (expf(x[j] - l) - (j == t ? on : off)) * scale;
    }
}

/* logits [N, V], targets [N], lse [N] -> dlogits [N, V] += (softmax - q) * dloss / count */
attn_status_t attn__xent_backward(const float *logits, const int32_t *targets, int64_t N,
                                  int64_t V, attn__xent_opts_t opts, const float *lse,
                                  const attn__xent_t *res, float dloss, float *dlogits) {
    if (!res || (N > 0 && !dlogits))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "cross-entropy backward: res and dlogits "
                          "are required");
    attn_status_t st = check_args(logits, targets, N, V, opts, lse, dlogits, "backward");
    if (st != ATTN_STATUS_OK) return st;
    if (res->count < 0 || res->count > N)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cross-entropy backward: res->count is "
                          "%lld for %lld rows; pass the forward's result", (long long)res->count,
                          (long long)N);
    if (res->count == 0) return ATTN_STATUS_OK;
    xent_bwd_job J;
    J.logits = logits;
    J.targets = targets;
    J.N = N;
    J.V = V;
    J.opts = opts;
    J.lse = lse;
    J.scale = (float)((double)dloss / (double)res->count);
    J.dlogits = dlogits;
    const int64_t items = (N + XENT_BACKWARD_ROWS - 1) / XENT_BACKWARD_ROWS;
    attn__parallel_for(items, attn__threads_for(items, 20.0 * (double)N * (double)V), xent_backward_rows,
                       &J);
    return ATTN_STATUS_OK;
}
