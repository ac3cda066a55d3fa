/* Picks the tile set for this CPU on each call: AVX-512 (F, DQ) or AVX2+FMA where the CPU has them and
 * the build compiled them, else the portable C one. ATTN_ISA=generic|avx2|avx512 asks for one
 * (for tests and benchmarks); a set this CPU or build lacks is not taken. */
#include "attn.h"
#include "kernels/tiles.h"

#include <stdlib.h>
#include <string.h>

int attn__tiles_available(const attn__tiles_t **sets, int max) {
    int n = 0;
    if (n < max) sets[n++] = &attn__tiles_generic;
#if defined(ATTN_HAVE_AVX2_TILES)
    if (n < max && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        sets[n++] = &attn__tiles_avx2;
#endif
#if defined(ATTN_HAVE_AVX512_TILES)
    /* (__builtin_cpu_supports also asks whether the OS saves the 512-bit registers) */
    if (n < max && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma"))
        sets[n++] = &attn__tiles_avx512;
#endif
    return n;
}

const char *attn_simd_isa(void) { return attn__tiles()->name; }

const attn__tiles_t *attn__tiles(void) {
    const attn__tiles_t *sets[3];
    int n = attn__tiles_available(sets, 3);
    const char *isa = getenv("ATTN_ISA");
    if (isa)
        for (int i = 0; i < n; i++)
            if (strcmp(isa, sets[i]->name) == 0) return sets[i];
    return sets[n - 1];
}
