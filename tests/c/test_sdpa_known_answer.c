/* Tiny problems whose O and LSE are worked out by hand (closed forms below, not an oracle),
 * for both kernels. They pin down the contract of attn.h independently of the reference:
 * natural-log LSE, the default scale 1/sqrt(D), both causal rules with and without key_lens,
 * the grouped-query head mapping h -> h / (Hq / Hkv), bias and boolean masks, fully hidden
 * rows, and numerical stability for large scores. Tolerance: 1e-6 (absolute, values O(1)),
 * except 2e-4 where LSE is ~1000 (fp32 spacing there is 6e-5). */
#include "testutil.h"

#include <math.h>
#include <string.h>

static const attn_kernel_t kernels[2] = {ATTN_KERNEL_REFERENCE, ATTN_KERNEL_FUSED};
static const char *const kname[2] = {"reference", "fused"};

/* Contiguous forward of a small problem. */
static attn_status_t fwd(const attn_shape_t *s, attn_params_t prm, int kern, const float *q,
                         const float *k, const float *v, float *o, float *lse) {
    prm.kernel = kernels[kern];
    int64_t D = s->dim_qk, Dv = s->dim_v;
    return attn_forward(s, &prm,
                        attn_src_f32(q, s->heads_q * s->len_q * D, s->len_q * D, D),
                        attn_src_f32(k, s->heads_kv * s->len_k * D, s->len_k * D, D),
                        attn_src_f32(v, s->heads_kv * s->len_k * Dv, s->len_k * Dv, Dv),
                        attn_dst_f32(o, s->heads_q * s->len_q * Dv, s->len_q * Dv, Dv), lse);
}

#define NEAR(got, want, tol, what)                                                            \
    CHECK(fabs((double)(got) - (double)(want)) <= (tol), "%s: %s = %.9g, want %.9g", kname[kn], \
          what, (double)(got), (double)(want))

/* 1 query, 2 keys, D = Dv = 1, scale 1: s = (1, -1), v = (1, 3).
 * LSE = log(e + 1/e); O = (e * 1 + (1/e) * 3) / (e + 1/e). */
static void one_query_two_keys(void) {
    tu_begin("1 query, 2 keys");
    float q[1] = {1}, k[2] = {1, -1}, v[2] = {1, 3}, o[1], lse[1];
    attn_shape_t s = {1, 1, 1, 1, 2, 1, 1};
    attn_params_t prm = attn_default_params();
    prm.scale = 1.0f;
    double e = exp(1.0), want_lse = log(e + 1 / e), want_o = (e + 3 / e) / (e + 1 / e);
    for (int kn = 0; kn < 2; kn++) {
        CHECK_OK(fwd(&s, prm, kn, q, k, v, o, lse));
        NEAR(lse[0], want_lse, 1e-6, "LSE");
        NEAR(o[0], want_o, 1e-6, "O");
    }
}

/* Default scale 1/sqrt(D) with D = 4: q = (1,1,1,1), k0 = (1,0,0,0), k1 = 0, so s = (0.5, 0).
 * LSE = log(e^0.5 + 1); O = (e^0.5 v0 + v1) / (e^0.5 + 1) with v0 = (2, 0), v1 = (0, 4). */
static void default_scale(void) {
    tu_begin("default scale 1/sqrt(D)");
    float q[4] = {1, 1, 1, 1}, k[8] = {1, 0, 0, 0, 0, 0, 0, 0}, v[4] = {2, 0, 0, 4}, o[2], lse[1];
    attn_shape_t s = {1, 1, 1, 1, 2, 4, 2};
    double w = exp(0.5);
    for (int kn = 0; kn < 2; kn++) {
        CHECK_OK(fwd(&s, attn_default_params(), kn, q, k, v, o, lse));
        NEAR(lse[0], log(w + 1), 1e-6, "LSE");
        NEAR(o[0], 2 * w / (w + 1), 1e-6, "O[0]");
        NEAR(o[1], 4 / (w + 1), 1e-6, "O[1]");
    }
}

/* q = 0: every visible score is 0, so O[i] is the mean of the visible V rows and
 * LSE[i] = log(number visible). Nq = 2, Nk = 3, V rows 1, 10, 100.
 *   top-left:                 q0 sees {0}, q1 sees {0, 1}
 *   bottom-right (offset 1):  q0 sees {0, 1}, q1 sees {0, 1, 2}
 *   bottom-right, key_lens 2 (offset 0): q0 sees {0}, q1 sees {0, 1}
 *   top-left, key_lens 1:     q0 sees {0}, q1 sees {0}
 *   key_lens 0:               nothing: O = 0, LSE = -inf */
static void causal_rules(void) {
    tu_begin("causal rules and key_lens");
    float q[2] = {0, 0}, k[3] = {5, -2, 7}, v[3] = {1, 10, 100}, o[2], lse[2];
    attn_shape_t s = {1, 1, 1, 2, 3, 1, 1};
    struct { attn_causal_t c; int64_t len; double o0, o1; int n0, n1; } t[] = {
        {ATTN_CAUSAL_TOP_LEFT, -1, 1, 5.5, 1, 2},
        {ATTN_CAUSAL_BOTTOM_RIGHT, -1, 5.5, 37, 2, 3},
        {ATTN_CAUSAL_BOTTOM_RIGHT, 2, 1, 5.5, 1, 2},
        {ATTN_CAUSAL_TOP_LEFT, 1, 1, 1, 1, 1},
        {ATTN_CAUSAL_NONE, 2, 5.5, 5.5, 2, 2},
        {ATTN_CAUSAL_BOTTOM_RIGHT, 1, 0, 1, 0, 1}, /* offset -1: q0 sees nothing */
        {ATTN_CAUSAL_NONE, 0, 0, 0, 0, 0},
    };
    for (size_t c = 0; c < sizeof t / sizeof t[0]; c++) {
        attn_params_t prm = attn_default_params();
        prm.causal = t[c].c;
        int64_t len = t[c].len;
        prm.key_lens = len >= 0 ? &len : NULL;
        tu_begin("causal %d, key_lens %lld", (int)t[c].c, (long long)len);
        for (int kn = 0; kn < 2; kn++) {
            CHECK_OK(fwd(&s, prm, kn, q, k, v, o, lse));
            NEAR(o[0], t[c].o0, 1e-5, "O[0]");
            NEAR(o[1], t[c].o1, 1e-5, "O[1]");
            if (t[c].n0) NEAR(lse[0], log((double)t[c].n0), 1e-6, "LSE[0]");
            else CHECK(lse[0] == -INFINITY && o[0] == 0.0f, "%s: hidden row 0: LSE %g O %g",
                       kname[kn], lse[0], o[0]);
            if (t[c].n1) NEAR(lse[1], log((double)t[c].n1), 1e-6, "LSE[1]");
            else CHECK(lse[1] == -INFINITY && o[1] == 0.0f, "%s: hidden row 1: LSE %g O %g",
                       kname[kn], lse[1], o[1]);
        }
    }
}

/* Grouped-query mapping: Hq = 4, Hkv = 2, q = 0; K/V head 0 holds V = 1, head 1 holds V = 2.
 * Query heads 0, 1 read head 0 and heads 2, 3 read head 1 (h / 2, not h % 2). */
static void gqa_mapping(void) {
    tu_begin("grouped-query head mapping");
    float q[4 * 1 * 1] = {0, 0, 0, 0}, k[2 * 2] = {1, 2, 3, 4}, v[2 * 2] = {1, 1, 2, 2};
    float o[4], lse[4];
    attn_shape_t s = {1, 4, 2, 1, 2, 1, 1};
    for (int kn = 0; kn < 2; kn++) {
        CHECK_OK(fwd(&s, attn_default_params(), kn, q, k, v, o, lse));
        const double want[4] = {1, 1, 2, 2};
        for (int h = 0; h < 4; h++) NEAR(o[h], want[h], 1e-6, "O[h]");
    }
}

/* Masks with q = 0 over 3 keys, V = (1, 10, 100), Nq = 2:
 *   bias [1,1,1,Nk] = (0, log 3, -inf): O = (1 + 30) / 4, LSE = log 4 for both rows
 *   bool [1,1,Nq,1] = (0, 1): row 0 hidden (O = 0, LSE = -inf), row 1 = mean = 37 */
static void masks(void) {
    tu_begin("bias and bool masks");
    float q[2] = {0, 0}, k[3] = {1, 2, 3}, v[3] = {1, 10, 100}, o[2], lse[2];
    float bias[3] = {0.0f, (float)log(3.0), -INFINITY};
    uint8_t keep[2] = {0, 1};
    attn_shape_t s = {1, 1, 1, 2, 3, 1, 1};
    attn_params_t pb = attn_default_params(), pm = attn_default_params();
    pb.mask.kind = ATTN_MASK_BIAS; pb.mask.data = bias; pb.mask.shape[3] = 3;
    pb.mask.stride[3] = 1;
    pm.mask.kind = ATTN_MASK_BOOL; pm.mask.data = keep; pm.mask.shape[2] = 2;
    pm.mask.stride[2] = 1;
    for (int kn = 0; kn < 2; kn++) {
        CHECK_OK(fwd(&s, pb, kn, q, k, v, o, lse));
        NEAR(o[0], 31.0 / 4, 1e-5, "bias O[0]");
        NEAR(o[1], 31.0 / 4, 1e-5, "bias O[1]");
        NEAR(lse[0], log(4.0), 1e-6, "bias LSE[0]");
        CHECK_OK(fwd(&s, pm, kn, q, k, v, o, lse));
        CHECK(o[0] == 0.0f && lse[0] == -INFINITY, "%s: bool-hidden row: O %g LSE %g",
              kname[kn], o[0], lse[0]);
        NEAR(o[1], 37.0, 1e-5, "bool O[1]");
        NEAR(lse[1], log(3.0), 1e-6, "bool LSE[1]");
    }
}

/* Large scores: D = 1, scale 1, q = 100, k = (10, 10, 9.9): s = (1000, 1000, 990).
 * LSE = 1000 + log(2 + e^-10); O = (v0 + v1 + e^-10 v2) / (2 + e^-10). A kernel that does
 * not subtract the row maximum overflows exp here. Negative: q = -100 gives the same with
 * s = (-1000, -1000, -990), dominated by key 2. */
static void large_scores(void) {
    tu_begin("large scores");
    float q[1] = {100}, k[3] = {10, 10, 9.9f}, v[3] = {1, 3, 7}, o[1], lse[1];
    attn_shape_t s = {1, 1, 1, 1, 3, 1, 1};
    attn_params_t prm = attn_default_params();
    prm.scale = 1.0f;
    double s2 = 100.0 * (double)k[2], w = exp(s2 - 1000.0);
    for (int kn = 0; kn < 2; kn++) {
        CHECK_OK(fwd(&s, prm, kn, q, k, v, o, lse));
        NEAR(lse[0], 1000.0 + log(2.0 + w), 2e-4, "LSE");
        NEAR(o[0], (1.0 + 3.0 + 7.0 * w) / (2.0 + w), 1e-5, "O");
        q[0] = -100;
        CHECK_OK(fwd(&s, prm, kn, q, k, v, o, lse));
        /* s = (-1000, -1000, -s2); max is -s2 = -990 */
        double r = exp(-1000.0 + s2); /* weight of keys 0 and 1 relative to key 2 */
        NEAR(lse[0], -s2 + log(1.0 + 2.0 * r), 2e-4, "LSE (negative scores)");
        NEAR(o[0], (7.0 + 4.0 * r) / (1.0 + 2.0 * r), 1e-5, "O (negative scores)");
        q[0] = 100;
    }
}

int main(void) {
    one_query_two_keys();
    default_scale();
    causal_rules();
    gqa_mapping();
    masks();
    large_scores();
    return tu_finish("test_sdpa_known_answer");
}
