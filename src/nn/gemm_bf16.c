/* The plain reference for the bf16 products (nn/gemm_bf16.h), the engine answer of builds
 * without the x86 kernels, and the process-wide matmul precision (attn.h). */
#include "nn/gemm_bf16.h"

#include "core/half.h"
#include "core/status.h"

#include <stdatomic.h>

void attn__gemm_bf16_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                         float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < K; k++) {
                float a = trans_a ? A[k * lda + i] : A[i * lda + k];
                float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                s += (double)attn__bf16_to_f32(attn__f32_to_bf16(a)) *
                     (double)attn__bf16_to_f32(attn__f32_to_bf16(b));
            }
            float *c = &C[i * ldc + j];
            *c = beta == 0.0f ? alpha * (float)s : alpha * (float)s + beta * *c;
        }
}

#if !ATTN_HAVE_X86_BF16_GEMM
int attn__bf16_engine(void) { return ATTN__BF16_NONE; }

void attn__gemm_bf16_x86(int engine, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                         float beta, float *C, int64_t ldc) {
    (void)engine;
    attn__gemm_bf16_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#endif

static atomic_int precision = ATTN_MATMUL_HIGHEST;

attn_status_t attn_set_matmul_precision(attn_matmul_precision_t p) {
    if (p != ATTN_MATMUL_HIGHEST && p != ATTN_MATMUL_MEDIUM)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "attn_set_matmul_precision: %d is not a "
                          "precision; use ATTN_MATMUL_HIGHEST or ATTN_MATMUL_MEDIUM", (int)p);
    atomic_store(&precision, (int)p);
    return ATTN_STATUS_OK;
}

attn_matmul_precision_t attn_get_matmul_precision(void) {
    return (attn_matmul_precision_t)atomic_load(&precision);
}

const char *attn_matmul_engine(void) {
    if (attn_get_matmul_precision() != ATTN_MATMUL_MEDIUM) return "sgemm";
    switch (attn__bf16_engine()) {
    case ATTN__BF16_AMX: return "amx-bf16";
    case ATTN__BF16_AVX512: return "avx512-bf16";
    default: return "sgemm";
    }
}
