/* Training resumes exactly: 40 steps straight, against 20 steps, a checkpoint (weights, AdamW
 * moments and step, the batcher's epoch and position, the trainer's step in the metadata),
 * a fresh process state loaded from it, and 20 more steps. The loss curves must be identical
 * bit for bit, and so must the final weights. */
#define _POSIX_C_SOURCE 200809L
#include "io/checkpoint.h"
#include "models/config.h"
#include "models/train.h"
#include "check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


enum { NP = 64, SV = 12, TV = 10, STEPS = 40, HALF = 20 };

static void make_pairs(attn__pairs_t *p) {
    p->n = NP;
    p->src_off = malloc(sizeof(int64_t) * (NP + 1));
    p->tgt_off = malloc(sizeof(int64_t) * (NP + 1));
    p->src = malloc(sizeof(int32_t) * NP * 10);
    p->tgt = malloc(sizeof(int32_t) * NP * 10);
    uint32_t x = 777;
    p->src_off[0] = p->tgt_off[0] = 0;
    for (int i = 0; i < NP; i++) {
        int s = 2 + i % 7, t = 1 + (i * 5) % 6;
        for (int j = 0; j < s; j++) {
            x = x * 1664525u + 1013904223u;
            p->src[p->src_off[i] + j] = 4 + (int32_t)(x >> 24) % (SV - 4);
        }
        for (int j = 0; j < t; j++) p->tgt[p->tgt_off[i] + j] = 4 + (i + j) % (TV - 4);
        p->src_off[i + 1] = p->src_off[i] + s;
        p->tgt_off[i + 1] = p->tgt_off[i] + t;
    }
}

static attn__trainer_opts_t opts(void) {
    attn__trainer_opts_t o;
    memset(&o, 0, sizeof o);
    o.batching = attn__batching_default_opts();
    o.batching.max_tokens = 48; /* several batches per epoch: the resume crosses an epoch */
    o.batching.seed = 3;
    o.adamw = attn__adamw_default_opts();
    o.schedule.kind = ATTN__LR_INV_SQRT;
    o.schedule.lr = 2e-3;
    o.schedule.warmup = 8;
    o.label_smoothing = 0.1f;
    o.clip = 1.0;
    o.seed = 17;
    return o;
}

static void run(const char *kind, const attn__pairs_t *p) {
    attn__s2s_config_t c = attn__s2s_default_config(kind);
    c.src_vocab = SV; c.tgt_vocab = TV; c.d_model = 16; c.heads = 2; c.ff = 32; c.hidden = 8;
    c.enc_layers = 1; c.dec_layers = 1; c.dropout = 0.2f; c.max_len = 10;
    double straight[STEPS], resumed[STEPS];
    attn__s2s_t *a, *b;
    attn__trainer_t ta, tb;
    CHECK(attn__s2s_create(&c, 5, &a) == ATTN_STATUS_OK, "%s: %s", kind, attn_last_error());
    CHECK(attn__trainer_init(&ta, a, p, opts()) == ATTN_STATUS_OK, "%s", attn_last_error());
    for (int s = 0; s < STEPS; s++) {
        CHECK(attn__trainer_step(&ta) == ATTN_STATUS_OK, "%s", attn_last_error());
        straight[s] = ta.loss;
    }

    /* the interrupted run: HALF steps, save, throw everything away */
    char path[] = "/tmp/attn-resume-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    {
        attn__s2s_t *m;
        attn__trainer_t t;
        attn__s2s_create(&c, 5, &m);
        attn__trainer_init(&t, m, p, opts());
        for (int s = 0; s < HALF; s++) {
            attn__trainer_step(&t);
            resumed[s] = t.loss;
        }
        char step[32], epoch[32], pos[32];
        snprintf(step, sizeof step, "%" PRId64, t.step);
        snprintf(epoch, sizeof epoch, "%" PRId64, t.batcher.epoch);
        snprintf(pos, sizeof pos, "%" PRId64, t.batcher.position);
        attn__st_meta_t meta[3] = {{"trainer.step", step}, {"trainer.epoch", epoch},
                                   {"trainer.position", pos}};
        attn__ckpt_optim_t opt = {t.adamw.m, t.adamw.v, t.adamw.step};
        CHECK(attn__ckpt_save(path, &m->params, &opt, meta, 3) == ATTN_STATUS_OK, "save: %s",
              attn_last_error());
        attn__trainer_free(&t);
        attn__s2s_destroy(m);
    }
    /* resume into a new model built from another seed: everything must come from the file */
    CHECK(attn__s2s_create(&c, 999, &b) == ATTN_STATUS_OK, "create");
    CHECK(attn__trainer_init(&tb, b, p, opts()) == ATTN_STATUS_OK, "trainer");
    attn__ckpt_optim_t opt = {tb.adamw.m, tb.adamw.v, 0};
    attn__ckpt_meta_t meta;
    CHECK(attn__ckpt_load(path, &b->params, &opt, &meta) == ATTN_STATUS_OK, "load: %s",
          attn_last_error());
    unlink(path);
    tb.adamw.step = opt.step;
    tb.step = strtoll(attn__ckpt_meta_get(&meta, "trainer.step"), NULL, 10);
    CHECK(attn__batcher_seek(&tb.batcher, strtoll(attn__ckpt_meta_get(&meta, "trainer.epoch"), NULL, 10),
                             strtoll(attn__ckpt_meta_get(&meta, "trainer.position"), NULL, 10)) ==
              ATTN_STATUS_OK, "seek: %s", attn_last_error());
    attn__ckpt_meta_free(&meta);
    for (int s = HALF; s < STEPS; s++) {
        CHECK(attn__trainer_step(&tb) == ATTN_STATUS_OK, "%s", attn_last_error());
        resumed[s] = tb.loss;
    }
    int same = memcmp(straight, resumed, sizeof straight) == 0;
    CHECK(same, "%s: the resumed loss curve differs", kind);
    if (!same)
        for (int s = 0; s < STEPS; s++)
            if (straight[s] != resumed[s]) {
                printf("  first difference at step %d: %.9g vs %.9g\n", s + 1, straight[s],
                       resumed[s]);
                break;
            }
    CHECK(memcmp(a->params.w, b->params.w, sizeof(float) * (size_t)a->params.total) == 0,
          "%s: final weights differ", kind);
    CHECK(ta.batcher.epoch >= 1, "%s: the run should cross an epoch (epoch %lld)", kind,
          (long long)ta.batcher.epoch);
    printf("%s: %d steps, loss %.4f -> %.4f, resumed at step %d: identical\n", kind, STEPS,
           straight[0], straight[STEPS - 1], HALF);
    attn__trainer_free(&ta);
    attn__trainer_free(&tb);
    attn__s2s_destroy(a);
    attn__s2s_destroy(b);
}

int main(void) {
    attn__pairs_t p;
    make_pairs(&p);
    run("transformer", &p);
    run("rnn-attention", &p);
    attn__pairs_free(&p);
    return check_report("test_resume");
}
