/* The vector math of the tile sets (src/kernels/tiles.h), for every set this CPU runs (the
 * portable one, and AVX2+FMA and AVX-512 where present), against double-precision libm:
 *   - exp_row, p = exp(s - m) on [-87, 0]: relative error at most 3e-7 (the polynomial's bound
 *     is 2e-7, plus the rounding of s - m), the sum within 1e-6 of the double sum, exactly 0
 *     below -88 and for -inf;
 *   - tanh_sum, t = tanh(q + k) on [-20, 20] and at the switch |x| = 0.625: relative error at
 *     most 4e-7 (bound 3e-7 in simd.h), +-1 exactly from |x| = 10, NaN kept, +-inf -> +-1;
 *   - tanh_dot, sum v tanh(q + k), within 1e-6 of the double sum (relative to sum |v t|);
 *   - dot_group / axpy_group, per query bitwise equal to dot_rows / axpy_rows;
 *   - keep_masks (dropout), bit for bit as core/rng.h's hash defines the masks;
 *   - softmax_update's 2^x (scores in log2 units) on [-126, 0]: relative error at most 2e-7
 *     (the fitted polynomial gives 1.7e-7 in fp32 with FMA, 1.8e-7 without), exactly 0 below
 *     -127 and for -inf;
 *   - gemm_nn_max's column maxima, and softmax_update_max given them, bitwise equal to gemm_nn
 *     then a scan, and to softmax_update, on edge sizes (J not a multiple of 6, n of 16).
 * Measured maxima are printed. */
#include "core/rng.h"
#include "kernels/tiles.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

enum { N = 20001 };

static void exp_case(const attn__tiles_t *t) {
    static float s[N], p[N];
    for (int i = 0; i < N; i++) s[i] = -87.0f * (float)i / (float)(N - 1);
    float m = 0.0f;
    float sum = t->exp_row(N, s, m, p);
    double worst = 0.0, dsum = 0.0;
    for (int i = 0; i < N; i++) {
        double want = exp((double)s[i] - (double)m);
        dsum += want;
        double rel = fabs((double)p[i] - want) / want;
        worst = rel > worst ? rel : worst;
    }
    printf("  %s exp_row: max relative error %.3g on [-87, 0]\n", t->name, worst);
    CHECK(worst <= 3e-7, "%s exp_row: relative error %.3g > 3e-7", t->name, worst);
    CHECK(fabs((double)sum - dsum) <= 1e-6 * dsum, "%s exp_row: sum %.9g, want %.9g", t->name,
          (double)sum, dsum);
    float low[9] = {-88.5f, -100.0f, -1000.0f, -INFINITY, -1e30f, -90.0f, -95.0f, -120.0f,
                    -88.1f};
    float out[9];
    t->exp_row(9, low, 0.0f, out);
    int zeros = 1;
    for (int i = 0; i < 9; i++) zeros &= out[i] == 0.0f;
    CHECK(zeros, "%s exp_row: arguments below -88 must give exactly 0", t->name);
}

static void tanh_case(const attn__tiles_t *t) {
    static float q[N], k[N], out[N];
    for (int i = 0; i < N; i++) {
        q[i] = -20.0f + 40.0f * (float)i / (float)(N - 1);
        k[i] = (i % 7 == 0) ? 0.0f : 1e-3f * (float)(i % 5) - 2e-3f;
    }
    t->tanh_sum(N, q, k, out);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        double x = (double)(q[i] + k[i]), want = tanh(x);
        if (want == 0.0) {
            CHECK(out[i] == 0.0f, "%s tanh(0) = %g", t->name, (double)out[i]);
            continue;
        }
        double rel = fabs((double)out[i] - want) / fabs(want);
        worst = rel > worst ? rel : worst;
    }
    /* around the switch between the polynomial and the exponential form, and tiny values */
    float near[16], zk[16] = {0}, nout[16];
    for (int i = 0; i < 8; i++) {
        near[i] = 0.625f + (float)(i - 4) * 1e-7f;
        near[8 + i] = (i % 2 ? -1.0f : 1.0f) * ldexpf(1.0f, -3 * i - 1);
    }
    t->tanh_sum(16, near, zk, nout);
    for (int i = 0; i < 16; i++) {
        double want = tanh((double)near[i]), rel = fabs((double)nout[i] - want) / fabs(want);
        worst = rel > worst ? rel : worst;
    }
    printf("  %s tanh_sum: max relative error %.3g on [-20, 20]\n", t->name, worst);
    CHECK(worst <= 4e-7, "%s tanh: relative error %.3g > 4e-7", t->name, worst);

    float edge[8] = {10.0f, -10.0f, 50.0f, -1e30f, INFINITY, -INFINITY, NAN, 0.0f}, ez[8] = {0};
    float eo[8];
    t->tanh_sum(8, edge, ez, eo);
    CHECK(eo[0] == 1.0f && eo[1] == -1.0f && eo[2] == 1.0f && eo[3] == -1.0f,
          "%s tanh: +-1 exactly for large |x| (got %g %g %g %g)", t->name, (double)eo[0],
          (double)eo[1], (double)eo[2], (double)eo[3]);
    CHECK(eo[4] == 1.0f && eo[5] == -1.0f, "%s tanh(+-inf) = %g %g", t->name, (double)eo[4],
          (double)eo[5]);
    CHECK(isnan(eo[6]), "%s tanh(NaN) = %g, want NaN", t->name, (double)eo[6]);

    /* the additive score */
    static float v[N];
    double dsum = 0.0, mag = 0.0;
    for (int i = 0; i < N; i++) {
        v[i] = (float)((i * 37) % 101 - 50) / 50.0f;
        double term = (double)v[i] * tanh((double)(q[i] + k[i]));
        dsum += term;
        mag += fabs(term);
    }
    for (int n = 1; n <= 40; n += 13) { /* short rows: the scalar tail too */
        double ds = 0.0, dm = 0.0;
        for (int i = 0; i < n; i++) {
            double term = (double)v[i * 400] * tanh((double)(q[i * 400] + k[i * 400]));
            ds += term;
            dm += fabs(term);
        }
        float vv[40], qq[40], kk[40];
        for (int i = 0; i < n; i++) {
            vv[i] = v[i * 400];
            qq[i] = q[i * 400];
            kk[i] = k[i * 400];
        }
        float got = t->tanh_dot(n, vv, qq, kk);
        CHECK(fabs((double)got - ds) <= 1e-6 * dm + 1e-30, "%s tanh_dot n=%d: %.9g, want %.9g",
              t->name, n, (double)got, ds);
    }
    float got = t->tanh_dot(N, v, q, k);
    CHECK(fabs((double)got - dsum) <= 1e-6 * mag, "%s tanh_dot: %.9g, want %.9g", t->name,
          (double)got, dsum);
}

/* fp32 x to IEEE half / bfloat16 bits (x exactly representable in both by construction) */
static uint16_t to_half(float x, int bf) {
    union { float f; uint32_t u; } v = {x};
    if (bf) return (uint16_t)(v.u >> 16);
    if (x == 0.0f) return (uint16_t)(v.u >> 16 & 0x8000u);
    uint32_t sign = v.u >> 16 & 0x8000u, e = (v.u >> 23 & 0xff) - 127 + 15, m = v.u >> 13 & 0x3ff;
    return (uint16_t)(sign | e << 10 | m);
}

/* Grouped-query decoding's dot_group / axpy_group give, per query, bitwise the sums of
 * dot_rows / axpy_rows (the kernel's results must not depend on how many query heads share a
 * K/V head), for G = 1..4, fp32 / fp16 / bf16 rows, with and without a scalar tail. */
static void group_case(const attn__tiles_t *t) {
    enum { M = 37, KMAX = 136, LD = 144 };
    static float A[M * LD], x[4 * KMAX], s[4 * 64], s1[64], w[4 * 64], y[4 * KMAX], y1[KMAX];
    static uint16_t Ah[M * LD];
    for (int kind = 0; kind < 3; kind++)
        for (int K = 128; K <= KMAX; K += 5) { /* 128: vectors only; 133: a tail of 5 */
            for (int i = 0; i < M * LD; i++) {
                /* multiples of 1/64 in [-2, 2): exact in fp16 and bf16 */
                float v = (float)((i * 37 + 11) % 256 - 128) / 64.0f;
                A[i] = v;
                Ah[i] = to_half(v, kind == 2);
            }
            for (int i = 0; i < 4 * KMAX; i++) {
                x[i] = sinf(0.37f * (float)i);
                y[i] = cosf(0.11f * (float)i);
            }
            for (int i = 0; i < 4 * 64; i++) w[i] = 0.5f + 0.5f * sinf(0.71f * (float)i);
            const float a[4] = {0.5f, 1.0f, 0.25f, 0.75f};
            const void *src = kind == 0 ? (const void *)A : (const void *)Ah;
            for (int G = 1; G <= 4; G++) {
                t->dot_group[kind](G, M, K, src, LD, x, KMAX, s, 64);
                for (int g = 0; g < G; g++) {
                    if (kind == 0) t->dot_rows(M, K, A, LD, x + g * KMAX, s1);
                    else t->dot_rows_h[kind - 1](M, K, Ah, LD, x + g * KMAX, s1);
                    int same = 1;
                    for (int j = 0; j < M; j++) same &= s[g * 64 + j] == s1[j];
                    CHECK(same, "%s dot_group kind %d G=%d K=%d query %d differs from dot_rows",
                          t->name, kind, G, K, g);
                }
                float yg[4 * KMAX];
                for (int i = 0; i < 4 * KMAX; i++) yg[i] = y[i];
                t->axpy_group[kind](G, M, K, w, 64, src, LD, a, yg, KMAX);
                for (int g = 0; g < G; g++) {
                    for (int i = 0; i < K; i++) y1[i] = y[g * KMAX + i];
                    if (kind == 0) t->axpy_rows(M, K, w + g * 64, A, LD, a[g], y1);
                    else t->axpy_rows_h[kind - 1](M, K, w + g * 64, Ah, LD, a[g], y1);
                    int same = 1;
                    for (int i = 0; i < K; i++) same &= yg[g * KMAX + i] == y1[i];
                    CHECK(same, "%s axpy_group kind %d G=%d N=%d query %d differs from axpy_rows",
                          t->name, kind, G, K, g);
                }
            }
        }
}

/* keep_masks against the definition (core/rng.h's hash, 24 bits per element), for starts
 * near 0 and near 2^40 (the lanes' index products wrap), every count 0-21 (the 8-pair body of
 * AVX-512, the 4-pair body of AVX2 and the scalar tail), and cuts 0 (all kept), 1, 2^23,
 * random, 2^24 (none kept). */
static void keep_masks_case(const attn__tiles_t *t) {
    const int64_t starts[] = {0, 1, 7, 1099511627775LL, 123456789LL};
    const uint32_t cuts[] = {0u, 1u, 1u << 23, 5033165u, 1u << 24};
    uint32_t out[2 * 21 + 2];
    int ok = 1;
    for (size_t a = 0; a < sizeof starts / sizeof starts[0]; a++)
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
            for (int64_t n = 0; n <= 21; n++) {
                const uint64_t key = 0x0123456789abcdefull ^ (uint64_t)(a * 31 + c);
                out[2 * n] = out[2 * n + 1] = 0xdeadbeefu; /* past the end: left alone */
                t->keep_masks(key, starts[a], n, cuts[c], out);
                for (int64_t p = 0; p < n; p++) {
                    const uint64_t h = attn__hash_at(key, (uint64_t)(starts[a] + p));
                    const uint32_t u0 = (uint32_t)(h >> 40), u1 = (uint32_t)((h >> 16) & 0xFFFFFFu);
                    ok &= out[2 * p] == (u0 >= cuts[c] ? ~0u : 0u);
                    ok &= out[2 * p + 1] == (u1 >= cuts[c] ? ~0u : 0u);
                }
                ok &= out[2 * n] == 0xdeadbeefu && out[2 * n + 1] == 0xdeadbeefu;
            }
    CHECK(ok, "%s keep_masks: every mask as core/rng.h's hash defines it", t->name);
}

/* softmax_update on one 16-column tile (the narrowest the contract allows) from m = -inf: S = 2^(S - max), the max of each column
 * is 0 (row 0), so the other rows are 2^x for the chosen x */
static void exp2_case(const attn__tiles_t *t) {
    enum { J = 2501, W = 16 };
    static float S[J * W];
    double worst = 0.0;
    int zeros = 1;
    for (int j = 0; j < J; j++)
        for (int i = 0; i < W; i++) {
            double x = j == 0 ? 0.0 : -126.0 * (double)((j - 1) * W + i) / ((J - 1) * W - 1);
            S[j * W + i] = (float)x;
        }
    float m[W], l[W], alpha[W];
    for (int i = 0; i < W; i++) { m[i] = -INFINITY; l[i] = 0.0f; }
    static float X[J * W];
    for (int k = 0; k < J * W; k++) X[k] = S[k];
    t->softmax_update(J, W, S, W, m, l, alpha);
    for (int k = W; k < J * W; k++) {
        double want = exp2((double)X[k]);
        double e = fabs((double)S[k] - want) / want;
        if (e > worst) worst = e;
    }
    printf("  %s softmax 2^x: max relative error %.3g on [-126, 0]\n", t->name, worst);
    CHECK(worst <= 2e-7, "%s softmax 2^x: relative error %.3g > 2e-7", t->name, worst);
    /* far below the range, and -inf */
    float T[3 * W], tm[W], tl[W];
    for (int i = 0; i < W; i++) {
        T[i] = 0.0f;
        T[W + i] = -127.0f - (float)i * 40.0f;
        T[2 * W + i] = -INFINITY;
        tm[i] = -INFINITY;
        tl[i] = 0.0f;
    }
    t->softmax_update(3, W, T, W, tm, tl, alpha);
    for (int i = 0; i < W; i++) zeros &= T[W + i] == 0.0f && T[2 * W + i] == 0.0f && T[i] == 1.0f;
    CHECK(zeros, "%s softmax 2^x: 2^0 = 1, and 0 for x <= -127 and -inf", t->name);
}

static float uniform(uint64_t *st) { /* [0, 1) */
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(*st >> 40) / 16777216.0f;
}

/* the forward's fused path against its two-pass form, bit for bit */
static void fused_max_case(const attn__tiles_t *t) {
    const int64_t Ms[] = {96, 61, 5}, Ns[] = {96, 40, 8}, Ks[] = {64, 7, 300};
    int ok = 1;
    uint64_t st = 42;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 3; c++) {
                const int64_t M = Ms[a], N = Ns[b], K = Ks[c], ld = 104;
                float *A = malloc(sizeof(float) * (size_t)(M * K));
                float *B = malloc(sizeof(float) * (size_t)(K * ld));
                float *C1 = malloc(sizeof(float) * (size_t)(M * ld));
                float *C2 = malloc(sizeof(float) * (size_t)(M * ld));
                float m1[104], m2[104], l1[104], l2[104], a1[104], a2[104], mx[104];
                for (int64_t k = 0; k < M * K; k++) A[k] = uniform(&st) - 0.5f;
                for (int64_t k = 0; k < K * ld; k++) B[k] = 8.0f * uniform(&st) - 4.0f;
                for (int64_t i = 0; i < N; i++) {
                    m1[i] = m2[i] = i % 3 ? -INFINITY : 1.5f;
                    l1[i] = l2[i] = i % 3 ? 0.0f : 2.0f;
                    mx[i] = m2[i];
                }
                t->gemm_nn(M, N, K, A, K, B, ld, C1, ld, 0);
                t->gemm_nn_max(M, N, K, A, K, B, ld, C2, ld, mx);
                for (int64_t r = 0; r < M; r++)
                    for (int64_t i = 0; i < N; i++) ok &= C1[r * ld + i] == C2[r * ld + i];
                float want[104];
                for (int64_t i = 0; i < N; i++) {
                    want[i] = m2[i];
                    for (int64_t r = 0; r < M; r++)
                        if (C1[r * ld + i] > want[i]) want[i] = C1[r * ld + i];
                    ok &= want[i] == mx[i];
                }
                t->softmax_update(M, N, C1, ld, m1, l1, a1);
                t->softmax_update_max(M, N, C2, ld, mx, m2, l2, a2);
                for (int64_t r = 0; r < M; r++)
                    for (int64_t i = 0; i < N; i++) ok &= C1[r * ld + i] == C2[r * ld + i];
                for (int64_t i = 0; i < N; i++)
                    ok &= m1[i] == m2[i] && l1[i] == l2[i] && a1[i] == a2[i];
                free(A);
                free(B);
                free(C1);
                free(C2);
            }
    CHECK(ok, "%s gemm_nn_max + softmax_update_max: bitwise gemm_nn + softmax_update", t->name);
}

int main(void) {
    const attn__tiles_t *sets[3];
    const int n = attn__tiles_available(sets, 3);
    for (int i = 0; i < n; i++) {
        exp_case(sets[i]);
        tanh_case(sets[i]);
        group_case(sets[i]);
        keep_masks_case(sets[i]);
        exp2_case(sets[i]);
        fused_max_case(sets[i]);
    }
    return check_report("test_tiles_math");
}
