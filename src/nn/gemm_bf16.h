/* Internal: the layers' products at ATTN_MATMUL_MEDIUM precision: both operands rounded to
 * bfloat16 (to nearest even), products and sums in fp32, as PyTorch computes float32 products
 * after torch.set_float32_matmul_precision("medium") on CPUs with bf16 matrix units.
 *
 * Two engines on x86 (nn/gemm_bf16_x86.c): Intel's AMX (Advanced Matrix Extensions: Sapphire
 * Rapids and later), whose TDPBF16PS multiplies a 16 x 32 bf16 tile by a 32 x 16 one into
 * 16 x 16 fp32 sums, and AVX512_BF16 (Zen 4 and later, Cooper Lake), whose VDPBF16PS adds two
 * bf16 products to each of 16 fp32 lanes. attn__gemm uses the better of them that this CPU
 * and OS have when the precision is MEDIUM, and OpenBLAS's sgemm otherwise. Which thread
 * computes a block never changes its bits, and the blocks depend on the shape alone, so
 * results stay the same for any thread count. */
#ifndef ATTN_NN_GEMM_BF16_H
#define ATTN_NN_GEMM_BF16_H

#include <stdint.h>

/* The engines, each CPU that has one having those before it too. */
enum {
    ATTN__BF16_NONE = 0,   /* neither: the products stay sgemm */
    ATTN__BF16_AVX512 = 1, /* AVX-512 F, BW and BF16, their state saved by the OS */
    ATTN__BF16_AMX = 2,    /* and AMX-BF16, the tile registers granted to this process
                            * (Linux: asked for once, with arch_prctl) */
};

/* The best engine this build, CPU and OS have (probed once). */
int attn__bf16_engine(void);

/* C[M x N] = alpha * bf16(op(A)) bf16(op(B)) + beta * C on ENGINE (AVX512 or AMX, at most
 * attn__bf16_engine()), arguments as attn__gemm (nn/nn.h); beta = 0 ignores what C held. */
void attn__gemm_bf16_x86(int engine, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                         float beta, float *C, int64_t ldc);

/* The plain reference: the same rounding of the operands, each element's products summed in
 * double, then alpha and beta applied in float. */
void attn__gemm_bf16_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                         float *C, int64_t ldc);

#endif
