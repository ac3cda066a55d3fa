#include "train/params.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

void attn__params_init(attn__params_t *ps) { memset(ps, 0, sizeof *ps); }

int32_t attn__params_find(const attn__params_t *ps, const char *name) {
    for (int32_t i = 0; i < ps->count; i++)
        if (strcmp(ps->list[i].name, name) == 0) return i;
    return -1;
}

int32_t attn__params_add(attn__params_t *ps, const char *name, int32_t ndim,
                         const int64_t *shape) {
    if (ps->w) {
        attn__fail(ATTN_STATUS_BAD_ARGUMENT, "parameter '%s' added after the store was "
                   "allocated; register every tensor before attn__params_alloc", name);
        return -1;
    }
    if (!name || strlen(name) >= ATTN__PARAM_NAME) {
        attn__fail(ATTN_STATUS_BAD_ARGUMENT, "parameter name missing or longer than %d bytes",
                   ATTN__PARAM_NAME - 1);
        return -1;
    }
    if (attn__params_find(ps, name) >= 0) {
        attn__fail(ATTN_STATUS_BAD_ARGUMENT, "parameter '%s' registered twice", name);
        return -1;
    }
    if (ndim < 1 || ndim > 4) {
        attn__fail(ATTN_STATUS_BAD_SHAPE, "parameter '%s' has %d dimensions; use 1 to 4", name,
                   (int)ndim);
        return -1;
    }
    int64_t numel = 1;
    for (int32_t d = 0; d < ndim; d++) {
        if (shape[d] < 1 || __builtin_mul_overflow(numel, shape[d], &numel) ||
            numel > ((int64_t)1 << 40)) {
            attn__fail(ATTN_STATUS_BAD_SHAPE, "parameter '%s': dimension %d is %lld", name,
                       (int)d, (long long)shape[d]);
            return -1;
        }
    }
    if (ps->count == ps->cap) {
        int32_t cap = ps->cap ? ps->cap * 2 : 32;
        attn__param_t *list = realloc(ps->list, sizeof *list * (size_t)cap);
        if (!list) {
            attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot grow the parameter list");
            return -1;
        }
        ps->list = list;
        ps->cap = cap;
    }
    attn__param_t *p = &ps->list[ps->count];
    memset(p, 0, sizeof *p);
    strcpy(p->name, name);
    p->ndim = ndim;
    for (int32_t d = 0; d < ndim; d++) p->shape[d] = shape[d];
    p->numel = numel;
    p->offset = ps->total;
    ps->total += (numel + 15) / 16 * 16; /* keep every tensor 64-byte aligned */
    return ps->count++;
}

attn_status_t attn__params_alloc(attn__params_t *ps) {
    size_t bytes = sizeof(float) * (size_t)(ps->total > 0 ? ps->total : 16);
    void *w = NULL, *g = NULL;
    if (posix_memalign(&w, 64, bytes) != 0 || posix_memalign(&g, 64, bytes) != 0) {
        free(w);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot allocate %zu bytes of parameters",
                          2 * bytes);
    }
    memset(w, 0, bytes);
    memset(g, 0, bytes);
    ps->w = w;
    ps->g = g;
    return ATTN_STATUS_OK;
}

void attn__params_zero_grad(attn__params_t *ps) {
    if (ps->g) memset(ps->g, 0, sizeof(float) * (size_t)ps->total);
}

void attn__params_free(attn__params_t *ps) {
    free(ps->list);
    free(ps->w);
    free(ps->g);
    memset(ps, 0, sizeof *ps);
}
