/* fp16 and bf16 Q, K, V (attn.h: converted to fp32 as tiles are loaded; all arithmetic fp32).
 * The 16-bit inputs hold random bit patterns (normal and subnormal numbers, both signs, no
 * inf/NaN); the test decodes them itself into fp32 tensors of the same layout. A call with the
 * 16-bit inputs must then give the same results as the call with the decoded fp32 inputs:
 *   reference kernel: identical values (the conversion is exact and everything else is the
 *                     same double arithmetic), checked as max abs difference == 0;
 *   fused kernel:     within tu_tol(2e-5 forward / 5e-5 backward, ...) of the fp32-input run.
 * Covers every layout (the feature-major and reversed ones take the strided conversion path),
 * mixed dtypes in one call, grouped-query heads, masks, causal rules and key_lens, forward,
 * backward and attn_probs. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* exact decoders, written from the IEEE 754 binary16 and bfloat16 definitions */
static float f16_value(uint16_t h) {
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp((double)m, -24) : ldexp((double)(1024 + m), e - 25);
    return (float)(sign ? -v : v);
}

static float bf16_value(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* a random finite 16-bit number of magnitude below ~2, subnormals included */
static uint16_t random_half(tu_rng *r, attn_dtype_t dt) {
    uint16_t sign = (uint16_t)(tu_rng_int(r, 2) << 15);
    if (dt == ATTN_DTYPE_F16) {
        int e = (int)tu_rng_int(r, 17); /* 0 (subnormal) .. 16 (values in [2, 4) are rare) */
        if (e == 16) e = 15;
        return (uint16_t)(sign | (e << 10) | (uint16_t)tu_rng_int(r, 1024));
    }
    int e = tu_rng_int(r, 10) == 0 ? 0 : 110 + (int)tu_rng_int(r, 18); /* 2^-17 .. 2^0 */
    return (uint16_t)(sign | (e << 7) | (uint16_t)tu_rng_int(r, 128));
}

/* Replaces the fp32 input t (whose strides are kept) by a 16-bit copy in h and by the exactly
 * decoded values in t; returns the source to pass for the 16-bit tensor. */
static attn_src_t make_half(tu_tensor *t, uint16_t **h, attn_dtype_t dt, tu_rng *r) {
    *h = calloc((size_t)t->n, sizeof(uint16_t));
    if (!*h) exit(2);
    for (int64_t b = 0; b < t->dim[0]; b++)
        for (int64_t hh = 0; hh < t->dim[1]; hh++)
            for (int64_t n = 0; n < t->dim[2]; n++)
                for (int64_t d = 0; d < t->dim[3]; d++) {
                    int64_t off = tu_off(t, b, hh, n, d);
                    uint16_t x = random_half(r, dt);
                    (*h)[off] = x;
                    t->buf[off] = dt == ATTN_DTYPE_F16 ? f16_value(x) : bf16_value(x);
                }
    attn_src_t s = tu_src(t);
    s.data = *h;
    s.dtype = dt;
    return s;
}

#define SZ(nm, b, hq, hkv, nq, nk, d, dv)                                                     \
    .name = nm, .B = b, .Hq = hq, .Hkv = hkv, .Nq = nq, .Nk = nk, .D = d, .Dv = dv

static const tu_case cases[] = {
    {SZ("contiguous", 2, 2, 2, 33, 47, 16, 16)},
    {SZ("GQA bias causal", 2, 4, 2, 70, 130, 40, 24), .causal = ATTN_CAUSAL_BOTTOM_RIGHT,
     .mask = ATTN_MASK_BIAS, .mfull = {0, 0, 1, 1}, .hide = 0.1, .key_lens = TU_KL_ZERO},
    {SZ("bnhd", 1, 4, 1, 29, 65, 13, 8), .lq = TL_BNHD, .lkv = TL_BNHD, .lo = TL_BNHD},
    {SZ("feature-major", 2, 2, 1, 29, 65, 13, 7), .lq = TL_DMAJOR, .lkv = TL_DMAJOR},
    {SZ("reversed", 2, 2, 2, 17, 23, 5, 3), .lq = TL_REVERSED, .lkv = TL_REVERSED,
     .mask = ATTN_MASK_BOOL, .mfull = {1, 1, 1, 1}, .hide = 0.3},
    {SZ("padded, broadcast K/V", 3, 2, 2, 21, 37, 8, 8), .lq = TL_PADDED, .lkv = TL_BCAST_B,
     .causal = ATTN_CAUSAL_TOP_LEFT},
    {SZ("D=1", 1, 1, 1, 9, 11, 1, 1)},
    {SZ("multi-tile 200x333", 1, 2, 1, 200, 333, 64, 64)},
    /* the decoding path (queries x group <= 4, >= 256 keys): halves widened in registers,
     * tails of D and of the key blocks, another row stride, and a layout it must convert */
    {SZ("decode GQA", 2, 4, 2, 1, 700, 64, 48)},
    {SZ("decode causal, odd D", 1, 2, 2, 2, 600, 37, 21), .causal = ATTN_CAUSAL_BOTTOM_RIGHT,
     .key_lens = TU_KL_ZERO},
    {SZ("decode bnhd", 1, 2, 1, 1, 300, 24, 24), .lq = TL_BNHD, .lkv = TL_BNHD, .lo = TL_BNHD},
    {SZ("decode feature-major", 1, 2, 2, 1, 260, 16, 16), .lkv = TL_DMAJOR},
};

/* dtype triples (q, k, v) */
static const attn_dtype_t mixes[][3] = {
    {ATTN_DTYPE_F16, ATTN_DTYPE_F16, ATTN_DTYPE_F16},
    {ATTN_DTYPE_BF16, ATTN_DTYPE_BF16, ATTN_DTYPE_BF16},
    {ATTN_DTYPE_F32, ATTN_DTYPE_F16, ATTN_DTYPE_BF16},
    {ATTN_DTYPE_BF16, ATTN_DTYPE_F32, ATTN_DTYPE_F16},
};

static void run(const tu_case *c, int mix, uint64_t seed) {
    tu_problem p;
    tu_outputs f32[2], h16[2];
    tu_rng r;
    tu_problem_init(&p, c, seed);
    tu_rng_seed(&r, seed + 17);
    tu_begin("%s, dtypes q/k/v = %d/%d/%d: %s", c->name, (int)mixes[mix][0],
             (int)mixes[mix][1], (int)mixes[mix][2], tu_case_str(c));
    uint16_t *hq = NULL, *hk = NULL, *hv = NULL;
    attn_src_t q = tu_src(&p.q), k = tu_src(&p.k), v = tu_src(&p.v);
    if (mixes[mix][0] != ATTN_DTYPE_F32) q = make_half(&p.q, &hq, mixes[mix][0], &r);
    if (mixes[mix][1] != ATTN_DTYPE_F32) k = make_half(&p.k, &hk, mixes[mix][1], &r);
    if (mixes[mix][2] != ATTN_DTYPE_F32) v = make_half(&p.v, &hv, mixes[mix][2], &r);
    double smax = tu_max_score(&p);
    const int64_t nrow = c->B * c->Hq * c->Nq, g = c->Hq / c->Hkv;
    double nf = (double)(c->D > c->Nk ? c->D : c->Nk), nb = nf;
    if ((double)(c->Nq * g) > nb) nb = (double)(c->Nq * g);
    for (int kn = 0; kn < 2; kn++) {
        attn_params_t prm = p.params;
        prm.kernel = kn == 0 ? ATTN_KERNEL_REFERENCE : ATTN_KERNEL_FUSED;
        const char *name = kn == 0 ? "reference" : "fused";
        tu_outputs_alloc(&f32[kn], &p);
        tu_outputs_alloc(&h16[kn], &p);
        CHECK_OK(tu_forward(&p, prm.kernel, &f32[kn]));
        CHECK_OK(tu_backward(&p, prm.kernel, &f32[kn]));
        tu_outputs *o = &h16[kn];
        attn_dst_t db = tu_dst(&o->dbias);
        if (!o->has_dbias) db.data = NULL;
        CHECK_OK(attn_forward(&p.shape, &prm, q, k, v, tu_dst(&o->o), o->lse));
        CHECK_OK(attn_backward(&p.shape, &prm, q, k, v, tu_src(&o->o), o->lse, tu_src(&p.d_o),
                               tu_dst(&o->dq), tu_dst(&o->dk), tu_dst(&o->dv), db));
        const tu_tensor *a[5] = {&f32[kn].o, &f32[kn].dq, &f32[kn].dk, &f32[kn].dv,
                                 &f32[kn].dbias};
        const tu_tensor *x[5] = {&o->o, &o->dq, &o->dk, &o->dv, &o->dbias};
        const char *tn[5] = {"O", "dQ", "dK", "dV", "dbias"};
        for (int t = 0; t < (o->has_dbias ? 5 : 4); t++) {
            double err = tu_max_diff(a[t], x[t]);
            double tol = kn == 0 ? 0.0 : tu_tol(t == 0 ? 2e-5 : 5e-5, tu_max_abs(a[t]),
                                                t == 0 ? nf : nb, smax);
            CHECK(err <= tol, "%s %s: 16-bit inputs vs decoded fp32 inputs: max abs diff %.3g "
                  "> %.3g", name, tn[t], err, tol);
        }
        int64_t bad = 0;
        for (int64_t e = 0; e < nrow; e++) {
            float u = f32[kn].lse[e], w = o->lse[e];
            if (isinf(u) || isinf(w) ? u != w : !(fabs(u - w) <= (kn == 0 ? 0.0 : 1e-5)))
                bad++;
        }
        CHECK(bad == 0, "%s: %lld LSE values differ between 16-bit and fp32 inputs", name,
              (long long)bad);
        tu_check_hidden(&p, o, 1, name);
    }
    /* attn_probs reads q and k in their own dtypes too */
    int64_t ld = c->Nk, cnt = c->Nq;
    float *pa = malloc(sizeof(float) * (size_t)(cnt * ld)), *pb = malloc(sizeof(float) *
                                                                          (size_t)(cnt * ld));
    if (!pa || !pb) exit(2);
    CHECK_OK(attn_probs(&p.shape, &p.params, tu_src(&p.q), tu_src(&p.k), NULL, c->B - 1,
                        c->Hq - 1, 0, cnt, pa, ld));
    CHECK_OK(attn_probs(&p.shape, &p.params, q, k, NULL, c->B - 1, c->Hq - 1, 0, cnt, pb, ld));
    double perr = 0.0;
    for (int64_t e = 0; e < cnt * ld; e++)
        if (fabs((double)pa[e] - (double)pb[e]) > perr) perr = fabs((double)pa[e] - pb[e]);
    CHECK(perr <= 1e-6, "attn_probs: 16-bit vs fp32 inputs differ by %.3g", perr);
    free(pa);
    free(pb);
    for (int kn = 0; kn < 2; kn++) {
        tu_outputs_free(&f32[kn]);
        tu_outputs_free(&h16[kn]);
    }
    free(hq); free(hk); free(hv);
    tu_problem_free(&p);
}

/* A few decoded values checked by hand, so the test's decoders are right too. */
static void decoders(void) {
    tu_begin("test decoders");
    CHECK(f16_value(0x3C00) == 1.0f && f16_value(0xC000) == -2.0f &&
          f16_value(0x0001) == ldexpf(1.0f, -24) && f16_value(0x7BFF) == 65504.0f &&
          f16_value(0x3555) == 0x1.554p-2f, "fp16 decoder");
    CHECK(bf16_value(0x3F80) == 1.0f && bf16_value(0xC040) == -3.0f &&
          bf16_value(0x0001) == 0x1p-133f, "bf16 decoder");
}

int main(void) {
    decoders();
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++)
        for (int m = 0; m < 4; m++) run(&cases[i], m, 6000 + 10 * i + (uint64_t)m);
    return tu_finish("test_sdpa_halves");
}
