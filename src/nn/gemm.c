/* The one place the library calls BLAS.
 *
 * The layers' products are split into tiles of C, and the tiles go to attn's own thread pool,
 * each one a single-threaded OpenBLAS sgemm. OpenBLAS is kept at one thread: its own workers
 * spin (sched_yield) between calls, and on a small machine they took the second core away
 * from everything the layers do between products (dropout, layer norm, the attention
 * kernels), which run on the same pool. The tiles depend only on the shape, and every element
 * of C is computed by one sgemm over the whole K, so the bits do not depend on the threads. */
#include "core/runtime.h"
#include "nn/gemm_bf16.h"
#include "nn/nn.h"

#include <cblas.h>

/* The split: a power of two of tiles (so 2, 4, 8 threads share them evenly), at most 16 and
 * none under 64 rows (or columns), each a multiple of 16 (the micro-kernels' width). */
enum { MIN_TILE = 64, MAX_TILES = 16 };

static int64_t tile_size(int64_t extent) {
    int64_t n = 1;
    while (n < MAX_TILES && extent / (2 * n) >= MIN_TILE) n *= 2;
    int64_t size = (extent + n - 1) / n;
    return (size + 15) / 16 * 16;
}

typedef struct gemm_job {
    int trans_a, trans_b;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    int64_t lda, ldb, ldc;
    float *C;
    int split_rows; /* tiles are row blocks (else column blocks) */
    int64_t tile;   /* rows (columns) a tile */
} gemm_job_t;

static void call(const gemm_job_t *J, int64_t m, int64_t n, const float *A, const float *B,
                 float *C) {
    cblas_sgemm(CblasRowMajor, J->trans_a ? CblasTrans : CblasNoTrans,
                J->trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)J->K,
                J->alpha, A, (blasint)J->lda, B, (blasint)J->ldb, J->beta, C, (blasint)J->ldc);
}

static void tile(void *ctx, int64_t t, int thread) {
    (void)thread;
    const gemm_job_t *J = ctx;
    const int64_t T = J->tile, i0 = t * T;
    if (J->split_rows) {
        int64_t m = J->M - i0 < T ? J->M - i0 : T;
        /* rows i0.. of op(A): row i0 of A, or column i0 of A when transposed */
        const float *A = J->trans_a ? J->A + i0 : J->A + i0 * J->lda;
        call(J, m, J->N, A, J->B, J->C + i0 * J->ldc);
    } else {
        int64_t n = J->N - i0 < T ? J->N - i0 : T;
        /* columns i0.. of op(B): column i0 of B, or row i0 of B when transposed */
        const float *B = J->trans_b ? J->B + i0 * J->ldb : J->B + i0;
        gemm_job_t one = *J;
        one.N = n;
        call(&one, J->M, n, J->A, B, J->C + i0);
    }
}

void attn__gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (attn_get_matmul_precision() == ATTN_MATMUL_MEDIUM) {
        const int engine = attn__bf16_engine();
        if (engine != ATTN__BF16_NONE) {
            attn__gemm_bf16_x86(engine, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta,
                                C, ldc);
            return;
        }
    }
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    gemm_job_t J = {trans_a, trans_b, M, N, K, alpha, beta, A, B, lda, ldb, ldc, C, M >= N, 0};
    const int64_t extent = J.split_rows ? M : N;
    J.tile = tile_size(extent);
    int64_t tiles = (extent + J.tile - 1) / J.tile;
    double flops = 2.0 * (double)M * (double)N * (double)K;
    if (tiles == 1 || flops < 2e6) { /* by shape alone, not by the thread count */
        call(&J, M, N, A, B, C);
        return;
    }
    attn__parallel_for(tiles, attn__threads_for(tiles, flops), tile, &J);
}
