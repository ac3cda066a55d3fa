/* Length-bucketed, seeded, resumable batching (the plan is described in batching.h). */
#include "train/batching.h"
#include "core/rng.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

struct attn__batch_key {
    int64_t size, src, tgt, index;
};

attn__batching_opts_t attn__batching_default_opts(void) {
    attn__batching_opts_t o;
    o.max_tokens = 4096;
    o.max_sentences = 0;
    o.bucket_size = 4096;
    o.seed = 1;
    return o;
}

static int64_t pair_size(const attn__batcher_t *b, int64_t i) {
    int64_t s = b->src_len[i] > b->tgt_len[i] ? b->src_len[i] : b->tgt_len[i];
    return s > 1 ? s : 1;
}

/* a total order, so any sort gives the same result */
static int key_cmp(const void *pa, const void *pb) {
    const attn__batch_key_t *a = pa, *b = pb;
    if (a->size != b->size) return a->size < b->size ? -1 : 1;
    if (a->src != b->src) return a->src < b->src ? -1 : 1;
    if (a->tgt != b->tgt) return a->tgt < b->tgt ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static void shuffle(int64_t *x, int64_t n, attn__rng_t *r) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)attn__rng_below(r, (uint64_t)i + 1);
        int64_t t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

/* the plan of epoch e into order / start / perm / nbatches */
static void plan_epoch(attn__batcher_t *b, int64_t e) {
    const attn__batching_opts_t *o = &b->opts;
    attn__rng_t r;
    attn__rng_seed(&r, attn__hash_u64(o->seed, 0x62617463686573ull /* "batches" */,
                                      (uint64_t)e));
    for (int64_t i = 0; i < b->n; i++) b->order[i] = i;
    shuffle(b->order, b->n, &r);
    const int64_t bucket = o->bucket_size > 0 ? o->bucket_size : b->n;
    int64_t nb = 0;
    for (int64_t b0 = 0; b0 < b->n; b0 += bucket) {
        const int64_t b1 = b0 + bucket < b->n ? b0 + bucket : b->n;
        for (int64_t k = b0; k < b1; k++) {
            const int64_t i = b->order[k];
            attn__batch_key_t *key = &b->keys[k - b0];
            key->size = pair_size(b, i);
            key->src = b->src_len[i];
            key->tgt = b->tgt_len[i];
            key->index = i;
        }
        qsort(b->keys, (size_t)(b1 - b0), sizeof *b->keys, key_cmp);
        int64_t count = 0, longest = 0;
        for (int64_t k = b0; k < b1; k++) {
            const attn__batch_key_t *key = &b->keys[k - b0];
            const int64_t m = key->size > longest ? key->size : longest;
            const int tokens_full = o->max_tokens > 0 && (count + 1) * m > o->max_tokens;
            const int sentences_full = o->max_sentences > 0 && count + 1 > o->max_sentences;
            if (count > 0 && (tokens_full || sentences_full)) {
                b->start[++nb] = k;
                count = 0;
                longest = key->size;
            } else {
                longest = m;
            }
            if (count == 0 && k == b0) b->start[nb] = k;
            b->order[k] = key->index;
            count++;
        }
        b->start[++nb] = b1;
    }
    b->nbatches = nb;
    for (int64_t k = 0; k < nb; k++) b->perm[k] = k;
    shuffle(b->perm, nb, &r);
    b->epoch = e;
}

attn_status_t attn__batcher_init(attn__batcher_t *b, int64_t n, const int64_t *src_len,
                                 const int64_t *tgt_len, attn__batching_opts_t opts) {
    if (!b || !src_len || !tgt_len)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "batcher init: b, src_len and tgt_len are "
                          "required");
    memset(b, 0, sizeof *b);
    if (n < 1)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "batcher init: %lld pairs; at least 1 is "
                          "needed", (long long)n);
    if (opts.max_tokens < 0 || opts.max_sentences < 0 || opts.bucket_size < 0 ||
        (opts.max_tokens == 0 && opts.max_sentences == 0))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "batcher init: max_tokens %lld, "
                          "max_sentences %lld, bucket_size %lld; none may be negative and "
                          "max_tokens or max_sentences must be set", (long long)opts.max_tokens,
                          (long long)opts.max_sentences, (long long)opts.bucket_size);
    for (int64_t i = 0; i < n; i++) {
        const int64_t s = src_len[i] > tgt_len[i] ? src_len[i] : tgt_len[i];
        if (src_len[i] < 0 || tgt_len[i] < 0)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "batcher init: pair %lld has lengths "
                              "(%lld, %lld); lengths must be >= 0", (long long)i,
                              (long long)src_len[i], (long long)tgt_len[i]);
        if (opts.max_tokens > 0 && s > opts.max_tokens)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "batcher init: pair %lld has lengths "
                              "(%lld, %lld), more than max_tokens = %lld on its own; filter it "
                              "out or raise max_tokens", (long long)i, (long long)src_len[i],
                              (long long)tgt_len[i], (long long)opts.max_tokens);
    }
    const size_t nn = (size_t)n;
    b->src_len = malloc(sizeof(int64_t) * nn);
    b->tgt_len = malloc(sizeof(int64_t) * nn);
    b->order = malloc(sizeof(int64_t) * nn);
    b->start = malloc(sizeof(int64_t) * (nn + 1));
    b->perm = malloc(sizeof(int64_t) * nn);
    b->keys = malloc(sizeof(attn__batch_key_t) * nn);
    if (!b->src_len || !b->tgt_len || !b->order || !b->start || !b->perm || !b->keys) {
        attn__batcher_free(b);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "batcher init: cannot allocate the plan "
                          "for %lld pairs", (long long)n);
    }
    memcpy(b->src_len, src_len, sizeof(int64_t) * nn);
    memcpy(b->tgt_len, tgt_len, sizeof(int64_t) * nn);
    b->opts = opts;
    b->n = n;
    plan_epoch(b, 0);
    b->position = 0;
    return ATTN_STATUS_OK;
}

void attn__batcher_free(attn__batcher_t *b) {
    if (!b) return;
    free(b->src_len);
    free(b->tgt_len);
    free(b->order);
    free(b->start);
    free(b->perm);
    free(b->keys);
    memset(b, 0, sizeof *b);
}

attn_status_t attn__batcher_seek(attn__batcher_t *b, int64_t epoch, int64_t position) {
    if (!b || !b->order)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "batcher seek: the batcher is not "
                          "initialised");
    if (epoch < 0 || position < 0)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "batcher seek: epoch %lld, position %lld; "
                          "both must be >= 0", (long long)epoch, (long long)position);
    const int64_t old_epoch = b->epoch;
    if (epoch != b->epoch) plan_epoch(b, epoch);
    if (position > b->nbatches) {
        const int64_t nb = b->nbatches;
        if (old_epoch != epoch) plan_epoch(b, old_epoch); /* leave the batcher as it was */
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "batcher seek: position %lld is past the "
                          "%lld batches of epoch %lld", (long long)position, (long long)nb,
                          (long long)epoch);
    }
    b->position = position;
    return ATTN_STATUS_OK;
}

attn_status_t attn__batcher_next(attn__batcher_t *b, attn__batch_t *out) {
    if (!b || !b->order || !out)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "batcher next: an initialised batcher and "
                          "out are required");
    if (b->position >= b->nbatches) {
        plan_epoch(b, b->epoch + 1);
        b->position = 0;
    }
    const int64_t k = b->perm[b->position];
    out->idx = b->order + b->start[k];
    out->count = b->start[k + 1] - b->start[k];
    out->max_src = 0;
    out->max_tgt = 0;
    for (int64_t j = 0; j < out->count; j++) {
        const int64_t i = out->idx[j];
        if (b->src_len[i] > out->max_src) out->max_src = b->src_len[i];
        if (b->tgt_len[i] > out->max_tgt) out->max_tgt = b->tgt_len[i];
    }
    out->epoch = b->epoch;
    out->index = b->position;
    b->position++;
    return ATTN_STATUS_OK;
}
