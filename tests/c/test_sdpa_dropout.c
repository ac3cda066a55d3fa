/* Attention dropout (attn_params_t.dropout_p, dropout_seed):
 *   - dropout_p = 0 changes nothing, bit for bit, whatever the seed;
 *   - the mask itself, read off O with V = identity (O[i, j] = Z_ij P_ij): the drop rate is p
 *     within 5 standard deviations, kept weights are P / (1 - p), the fused and reference
 *     kernels drop the same weights, the same seed gives the same mask and another seed
 *     another one, and LSE is the softmax's, untouched by dropout;
 *   - fused against reference on shapes with several tiles (causal, key_lens, masks, GQA,
 *     strided layouts, one query against 700 keys), forward and backward;
 *   - bitwise the same for 1 and 2 threads, forward and backward;
 *   - dropout_p = 1 gives O = 0 and zero gradients; bad values are refused.
 * The finite-difference checks with dropout are in test_sdpa_gradcheck.c. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF ATTN_KERNEL_REFERENCE
#define FUS ATTN_KERNEL_FUSED

#define SZ(nm, b, hq, hkv, nq, nk, d, dv)                                                     \
    .name = nm, .B = b, .Hq = hq, .Hkv = hkv, .Nq = nq, .Nk = nk, .D = d, .Dv = dv

static void run_both(tu_problem *p, attn_kernel_t kernel, tu_outputs *out) {
    CHECK_OK(tu_forward(p, kernel, out));
    CHECK_OK(tu_backward(p, kernel, out));
}

static int same_lse(const tu_problem *p, const float *a, const float *b) {
    size_t n = (size_t)(p->c.B * p->c.Hq * p->c.Nq);
    return memcmp(a, b, n * sizeof(float)) == 0;
}

/* dropout_p = 0 with any seed is no dropout, bit for bit, in both kernels */
static void zero_is_off(void) {
    tu_case c = {SZ("p = 0", 2, 4, 2, 37, 53, 16, 8), .causal = ATTN_CAUSAL_TOP_LEFT,
                 .key_lens = TU_KL_RANDOM};
    tu_begin("%s", tu_case_str(&c));
    for (int k = REF; k <= FUS; k++) {
        tu_problem p;
        tu_outputs a, b;
        tu_problem_init(&p, &c, 5);
        tu_outputs_alloc(&a, &p);
        tu_outputs_alloc(&b, &p);
        p.params.dropout_seed = 0;
        run_both(&p, (attn_kernel_t)k, &a);
        p.params.dropout_seed = 987654321;
        run_both(&p, (attn_kernel_t)k, &b);
        CHECK(tu_bitwise_equal(&a.o, &b.o) && tu_bitwise_equal(&a.dq, &b.dq) &&
                  tu_bitwise_equal(&a.dk, &b.dk) && tu_bitwise_equal(&a.dv, &b.dv) &&
                  same_lse(&p, a.lse, b.lse),
              "kernel %d: the seed changed a result with dropout_p = 0", k);
        tu_outputs_free(&a);
        tu_outputs_free(&b);
        tu_problem_free(&p);
    }
}

/* O with V = I (Dv = Nk): O[b, h, i, j] = Z_bhij P_bhij, so the mask can be read off O */
static void run_identity(int64_t B, int64_t H, int64_t N, float drop, uint64_t seed,
                         attn_kernel_t kernel, float *o, float *lse, float *probs) {
    const int64_t D = 8;
    tu_rng r;
    tu_rng_seed(&r, 42);
    float *q = malloc(sizeof(float) * (size_t)(B * H * N * D));
    float *k = malloc(sizeof(float) * (size_t)(B * H * N * D));
    float *v = calloc((size_t)(B * H * N * N), sizeof(float));
    for (int64_t i = 0; i < B * H * N * D; i++) q[i] = tu_rng_sym(&r, 1.0), k[i] = tu_rng_sym(&r, 1.0);
    for (int64_t bh = 0; bh < B * H; bh++)
        for (int64_t j = 0; j < N; j++) v[(bh * N + j) * N + j] = 1.0f;
    attn_shape_t s = {B, H, H, N, N, D, N};
    attn_params_t prm = attn_default_params();
    prm.kernel = kernel;
    prm.dropout_p = drop;
    prm.dropout_seed = seed;
    attn_src_t qs = attn_src_f32(q, H * N * D, N * D, D), ks = attn_src_f32(k, H * N * D, N * D, D);
    CHECK_OK(attn_forward(&s, &prm, qs, ks, attn_src_f32(v, H * N * N, N * N, N),
                          attn_dst_f32(o, H * N * N, N * N, N), lse));
    if (probs)
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                CHECK_OK(attn_probs(&s, &prm, qs, ks, lse, b, h, 0, N,
                                    probs + (b * H + h) * N * N, N));
    free(q);
    free(k);
    free(v);
}

static void mask_properties(void) {
    enum { B = 2, H = 3, N = 64 };
    const size_t n = (size_t)(B * H * N * N);
    float *o = malloc(sizeof(float) * n), *o2 = malloc(sizeof(float) * n);
    float *o3 = malloc(sizeof(float) * n), *probs = malloc(sizeof(float) * n);
    float *lse = malloc(sizeof(float) * B * H * N), *lse0 = malloc(sizeof(float) * B * H * N);
    const float ps[3] = {0.1f, 0.3f, 0.75f};
    for (int t = 0; t < 3; t++) {
        const float p = ps[t];
        tu_begin("mask with V = I, p = %g", (double)p);
        run_identity(B, H, N, 0.0f, 0, FUS, o2, lse0, NULL);
        run_identity(B, H, N, p, 11, FUS, o, lse, probs);
        CHECK(memcmp(lse, lse0, sizeof(float) * B * H * N) == 0, "LSE changed with dropout");
        size_t dropped = 0, bad = 0;
        for (size_t e = 0; e < n; e++) {
            if (o[e] == 0.0f) {
                dropped++;
                continue;
            }
            double want = (double)probs[e] / (1.0 - (double)p);
            if (fabs((double)o[e] - want) > 1e-6 * (1.0 + want)) bad++;
        }
        double rate = (double)dropped / (double)n, sd = sqrt((double)p * (1 - p) / (double)n);
        CHECK(fabs(rate - (double)p) < 5 * sd, "drop rate %.4f, want %.2f +- %.4f", rate,
              (double)p, 5 * sd);
        CHECK(bad == 0, "%zu kept weights are not P / (1 - p)", bad);
        run_identity(B, H, N, p, 11, REF, o3, lse, NULL);
        size_t differ = 0;
        for (size_t e = 0; e < n; e++) differ += (o[e] == 0.0f) != (o3[e] == 0.0f);
        CHECK(differ == 0, "fused and reference drop %zu different weights", differ);
        run_identity(B, H, N, p, 11, FUS, o3, lse, NULL);
        CHECK(memcmp(o, o3, sizeof(float) * n) == 0, "the same seed gave another result");
        run_identity(B, H, N, p, 12, FUS, o3, lse, NULL);
        differ = 0;
        for (size_t e = 0; e < n; e++) differ += (o[e] == 0.0f) != (o3[e] == 0.0f);
        CHECK(differ > n * (size_t)(100 * p * (1 - p)) / 200,
              "seeds 11 and 12 differ in only %zu of %zu weights", differ, n);
    }
    free(o); free(o2); free(o3); free(probs); free(lse); free(lse0);
}

/* fused against reference, several tiles per head */
static const tu_case cases[] = {
    {SZ("plain, 3 x 2 tiles", 2, 2, 2, 200, 130, 32, 24), .dropout = 0.2f},
    {SZ("causal bottom-right, GQA, key_lens", 2, 4, 2, 150, 210, 16, 16), .dropout = 0.4f,
     .causal = ATTN_CAUSAL_BOTTOM_RIGHT, .key_lens = TU_KL_RANDOM},
    {SZ("bool mask, causal top-left, strided", 1, 2, 1, 120, 120, 24, 8), .dropout = 0.1f,
     .mask = ATTN_MASK_BOOL, .mfull = {0, 1, 1, 1}, .hide = 0.3,
     .causal = ATTN_CAUSAL_TOP_LEFT, .lq = TL_BNHD, .lkv = TL_DMAJOR, .lo = TL_PADDED},
    {SZ("bias [B,1,Nq,Nk] with dbias", 2, 2, 2, 100, 97, 16, 16), .dropout = 0.25f,
     .mask = ATTN_MASK_BIAS, .mfull = {1, 0, 1, 1}, .hide = 0.1},
    {SZ("one query, long keys (no decode path)", 1, 4, 1, 1, 700, 32, 32), .dropout = 0.3f},
};

static void fused_vs_reference(void) {
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        const tu_case *c = &cases[t];
        tu_begin("%s", tu_case_str(c));
        tu_problem p;
        tu_outputs r, f;
        tu_problem_init(&p, c, 300 + t);
        tu_outputs_alloc(&r, &p);
        tu_outputs_alloc(&f, &p);
        run_both(&p, REF, &r);
        run_both(&p, FUS, &f);
        const tu_tensor *a[5] = {&r.o, &r.dq, &r.dk, &r.dv, &r.dbias};
        const tu_tensor *b[5] = {&f.o, &f.dq, &f.dk, &f.dv, &f.dbias};
        const char *nm[5] = {"O", "dQ", "dK", "dV", "dbias"};
        for (int k = 0; k < (r.has_dbias ? 5 : 4); k++) {
            double err = tu_max_diff(a[k], b[k]);
            double tol = tu_tol(2e-6, tu_max_abs(a[k]), (double)c->Nk, 4.0);
            CHECK(err <= tol, "%s: fused vs reference max abs err %.3g > %.3g", nm[k], err, tol);
        }
        tu_check_hidden(&p, &f, 1, "fused");
        /* 1 thread and 2 threads: the same bits */
        tu_outputs one;
        tu_outputs_alloc(&one, &p);
        attn_set_num_threads(1);
        run_both(&p, FUS, &one);
        attn_set_num_threads(2);
        CHECK(tu_bitwise_equal(&one.o, &f.o) && tu_bitwise_equal(&one.dq, &f.dq) &&
                  tu_bitwise_equal(&one.dk, &f.dk) && tu_bitwise_equal(&one.dv, &f.dv),
              "1 thread and 2 threads differ");
        attn_set_num_threads(0);
        tu_outputs_free(&one);
        tu_outputs_free(&r);
        tu_outputs_free(&f);
        tu_problem_free(&p);
    }
}

/* p = 1: every weight dropped: O = 0 and zero gradients, LSE still the softmax's */
static void drop_all(void) {
    tu_case c = {SZ("p = 1", 1, 2, 2, 20, 30, 8, 8), .dropout = 1.0f};
    tu_begin("%s", tu_case_str(&c));
    for (int k = REF; k <= FUS; k++) {
        tu_problem p;
        tu_outputs a;
        tu_problem_init(&p, &c, 9);
        tu_outputs_alloc(&a, &p);
        run_both(&p, (attn_kernel_t)k, &a);
        CHECK(tu_max_abs(&a.o) == 0.0 && tu_max_abs(&a.dq) == 0.0 && tu_max_abs(&a.dk) == 0.0 &&
                  tu_max_abs(&a.dv) == 0.0,
              "kernel %d: |O| %g |dQ| %g |dK| %g |dV| %g, want 0", k, tu_max_abs(&a.o),
              tu_max_abs(&a.dq), tu_max_abs(&a.dk), tu_max_abs(&a.dv));
        int finite = 1;
        for (int64_t i = 0; i < c.B * c.Hq * c.Nq; i++) finite &= isfinite(a.lse[i]);
        CHECK(finite, "kernel %d: LSE not finite", k);
        tu_outputs_free(&a);
        tu_problem_free(&p);
    }
}

static void bad_values(void) {
    tu_begin("bad dropout_p");
    float q[4] = {0}, o[4];
    attn_shape_t s = {1, 1, 1, 1, 1, 4, 4};
    const float bad[3] = {-0.1f, 1.5f, NAN};
    for (int i = 0; i < 3; i++) {
        attn_params_t prm = attn_default_params();
        prm.dropout_p = bad[i];
        attn_status_t st = attn_forward(&s, &prm, attn_src_f32(q, 4, 4, 4),
                                        attn_src_f32(q, 4, 4, 4), attn_src_f32(q, 4, 4, 4),
                                        attn_dst_f32(o, 4, 4, 4), NULL);
        CHECK(st == ATTN_STATUS_BAD_ARGUMENT && strstr(attn_last_error(), "params.dropout_p"),
              "dropout_p %g: status %d, '%s'", (double)bad[i], (int)st, attn_last_error());
    }
}

int main(void) {
    zero_is_off();
    mask_properties();
    fused_vs_reference();
    drop_all();
    bad_values();
    return tu_finish("test_sdpa_dropout");
}
