/* Internal: the parameter store. Every trainable tensor of a model lives in one contiguous
 * block of weights (w) with a matching block of gradients (g), so that the optimiser, gradient
 * clipping and checkpoints treat a model as one flat vector, and each tensor keeps its
 * PyTorch-style name ("encoder.layers.0.self_attn.in_proj_weight") for checkpoints.
 *
 * Use in two phases: layers register their tensors (attn__params_add) while a model is built,
 * then attn__params_alloc allocates w and g once; layers keep the returned ids and reach their
 * memory through attn__pw / attn__pg, which stay valid until attn__params_free. */
#ifndef ATTN_TRAIN_PARAMS_H
#define ATTN_TRAIN_PARAMS_H

#include "attn.h"

#include <stdint.h>

enum { ATTN__PARAM_NAME = 96 };

typedef struct attn__param {
    char name[ATTN__PARAM_NAME];
    int32_t ndim;
    int64_t shape[4];
    int64_t offset; /* in floats, into w and g (64-byte aligned) */
    int64_t numel;
} attn__param_t;

typedef struct attn__params {
    attn__param_t *list;
    int32_t count, cap;
    int64_t total; /* floats, including alignment padding */
    float *w, *g;  /* NULL until attn__params_alloc */
} attn__params_t;

void attn__params_init(attn__params_t *ps);
/* Registers a tensor; returns its id (>= 0), or -1 with attn_last_error() set (bad shape,
 * duplicate name, name too long, already allocated, out of memory). */
int32_t attn__params_add(attn__params_t *ps, const char *name, int32_t ndim,
                         const int64_t *shape);
/* Allocates w (zeroed) and g (zeroed). */
attn_status_t attn__params_alloc(attn__params_t *ps);
void attn__params_free(attn__params_t *ps);

static inline float *attn__pw(const attn__params_t *ps, int32_t id) {
    return ps->w + ps->list[id].offset;
}
static inline float *attn__pg(const attn__params_t *ps, int32_t id) {
    return ps->g + ps->list[id].offset;
}
/* id of the tensor with this name, or -1 */
int32_t attn__params_find(const attn__params_t *ps, const char *name);
void attn__params_zero_grad(attn__params_t *ps);

#endif
