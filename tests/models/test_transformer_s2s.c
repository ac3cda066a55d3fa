/* The Transformer encoder-decoder end to end on a toy task: its gradient against finite
 * differences, overfitting a small set to near-zero loss with the shared training loop,
 * reproducible loss curves, decoding (incremental steps equal the teacher-forced pass; greedy
 * and beam reproduce the memorised targets), and alignment maps that are distributions. */
#include "g2p/vocab.h"
#include "models/config.h"
#include "models/train.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum { NP = 12, SV = 12, TV = 10 };

/* pairs: source = random letters (ids 4..11), target = a deterministic function of them */
static void make_pairs(attn__pairs_t *p) {
    p->n = NP;
    p->src_off = malloc(sizeof(int64_t) * (NP + 1));
    p->tgt_off = malloc(sizeof(int64_t) * (NP + 1));
    p->src = malloc(sizeof(int32_t) * NP * 8);
    p->tgt = malloc(sizeof(int32_t) * NP * 8);
    uint32_t x = 12345;
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

static attn__s2s_config_t tiny(void) {
    attn__s2s_config_t c = attn__s2s_default_config("transformer");
    c.src_vocab = SV;
    c.tgt_vocab = TV;
    c.d_model = 16;
    c.heads = 2;
    c.enc_layers = 1;
    c.dec_layers = 2;
    c.ff = 32;
    c.dropout = 0.0f;
    c.max_len = 12;
    return c;
}

static double batch_loss(attn__s2s_t *m, const attn__s2s_batch_t *b, attn__arena_t *ar) {
    float *logits;
    attn__mode_t eval = {0, 0};
    attn__arena_reset(ar);
    if (m->ops->forward(m, b, eval, ar, &logits) != ATTN_STATUS_OK) return NAN;
    attn__xent_opts_t xo = attn__xent_default_opts();
    xo.ignore_index = ATTN__TOK_PAD;
    float *lse = attn__arena_alloc(ar, (size_t)(b->B * b->T));
    attn__xent_t r;
    attn__xent_forward(logits, b->tgt_out, b->B * b->T, m->tgt_vocab, xo, lse, &r);
    return r.loss;
}

static void test_gradient(const attn__pairs_t *p) {
    attn__s2s_config_t c = tiny();
    attn__s2s_t *m;
    CHECK(attn__s2s_create(&c, 7, &m) == ATTN_STATUS_OK, "create: %s", attn_last_error());
    attn__batch_buf_t buf = {0};
    attn__s2s_batch_t b;
    int64_t idx[4] = {0, 3, 5, 8};
    CHECK(attn__pairs_batch(p, idx, 4, &buf, &b) == ATTN_STATUS_OK, "batch");
    attn__arena_t ar;
    attn__arena_init(&ar, 0);
    /* analytic gradient of the mean loss */
    float *logits;
    attn__mode_t eval = {0, 0};
    attn__params_zero_grad(&m->params);
    CHECK(m->ops->forward(m, &b, eval, &ar, &logits) == ATTN_STATUS_OK, "forward");
    attn__xent_opts_t xo = attn__xent_default_opts();
    xo.ignore_index = ATTN__TOK_PAD;
    const int64_t N = b.B * b.T;
    float *lse = attn__arena_alloc(&ar, (size_t)N), *dl = attn__arena_zeros(&ar, (size_t)(N * TV));
    attn__xent_t r;
    attn__xent_forward(logits, b.tgt_out, N, TV, xo, lse, &r);
    attn__xent_backward(logits, b.tgt_out, N, TV, xo, lse, &r, 1.0f, dl);
    CHECK(m->ops->backward(m, &b, eval, dl, &ar) == ATTN_STATUS_OK, "backward: %s",
          attn_last_error());
    /* central differences on a spread of parameters of every tensor */
    int tested = 0, bad = 0;
    for (int32_t id = 0; id < m->params.count; id++) {
        const attn__param_t *pp = &m->params.list[id];
        for (int64_t k = 0; k < 3; k++) {
            int64_t e = (k * 7919 + id * 31) % pp->numel;
            float *w = attn__pw(&m->params, id) + e, g = attn__pg(&m->params, id)[e], w0 = *w;
            const float eps = 1e-2f;
            *w = w0 + eps;
            double lp = batch_loss(m, &b, &ar);
            *w = w0 - eps;
            double lm = batch_loss(m, &b, &ar);
            *w = w0;
            double fd = (lp - lm) / (2.0 * eps);
            tested++;
            if (fabs(fd - g) > 2e-3 + 2e-2 * fabs(fd)) {
                bad++;
                if (bad < 6) printf("  %s[%lld]: analytic %.6g, numeric %.6g\n", pp->name,
                                    (long long)e, (double)g, fd);
            }
        }
    }
    CHECK(bad == 0, "%d of %d parameter gradients disagree with finite differences", bad, tested);
    attn__arena_free(&ar);
    attn__batch_buf_free(&buf);
    attn__s2s_destroy(m);
}

static double train(const attn__pairs_t *p, int steps, double *curve, attn__s2s_t **keep) {
    attn__s2s_config_t c = tiny();
    attn__s2s_t *m;
    CHECK(attn__s2s_create(&c, 11, &m) == ATTN_STATUS_OK, "create: %s", attn_last_error());
    attn__trainer_opts_t o;
    memset(&o, 0, sizeof o);
    o.batching = attn__batching_default_opts();
    o.batching.max_tokens = 40;
    o.adamw = attn__adamw_default_opts();
    o.adamw.weight_decay = 0.0;
    o.schedule.kind = ATTN__LR_CONSTANT;
    o.schedule.lr = 3e-3;
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
    double loss, acc;
    CHECK(attn__s2s_eval_loss(m, p, 100, &tr.arena, &loss, &acc) == ATTN_STATUS_OK, "eval");
    attn__trainer_free(&tr);
    if (keep) *keep = m;
    else attn__s2s_destroy(m);
    return loss;
}

static void test_train_and_decode(const attn__pairs_t *p) {
    enum { STEPS = 400 };
    static double c1[STEPS], c2[STEPS];
    attn__s2s_t *m;
    double loss = train(p, STEPS, c1, &m);
    printf("loss: first step %.4f, last step %.4f, full set %.5f\n", c1[0], c1[STEPS - 1], loss);
    CHECK(loss < 0.05, "did not overfit 12 pairs: loss %.4f", loss);
    train(p, 60, c2, NULL);
    CHECK(memcmp(c1, c2, sizeof(double) * 60) == 0, "same seed, different loss curve");

    /* decode every source; greedy and beam must give back the memorised targets */
    attn__batch_buf_t buf = {0};
    attn__s2s_batch_t b;
    int64_t idx[NP];
    for (int i = 0; i < NP; i++) idx[i] = i;
    attn__pairs_batch(p, idx, NP, &buf, &b);
    attn__stepper_t st = attn__s2s_stepper(m);
    attn__hyp_t g[NP], bm[NP * 2];
    CHECK(m->ops->encode(m, b.B, b.S, b.src, b.src_len) == ATTN_STATUS_OK, "encode");
    CHECK(attn__greedy(&st, NP, 12, NULL, g) == ATTN_STATUS_OK, "greedy: %s", attn_last_error());
    attn__beam_opts_t bo = {4, 2, 0.0f, 12, NULL};
    CHECK(attn__beam_search(&st, NP, bo, bm) == ATTN_STATUS_OK, "beam: %s", attn_last_error());
    int right_g = 0, right_b = 0;
    for (int i = 0; i < NP; i++) {
        int64_t n = p->tgt_off[i + 1] - p->tgt_off[i];
        const int32_t *want = p->tgt + p->tgt_off[i];
        right_g += g[i].len == n && !memcmp(g[i].tokens, want, sizeof(int32_t) * (size_t)n);
        right_b += bm[2 * i].len == n && !memcmp(bm[2 * i].tokens, want, sizeof(int32_t) * (size_t)n);
    }
    CHECK(right_g == NP, "greedy reproduced %d of %d targets", right_g, NP);
    CHECK(right_b == NP, "beam reproduced %d of %d targets", right_b, NP);

    /* incremental decoding equals the teacher-forced pass on the greedy output */
    attn__arena_t ar;
    attn__arena_init(&ar, 0);
    attn__s2s_batch_t one;
    attn__batch_buf_t b1 = {0};
    int64_t zero = 0;
    attn__pairs_batch(p, &zero, 1, &b1, &one);
    float *logits;
    attn__mode_t eval = {0, 0};
    CHECK(m->ops->forward(m, &one, eval, &ar, &logits) == ATTN_STATUS_OK, "forward");
    CHECK(m->ops->encode(m, 1, one.S, one.src, one.src_len) == ATTN_STATUS_OK, "encode one");
    CHECK(st.begin(m, 1) == ATTN_STATUS_OK, "begin");
    float logp[TV];
    double worst = 0;
    for (int64_t t = 0; t < one.T; t++) {
        st.step(m, t, &one.tgt_in[t], logp);
        const float *z = logits + t * TV;
        double mx = z[0], s = 0;
        for (int v = 1; v < TV; v++) mx = z[v] > mx ? z[v] : mx;
        for (int v = 0; v < TV; v++) s += exp(z[v] - mx);
        for (int v = 4; v < TV; v++) {
            double d = fabs((z[v] - mx - log(s)) - logp[v]);
            worst = d > worst ? d : worst;
        }
    }
    CHECK(worst < 1e-4, "incremental log-probs differ from the full pass by %.2e", worst);

    /* alignments: [layers, heads, T, S], each row a distribution over the real source */
    float *maps;
    int32_t L, H;
    CHECK(m->ops->alignments(m, &one, &ar, &maps, &L, &H) == ATTN_STATUS_OK, "alignments: %s",
          attn_last_error());
    CHECK(L == 2 && H == 2, "maps of %d layers x %d heads", L, H);
    for (int64_t r = 0; r < L * H * one.T; r++) {
        double s = 0;
        for (int64_t j = 0; j < one.S; j++) s += maps[r * one.S + j];
        CHECK(fabs(s - 1.0) < 1e-4, "alignment row %lld sums to %g", (long long)r, s);
    }
    attn__hyps_free(g, NP);
    attn__hyps_free(bm, NP * 2);
    attn__arena_free(&ar);
    attn__batch_buf_free(&buf);
    attn__batch_buf_free(&b1);
    attn__s2s_destroy(m);
}

int main(void) {
    attn__pairs_t p;
    make_pairs(&p);
    test_gradient(&p);
    test_train_and_decode(&p);
    attn__pairs_free(&p);
    return check_report("test_transformer_s2s");
}
