/* Picks the tile set for this CPU once: AVX2+FMA where the CPU has them and the build compiled
 * them, else the portable C one. ATTN_ISA=generic forces the portable set (for tests). */
#include "kernels/tiles.h"

#include <stdlib.h>
#include <string.h>

const attn__tiles_t *attn__tiles(void) {
    const char *isa = getenv("ATTN_ISA");
    if (isa && strcmp(isa, "generic") == 0) return &attn__tiles_generic;
#if defined(ATTN_HAVE_AVX2_TILES)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &attn__tiles_avx2;
#endif
    return &attn__tiles_generic;
}
