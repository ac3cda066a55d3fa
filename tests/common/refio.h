/* Test helper: reference tensors computed by PyTorch (tests/common/refio.py writes them) and
 * read back by C tests. The format is deliberately trivial, little-endian:
 *     "ATTNREF1"                                   8 bytes
 *     per tensor: name (64 bytes, NUL-padded), ndim (int32), shape (4 x int64),
 *                 ndim-product float32 values
 * A test asks for tensors by name; a missing name or a shape mismatch fails the test loudly. */
#ifndef ATTN_TESTS_REFIO_H
#define ATTN_TESTS_REFIO_H

#include <stdint.h>

typedef struct {
    char name[64];
    int32_t ndim;
    int64_t shape[4];
    int64_t numel;
    float *data;
} ref_tensor;

typedef struct {
    ref_tensor *t;
    int count;
} ref_file;

/* 0 on success; prints why and returns -1 otherwise */
int ref_load(ref_file *f, const char *path);
/* the tensor, or NULL after printing what is missing */
const ref_tensor *ref_get(const ref_file *f, const char *name);
void ref_free(ref_file *f);

#endif
