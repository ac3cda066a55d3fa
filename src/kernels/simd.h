/* Internal: the vector helpers every SIMD kernel is written against: a vector of VF_WIDTH
 * floats.
 *
 * With AVX-512 (F, DQ; compiled with -mavx512f -mavx512dq and the AVX2 flags) vf is an __m512
 * of 16 floats; with AVX2, FMA and F16C (-mavx2 -mfma -mf16c) an __m256 of 8; each helper is
 * one or a few instructions. Elsewhere vf is a plain struct of 8 floats whose loops the
 * compiler vectorises as it can. Kernels are written once against these helpers and
 * VF_WIDTH, never per instruction set. */
#ifndef ATTN_KERNELS_SIMD_H
#define ATTN_KERNELS_SIMD_H

#include <math.h>
#include <stdint.h>

#include "core/rng.h"      /* attn__hash_at (dropout masks) */
#include "kernels/sdpa.h" /* scalar fp16 / bf16 conversions */

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#if defined(__AVX2__)
/* Two rows' sums of 8-float vectors for G <= 4 queries: s[g * lds] = the lane sum of c_g,
 * s[g * lds + 1] that of e_g, for g < G, in the order of the 8-lane vf_hsum below ((0+4)+(2+6)
 * + (1+5)+(3+7)), by one transposing tree (12 adds and shuffles for all eight) instead of
 * eight reductions; vf_hsum_pairs of both vector widths */
static inline void attn__hsum_pairs8(__m256 c0, __m256 c1, __m256 c2, __m256 c3, __m256 e0,
                                     __m256 e1, __m256 e2, __m256 e3, int G, float *s,
                                     int64_t lds) {
#define ATTN__HALVES(a, b)                                                                     \
    _mm256_permute_ps(_mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20),                        \
                                    _mm256_permute2f128_ps(a, b, 0x31)), 0xD8)
    /* per 128-bit lane, one vector's (0+4, 2+6, 1+5, 3+7) */
    __m256 p0 = ATTN__HALVES(c0, e0), p1 = ATTN__HALVES(c1, e1);
    __m256 p2 = ATTN__HALVES(c2, e2), p3 = ATTN__HALVES(c3, e3);
#undef ATTN__HALVES
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(p0, p1), _mm256_hadd_ps(p2, p3));
    /* h = (c0, c1, c2, c3 | e0, e1, e2, e3) */
    __m128 lo = _mm256_castps256_ps128(h), hi = _mm256_extractf128_ps(h, 1);
    __m128 u01 = _mm_unpacklo_ps(lo, hi), u23 = _mm_unpackhi_ps(lo, hi);
    _mm_storel_pi((__m64 *)(void *)s, u01);
    if (G > 1) _mm_storeh_pi((__m64 *)(void *)(s + lds), u01);
    if (G > 2) _mm_storel_pi((__m64 *)(void *)(s + 2 * lds), u23);
    if (G > 3) _mm_storeh_pi((__m64 *)(void *)(s + 3 * lds), u23);
}
#endif

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__FMA__) && defined(__F16C__)
#define VF_WIDTH 16

typedef __m512 vf;
static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
/* 16 IEEE halves or 16 bfloat16 to floats */
static inline vf vf_load_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}
static inline vf vf_load_bf16(const uint16_t *p) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
static inline void vf_store(float *p, vf x) { _mm512_storeu_ps(p, x); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vf_abs(vf a) { return _mm512_andnot_ps(_mm512_set1_ps(-0.0f), a); }
static inline vf vf_copysign(vf a, vf b) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    return _mm512_or_ps(_mm512_andnot_ps(sign, a), _mm512_and_ps(sign, b));
}
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_in_reg(vf x) {
#if defined(__GNUC__)
    __asm__("" : "+v"(x));
#endif
    return x;
}
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
/* comparisons give all-ones lanes where true (the mask register widened to a vector, so that
 * kernels see the same kind of mask on every ISA) */
static inline vf vf_ge(vf a, vf b) {
    return _mm512_castsi512_ps(_mm512_movm_epi32(_mm512_cmp_ps_mask(a, b, _CMP_GE_OQ)));
}
static inline vf vf_eq(vf a, vf b) {
    return _mm512_castsi512_ps(_mm512_movm_epi32(_mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ)));
}
static inline vf vf_and(vf mask, vf a) { return _mm512_and_ps(mask, a); }
static inline vf vf_blend(vf mask, vf a, vf b) {
    return _mm512_mask_blend_ps(_mm512_movepi32_mask(_mm512_castps_si512(mask)), b, a);
}
static inline vf vf_pow2i(vf n) {
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}
/* lane sum in a fixed order: the two halves added lane by lane (i + 8), then the 8 lanes as
 * the AVX2 set sums them */
static inline float vf_hsum(vf x) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
/* the halves of each added lane by lane, then the 8-lane tree: vf_hsum's order */
static inline __m256 vf_fold(vf x) {
    return _mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1));
}
static inline void vf_hsum_pairs(vf c0, vf c1, vf c2, vf c3, vf e0, vf e1, vf e2, vf e3, int G,
                                 float *s, int64_t lds) {
    attn__hsum_pairs8(vf_fold(c0), vf_fold(c1), vf_fold(c2), vf_fold(c3), vf_fold(e0),
                      vf_fold(e1), vf_fold(e2), vf_fold(e3), G, s, lds);
}
static inline float vf_hmax(vf x) { return _mm512_reduce_max_ps(x); }

#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define VF_WIDTH 8

typedef __m256 vf;
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
/* 8 IEEE halves (F16C) or 8 bfloat16 to floats */
static inline vf vf_load_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}
static inline vf vf_load_bf16(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
static inline void vf_store(float *p, vf x) { _mm256_storeu_ps(p, x); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vf_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
/* the magnitude of a with the sign of b */
static inline vf vf_copysign(vf a, vf b) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign, a), _mm256_and_ps(sign, b));
}
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
/* x, kept in a register: a vector loaded once for several FMAs is otherwise re-read from
 * memory by each (the compiler folds the load into every FMA as its memory operand), which
 * costs a load per FMA where the loop is bound by its loads */
static inline vf vf_in_reg(vf x) {
#if defined(__GNUC__)
    __asm__("" : "+x"(x));
#endif
    return x;
}
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
/* comparisons give all-ones lanes where true, zero lanes where false */
static inline vf vf_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
static inline vf vf_eq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline vf vf_and(vf mask, vf a) { return _mm256_and_ps(mask, a); }
/* lanes of a where mask is set, else of b */
static inline vf vf_blend(vf mask, vf a, vf b) { return _mm256_blendv_ps(b, a, mask); }
/* 2^n for whole-number lanes n in [-126, 127] */
static inline vf vf_pow2i(vf n) {
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
/* lane sum in a fixed order: (0+4)+(1+5)+(2+6)+(3+7) pairwise */
static inline float vf_hsum(vf x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline void vf_hsum_pairs(vf c0, vf c1, vf c2, vf c3, vf e0, vf e1, vf e2, vf e3, int G,
                                 float *s, int64_t lds) {
    attn__hsum_pairs8(c0, c1, c2, c3, e0, e1, e2, e3, G, s, lds);
}
static inline float vf_hmax(vf x) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#else /* portable: 8 floats in a struct */
#define VF_WIDTH 8

typedef struct { float v[8]; } vf;
#define VF_MAP(expr) do { for (int i_ = 0; i_ < 8; i_++) r.v[i_] = (expr); } while (0)
static inline vf vf_zero(void) { vf r; VF_MAP(0.0f); return r; }
static inline vf vf_set1(float x) { vf r; VF_MAP(x); return r; }
static inline vf vf_load(const float *p) { vf r; VF_MAP(p[i_]); return r; }
static inline vf vf_load_f16(const uint16_t *p) { vf r; VF_MAP(attn__f16_to_f32(p[i_])); return r; }
static inline vf vf_load_bf16(const uint16_t *p) { vf r; VF_MAP(attn__bf16_to_f32(p[i_])); return r; }
static inline void vf_store(float *p, vf x) { for (int i = 0; i < 8; i++) p[i] = x.v[i]; }
static inline vf vf_add(vf a, vf b) { vf r; VF_MAP(a.v[i_] + b.v[i_]); return r; }
static inline vf vf_sub(vf a, vf b) { vf r; VF_MAP(a.v[i_] - b.v[i_]); return r; }
static inline vf vf_mul(vf a, vf b) { vf r; VF_MAP(a.v[i_] * b.v[i_]); return r; }
static inline vf vf_div(vf a, vf b) { vf r; VF_MAP(a.v[i_] / b.v[i_]); return r; }
static inline vf vf_abs(vf a) { vf r; VF_MAP(fabsf(a.v[i_])); return r; }
static inline vf vf_copysign(vf a, vf b) { vf r; VF_MAP(copysignf(a.v[i_], b.v[i_])); return r; }
static inline vf vf_fma(vf a, vf b, vf c) { vf r; VF_MAP(a.v[i_] * b.v[i_] + c.v[i_]); return r; }
static inline vf vf_in_reg(vf x) { return x; }
static inline vf vf_max(vf a, vf b) { vf r; VF_MAP(a.v[i_] > b.v[i_] ? a.v[i_] : b.v[i_]); return r; }
static inline vf vf_min(vf a, vf b) { vf r; VF_MAP(a.v[i_] < b.v[i_] ? a.v[i_] : b.v[i_]); return r; }
static inline vf vf_ge(vf a, vf b) {
    vf r;
    union { float f; uint32_t u; } t, f0 = {0.0f};
    t.u = 0xffffffffu;
    VF_MAP(a.v[i_] >= b.v[i_] ? t.f : f0.f);
    return r;
}
static inline vf vf_eq(vf a, vf b) {
    vf r;
    union { float f; uint32_t u; } t, f0 = {0.0f};
    t.u = 0xffffffffu;
    VF_MAP(a.v[i_] == b.v[i_] ? t.f : f0.f);
    return r;
}
static inline vf vf_blend(vf mask, vf a, vf b) {
    vf r;
    for (int i = 0; i < 8; i++) {
        union { float f; uint32_t u; } m = {mask.v[i]};
        r.v[i] = m.u ? a.v[i] : b.v[i];
    }
    return r;
}
static inline vf vf_and(vf mask, vf a) {
    vf r;
    for (int i = 0; i < 8; i++) {
        union { float f; uint32_t u; } m = {mask.v[i]}, x = {a.v[i]};
        x.u &= m.u;
        r.v[i] = x.f;
    }
    return r;
}
static inline vf vf_pow2i(vf n) {
    vf r;
    for (int i = 0; i < 8; i++) {
        union { float f; int32_t i; } u;
        u.i = ((int32_t)n.v[i] + 127) * (1 << 23);
        r.v[i] = u.f;
    }
    return r;
}
static inline float vf_hsum(vf x) {
    return ((x.v[0] + x.v[4]) + (x.v[2] + x.v[6])) + ((x.v[1] + x.v[5]) + (x.v[3] + x.v[7]));
}
static inline void vf_hsum_pairs(vf c0, vf c1, vf c2, vf c3, vf e0, vf e1, vf e2, vf e3, int G,
                                 float *s, int64_t lds) {
    const vf c[4] = {c0, c1, c2, c3}, e[4] = {e0, e1, e2, e3};
    for (int g = 0; g < G; g++) {
        s[g * lds] = vf_hsum(c[g]);
        s[g * lds + 1] = vf_hsum(e[g]);
    }
}
static inline float vf_hmax(vf x) {
    float m = x.v[0];
    for (int i = 1; i < 8; i++) m = x.v[i] > m ? x.v[i] : m;
    return m;
}
#endif

#if defined(__AVX2__)
/* Dropout's keep masks (vq_keep_masks, below) four pairs at a time: the 64-bit hash of
 * core/rng.h in the four 64-bit lanes, each 64-bit product built from 32-bit ones */
static inline __m256i vq_mul_const(__m256i a, __m256i b_lo, __m256i b_hi) {
    const __m256i lo = _mm256_mul_epu32(a, b_lo);
    const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), b_lo),
                                           _mm256_mul_epu32(a, b_hi));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}
static inline int64_t vq_keep_masks4(uint64_t key, int64_t j0, int64_t npairs, uint32_t cut,
                                     uint32_t *out) {
    const uint64_t G = 0x9e3779b97f4a7c15ull, M1 = 0xbf58476d1ce4e5b9ull, M2 = 0x94d049bb133111ebull;
    const uint64_t j = (uint64_t)j0;
    __m256i jg = _mm256_set_epi64x((long long)((j + 3) * G), (long long)((j + 2) * G),
                                   (long long)((j + 1) * G), (long long)(j * G));
    const __m256i step = _mm256_set1_epi64x((long long)(4 * G)), vkey = _mm256_set1_epi64x((long long)key);
    const __m256i vg = _mm256_set1_epi64x((long long)G);
    const __m256i m1lo = _mm256_set1_epi64x((long long)M1), m1hi = _mm256_set1_epi64x((long long)(M1 >> 32));
    const __m256i m2lo = _mm256_set1_epi64x((long long)M2), m2hi = _mm256_set1_epi64x((long long)(M2 >> 32));
    const __m256i lim = _mm256_set1_epi32((int32_t)cut - 1), low24 = _mm256_set1_epi64x(0xFFFFFF);
    int64_t p = 0;
    for (; p + 4 <= npairs; p += 4) {
        __m256i z = _mm256_add_epi64(_mm256_xor_si256(vkey, jg), vg);
        z = vq_mul_const(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), m1lo, m1hi);
        z = vq_mul_const(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), m2lo, m2hi);
        z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
        /* per lane: the low 32 bits the top 24 of the hash (element 2j), the high 32 the next
         * 24 (element 2j + 1): the order of the two elements in memory */
        const __m256i u = _mm256_or_si256(
            _mm256_srli_epi64(z, 40),
            _mm256_slli_epi64(_mm256_and_si256(_mm256_srli_epi64(z, 16), low24), 32));
        _mm256_storeu_si256((__m256i *)(void *)(out + 2 * p), _mm256_cmpgt_epi32(u, lim));
        jg = _mm256_add_epi64(jg, step);
    }
    return p;
}

#else
static inline int64_t vq_keep_masks4(uint64_t key, int64_t j0, int64_t npairs, uint32_t cut,
                                     uint32_t *out) {
    (void)key, (void)j0, (void)npairs, (void)cut, (void)out;
    return 0; /* no lanes: vq_keep_masks does every pair */
}
#endif

#if defined(__AVX512F__) && defined(__AVX512DQ__)
/* The same eight pairs at a time, with AVX-512DQ's 64-bit products */
static inline int64_t vq_keep_masks8(uint64_t key, int64_t j0, int64_t npairs, uint32_t cut,
                                     uint32_t *out) {
    const uint64_t G = 0x9e3779b97f4a7c15ull, M1 = 0xbf58476d1ce4e5b9ull, M2 = 0x94d049bb133111ebull;
    const __m512i vg = _mm512_set1_epi64((long long)G);
    __m512i jg = _mm512_mullo_epi64(
        _mm512_add_epi64(_mm512_set1_epi64((long long)j0), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7)),
        vg);
    const __m512i step = _mm512_set1_epi64((long long)(8 * G)), vkey = _mm512_set1_epi64((long long)key);
    const __m512i m1 = _mm512_set1_epi64((long long)M1), m2 = _mm512_set1_epi64((long long)M2);
    const __m512i lim = _mm512_set1_epi32((int32_t)cut - 1), low24 = _mm512_set1_epi64(0xFFFFFF);
    int64_t p = 0;
    for (; p + 8 <= npairs; p += 8) {
        __m512i z = _mm512_add_epi64(_mm512_xor_si512(vkey, jg), vg);
        z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), m1);
        z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), m2);
        z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
        const __m512i u = _mm512_or_si512(
            _mm512_srli_epi64(z, 40),
            _mm512_slli_epi64(_mm512_and_si512(_mm512_srli_epi64(z, 16), low24), 32));
        _mm512_storeu_si512((void *)(out + 2 * p),
                            _mm512_movm_epi32(_mm512_cmpgt_epi32_mask(u, lim)));
        jg = _mm512_add_epi64(jg, step);
    }
    return p;
}
#else
static inline int64_t vq_keep_masks8(uint64_t key, int64_t j0, int64_t npairs, uint32_t cut,
                                     uint32_t *out) {
    (void)key, (void)j0, (void)npairs, (void)cut, (void)out;
    return 0;
}
#endif

/* Dropout's keep masks: for the pairs j = j0 .. j0 + npairs - 1 of elements (2j, 2j + 1) and
 * h = attn__hash_at(key, j), out[2 (j - j0)] = ~0 when the top 24 bits of h are >= cut (else
 * 0) and out[2 (j - j0) + 1] likewise for the next 24 bits. The same bits on every ISA. */
static inline void vq_keep_masks(uint64_t key, int64_t j0, int64_t npairs, uint32_t cut,
                                 uint32_t *out) {
    int64_t p = vq_keep_masks8(key, j0, npairs, cut, out);
    p += vq_keep_masks4(key, j0 + p, npairs - p, cut, out + 2 * p);
    for (; p < npairs; p++) {
        const uint64_t h = attn__hash_at(key, (uint64_t)(j0 + p));
        out[2 * p] = (uint32_t)(h >> 40) >= cut ? ~0u : 0u;
        out[2 * p + 1] = (uint32_t)((h >> 16) & 0xFFFFFFu) >= cut ? ~0u : 0u;
    }
}

/* exp(x) for x <= ~0 (softmax arguments s - max): x = n ln2 + r with |r| <= ln2 / 2, exp(r)
 * by its degree-6 Taylor polynomial (relative error below 2e-7 on [-87, 0.1]), 2^n built in
 * the exponent bits. Lanes below -87 (and -inf) give exactly 0. */
static inline vf vf_exp_nonpos(vf x) {
    const vf lo = vf_set1(-87.0f), magic = vf_set1(12582912.0f); /* 1.5 * 2^23 rounds */
    vf keep = vf_ge(x, lo);
    vf xc = vf_max(x, lo);
    vf n = vf_sub(vf_fma(xc, vf_set1(1.44269504088896341f), magic), magic);
    vf r = vf_fma(n, vf_set1(-0.693145751953125f), xc);
    r = vf_fma(n, vf_set1(-1.428606765330187e-06f), r);
    vf p = vf_set1(1.0f / 720.0f);
    p = vf_fma(p, r, vf_set1(1.0f / 120.0f));
    p = vf_fma(p, r, vf_set1(1.0f / 24.0f));
    p = vf_fma(p, r, vf_set1(1.0f / 6.0f));
    p = vf_fma(p, r, vf_set1(0.5f));
    p = vf_fma(p, r, vf_set1(1.0f));
    p = vf_fma(p, r, vf_set1(1.0f));
    return vf_and(keep, vf_mul(p, vf_pow2i(n)));
}

/* 2^x for x <= ~0, the softmax of the fused kernel, whose scores are kept in log2 units (the
 * scale's log2(e) is folded into Q): x = n + r with |r| <= 1/2 (exact), 2^r by a degree-5
 * polynomial fitted to 2^r on [-1/2, 1/2] for the least maximum relative error (9.2e-8 in
 * exact arithmetic, 1.7e-7 evaluated in fp32; one FMA fewer than the degree-6 Taylor series,
 * whose fp32 error is 2.2e-7). Below -126.5 (and -inf) the exponent field underflows to 0,
 * so the result is exactly 0 without a compare. */
static inline vf vf_exp2_nonpos(vf x) {
    const vf magic = vf_set1(12582912.0f);
    vf xc = vf_max(x, vf_set1(-127.0f));
    vf n = vf_sub(vf_add(xc, magic), magic);
    vf r = vf_sub(xc, n);
    vf p = vf_set1(1.326472614891827e-03f);
    p = vf_fma(p, r, vf_set1(9.671512991189957e-03f));
    p = vf_fma(p, r, vf_set1(5.550733581185341e-02f));
    p = vf_fma(p, r, vf_set1(2.4022242426872253e-01f));
    p = vf_fma(p, r, vf_set1(6.931470036506653e-01f));
    p = vf_fma(p, r, vf_set1(1.0f));
    return vf_mul(p, vf_pow2i(n));
}

/* tanh(x), relative error below 3e-7: for |x| <= 0.625, x + x^3 P(x^2) with P of degree 5
 * fitted to tanh (relative error 1.6e-10 in exact arithmetic, 7.3e-8 in fp32); beyond,
 * sign(x) (1 - e) / (1 + e) with e = exp(-2|x|) (no cancellation there: e <= 0.29). NaN stays
 * NaN; large |x| gives exactly +-1. */
static inline vf vf_tanh(vf x) {
    vf ax = vf_abs(x), z = vf_mul(x, x);
    vf p = vf_set1(0.002142955960151324f);
    p = vf_fma(p, z, vf_set1(-0.00817739222569399f));
    p = vf_fma(p, z, vf_set1(0.021700700968865085f));
    p = vf_fma(p, z, vf_set1(-0.05394676268593851f));
    p = vf_fma(p, z, vf_set1(0.13333206005720472f));
    p = vf_fma(p, z, vf_set1(-0.333333308026741f));
    vf small = vf_fma(vf_mul(x, z), p, x);
    vf e = vf_exp_nonpos(vf_mul(vf_set1(-2.0f), ax));
    vf one = vf_set1(1.0f);
    vf big = vf_copysign(vf_div(vf_sub(one, e), vf_add(one, e)), x);
    vf r = vf_blend(vf_ge(vf_set1(0.625f), ax), small, big);
    return vf_blend(vf_eq(x, x), r, x);
}

#endif
