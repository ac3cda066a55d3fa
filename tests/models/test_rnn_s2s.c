/* The RNN encoder-decoders (with attention and without) end to end on a toy task, for several
 * cells and scores: the gradient against finite differences (every tensor, with dropout off,
 * and once with dropout on in training mode, where the masks are fixed by the seed),
 * overfitting a small set to near-zero loss with the shared training loop, reproducible loss
 * curves, decoding (incremental steps equal the teacher-forced pass; greedy and beam reproduce
 * the memorised targets), alignment maps that are distributions over the real source (or
 * UNSUPPORTED without attention), and the configurations the model refuses. */
#include "g2p/vocab.h"
#include "models/config.h"
#include "models/train.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


enum { NP = 12, SV = 12, TV = 10 };

typedef struct {
    const char *kind, *cell, *score;
    int64_t enc_layers;
} variant_t;

/* pairs: source = random letters (ids 4..11), target = a deterministic function of them */
static void make_pairs(attn__pairs_t *p) {
    p->n = NP;
    p->src_off = malloc(sizeof(int64_t) * (NP + 1));
    p->tgt_off = malloc(sizeof(int64_t) * (NP + 1));
    p->src = malloc(sizeof(int32_t) * NP * 8);
    p->tgt = malloc(sizeof(int32_t) * NP * 8);
    uint32_t x = 4242;
    p->src_off[0] = p->tgt_off[0] = 0;
    for (int i = 0; i < NP; i++) {
        int len = 2 + i % 5;
        for (int j = 0; j < len; j++) {
            x = x * 1103515245u + 12345u;
            p->src[p->src_off[i] + j] = 4 + (int32_t)((x >> 16) % 8);
        }
        p->src_off[i + 1] = p->src_off[i] + len;
        int tl = len - (i % 2); /* reversed, mapped into the target alphabet */
        for (int j = 0; j < tl; j++)
            p->tgt[p->tgt_off[i] + j] = 4 + (p->src[p->src_off[i] + len - 1 - j] - 4) % 6;
        p->tgt_off[i + 1] = p->tgt_off[i] + tl;
    }
}

static attn__s2s_config_t tiny(const variant_t *v) {
    attn__s2s_config_t c = attn__s2s_default_config(v->kind);
    c.src_vocab = SV;
    c.tgt_vocab = TV;
    c.d_model = 12;
    c.hidden = 12;
    c.enc_layers = v->enc_layers;
    c.dec_layers = 1;
    snprintf(c.cell, sizeof c.cell, "%s", v->cell);
    snprintf(c.score, sizeof c.score, "%s", v->score);
    c.dropout = 0.0f;
    c.max_len = 12;
    return c;
}

static double batch_loss(attn__s2s_t *m, const attn__s2s_batch_t *b, attn__mode_t mode,
                         attn__arena_t *ar) {
    float *logits;
    attn__arena_reset(ar);
    if (m->ops->forward(m, b, mode, ar, &logits) != ATTN_STATUS_OK) return NAN;
    attn__xent_opts_t xo = attn__xent_default_opts();
    xo.ignore_index = ATTN__TOK_PAD;
    float *lse = attn__arena_alloc(ar, (size_t)(b->B * b->T));
    attn__xent_t r;
    attn__xent_forward(logits, b->tgt_out, b->B * b->T, m->tgt_vocab, xo, lse, &r);
    return r.loss;
}

/* central differences on a spread of elements of every tensor */
static void test_gradient(const attn__pairs_t *p, const variant_t *v, float dropout) {
    attn__s2s_config_t c = tiny(v);
    c.dropout = dropout;
    attn__s2s_t *m;
    CHECK(attn__s2s_create(&c, 7, &m) == ATTN_STATUS_OK, "create: %s", attn_last_error());
    attn__batch_buf_t buf = {0};
    attn__s2s_batch_t b;
    int64_t idx[4] = {0, 3, 5, 8}; /* lengths differ on both sides: padding everywhere */
    CHECK(attn__pairs_batch(p, idx, 4, &buf, &b) == ATTN_STATUS_OK, "batch");
    attn__arena_t ar;
    attn__arena_init(&ar, 0);
    attn__mode_t mode = {dropout > 0.0f, 99};
    float *logits;
    attn__params_zero_grad(&m->params);
    CHECK(m->ops->forward(m, &b, mode, &ar, &logits) == ATTN_STATUS_OK, "forward: %s",
          attn_last_error());
    attn__xent_opts_t xo = attn__xent_default_opts();
    xo.ignore_index = ATTN__TOK_PAD;
    const int64_t N = b.B * b.T;
    float *lse = attn__arena_alloc(&ar, (size_t)N), *dl = attn__arena_zeros(&ar, (size_t)(N * TV));
    attn__xent_t r;
    attn__xent_forward(logits, b.tgt_out, N, TV, xo, lse, &r);
    attn__xent_backward(logits, b.tgt_out, N, TV, xo, lse, &r, 1.0f, dl);
    CHECK(m->ops->backward(m, &b, mode, dl, &ar) == ATTN_STATUS_OK, "backward: %s",
          attn_last_error());
    int tested = 0, bad = 0;
    for (int32_t id = 0; id < m->params.count; id++) {
        const attn__param_t *pp = &m->params.list[id];
        /* embeddings: rows the batch uses (a pseudo-random element may sit in an unused row) */
        int emb = strstr(pp->name, "embed") != NULL;
        for (int64_t k = 0; k < 8; k++) {
            int64_t e = (k * 7919 + id * 31) % pp->numel;
            if (emb) {
                int32_t tok = pp->name[0] == 's' ? b.src[k] : b.tgt_in[k + 1];
                e = tok * pp->shape[1] + (k * 5 + id) % pp->shape[1];
            }
            float *w = attn__pw(&m->params, id) + e, g = attn__pg(&m->params, id)[e], w0 = *w;
            const float eps = 1e-2f;
            *w = w0 + eps;
            double lp = batch_loss(m, &b, mode, &ar);
            *w = w0 - eps;
            double lm = batch_loss(m, &b, mode, &ar);
            *w = w0;
            double fd = (lp - lm) / (2.0 * eps);
            tested++;
            if (!(fabs(fd - g) <= 1e-3 + 1e-2 * fabs(fd))) {
                bad++;
                if (bad < 6) printf("  %s[%lld]: analytic %.6g, numeric %.6g\n", pp->name,
                                    (long long)e, (double)g, fd);
            }
        }
    }
    CHECK(bad == 0, "%s/%s/%s dropout %g: %d of %d parameter gradients disagree with finite "
          "differences", v->kind, v->cell, v->score, (double)dropout, bad, tested);
    attn__arena_free(&ar);
    attn__batch_buf_free(&buf);
    attn__s2s_destroy(m);
}

static double train(const attn__pairs_t *p, const variant_t *v, int steps, double *curve,
                    attn__s2s_t **keep) {
    attn__s2s_config_t c = tiny(v);
    c.dropout = 0.1f; /* exercised in training; the loss is measured in eval mode */
    attn__s2s_t *m;
    CHECK(attn__s2s_create(&c, 11, &m) == ATTN_STATUS_OK, "create: %s", attn_last_error());
    attn__trainer_opts_t o;
    memset(&o, 0, sizeof o);
    o.batching = attn__batching_default_opts();
    o.batching.max_tokens = 40;
    o.adamw = attn__adamw_default_opts();
    o.adamw.weight_decay = 0.0;
    o.schedule.kind = ATTN__LR_CONSTANT;
    o.schedule.lr = 1e-2;
    o.clip = 1.0;
    o.seed = 5;
    attn__trainer_t tr;
    CHECK(attn__trainer_init(&tr, m, p, o) == ATTN_STATUS_OK, "trainer: %s", attn_last_error());
    for (int s = 0; s < steps; s++) {
        if (attn__trainer_step(&tr) != ATTN_STATUS_OK) {
            CHECK(0, "step %d: %s", s, attn_last_error());
            break;
        }
        curve[s] = tr.loss;
    }
    double loss = NAN, acc;
    CHECK(attn__s2s_eval_loss(m, p, 100, &tr.arena, &loss, &acc) == ATTN_STATUS_OK, "eval");
    attn__trainer_free(&tr);
    if (keep) *keep = m;
    else attn__s2s_destroy(m);
    return loss;
}

static void test_train_and_decode(const attn__pairs_t *p, const variant_t *v) {
    enum { STEPS = 300 };
    static double c1[STEPS], c2[STEPS];
    const int att = !strcmp(v->kind, "rnn-attention");
    attn__s2s_t *m;
    double loss = train(p, v, STEPS, c1, &m);
    printf("%s/%s/%s: loss first step %.4f, last step %.4f, full set %.5f\n", v->kind, v->cell,
           att ? v->score : "-", c1[0], c1[STEPS - 1], loss);
    CHECK(loss < 0.05, "%s/%s did not overfit 12 pairs: loss %.4f", v->kind, v->cell, loss);
    train(p, v, 40, c2, NULL);
    CHECK(memcmp(c1, c2, sizeof(double) * 40) == 0, "same seed, different loss curve");

    /* decode every source; greedy and beam must give back the memorised targets */
    attn__batch_buf_t buf = {0};
    attn__s2s_batch_t b;
    int64_t idx[NP];
    for (int i = 0; i < NP; i++) idx[i] = i;
    attn__pairs_batch(p, idx, NP, &buf, &b);
    attn__stepper_t st = attn__s2s_stepper(m);
    attn__hyp_t g[NP], bm[NP * 2];
    memset(g, 0, sizeof g);
    memset(bm, 0, sizeof bm);
    CHECK(m->ops->encode(m, b.B, b.S, b.src, b.src_len) == ATTN_STATUS_OK, "encode");
    CHECK(attn__greedy(&st, NP, 12, NULL, g) == ATTN_STATUS_OK, "greedy: %s", attn_last_error());
    attn__beam_opts_t bo = {4, 2, 0.0f, 12, NULL};
    CHECK(attn__beam_search(&st, NP, bo, bm) == ATTN_STATUS_OK, "beam: %s", attn_last_error());
    int right_g = 0, right_b = 0;
    for (int i = 0; i < NP; i++) {
        int64_t n = p->tgt_off[i + 1] - p->tgt_off[i];
        const int32_t *want = p->tgt + p->tgt_off[i];
        right_g += g[i].len == n && !memcmp(g[i].tokens, want, sizeof(int32_t) * (size_t)n);
        right_b += bm[2 * i].len == n &&
                   !memcmp(bm[2 * i].tokens, want, sizeof(int32_t) * (size_t)n);
    }
    CHECK(right_g == NP, "%s/%s: greedy reproduced %d of %d targets", v->kind, v->cell, right_g,
          NP);
    CHECK(right_b == NP, "%s/%s: beam reproduced %d of %d targets", v->kind, v->cell, right_b,
          NP);

    /* incremental decoding equals the teacher-forced pass, for a pair in a padded batch of
     * three (its source shorter than the batch's) decoded as one row of three */
    attn__arena_t ar;
    attn__arena_init(&ar, 0);
    attn__s2s_batch_t tb;
    attn__batch_buf_t b3 = {0};
    int64_t three[3] = {0, 4, 7};
    attn__pairs_batch(p, three, 3, &b3, &tb);
    float *logits;
    attn__mode_t eval = {0, 0};
    CHECK(m->ops->forward(m, &tb, eval, &ar, &logits) == ATTN_STATUS_OK, "forward");
    CHECK(m->ops->encode(m, 3, tb.S, tb.src, tb.src_len) == ATTN_STATUS_OK, "encode three");
    CHECK(st.begin(m, 6) == ATTN_STATUS_OK, "begin"); /* K = 2 rows per source */
    /* rows 2k and 2k+1 read source k; row 2k+1 gets the right tokens and row 2k others, and
     * after every step both continue row 2k+1 */
    int64_t from[6] = {1, 1, 3, 3, 5, 5};
    float logp[6 * TV];
    double worst = 0;
    for (int64_t t = 0; t < tb.T; t++) {
        int32_t prev[6];
        for (int k = 0; k < 3; k++)
            prev[2 * k + 1] = tb.tgt_in[k * tb.T + t], prev[2 * k] = ATTN__TOK_EOS + 1 + k;
        CHECK(st.step(m, t, prev, logp) == ATTN_STATUS_OK, "step: %s", attn_last_error());
        for (int k = 0; k < 3; k++) {
            if (t >= tb.tgt_len[k]) continue;
            const float *z = logits + (k * tb.T + t) * TV;
            double mx = z[0], s = 0;
            for (int vv = 1; vv < TV; vv++) mx = z[vv] > mx ? z[vv] : mx;
            for (int vv = 0; vv < TV; vv++) s += exp(z[vv] - mx);
            for (int vv = ATTN__TOK_EOS; vv < TV; vv++) {
                double d = fabs((z[vv] - mx - log(s)) - logp[(2 * k + 1) * TV + vv]);
                worst = d > worst ? d : worst;
            }
        }
        CHECK(st.reorder(m, from) == ATTN_STATUS_OK, "reorder");
    }
    CHECK(worst < 1e-4, "%s/%s: incremental log-probs differ from the full pass by %.2e",
          v->kind, v->cell, worst);

    /* alignments: [1, 1, T, S], each row a distribution over the real source */
    attn__s2s_batch_t one;
    attn__batch_buf_t b1 = {0};
    int64_t four = 4;
    attn__pairs_batch(p, &four, 1, &b1, &one);
    float *maps = NULL;
    int32_t L = 0, H = 0;
    attn_status_t as = m->ops->alignments(m, &one, &ar, &maps, &L, &H);
    if (att) {
        CHECK(as == ATTN_STATUS_OK, "alignments: %s", attn_last_error());
        CHECK(L == 1 && H == 1, "maps of %d layers x %d heads", L, H);
        for (int64_t r = 0; as == ATTN_STATUS_OK && r < one.T; r++) {
            double s = 0;
            for (int64_t j = 0; j < one.S; j++) s += maps[r * one.S + j];
            CHECK(fabs(s - 1.0) < 1e-5, "alignment row %lld sums to %g", (long long)r, s);
        }
        /* and a batch of two is refused */
        CHECK(m->ops->alignments(m, &tb, &ar, &maps, &L, &H) == ATTN_STATUS_BAD_ARGUMENT,
              "alignments of a batch of three");
    } else {
        CHECK(as == ATTN_STATUS_UNSUPPORTED, "alignments of the rnn model: status %d", (int)as);
        CHECK(strstr(attn_last_error(), "no attention") != NULL, "message: %s",
              attn_last_error());
    }
    attn__hyps_free(g, NP);
    attn__hyps_free(bm, NP * 2);
    attn__arena_free(&ar);
    attn__batch_buf_free(&buf);
    attn__batch_buf_free(&b1);
    attn__batch_buf_free(&b3);
    attn__s2s_destroy(m);
}

/* names, and the configurations the model refuses */
static void test_config(void) {
    variant_t va = {"rnn-attention", "lstm", "additive", 2}, vr = {"rnn", "gru", "dot", 1};
    attn__s2s_config_t c = tiny(&va);
    attn__s2s_t *m;
    CHECK(attn__s2s_create(&c, 1, &m) == ATTN_STATUS_OK, "create: %s", attn_last_error());
    const char *want[] = {"src_embed.weight", "tgt_embed.weight", "encoder.rnn.weight_ih_l0",
                          "encoder.rnn.bias_hh_l1_reverse", "bridge.weight", "bridge_c.bias",
                          "decoder.cell.weight_ih", "decoder.cell.bias_hh",
                          "attention.W.weight", "attention.U.weight", "attention.v.weight",
                          "attn_combine.weight", "attn_combine.bias", "generator.weight",
                          "generator.bias"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CHECK(attn__params_find(&m->params, want[i]) >= 0, "no tensor %s", want[i]);
    int32_t id = attn__params_find(&m->params, "decoder.cell.weight_ih");
    CHECK(id >= 0 && m->params.list[id].shape[0] == 4 * 24 && m->params.list[id].shape[1] == 36,
          "decoder.cell.weight_ih is not [4 * 2H, E + 2H]");
    CHECK(!strcmp(m->ops->kind, "rnn-attention"), "kind %s", m->ops->kind);
    attn__s2s_destroy(m);
    c = tiny(&vr);
    CHECK(attn__s2s_create(&c, 1, &m) == ATTN_STATUS_OK, "create: %s", attn_last_error());
    CHECK(attn__params_find(&m->params, "attention.W.weight") < 0 &&
          attn__params_find(&m->params, "attn_combine.weight") < 0 &&
          attn__params_find(&m->params, "bridge_c.weight") < 0, "rnn/gru has extra tensors");
    id = attn__params_find(&m->params, "decoder.cell.weight_ih");
    CHECK(id >= 0 && m->params.list[id].shape[1] == 12, "rnn decoder input is not E");
    CHECK(!strcmp(m->ops->kind, "rnn"), "kind %s", m->ops->kind);
    attn__s2s_destroy(m);
    c = tiny(&va);
    c.dec_layers = 2;
    CHECK(attn__s2s_create(&c, 1, &m) == ATTN_STATUS_UNSUPPORTED && !m, "dec_layers 2 accepted");
    CHECK(strstr(attn_last_error(), "dec_layers") != NULL, "message: %s", attn_last_error());
    c = tiny(&va);
    c.enc_layers = 9;
    CHECK(attn__s2s_create(&c, 1, &m) != ATTN_STATUS_OK && !m, "enc_layers 9 accepted");
    /* same seed, same weights; another seed, others */
    attn__s2s_t *m1, *m2, *m3;
    c = tiny(&va);
    attn__s2s_create(&c, 3, &m1);
    attn__s2s_create(&c, 3, &m2);
    attn__s2s_create(&c, 4, &m3);
    size_t bytes = sizeof(float) * (size_t)m1->params.total;
    CHECK(!memcmp(m1->params.w, m2->params.w, bytes), "same seed, different weights");
    CHECK(memcmp(m1->params.w, m3->params.w, bytes), "different seeds, same weights");
    attn__s2s_destroy(m1);
    attn__s2s_destroy(m2);
    attn__s2s_destroy(m3);
}

int main(void) {
    attn__pairs_t p;
    make_pairs(&p);
    clock_t t0 = clock();
    test_config();
    const variant_t grads[] = {
        {"rnn-attention", "gru", "additive", 1}, {"rnn-attention", "lstm", "general", 2},
        {"rnn-attention", "gru", "dot", 1},      {"rnn-attention", "lstm", "dot", 1},
        {"rnn", "gru", "additive", 1},           {"rnn", "lstm", "additive", 2}};
    for (size_t i = 0; i < sizeof grads / sizeof *grads; i++) test_gradient(&p, &grads[i], 0.0f);
    test_gradient(&p, &grads[1], 0.3f);
    test_gradient(&p, &grads[4], 0.3f);
    printf("gradient checks: %.2f s CPU\n", (double)(clock() - t0) / CLOCKS_PER_SEC);
    const variant_t trains[] = {{"rnn-attention", "gru", "additive", 1},
                                {"rnn-attention", "lstm", "general", 1},
                                {"rnn-attention", "gru", "dot", 2},
                                {"rnn", "gru", "additive", 1},
                                {"rnn", "lstm", "additive", 1}};
    for (size_t i = 0; i < sizeof trains / sizeof *trains; i++) {
        clock_t t1 = clock();
        test_train_and_decode(&p, &trains[i]);
        printf("  %.2f s CPU\n", (double)(clock() - t1) / CLOCKS_PER_SEC);
    }
    attn__pairs_free(&p);
    return check_report("test_rnn_s2s");
}
