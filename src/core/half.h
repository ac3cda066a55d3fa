/* Internal: scalar conversions between float and the two 16-bit float formats, IEEE binary16
 * ("fp16", F16 in safetensors) and bfloat16 ("bf16", BF16): exact one way, rounded to nearest
 * even the other, with subnormals, infinities and NaN handled as PyTorch's conversions
 * handle them. F16C's vcvtps2ph (rounding mode 0) gives the same bits; AVX-512 BF16's
 * vcvtneps2bf16 differs only on subnormal floats, which it flushes to zero. */
#ifndef ATTN_CORE_HALF_H
#define ATTN_CORE_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t attn__f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float attn__bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE binary16 to float, exactly (subnormals, infinities and NaN included). */
static inline float attn__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0) {
        float f = (float)man * 5.9604644775390625e-08f; /* man * 2^-24, exact */
        return attn__bits_f32(attn__f32_bits(f) | sign);
    }
    if (exp == 31) return attn__bits_f32(sign | 0x7f800000u | (man << 13));
    return attn__bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

/* bfloat16 to float: the upper half of the float's bits. */
static inline float attn__bf16_to_f32(uint16_t h) {
    return attn__bits_f32((uint32_t)h << 16);
}

/* float to IEEE binary16, rounded to nearest even: magnitudes that round past 65504 become
 * infinity, tiny ones become subnormals or a signed zero, NaN stays a (quiet) NaN. */
static inline uint16_t attn__f32_to_f16(float f) {
    uint32_t x = attn__f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) return (uint16_t)(sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* 65520 and up round to inf */
    if (a < 0x38800000u) {                                   /* below 2^-14: subnormal or 0 */
        if (a < 0x33000000u) return sign;                    /* at most half of 2^-24 */
        uint32_t man = (a & 0x007fffffu) | 0x00800000u;
        int shift = 126 - (int)(a >> 23); /* 14 .. 24: the value in units of 2^-24 */
        uint32_t q = man >> shift, rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t q = (a - 0x38000000u) >> 13, rem = a & 0x1fffu; /* rebias 127 -> 15 */
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) q++; /* a carry moves the exponent */
    return (uint16_t)(sign | q);
}

/* float to bfloat16, rounded to nearest even; NaN stays a (quiet) NaN. */
static inline uint16_t attn__f32_to_bf16(float f) {
    uint32_t x = attn__f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x0040u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

#endif
