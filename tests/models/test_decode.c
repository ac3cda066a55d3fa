/* Greedy and beam search on a toy model whose next-token distribution depends on the source,
 * the step and the previous token: beam width 1 equals greedy decoding exactly, a wider beam
 * does not lower the mean log-probability, n-best lists are sorted and distinct, and bad
 * options are refused. An ensemble of toys gives the log of their mean probability, an
 * ensemble of one is that model exactly, and members of other vocabularies are refused. */
#include "models/decode.h"
#include "models/ensemble.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum { V = 9, BOS = 1, EOS = 2 };

typedef struct {
    int64_t rows, per_source; /* rows = sources * per_source */
    int64_t reorders;
    int64_t salt; /* another toy model */
} toy_t;

static float toy_logit_of(int64_t salt, int64_t src, int64_t t, int32_t prev, int32_t v) {
    uint64_t x = (uint64_t)(src * 1000003 + prev * 7919 + v * 104729 + (t % 3) * 15485863 +
                            salt * 86028121);
    x ^= x >> 13; x *= 0x9e3779b97f4a7c15ull; x ^= x >> 29;
    float l = (float)(x % 1000) / 250.0f;
    if (v == EOS) l += 0.6f * (float)t - 2.0f; /* ending gets likelier with length */
    if (v == 0 || v == BOS) l = -30.0f;       /* never <pad> or <s> */
    return l;
}

static float toy_logit(int64_t src, int64_t t, int32_t prev, int32_t v) {
    return toy_logit_of(0, src, t, prev, v);
}

static attn_status_t toy_begin(void *ctx, int64_t rows) {
    toy_t *m = ctx;
    m->per_source = rows / m->rows;
    return ATTN_STATUS_OK;
}

static attn_status_t toy_step(void *ctx, int64_t t, const int32_t *prev, float *logp) {
    toy_t *m = ctx;
    int64_t rows = m->rows * m->per_source;
    for (int64_t r = 0; r < rows; r++) {
        float *row = logp + r * V, mx = -INFINITY, sum = 0.0f;
        for (int32_t v = 0; v < V; v++) {
            row[v] = toy_logit_of(m->salt, r / m->per_source, t, prev[r], v);
            mx = row[v] > mx ? row[v] : mx;
        }
        for (int32_t v = 0; v < V; v++) sum += expf(row[v] - mx);
        for (int32_t v = 0; v < V; v++) row[v] -= mx + logf(sum);
    }
    return ATTN_STATUS_OK;
}

static attn_status_t toy_reorder(void *ctx, const int64_t *from) {
    toy_t *m = ctx;
    for (int64_t r = 0; r < m->rows * m->per_source; r++)
        if (from[r] / m->per_source != r / m->per_source) return ATTN_STATUS_BAD_ARGUMENT;
    m->reorders++;
    return ATTN_STATUS_OK;
}

/* Ensembles of toys (salts 0, 1, 2): the step's log-probabilities against log(mean p) in
 * double; one member is the model itself bit for bit; a model with itself decodes the same
 * words; beam search reorders every member; other vocabularies are refused. */
static void ensembles(void) {
    enum { B = 20, L = 12, N = 3 };
    toy_t toys[N] = {{B, 1, 0, 0}, {B, 1, 0, 1}, {B, 1, 0, 2}};
    attn__stepper_t ms[N];
    for (int i = 0; i < N; i++)
        ms[i] = (attn__stepper_t){&toys[i], V, BOS, EOS, toy_begin, toy_step, toy_reorder};
    attn__ensemble_t e;
    attn__stepper_t s;
    CHECK(attn__ensemble_init(&e, ms, N, &s) == ATTN_STATUS_OK, "init: %s", attn_last_error());
    int32_t prev[B];
    static float got[B * V], one[N][B * V];
    for (int b = 0; b < B; b++) prev[b] = (int32_t)(3 + b % 6);
    CHECK(s.begin(s.ctx, B) == ATTN_STATUS_OK && s.step(s.ctx, 2, prev, got) == ATTN_STATUS_OK,
          "ensemble step: %s", attn_last_error());
    for (int i = 0; i < N; i++) {
        ms[i].begin(ms[i].ctx, B);
        ms[i].step(ms[i].ctx, 2, prev, one[i]);
    }
    double worst = 0, worst_sum = 0;
    for (int64_t r = 0; r < B; r++) {
        double total = 0;
        for (int32_t v = 0; v < V; v++) {
            double p = 0;
            for (int i = 0; i < N; i++) p += exp((double)one[i][r * V + v]) / N;
            worst = fmax(worst, fabs(log(p) - got[r * V + v]) * (p > 1e-12));
            total += exp((double)got[r * V + v]);
        }
        worst_sum = fmax(worst_sum, fabs(total - 1));
    }
    CHECK(worst < 1e-5 && worst_sum < 1e-5, "ensemble log-probabilities off log(mean p) by %g, "
          "sums off 1 by %g", worst, worst_sum);
    attn__hyp_t a[B], c[B], d[B * 2];
    CHECK(attn__greedy(&s, B, L, NULL, a) == ATTN_STATUS_OK, "ensemble greedy");
    attn__beam_opts_t o = {4, 2, 0.0f, L, NULL};
    for (int i = 0; i < N; i++) toys[i].reorders = 0;
    CHECK(attn__beam_search(&s, B, o, d) == ATTN_STATUS_OK, "ensemble beam");
    CHECK(toys[0].reorders > 0 && toys[0].reorders == toys[1].reorders &&
              toys[1].reorders == toys[2].reorders,
          "reorders %lld %lld %lld", (long long)toys[0].reorders, (long long)toys[1].reorders,
          (long long)toys[2].reorders);
    attn__hyps_free(a, B);
    attn__hyps_free(d, B * 2);
    attn__ensemble_free(&e);

    /* one member: the model itself, bit for bit; a model twice: the same words */
    attn__stepper_t twice[2] = {ms[1], ms[1]};
    attn__ensemble_t e1, e2;
    attn__stepper_t s1, s2;
    CHECK(attn__ensemble_init(&e1, ms + 1, 1, &s1) == ATTN_STATUS_OK &&
              attn__ensemble_init(&e2, twice, 2, &s2) == ATTN_STATUS_OK, "init");
    attn__hyp_t ref[B];
    CHECK(attn__greedy(&ms[1], B, L, NULL, ref) == ATTN_STATUS_OK &&
              attn__greedy(&s1, B, L, NULL, a) == ATTN_STATUS_OK &&
              attn__greedy(&s2, B, L, NULL, c) == ATTN_STATUS_OK, "greedy");
    for (int b = 0; b < B; b++) {
        CHECK(a[b].len == ref[b].len && a[b].logprob == ref[b].logprob &&
                  !memcmp(a[b].tokens, ref[b].tokens, sizeof(int32_t) * (size_t)a[b].len),
              "source %d: an ensemble of one differs from its model", b);
        CHECK(c[b].len == ref[b].len && fabsf(c[b].logprob - ref[b].logprob) < 1e-5f &&
                  !memcmp(c[b].tokens, ref[b].tokens, sizeof(int32_t) * (size_t)c[b].len),
              "source %d: a model twice differs from the model (log-prob %g vs %g)", b,
              (double)c[b].logprob, (double)ref[b].logprob);
    }
    attn__hyps_free(ref, B);
    attn__hyps_free(a, B);
    attn__hyps_free(c, B);
    attn__ensemble_free(&e1);
    attn__ensemble_free(&e2);

    attn__stepper_t other[2] = {ms[0], ms[1]};
    other[1].vocab = V + 1;
    CHECK(attn__ensemble_init(&e, other, 2, &s) == ATTN_STATUS_BAD_ARGUMENT &&
              strstr(attn_last_error(), "member 2 has 10 target tokens"),
          "a member of another vocabulary: %s", attn_last_error());
    CHECK(attn__ensemble_init(&e, ms, 0, &s) == ATTN_STATUS_BAD_ARGUMENT, "no members");
}

int main(void) {
    enum { B = 60, L = 12 };
    ensembles();
    toy_t toy = {B, 1, 0, 0};
    attn__stepper_t m = {&toy, V, BOS, EOS, toy_begin, toy_step, toy_reorder};
    attn__hyp_t greedy[B], beam1[B], beam4[B * 3];

    CHECK(attn__greedy(&m, B, L, NULL, greedy) == ATTN_STATUS_OK, "greedy: %s", attn_last_error());
    attn__beam_opts_t o1 = {1, 1, 0.0f, L, NULL};
    CHECK(attn__beam_search(&m, B, o1, beam1) == ATTN_STATUS_OK, "beam 1: %s", attn_last_error());
    for (int b = 0; b < B; b++) {
        CHECK(greedy[b].len == beam1[b].len &&
                  memcmp(greedy[b].tokens, beam1[b].tokens, sizeof(int32_t) * (size_t)greedy[b].len) == 0,
              "source %d: beam 1 output differs from greedy", b);
        CHECK(greedy[b].logprob == beam1[b].logprob, "source %d: log-prob %g vs %g", b,
              (double)greedy[b].logprob, (double)beam1[b].logprob);
    }
    int finished = 0;
    for (int b = 0; b < B; b++) finished += greedy[b].len < L;
    CHECK(finished > B / 2, "the toy should mostly end with </s> (%d of %d)", finished, B);

    attn__beam_opts_t o4 = {4, 3, 0.0f, L, NULL};
    toy.reorders = 0;
    CHECK(attn__beam_search(&m, B, o4, beam4) == ATTN_STATUS_OK, "beam 4: %s", attn_last_error());
    CHECK(toy.reorders > 0, "beam search reordered states");
    double mean_g = 0, mean_b = 0;
    for (int b = 0; b < B; b++) {
        mean_g += greedy[b].logprob / B;
        mean_b += beam4[b * 3].logprob / B;
        for (int i = 1; i < 3; i++) {
            const attn__hyp_t *x = &beam4[b * 3 + i - 1], *y = &beam4[b * 3 + i];
            CHECK(x->score >= y->score, "source %d: n-best not sorted", b);
            CHECK(!(x->len == y->len && memcmp(x->tokens, y->tokens, sizeof(int32_t) * (size_t)x->len) == 0),
                  "source %d: n-best entries %d and %d are equal", b, i - 1, i);
        }
        for (int64_t k = 0; k < beam4[b * 3].len; k++)
            CHECK(beam4[b * 3].tokens[k] != EOS && beam4[b * 3].tokens[k] > BOS,
                  "source %d: special token inside a hypothesis", b);
    }
    CHECK(mean_b >= mean_g, "beam 4 mean log-prob %.4f below greedy %.4f", mean_b, mean_g);
    printf("mean log-prob: greedy %.4f, beam 4 %.4f\n", mean_g, mean_b);

    /* per-source caps: no hypothesis passes its cap; one cut there ends with </s> forced (its
     * log-probability counts that </s>); beam 1 with caps still equals greedy with caps */
    int64_t caps[B];
    for (int b = 0; b < B; b++) caps[b] = b % 4;
    attn__hyp_t gcap[B], bcap1[B], bcap4[B * 2];
    CHECK(attn__greedy(&m, B, L, caps, gcap) == ATTN_STATUS_OK, "greedy, caps");
    attn__beam_opts_t c1 = {1, 1, 0.0f, L, caps}, c4 = {4, 2, 0.0f, L, caps};
    CHECK(attn__beam_search(&m, B, c1, bcap1) == ATTN_STATUS_OK, "beam 1, caps");
    CHECK(attn__beam_search(&m, B, c4, bcap4) == ATTN_STATUS_OK, "beam 4, caps");
    int cut = 0;
    for (int b = 0; b < B; b++) {
        CHECK(gcap[b].len <= caps[b] && bcap4[b * 2].len <= caps[b] &&
                  bcap4[b * 2 + 1].len <= caps[b],
              "source %d: hypotheses of %lld / %lld / %lld tokens past the cap %lld", b,
              (long long)gcap[b].len, (long long)bcap4[b * 2].len, (long long)bcap4[b * 2 + 1].len,
              (long long)caps[b]);
        CHECK(gcap[b].len == bcap1[b].len && gcap[b].logprob == bcap1[b].logprob &&
                  memcmp(gcap[b].tokens, bcap1[b].tokens, sizeof(int32_t) * (size_t)gcap[b].len) == 0,
              "source %d: beam 1 with caps differs from greedy with caps", b);
        if (greedy[b].len > caps[b]) {
            cut++;
            CHECK(gcap[b].len == caps[b] &&
                      memcmp(gcap[b].tokens, greedy[b].tokens, sizeof(int32_t) * (size_t)caps[b]) == 0,
                  "source %d: a capped output is the greedy prefix", b);
        }
        if (caps[b] == 0) { /* only </s> at step 0: its log-probability */
            double mx = -INFINITY, sum = 0;
            for (int32_t v = 0; v < V; v++) mx = fmax(mx, toy_logit(b, 0, BOS, v));
            for (int32_t v = 0; v < V; v++) sum += exp(toy_logit(b, 0, BOS, v) - mx);
            double want = toy_logit(b, 0, BOS, EOS) - mx - log(sum);
            CHECK(gcap[b].len == 0 && fabs(gcap[b].logprob - want) < 1e-5,
                  "source %d, cap 0: %lld tokens, log-prob %g (want 0 tokens, %g)", b,
                  (long long)gcap[b].len, (double)gcap[b].logprob, want);
        }
    }
    CHECK(cut > B / 2, "the caps cut most outputs (%d of %d)", cut, B);
    attn__hyps_free(gcap, B);
    attn__hyps_free(bcap1, B);
    attn__hyps_free(bcap4, B * 2);

    attn__beam_opts_t lp = {4, 1, 1.0f, L, NULL};
    attn__hyp_t with_lp[B];
    CHECK(attn__beam_search(&m, B, lp, with_lp) == ATTN_STATUS_OK, "length penalty run");
    attn__beam_opts_t bad = {2, 3, 0.0f, L, NULL};
    attn__hyp_t none[B * 3];
    CHECK(attn__beam_search(&m, B, bad, none) == ATTN_STATUS_BAD_ARGUMENT &&
              strstr(attn_last_error(), "nbest"),
          "nbest > beam refused: %s", attn_last_error());

    attn__hyps_free(greedy, B);
    attn__hyps_free(beam1, B);
    attn__hyps_free(beam4, B * 3);
    attn__hyps_free(with_lp, B);
    return check_report("test_decode");
}
