/* Internal: reproducible random numbers.
 *
 * attn__rng_t is a small sequential generator (xoshiro256**, seeded through splitmix64) for
 * initialisation and shuffling. attn__hash_u64 is a counter-based generator: the number for
 * (seed, stream, index) is a pure function of the three, so dropout masks and the like come out
 * the same whatever order or thread computes them. Both are ours; the algorithms are public
 * (Vigna's splitmix64 and xoshiro256**). */
#ifndef ATTN_CORE_RNG_H
#define ATTN_CORE_RNG_H

#include <stdint.h>

typedef struct attn__rng {
    uint64_t s[4];
} attn__rng_t;

void attn__rng_seed(attn__rng_t *r, uint64_t seed);
uint64_t attn__rng_u64(attn__rng_t *r);
/* uniform in [0, 1) with 24 random bits */
float attn__rng_uniform(attn__rng_t *r);
/* standard normal (Box-Muller, one value per call) */
float attn__rng_normal(attn__rng_t *r);
/* uniform integer in [0, n), n >= 1, without modulo bias */
uint64_t attn__rng_below(attn__rng_t *r, uint64_t n);

/* counter-based: a well-mixed 64-bit value of (seed, stream, index) */
uint64_t attn__hash_u64(uint64_t seed, uint64_t stream, uint64_t index);

/* The same in two stages, for many indices of one (seed, stream):
 * attn__hash_u64(seed, stream, i) == attn__hash_at(attn__hash_key(seed, stream), i). */
uint64_t attn__hash_key(uint64_t seed, uint64_t stream);
static inline uint64_t attn__hash_at(uint64_t key, uint64_t index) {
    uint64_t z = (key ^ (index * 0x9e3779b97f4a7c15ull)) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* uniform in [0, 1) from attn__hash_u64 */
float attn__hash_uniform(uint64_t seed, uint64_t stream, uint64_t index);

#endif
