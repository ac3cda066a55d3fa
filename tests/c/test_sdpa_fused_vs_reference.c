/* The fused kernel against the double-precision reference, forward (O, LSE) and backward
 * (dQ, dK, dV, dbias), over a table of shapes, masks, causal rules, key lengths and layouts.
 * The reference forward is itself checked against the test's own oracle (tu_oracle_forward,
 * written from the contract in attn.h), so a bug shared by both kernels shows too.
 *
 * Tolerances (fp32 fused against the double reference, absolute, per tensor):
 *   forward  O, LSE:           tu_tol(2e-5, max|ref|, max(D, Nk), max|s|)
 *   backward dQ, dK, dV, dbias: tu_tol(5e-5, max|ref|, max(D, Dv, Nk, Nq * Hq / Hkv), max|s|)
 *   i.e. 2e-5 (5e-5) times max(1, largest reference magnitude), times sqrt(n / 64) for a
 *   reduction of length n > 64, times max|s| / 4 when scores exceed 4 in magnitude.
 *   reference against oracle: 2e-6 * max(1, max|oracle|) (both in double; the output is fp32).
 * Exact checks: -inf LSE, zero rows and zero gradients for hidden rows and keys, no NaN or
 * inf, and output padding untouched (outputs are pre-filled with NaN, so an unwritten logical
 * element shows as NaN too). */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF ATTN_KERNEL_REFERENCE
#define FUS ATTN_KERNEL_FUSED
#define TL ATTN_CAUSAL_TOP_LEFT
#define BR ATTN_CAUSAL_BOTTOM_RIGHT
#define MBOOL ATTN_MASK_BOOL
#define MBIAS ATTN_MASK_BIAS

/* name, B, Hq, Hkv, Nq, Nk, D, Dv, then optional fields by designator */
#define SZ(nm, b, hq, hkv, nq, nk, d, dv)                                                     \
    .name = nm, .B = b, .Hq = hq, .Hkv = hkv, .Nq = nq, .Nk = nk, .D = d, .Dv = dv
#define M_FULL .mfull = {1, 1, 1, 1}
#define M_QK .mfull = {0, 0, 1, 1}
#define M_BK .mfull = {1, 0, 0, 1}
#define M_Q1 .mfull = {0, 0, 1, 0}
#define M_H .mfull = {0, 1, 0, 0}

static const tu_case cases[] = {
    /* sizes */
    {SZ("basic", 2, 2, 2, 17, 17, 16, 16)},
    {SZ("N=1", 1, 1, 1, 1, 1, 8, 8)},
    {SZ("N=1 D=1", 2, 3, 3, 1, 1, 1, 1)},
    {SZ("decode Nq=1 (MQA)", 2, 2, 1, 1, 37, 32, 32)},
    {SZ("Nk=1", 2, 2, 2, 37, 1, 16, 16)},
    {SZ("Nq<Nk", 1, 2, 2, 9, 70, 24, 24)},
    {SZ("Nq>Nk", 1, 2, 2, 70, 9, 24, 24)},
    {SZ("D=1", 2, 2, 2, 19, 23, 1, 1)},
    {SZ("D=3 Dv=13", 1, 2, 2, 19, 23, 3, 13)},
    {SZ("D=13 Dv=3", 1, 2, 2, 23, 19, 13, 3)},
    {SZ("D=80", 1, 2, 1, 33, 47, 80, 80)},
    {SZ("D=129", 1, 1, 1, 29, 41, 129, 129)},
    {SZ("D=256", 1, 2, 2, 21, 35, 256, 256)},
    {SZ("D=256 Dv=1", 1, 1, 1, 17, 19, 256, 1)},
    {SZ("D=1 Dv=256", 1, 1, 1, 17, 19, 1, 256)},
    {SZ("D=80 Dv=129", 1, 2, 1, 13, 66, 80, 129)},
    {SZ("GQA Hq=4 Hkv=2", 2, 4, 2, 31, 29, 16, 16)},
    {SZ("MQA Hq=4 Hkv=1", 2, 4, 1, 29, 31, 16, 16)},
    /* K and V of a head past 16 MiB (or a quarter of the L3): the forward takes 192 queries
     * per block where L2 holds such a block (sdpa_fused.c: 1-2 MiB of L2 does, Zen 3's 512 KiB
     * does not); key_lens or the causal rule keep the part the reference must read small */
    {SZ("long cache, 192-query blocks, short key_lens", 1, 1, 1, 200, 33000, 64, 64),
     .key_lens = TU_KL_SHORT},
    {SZ("long cache, 192-query blocks, top-left bias", 1, 1, 1, 200, 33000, 64, 64),
     .causal = TL, .mask = MBIAS, M_QK},
    /* decoding shapes (Nq * Hq / Hkv <= 4 queries against Nk >= 256 keys), over several
     * 512-key chunks */
    {SZ("decode Nq=1 MQA Nk=1100", 2, 4, 1, 1, 1100, 64, 64)},
    {SZ("decode Nq=1 GQA odd Nk, odd D", 1, 6, 2, 1, 1101, 37, 19)},
    {SZ("decode Nq=1 MQA G=2 Nk=577", 1, 2, 1, 1, 577, 64, 8)},
    {SZ("decode Nq=2 GQA bottom-right key_lens", 3, 4, 2, 2, 700, 32, 48), .causal = BR,
     .key_lens = TU_KL_ZERO},
    {SZ("decode Nq=4 top-left bias -inf", 2, 2, 2, 4, 600, 16, 16), .causal = TL,
     .mask = MBIAS, M_BK, .hide = 0.2},
    {SZ("decode bool mask hidden slice", 2, 2, 2, 1, 513, 8, 8), .mask = MBOOL, M_FULL,
     .hide = 0.5, .hide_slice = 1},
    {SZ("decode bias [1,Hq,1,1] key_lens", 2, 3, 1, 1, 1030, 16, 8), .mask = MBIAS, M_H,
     .key_lens = TU_KL_RANDOM},
    {SZ("decode strided layouts", 2, 2, 1, 2, 300, 13, 9), .lq = TL_DMAJOR,
     .lkv = TL_REVERSED, .lo = TL_PADDED},
    {SZ("decode K/V broadcast over batch", 3, 1, 1, 3, 256, 24, 24), .lkv = TL_BCAST_B,
     .lq = TL_BNHD},
    {SZ("decode large logits", 1, 2, 2, 2, 800, 32, 16), .scale = 1.0f, .amp = 4.0},
    /* tile boundaries and multi-tile problems (not multiples of 64, above 128) */
    {SZ("64x64", 1, 2, 2, 64, 64, 32, 32)},
    {SZ("65x63", 1, 2, 1, 65, 63, 32, 32)},
    {SZ("129x127", 1, 1, 1, 129, 127, 16, 16)},
    {SZ("200x333 plain", 1, 2, 2, 200, 333, 32, 32)},
    {SZ("200x333 GQA bottom-right bias", 2, 4, 2, 200, 333, 64, 48), .causal = BR,
     .mask = MBIAS, M_QK, .hide = 0.05},
    {SZ("333x200 MQA top-left bool key_lens", 1, 4, 1, 333, 200, 40, 40), .causal = TL,
     .mask = MBOOL, M_FULL, .hide = 0.1, .key_lens = TU_KL_ZERO},
    {SZ("200x333 bnhd layouts bias [B,1,1,Nk]", 2, 2, 1, 200, 333, 24, 24), .mask = MBIAS,
     M_BK, .hide = 0.1, .lq = TL_BNHD, .lkv = TL_BNHD, .lo = TL_PADDED},
    /* bool masks, every broadcast pattern, some rows / batches fully hidden */
    {SZ("bool [B,Hq,Nq,Nk]", 2, 2, 2, 13, 21, 16, 16), .mask = MBOOL, M_FULL, .hide = 0.3,
     .hide_slice = 1},
    {SZ("bool [1,1,Nq,Nk]", 2, 4, 2, 13, 21, 16, 16), .mask = MBOOL, M_QK, .hide = 0.3,
     .hide_slice = 1},
    {SZ("bool [B,1,1,Nk]", 2, 2, 2, 13, 21, 16, 16), .mask = MBOOL, M_BK, .hide = 0.3,
     .hide_slice = 1},
    {SZ("bool [1,1,Nq,1]", 2, 2, 1, 13, 21, 16, 16), .mask = MBOOL, M_Q1, .hide = 0.3},
    {SZ("bool [1,Hq,1,1]", 2, 3, 3, 13, 21, 16, 16), .mask = MBOOL, M_H, .hide_slice = 1},
    /* float bias, every broadcast pattern, with and without -inf */
    {SZ("bias [B,Hq,Nq,Nk]", 2, 2, 2, 13, 21, 16, 16), .mask = MBIAS, M_FULL},
    {SZ("bias [1,1,Nq,Nk]", 2, 2, 2, 13, 21, 16, 16), .mask = MBIAS, M_QK},
    {SZ("bias [B,1,1,Nk]", 2, 2, 2, 13, 21, 16, 16), .mask = MBIAS, M_BK},
    {SZ("bias [1,1,Nq,1]", 2, 2, 2, 13, 21, 16, 16), .mask = MBIAS, M_Q1},
    {SZ("bias [1,Hq,1,1]", 2, 4, 2, 13, 21, 16, 16), .mask = MBIAS, M_H},
    {SZ("bias -inf [B,Hq,Nq,Nk]", 2, 2, 2, 13, 21, 16, 16), .mask = MBIAS, M_FULL,
     .hide = 0.3, .hide_slice = 1},
    {SZ("bias -inf [1,1,Nq,Nk] GQA", 2, 4, 2, 13, 21, 16, 16), .mask = MBIAS, M_QK,
     .hide = 0.2, .hide_slice = 1},
    {SZ("bias -inf [B,1,1,Nk]", 2, 2, 2, 13, 21, 16, 16), .mask = MBIAS, M_BK, .hide = 0.2,
     .hide_slice = 1},
    {SZ("bias -inf [1,1,Nq,1]", 2, 2, 2, 13, 21, 16, 16), .mask = MBIAS, M_Q1, .hide = 0.2,
     .hide_slice = 1},
    /* causal rules */
    {SZ("top-left square", 2, 2, 2, 19, 19, 16, 16), .causal = TL},
    {SZ("top-left Nq<Nk", 2, 2, 1, 9, 30, 16, 16), .causal = TL},
    {SZ("top-left Nq>Nk", 2, 2, 1, 30, 9, 16, 16), .causal = TL},
    {SZ("bottom-right Nq<Nk", 2, 2, 1, 9, 30, 16, 16), .causal = BR},
    {SZ("bottom-right Nq>Nk (hidden rows)", 2, 2, 1, 30, 9, 16, 16), .causal = BR},
    {SZ("bottom-right key_lens", 3, 2, 2, 11, 25, 16, 16), .causal = BR,
     .key_lens = TU_KL_ZERO},
    {SZ("top-left key_lens", 3, 2, 2, 25, 11, 16, 16), .causal = TL,
     .key_lens = TU_KL_ZERO},
    {SZ("bottom-right GQA bias -inf", 2, 4, 2, 15, 40, 16, 16), .causal = BR, .mask = MBIAS,
     M_FULL, .hide = 0.2},
    {SZ("top-left bool [B,1,1,Nk]", 2, 4, 1, 40, 15, 16, 16), .causal = TL, .mask = MBOOL,
     M_BK, .hide = 0.2},
    /* key_lens */
    {SZ("key_lens with 0", 3, 2, 2, 12, 31, 16, 16), .key_lens = TU_KL_ZERO},
    {SZ("key_lens bool", 2, 2, 1, 12, 31, 16, 16), .key_lens = TU_KL_RANDOM, .mask = MBOOL,
     M_QK, .hide = 0.2},
    {SZ("key_lens 0 bias dbias", 2, 2, 2, 12, 31, 16, 16), .key_lens = TU_KL_ZERO,
     .mask = MBIAS, M_FULL},
    /* layouts */
    {SZ("bnhd", 2, 4, 2, 23, 29, 16, 16), .lq = TL_BNHD, .lkv = TL_BNHD, .lo = TL_BNHD},
    {SZ("padded", 2, 2, 2, 23, 29, 16, 8), .lq = TL_PADDED, .lkv = TL_PADDED, .lo = TL_PADDED},
    {SZ("feature-major", 2, 2, 1, 23, 29, 12, 20), .lq = TL_DMAJOR, .lkv = TL_DMAJOR,
     .lo = TL_DMAJOR},
    {SZ("K/V batch stride 0", 3, 2, 1, 23, 29, 16, 16), .lkv = TL_BCAST_B, .lo = TL_PADDED},
    {SZ("K/V head stride 0", 2, 4, 2, 23, 29, 16, 16), .lkv = TL_BCAST_H, .lq = TL_BNHD},
    {SZ("Q batch stride 0", 2, 2, 2, 23, 29, 16, 16), .lq = TL_BCAST_B, .lo = TL_DMAJOR},
    {SZ("bnhd GQA causal bias", 2, 4, 2, 37, 45, 16, 16), .lq = TL_BNHD, .lkv = TL_PADDED,
     .lo = TL_BNHD, .causal = BR, .mask = MBIAS, M_BK, .hide = 0.1},
    /* scales and magnitudes */
    {SZ("scale 0.3", 1, 2, 2, 17, 23, 16, 16), .scale = 0.3f},
    {SZ("negative scale", 1, 2, 2, 17, 23, 16, 16), .scale = -0.7f},
    {SZ("tiny scale", 1, 2, 2, 17, 23, 16, 16), .scale = 1e-30f},
    {SZ("large logits (exp overflows without max)", 1, 2, 2, 17, 23, 32, 16), .scale = 1.0f,
     .amp = 4.0},
    {SZ("large logits bias causal", 2, 2, 1, 21, 23, 32, 16), .scale = 1.0f, .amp = 3.0,
     .causal = TL, .mask = MBIAS, M_FULL, .hide = 0.1},
};

static const char *current_name = "";

static double max_abs_arr(const float *a, int64_t n) {
    double m = 0.0;
    for (int64_t e = 0; e < n; e++)
        if (isfinite(a[e]) && fabs((double)a[e]) > m) m = fabs((double)a[e]);
    return m;
}

/* max |a - b| where both are finite; +inf when one is -inf and the other is not, or NaN */
static double lse_diff(const float *a, const float *b, int64_t n) {
    double m = 0.0;
    for (int64_t e = 0; e < n; e++) {
        if (isnan(a[e]) || isnan(b[e])) return INFINITY;
        if (isinf(a[e]) || isinf(b[e])) {
            if (a[e] != b[e]) return INFINITY;
            continue;
        }
        double d = fabs((double)a[e] - (double)b[e]);
        if (d > m) m = d;
    }
    return m;
}

/* Reference forward against the oracle (double, straight from the contract). */
static void check_oracle(const tu_problem *p, const tu_outputs *ref) {
    const tu_case *c = &p->c;
    int64_t nrow = c->B * c->Hq * c->Nq;
    double *o = malloc(sizeof(double) * (size_t)(nrow * c->Dv));
    double *l = malloc(sizeof(double) * (size_t)nrow);
    if (!o || !l) exit(2);
    tu_oracle_forward(p, o, l);
    double omax = 0.0, lmax = 0.0, oerr = 0.0, lerr = 0.0;
    for (int64_t r = 0; r < nrow; r++) {
        if (isfinite(l[r]) && fabs(l[r]) > lmax) lmax = fabs(l[r]);
        float got = ref->lse[r];
        if (isinf(l[r]) || !isfinite(got)) {
            if (!(isinf(l[r]) && got == -INFINITY)) lerr = INFINITY;
        } else if (fabs(got - l[r]) > lerr) {
            lerr = fabs(got - l[r]);
        }
        for (int64_t e = 0; e < c->Dv; e++) {
            double want = o[r * c->Dv + e];
            int64_t b = r / (c->Hq * c->Nq), h = (r / c->Nq) % c->Hq, i = r % c->Nq;
            double d = fabs((double)TU_AT(&ref->o, b, h, i, e) - want);
            if (!(d <= oerr)) oerr = d;
            if (fabs(want) > omax) omax = fabs(want);
        }
    }
    double otol = 2e-6 * (omax > 1 ? omax : 1), ltol = 2e-6 * (lmax > 1 ? lmax : 1);
    CHECK(oerr <= otol, "reference O vs oracle: max abs err %.3g > %.3g", oerr, otol);
    CHECK(lerr <= ltol, "reference LSE vs oracle: max abs err %.3g > %.3g", lerr, ltol);
    free(o);
    free(l);
}

/* worst err / tol seen, to show how much headroom the tolerances leave */
static double worst_ratio;
static const char *worst_where = "-";
static char worst_buf[600];

static void note_ratio(const char *what, double err, double tol) {
    if (err / tol > worst_ratio) {
        worst_ratio = err / tol;
        snprintf(worst_buf, sizeof worst_buf, "%s of %s", what, current_name);
        worst_where = worst_buf;
    }
}

static void compare(const char *what, const tu_tensor *ref, const tu_tensor *fus, double base,
                    double nred, double smax) {
    double err = tu_max_diff(ref, fus), rmax = tu_max_abs(ref);
    double tol = tu_tol(base, rmax, nred, smax);
    note_ratio(what, err, tol);
    CHECK(err <= tol, "%s: fused vs reference max abs err %.3g > tol %.3g (max|ref| %.3g)",
          what, err, tol, rmax);
}

static void check_padding(const tu_outputs *o, const char *label) {
    const float nf = tu_nan_fill();
    CHECK(tu_padding_intact(&o->o, nf), "%s: O padding was written", label);
    CHECK(tu_padding_intact(&o->dq, nf), "%s: dQ padding was written", label);
    CHECK(tu_padding_intact(&o->dk, nf), "%s: dK padding was written", label);
    CHECK(tu_padding_intact(&o->dv, nf), "%s: dV padding was written", label);
    if (o->has_dbias) CHECK(tu_padding_intact(&o->dbias, nf), "%s: dbias padding was written",
                            label);
}

static void run_problem(tu_problem *pp);

static void run_case(const tu_case *c, uint64_t seed) {
    tu_problem p;
    tu_problem_init(&p, c, seed);
    run_problem(&p);
    tu_problem_free(&p);
}

static void run_problem(tu_problem *pp) {
    tu_problem p = *pp; /* a shallow copy sharing the buffers; the caller frees them */
    const tu_case *c = &pp->c;
    tu_outputs ref, fus;
    tu_begin("%s", tu_case_str(c));
    current_name = c->name;
    tu_outputs_alloc(&ref, &p);
    tu_outputs_alloc(&fus, &p);
    const int64_t g = c->Hq / c->Hkv, nrow = c->B * c->Hq * c->Nq;
    double smax = tu_max_score(&p);
    double nf = (double)(c->D > c->Nk ? c->D : c->Nk);
    double nb = nf;
    if (c->Dv > nb) nb = (double)c->Dv;
    if ((double)(c->Nq * g) > nb) nb = (double)(c->Nq * g);

    /* forward */
    CHECK_OK(tu_forward(&p, REF, &ref));
    CHECK_OK(tu_forward(&p, FUS, &fus));
    check_oracle(&p, &ref);
    compare("O", &ref.o, &fus.o, 2e-5, nf, smax);
    double lerr = lse_diff(ref.lse, fus.lse, nrow), lmax = max_abs_arr(ref.lse, nrow);
    double ltol = tu_tol(2e-5, lmax, nf, smax);
    note_ratio("LSE", lerr, ltol);
    CHECK(lerr <= ltol, "LSE: fused vs reference max abs err %.3g > tol %.3g", lerr, ltol);
    tu_check_hidden(&p, &ref, 0, "reference forward");
    tu_check_hidden(&p, &fus, 0, "fused forward");

    /* forward without LSE gives the same O (bitwise) */
    {
        tu_outputs o2;
        tu_outputs_alloc(&o2, &p);
        attn_params_t prm = p.params;
        prm.kernel = FUS;
        CHECK_OK(attn_forward(&p.shape, &prm, tu_src(&p.q), tu_src(&p.k), tu_src(&p.v),
                              tu_dst(&o2.o), NULL));
        CHECK(tu_bitwise_equal(&o2.o, &fus.o), "fused O with lse = NULL differs from O with lse");
        tu_outputs_free(&o2);
    }

    /* backward */
    CHECK_OK(tu_backward(&p, REF, &ref));
    CHECK_OK(tu_backward(&p, FUS, &fus));
    compare("dQ", &ref.dq, &fus.dq, 5e-5, nb, smax);
    compare("dK", &ref.dk, &fus.dk, 5e-5, nb, smax);
    compare("dV", &ref.dv, &fus.dv, 5e-5, nb, smax);
    if (ref.has_dbias) {
        double red = (double)(c->B * c->Hq * c->Nq * c->Nk) /
                     (double)(p.mshape[0] * p.mshape[1] * p.mshape[2] * p.mshape[3]);
        compare("dbias", &ref.dbias, &fus.dbias, 5e-5, nb * red, smax);
    }
    tu_check_hidden(&p, &ref, 1, "reference backward");
    tu_check_hidden(&p, &fus, 1, "fused backward");
    check_padding(&ref, "reference");
    check_padding(&fus, "fused");
    tu_outputs_free(&ref);
    tu_outputs_free(&fus);
}

/* The backward overwrites its outputs: run it twice into the same buffers (first pre-filled
 * with garbage numbers, not NaN) and expect identical results. */
static void check_overwrite(void) {
    tu_case c = {SZ("overwrite", 2, 4, 2, 19, 27, 16, 16), .mask = MBIAS, M_QK, .hide = 0.1};
    tu_problem p;
    tu_outputs a, b;
    tu_problem_init(&p, &c, 99);
    tu_begin("backward overwrites dq/dk/dv/dbias");
    for (int kernel = REF; kernel <= FUS; kernel++) {
        tu_outputs_alloc(&a, &p);
        tu_outputs_alloc(&b, &p);
        CHECK_OK(tu_forward(&p, (attn_kernel_t)kernel, &a));
        CHECK_OK(tu_forward(&p, (attn_kernel_t)kernel, &b));
        tu_tensor_set_all(&b.dq, 1e3f); tu_tensor_set_all(&b.dk, -7.0f);
        tu_tensor_set_all(&b.dv, 3.0f); tu_tensor_set_all(&b.dbias, 5.0f);
        CHECK_OK(tu_backward(&p, (attn_kernel_t)kernel, &a));
        CHECK_OK(tu_backward(&p, (attn_kernel_t)kernel, &b));
        CHECK(tu_bitwise_equal(&a.dq, &b.dq) && tu_bitwise_equal(&a.dk, &b.dk) &&
              tu_bitwise_equal(&a.dv, &b.dv) && tu_bitwise_equal(&a.dbias, &b.dbias),
              "kernel %d: gradients depend on the previous contents of the output buffers",
              kernel);
        tu_outputs_free(&a);
        tu_outputs_free(&b);
    }
    tu_problem_free(&p);
}

/* Inputs are read only: run everything and compare the input buffers bitwise. */
static void check_inputs_untouched(void) {
    tu_case c = {SZ("inputs untouched", 2, 4, 1, 21, 33, 16, 16), .mask = MBIAS, M_FULL,
                 .hide = 0.1, .causal = BR, .lq = TL_PADDED, .lkv = TL_PADDED, .lo = TL_PADDED};
    tu_problem p;
    tu_outputs o;
    tu_problem_init(&p, &c, 5);
    tu_begin("inputs are not written");
    size_t nq = sizeof(float) * (size_t)p.q.n, nk = sizeof(float) * (size_t)p.k.n;
    size_t nv = sizeof(float) * (size_t)p.v.n, ndo = sizeof(float) * (size_t)p.d_o.n;
    size_t nm = sizeof(float) * (size_t)p.mask_n;
    float *cq = malloc(nq), *ck = malloc(nk), *cv = malloc(nv), *cdo = malloc(ndo);
    float *cm = malloc(nm);
    if (!cq || !ck || !cv || !cdo || !cm) exit(2);
    memcpy(cq, p.q.buf, nq); memcpy(ck, p.k.buf, nk); memcpy(cv, p.v.buf, nv);
    memcpy(cdo, p.d_o.buf, ndo); memcpy(cm, p.mask_buf, nm);
    tu_outputs_alloc(&o, &p);
    CHECK_OK(tu_forward(&p, FUS, &o));
    CHECK_OK(tu_backward(&p, FUS, &o));
    CHECK(memcmp(cq, p.q.buf, nq) == 0 && memcmp(ck, p.k.buf, nk) == 0 &&
          memcmp(cv, p.v.buf, nv) == 0 && memcmp(cdo, p.d_o.buf, ndo) == 0 &&
          memcmp(cm, p.mask_buf, nm) == 0, "an input buffer changed");
    free(cq); free(ck); free(cv); free(cdo); free(cm);
    tu_outputs_free(&o);
    tu_problem_free(&p);
}

/* Decoding with whole 512-key chunks hidden by the mask (and the only visible keys in the
 * last chunk), so some chunks contribute nothing to the merge. */
static void check_hidden_chunks(void) {
    tu_case c = {SZ("decode: chunks fully hidden", 2, 2, 1, 2, 1300, 16, 16), .mask = MBOOL,
                 .mfull = {1, 0, 0, 1}};
    tu_problem p;
    tu_problem_init(&p, &c, 11);
    uint8_t *m = p.mask_buf;
    for (int64_t b = 0; b < c.B; b++)
        for (int64_t j = 0; j < c.Nk; j++) /* batch 0 sees only keys >= 1100; batch 1 only 600 */
            m[b * p.mstride[0] + j * p.mstride[3]] = b == 0 ? j >= 1100 : j == 600;
    run_problem(&p);
    tu_problem_free(&p);
}

/* A random mix of everything above: sizes, grouped heads, causal rules, mask kinds and
 * broadcast patterns, key_lens, and layouts (including fully reversed storage and zero strides
 * on any input dimension). Fixed seed, so failures reproduce. */
static void random_sweep(int count) {
    static const int64_t lens[] = {1, 2, 5, 17, 63, 64, 65, 100, 129, 150};
    static const int64_t dims[] = {1, 3, 8, 13, 32, 64, 80, 129};
    static const tu_layout lq[] = {TL_CONTIG, TL_BNHD, TL_PADDED, TL_DMAJOR, TL_REVERSED,
                                   TL_BCAST_B, TL_BCAST_N};
    static const tu_layout lo[] = {TL_CONTIG, TL_BNHD, TL_PADDED, TL_DMAJOR, TL_REVERSED};
    tu_rng r;
    tu_rng_seed(&r, 4242);
    char name[64];
    for (int n = 0; n < count;) {
        tu_case c;
        memset(&c, 0, sizeof c);
        snprintf(name, sizeof name, "random #%d", n);
        c.name = name;
        c.B = 1 + tu_rng_int(&r, 3);
        c.Hkv = 1 + tu_rng_int(&r, 2);
        c.Hq = c.Hkv * (1 + tu_rng_int(&r, 3));
        c.Nq = lens[tu_rng_int(&r, 10)];
        c.Nk = lens[tu_rng_int(&r, 10)];
        c.D = dims[tu_rng_int(&r, 8)];
        c.Dv = dims[tu_rng_int(&r, 8)];
        if (c.B * c.Hq * c.Nq * c.Nk * (c.D + c.Dv) > 4000000) continue;
        c.causal = (attn_causal_t)tu_rng_int(&r, 3);
        c.mask = (attn_mask_kind_t)tu_rng_int(&r, 3);
        for (int d = 0; d < 4; d++) c.mfull[d] = (int)tu_rng_int(&r, 2);
        c.hide = tu_rng_int(&r, 2) ? 0.0 : 0.25;
        c.hide_slice = tu_rng_int(&r, 4) == 0;
        c.key_lens = (int)tu_rng_int(&r, 3);
        c.lq = lq[tu_rng_int(&r, 7)];
        c.lkv = (tu_layout)tu_rng_int(&r, TL_COUNT);
        c.lo = lo[tu_rng_int(&r, 5)];
        c.scale = tu_rng_int(&r, 4) == 0 ? 0.5f : 0.0f;
        run_case(&c, 5000 + (uint64_t)n);
        n++;
    }
}

/* Keys at or past key_lens[b] (the padding of a KV cache) and keys past every query's causal
 * limit are never part of the result: filling them with NaN changes no output, for either
 * kernel (attn.h: key_lens are the "valid keys per sequence"). */
static void check_poisoned_padding(void) {
    tu_case c = {SZ("NaN in K/V past key_lens", 3, 4, 2, 70, 150, 24, 16),
                 .causal = TL, .key_lens = TU_KL_ZERO, .mask = MBIAS, M_BK, .hide = 0.1,
                 .lkv = TL_BNHD};
    tu_problem p;
    tu_outputs clean, dirty;
    tu_problem_init(&p, &c, 7);
    tu_begin("%s", tu_case_str(&c));
    for (int kernel = REF; kernel <= FUS; kernel++) {
        tu_outputs_alloc(&clean, &p);
        tu_outputs_alloc(&dirty, &p);
        CHECK_OK(tu_forward(&p, (attn_kernel_t)kernel, &clean));
        CHECK_OK(tu_backward(&p, (attn_kernel_t)kernel, &clean));
        tu_tensor k0 = p.k, v0 = p.v; /* keep the clean buffers, poison copies */
        tu_tensor_alloc(&p.k, k0.dim, TL_BNHD, 0.0f);
        tu_tensor_alloc(&p.v, v0.dim, TL_BNHD, 0.0f);
        memcpy(p.k.buf, k0.buf, sizeof(float) * (size_t)k0.n);
        memcpy(p.v.buf, v0.buf, sizeof(float) * (size_t)v0.n);
        for (int64_t b = 0; b < c.B; b++)
            for (int64_t hk = 0; hk < c.Hkv; hk++)
                for (int64_t j = 0; j < c.Nk; j++) {
                    if (j < p.key_lens[b] && j < c.Nq) continue; /* top-left: j <= i < Nq */
                    for (int64_t d = 0; d < c.D; d++) TU_AT(&p.k, b, hk, j, d) = NAN;
                    for (int64_t e = 0; e < c.Dv; e++) TU_AT(&p.v, b, hk, j, e) = NAN;
                }
        CHECK_OK(tu_forward(&p, (attn_kernel_t)kernel, &dirty));
        CHECK_OK(tu_backward(&p, (attn_kernel_t)kernel, &dirty));
        const char *kn = kernel == REF ? "reference" : "fused";
        CHECK(tu_max_diff(&clean.o, &dirty.o) == 0.0, "%s: O changed", kn);
        CHECK(lse_diff(clean.lse, dirty.lse, c.B * c.Hq * c.Nq) == 0.0, "%s: LSE changed", kn);
        CHECK(tu_max_diff(&clean.dq, &dirty.dq) == 0.0, "%s: dQ changed", kn);
        CHECK(tu_max_diff(&clean.dk, &dirty.dk) == 0.0, "%s: dK changed", kn);
        CHECK(tu_max_diff(&clean.dv, &dirty.dv) == 0.0, "%s: dV changed", kn);
        CHECK(tu_max_diff(&clean.dbias, &dirty.dbias) == 0.0, "%s: dbias changed", kn);
        tu_tensor_free(&p.k);
        tu_tensor_free(&p.v);
        p.k = k0;
        p.v = v0;
        tu_outputs_free(&clean);
        tu_outputs_free(&dirty);
    }
    tu_problem_free(&p);
}

/* the tile set the fused kernel runs: one of the three, and the one ATTN_ISA asks for when it
 * is the portable set (which every build and CPU has) */
static void check_isa(void) {
    const char *isa = attn_simd_isa(), *want = getenv("ATTN_ISA");
    printf("  tile set: %s%s%s\n", isa, want ? ", ATTN_ISA=" : "", want ? want : "");
    CHECK(strcmp(isa, "generic") == 0 || strcmp(isa, "avx2") == 0 || strcmp(isa, "avx512") == 0,
          "attn_simd_isa() = \"%s\"", isa);
    if (want && strcmp(want, "generic") == 0)
        CHECK(strcmp(isa, "generic") == 0, "ATTN_ISA=generic, attn_simd_isa() = \"%s\"", isa);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL; /* optional: run cases whose name has this */
    check_isa();
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        if (only && !strstr(cases[i].name, only)) continue;
        double t0 = tu_seconds();
        run_case(&cases[i], 1000 + i);
        double dt = tu_seconds() - t0;
        if (dt > 0.5) printf("  %-45s %.2f s\n", cases[i].name, dt);
    }
    if (!only) {
        check_overwrite();
        check_inputs_untouched();
        check_poisoned_padding();
        check_hidden_chunks();
        double t0 = tu_seconds();
        random_sweep(60);
        printf("  %-45s %.2f s\n", "random sweep (60 cases)", tu_seconds() - t0);
    }
    printf("largest fused-vs-reference error / tolerance: %.3f (%s)\n", worst_ratio, worst_where);
    return tu_finish("test_sdpa_fused_vs_reference");
}
