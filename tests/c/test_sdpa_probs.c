/* attn_probs: P[i, j] = exp(s[i, j] - LSE[i]) for a block of queries of one (batch, head).
 *   - with lse = the reference forward's LSE: equal to exp(s - LSE_ref) with s from the test's
 *     double oracle; with lse = NULL: equal to exp(s - LSE_oracle); with the fused LSE: close.
 *     Tolerance |P - want| <= 1e-5 * want * max(1, max|s| / 4) + 1e-7 (fp32 scores carry
 *     ~1 ulp of |s|, which becomes a relative error of exp).
 *   - hidden keys give exactly 0; fully hidden rows are exactly 0 everywhere;
 *     other rows sum to 1 within 1e-5 * max(1, max|s| / 4); sum_j P[i, j] V[j] matches the forward's O;
 *   - entries of out beyond Nk (ld_out > Nk) and rows outside the block are not written. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SZ(nm, b, hq, hkv, nq, nk, d, dv)                                                     \
    .name = nm, .B = b, .Hq = hq, .Hkv = hkv, .Nq = nq, .Nk = nk, .D = d, .Dv = dv

static const tu_case cases[] = {
    {SZ("plain", 2, 2, 2, 9, 13, 8, 8)},
    {SZ("GQA bias -inf [B,Hq,Nq,Nk]", 2, 4, 2, 11, 17, 8, 4), .mask = ATTN_MASK_BIAS,
     .mfull = {1, 1, 1, 1}, .hide = 0.3, .hide_slice = 1},
    {SZ("MQA bool [1,1,Nq,Nk] hidden row", 1, 3, 1, 11, 17, 8, 4), .mask = ATTN_MASK_BOOL,
     .mfull = {0, 0, 1, 1}, .hide = 0.3, .hide_slice = 1},
    {SZ("bias [1,1,Nq,1]", 1, 2, 2, 7, 9, 4, 4), .mask = ATTN_MASK_BIAS, .mfull = {0, 0, 1, 0},
     .hide = 0.3},
    {SZ("top-left Nq < Nk", 1, 2, 2, 6, 15, 8, 8), .causal = ATTN_CAUSAL_TOP_LEFT},
    {SZ("bottom-right Nq > Nk (hidden rows)", 1, 2, 1, 15, 6, 8, 8),
     .causal = ATTN_CAUSAL_BOTTOM_RIGHT},
    {SZ("bottom-right key_lens with 0", 3, 2, 2, 8, 12, 8, 8),
     .causal = ATTN_CAUSAL_BOTTOM_RIGHT, .key_lens = TU_KL_ZERO},
    {SZ("strided q / k", 2, 4, 2, 10, 14, 6, 6), .lq = TL_BNHD, .lkv = TL_DMAJOR},
    {SZ("K broadcast over heads", 2, 4, 2, 10, 14, 6, 6), .lkv = TL_BCAST_H, .lq = TL_PADDED},
    {SZ("large logits", 1, 1, 1, 9, 13, 32, 8), .scale = 1.0f, .amp = 4.0},
    {SZ("multi-tile 200x333 bias", 1, 2, 1, 200, 333, 24, 16), .mask = ATTN_MASK_BIAS,
     .mfull = {0, 0, 1, 1}, .hide = 0.05, .causal = ATTN_CAUSAL_BOTTOM_RIGHT},
};

static double worst; /* largest error / tolerance */

/* Runs attn_probs for (b, h, q0 .. q0 + cnt) three ways and checks every entry. */
static void check_block(tu_problem *p, const tu_outputs *ref, const tu_outputs *fus,
                        const double *lse_oracle, int64_t b, int64_t h, int64_t q0, int64_t cnt,
                        double smax) {
    const tu_case *c = &p->c;
    const int64_t ld = c->Nk + 5, hk = h / (c->Hq / c->Hkv);
    const float nf = tu_nan_fill();
    size_t nbuf = (size_t)((cnt + 1) * ld); /* one spare row after the block */
    float *out = malloc(sizeof(float) * nbuf);
    if (!out) exit(2);
    const float *lses[3] = {ref->lse, NULL, fus->lse};
    const char *lname[3] = {"lse = reference LSE", "lse = NULL", "lse = fused LSE"};
    for (int w = 0; w < 3; w++) {
        for (size_t e = 0; e < nbuf; e++) out[e] = nf;
        CHECK_OK(attn_probs(&p->shape, &p->params, tu_src(&p->q), tu_src(&p->k), lses[w], b, h,
                            q0, cnt, out, ld));
        int64_t bad = 0, bad_hidden = 0, bad_sum = 0, bad_pad = 0, bad_pv = 0;
        for (int64_t r = 0; r < cnt; r++) {
            int64_t i = q0 + r, row = (b * c->Hq + h) * c->Nq + i;
            const float *pr = out + r * ld;
            double l = w == 1 ? lse_oracle[row] : (double)lses[w][row];
            double sum = 0.0;
            int hidden_row = tu_row_hidden(p, b, h, i);
            for (int64_t j = 0; j < c->Nk; j++) {
                double s = tu_score(p, b, h, i, j);
                if (s == -INFINITY || hidden_row) {
                    bad_hidden += pr[j] != 0.0f;
                    continue;
                }
                double want = exp(s - l);
                double tol = 1e-5 * want * (smax > 4 ? smax / 4 : 1) + 1e-7;
                double err = fabs((double)pr[j] - want);
                if (!(err <= tol)) bad++;
                if (w != 2 && err / tol > worst) worst = err / tol;
                sum += pr[j];
            }
            if (hidden_row ? sum != 0.0 : !(fabs(sum - 1.0) <= 1e-5 * (smax > 4 ? smax / 4 : 1)))
                bad_sum++;
            for (int64_t j = c->Nk; j < ld; j++) bad_pad += memcmp(&pr[j], &nf, sizeof nf) != 0;
            /* P V reproduces O */
            for (int64_t e = 0; e < c->Dv; e++) {
                double acc = 0.0;
                for (int64_t j = 0; j < c->Nk; j++)
                    acc += (double)pr[j] * (double)TU_AT(&p->v, b, hk, j, e);
                if (!(fabs(acc - (double)TU_AT(&ref->o, b, h, i, e)) <= 2e-5)) bad_pv++;
            }
        }
        for (int64_t j = 0; j < ld; j++) bad_pad += memcmp(&out[cnt * ld + j], &nf, sizeof nf) != 0;
        CHECK(bad == 0, "b=%lld h=%lld queries [%lld, +%lld) %s: %lld probabilities off "
              "exp(s - LSE)", (long long)b, (long long)h, (long long)q0, (long long)cnt,
              lname[w], (long long)bad);
        CHECK(bad_hidden == 0, "%s: %lld hidden entries are not exactly 0", lname[w],
              (long long)bad_hidden);
        CHECK(bad_sum == 0, "%s: %lld rows do not sum to 1 (or to 0 when fully hidden)",
              lname[w], (long long)bad_sum);
        CHECK(bad_pad == 0, "%s: %lld entries outside the [q_count, Nk] block were written",
              lname[w], (long long)bad_pad);
        CHECK(bad_pv == 0, "%s: %lld entries of P V differ from O by more than 2e-5", lname[w],
              (long long)bad_pv);
    }
    free(out);
}

static void run_case(const tu_case *c, uint64_t seed) {
    tu_problem p;
    tu_outputs ref, fus;
    tu_problem_init(&p, c, seed);
    tu_begin("%s", tu_case_str(c));
    tu_outputs_alloc(&ref, &p);
    tu_outputs_alloc(&fus, &p);
    CHECK_OK(tu_forward(&p, ATTN_KERNEL_REFERENCE, &ref));
    CHECK_OK(tu_forward(&p, ATTN_KERNEL_FUSED, &fus));
    int64_t nrow = c->B * c->Hq * c->Nq;
    double *lse = malloc(sizeof(double) * (size_t)nrow);
    if (!lse) exit(2);
    tu_oracle_forward(&p, NULL, lse);
    double smax = tu_max_score(&p);
    /* every (b, h): all queries, the last query alone, and a block in the middle */
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->Hq; h++) {
            check_block(&p, &ref, &fus, lse, b, h, 0, c->Nq, smax);
            check_block(&p, &ref, &fus, lse, b, h, c->Nq - 1, 1, smax);
            if (c->Nq > 3) check_block(&p, &ref, &fus, lse, b, h, 1, c->Nq / 2, smax);
        }
    free(lse);
    tu_outputs_free(&ref);
    tu_outputs_free(&fus);
    tu_problem_free(&p);
}

/* Worked by hand: q = 0 makes every visible score equal to the bias. Bias row
 * (0, log 3, -inf, 0) over 4 keys: weights 1 : 3 : 0 : 1, so P = (0.2, 0.6, 0, 0.2). */
static void known_answer(void) {
    tu_begin("attn_probs known answer");
    float q[2] = {0, 0}, k[4 * 2] = {1, 2, 3, 4, 5, 6, 7, 8};
    float bias[4] = {0.0f, (float)log(3.0), -INFINITY, 0.0f}, out[4];
    attn_shape_t s = {1, 1, 1, 1, 4, 2, 2};
    attn_params_t prm = attn_default_params();
    prm.mask.kind = ATTN_MASK_BIAS;
    prm.mask.data = bias;
    prm.mask.shape[3] = 4;
    prm.mask.stride[3] = 1;
    CHECK_OK(attn_probs(&s, &prm, attn_src_f32(q, 2, 2, 2), attn_src_f32(k, 8, 8, 2), NULL, 0, 0,
                        0, 1, out, 4));
    const double want[4] = {0.2, 0.6, 0.0, 0.2};
    for (int j = 0; j < 4; j++)
        CHECK(fabs(out[j] - want[j]) <= 1e-6, "P[%d] = %.8f, want %.8f", j, out[j], want[j]);
    CHECK(out[2] == 0.0f, "the -inf key has P = %g, not exactly 0", out[2]);
    /* with the LSE given: log(1 + 3 + 1) */
    float lse = (float)log(5.0);
    CHECK_OK(attn_probs(&s, &prm, attn_src_f32(q, 2, 2, 2), attn_src_f32(k, 8, 8, 2), &lse, 0, 0,
                        0, 1, out, 4));
    for (int j = 0; j < 4; j++)
        CHECK(fabs(out[j] - want[j]) <= 1e-6, "with lse: P[%d] = %.8f, want %.8f", j, out[j],
              want[j]);
}

int main(void) {
    known_answer();
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) run_case(&cases[i], 4000 + i);
    printf("largest probability error / tolerance: %.3f\n", worst);
    return tu_finish("test_sdpa_probs");
}
