/* Internal: tiles in and out of strided tensors, and per-thread scratch (pack.c). */
#ifndef ATTN_KERNELS_PACK_H
#define ATTN_KERNELS_PACK_H

#include "kernels/sdpa.h"
#include "kernels/tiles.h"

#include <stddef.h>

/* dst[r * ld + d] = T[b, h, n0 + r, d] as float, for r < rows, d < dim */
void attn__pack_rows(const attn__tiles_t *tl, attn_src_t t, int64_t b, int64_t h, int64_t n0,
                     int64_t rows, int64_t dim, float *dst, int64_t ld);
/* Rows n0 .. n0 + rows - 1 of T[b, h] as a row-major fp32 tile: the tensor's own memory when
 * it is fp32 with a contiguous last dimension, else converted into buf; *ld gets the stride. */
const float *attn__tile_rows(const attn__tiles_t *tl, attn_src_t t, int64_t b, int64_t h,
                             int64_t n0, int64_t rows, int64_t dim, float *buf, int64_t *ld);
/* dst[d * ld + r] = a * T[b, h, n0 + r, d]; columns rows .. ld - 1 zeroed up to the next
 * multiple of 16 (the tiles read a tile's columns in blocks of 16, never further) */
void attn__pack_cols(attn_src_t t, int64_t b, int64_t h, int64_t n0, int64_t rows, int64_t dim,
                     float a, float *dst, int64_t ld);
/* T[b, h, n0 + r, d] = a * src[r * ld + d] */
void attn__unpack_rows(attn_dst_t t, int64_t b, int64_t h, int64_t n0, int64_t rows,
                       int64_t dim, const float *src, int64_t ld, float a);

/* One allocation, a 64-byte aligned block of `floats` floats per thread. */
typedef struct {
    float *mem;
    size_t per_thread;
} attn__scratch_t;
attn_status_t attn__scratch_alloc(attn__scratch_t *s, int threads, size_t floats,
                                  const char *what);
float *attn__scratch_of(const attn__scratch_t *s, int thread);

#endif
