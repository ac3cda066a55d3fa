#include "train/arena.h"
#include "attn.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

struct attn__arena_block {
    attn__arena_block_t *next;
    size_t cap, used; /* floats */
    float *mem;
};

void attn__arena_init(attn__arena_t *a, size_t block_floats) {
    a->head = NULL;
    a->block_floats = block_floats ? block_floats : ((size_t)1 << 20);
}

float *attn__arena_alloc(attn__arena_t *a, size_t n) {
    size_t need = (n + 15) / 16 * 16;
    if (need == 0) need = 16;
    attn__arena_block_t *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > a->block_floats ? need : a->block_floats;
        b = malloc(sizeof *b);
        void *mem = NULL;
        if (!b || posix_memalign(&mem, 64, sizeof(float) * cap) != 0) {
            free(b);
            attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot allocate %zu bytes of activations",
                       sizeof(float) * cap);
            return NULL;
        }
        b->mem = mem;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    float *out = b->mem + b->used;
    b->used += need;
    return out;
}

float *attn__arena_zeros(attn__arena_t *a, size_t n) {
    float *p = attn__arena_alloc(a, n);
    if (p) memset(p, 0, sizeof(float) * n);
    return p;
}

void attn__arena_reset(attn__arena_t *a) {
    if (a->head && !a->head->next) { /* one block: reuse it */
        a->head->used = 0;
        return;
    }
    /* several blocks: free them and make the next block big enough for all of it */
    size_t total = 0;
    for (attn__arena_block_t *b = a->head; b; b = b->next) total += b->cap;
    attn__arena_free(a);
    if (total > a->block_floats) a->block_floats = total;
}

void attn__arena_free(attn__arena_t *a) {
    attn__arena_block_t *b = a->head;
    while (b) {
        attn__arena_block_t *next = b->next;
        free(b->mem);
        free(b);
        b = next;
    }
    a->head = NULL;
}
