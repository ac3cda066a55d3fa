/* Length-bucketed batching: every pair exactly once per epoch, the token and sentence budgets,
 * batches of similar length, the same seed giving the same batches, resuming from
 * (epoch, position), and the error paths. */
#include "tcheck.h"
#include "train/batching.h"
#include "core/rng.h"

#include <stdlib.h>

enum { N = 1000 };
static int64_t src[N], tgt[N];

static int64_t size_of(int64_t i) {
    int64_t s = src[i] > tgt[i] ? src[i] : tgt[i];
    return s > 1 ? s : 1;
}

/* one epoch, from its first batch (the batcher is at its start or at the end of the epoch
 * before): checks the epoch's invariants and returns
 * the padded-tokens / real-tokens ratio */
static double check_epoch(attn__batcher_t *b, const attn__batching_opts_t *o, int64_t epoch) {
    int *seen = calloc(N, sizeof(int));
    double padded = 0.0, real = 0.0;
    int64_t nb = 1; /* known after the first batch, which may start the epoch */
    int budget_ok = 1, max_ok = 1, order_ok = 1;
    for (int64_t k = 0; k < nb; k++) {
        attn__batch_t bt;
        CHECK_OK(attn__batcher_next(b, &bt));
        if (k == 0) nb = b->nbatches;
        order_ok &= bt.epoch == epoch && bt.index == k && bt.count >= 1;
        int64_t ms = 0, mt = 0, longest = 0;
        for (int64_t j = 0; j < bt.count; j++) {
            const int64_t i = bt.idx[j];
            if (i < 0 || i >= N) { order_ok = 0; continue; }
            seen[i]++;
            ms = src[i] > ms ? src[i] : ms;
            mt = tgt[i] > mt ? tgt[i] : mt;
            longest = size_of(i) > longest ? size_of(i) : longest;
            real += (double)size_of(i);
        }
        max_ok &= ms == bt.max_src && mt == bt.max_tgt;
        if (o->max_tokens > 0) budget_ok &= bt.count * longest <= o->max_tokens;
        if (o->max_sentences > 0) budget_ok &= bt.count <= o->max_sentences;
        padded += (double)(bt.count * longest);
    }
    CHECK(order_ok, "epoch %lld: batches numbered 0 .. %lld in order", (long long)epoch,
          (long long)nb - 1);
    CHECK(max_ok, "epoch %lld: max_src and max_tgt are the batch's longest", (long long)epoch);
    CHECK(budget_ok, "epoch %lld: a batch exceeds max_tokens %lld or max_sentences %lld",
          (long long)epoch, (long long)o->max_tokens, (long long)o->max_sentences);
    int once = 1;
    for (int i = 0; i < N; i++) once &= seen[i] == 1;
    CHECK(once, "epoch %lld: every pair exactly once", (long long)epoch);
    CHECK(b->position == nb && b->epoch == epoch, "at the end of epoch %lld", (long long)epoch);
    free(seen);
    return padded / real;
}

/* FNV-1a over the next `count` batches (their epoch, index and pair indices) */
static uint64_t fingerprint(attn__batcher_t *b, int count) {
    uint64_t h = 1469598103934665603ull;
    for (int k = 0; k < count; k++) {
        attn__batch_t bt;
        CHECK_OK(attn__batcher_next(b, &bt));
        const int64_t head[3] = {bt.epoch, bt.index, bt.count};
        for (int j = 0; j < 3; j++) h = (h ^ (uint64_t)head[j]) * 1099511628211ull;
        for (int64_t j = 0; j < bt.count; j++) h = (h ^ (uint64_t)bt.idx[j]) * 1099511628211ull;
    }
    return h;
}

static void test_epochs(void) {
    tc_begin("epochs: coverage, budget, similar lengths");
    attn__batching_opts_t o = attn__batching_default_opts();
    o.max_tokens = 600;
    o.bucket_size = 200;
    o.seed = 5;
    attn__batcher_t b;
    CHECK_OK(attn__batcher_init(&b, N, src, tgt, o));
    for (int64_t e = 0; e < 3; e++) {
        double ratio = check_epoch(&b, &o, e);
        /* sorted buckets of 200: padding costs a few percent; random batches cost ~ 60% */
        CHECK(ratio < 1.15, "epoch %lld: padded / real tokens %.3f", (long long)e, ratio);
    }
    attn__batcher_free(&b);

    tc_begin("max_sentences alone, and both limits");
    o.max_tokens = 0;
    o.max_sentences = 7;
    CHECK_OK(attn__batcher_init(&b, N, src, tgt, o));
    check_epoch(&b, &o, 0);
    CHECK(b.nbatches >= N / 7 && b.nbatches <= N / 7 + 5, "%lld batches of at most 7",
          (long long)b.nbatches);
    attn__batcher_free(&b);
    o.max_tokens = 500;
    o.bucket_size = 0; /* one bucket: a full sort */
    CHECK_OK(attn__batcher_init(&b, N, src, tgt, o));
    check_epoch(&b, &o, 0);
    check_epoch(&b, &o, 1);
    attn__batcher_free(&b);
}

static void test_seeds_and_resume(void) {
    tc_begin("same seed, same batches; resume");
    attn__batching_opts_t o = attn__batching_default_opts();
    o.max_tokens = 700;
    o.bucket_size = 128;
    o.seed = 42;
    attn__batcher_t a, b, c;
    CHECK_OK(attn__batcher_init(&a, N, src, tgt, o));
    CHECK_OK(attn__batcher_init(&b, N, src, tgt, o));
    const int64_t nb0 = a.nbatches;
    CHECK(fingerprint(&a, 300) == fingerprint(&b, 300), "two batchers with one seed agree");
    o.seed = 43;
    CHECK_OK(attn__batcher_init(&c, N, src, tgt, o));
    CHECK_OK(attn__batcher_seek(&a, 0, 0));
    CHECK(fingerprint(&a, 20) != fingerprint(&c, 20), "another seed, other batches");
    attn__batcher_free(&c);
    /* epochs differ: epoch 1's first batches are not epoch 0's */
    CHECK_OK(attn__batcher_seek(&a, 0, 0));
    const uint64_t e0 = fingerprint(&a, 1);
    CHECK_OK(attn__batcher_seek(&a, 1, 0));
    const uint64_t e1 = fingerprint(&a, 1);
    CHECK(e0 != e1, "the batch order changes between epochs");

    /* resume mid-epoch: run a to some point, save (epoch, position), continue; a fresh
     * batcher sought there must produce the same batches, across the epoch boundary */
    CHECK_OK(attn__batcher_seek(&a, 0, 0));
    fingerprint(&a, (int)nb0 + 17); /* into epoch 1 */
    const int64_t ep = a.epoch, pos = a.position;
    CHECK(ep == 1 && pos == 17, "(epoch, position) = (%lld, %lld)", (long long)ep,
          (long long)pos);
    const uint64_t cont = fingerprint(&a, 2 * (int)nb0);
    attn__batcher_t r;
    o.seed = 42;
    CHECK_OK(attn__batcher_init(&r, N, src, tgt, o));
    CHECK_OK(attn__batcher_seek(&r, ep, pos));
    CHECK(fingerprint(&r, 2 * (int)nb0) == cont, "resumed batcher continues identically");
    /* resuming exactly at the end of an epoch goes on with the next one */
    CHECK_OK(attn__batcher_seek(&r, 2, 0));
    const int64_t nb2 = r.nbatches;
    CHECK_OK(attn__batcher_seek(&r, 1, 0));
    const uint64_t from_one = (fingerprint(&r, (int)r.nbatches), fingerprint(&r, 5));
    CHECK_OK(attn__batcher_seek(&b, 1, 0));
    const int64_t nb1 = b.nbatches;
    CHECK_OK(attn__batcher_seek(&b, 1, nb1));
    CHECK(fingerprint(&b, 5) == from_one && nb2 > 0, "seek to (1, nbatches) then next = epoch 2");
    /* seek errors leave the batcher where it was */
    CHECK_OK(attn__batcher_seek(&b, 3, 4));
    CHECK_FAILS(attn__batcher_seek(&b, 5, N + 1), ATTN_STATUS_BAD_ARGUMENT, "past the");
    CHECK(b.epoch == 3 && b.position == 4, "after a failed seek: (%lld, %lld)",
          (long long)b.epoch, (long long)b.position);
    CHECK_FAILS(attn__batcher_seek(&b, -1, 0), ATTN_STATUS_BAD_ARGUMENT, ">= 0");
    attn__batcher_free(&a);
    attn__batcher_free(&b);
    attn__batcher_free(&r);
}

static void test_errors(void) {
    tc_begin("batcher errors");
    attn__batching_opts_t o = attn__batching_default_opts();
    attn__batcher_t b;
    o.max_tokens = 50;
    CHECK_FAILS(attn__batcher_init(&b, N, src, tgt, o), ATTN_STATUS_BAD_ARGUMENT,
                "more than max_tokens = 50");
    o.max_tokens = 0;
    o.max_sentences = 0;
    CHECK_FAILS(attn__batcher_init(&b, N, src, tgt, o), ATTN_STATUS_BAD_ARGUMENT,
                "max_tokens or max_sentences must be set");
    o.max_tokens = 1000;
    const int64_t neg_src[2] = {3, -1}, ok_tgt[2] = {2, 2};
    CHECK_FAILS(attn__batcher_init(&b, 2, neg_src, ok_tgt, o), ATTN_STATUS_BAD_ARGUMENT,
                "pair 1 has lengths (-1, 2)");
    CHECK_FAILS(attn__batcher_init(&b, 0, src, tgt, o), ATTN_STATUS_BAD_SHAPE, "0 pairs");
    /* one pair: one batch per epoch, forever */
    CHECK_OK(attn__batcher_init(&b, 1, src, tgt, o));
    for (int k = 0; k < 3; k++) {
        attn__batch_t bt;
        CHECK_OK(attn__batcher_next(&b, &bt));
        CHECK(bt.count == 1 && bt.idx[0] == 0 && bt.epoch == k && bt.index == 0, "epoch %d", k);
    }
    attn__batcher_free(&b);
}

int main(void) {
    tc_start();
    attn__rng_t r;
    attn__rng_seed(&r, 2024);
    for (int i = 0; i < N; i++) {
        src[i] = 1 + (int64_t)attn__rng_below(&r, 80);
        tgt[i] = (int64_t)(0.8 * (double)src[i]) + (int64_t)attn__rng_below(&r, 12);
    }
    src[3] = 0; /* empty pairs count as one token */
    tgt[3] = 0;
    test_epochs();
    test_seeds_and_resume();
    test_errors();
    return tc_finish("test_batching");
}
