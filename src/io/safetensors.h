/* Internal: safetensors files, read and written.
 *
 * The format (as the safetensors project defines it): 8 bytes holding N, a little-endian
 * unsigned 64-bit header length; N bytes of UTF-8 JSON, an object mapping each tensor name to
 *     {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
 * (byte offsets into the data buffer, which starts right after the header), plus an optional
 * "__metadata__" object of string to string; then the data buffer, each tensor stored
 * contiguously in row-major order, little-endian.
 *
 * Reading validates the whole file before anything is handed out, and rejects (with
 * ATTN_STATUS_BAD_ARGUMENT and a message naming the file, the tensor and the problem):
 *   - a file shorter than 8 bytes; N larger than the file or than 100,000,000 bytes;
 *   - a header that is not strict JSON (see io/json.h) or whose top level is not an object;
 *   - a tensor entry that is not an object with exactly the keys dtype, shape and data_offsets
 *     (each once); a dtype outside the table below; a shape that is not an array of at most
 *     ATTN__ST_MAX_DIMS non-negative integers; data_offsets that are not two non-negative
 *     integers; begin > end; end past the data buffer; a byte count (product of the shape
 *     times the dtype size, computed without overflow) different from end - begin;
 *   - "__metadata__" that is not an object of string values; a repeated name or key; a
 *     name, key or value containing NUL (\u0000);
 *   - any overlap, gap or trailing byte: sorted by offset, the tensors must tile the data
 *     buffer exactly, from 0 to its end. This is the rule the reference implementation
 *     applies (it rejects gaps and files whose buffer is not fully covered); being as strict
 *     means every file accepted here is also accepted there, and no byte of the file is
 *     unaccounted for.
 * Leading and trailing JSON whitespace around the header object is accepted (the writer pads
 * with spaces to a multiple of 8 so that the data buffer is 8-byte aligned in the file).
 *
 * Files are read into memory with read(2) rather than mapped, so that a file truncated by
 * someone else while it is open cannot crash the reader (a mapping would fault with SIGBUS).
 * Tensor data pointers are 8-byte aligned when the header length is a multiple of 8 (always
 * for files written here, and for the reference writer); otherwise they may be unaligned:
 * copy with memcpy.
 *
 * Writing orders tensors like the reference writer does (by dtype, widest first, in the order
 * of the dtype table, then by name bytewise) and metadata by key, so output depends only on
 * the set of tensors and metadata given, and for the same tensors without metadata it is the
 * same bytes the reference writer produces. Data is written through io/atomic_file.h. */
#ifndef ATTN_IO_SAFETENSORS_H
#define ATTN_IO_SAFETENSORS_H

#include "attn.h"

#include <stddef.h>
#include <stdint.h>

enum { ATTN__ST_MAX_DIMS = 16 };
#define ATTN__ST_MAX_HEADER 100000000u

/* Element types, narrowest first (the reference implementation's order, which sets the order
 * of tensors in written files). Sub-byte types (F4, F6_*) are not supported. */
typedef enum attn__st_dtype {
    ATTN__ST_BOOL = 0,
    ATTN__ST_U8,
    ATTN__ST_I8,
    ATTN__ST_F8_E5M2,
    ATTN__ST_F8_E4M3,
    ATTN__ST_F8_E8M0,
    ATTN__ST_I16,
    ATTN__ST_U16,
    ATTN__ST_F16,
    ATTN__ST_BF16,
    ATTN__ST_I32,
    ATTN__ST_U32,
    ATTN__ST_F32,
    ATTN__ST_C64,
    ATTN__ST_F64,
    ATTN__ST_I64,
    ATTN__ST_U64,
    ATTN__ST_DTYPE_COUNT
} attn__st_dtype_t;

/* "F32"; NULL for an invalid value */
const char *attn__st_dtype_name(attn__st_dtype_t dtype);
/* bytes per element; 0 for an invalid value */
size_t attn__st_dtype_size(attn__st_dtype_t dtype);

typedef struct attn__st_tensor {
    const char *name; /* NUL-terminated UTF-8 */
    attn__st_dtype_t dtype;
    int32_t ndim;     /* 0 for a scalar */
    int64_t shape[ATTN__ST_MAX_DIMS];
    int64_t numel;    /* product of the shape (1 for a scalar) */
    uint64_t begin, end; /* byte offsets into the data buffer */
    const void *data; /* end - begin bytes; may be unaligned, see above */
} attn__st_tensor_t;

typedef struct attn__st_meta {
    const char *key;
    const char *value;
} attn__st_meta_t;

typedef struct attn__st_file attn__st_file_t;

/* Reads and validates the file at path. On success *out owns everything; close it with
 * attn__st_close. */
attn_status_t attn__st_open(attn__st_file_t **out, const char *path);
/* The same for a file already in memory: bytes[0 .. size) must stay valid and unchanged
 * until attn__st_close (tensor data points into it). label names the file in messages. */
attn_status_t attn__st_parse(attn__st_file_t **out, const void *bytes, size_t size,
                             const char *label);
void attn__st_close(attn__st_file_t *f); /* NULL is fine */

/* Tensors in file order (by offset), i in [0, count). */
int64_t attn__st_count(const attn__st_file_t *f);
const attn__st_tensor_t *attn__st_tensor(const attn__st_file_t *f, int64_t i);
/* The tensor with this name, or NULL. */
const attn__st_tensor_t *attn__st_find(const attn__st_file_t *f, const char *name);
/* "__metadata__" pairs sorted by key, i in [0, count). */
int64_t attn__st_meta_count(const attn__st_file_t *f);
const attn__st_meta_t *attn__st_meta_at(const attn__st_file_t *f, int64_t i);
/* The metadata value for key, or NULL. */
const char *attn__st_meta_get(const attn__st_file_t *f, const char *key);
/* The name the file was opened with (for messages). */
const char *attn__st_label(const attn__st_file_t *f);

/* ---- writing ------------------------------------------------------------------------------- */

/* One tensor to write: shape[0 .. ndim) (ndim 0 for a scalar), data holding the product of the
 * shape times the dtype size bytes, row-major, little-endian. */
typedef struct attn__st_entry {
    const char *name;
    attn__st_dtype_t dtype;
    int32_t ndim;
    const int64_t *shape;
    const void *data;
} attn__st_entry_t;

/* Writes tensors and metadata to path atomically (old file or new file, never a mix). Names,
 * keys and values must be UTF-8, names unique and not "__metadata__", keys unique. */
attn_status_t attn__st_write(const char *path, const attn__st_entry_t *tensors, int64_t count,
                             const attn__st_meta_t *meta, int64_t meta_count);
/* The same bytes into a malloc'ed buffer (*out, *size); free it with free(). */
attn_status_t attn__st_serialize(void **out, size_t *size, const attn__st_entry_t *tensors,
                                 int64_t count, const attn__st_meta_t *meta,
                                 int64_t meta_count);

#endif
