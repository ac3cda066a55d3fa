#include "models/train.h"
#include "core/status.h"
#include "g2p/vocab.h"
#include "train/clip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void attn__pairs_free(attn__pairs_t *p) {
    free(p->src_off);
    free(p->tgt_off);
    free(p->src);
    free(p->tgt);
    memset(p, 0, sizeof *p);
}

void attn__batch_buf_free(attn__batch_buf_t *b) {
    free(b->src); free(b->tgt_in); free(b->tgt_out); free(b->src_len); free(b->tgt_len);
    memset(b, 0, sizeof *b);
}

static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return 0;
    void *q = realloc(*p, elem * (size_t)need);
    if (!q) return -1;
    *p = q;
    *cap = need;
    return 0;
}

attn_status_t attn__pairs_batch(const attn__pairs_t *p, const int64_t *idx, int64_t count,
                                attn__batch_buf_t *buf, attn__s2s_batch_t *out) {
    int64_t S = 1, T = 1;
    for (int64_t i = 0; i < count; i++) {
        int64_t k = idx[i];
        if (k < 0 || k >= p->n)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "pair %lld of %lld", (long long)k,
                              (long long)p->n);
        int64_t s = p->src_off[k + 1] - p->src_off[k], t = p->tgt_off[k + 1] - p->tgt_off[k] + 1;
        if (s < 1)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "pair %lld has an empty source",
                              (long long)k);
        S = s > S ? s : S;
        T = t > T ? t : T;
    }
    int64_t cp = buf->cap_pairs, cs = buf->cap_src, ct = buf->cap_tgt, ct2 = ct;
    if (grow((void **)&buf->src_len, &cp, count, sizeof(int64_t)) ||
        grow((void **)&buf->tgt_len, &buf->cap_pairs, count, sizeof(int64_t)) ||
        grow((void **)&buf->src, &cs, count * S, sizeof(int32_t)) ||
        grow((void **)&buf->tgt_in, &ct, count * T, sizeof(int32_t)) ||
        grow((void **)&buf->tgt_out, &ct2, count * T, sizeof(int32_t)))
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot allocate a batch");
    buf->cap_src = cs;
    buf->cap_tgt = ct < ct2 ? ct : ct2;
    for (int64_t i = 0; i < count; i++) {
        int64_t k = idx[i];
        int64_t s = p->src_off[k + 1] - p->src_off[k], n = p->tgt_off[k + 1] - p->tgt_off[k];
        int32_t *src = buf->src + i * S, *tin = buf->tgt_in + i * T, *tout = buf->tgt_out + i * T;
        memcpy(src, p->src + p->src_off[k], sizeof(int32_t) * (size_t)s);
        for (int64_t j = s; j < S; j++) src[j] = ATTN__TOK_PAD;
        tin[0] = ATTN__TOK_BOS;
        memcpy(tin + 1, p->tgt + p->tgt_off[k], sizeof(int32_t) * (size_t)n);
        memcpy(tout, p->tgt + p->tgt_off[k], sizeof(int32_t) * (size_t)n);
        tout[n] = ATTN__TOK_EOS;
        for (int64_t j = n + 1; j < T; j++) tin[j] = tout[j] = ATTN__TOK_PAD;
        buf->src_len[i] = s;
        buf->tgt_len[i] = n + 1;
    }
    out->B = count;
    out->S = S;
    out->T = T;
    out->src = buf->src;
    out->src_len = buf->src_len;
    out->tgt_in = buf->tgt_in;
    out->tgt_out = buf->tgt_out;
    out->tgt_len = buf->tgt_len;
    return ATTN_STATUS_OK;
}

attn_status_t attn__trainer_init(attn__trainer_t *tr, attn__s2s_t *model,
                                 const attn__pairs_t *data, attn__trainer_opts_t opts) {
    memset(tr, 0, sizeof *tr);
    tr->model = model;
    tr->data = data;
    tr->opts = opts;
    attn_status_t st = attn__schedule_check(&opts.schedule);
    if (st != ATTN_STATUS_OK) return st;
    int64_t *sl = malloc(sizeof *sl * (size_t)(data->n ? data->n : 1));
    int64_t *tl = malloc(sizeof *tl * (size_t)(data->n ? data->n : 1));
    if (!sl || !tl) {
        free(sl);
        free(tl);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "trainer: out of memory");
    }
    for (int64_t i = 0; i < data->n; i++) {
        sl[i] = data->src_off[i + 1] - data->src_off[i];
        tl[i] = data->tgt_off[i + 1] - data->tgt_off[i] + 1; /* with </s> */
    }
    st = attn__batcher_init(&tr->batcher, data->n, sl, tl, opts.batching);
    free(sl);
    free(tl);
    if (st != ATTN_STATUS_OK) return st;
    st = attn__adamw_init(&tr->adamw, &model->params, opts.adamw);
    if (st == ATTN_STATUS_OK)
        st = attn__adamw_exclude_decay(&tr->adamw, &model->params,
                                       attn__adamw_no_decay_default, NULL, NULL);
    if (st != ATTN_STATUS_OK) {
        attn__batcher_free(&tr->batcher);
        attn__adamw_free(&tr->adamw);
        return st;
    }
    attn__arena_init(&tr->arena, 0);
    return ATTN_STATUS_OK;
}

void attn__trainer_free(attn__trainer_t *tr) {
    attn__batcher_free(&tr->batcher);
    attn__adamw_free(&tr->adamw);
    attn__arena_free(&tr->arena);
    attn__batch_buf_free(&tr->buf);
}

attn_status_t attn__trainer_step(attn__trainer_t *tr) {
    attn__s2s_t *m = tr->model;
    attn__batch_t bt;
    attn__s2s_batch_t batch;
    attn_status_t st = attn__batcher_next(&tr->batcher, &bt);
    if (st != ATTN_STATUS_OK) return st;
    if ((st = attn__pairs_batch(tr->data, bt.idx, bt.count, &tr->buf, &batch)) != ATTN_STATUS_OK)
        return st;
    attn__arena_reset(&tr->arena);
    attn__params_zero_grad(&m->params);
    /* dropout masks are a function of (seed, step): a resumed run draws the same ones */
    attn__mode_t mode = {1, attn__hash_u64(tr->opts.seed, 0x747261696eull, (uint64_t)tr->step)};
    float *logits = NULL;
    if ((st = m->ops->forward(m, &batch, mode, &tr->arena, &logits)) != ATTN_STATUS_OK) return st;
    const int64_t N = batch.B * batch.T, V = m->tgt_vocab;
    attn__xent_opts_t xo = attn__xent_default_opts();
    xo.ignore_index = ATTN__TOK_PAD;
    xo.label_smoothing = tr->opts.label_smoothing;
    float *lse = attn__arena_alloc(&tr->arena, (size_t)N);
    float *dlogits = attn__arena_zeros(&tr->arena, (size_t)(N * V));
    if (!lse || !dlogits) return ATTN_STATUS_OUT_OF_MEMORY;
    attn__xent_t res;
    if ((st = attn__xent_forward(logits, batch.tgt_out, N, V, xo, lse, &res)) != ATTN_STATUS_OK)
        return st;
    if ((st = attn__xent_backward(logits, batch.tgt_out, N, V, xo, lse, &res, 1.0f, dlogits)))
        return st;
    if ((st = m->ops->backward(m, &batch, mode, dlogits, &tr->arena)) != ATTN_STATUS_OK)
        return st;
    double norm = 0.0;
    st = tr->opts.clip > 0 ? attn__clip_grad_norm(&m->params, tr->opts.clip, &norm)
                           : attn__grad_norm(&m->params, &norm);
    if (st != ATTN_STATUS_OK) return st;
    if (!isfinite(norm)) {
        /* an overflowing batch: skip the update rather than poison AdamW's moments */
        tr->skipped++;
        tr->loss = res.loss;
        tr->grad_norm = norm;
        tr->tokens = res.count;
        tr->correct = res.correct;
        tr->pairs = bt.count;
        return ATTN_STATUS_OK;
    }
    double lr = attn__schedule_lr(&tr->opts.schedule, tr->step + 1);
    if ((st = attn__adamw_step(&tr->adamw, &m->params, lr)) != ATTN_STATUS_OK) return st;
    tr->step++;
    tr->loss = res.loss;
    tr->grad_norm = norm;
    tr->lr = lr;
    tr->tokens = res.count;
    tr->correct = res.correct;
    tr->pairs = bt.count;
    return ATTN_STATUS_OK;
}

attn_status_t attn__s2s_eval_loss(attn__s2s_t *m, const attn__pairs_t *data,
                                  int64_t max_tokens, attn__arena_t *arena, double *loss,
                                  double *accuracy) {
    attn__batch_buf_t buf = {0};
    attn__mode_t mode = {0, 0};
    attn__xent_opts_t xo = attn__xent_default_opts();
    xo.ignore_index = ATTN__TOK_PAD;
    double sum = 0.0;
    int64_t count = 0, correct = 0;
    attn_status_t st = ATTN_STATUS_OK;
    int64_t *idx = malloc(sizeof *idx * (size_t)(data->n ? data->n : 1));
    if (!idx) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "evaluation: out of memory");
    for (int64_t i = 0; i < data->n; i++) idx[i] = i;
    /* consecutive pairs in file order, at most max_tokens padded target tokens a batch */
    for (int64_t i0 = 0; i0 < data->n && st == ATTN_STATUS_OK;) {
        int64_t i1 = i0, longest = 1;
        while (i1 < data->n) {
            int64_t t = data->tgt_off[i1 + 1] - data->tgt_off[i1] + 1;
            int64_t s = data->src_off[i1 + 1] - data->src_off[i1];
            int64_t l = t > s ? t : s;
            if (i1 > i0 && (i1 - i0 + 1) * (l > longest ? l : longest) > max_tokens) break;
            longest = l > longest ? l : longest;
            i1++;
        }
        attn__s2s_batch_t batch;
        float *logits = NULL, *lse;
        attn__xent_t res;
        attn__arena_reset(arena);
        if ((st = attn__pairs_batch(data, idx + i0, i1 - i0, &buf, &batch)) != ATTN_STATUS_OK ||
            (st = m->ops->forward(m, &batch, mode, arena, &logits)) != ATTN_STATUS_OK)
            break;
        if (!(lse = attn__arena_alloc(arena, (size_t)(batch.B * batch.T)))) {
            st = ATTN_STATUS_OUT_OF_MEMORY;
            break;
        }
        st = attn__xent_forward(logits, batch.tgt_out, batch.B * batch.T, m->tgt_vocab, xo, lse,
                                &res);
        sum += res.sum;
        count += res.count;
        correct += res.correct;
        i0 = i1;
    }
    free(idx);
    attn__batch_buf_free(&buf);
    if (st == ATTN_STATUS_OK) {
        *loss = count ? sum / (double)count : 0.0;
        *accuracy = count ? (double)correct / (double)count : 0.0;
    }
    return st;
}
