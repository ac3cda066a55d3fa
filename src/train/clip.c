/* Global gradient-norm clipping over the parameter store. */
#include "train/clip.h"
#include "core/runtime.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    const attn__params_t *ps;
    double *sq; /* [count] sum of squares per tensor */
    float coef;
} clip_job;

static void tensor_sumsq(void *ctx, int64_t i, int thread) {
    (void)thread;
    clip_job *J = ctx;
    const float *g = attn__pg(J->ps, (int32_t)i);
    const int64_t n = J->ps->list[i].numel;
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) s += (double)g[k] * (double)g[k];
    J->sq[i] = s;
}

static void tensor_scale(void *ctx, int64_t i, int thread) {
    (void)thread;
    clip_job *J = ctx;
    float *g = attn__pg(J->ps, (int32_t)i);
    const int64_t n = J->ps->list[i].numel;
    for (int64_t k = 0; k < n; k++) g[k] *= J->coef;
}

attn_status_t attn__grad_norm(const attn__params_t *ps, double *norm) {
    if (!ps || !ps->g || !norm)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "gradient norm: an allocated parameter store "
                          "and norm are required");
    clip_job J;
    J.ps = ps;
    J.sq = malloc(sizeof(double) * (size_t)(ps->count > 0 ? ps->count : 1));
    if (!J.sq)
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "gradient norm: cannot allocate %d doubles",
                          (int)ps->count);
    attn__parallel_for(ps->count, attn__threads_for(ps->count, 2.0 * (double)ps->total), tensor_sumsq, &J);
    double total = 0.0;
    for (int32_t i = 0; i < ps->count; i++) total += J.sq[i];
    free(J.sq);
    *norm = sqrt(total);
    return ATTN_STATUS_OK;
}

attn_status_t attn__clip_grad_norm(attn__params_t *ps, double max_norm, double *norm) {
    if (!(max_norm > 0.0) || !isfinite(max_norm))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "gradient clipping: max_norm is %g; it must "
                          "be finite and > 0", max_norm);
    double total;
    attn_status_t st = attn__grad_norm(ps, &total);
    if (st != ATTN_STATUS_OK) return st;
    if (norm) *norm = total;
    if (!isfinite(total)) return ATTN_STATUS_OK;
    const double coef = max_norm / (total + 1e-6);
    if (coef < 1.0) {
        clip_job J;
        J.ps = ps;
        J.sq = NULL;
        J.coef = (float)coef;
        attn__parallel_for(ps->count, attn__threads_for(ps->count, (double)ps->total), tensor_scale, &J);
    }
    return ATTN_STATUS_OK;
}
