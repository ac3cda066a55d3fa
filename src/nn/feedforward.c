/* The feed-forward block: linear1 -> activation -> dropout -> linear2. */
#include "nn/feedforward.h"

#include <stdio.h>
#include <string.h>

attn_status_t attn__feedforward_init(attn__feedforward_t *ff, attn__params_t *ps,
                                     const char *prefix, int64_t e, int64_t f, attn__act_t act,
                                     float dropout) {
    if (!ff || !ps || !prefix)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "feedforward init: NULL argument");
    if (act != ATTN__ACT_RELU && act != ATTN__ACT_GELU && act != ATTN__ACT_GELU_TANH)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "feedforward '%s': unknown activation %d",
                          prefix, (int)act);
    char name[ATTN__PARAM_NAME];
    attn_status_t st;
    ff->e = e;
    ff->f = f;
    ff->act = act;
    snprintf(name, sizeof name, "%s.linear1", prefix);
    if ((st = attn__linear_init(&ff->linear1, ps, name, e, f, 1))) return st;
    snprintf(name, sizeof name, "%s.linear2", prefix);
    if ((st = attn__linear_init(&ff->linear2, ps, name, f, e, 1))) return st;
    snprintf(name, sizeof name, "%s.dropout", prefix);
    return attn__dropout_init(&ff->dropout, name, dropout);
}

attn_status_t attn__feedforward_reset(const attn__feedforward_t *ff, attn__params_t *ps,
                                      attn__rng_t *rng) {
    if (!ff) return attn__fail(ATTN_STATUS_NULL_POINTER, "feedforward reset: NULL layer");
    attn_status_t st = attn__linear_reset(&ff->linear1, ps, rng);
    return st ? st : attn__linear_reset(&ff->linear2, ps, rng);
}

/* forward: x [N, E] -> h = linear1(x) [N, F] -> a = dropout(act(h)) [N, F] -> y = linear2(a) */
attn_status_t attn__feedforward_forward(const attn__feedforward_t *ff, const attn__params_t *ps,
                                        attn__mode_t mode, int64_t n, const float *x, float *y,
                                        attn__feedforward_cache_t *cache, attn__arena_t *arena) {
    if (!ff || !cache || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "feedforward forward: NULL argument");
    if (n < 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "feedforward forward: N = %lld is negative",
                          (long long)n);
    size_t nf = (size_t)(n * ff->f);
    cache->h = attn__arena_alloc(arena, nf);
    cache->a = attn__arena_alloc(arena, nf);
    if (!cache->h || !cache->a) return ATTN_STATUS_OUT_OF_MEMORY;
    attn_status_t st;
    if ((st = attn__linear_forward(&ff->linear1, ps, n, x, cache->h))) return st;
    if ((st = attn__act_forward(ff->act, (int64_t)nf, cache->h, cache->a))) return st;
    if ((st = attn__dropout_forward(&ff->dropout, mode, (int64_t)nf, cache->a, cache->a)))
        return st;
    return attn__linear_forward(&ff->linear2, ps, n, cache->a, y);
}

/* backward: dy [N, E] -> da [N, F] -> d(act out) [N, F] -> dh [N, F] -> dx [N, E] += */
attn_status_t attn__feedforward_backward(const attn__feedforward_t *ff, attn__params_t *ps,
                                         attn__mode_t mode, int64_t n, const float *x,
                                         const attn__feedforward_cache_t *cache,
                                         const float *dy, float *dx, attn__arena_t *arena) {
    if (!ff || !cache || !arena)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "feedforward backward: NULL argument");
    if (n < 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "feedforward backward: N = %lld is negative",
                          (long long)n);
    size_t nf = (size_t)(n * ff->f);
    float *t1 = attn__arena_zeros(arena, nf), *t2 = attn__arena_alloc(arena, nf);
    if (!t1 || !t2) return ATTN_STATUS_OUT_OF_MEMORY;
    attn_status_t st;
    if ((st = attn__linear_backward(&ff->linear2, ps, n, cache->a, dy, t1))) return st;
    if ((st = attn__dropout_grad(&ff->dropout, mode, (int64_t)nf, t1, t2))) return st;
    memset(t1, 0, sizeof(float) * nf);
    if ((st = attn__act_backward(ff->act, (int64_t)nf, cache->h, t2, t1))) return st;
    return attn__linear_backward(&ff->linear1, ps, n, x, t1, dx);
}
