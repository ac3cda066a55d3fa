/* Internal: the small dense tile operations the fused attention kernel is written against.
 *
 * tiles.c is compiled once per instruction set (generic C, and AVX2+FMA and AVX-512 on
 * x86-64); the fused kernel calls them through attn__tiles(), which picks the best one the
 * CPU supports (on each call, so that ATTN_ISA set before a test is honoured).
 * Every routine's summation order is fixed by its arguments alone, so results never depend on
 * threads; they do depend (in the last bits) on which instruction set was picked.
 *
 * Matrices are row-major with explicit leading dimensions (in floats). */
#ifndef ATTN_KERNELS_TILES_H
#define ATTN_KERNELS_TILES_H

#include <stdint.h>

typedef struct attn__tiles {
    const char *name;
    /* the micro-kernel's block of C: mr rows (6) by nr columns (16 for 8-float vectors, 32
     * for AVX-512's 16), the units of the causal trims below */
    int32_t mr, nr;
    /* C[m][n] (= or +=) sum_k A[m][k] * B[k][n];  A: M x K, B: K x N, C: M x N.
     * accumulate = 0 overwrites C. */
    void (*gemm_nn)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate);
    /* C[m][n] (= or +=) sum_k A[k][m] * B[k][n];  A: K x M (read transposed). */
    void (*gemm_tn)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate);
    /* gemm_nn (overwriting C) that also folds C's column maxima into cmax: cmax[n] =
     * max(cmax[n], max_m C[m][n]) for n < N, from the registers (the forward's score tiles) */
    void (*gemm_nn_max)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                        const float *B, int64_t ldb, float *C, int64_t ldc, float *cmax);
    /* The two with part of the work known to be void (the diagonal tiles of causal
     * attention). gemm_nn_rows: column block n0 (nr columns, from 0) needs only the rows
     * m < rows[n0 / nr] (a prefix; C's other rows there are left as they are). gemm_tn_depth:
     * row block m0 (mr rows, from 0) sums only over k < depth[m0 / mr] (A[k][m] = 0 beyond). */
    void (*gemm_nn_rows)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate,
                         const int32_t *rows);
    void (*gemm_tn_depth)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate,
                          const int32_t *depth);
    /* gemm_nn whose row block m0 (mr rows) sums only over k >= start[m0 / mr] (A[m][k] = 0
     * before: the backward's dV and dK on those tiles, where a key's first queries are
     * hidden from it) */
    void (*gemm_nn_from)(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate,
                         const int32_t *start);

    /* The softmax steps work on transposed score tiles S[j][i] (key j, query i): J rows of
     * n columns (n a multiple of 16), row stride ld, so that per-query statistics are vectors.
     * Scores are in log2 units (exp2 instead of exp: the caller folds log2(e) into Q).
     *
     * Online softmax update, in place: for each column i, m' = max(m[i], max_j S[j][i]),
     * alpha[i] = 2^(m[i] - m'), S[j][i] = 2^(S[j][i] - m'), l[i] = l[i] * alpha[i] +
     * sum_j S[j][i] (j in order), m[i] = m'. Columns with nothing visible keep m = -inf,
     * l = 0 and give zeros. */
    void (*softmax_update)(int64_t J, int64_t n, float *S, int64_t ld, float *m, float *l,
                           float *alpha);
    /* The same with the column maxima already known: mx[i] = max(m[i], max_j S[j][i]) on
     * entry (mx is scratch afterwards); softmax_update's results. */
    void (*softmax_update_max)(int64_t J, int64_t n, float *S, int64_t ld, float *mx, float *m,
                               float *l, float *alpha);
    /* S[j][i] = 2^(S[j][i] - sub[i]) (sub[i] = +inf gives zeros). */
    void (*exp_sub)(int64_t J, int64_t n, float *S, int64_t ld, const float *sub);
    /* dP[j][i] = P[j][i] * (dP[j][i] - d[i]) */
    void (*softmax_grad)(int64_t J, int64_t n, const float *P, float *dP, int64_t ld,
                         const float *d);
    /* Decoding (one query against many keys):
     * s[j] = sum_k A[j][k] * x[k] for j < M (A: M x K, row stride lda) */
    void (*dot_rows)(int64_t M, int64_t K, const float *A, int64_t lda, const float *x, float *s);
    /* y[n] = y[n] * a + sum_j w[j] * B[j][n] for n < N (B: M x N, row stride ldb) */
    void (*axpy_rows)(int64_t M, int64_t N, const float *w, const float *B, int64_t ldb,
                      float a, float *y);
    /* the same two with A / B stored as halves: [0] IEEE fp16, [1] bfloat16 */
    void (*dot_rows_h[2])(int64_t M, int64_t K, const uint16_t *A, int64_t lda, const float *x,
                          float *s);
    void (*axpy_rows_h[2])(int64_t M, int64_t N, const float *w, const uint16_t *B,
                           int64_t ldb, float a, float *y);
    /* Grouped-query decoding, G <= 4 queries sharing each row read, rows stored as [0] fp32,
     * [1] fp16, [2] bf16 (per query the sums of dot_rows / axpy_rows, in their order):
     * s[g * lds + j] = sum_k A[j][k] x[g * ldx + k] for j < M, g < G;
     * y[g * ldy + n] = y[g * ldy + n] a[g] + sum_j w[g * ldw + j] B[j][n] for n < N. */
    void (*dot_group[3])(int64_t G, int64_t M, int64_t K, const void *A, int64_t lda,
                         const float *x, int64_t ldx, float *s, int64_t lds);
    void (*axpy_group[3])(int64_t G, int64_t M, int64_t N, const float *w, int64_t ldw,
                          const void *B, int64_t ldb, const float *a, float *y, int64_t ldy);
    /* max of s[0..n) (-inf when all are) */
    float (*row_max)(int64_t n, const float *s);
    /* p[j] = exp(s[j] - m) for j < n, returning their sum (m finite) */
    float (*exp_row)(int64_t n, const float *s, float m, float *p);
    /* dst[j] = src[j] as float for j < n, from IEEE fp16 or from bfloat16 */
    void (*f16_to_f32)(int64_t n, const uint16_t *src, float *dst);
    void (*bf16_to_f32)(int64_t n, const uint16_t *src, float *dst);
    /* x[j] *= a for j < n */
    void (*scale)(int64_t n, float a, float *x);
    /* Additive attention: sum_i v[i] tanh(q[i] + k[i]) (lanes, then their sum in a fixed
     * order), and t[i] = tanh(q[i] + k[i]); tanh to within 3e-7 relative. */
    float (*tanh_dot)(int64_t n, const float *v, const float *q, const float *k);
    void (*tanh_sum)(int64_t n, const float *q, const float *k, float *t);
    /* Dropout's keep masks for the element pairs j0 .. j0 + npairs - 1: out[2 (j - j0) + e]
     * = ~0 where element 2j + e is kept, else 0 (nn/dropout.h defines the mask; the same bits
     * on every ISA) */
    void (*keep_masks)(uint64_t key, int64_t j0, int64_t npairs, uint32_t cut, uint32_t *out);
} attn__tiles_t;

/* The tile set for this CPU: the widest it supports, or the one ATTN_ISA names (generic,
 * avx2, avx512) when this CPU and build have it. Never NULL. */
const attn__tiles_t *attn__tiles(void);

/* The tile sets this build has and this CPU runs, portable first, widest last: writes up to
 * max of them to sets and returns how many (for tests comparing them). */
int attn__tiles_available(const attn__tiles_t **sets, int max);

/* The per-ISA tile sets (tiles.c compiled per ISA). */
extern const attn__tiles_t attn__tiles_generic;
#if defined(ATTN_HAVE_AVX2_TILES)
extern const attn__tiles_t attn__tiles_avx2;
#endif
#if defined(ATTN_HAVE_AVX512_TILES)
extern const attn__tiles_t attn__tiles_avx512;
#endif

#endif
