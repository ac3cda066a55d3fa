/* Internal: software prefetch of rows of a matrix, one request per 64-byte cache line.
 *
 * The kernels ask for data a little ahead of use where the hardware prefetchers do not: the
 * forward kernel for its next key / value tile (into L2, while the current tile is computed),
 * decoding for the rows a few ahead of those it streams from memory. Both ask for L2 (T1):
 * decoding once asked non-temporally (NTA), and on an Intel Xeon with a large L3 that made it
 * 1.9-3.3x slower than T1 (probably as the lines bypass L2 and its streamer), while on AMD
 * Zen 3 the two were indistinguishable. Prefetches never fault, so addresses past the end of
 * a tensor are harmless; they are formed by integer arithmetic for that reason. Without
 * GCC-style builtins the helper does nothing. */
#ifndef ATTN_KERNELS_PREFETCH_H
#define ATTN_KERNELS_PREFETCH_H

#include <stdint.h>

/* rows [0, rows) of `bytes` bytes each, `stride` bytes apart, from p: into L2 */
static inline void attn__prefetch_rows_l2(const void *p, int64_t rows, int64_t stride,
                                          int64_t bytes) {
#if defined(__GNUC__)
    const uintptr_t base = (uintptr_t)p;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < bytes; o += 64)
            __builtin_prefetch((const void *)(base + (uintptr_t)(r * stride + o)), 0, 2);
#else
    (void)p; (void)rows; (void)stride; (void)bytes;
#endif
}

#endif
