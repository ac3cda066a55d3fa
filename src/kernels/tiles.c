/* Dense tile operations of the fused attention kernel, written once in plain C so that the
 * compiler vectorises them; CMake compiles this file once per instruction set with
 * ATTN_TILES_ISA set to the name (generic, avx2) and matching -m flags. */
#include "kernels/tiles.h"

#include <math.h>
#include <string.h>

#ifndef ATTN_TILES_ISA
#  define ATTN_TILES_ISA generic
#endif
#define ATTN__CAT2(a, b) a##b
#define ATTN__CAT(a, b) ATTN__CAT2(a, b)
#define ISA_NAME(x) ATTN__CAT(x, ATTN__CAT(_, ATTN_TILES_ISA))
#define STR2(x) #x
#define STR(x) STR2(x)

/* C = A * B for M x N x K, row-major. Four rows of C at a time so each B row loaded is used
 * four times; the n loop is the vector direction. */
static void gemm_nn(int64_t M, int64_t N, int64_t K, const float *restrict A, int64_t lda,
                    const float *restrict B, int64_t ldb, float *restrict C, int64_t ldc,
                    int accumulate) {
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) {
        float *restrict c0 = C + m * ldc, *restrict c1 = c0 + ldc, *restrict c2 = c1 + ldc,
                        *restrict c3 = c2 + ldc;
        const float *a0 = A + m * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        if (!accumulate)
            for (int64_t n = 0; n < N; n++) c0[n] = c1[n] = c2[n] = c3[n] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const float *restrict b = B + k * ldb;
            float x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];
            for (int64_t n = 0; n < N; n++) {
                float bn = b[n];
                c0[n] += x0 * bn;
                c1[n] += x1 * bn;
                c2[n] += x2 * bn;
                c3[n] += x3 * bn;
            }
        }
    }
    for (; m < M; m++) {
        float *restrict c = C + m * ldc;
        const float *a = A + m * lda;
        if (!accumulate) memset(c, 0, sizeof(float) * (size_t)N);
        for (int64_t k = 0; k < K; k++) {
            const float *restrict b = B + k * ldb;
            float x = a[k];
            for (int64_t n = 0; n < N; n++) c[n] += x * b[n];
        }
    }
}

/* C += A^T * B, A: K x M. Four columns of A (rows of C) at a time. */
static void gemm_tn(int64_t M, int64_t N, int64_t K, const float *restrict A, int64_t lda,
                    const float *restrict B, int64_t ldb, float *restrict C, int64_t ldc) {
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) {
        float *restrict c0 = C + m * ldc, *restrict c1 = c0 + ldc, *restrict c2 = c1 + ldc,
                        *restrict c3 = c2 + ldc;
        for (int64_t k = 0; k < K; k++) {
            const float *restrict b = B + k * ldb;
            const float *a = A + k * lda + m;
            float x0 = a[0], x1 = a[1], x2 = a[2], x3 = a[3];
            if (x0 == 0.0f && x1 == 0.0f && x2 == 0.0f && x3 == 0.0f) continue;
            for (int64_t n = 0; n < N; n++) {
                float bn = b[n];
                c0[n] += x0 * bn;
                c1[n] += x1 * bn;
                c2[n] += x2 * bn;
                c3[n] += x3 * bn;
            }
        }
    }
    for (; m < M; m++) {
        float *restrict c = C + m * ldc;
        for (int64_t k = 0; k < K; k++) {
            float x = A[k * lda + m];
            if (x == 0.0f) continue;
            const float *restrict b = B + k * ldb;
            for (int64_t n = 0; n < N; n++) c[n] += x * b[n];
        }
    }
}

/* exp(x) for x <= 0 (arguments here are s - max), written with plain arithmetic and bit
 * operations so that it vectorises: x = n*ln2 + r, |r| <= ln2/2, exp(r) by a degree-6
 * polynomial (Taylor coefficients; error below 2 ulp on [-87, 0]), times 2^n built in the
 * exponent bits. Below -87.3 (or -inf) the result is exactly 0. */
static inline float exp_nonpos(float x) {
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187e-06f;
    float xc = x < -87.0f ? -87.0f : x;
    /* round to nearest by the 1.5 * 2^23 trick (vectorises without SSE4.1 rounding) */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = (xc - n * ln2_hi) - n * ln2_lo;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union { float f; int32_t i; } u;
    u.i = ((int32_t)n + 127) << 23;
    float e = p * u.f;
    return x < -87.0f ? 0.0f : e;
}

static float exp_sum(int64_t n, const float *restrict s, float m, float *restrict p) {
    /* eight partial sums in a fixed pattern, combined in a fixed order */
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int t = 0; t < 8; t++) {
            float e = exp_nonpos(s[j + t] - m);
            p[j + t] = e;
            acc[t] += e;
        }
    for (; j < n; j++) {
        float e = exp_nonpos(s[j] - m);
        p[j] = e;
        acc[0] += e;
    }
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static void scale_vec(int64_t n, float a, float *restrict x) {
    for (int64_t j = 0; j < n; j++) x[j] *= a;
}

const attn__tiles_t ISA_NAME(attn__tiles) = {
    STR(ATTN_TILES_ISA), gemm_nn, gemm_tn, exp_sum, scale_vec,
};
