/* Moving tiles between tensors of any layout and dtype and the contiguous fp32 buffers the tile
 * operations work on; per-thread scratch memory. */
#include "kernels/pack.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

/* dst[r * ld + d] = T[b, h, n0 + r, d] as float, for r < rows, d < dim */
void attn__pack_rows(const attn__tiles_t *tl, attn_src_t t, int64_t b, int64_t h, int64_t n0,
                      int64_t rows, int64_t dim, float *dst, int64_t ld) {
    int64_t base = b * t.stride[0] + h * t.stride[1] + n0 * t.stride[2];
    int64_t sn = t.stride[2], sd = t.stride[3];
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = base + r * sn;
        float *out = dst + r * ld;
        if (sd == 1 && t.dtype == ATTN_DTYPE_F32)
            memcpy(out, attn__f32(t) + off, sizeof(float) * (size_t)dim);
        else if (sd == 1 && t.dtype == ATTN_DTYPE_F16)
            tl->f16_to_f32(dim, (const uint16_t *)t.data + off, out);
        else if (sd == 1 && t.dtype == ATTN_DTYPE_BF16)
            tl->bf16_to_f32(dim, (const uint16_t *)t.data + off, out);
        else
            for (int64_t d = 0; d < dim; d++) out[d] = attn__get(t, off + d * sd);
    }
}

/* Rows n0 .. n0 + rows - 1 of T[b, h] as a row-major fp32 tile: the tensor's own memory when
 * it is fp32 with a contiguous last dimension (no copy), else converted into buf. *ld receives
 * the row stride. */
const float *attn__tile_rows(const attn__tiles_t *tl, attn_src_t t, int64_t b, int64_t h,
                              int64_t n0, int64_t rows, int64_t dim, float *buf, int64_t *ld) {
    if (t.dtype == ATTN_DTYPE_F32 && (t.stride[3] == 1 || dim == 1)) {
        *ld = t.stride[2];
        return attn__f32(t) + b * t.stride[0] + h * t.stride[1] + n0 * t.stride[2];
    }
    attn__pack_rows(tl, t, b, h, n0, rows, dim, buf, dim);
    *ld = dim;
    return buf;
}

/* dst[d * ld + r] = a * T[b, h, n0 + r, d], columns rows .. ld-1 zeroed up to the next
 * multiple of 16: the transposed tile (zeroing all of ld cost more than the copy for the
 * ~10-row tiles of G2P's attention) */
void attn__pack_cols(attn_src_t t, int64_t b, int64_t h, int64_t n0, int64_t rows, int64_t dim,
                      float a, float *dst, int64_t ld) {
    const int64_t pad = (rows + 15) / 16 * 16, zero_end = pad < ld ? pad : ld;
    int64_t base = b * t.stride[0] + h * t.stride[1] + n0 * t.stride[2];
    int64_t sn = t.stride[2], sd = t.stride[3];
    if (t.dtype == ATTN_DTYPE_F32 && sd == 1) {
        /* row by row: each row of T read once, contiguously (a column at a time reads a
         * strided element per row, dim times over: most of the packing time of a ~10-query
         * tile); the writes, one per column of dst, stay in the tile's few KiB */
        const float *src = attn__f32(t) + base;
        for (int64_t r = 0; r < rows; r++) {
            const float *row = src + r * sn;
            for (int64_t d = 0; d < dim; d++) dst[d * ld + r] = a * row[d];
        }
        for (int64_t d = 0; d < dim; d++)
            for (int64_t r = rows; r < zero_end; r++) dst[d * ld + r] = 0.0f;
        return;
    }
    for (int64_t d = 0; d < dim; d++) {
        float *out = dst + d * ld;
        if (t.dtype == ATTN_DTYPE_F32) {
            const float *src = attn__f32(t) + base + d * sd;
            for (int64_t r = 0; r < rows; r++) out[r] = a * src[r * sn];
        } else {
            for (int64_t r = 0; r < rows; r++) out[r] = a * attn__get(t, base + d * sd + r * sn);
        }
        for (int64_t r = rows; r < zero_end; r++) out[r] = 0.0f;
    }
}

/* T[b, h, n0 + r, d] = a * src[r * ld + d] */
void attn__unpack_rows(attn_dst_t t, int64_t b, int64_t h, int64_t n0, int64_t rows,
                        int64_t dim, const float *src, int64_t ld, float a) {
    float *base = t.data + b * t.stride[0] + h * t.stride[1] + n0 * t.stride[2];
    if (t.stride[3] == 1) { /* contiguous rows: a loop the compiler vectorises */
        for (int64_t r = 0; r < rows; r++) {
            float *row = base + r * t.stride[2];
            const float *in = src + r * ld;
            for (int64_t d = 0; d < dim; d++) row[d] = a * in[d];
        }
        return;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < dim; d++) base[r * t.stride[2] + d * t.stride[3]] = a * src[r * ld + d];
}

attn_status_t attn__scratch_alloc(attn__scratch_t *s, int threads, size_t floats, const char *what) {
    floats = (floats + 15) & ~(size_t)15; /* keep every thread's block 64-byte aligned */
    s->per_thread = floats;
    void *mem = NULL;
    if (posix_memalign(&mem, 64, sizeof(float) * floats * (size_t)threads) != 0) {
        s->mem = NULL;
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of scratch",
                          what, sizeof(float) * floats * (size_t)threads);
    }
    s->mem = mem;
    return ATTN_STATUS_OK;
}

float *attn__scratch_of(const attn__scratch_t *s, int thread) {
    return s->mem + s->per_thread * (size_t)thread;
}

