/* Internal: the layers' products at ATTN_MATMUL_MEDIUM precision: both operands rounded to
 * bfloat16 (to nearest even), products and sums in fp32, as PyTorch computes float32 products
 * after torch.set_float32_matmul_precision("medium") on CPUs with bf16 matrix units.
 *
 * Here that is Intel's AMX (Advanced Matrix Extensions: Sapphire Rapids and later), whose
 * TDPBF16PS multiplies a 16 x 32 bf16 tile by a 32 x 16 one into 16 x 16 fp32 sums; attn__gemm
 * uses it when the precision is MEDIUM and this CPU and OS have it, and OpenBLAS's sgemm
 * otherwise. Which thread computes a block never changes its bits, and the blocks depend on
 * the shape alone, so results stay the same for any thread count. */
#ifndef ATTN_NN_GEMM_BF16_H
#define ATTN_NN_GEMM_BF16_H

#include <stdint.h>

/* 1 when this build has the AMX kernel, the CPU has AMX-BF16 and the OS lets this process use
 * the tile registers (Linux: asked for once, with arch_prctl); 0 otherwise. */
int attn__amx_bf16_available(void);

/* C[M x N] = alpha * bf16(op(A)) bf16(op(B)) + beta * C with AMX, arguments as attn__gemm
 * (nn/nn.h); beta = 0 ignores what C held. Only after attn__amx_bf16_available() said 1. */
void attn__gemm_bf16_amx(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                         float *C, int64_t ldc);

/* The plain reference: the same rounding of the operands, each element's products summed in
 * double, then alpha and beta applied in float. */
void attn__gemm_bf16_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                         float *C, int64_t ldc);

#endif
