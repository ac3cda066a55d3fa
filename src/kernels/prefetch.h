/* Internal: software prefetch of rows of a matrix, one request per 64-byte cache line.
 *
 * The kernels ask for data a little ahead of use where the hardware prefetchers do not: the
 * forward kernel for its next key / value tile (into L2, while the current tile is computed),
 * decoding for the rows a few ahead of those it streams from memory. Both ask for L2 (T1):
 * decoding once asked non-temporally (NTA), and on an Intel Xeon with a large L3 that made it
 * 2.4-3.4x slower than T1 (the lines skipped L2 and the hardware streamer), while on AMD Zen 3
 * the two were indistinguishable. Prefetches never fault, so addresses past the end of a tensor are
 * harmless; they are formed by integer arithmetic for that reason. Without GCC-style builtins
 * the helpers do nothing. */
#ifndef ATTN_KERNELS_PREFETCH_H
#define ATTN_KERNELS_PREFETCH_H

#include <stdint.h>

/* (the locality of __builtin_prefetch must be a constant at the call: one body, two helpers) */
#if defined(__GNUC__)
#define ATTN__PREFETCH_ROWS_BODY(LOCALITY)                                                    \
    do {                                                                                      \
        const uintptr_t base_ = (uintptr_t)p;                                                 \
        for (int64_t r_ = 0; r_ < rows; r_++)                                                 \
            for (int64_t o_ = 0; o_ < bytes; o_ += 64)                                        \
                __builtin_prefetch((const void *)(base_ + (uintptr_t)(r_ * stride + o_)), 0,  \
                                   LOCALITY);                                                 \
    } while (0)
#else
#define ATTN__PREFETCH_ROWS_BODY(LOCALITY)                                                    \
    do { (void)p; (void)rows; (void)stride; (void)bytes; } while (0)
#endif

/* rows [0, rows) of `bytes` bytes each, `stride` bytes apart, from p: into L2 */
static inline void attn__prefetch_rows_l2(const void *p, int64_t rows, int64_t stride,
                                          int64_t bytes) {
    ATTN__PREFETCH_ROWS_BODY(2);
}

#undef ATTN__PREFETCH_ROWS_BODY

#endif
