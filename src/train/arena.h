/* Internal: a bump allocator for activations. A forward pass takes its outputs and the caches
 * its backward needs from an arena; attn__arena_reset frees them all at once for the next
 * batch. Memory is kept in blocks that never move, so pointers stay valid until the reset. */
#ifndef ATTN_TRAIN_ARENA_H
#define ATTN_TRAIN_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct attn__arena_block attn__arena_block_t;
typedef struct attn__arena {
    attn__arena_block_t *head;
    size_t block_floats; /* default size of a new block */
} attn__arena_t;

void attn__arena_init(attn__arena_t *a, size_t block_floats);
/* n floats, 64-byte aligned, uninitialised; NULL (with attn_last_error) when out of memory */
float *attn__arena_alloc(attn__arena_t *a, size_t n);
/* the same, zeroed */
float *attn__arena_zeros(attn__arena_t *a, size_t n);
/* forget every allocation; the next pass gets one block as large as this one used */
void attn__arena_reset(attn__arena_t *a);
void attn__arena_free(attn__arena_t *a);

#endif
