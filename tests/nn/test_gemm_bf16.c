/* The bf16 products of ATTN_MATMUL_MEDIUM (src/nn/gemm_bf16.h): the plain reference on exact
 * cases and on its rounding; each engine this CPU has (AVX512-BF16, AMX-BF16) against the
 * reference over edge shapes, transposes, alpha, beta and leading dimensions; attn__gemm at
 * MEDIUM giving the best engine's bits, and the same bits for 1 and 2 threads; the precision
 * setting's errors. */
#include "check.h"
#include "nn/gemm_bf16.h"
#include "nn/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *random_matrix(int64_t rows, int64_t ld, uint64_t seed) {
    float *m = malloc(sizeof *m * (size_t)(rows * ld + 1));
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < rows * ld; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        m[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return m;
}

static void test_reference(void) {
    /* small integers are exact in bf16: the reference is the exact product */
    const float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {7, 8, 9, 10, 11, 12};
    float C[4] = {1, 1, 1, 1};
    attn__gemm_bf16_ref(0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.5f, C, 2);
    CHECK(C[0] == 58.5f && C[1] == 64.5f && C[2] == 139.5f && C[3] == 154.5f,
          "2x3 by 3x2: %g %g %g %g", C[0], C[1], C[2], C[3]);
    /* operands are rounded to nearest even at 8 significant bits: 1 + 2^-8 is halfway
     * between 1 and 1 + 2^-7 and goes to 1; 1 + 3 * 2^-8 goes up to 1 + 2^-6 */
    const float a[2] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f}, one[2] = {1.0f, 1.0f};
    float c[2];
    attn__gemm_bf16_ref(0, 1, 2, 1, 1, 1.0f, a, 1, one, 1, 0.0f, c, 1);
    CHECK(c[0] == 1.0f && c[1] == 1.0f + 0x1p-6f, "rounding: %.9g %.9g", c[0], c[1]);
}

static const char *const engine_names[] = {"sgemm", "avx512-bf16", "amx-bf16"};

/* an engine against the reference: |difference| within fp32 summation error */
static void compare(int engine, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
    const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
    float *A = random_matrix(ta ? K : M, lda, (uint64_t)(M * 131 + K));
    float *B = random_matrix(tb ? N : K, ldb, (uint64_t)(N * 7 + K * 3 + 1));
    float *C0 = random_matrix(M, ldc, 99), *C1 = malloc(sizeof *C1 * (size_t)(M * ldc));
    if (beta == 0.0f)
        for (int64_t i = 0; i < M * ldc; i++) C0[i] = NAN; /* beta = 0: C is not read */
    memcpy(C1, C0, sizeof *C1 * (size_t)(M * ldc));
    attn__gemm_bf16_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc);
    attn__gemm_bf16_x86(engine, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
    double worst = 0.0;
    int64_t bad = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double mag = 0.0; /* sum of |products| bounds the summation error */
            for (int64_t k = 0; k < K; k++)
                mag += fabs((double)(ta ? A[k * lda + i] : A[i * lda + k]) *
                            (double)(tb ? B[j * ldb + k] : B[k * ldb + j]));
            double tol = (double)(K + 4) * 1.2e-7 * mag * fabs(alpha) + 1e-6;
            double d = fabs((double)C1[i * ldc + j] - (double)C0[i * ldc + j]);
            if (!(d <= tol)) bad++;
            if (d / tol > worst) worst = d / tol;
        }
    CHECK(bad == 0, "%s vs reference, trans %d%d, %lldx%lldx%lld, alpha %g beta %g: %lld "
          "elements off (worst %.2f of the tolerance)", engine_names[engine], ta, tb, (long long)M, (long long)N,
          (long long)K, alpha, beta, (long long)bad, worst);
    /* the columns past N are not touched */
    int untouched = 1;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = N; j < ldc; j++)
            untouched &= memcmp(&C1[i * ldc + j], &C0[i * ldc + j], sizeof(float)) == 0 ||
                         (isnan(C1[i * ldc + j]) && isnan(C0[i * ldc + j]));
    CHECK(untouched, "%s wrote past N (trans %d%d, %lldx%lldx%lld)", engine_names[engine], ta, tb, (long long)M,
          (long long)N, (long long)K);
    free(A);
    free(B);
    free(C0);
    free(C1);
}

static void test_engine(int engine) {
    const int64_t shapes[][3] = {{1, 1, 1},    {5, 7, 3},     {16, 16, 32},  {17, 33, 31},
                                 {32, 32, 64}, {64, 96, 256}, {100, 70, 129}, {3, 200, 1},
                                 {130, 5, 300}, {8, 8, 0},    {9, 40, 2},    {71, 129, 33}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++) {
            compare(engine, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f);
            compare(engine, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], 0.5f, 1.0f);
        }
    compare(engine, 0, 1, 33, 47, 65, -2.0f, 0.25f);
}

/* attn__gemm at MEDIUM is the best engine, and its bits do not depend on the threads */
static void test_dispatch(int engine) {
    const int64_t M = 300, N = 200, K = 130;
    float *A = random_matrix(M, K, 5), *B = random_matrix(N, K, 6);
    float *C[3];
    for (int v = 0; v < 3; v++) C[v] = calloc((size_t)(M * N), sizeof(float));
    attn__gemm_bf16_x86(engine, 0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C[0], N);
    CHECK(attn_set_matmul_precision(ATTN_MATMUL_MEDIUM) == ATTN_STATUS_OK, "set MEDIUM");
    CHECK(!strcmp(attn_matmul_engine(), engine_names[engine]), "engine %s, not %s",
          attn_matmul_engine(), engine_names[engine]);
    attn_set_num_threads(1);
    attn__gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C[1], N);
    attn_set_num_threads(2);
    attn__gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C[2], N);
    attn_set_num_threads(0);
    CHECK(!memcmp(C[0], C[1], sizeof(float) * (size_t)(M * N)), "attn__gemm at MEDIUM is %s",
          engine_names[engine]);
    CHECK(!memcmp(C[1], C[2], sizeof(float) * (size_t)(M * N)), "1 and 2 threads differ");
    attn_set_matmul_precision(ATTN_MATMUL_HIGHEST);
    CHECK(!strcmp(attn_matmul_engine(), "sgemm"), "engine %s at HIGHEST", attn_matmul_engine());
    for (int v = 0; v < 3; v++) free(C[v]);
    free(A);
    free(B);
}

int main(void) {
    test_reference();
    CHECK(attn_get_matmul_precision() == ATTN_MATMUL_HIGHEST, "the default is HIGHEST");
    CHECK(attn_set_matmul_precision((attn_matmul_precision_t)7) == ATTN_STATUS_BAD_ARGUMENT &&
              strstr(attn_last_error(), "ATTN_MATMUL_MEDIUM"),
          "a bad precision: %s", attn_last_error());
    const int best = attn__bf16_engine();
    printf("bf16 engines: %s%s\n", best >= ATTN__BF16_AVX512 ? "avx512-bf16" : "none (the kernel "
           "checks are skipped)", best >= ATTN__BF16_AMX ? ", amx-bf16" : "");
    for (int e = ATTN__BF16_AVX512; e <= best; e++) test_engine(e);
    if (best != ATTN__BF16_NONE) {
        test_dispatch(best);
    } else {
        attn_set_matmul_precision(ATTN_MATMUL_MEDIUM);
        CHECK(!strcmp(attn_matmul_engine(), "sgemm"), "without bf16 units MEDIUM runs on sgemm");
        attn_set_matmul_precision(ATTN_MATMUL_HIGHEST);
    }
    return check_report("test_gemm_bf16");
}
