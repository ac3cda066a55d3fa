/* The bf16 products of attn__gemm at ATTN_MATMUL_MEDIUM (see nn/gemm_bf16.h) on x86, with
 * one packing of the operands and two engines that compute from it:
 *   amx          Intel's AMX tile unit (Sapphire Rapids and later): TDPBF16PS on tiles;
 *   avx512-bf16  AVX512_BF16's VDPBF16PS on 16-float vectors (Zen 4 and later, Cooper Lake,
 *                and every AMX CPU): two products per lane and instruction, twice the
 *                lanes' fp32 FMA rate.
 * Compiled into an object of its own with -mamx-tile -mamx-bf16 and AVX-512 (F, BW, BF16),
 * and called only after attn__bf16_engine() said which of them the CPU and OS have.
 *
 * The operands are packed once, rounded to bf16, zero-padded (K to a multiple of 32, M and N
 * to 32), so every block is whole:
 *   Ap [Mp][Ka]             the rows of op(A) (Ka = Kp + 32: rows 64 bytes apart from a
 *                           multiple of 4 KB, which would put a tile's 16 rows in one
 *                           cache set)
 *   Bp [Np/16][Kp/2][16][2] op(B) by 16 columns, K rows in pairs
 * AMX: a block of C of 32 x 32 is four 16 x 16 fp32 accumulator tiles (tmm0-3); each step of
 * 32 along K loads two A tiles (16 rows x 32 bf16 of Ap, tmm4-5) and two B tiles (16 pairs of
 * K rows x 16 columns of Bp, tmm6-7) and issues four TDPBF16PS.
 * AVX512-BF16: the same block is four strips of 8 rows x 32 columns in 16 registers; each
 * pair of K rows loads two vectors of Bp (16 columns x 2 each) and broadcasts each row's pair
 * of Ap (one 32-bit element), 16 VDPBF16PS a pair.
 * Packing converts 32 floats at a time (VCVTNE2PS2BF16: to nearest even, as attn__f32_to_bf16
 * but for subnormal floats, which become zero) and transposes 16 x 16 blocks of bf16 pairs in
 * registers where op(A) or op(B) runs the wrong way in memory; the ragged edges go element
 * by element. Packing (rows of A and columns of B, 16 at a time) and the blocks are items on
 * attn's thread pool; the blocks depend on the shape alone and each element of C is one
 * block's fixed sequence of steps, so the bits do not depend on the threads (they may differ
 * between the engines, which sum in different orders). */
#include "nn/gemm_bf16.h"

#include "core/half.h"
#include "core/runtime.h"

#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
    KS = 32,      /* K per step: one tile row of bf16 */
    BLK = 32,     /* a block of C: 2 x 2 tiles */
    ITEM_R = 64,  /* an item of work: 2 x 4 blocks */
    ITEM_C = 128,
};

/* ---- which engine can run? ------------------------------------------------------------ */

static int engine_found = ATTN__BF16_NONE;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return; /* OSXSAVE */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    const unsigned amx_bits = d;
    if (!(b & (1u << 16)) || !(b & (1u << 30))) return; /* AVX512F, AVX512BW */
    unsigned a1, b1, c1, d1;
    if (!__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) || !(a1 & (1u << 5))) return; /* BF16 */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    if ((lo & 0xe6u) != 0xe6u) return; /* SSE, AVX, AVX-512 state saved by the OS */
    engine_found = ATTN__BF16_AVX512;
    if (!(amx_bits & (1u << 22)) || !(amx_bits & (1u << 24))) return; /* AMX-BF16, AMX-TILE */
    if ((lo & (3u << 17)) != (3u << 17)) return; /* XTILECFG, XTILEDATA enabled by the OS */
#ifdef __linux__
    /* Linux hands out the 8 KB of tile state only on request: ARCH_REQ_XCOMP_PERM for
     * XFEATURE_XTILEDATA (arch/x86/include/uapi/asm/prctl.h) */
    if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return;
#endif
    engine_found = ATTN__BF16_AMX;
}

int attn__bf16_engine(void) {
    pthread_once(&probe_once, probe);
    return engine_found;
}

/* ---- packing --------------------------------------------------------------------------- */

typedef struct job {
    int trans_a, trans_b;
    int64_t M, N, K, Mp, Np, Kp, Ka;
    float alpha, beta;
    const float *A, *B;
    int64_t lda, ldb;
    float *C;
    int64_t ldc;
    uint16_t *Ap, *Bp;
    int64_t a_items, item_cols; /* packing: a_items row groups, then column groups of B */
} job_t;

static inline uint16_t bf(float x) { return attn__f32_to_bf16(x); }

/* 32 floats -> 32 bf16, in order */
static inline __m512i cvt32(const float *p) {
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(p + 16), _mm512_loadu_ps(p));
}

/* two rows of 16 floats -> 16 pairs (r0[j], r1[j]) as bf16 */
static inline __m512i pairs16(const float *r0, const float *r1) {
    static const uint16_t interleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,
                                            21, 6, 22, 7, 23, 8,  24, 9,  25, 10, 26,
                                            11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    __m512i v = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(r1), _mm512_loadu_ps(r0));
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(interleave), v);
}

/* 16 x 16 transpose of 32-bit elements (bf16 pairs): element j of r[i] goes to element i of
 * r[j]. Four stages, each swapping the off-diagonal b x b blocks of every 2b x 2b block. */
static inline void transpose16(__m512i r[16]) {
    static const int32_t idx[4][2][16] = {
        {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
         {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}},
        {{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
         {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}},
        {{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
         {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}},
        {{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30},
         {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}},
    };
    for (int s = 0, b = 8; s < 4; s++, b >>= 1) {
        const __m512i il = _mm512_loadu_si512(idx[s][0]), ih = _mm512_loadu_si512(idx[s][1]);
        for (int i = 0; i < 16; i++) {
            if (i & b) continue;
            const __m512i lo = r[i], hi = r[i + b];
            r[i] = _mm512_permutex2var_epi32(lo, il, hi);
            r[i + b] = _mm512_permutex2var_epi32(lo, ih, hi);
        }
    }
}

/* rows r0 .. r0 + 15 of op(A) */
static void pack_a(const job_t *J, int64_t r0) {
    const int64_t K = J->K, Kp = J->Kp, Ka = J->Ka, K32 = K / 32 * 32;
    const int64_t rows = J->M - r0 < 16 ? (J->M - r0 > 0 ? J->M - r0 : 0) : 16;
    uint16_t *dst = J->Ap + r0 * Ka;
    if (rows < 16) memset(dst + rows * Ka, 0, sizeof *dst * (size_t)((16 - rows) * Ka));
    if (rows == 0) return;
    if (!J->trans_a) {
        for (int64_t r = 0; r < rows; r++) {
            const float *src = J->A + (r0 + r) * J->lda;
            uint16_t *d = dst + r * Ka;
            for (int64_t k = 0; k < K32; k += 32) _mm512_storeu_si512(d + k, cvt32(src + k));
            for (int64_t k = K32; k < K; k++) d[k] = bf(src[k]);
            for (int64_t k = K; k < Kp; k++) d[k] = 0;
        }
        return;
    }
    /* op(A)[i][k] = A[k][i]: 32 rows of A by 16 columns, converted in pairs of rows and
     * transposed, give 16 rows of op(A) by 32 */
    int64_t k0 = 0;
    if (rows == 16)
        for (; k0 < K32; k0 += 32) {
            __m512i v[16];
            for (int kp = 0; kp < 16; kp++) {
                const float *a = J->A + (k0 + 2 * kp) * J->lda + r0;
                v[kp] = pairs16(a, a + J->lda);
            }
            transpose16(v);
            for (int i = 0; i < 16; i++) _mm512_storeu_si512(dst + i * Ka + k0, v[i]);
        }
    for (int64_t k = k0; k < K; k++) {
        const float *src = J->A + k * J->lda + r0;
        for (int64_t r = 0; r < rows; r++) dst[r * Ka + k] = bf(src[r]);
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = K; k < Kp; k++) dst[r * Ka + k] = 0;
}

/* columns c0 .. c0 + 15 of op(B): dst[kp][jj][2] = op(B)[2 kp .. 2 kp + 1][c0 + jj] */
static void pack_b(const job_t *J, int64_t c0) {
    const int64_t K = J->K, Kp = J->Kp, cols = J->N - c0 < 16 ? J->N - c0 : 16;
    uint16_t *dst = J->Bp + (c0 / 16) * (Kp / 2) * 32;
    if (cols <= 0) {
        memset(dst, 0, sizeof *dst * (size_t)(Kp * 16));
        return;
    }
    int64_t k0 = 0;
    if (!J->trans_b) {
        if (cols == 16)
            for (; k0 + 1 < K; k0 += 2) {
                const float *b = J->B + k0 * J->ldb + c0;
                _mm512_storeu_si512(dst + k0 * 16, pairs16(b, b + J->ldb));
            }
        memset(dst + k0 * 16, 0, sizeof *dst * (size_t)((Kp - k0) * 16));
        for (int64_t k = k0; k < K; k++) {
            const float *src = J->B + k * J->ldb + c0;
            uint16_t *d = dst + (k / 2) * 32 + (k & 1);
            for (int64_t j = 0; j < cols; j++) d[2 * j] = bf(src[j]);
        }
        return;
    }
    /* op(B)[k][j] = B[j][k]: a row of B is a column of op(B); 16 rows by 32, converted (32
     * floats are 16 pairs of consecutive k) and transposed, give 16 pairs of rows of op(B) */
    if (cols == 16)
        for (; k0 + 32 <= K; k0 += 32) {
            __m512i v[16];
            for (int j = 0; j < 16; j++) v[j] = cvt32(J->B + (c0 + j) * J->ldb + k0);
            transpose16(v);
            for (int kp = 0; kp < 16; kp++) _mm512_storeu_si512(dst + (k0 / 2 + kp) * 32, v[kp]);
        }
    memset(dst + k0 * 16, 0, sizeof *dst * (size_t)((Kp - k0) * 16));
    for (int64_t j = 0; j < cols; j++) {
        const float *src = J->B + (c0 + j) * J->ldb;
        uint16_t *d = dst + 2 * j;
        for (int64_t k = k0; k < K; k++) d[(k / 2) * 32 + (k & 1)] = bf(src[k]);
    }
}

static void pack_item(void *ctx, int64_t item, int thread) {
    (void)thread;
    const job_t *J = ctx;
    if (item < J->a_items) pack_a(J, item * 16);
    else pack_b(J, (item - J->a_items) * 16);
}

/* ---- the blocks ------------------------------------------------------------------------ */

typedef struct tile_config {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config_t;

/* 8 tiles of 16 rows x 64 bytes: 16 x 16 fp32 or 16 x 32 bf16 */
static void load_config(void) {
    _Alignas(64) tile_config_t c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) {
        c.rows[t] = 16;
        c.colsb[t] = 64;
    }
    _tile_loadconfig(&c);
}

/* ---- the blocks: AMX ------------------------------------------------------------------- */

/* the block of C at rows i0, columns j0 (multiples of 32) */
static void block_amx(const job_t *J, int64_t i0, int64_t j0) {
    const int64_t Kp = J->Kp, Ka = J->Ka, half = Kp / 2;
    const uint16_t *a0 = J->Ap + i0 * Ka, *a1 = a0 + 16 * Ka;
    const uint16_t *b0 = J->Bp + (j0 / 16) * half * 32, *b1 = b0 + half * 32;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t k = 0; k < Kp; k += KS) {
        _tile_loadd(4, a0 + k, Ka * 2);
        _tile_loadd(5, a1 + k, Ka * 2);
        _tile_loadd(6, b0 + k * 16, 64);
        _tile_loadd(7, b1 + k * 16, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _Alignas(64) float acc[BLK][BLK];
    _tile_stored(0, &acc[0][0], BLK * 4);
    _tile_stored(1, &acc[0][16], BLK * 4);
    _tile_stored(2, &acc[16][0], BLK * 4);
    _tile_stored(3, &acc[16][16], BLK * 4);
    const int64_t rows = J->M - i0 < BLK ? J->M - i0 : BLK, cols = J->N - j0 < BLK ? J->N - j0 : BLK;
    const float alpha = J->alpha, beta = J->beta;
    for (int64_t r = 0; r < rows; r++) {
        float *c = J->C + (i0 + r) * J->ldc + j0;
        if (beta == 0.0f)
            for (int64_t j = 0; j < cols; j++) c[j] = alpha * acc[r][j];
        else
            for (int64_t j = 0; j < cols; j++) c[j] = alpha * acc[r][j] + beta * c[j];
    }
}

static void block_item_amx(void *ctx, int64_t item, int thread) {
    (void)thread;
    const job_t *J = ctx;
    const int64_t ir = item / J->item_cols, ic = item % J->item_cols;
    const int64_t i_end = (ir + 1) * ITEM_R < J->Mp ? (ir + 1) * ITEM_R : J->Mp;
    const int64_t j_end = (ic + 1) * ITEM_C < J->Np ? (ic + 1) * ITEM_C : J->Np;
    load_config();
    for (int64_t i = ir * ITEM_R; i < i_end; i += BLK)
        for (int64_t j = ic * ITEM_C; j < j_end; j += BLK) block_amx(J, i, j);
    _tile_release();
}

/* ---- the blocks: AVX512-BF16 ------------------------------------------------------------ */

/* C[r][0 .. cols) = alpha * acc + beta * C, the 32 columns of one row as two vectors */
static inline void store_row(const job_t *J, float *c, __m512 lo, __m512 hi, int64_t cols) {
    const __mmask16 m0 = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
    const __mmask16 m1 = cols >= 32   ? (__mmask16)0xffff
                         : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : (__mmask16)0;
    const __m512 alpha = _mm512_set1_ps(J->alpha);
    lo = _mm512_mul_ps(alpha, lo);
    hi = _mm512_mul_ps(alpha, hi);
    if (J->beta != 0.0f) {
        const __m512 beta = _mm512_set1_ps(J->beta);
        lo = _mm512_add_ps(lo, _mm512_mul_ps(beta, _mm512_maskz_loadu_ps(m0, c)));
        hi = _mm512_add_ps(hi, _mm512_mul_ps(beta, _mm512_maskz_loadu_ps(m1, c + 16)));
    }
    _mm512_mask_storeu_ps(c, m0, lo);
    _mm512_mask_storeu_ps(c + 16, m1, hi);
}

/* rows i0 .. i0 + 7 of C (those below M), columns j0 .. j0 + 31 (those below N) */
static void strip_avx512(const job_t *J, int64_t i0, int64_t j0) {
    enum { R = 8 };
    const int64_t half = J->Kp / 2, Ka = J->Ka;
    const uint16_t *b0 = J->Bp + (j0 / 16) * half * 32, *b1 = b0 + half * 32;
    const uint16_t *a = J->Ap + i0 * Ka;
    __m512 acc[R][2];
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t kp = 0; kp < half; kp++) {
        const __m512bh v0 = (__m512bh)_mm512_loadu_si512(b0 + kp * 32);
        const __m512bh v1 = (__m512bh)_mm512_loadu_si512(b1 + kp * 32);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            int32_t pair;
            memcpy(&pair, a + r * Ka + 2 * kp, sizeof pair);
            const __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, v0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, v1);
        }
    }
    const int64_t rows = J->M - i0 < R ? J->M - i0 : R, cols = J->N - j0 < BLK ? J->N - j0 : BLK;
    for (int64_t r = 0; r < rows; r++)
        store_row(J, J->C + (i0 + r) * J->ldc + j0, acc[r][0], acc[r][1], cols);
}

/* the columns of one block of 32 stay in L1 while the item's rows go by in strips of 8; rows
 * that are only padding (past M) are not computed */
static void block_item_avx512(void *ctx, int64_t item, int thread) {
    (void)thread;
    const job_t *J = ctx;
    const int64_t ir = item / J->item_cols, ic = item % J->item_cols;
    const int64_t i_end = (ir + 1) * ITEM_R < J->M ? (ir + 1) * ITEM_R : J->M;
    const int64_t j_end = (ic + 1) * ITEM_C < J->Np ? (ic + 1) * ITEM_C : J->Np;
    for (int64_t j = ic * ITEM_C; j < j_end; j += BLK)
        for (int64_t i = ir * ITEM_R; i < i_end; i += 8) strip_avx512(J, i, j);
}

/* The packed operands' memory: one buffer kept from call to call (a fresh allocation of
 * megabytes each time went back to the kernel and came back as page faults, ~10% of a
 * training step), taken by one caller at a time; a second concurrent caller allocates its
 * own. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static void *cache;
static size_t cache_bytes;

static void *take_buffer(size_t bytes, int *cached) {
    *cached = 0;
    if (pthread_mutex_trylock(&cache_lock) == 0) {
        if (cache_bytes < bytes) {
            free(cache);
            cache = malloc(bytes);
            cache_bytes = cache ? bytes : 0;
        }
        if (cache) {
            *cached = 1;
            return cache;
        }
        pthread_mutex_unlock(&cache_lock);
    }
    return malloc(bytes);
}

static void give_buffer(void *p, int cached) {
    if (cached) pthread_mutex_unlock(&cache_lock);
    else free(p);
}

void attn__gemm_bf16_x86(int engine, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                         float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                         float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    job_t J = {trans_a, trans_b, M, N, K, (M + BLK - 1) / BLK * BLK, (N + BLK - 1) / BLK * BLK,
               (K + KS - 1) / KS * KS, 0, alpha, beta, A, B, lda, ldb, C, ldc, NULL, NULL, 0, 0};
    if (J.Kp == 0) J.Kp = KS; /* K = 0: one step of zeros, C = beta * C */
    J.Ka = J.Kp + 32;
    const size_t a_elems = (size_t)(J.Mp * J.Ka), b_elems = (size_t)(J.Np * J.Kp);
    int cached;
    uint16_t *buf = take_buffer(sizeof *buf * (a_elems + b_elems), &cached);
    if (!buf) {
        /* out of memory for the packed copies: the plain loop, which needs none */
        attn__gemm_bf16_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    J.Ap = buf;
    J.Bp = buf + a_elems;
    const double flops = 2.0 * (double)M * (double)N * (double)K;
    J.a_items = J.Mp / 16;
    const int64_t packs = J.a_items + J.Np / 16;
    attn__parallel_for(packs, attn__threads_for(packs, flops / 16.0), pack_item, &J);
    J.item_cols = (J.Np + ITEM_C - 1) / ITEM_C;
    const int64_t items = (J.Mp + ITEM_R - 1) / ITEM_R * J.item_cols;
    attn__parallel_for(items, attn__threads_for(items, flops / 8.0),
                       engine == ATTN__BF16_AMX ? block_item_amx : block_item_avx512, &J);
    give_buffer(buf, cached);
}
