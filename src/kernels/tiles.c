/* Dense tile operations of the fused attention kernel, written once against the vector
 * helpers of simd.h. CMake compiles this file once per instruction set, with ATTN_TILES_ISA
 * naming it (generic, avx2, avx512) and the matching -m flags.
 *
 * The products are register-blocked: a micro-kernel keeps a 6 x (2 VF_WIDTH) block of C in
 * twelve vector accumulators (6 x 16 with 8-float vectors, 6 x 32 with AVX-512's 16), and
 * for each k loads two vectors of B and broadcasts six values of A (12 FMAs for 8 loads). A
 * is read through a (row, k) stride pair, so the same micro-kernel serves A and A
 * transposed. */
#include "kernels/tiles.h"
#include "kernels/simd.h"
#include "kernels/prefetch.h"

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

/* the micro-kernel's block of C (with AVX-512, blocks of 8 or 12 rows measured the same as 6:
 * N=2048 D=64 forward and backward within 3%) */
enum { MR = 6, NR = 2 * VF_WIDTH };

#if defined(__GNUC__)
#  define ATTN__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#  define ATTN__ALWAYS_INLINE inline
#endif

/* C[r][0..NR) (=|+=) sum_k A(r, k) * B[k][0..NR) for r < R (R <= 6, a constant at every call,
 * so each R gets its own copy with the block in registers), A(r, k) = A[r * ars + k * aks];
 * with cmax, also cmax[0..NR) = max(cmax, max_r C[r][0..NR)) from the registers (a max is
 * exact, so its order does not matter) */
static ATTN__ALWAYS_INLINE void micro_rxn(int R, int64_t K, const float *A, int64_t ars,
                                           int64_t aks, const float *B, int64_t ldb, float *C,
                                           int64_t ldc, int acc, float *cmax) {
    vf c[MR][2];
    for (int r = 0; r < R; r++) {
        c[r][0] = acc ? vf_load(C + r * ldc) : vf_zero();
        c[r][1] = acc ? vf_load(C + r * ldc + VF_WIDTH) : vf_zero();
    }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 4
#endif
    for (int64_t k = 0; k < K; k++) {
        vf b0 = vf_load(B + k * ldb), b1 = vf_load(B + k * ldb + VF_WIDTH);
        const float *a = A + k * aks;
        for (int r = 0; r < R; r++) {
            vf x = vf_set1(a[r * ars]);
            c[r][0] = vf_fma(x, b0, c[r][0]);
            c[r][1] = vf_fma(x, b1, c[r][1]);
        }
    }
    for (int r = 0; r < R; r++) {
        vf_store(C + r * ldc, c[r][0]);
        vf_store(C + r * ldc + VF_WIDTH, c[r][1]);
    }
    if (cmax) {
        vf x0 = c[0][0], x1 = c[0][1];
        for (int r = 1; r < R; r++) {
            x0 = vf_max(x0, c[r][0]);
            x1 = vf_max(x1, c[r][1]);
        }
        vf_store(cmax, vf_max(vf_load(cmax), x0));
        vf_store(cmax + VF_WIDTH, vf_max(vf_load(cmax + VF_WIDTH), x1));
    }
}

/* micro_rxn for a run-time R in 1..6 */
static inline void micro_rows(int64_t R, int64_t K, const float *A, int64_t ars, int64_t aks,
                              const float *B, int64_t ldb, float *C, int64_t ldc, int acc,
                              float *cmax) {
    switch (R) {
    case 1: micro_rxn(1, K, A, ars, aks, B, ldb, C, ldc, acc, cmax); break;
    case 2: micro_rxn(2, K, A, ars, aks, B, ldb, C, ldc, acc, cmax); break;
    case 3: micro_rxn(3, K, A, ars, aks, B, ldb, C, ldc, acc, cmax); break;
    case 4: micro_rxn(4, K, A, ars, aks, B, ldb, C, ldc, acc, cmax); break;
    case 5: micro_rxn(5, K, A, ars, aks, B, ldb, C, ldc, acc, cmax); break;
    default: micro_rxn(MR, K, A, ars, aks, B, ldb, C, ldc, acc, cmax); break;
    }
}

/* The same for mr < 6 rows and nr <= NR columns: the edges of a product. */
static void micro_edge(int64_t mr, int64_t nr, int64_t K, const float *A, int64_t ars,
                       int64_t aks, const float *B, int64_t ldb, float *C, int64_t ldc,
                       int acc) {
    for (int64_t r = 0; r < mr; r++) {
        float *c = C + r * ldc;
        if (!acc) memset(c, 0, sizeof(float) * (size_t)nr);
        for (int64_t k = 0; k < K; k++) {
            float x = A[r * ars + k * aks];
            const float *b = B + k * ldb;
            for (int64_t n = 0; n < nr; n++) c[n] += x * b[n];
        }
    }
}

/* One block of mr <= MR rows and nr <= NR columns of C. Rows are read from A directly (the
 * micro-kernel has a copy per row count); a partial column block runs on a zero-padded copy
 * of B's columns (the caller pads them once per product, KPAD_MAX bounding the copy on the
 * stack) and of C, writing back only its nr columns, so the edges of small tiles run at
 * vector speed too. */
enum { KPAD_MAX = 256 };

static inline void block(int64_t mr, int64_t nr, int64_t K, const float *A, int64_t ars,
                         int64_t aks, const float *B, int64_t ldb, float *C, int64_t ldc,
                         int acc, float *cmax) {
    if (nr == NR) {
        if (mr == MR) micro_rxn(MR, K, A, ars, aks, B, ldb, C, ldc, acc, cmax);
        else micro_rows(mr, K, A, ars, aks, B, ldb, C, ldc, acc, cmax);
        return;
    }
    float Cp[MR * NR]; /* (filled even when overwritten: compilers cannot see it is unread) */
    for (int64_t r = 0; r < mr; r++)
        for (int64_t n = 0; n < NR; n++) Cp[r * NR + n] = acc && n < nr ? C[r * ldc + n] : 0.0f;
    micro_rows(mr, K, A, ars, aks, B, ldb, Cp, NR, acc, NULL);
    for (int64_t r = 0; r < mr; r++)
        for (int64_t n = 0; n < nr; n++) {
            C[r * ldc + n] = Cp[r * NR + n];
            if (cmax && Cp[r * NR + n] > cmax[n]) cmax[n] = Cp[r * NR + n];
        }
}

/* Trims (NULL: none) for products partly known to be void (the diagonal tiles of causal
 * attention): column block n0 needs only the row blocks m0 < rows_lim[n0 / NR] (C's other rows
 * there are left as they were), row block m0 sums only over k < depth_lim[m0 / MR], and only
 * over k >= start_lim[m0 / MR] (the terms skipped are zeros: the sums are the same but for
 * the sign of a zero). cmax (NULL: none; only with K <= KPAD_MAX): cmax[n] = max(cmax[n],
 * max_m C[m][n]). */
static void gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars, int64_t aks,
                 const float *B, int64_t ldb, float *C, int64_t ldc, int acc,
                 const int32_t *rows_lim, const int32_t *depth_lim, const int32_t *start_lim,
                 float *cmax) {
    const int64_t mfull = M / MR * MR, nfull = N / NR * NR, mr = M - mfull, nr = N - nfull;
    if (K > KPAD_MAX) /* (the trims only serve short products) */
        rows_lim = depth_lim = start_lim = NULL;
    if ((mr || nr) && K > KPAD_MAX) { /* long products: the scalar edges cost little */
        if (mfull && nfull)
            gemm(mfull, nfull, K, A, ars, aks, B, ldb, C, ldc, acc, NULL, NULL, NULL, NULL);
        if (nr) micro_edge(M, nr, K, A, ars, aks, B + nfull, ldb, C + nfull, ldc, acc);
        if (mr && nfull)
            micro_edge(mr, nfull, K, A + mfull * ars, ars, aks, B, ldb, C + mfull * ldc, ldc,
                       acc);
        return;
    }
    /* the partial column block of B, zero-padded */
    float Bp[KPAD_MAX * NR];
    if (nr)
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < NR; n++)
                Bp[k * NR + n] = n < nr ? B[k * ldb + nfull + n] : 0.0f;
#define ATTN__BLOCK(m0, n0, kk)                                                               \
    do {                                                                                      \
        const int64_t bm = (m0) < mfull ? MR : mr, bn = (n0) < nfull ? NR : nr;               \
        const int64_t k0 = start_lim ? start_lim[(m0) / MR] : 0;                              \
        const float *b = (n0) < nfull ? B + (n0) : Bp;                                        \
        const int64_t lb = (n0) < nfull ? ldb : NR;                                           \
        block(bm, bn, (kk) - k0, A + (m0) * ars + k0 * aks, ars, aks, b + k0 * lb, lb,        \
              C + (m0) * ldc + (n0), ldc, acc, cmax ? cmax + (n0) : NULL);                    \
    } while (0)
#define ATTN__SKIP(m0, n0) (rows_lim && (m0) >= rows_lim[(n0) / NR])
#define ATTN__DEPTH(m0) (depth_lim ? depth_lim[(m0) / MR] : K)
    if (ars == 1) {
        /* A read transposed: each 6-row block of it is a strip of K cache lines, so keep the
         * strip in L1 across all column blocks (rows outer, columns inner) */
        for (int64_t m0 = 0; m0 < M; m0 += MR)
            for (int64_t n0 = 0; n0 < N; n0 += NR)
                if (!ATTN__SKIP(m0, n0)) ATTN__BLOCK(m0, n0, ATTN__DEPTH(m0));
    } else {
        for (int64_t n0 = 0; n0 < N; n0 += NR)
            for (int64_t m0 = 0; m0 < M; m0 += MR)
                if (!ATTN__SKIP(m0, n0)) ATTN__BLOCK(m0, n0, ATTN__DEPTH(m0));
    }
#undef ATTN__SKIP
#undef ATTN__DEPTH
#undef ATTN__BLOCK
}

static void gemm_nn(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate) {
    gemm(M, N, K, A, lda, 1, B, ldb, C, ldc, accumulate, NULL, NULL, NULL, NULL);
}

static void gemm_tn(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate) {
    gemm(M, N, K, A, 1, lda, B, ldb, C, ldc, accumulate, NULL, NULL, NULL, NULL);
}

static void gemm_nn_max(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                        const float *B, int64_t ldb, float *C, int64_t ldc, float *cmax) {
    gemm(M, N, K, A, lda, 1, B, ldb, C, ldc, 0, NULL, NULL, NULL, K <= KPAD_MAX ? cmax : NULL);
    if (K > KPAD_MAX) /* (the long-product path has no max in its epilogue) */
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++)
                if (C[m * ldc + n] > cmax[n]) cmax[n] = C[m * ldc + n];
}

static void gemm_nn_rows(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate,
                         const int32_t *rows) {
    gemm(M, N, K, A, lda, 1, B, ldb, C, ldc, accumulate, rows, NULL, NULL, NULL);
}

static void gemm_tn_depth(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate,
                          const int32_t *depth) {
    gemm(M, N, K, A, 1, lda, B, ldb, C, ldc, accumulate, NULL, depth, NULL, NULL);
}

static void gemm_nn_from(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate,
                         const int32_t *start) {
    gemm(M, N, K, A, lda, 1, B, ldb, C, ldc, accumulate, NULL, NULL, start, NULL);
}

/* The online softmax update after the column maxima are known: mx[i] = max(m[i], max_j
 * S[j][i]) on entry (overwritten). */
static void softmax_update_max(int64_t J, int64_t n, float *S, int64_t ld, float *mx, float *m,
                               float *l, float *alpha) {
    const vf ninf = vf_set1(-INFINITY), zero = vf_zero();
    for (int64_t i = 0; i < n; i += VF_WIDTH) {
        vf x = vf_load(mx + i);
        /* a column with nothing visible subtracts 0 instead of -inf: 2^-inf = 0, no NaN */
        vf use = vf_blend(vf_eq(x, ninf), zero, x);
        vf_store(alpha + i, vf_exp2_nonpos(vf_sub(vf_load(m + i), use)));
        vf_store(m + i, x);
        vf_store(mx + i, use);
    }
    /* strips of 2 VF_WIDTH columns (then VF_WIDTH), the keys in order down each, sums and
     * maxima in registers */
    int64_t i = 0;
    for (; i + 2 * VF_WIDTH <= n; i += 2 * VF_WIDTH) {
        const vf u0 = vf_load(mx + i), u1 = vf_load(mx + i + VF_WIDTH);
        vf s0 = zero, s1 = zero;
        for (int64_t j = 0; j < J; j++) {
            float *row = S + j * ld + i;
            vf e0 = vf_exp2_nonpos(vf_sub(vf_load(row), u0));
            vf e1 = vf_exp2_nonpos(vf_sub(vf_load(row + VF_WIDTH), u1));
            vf_store(row, e0);
            vf_store(row + VF_WIDTH, e1);
            s0 = vf_add(s0, e0);
            s1 = vf_add(s1, e1);
        }
        float *l1 = l + i + VF_WIDTH;
        vf_store(l + i, vf_fma(vf_load(l + i), vf_load(alpha + i), s0));
        vf_store(l1, vf_fma(vf_load(l1), vf_load(alpha + i + VF_WIDTH), s1));
    }
    for (; i < n; i += VF_WIDTH) {
        const vf u0 = vf_load(mx + i);
        vf s0 = zero;
        for (int64_t j = 0; j < J; j++) {
            vf e0 = vf_exp2_nonpos(vf_sub(vf_load(S + j * ld + i), u0));
            vf_store(S + j * ld + i, e0);
            s0 = vf_add(s0, e0);
        }
        vf_store(l + i, vf_fma(vf_load(l + i), vf_load(alpha + i), s0));
    }
}

static void softmax_update(int64_t J, int64_t n, float *S, int64_t ld, float *m, float *l,
                           float *alpha) {
    float mx[256];
    for (int64_t i = 0; i < n; i += VF_WIDTH) vf_store(mx + i, vf_load(m + i));
    for (int64_t j = 0; j < J; j++)
        for (int64_t i = 0; i < n; i += VF_WIDTH)
            vf_store(mx + i, vf_max(vf_load(mx + i), vf_load(S + j * ld + i)));
    softmax_update_max(J, n, S, ld, mx, m, l, alpha);
}

static void exp_sub(int64_t J, int64_t n, float *S, int64_t ld, const float *sub) {
    for (int64_t i = 0; i < n; i += VF_WIDTH) {
        vf c = vf_load(sub + i);
        for (int64_t j = 0; j < J; j++)
            vf_store(S + j * ld + i, vf_exp2_nonpos(vf_sub(vf_load(S + j * ld + i), c)));
    }
}

static void softmax_grad(int64_t J, int64_t n, const float *P, float *dP, int64_t ld,
                         const float *d) {
    for (int64_t i = 0; i < n; i += VF_WIDTH) {
        vf c = vf_load(d + i);
        for (int64_t j = 0; j < J; j++) {
            float *g = dP + j * ld + i;
            vf_store(g, vf_mul(vf_load(P + j * ld + i), vf_sub(vf_load(g), c)));
        }
    }
}

static void scale_vec(int64_t n, float a, float *x) {
    vf va = vf_set1(a);
    int64_t j = 0;
    for (; j + VF_WIDTH <= n; j += VF_WIDTH) vf_store(x + j, vf_mul(vf_load(x + j), va));
    for (; j < n; j++) x[j] *= a;
}

/* dot_rows and axpy_rows for K / V rows stored as float, IEEE fp16 or bfloat16: the halves
 * are widened in registers as they are loaded (no converted copy of the cache goes through
 * memory), with the same summation order for every storage type. */
static inline float ld_f32(const float *p) { return *p; }
static inline float ld_f16(const uint16_t *p) { return attn__f16_to_f32(*p); }
static inline float ld_bf16(const uint16_t *p) { return attn__bf16_to_f32(*p); }

/* Decoding streams K and V from memory once: each routine asks for the rows about PF_BYTES
 * of row data ahead of the ones it works on (kernels/prefetch.h), so that the memory system
 * keeps a few kilobytes in flight across page boundaries, where the hardware prefetchers
 * stop. The distance is in bytes, not rows, so that fp16 rows (half as long) are asked for
 * as far ahead in time as fp32 ones: on a 2-vCPU AMD EPYC Zen 4, 8 rows ahead (4 KB of fp32
 * rows at D = 128, 2 KB of fp16) left fp16 decoding from a 64k-key cache at 21-24 GB/s, and 8
 * KB ahead took it to 27-30 (the README's performance section). */
enum { PF_BYTES = 8192, PF_MIN_ROWS = 4, PF_MAX_ROWS = 64 };
enum { AXPY_RB = 8 }; /* see axpy_group */
static inline int64_t pf_rows(int64_t row_bytes) {
    const int64_t r = PF_BYTES / (row_bytes > 0 ? row_bytes : 1);
    return r < PF_MIN_ROWS ? PF_MIN_ROWS : r > PF_MAX_ROWS ? PF_MAX_ROWS : r;
}
/* rows [0, rows) of `bytes` each, `stride` apart, pf_rows(bytes) rows after p */
static inline void prefetch_rows(const void *p, int64_t rows, int64_t stride, int64_t bytes) {
    attn__prefetch_rows_l2((const void *)((uintptr_t)p + (uintptr_t)(pf_rows(bytes) * stride)),
                           rows, stride, bytes);
}
/* the axpy routines ask for a row of B (N x T) that far ahead once per row of a block, before
 * or during the block's first column sweep */
#define AXPY_PREFETCH(T, j)                                                                   \
    prefetch_rows(B + (j) * ldb, 1, ldb * (int64_t)sizeof(T), N * (int64_t)sizeof(T))

#define ATTN__DOT_ROWS(NAME, T, VLOAD, SLOAD)                                                 \
    static void NAME(int64_t M, int64_t K, const T *A, int64_t lda, const float *x,          \
                     float *s) {                                                              \
        int64_t j = 0;                                                                        \
        for (; j + 4 <= M; j += 4) {                                                          \
            const T *a0 = A + j * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;        \
            prefetch_rows(a0, 4, lda * (int64_t)sizeof(T), K * (int64_t)sizeof(T));           \
            vf c0 = vf_zero(), c1 = vf_zero(), c2 = vf_zero(), c3 = vf_zero();                \
            int64_t k = 0;                                                                    \
            for (; k + VF_WIDTH <= K; k += VF_WIDTH) {                                        \
                vf xv = vf_load(x + k);                                                       \
                c0 = vf_fma(VLOAD(a0 + k), xv, c0);                                           \
                c1 = vf_fma(VLOAD(a1 + k), xv, c1);                                           \
                c2 = vf_fma(VLOAD(a2 + k), xv, c2);                                           \
                c3 = vf_fma(VLOAD(a3 + k), xv, c3);                                           \
            }                                                                                 \
            float t0 = vf_hsum(c0), t1 = vf_hsum(c1), t2 = vf_hsum(c2), t3 = vf_hsum(c3);     \
            for (; k < K; k++) {                                                              \
                t0 += SLOAD(a0 + k) * x[k];                                                   \
                t1 += SLOAD(a1 + k) * x[k];                                                   \
                t2 += SLOAD(a2 + k) * x[k];                                                   \
                t3 += SLOAD(a3 + k) * x[k];                                                   \
            }                                                                                 \
            s[j] = t0; s[j + 1] = t1; s[j + 2] = t2; s[j + 3] = t3;                           \
        }                                                                                     \
        for (; j < M; j++) {                                                                  \
            const T *a = A + j * lda;                                                         \
            vf c = vf_zero();                                                                 \
            int64_t k = 0;                                                                    \
            for (; k + VF_WIDTH <= K; k += VF_WIDTH) c = vf_fma(VLOAD(a + k), vf_load(x + k), c); \
            float t = vf_hsum(c);                                                             \
            for (; k < K; k++) t += SLOAD(a + k) * x[k];                                      \
            s[j] = t;                                                                         \
        }                                                                                     \
    }

#define ATTN__AXPY_ROWS(NAME, T, VLOAD, SLOAD)                                                \
    static void NAME(int64_t M, int64_t N, const float *w, const T *B, int64_t ldb, float a, \
                     float *y) {                                                              \
        vf va = vf_set1(a);                                                                   \
        const int64_t nv = N / (4 * VF_WIDTH) * (4 * VF_WIDTH);                               \
        for (int64_t jb = 0; jb < M; jb += AXPY_RB) { /* as axpy_group: blocks of rows */     \
            const int64_t je = jb + AXPY_RB < M ? jb + AXPY_RB : M;                           \
            for (int64_t n = 0; n < nv; n += 4 * VF_WIDTH) {                                  \
                float *yn = y + n;                                                            \
                vf y0 = vf_load(yn), y1 = vf_load(yn + VF_WIDTH);                             \
                vf y2 = vf_load(yn + 2 * VF_WIDTH), y3 = vf_load(yn + 3 * VF_WIDTH);          \
                if (!jb) {                                                                    \
                    y0 = vf_mul(y0, va); y1 = vf_mul(y1, va);                                 \
                    y2 = vf_mul(y2, va); y3 = vf_mul(y3, va);                                 \
                }                                                                             \
                for (int64_t j = jb; j < je; j++) {                                           \
                    const T *b = B + j * ldb + n;                                             \
                    if (n == 0) AXPY_PREFETCH(T, j);                                          \
                    vf x = vf_set1(w[j]);                                                     \
                    y0 = vf_fma(x, VLOAD(b), y0);                                             \
                    y1 = vf_fma(x, VLOAD(b + VF_WIDTH), y1);                                  \
                    y2 = vf_fma(x, VLOAD(b + 2 * VF_WIDTH), y2);                              \
                    y3 = vf_fma(x, VLOAD(b + 3 * VF_WIDTH), y3);                              \
                }                                                                             \
                vf_store(yn, y0); vf_store(yn + VF_WIDTH, y1);                                \
                vf_store(yn + 2 * VF_WIDTH, y2); vf_store(yn + 3 * VF_WIDTH, y3);             \
            }                                                                                 \
        }                                                                                     \
        int64_t n = nv;                                                                       \
        for (; n + VF_WIDTH <= N; n += VF_WIDTH) {                                            \
            vf y0 = vf_mul(vf_load(y + n), va);                                               \
            for (int64_t j = 0; j < M; j++)                                                   \
                y0 = vf_fma(vf_set1(w[j]), VLOAD(B + j * ldb + n), y0);                       \
            vf_store(y + n, y0);                                                              \
        }                                                                                     \
        for (; n < N; n++) {                                                                  \
            float t = y[n] * a;                                                               \
            for (int64_t j = 0; j < M; j++) t += w[j] * SLOAD(B + j * ldb + n);               \
            y[n] = t;                                                                         \
        }                                                                                     \
    }

ATTN__DOT_ROWS(dot_rows, float, vf_load, ld_f32)
ATTN__DOT_ROWS(dot_rows_f16, uint16_t, vf_load_f16, ld_f16)
ATTN__DOT_ROWS(dot_rows_bf16, uint16_t, vf_load_bf16, ld_bf16)
ATTN__AXPY_ROWS(axpy_rows, float, vf_load, ld_f32)
ATTN__AXPY_ROWS(axpy_rows_f16, uint16_t, vf_load_f16, ld_f16)
ATTN__AXPY_ROWS(axpy_rows_bf16, uint16_t, vf_load_bf16, ld_bf16)

/* Grouped-query decoding: G <= 4 queries against the same rows, each row read once for all
 * of them. Per query the sums are those of dot_rows and axpy_rows, in the same order:
 *   s[g * lds + j] = sum_k A[j][k] x[g * ldx + k]                       (j < M)
 *   y[g * ldy + n] = y[g * ldy + n] a[g] + sum_j w[g * ldw + j] B[j][n]   (n < N) */
/* dot_group runs two rows at a time, so that four queries give eight independent FMA chains
 * (an FMA's latency is four cycles, and two issue per cycle); G is a compile-time constant in
 * each copy of the loop (DOT_GROUP_BODY), so the unused chains cost nothing. */
#define ATTN__DOT_GROUP_BODY(T, VLOAD, SLOAD, G)                                              \
    do {                                                                                      \
        const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx, *x3 = x + 3 * ldx;             \
        int64_t j = 0;                                                                        \
        for (; j + 2 <= M; j += 2) {                                                          \
            const T *a = A + j * lda, *b = a + lda;                                           \
            if ((j & 3) == 0)                                                                 \
                prefetch_rows(a, 4, lda * (int64_t)sizeof(T), K * (int64_t)sizeof(T));        \
            vf c0 = vf_zero(), c1 = vf_zero(), c2 = vf_zero(), c3 = vf_zero();                \
            vf e0 = vf_zero(), e1 = vf_zero(), e2 = vf_zero(), e3 = vf_zero();                \
            int64_t k = 0;                                                                    \
            for (; k + VF_WIDTH <= K; k += VF_WIDTH) {                                        \
                vf av = VLOAD(a + k), bv = VLOAD(b + k), xv = vf_in_reg(vf_load(x0 + k));     \
                c0 = vf_fma(av, xv, c0);                                                      \
                e0 = vf_fma(bv, xv, e0);                                                      \
                if (G > 1) {                                                                  \
                    xv = vf_in_reg(vf_load(x1 + k));                                          \
                    c1 = vf_fma(av, xv, c1);                                                  \
                    e1 = vf_fma(bv, xv, e1);                                                  \
                }                                                                             \
                if (G > 2) {                                                                  \
                    xv = vf_in_reg(vf_load(x2 + k));                                          \
                    c2 = vf_fma(av, xv, c2);                                                  \
                    e2 = vf_fma(bv, xv, e2);                                                  \
                }                                                                             \
                if (G > 3) {                                                                  \
                    xv = vf_in_reg(vf_load(x3 + k));                                          \
                    c3 = vf_fma(av, xv, c3);                                                  \
                    e3 = vf_fma(bv, xv, e3);                                                  \
                }                                                                             \
            }                                                                                 \
            if (k == K) { /* no scalar tail: the sums go out together */                      \
                vf_hsum_pairs(c0, c1, c2, c3, e0, e1, e2, e3, (G), s + j, lds);               \
                continue;                                                                     \
            }                                                                                 \
            float t[4] = {vf_hsum(c0), vf_hsum(c1), vf_hsum(c2), vf_hsum(c3)};                \
            float u[4] = {vf_hsum(e0), vf_hsum(e1), vf_hsum(e2), vf_hsum(e3)};                \
            for (int64_t g = 0; g < (G); g++) {                                               \
                for (int64_t kk = k; kk < K; kk++) {                                          \
                    t[g] += SLOAD(a + kk) * x[g * ldx + kk];                                  \
                    u[g] += SLOAD(b + kk) * x[g * ldx + kk];                                  \
                }                                                                             \
                s[g * lds + j] = t[g];                                                        \
                s[g * lds + j + 1] = u[g];                                                    \
            }                                                                                 \
        }                                                                                     \
        for (; j < M; j++) {                                                                  \
            const T *a = A + j * lda;                                                         \
            vf c0 = vf_zero(), c1 = vf_zero(), c2 = vf_zero(), c3 = vf_zero();                \
            int64_t k = 0;                                                                    \
            for (; k + VF_WIDTH <= K; k += VF_WIDTH) {                                        \
                vf av = VLOAD(a + k);                                                         \
                c0 = vf_fma(av, vf_load(x0 + k), c0);                                         \
                if (G > 1) c1 = vf_fma(av, vf_load(x1 + k), c1);                              \
                if (G > 2) c2 = vf_fma(av, vf_load(x2 + k), c2);                              \
                if (G > 3) c3 = vf_fma(av, vf_load(x3 + k), c3);                              \
            }                                                                                 \
            float t[4] = {vf_hsum(c0), vf_hsum(c1), vf_hsum(c2), vf_hsum(c3)};                \
            for (int64_t g = 0; g < (G); g++) {                                               \
                for (int64_t kk = k; kk < K; kk++) t[g] += SLOAD(a + kk) * x[g * ldx + kk];   \
                s[g * lds + j] = t[g];                                                        \
            }                                                                                 \
        }                                                                                     \
    } while (0)

#define ATTN__DOT_GROUP(NAME, T, VLOAD, SLOAD)                                                \
    static void NAME(int64_t G, int64_t M, int64_t K, const T *A, int64_t lda,               \
                     const float *x, int64_t ldx, float *s, int64_t lds) {                    \
        switch (G) {                                                                          \
        case 1: ATTN__DOT_GROUP_BODY(T, VLOAD, SLOAD, 1); break;                              \
        case 2: ATTN__DOT_GROUP_BODY(T, VLOAD, SLOAD, 2); break;                              \
        case 3: ATTN__DOT_GROUP_BODY(T, VLOAD, SLOAD, 3); break;                              \
        default: ATTN__DOT_GROUP_BODY(T, VLOAD, SLOAD, 4); break;                             \
        }                                                                                     \
    }

/* an accumulator of axpy_group at the start of row block jb: y * a[g] for the first block, the
 * sums so far for the others */
#define AXPY_START(p, g) (jb ? vf_load(p) : vf_mul(vf_load(p), vf_set1(a[g])))
/* axpy_group keeps the 2 x G accumulators in named registers (an array indexed by a run-time
 * G went through the stack); G is a compile-time constant in each copy of the loop. Rows go
 * in blocks of AXPY_RB: with a long cache in memory, sweeping all 64 rows of a tile once per
 * column pair fetched each line again (measured at 64k keys, Hq 8, Hkv 2, one thread: 8.6-10
 * GB/s per CPU-second; blocks of 8 rows: 10-12; in-cache the reloads of y cost ~5-10%). */
#define ATTN__AXPY_GROUP_BODY(T, VLOAD, SLOAD, G)                                             \
    do {                                                                                      \
        const int64_t nv = N / (2 * VF_WIDTH) * (2 * VF_WIDTH);                               \
        /* blocks of AXPY_RB rows, each swept column pair by column pair while its lines are  \
         * in L1; y holds the running sums between blocks (stored and reloaded exactly, so    \
         * the order of the sums is that of one sweep over all rows). The block's weights are \
         * copied query-interleaved (wt[r][g]) so that the inner loop reads them through one  \
         * pointer (four pointers into w ran out of registers and were reloaded per row). */  \
        float wt[AXPY_RB * 4];                                                                \
        for (int64_t jb = 0; jb < M; jb += AXPY_RB) {                                         \
            const int64_t je = jb + AXPY_RB < M ? jb + AXPY_RB : M;                           \
            for (int64_t j = jb; j < je; j++) {                                               \
                AXPY_PREFETCH(T, j);                                                          \
                for (int64_t g = 0; g < (G); g++) wt[(j - jb) * 4 + g] = w[g * ldw + j];      \
            }                                                                                 \
            for (int64_t n = 0; n < nv; n += 2 * VF_WIDTH) {                                  \
                float *y0 = y + n, *y1 = y0 + ldy, *y2 = y1 + ldy, *y3 = y2 + ldy;            \
                vf a00 = vf_zero(), a01 = vf_zero(), a10 = vf_zero(), a11 = vf_zero();        \
                vf a20 = vf_zero(), a21 = vf_zero(), a30 = vf_zero(), a31 = vf_zero();        \
                a00 = AXPY_START(y0, 0);                                                      \
                a01 = AXPY_START(y0 + VF_WIDTH, 0);                                           \
                if (G > 1) {                                                                  \
                    a10 = AXPY_START(y1, 1);                                                  \
                    a11 = AXPY_START(y1 + VF_WIDTH, 1);                                       \
                }                                                                             \
                if (G > 2) {                                                                  \
                    a20 = AXPY_START(y2, 2);                                                  \
                    a21 = AXPY_START(y2 + VF_WIDTH, 2);                                       \
                }                                                                             \
                if (G > 3) {                                                                  \
                    a30 = AXPY_START(y3, 3);                                                  \
                    a31 = AXPY_START(y3 + VF_WIDTH, 3);                                       \
                }                                                                             \
                const T *b = B + jb * ldb + n;                                                \
                const float *wr = wt;                                                         \
                for (int64_t j = jb; j < je; j++, b += ldb, wr += 4) {                        \
                    vf b0 = VLOAD(b), b1 = VLOAD(b + VF_WIDTH), xv = vf_set1(wr[0]);          \
                    a00 = vf_fma(xv, b0, a00);                                                \
                    a01 = vf_fma(xv, b1, a01);                                                \
                    if (G > 1) {                                                              \
                        xv = vf_set1(wr[1]);                                                  \
                        a10 = vf_fma(xv, b0, a10);                                            \
                        a11 = vf_fma(xv, b1, a11);                                            \
                    }                                                                         \
                    if (G > 2) {                                                              \
                        xv = vf_set1(wr[2]);                                                  \
                        a20 = vf_fma(xv, b0, a20);                                            \
                        a21 = vf_fma(xv, b1, a21);                                            \
                    }                                                                         \
                    if (G > 3) {                                                              \
                        xv = vf_set1(wr[3]);                                                  \
                        a30 = vf_fma(xv, b0, a30);                                            \
                        a31 = vf_fma(xv, b1, a31);                                            \
                    }                                                                         \
                }                                                                             \
                vf_store(y0, a00);                                                            \
                vf_store(y0 + VF_WIDTH, a01);                                                 \
                if (G > 1) { vf_store(y1, a10); vf_store(y1 + VF_WIDTH, a11); }               \
                if (G > 2) { vf_store(y2, a20); vf_store(y2 + VF_WIDTH, a21); }               \
                if (G > 3) { vf_store(y3, a30); vf_store(y3 + VF_WIDTH, a31); }               \
            }                                                                                 \
        }                                                                                     \
        int64_t n = nv;                                                                       \
        for (; n + VF_WIDTH <= N; n += VF_WIDTH)                                              \
            for (int64_t g = 0; g < (G); g++) {                                               \
                vf y0 = vf_mul(vf_load(y + g * ldy + n), vf_set1(a[g]));                      \
                for (int64_t j = 0; j < M; j++)                                               \
                    y0 = vf_fma(vf_set1(w[g * ldw + j]), VLOAD(B + j * ldb + n), y0);         \
                vf_store(y + g * ldy + n, y0);                                                \
            }                                                                                 \
        for (; n < N; n++)                                                                    \
            for (int64_t g = 0; g < (G); g++) {                                               \
                float t = y[g * ldy + n] * a[g];                                              \
                for (int64_t j = 0; j < M; j++) t += w[g * ldw + j] * SLOAD(B + j * ldb + n); \
                y[g * ldy + n] = t;                                                           \
            }                                                                                 \
    } while (0)

#define ATTN__AXPY_GROUP(NAME, T, VLOAD, SLOAD)                                               \
    static void NAME(int64_t G, int64_t M, int64_t N, const float *w, int64_t ldw,           \
                     const T *B, int64_t ldb, const float *a, float *y, int64_t ldy) {        \
        switch (G) {                                                                          \
        case 1: ATTN__AXPY_GROUP_BODY(T, VLOAD, SLOAD, 1); break;                             \
        case 2: ATTN__AXPY_GROUP_BODY(T, VLOAD, SLOAD, 2); break;                             \
        case 3: ATTN__AXPY_GROUP_BODY(T, VLOAD, SLOAD, 3); break;                             \
        default: ATTN__AXPY_GROUP_BODY(T, VLOAD, SLOAD, 4); break;                            \
        }                                                                                     \
    }

ATTN__DOT_GROUP(dot_group_f32, float, vf_load, ld_f32)
ATTN__DOT_GROUP(dot_group_f16, uint16_t, vf_load_f16, ld_f16)
ATTN__DOT_GROUP(dot_group_bf16, uint16_t, vf_load_bf16, ld_bf16)
ATTN__AXPY_GROUP(axpy_group_f32, float, vf_load, ld_f32)
ATTN__AXPY_GROUP(axpy_group_f16, uint16_t, vf_load_f16, ld_f16)
ATTN__AXPY_GROUP(axpy_group_bf16, uint16_t, vf_load_bf16, ld_bf16)

/* the storage-typed entries of the table take the rows as void pointers */
#define ATTN__GROUP_ENTRY(NAME, T)                                                            \
    static void NAME##_v(int64_t G, int64_t M, int64_t K, const void *A, int64_t lda,        \
                         const float *x, int64_t ldx, float *s, int64_t lds) {                \
        NAME(G, M, K, (const T *)A, lda, x, ldx, s, lds);                                     \
    }
ATTN__GROUP_ENTRY(dot_group_f32, float)
ATTN__GROUP_ENTRY(dot_group_f16, uint16_t)
ATTN__GROUP_ENTRY(dot_group_bf16, uint16_t)
#define ATTN__AXPY_ENTRY(NAME, T)                                                             \
    static void NAME##_v(int64_t G, int64_t M, int64_t N, const float *w, int64_t ldw,       \
                         const void *B, int64_t ldb, const float *a, float *y, int64_t ldy) { \
        NAME(G, M, N, w, ldw, (const T *)B, ldb, a, y, ldy);                                  \
    }
ATTN__AXPY_ENTRY(axpy_group_f32, float)
ATTN__AXPY_ENTRY(axpy_group_f16, uint16_t)
ATTN__AXPY_ENTRY(axpy_group_bf16, uint16_t)

/* the additive (Bahdanau) attention score and its backward's tanh values */
static float tanh_dot(int64_t n, const float *v, const float *q, const float *k) {
    vf acc = vf_zero();
    int64_t i = 0;
    for (; i + VF_WIDTH <= n; i += VF_WIDTH)
        acc = vf_fma(vf_load(v + i), vf_tanh(vf_add(vf_load(q + i), vf_load(k + i))), acc);
    float s = vf_hsum(acc);
    for (; i < n; i++) s += v[i] * tanhf(q[i] + k[i]);
    return s;
}

static void tanh_sum(int64_t n, const float *q, const float *k, float *t) {
    int64_t i = 0;
    for (; i + VF_WIDTH <= n; i += VF_WIDTH)
        vf_store(t + i, vf_tanh(vf_add(vf_load(q + i), vf_load(k + i))));
    for (; i < n; i++) t[i] = tanhf(q[i] + k[i]);
}

static float row_max(int64_t n, const float *s) {
    vf acc = vf_set1(-INFINITY);
    int64_t j = 0;
    for (; j + VF_WIDTH <= n; j += VF_WIDTH) acc = vf_max(acc, vf_load(s + j));
    float m = vf_hmax(acc);
    for (; j < n; j++) m = s[j] > m ? s[j] : m;
    return m;
}

static float exp_row(int64_t n, const float *s, float m, float *p) {
    vf acc = vf_zero(), vm = vf_set1(m);
    int64_t j = 0;
    for (; j + VF_WIDTH <= n; j += VF_WIDTH) {
        vf e = vf_exp_nonpos(vf_sub(vf_load(s + j), vm));
        vf_store(p + j, e);
        acc = vf_add(acc, e);
    }
    float sum = vf_hsum(acc);
    if (j < n) { /* the tail through a padded vector, so it rounds like the body */
        float t[VF_WIDTH];
        for (int64_t i = 0; i < VF_WIDTH; i++) t[i] = j + i < n ? s[j + i] - m : -INFINITY;
        vf_store(t, vf_exp_nonpos(vf_load(t)));
        for (int64_t i = 0; j + i < n; i++) { p[j + i] = t[i]; sum += t[i]; }
    }
    return sum;
}

static void f16_to_f32(int64_t n, const uint16_t *src, float *dst) {
    int64_t j = 0;
    for (; j + VF_WIDTH <= n; j += VF_WIDTH) vf_store(dst + j, vf_load_f16(src + j));
    for (; j < n; j++) dst[j] = attn__f16_to_f32(src[j]);
}

static void bf16_to_f32(int64_t n, const uint16_t *src, float *dst) {
    int64_t j = 0;
    for (; j + VF_WIDTH <= n; j += VF_WIDTH) vf_store(dst + j, vf_load_bf16(src + j));
    for (; j < n; j++) dst[j] = attn__bf16_to_f32(src[j]);
}

static void keep_masks(uint64_t key, int64_t j0, int64_t npairs, uint32_t cut, uint32_t *out) {
    vq_keep_masks(key, j0, npairs, cut, out);
}

const attn__tiles_t ISA_NAME(attn__tiles) = {
    STR(ATTN_TILES_ISA), MR, NR, gemm_nn, gemm_tn, gemm_nn_max, gemm_nn_rows, gemm_tn_depth,
    gemm_nn_from, softmax_update,
    softmax_update_max, exp_sub, softmax_grad,
    dot_rows, axpy_rows, {dot_rows_f16, dot_rows_bf16}, {axpy_rows_f16, axpy_rows_bf16},
    {dot_group_f32_v, dot_group_f16_v, dot_group_bf16_v},
    {axpy_group_f32_v, axpy_group_f16_v, axpy_group_bf16_v},
    row_max, exp_row, f16_to_f32, bf16_to_f32, scale_vec, tanh_dot, tanh_sum, keep_masks,
};
