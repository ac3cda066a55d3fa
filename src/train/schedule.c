/* Learning-rate schedules (formulas in schedule.h). */
#include "train/schedule.h"
#include "core/status.h"

#include <math.h>
#include <stddef.h>

static const char *check(const attn__schedule_t *s) {
    if (!s) return "the schedule is NULL";
    if (!(s->lr >= 0.0) || !isfinite(s->lr)) return "lr must be finite and >= 0";
    switch (s->kind) {
    case ATTN__LR_CONSTANT: return NULL;
    case ATTN__LR_INV_SQRT:
        return s->warmup >= 1 ? NULL : "warmup must be >= 1 for the inverse square root";
    case ATTN__LR_NOAM:
        if (s->warmup < 1) return "warmup must be >= 1 for the Noam schedule";
        return s->d_model > 0.0 && isfinite(s->d_model) ? NULL : "d_model must be > 0";
    case ATTN__LR_WARMUP_COSINE:
        if (s->warmup < 0) return "warmup must be >= 0";
        if (s->total <= s->warmup) return "total must be greater than warmup";
        if (!(s->min_lr >= 0.0 && s->min_lr <= s->lr)) return "min_lr must be in [0, lr]";
        return NULL;
    }
    return "kind is not an attn__lr_kind_t";
}

attn_status_t attn__schedule_check(const attn__schedule_t *s) {
    const char *why = check(s);
    if (!why) return ATTN_STATUS_OK;
    return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "learning-rate schedule (kind %d): %s",
                      s ? (int)s->kind : -1, why);
}

double attn__schedule_lr(const attn__schedule_t *s, int64_t step) {
    if (check(s)) return NAN;
    const double st = (double)(step < 1 ? 1 : step), w = (double)s->warmup;
    switch (s->kind) {
    case ATTN__LR_CONSTANT: return s->lr;
    case ATTN__LR_INV_SQRT: return s->lr * fmin(st / w, sqrt(w / st));
    case ATTN__LR_NOAM:
        return s->lr * (1.0 / sqrt(s->d_model)) * fmin(1.0 / sqrt(st), st * pow(w, -1.5));
    case ATTN__LR_WARMUP_COSINE: {
        if (st <= w) return s->lr * st / w;
        if (step >= s->total) return s->min_lr;
        const double progress = (st - w) / ((double)s->total - w);
        const double pi = 3.14159265358979323846;
        return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(pi * progress));
    }
    }
    return NAN;
}
