/* AdamW over the flat parameter store (torch.optim.AdamW's single-tensor update). */
#include "train/adamw.h"
#include "core/runtime.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { ADAMW_SEGMENT = 8192 }; /* floats per work item */

attn__adamw_opts_t attn__adamw_default_opts(void) {
    attn__adamw_opts_t o;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    o.eps = 1e-8;
    o.weight_decay = 0.01;
    return o;
}

attn_status_t attn__adamw_init(attn__adamw_t *opt, const attn__params_t *ps,
                               attn__adamw_opts_t opts) {
    if (!opt || !ps || !ps->w || !ps->g)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "AdamW init: opt and an allocated parameter "
                          "store are required (call attn__params_alloc first)");
    memset(opt, 0, sizeof *opt);
    if (!(opts.beta1 >= 0.0 && opts.beta1 < 1.0) || !(opts.beta2 >= 0.0 && opts.beta2 < 1.0))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "AdamW: betas (%g, %g) must be in [0, 1)",
                          opts.beta1, opts.beta2);
    if (!(opts.eps >= 0.0 && isfinite(opts.eps)) ||
        !(opts.weight_decay >= 0.0 && isfinite(opts.weight_decay)))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "AdamW: eps %g and weight_decay %g must be "
                          "finite and >= 0", opts.eps, opts.weight_decay);
    int64_t nsegs = 0;
    for (int32_t i = 0; i < ps->count; i++)
        nsegs += (ps->list[i].numel + ADAMW_SEGMENT - 1) / ADAMW_SEGMENT;
    size_t bytes = sizeof(float) * (size_t)(ps->total > 0 ? ps->total : 1);
    opt->m = calloc(1, bytes);
    opt->v = calloc(1, bytes);
    opt->decay = malloc((size_t)(ps->count > 0 ? ps->count : 1));
    opt->segs = malloc(sizeof *opt->segs * (size_t)(nsegs > 0 ? nsegs : 1));
    if (!opt->m || !opt->v || !opt->decay || !opt->segs) {
        attn__adamw_free(opt);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "AdamW: cannot allocate the state for "
                          "%lld parameters", (long long)ps->total);
    }
    opt->opts = opts;
    opt->total = ps->total;
    opt->ntensors = ps->count;
    memset(opt->decay, 1, (size_t)ps->count);
    for (int32_t i = 0; i < ps->count; i++) {
        const attn__param_t *p = &ps->list[i];
        for (int64_t o = 0; o < p->numel; o += ADAMW_SEGMENT) {
            attn__adamw_segment_t *s = &opt->segs[opt->nsegs++];
            s->offset = p->offset + o;
            s->count = p->numel - o < ADAMW_SEGMENT ? p->numel - o : ADAMW_SEGMENT;
            s->tensor = i;
        }
    }
    return ATTN_STATUS_OK;
}

void attn__adamw_free(attn__adamw_t *opt) {
    if (!opt) return;
    free(opt->m);
    free(opt->v);
    free(opt->decay);
    free(opt->segs);
    memset(opt, 0, sizeof *opt);
}

static attn_status_t check_store(const attn__adamw_t *opt, const attn__params_t *ps,
                                 const char *what) {
    if (!opt || !ps || !opt->m)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "AdamW %s: opt (initialised) and ps are "
                          "required", what);
    if (!ps->w || !ps->g || ps->total != opt->total || ps->count != opt->ntensors)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "AdamW %s: the parameter store (%d tensors, "
                          "%lld floats) is not the one the optimiser was made for (%d tensors, "
                          "%lld floats)", what, (int)ps->count, (long long)ps->total,
                          (int)opt->ntensors, (long long)opt->total);
    return ATTN_STATUS_OK;
}

attn_status_t attn__adamw_exclude_decay(attn__adamw_t *opt, const attn__params_t *ps,
                                        attn__param_pred_fn no_decay, void *user,
                                        int32_t *excluded) {
    attn_status_t st = check_store(opt, ps, "exclude_decay");
    if (st != ATTN_STATUS_OK) return st;
    if (!no_decay)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "AdamW exclude_decay: the predicate is NULL");
    int32_t n = 0;
    for (int32_t i = 0; i < ps->count; i++)
        if (no_decay(&ps->list[i], user)) {
            opt->decay[i] = 0;
            n++;
        }
    if (excluded) *excluded = n;
    return ATTN_STATUS_OK;
}

int attn__adamw_no_decay_default(const attn__param_t *p, void *user) {
    (void)user;
    size_t len = strlen(p->name);
    return p->ndim == 1 || (len >= 5 && strcmp(p->name + len - 5, ".bias") == 0);
}

typedef struct {
    const attn__adamw_t *opt;
    float *w;
    const float *g;
    float keep_decay;  /* 1 - lr * wd, rounded to float */
    float b1, omb1, b2, omb2, bc2_sqrt, neg_step, eps;
} adamw_job;

static void adamw_segment(void *ctx, int64_t item, int thread) {
    (void)thread;
    const adamw_job *J = ctx;
    const attn__adamw_segment_t *s = &J->opt->segs[item];
    float *w = J->w + s->offset, *m = J->opt->m + s->offset, *v = J->opt->v + s->offset;
    const float *g = J->g + s->offset;
    const float keep = J->opt->decay[s->tensor] ? J->keep_decay : 1.0f;
    const float b1 = J->b1, omb1 = J->omb1, b2 = J->b2, omb2 = J->omb2;
    const float bc2 = J->bc2_sqrt, ns = J->neg_step, eps = J->eps;
    for (int64_t i = 0; i < s->count; i++) {
        /* PyTorch's CPU kernels: add_(alpha) and addcmul_ fuse their last multiply-add */
        float p = w[i] * keep;
        float mi = fmaf(g[i], omb1, m[i] * b1);
        float vi = fmaf(omb2 * g[i], g[i], v[i] * b2);
        float denom = sqrtf(vi) / bc2 + eps;
        w[i] = p + ns * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

attn_status_t attn__adamw_step(attn__adamw_t *opt, attn__params_t *ps, double lr) {
    attn_status_t st = check_store(opt, ps, "step");
    if (st != ATTN_STATUS_OK) return st;
    if (!(lr >= 0.0 && isfinite(lr)))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "AdamW step: learning rate %g must be "
                          "finite and >= 0", lr);
    const attn__adamw_opts_t *o = &opt->opts;
    const double step = (double)(opt->step + 1);
    const double bc1 = 1.0 - pow(o->beta1, step), bc2 = 1.0 - pow(o->beta2, step);
    adamw_job J;
    J.opt = opt;
    J.w = ps->w;
    J.g = ps->g;
    J.keep_decay = (float)(1.0 - lr * o->weight_decay);
    J.b1 = (float)o->beta1;
    J.omb1 = (float)(1.0 - o->beta1);
    J.b2 = (float)o->beta2;
    J.omb2 = (float)(1.0 - o->beta2);
    J.bc2_sqrt = (float)sqrt(bc2);
    J.neg_step = (float)(-(lr / bc1));
    J.eps = (float)o->eps;
    attn__parallel_for(opt->nsegs, attn__threads_for(opt->nsegs, 12.0 * (double)opt->total),
                       adamw_segment, &J);
    opt->step++;
    return ATTN_STATUS_OK;
}
