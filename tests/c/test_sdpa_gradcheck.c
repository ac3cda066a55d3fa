/* Finite-difference checks of every gradient of the scalar loss L = sum(O * G), G random:
 * dQ, dK, dV and dbias from attn_backward (reference kernel, and separately the fused kernel)
 * against central differences of the REFERENCE forward.
 *
 *   fd = (L(x + eps) - L(x - eps)) / ((x + eps) - (x - eps))   with eps = 1e-2, the step taken
 *        as the difference of the two fp32 values actually stored; L is summed in double from
 *        the fp32 O the forward returns.
 *   Tolerance: |fd - g| <= 2e-3 * max(|g|, 0.05 * max|g over the tensor|) + 3e-5
 *   (relative 2e-3; the floor covers entries near zero, where the fd noise of ~1e-5 -- fp32
 *   rounding of O divided by 2 eps -- dominates; eps^2 truncation is ~1e-5 relative).
 *   Where a perturbation does not change L at all (fd exactly 0, e.g. a key hidden from every
 *   query, or a bias constant along a row) the gradient must be below 3e-5; for -inf bias
 *   entries dbias must be exactly 0 (and tu_check_hidden demands exact zeros for hidden rows
 *   and keys).
 * The problems are tiny, so every element of every tensor is checked. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF ATTN_KERNEL_REFERENCE
#define FUS ATTN_KERNEL_FUSED

#define SZ(nm, b, hq, hkv, nq, nk, d, dv)                                                     \
    .name = nm, .B = b, .Hq = hq, .Hkv = hkv, .Nq = nq, .Nk = nk, .D = d, .Dv = dv

static const tu_case cases[] = {
    {SZ("plain", 1, 2, 2, 5, 7, 6, 5)},
    {SZ("GQA Hq=4 Hkv=2", 2, 4, 2, 4, 6, 4, 3)},
    {SZ("MQA Hq=3 Hkv=1", 1, 3, 1, 5, 4, 3, 4)},
    {SZ("Nq > Nk, D != Dv", 1, 1, 1, 9, 3, 2, 5)},
    {SZ("bias [B,Hq,Nq,Nk] with -inf, bottom-right", 2, 2, 1, 4, 6, 3, 3),
     .mask = ATTN_MASK_BIAS, .mfull = {1, 1, 1, 1}, .hide = 0.2,
     .causal = ATTN_CAUSAL_BOTTOM_RIGHT},
    {SZ("bias [1,1,Nq,Nk] GQA", 2, 4, 2, 4, 5, 3, 3), .mask = ATTN_MASK_BIAS,
     .mfull = {0, 0, 1, 1}, .hide = 0.1, .hide_slice = 1},
    {SZ("bias [B,1,1,Nk]", 2, 2, 2, 4, 5, 3, 3), .mask = ATTN_MASK_BIAS, .mfull = {1, 0, 0, 1},
     .hide = 0.1},
    {SZ("bias [1,1,Nq,1]", 2, 2, 2, 4, 5, 3, 3), .mask = ATTN_MASK_BIAS, .mfull = {0, 0, 1, 0}},
    {SZ("bias [1,Hq,1,1]", 1, 3, 1, 4, 5, 3, 3), .mask = ATTN_MASK_BIAS, .mfull = {0, 1, 0, 0}},
    {SZ("bool mask, top-left, key_lens with 0", 3, 2, 2, 5, 6, 3, 3), .mask = ATTN_MASK_BOOL,
     .mfull = {1, 1, 1, 1}, .hide = 0.25, .causal = ATTN_CAUSAL_TOP_LEFT,
     .key_lens = TU_KL_ZERO},
    {SZ("causal top-left Nq < Nk, GQA", 1, 4, 2, 3, 7, 3, 2),
     .causal = ATTN_CAUSAL_TOP_LEFT},
    {SZ("causal bottom-right Nq > Nk, hidden rows", 1, 2, 1, 7, 3, 3, 2),
     .causal = ATTN_CAUSAL_BOTTOM_RIGHT},
    {SZ("bottom-right key_lens, bias", 2, 2, 2, 4, 6, 3, 3), .causal = ATTN_CAUSAL_BOTTOM_RIGHT,
     .key_lens = TU_KL_RANDOM, .mask = ATTN_MASK_BIAS, .mfull = {1, 0, 1, 1}},
    {SZ("strided layouts", 2, 2, 1, 4, 5, 3, 4), .lq = TL_BNHD, .lkv = TL_DMAJOR,
     .lo = TL_PADDED, .mask = ATTN_MASK_BIAS, .mfull = {0, 1, 1, 1}},
    {SZ("K/V broadcast over batch (stride 0)", 2, 2, 2, 3, 4, 3, 3), .lkv = TL_BCAST_B},
    {SZ("scale 0.9, larger D", 1, 1, 1, 4, 5, 24, 8), .scale = 0.9f},
    /* attention dropout: a fixed seed makes the loss a smooth function of the inputs */
    {SZ("dropout 0.3", 2, 2, 2, 5, 7, 6, 5), .dropout = 0.3f},
    {SZ("dropout 0.5, GQA, causal bottom-right, key_lens", 2, 4, 2, 5, 6, 4, 3),
     .dropout = 0.5f, .causal = ATTN_CAUSAL_BOTTOM_RIGHT, .key_lens = TU_KL_RANDOM},
    {SZ("dropout 0.2, bias with -inf (dbias)", 2, 2, 1, 4, 6, 3, 3), .dropout = 0.2f,
     .mask = ATTN_MASK_BIAS, .mfull = {1, 1, 1, 1}, .hide = 0.2},
};

#define EPS 1e-2
#define RTOL 2e-3
#define ATOL 3e-5

static double worst; /* largest |fd - g| / tolerance seen */

/* L = sum(O * G) with the reference forward */
static double loss(tu_problem *p, tu_outputs *scratch) {
    CHECK_OK(tu_forward(p, REF, scratch));
    const tu_tensor *o = &scratch->o, *g = &p->d_o;
    double L = 0.0;
    for (int64_t b = 0; b < o->dim[0]; b++)
        for (int64_t h = 0; h < o->dim[1]; h++)
            for (int64_t i = 0; i < o->dim[2]; i++)
                for (int64_t e = 0; e < o->dim[3]; e++)
                    L += (double)TU_AT(o, b, h, i, e) * (double)TU_AT(g, b, h, i, e);
    return L;
}

/* Checks analytic gradient grad (a tensor shaped like the input) element by element against
 * central differences of the input buffer in (a tensor whose elements are perturbed).
 * For broadcast (stride 0) inputs, one stored element is shared by several logical ones, so the
 * gradient to compare is the sum of grad over the logical elements that share storage. */
static void fd_tensor(tu_problem *p, tu_outputs *scratch, const char *what, tu_tensor *in,
                      const tu_tensor *grad, const char *kernel) {
    double gmax = tu_max_abs(grad);
    int64_t bad = 0, zero_bad = 0;
    double worst_here = 0.0;
    char where[160] = "";
    unsigned char *done = calloc((size_t)in->n, 1);
    if (!done) exit(2);
    for (int64_t b = 0; b < in->dim[0]; b++)
        for (int64_t h = 0; h < in->dim[1]; h++)
            for (int64_t n = 0; n < in->dim[2]; n++)
                for (int64_t d = 0; d < in->dim[3]; d++) {
                    int64_t off = tu_off(in, b, h, n, d);
                    if (done[off]) continue;
                    done[off] = 1;
                    double g = 0.0; /* summed over logical elements sharing this storage */
                    for (int64_t b2 = 0; b2 < in->dim[0]; b2++)
                        for (int64_t h2 = 0; h2 < in->dim[1]; h2++)
                            if (tu_off(in, b2, h2, n, d) == off)
                                g += (double)TU_AT(grad, b2, h2, n, d);
                    float x = in->buf[off];
                    float xp = (float)(x + EPS), xm = (float)(x - EPS);
                    in->buf[off] = xp;
                    double lp = loss(p, scratch);
                    in->buf[off] = xm;
                    double lm = loss(p, scratch);
                    in->buf[off] = x;
                    double fd = (lp - lm) / ((double)xp - (double)xm);
                    if (lp == lm) { /* L does not depend on this element (to fp32 precision) */
                        if (!(fabs(g) <= ATOL)) zero_bad++;
                        continue;
                    }
                    double floor = 0.05 * gmax, mag = fabs(g) > floor ? fabs(g) : floor;
                    double tol = RTOL * mag + ATOL, err = fabs(fd - g);
                    if (!(err <= tol)) {
                        if (!bad)
                            snprintf(where, sizeof where, "[%lld,%lld,%lld,%lld] fd %.6g "
                                     "analytic %.6g", (long long)b, (long long)h, (long long)n,
                                     (long long)d, fd, g);
                        bad++;
                    }
                    if (err / tol > worst_here) worst_here = err / tol;
                }
    free(done);
    if (worst_here > worst) worst = worst_here;
    CHECK(bad == 0, "%s %s: %lld elements off the finite difference (first %s); worst "
          "err/tol %.2f", kernel, what, (long long)bad, where, worst_here);
    CHECK(zero_bad == 0, "%s %s: %lld elements that do not change L have a gradient > ATOL",
          kernel, what, (long long)zero_bad);
}

/* dbias against finite differences of the mask buffer (float bias), entry by entry. */
static void fd_bias(tu_problem *p, tu_outputs *scratch, const tu_tensor *dbias,
                    const char *kernel) {
    double gmax = tu_max_abs(dbias);
    int64_t bad = 0, inf_bad = 0;
    float *m = p->mask_buf;
    for (int64_t a = 0; a < p->mshape[0]; a++)
        for (int64_t h = 0; h < p->mshape[1]; h++)
            for (int64_t i = 0; i < p->mshape[2]; i++)
                for (int64_t j = 0; j < p->mshape[3]; j++) {
                    const int64_t idx[4] = {a, h, i, j};
                    int64_t off = 0;
                    for (int d = 0; d < 4; d++)
                        if (p->mshape[d] > 1) off += idx[d] * p->mstride[d];
                    double g = (double)TU_AT(dbias, a, h, i, j);
                    float x = m[off];
                    if (x == -INFINITY) { /* a hidden entry: no gradient at all */
                        inf_bad += g != 0.0;
                        continue;
                    }
                    float xp = (float)(x + EPS), xm = (float)(x - EPS);
                    m[off] = xp;
                    double lp = loss(p, scratch);
                    m[off] = xm;
                    double lm = loss(p, scratch);
                    m[off] = x;
                    if (lp == lm) { inf_bad += !(fabs(g) <= ATOL); continue; }
                    double fd = (lp - lm) / ((double)xp - (double)xm);
                    double floor = 0.05 * gmax, mag = fabs(g) > floor ? fabs(g) : floor;
                    double tol = RTOL * mag + ATOL, err = fabs(fd - g);
                    if (!(err <= tol)) {
                        if (!bad)
                            fprintf(stderr, "  dbias[%lld,%lld,%lld,%lld]: fd %.6g analytic "
                                    "%.6g\n", (long long)a, (long long)h, (long long)i,
                                    (long long)j, fd, g);
                        bad++;
                    }
                    if (err / tol > worst) worst = err / tol;
                }
    CHECK(bad == 0, "%s dbias: %lld entries off the finite difference", kernel, (long long)bad);
    CHECK(inf_bad == 0, "%s dbias: %lld -inf entries with a nonzero gradient, or inert ones > ATOL",
          kernel, (long long)inf_bad);
}

static void run_case(const tu_case *c, uint64_t seed) {
    tu_problem p;
    tu_outputs scratch, grads[2];
    const attn_kernel_t kernels[2] = {REF, FUS};
    const char *names[2] = {"reference", "fused"};
    tu_problem_init(&p, c, seed);
    tu_begin("%s", tu_case_str(c));
    tu_outputs_alloc(&scratch, &p);
    for (int k = 0; k < 2; k++) {
        tu_outputs_alloc(&grads[k], &p);
        CHECK_OK(tu_forward(&p, kernels[k], &grads[k]));
        CHECK_OK(tu_backward(&p, kernels[k], &grads[k]));
    }
    for (int k = 0; k < 2; k++) {
        fd_tensor(&p, &scratch, "dQ", &p.q, &grads[k].dq, names[k]);
        fd_tensor(&p, &scratch, "dK", &p.k, &grads[k].dk, names[k]);
        fd_tensor(&p, &scratch, "dV", &p.v, &grads[k].dv, names[k]);
        if (grads[k].has_dbias) fd_bias(&p, &scratch, &grads[k].dbias, names[k]);
    }
    /* the fused gradients also sit close to the reference ones (fp32 vs double) */
    const tu_tensor *r[4] = {&grads[0].dq, &grads[0].dk, &grads[0].dv, &grads[0].dbias};
    const tu_tensor *f[4] = {&grads[1].dq, &grads[1].dk, &grads[1].dv, &grads[1].dbias};
    const char *gn[4] = {"dQ", "dK", "dV", "dbias"};
    for (int t = 0; t < (grads[0].has_dbias ? 4 : 3); t++) {
        double err = tu_max_diff(r[t], f[t]), tol = 1e-5 * (1.0 + tu_max_abs(r[t]));
        CHECK(err <= tol, "fused %s vs reference: max abs err %.3g > %.3g", gn[t], err, tol);
    }
    tu_check_hidden(&p, &grads[0], 1, "reference");
    tu_check_hidden(&p, &grads[1], 1, "fused");
    tu_outputs_free(&grads[0]);
    tu_outputs_free(&grads[1]);
    tu_outputs_free(&scratch);
    tu_problem_free(&p);
}

/* A case worked by hand: B = Hq = Hkv = Nq = 1, Nk = 2, D = Dv = 1, scale 1, q = 1,
 * k = (0, 1), v = (1, 3), dO = 1. p = softmax(0, 1) = (1, e) / (1 + e);
 * dV = p; dP = v; Di = p . v; dS = p * (v - Di); dQ = sum_j dS_j k_j = dS_1; dK_j = dS_j q. */
static void known_gradients(void) {
    tu_begin("hand-computed gradients");
    float q[1] = {1}, k[2] = {0, 1}, v[2] = {1, 3}, o[1], lse[1], d_o[1] = {1};
    float dq[1], dk[2], dv[2];
    attn_shape_t s = {1, 1, 1, 1, 2, 1, 1};
    double e = exp(1.0), p0 = 1 / (1 + e), p1 = e / (1 + e), di = p0 * 1 + p1 * 3;
    double ds0 = p0 * (1 - di), ds1 = p1 * (3 - di);
    for (int kern = REF; kern <= FUS; kern++) {
        attn_params_t prm = attn_default_params();
        prm.scale = 1.0f;
        prm.kernel = (attn_kernel_t)kern;
        attn_dst_t none = attn_dst_f32(NULL, 1, 1, 1);
        CHECK_OK(attn_forward(&s, &prm, attn_src_f32(q, 1, 1, 1), attn_src_f32(k, 2, 2, 1),
                              attn_src_f32(v, 2, 2, 1), attn_dst_f32(o, 1, 1, 1), lse));
        CHECK_OK(attn_backward(&s, &prm, attn_src_f32(q, 1, 1, 1), attn_src_f32(k, 2, 2, 1),
                               attn_src_f32(v, 2, 2, 1), attn_src_f32(o, 1, 1, 1), lse,
                               attn_src_f32(d_o, 1, 1, 1), attn_dst_f32(dq, 1, 1, 1),
                               attn_dst_f32(dk, 2, 2, 1), attn_dst_f32(dv, 2, 2, 1), none));
        CHECK(fabs(dv[0] - p0) < 1e-6 && fabs(dv[1] - p1) < 1e-6, "kernel %d dV = (%g, %g), "
              "want (%g, %g)", kern, dv[0], dv[1], p0, p1);
        CHECK(fabs(dq[0] - ds1) < 1e-6, "kernel %d dQ = %g, want %g", kern, dq[0], ds1);
        CHECK(fabs(dk[0] - ds0) < 1e-6 && fabs(dk[1] - ds1) < 1e-6, "kernel %d dK = (%g, %g), "
              "want (%g, %g)", kern, dk[0], dk[1], ds0, ds1);
    }
}

int main(void) {
    known_gradients();
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) run_case(&cases[i], 2000 + i);
    printf("largest finite-difference error / tolerance: %.3f\n", worst);
    return tu_finish("test_sdpa_gradcheck");
}
