#include "core/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void attn__rng_seed(attn__rng_t *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t attn__rng_u64(attn__rng_t *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

float attn__rng_uniform(attn__rng_t *r) {
    return (float)(attn__rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

float attn__rng_normal(attn__rng_t *r) {
    /* u1 in (0, 1] so the log is finite */
    double u1 = ((double)(attn__rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(attn__rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint64_t attn__rng_below(attn__rng_t *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do x = attn__rng_u64(r); while (x >= limit);
    return x % n;
}

uint64_t attn__hash_key(uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull);
    return splitmix64(&x);
}

uint64_t attn__hash_u64(uint64_t seed, uint64_t stream, uint64_t index) {
    return attn__hash_at(attn__hash_key(seed, stream), index);
}

float attn__hash_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return (float)(attn__hash_u64(seed, stream, index) >> 40) * (1.0f / 16777216.0f);
}
