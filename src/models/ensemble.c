#include "models/ensemble.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* log(exp(a) + exp(b)) without overflow; -inf when both are */
static inline float log_add_exp(float a, float b) {
    float hi = a > b ? a : b, lo = a > b ? b : a;
    if (hi == -INFINITY) return -INFINITY;
    return hi + log1pf(expf(lo - hi));
}

static attn_status_t ens_begin(void *ctx, int64_t rows) {
    attn__ensemble_t *e = ctx;
    int64_t need = rows * e->members[0].vocab;
    if (e->n > 1 && need > e->cap) {
        float *s = realloc(e->scratch, sizeof *s * (size_t)need);
        if (!s) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "ensemble: out of memory for %lld "
                                  "rows of %lld log-probabilities", (long long)rows,
                                  (long long)e->members[0].vocab);
        e->scratch = s;
        e->cap = need;
    }
    e->rows = rows;
    for (int32_t i = 0; i < e->n; i++) {
        attn_status_t st = e->members[i].begin(e->members[i].ctx, rows);
        if (st != ATTN_STATUS_OK) return st;
    }
    return ATTN_STATUS_OK;
}

static attn_status_t ens_step(void *ctx, int64_t t, const int32_t *prev, float *logp) {
    attn__ensemble_t *e = ctx;
    int64_t count = e->rows * e->members[0].vocab;
    attn_status_t st = e->members[0].step(e->members[0].ctx, t, prev, logp);
    for (int32_t i = 1; i < e->n && st == ATTN_STATUS_OK; i++) {
        st = e->members[i].step(e->members[i].ctx, t, prev, e->scratch);
        for (int64_t j = 0; st == ATTN_STATUS_OK && j < count; j++)
            logp[j] = log_add_exp(logp[j], e->scratch[j]);
    }
    if (st != ATTN_STATUS_OK || e->n == 1) return st;
    float log_n = logf((float)e->n);
    for (int64_t j = 0; j < count; j++) logp[j] -= log_n;
    return ATTN_STATUS_OK;
}

static attn_status_t ens_reorder(void *ctx, const int64_t *from) {
    attn__ensemble_t *e = ctx;
    for (int32_t i = 0; i < e->n; i++) {
        attn_status_t st = e->members[i].reorder(e->members[i].ctx, from);
        if (st != ATTN_STATUS_OK) return st;
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__ensemble_init(attn__ensemble_t *e, const attn__stepper_t *members, int32_t n,
                                  attn__stepper_t *out) {
    memset(e, 0, sizeof *e);
    if (!members || !out || n < 1)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "ensemble: %d members; give at least one",
                          (int)n);
    for (int32_t i = 1; i < n; i++)
        if (members[i].vocab != members[0].vocab || members[i].bos != members[0].bos ||
            members[i].eos != members[0].eos)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "ensemble: member %d has %lld target "
                              "tokens (<s> %d, </s> %d) but member 1 has %lld (<s> %d, </s> %d); "
                              "the members must share one target vocabulary", (int)i + 1,
                              (long long)members[i].vocab, (int)members[i].bos,
                              (int)members[i].eos, (long long)members[0].vocab,
                              (int)members[0].bos, (int)members[0].eos);
    e->members = malloc(sizeof *e->members * (size_t)n);
    if (!e->members) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "ensemble: out of memory");
    memcpy(e->members, members, sizeof *e->members * (size_t)n);
    e->n = n;
    *out = (attn__stepper_t){e, members[0].vocab, members[0].bos, members[0].eos,
                             ens_begin, ens_step, ens_reorder};
    return ATTN_STATUS_OK;
}

void attn__ensemble_free(attn__ensemble_t *e) {
    if (!e) return;
    free(e->members);
    free(e->scratch);
    memset(e, 0, sizeof *e);
}
