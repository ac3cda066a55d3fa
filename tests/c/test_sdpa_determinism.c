/* Results are bitwise identical for any thread count (attn.h: "the same inputs give the same
 * bits for any thread count"). The fused kernel's O, LSE, dQ, dK, dV and dbias with
 * attn_set_num_threads(1), (2), (3), (4) and the default must match byte for byte (memcmp), on
 * multi-tile problems (Nq, Nk not multiples of 64 and above 128) with grouped-query heads, a
 * causal rule, key_lens and a float bias whose gradient is reduced over broadcast dimensions.
 * Repeating a run with the same thread count must also give the same bits. A decoding shape
 * (few queries, long key axis split into chunks and merged) is included. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SZ(nm, b, hq, hkv, nq, nk, d, dv)                                                     \
    .name = nm, .B = b, .Hq = hq, .Hkv = hkv, .Nq = nq, .Nk = nk, .D = d, .Dv = dv

static const tu_case cases[] = {
    {SZ("GQA 200x333 bottom-right bias [1,1,Nq,Nk]", 2, 4, 2, 200, 333, 64, 48),
     .causal = ATTN_CAUSAL_BOTTOM_RIGHT, .mask = ATTN_MASK_BIAS, .mfull = {0, 0, 1, 1},
     .hide = 0.05, .key_lens = TU_KL_RANDOM},
    {SZ("MQA 333x200 top-left bias [B,1,1,Nk] key_lens 0", 3, 4, 1, 333, 200, 32, 40),
     .causal = ATTN_CAUSAL_TOP_LEFT, .mask = ATTN_MASK_BIAS, .mfull = {1, 0, 0, 1},
     .hide = 0.1, .key_lens = TU_KL_ZERO, .lq = TL_BNHD, .lkv = TL_PADDED, .lo = TL_PADDED},
    {SZ("GQA 130x257 bias [B,Hq,Nq,Nk]", 1, 6, 2, 130, 257, 16, 16),
     .mask = ATTN_MASK_BIAS, .mfull = {1, 1, 1, 1}, .hide = 0.02},
    {SZ("decoding: MQA Nq=1 Nk=1500 bias key_lens", 2, 4, 1, 1, 1500, 64, 64),
     .mask = ATTN_MASK_BIAS, .mfull = {1, 0, 0, 1}, .hide = 0.1, .key_lens = TU_KL_RANDOM},
    {SZ("bias [1,1,Nq,1] 150x190", 2, 2, 2, 150, 190, 8, 8),
     .mask = ATTN_MASK_BIAS, .mfull = {0, 0, 1, 0}},
};

static const int32_t thread_counts[] = {1, 2, 3, 4, 0 /* default */, 1 /* repeat */};

static int same_lse(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

static void run_case(const tu_case *c, uint64_t seed) {
    tu_problem p;
    tu_outputs first, other;
    tu_problem_init(&p, c, seed);
    tu_begin("%s", tu_case_str(c));
    const int64_t nrow = c->B * c->Hq * c->Nq;
    const size_t nt = sizeof thread_counts / sizeof thread_counts[0];
    for (size_t t = 0; t < nt; t++) {
        tu_outputs *o = t == 0 ? &first : &other;
        tu_outputs_alloc(o, &p);
        CHECK_OK(attn_set_num_threads(thread_counts[t]));
        if (thread_counts[t] > 0)
            CHECK(attn_get_num_threads() == thread_counts[t], "attn_get_num_threads() is %d "
                  "after attn_set_num_threads(%d)", (int)attn_get_num_threads(),
                  (int)thread_counts[t]);
        double t0 = tu_seconds();
        CHECK_OK(tu_forward(&p, ATTN_KERNEL_FUSED, o));
        CHECK_OK(tu_backward(&p, ATTN_KERNEL_FUSED, o));
        double dt = tu_seconds() - t0;
        printf("  %-55s threads %d: %.3f s\n", c->name, (int)attn_get_num_threads(), dt);
        if (t == 0) continue;
        int n = (int)thread_counts[t];
        CHECK(tu_bitwise_equal(&first.o, &o->o), "O differs between 1 and %d threads", n);
        CHECK(same_lse(first.lse, o->lse, nrow), "LSE differs between 1 and %d threads", n);
        CHECK(tu_bitwise_equal(&first.dq, &o->dq), "dQ differs between 1 and %d threads", n);
        CHECK(tu_bitwise_equal(&first.dk, &o->dk), "dK differs between 1 and %d threads", n);
        CHECK(tu_bitwise_equal(&first.dv, &o->dv), "dV differs between 1 and %d threads", n);
        CHECK(tu_bitwise_equal(&first.dbias, &o->dbias), "dbias differs between 1 and %d "
              "threads", n);
        tu_outputs_free(o);
    }
    /* the results are right, not just repeatable (a few spot checks against the oracle) */
    double *lse = malloc(sizeof(double) * (size_t)nrow);
    if (!lse) exit(2);
    tu_oracle_forward(&p, NULL, lse);
    int64_t bad = 0;
    for (int64_t r = 0; r < nrow; r++) {
        double want = lse[r], got = first.lse[r];
        if (want == -INFINITY ? got != -INFINITY : !(fabs(got - want) <= 1e-4 * (1 + fabs(want))))
            bad++;
    }
    CHECK(bad == 0, "%lld fused LSE values off the oracle by more than 1e-4 relative",
          (long long)bad);
    free(lse);
    tu_check_hidden(&p, &first, 1, "fused");
    tu_outputs_free(&first);
    tu_problem_free(&p);
    CHECK_OK(attn_set_num_threads(0));
}

/* attn_probs too: the same rows for any thread count. */
static void probs_case(void) {
    tu_case c = {SZ("probs", 1, 4, 2, 150, 201, 32, 32), .causal = ATTN_CAUSAL_BOTTOM_RIGHT,
                 .mask = ATTN_MASK_BIAS, .mfull = {0, 1, 1, 1}, .hide = 0.05};
    tu_problem p;
    tu_problem_init(&p, &c, 77);
    tu_begin("attn_probs across thread counts");
    const int64_t cnt = 140, ld = c.Nk + 3;
    float *ref = malloc(sizeof(float) * (size_t)(cnt * ld));
    float *got = malloc(sizeof(float) * (size_t)(cnt * ld));
    if (!ref || !got) exit(2);
    memset(ref, 0, sizeof(float) * (size_t)(cnt * ld));
    attn_params_t prm = p.params;
    for (int t = 1; t <= 4; t++) {
        float *dst = t == 1 ? ref : got;
        memset(dst, 0, sizeof(float) * (size_t)(cnt * ld));
        CHECK_OK(attn_set_num_threads(t));
        CHECK_OK(attn_probs(&p.shape, &prm, tu_src(&p.q), tu_src(&p.k), NULL, 0, 3, 5, cnt, dst,
                            ld));
        if (t > 1)
            CHECK(memcmp(ref, got, sizeof(float) * (size_t)(cnt * ld)) == 0,
                  "attn_probs differs between 1 and %d threads", t);
    }
    CHECK_OK(attn_set_num_threads(0));
    free(ref);
    free(got);
    tu_problem_free(&p);
}

/* attn_set_num_threads(n <= 0) restores the default: ATTN_NUM_THREADS when set. */
static void default_threads(void) {
    tu_begin("attn_set_num_threads defaults");
    setenv("ATTN_NUM_THREADS", "3", 1);
    CHECK_OK(attn_set_num_threads(5));
    CHECK(attn_get_num_threads() == 5, "got %d after set(5)", (int)attn_get_num_threads());
    CHECK_OK(attn_set_num_threads(0));
    CHECK(attn_get_num_threads() == 3, "got %d with ATTN_NUM_THREADS=3 after set(0)",
          (int)attn_get_num_threads());
    CHECK_OK(attn_set_num_threads(-4));
    CHECK(attn_get_num_threads() == 3, "got %d with ATTN_NUM_THREADS=3 after set(-4)",
          (int)attn_get_num_threads());
    unsetenv("ATTN_NUM_THREADS");
    CHECK(attn_get_num_threads() >= 1, "got %d threads by default", (int)attn_get_num_threads());
}

int main(void) {
    default_threads();
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) run_case(&cases[i], 3000 + i);
    probs_case();
    return tu_finish("test_sdpa_determinism");
}
