/* Internal: a validated attention problem, shared by the reference and fused kernels.
 *
 * attn__sdpa_t holds the sizes, the resolved scale and the mask with broadcast strides folded in
 * (stride 0 where the mask has size 1), so kernels never re-check anything. */
#ifndef ATTN_KERNELS_SDPA_H
#define ATTN_KERNELS_SDPA_H

#include "attn.h"
#include "core/half.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

typedef struct attn__sdpa {
    int64_t B, Hq, Hkv, Nq, Nk, D, Dv;
    int64_t group; /* Hq / Hkv: query heads per key/value head */
    float scale;
    attn_causal_t causal;
    const int64_t *key_lens;
    attn_mask_kind_t mask_kind;
    const void *mask_data;
    int64_t mask_shape[4];
    int64_t mask_stride[4]; /* 0 for broadcast dimensions */
    /* attention dropout (drop_p = 0: none): see attn__drop_keep */
    float drop_p, drop_scale; /* drop_scale = 1 / (1 - p), 0 when p = 1 */
    uint32_t drop_cut;        /* ceil(p 2^24) */
    uint64_t drop_key;        /* attn__hash_key(dropout_seed, ATTN__DROP_STREAM) */
} attn__sdpa_t;

/* The stream of attention dropout's hashes ("sdpadrop"), apart from the layers' streams. */
#define ATTN__DROP_STREAM 0x7364706164726f70ull

/* Attention dropout's mask, from its definition: weight (b, h, i, j) has the flat index
 * e = ((b Hq + h) Nk + j) Nq + i (key-major: the fused kernel's tiles hold S^T, whose rows are
 * one key's queries, so a tile row is a run of consecutive indices); h = attn__hash_at(
 * drop_key, e / 2) (core/rng.h) gives 24 bits to each element of the pair, the top 24 to the
 * even one and the next 24 to the odd one, and the weight is kept when its bits are >=
 * drop_cut: nn/dropout.h's rule, so the tiles' keep_masks produce the same bits
 * (kernels/sdpa_fused.h, attn__drop_tile). */
static inline int attn__drop_keep(const attn__sdpa_t *p, int64_t b, int64_t h, int64_t i,
                                  int64_t j) {
    const uint64_t e = (uint64_t)(((b * p->Hq + h) * p->Nk + j) * p->Nq + i);
    const uint64_t z = attn__hash_at(p->drop_key, e >> 1);
    const uint32_t u = (e & 1) ? (uint32_t)((z >> 16) & 0xFFFFFFu) : (uint32_t)(z >> 40);
    return u >= p->drop_cut;
}

/* Validation (sdpa_check.c). Each returns a status with a message on failure. */
attn_status_t attn__sdpa_prepare(const attn_shape_t *shape, const attn_params_t *params,
                                 attn__sdpa_t *out);
/* halves: whether fp16 and bf16 are accepted (Q, K, V) or only fp32 (O, dO) */
attn_status_t attn__check_src(const char *name, attn_src_t t, const int64_t dims[4], int halves);
attn_status_t attn__check_dst(const char *name, attn_dst_t t, const int64_t dims[4]);

/* Kernels (sdpa_reference.c, sdpa_fused.c). Arguments are validated; fp32 only for now. */
attn_status_t attn__sdpa_forward_reference(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                           attn_src_t v, attn_dst_t o, float *lse);
attn_status_t attn__sdpa_backward_reference(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                            attn_src_t v, attn_src_t o, const float *lse,
                                            attn_src_t d_o, attn_dst_t dq, attn_dst_t dk,
                                            attn_dst_t dv, attn_dst_t dbias);
attn_status_t attn__sdpa_forward_fused(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                       attn_src_t v, attn_dst_t o, float *lse);
/* Decoding path of the fused forward (sdpa_decode.c): few queries, long key/value cache. */
int attn__sdpa_use_decode(const attn__sdpa_t *p);
attn_status_t attn__sdpa_forward_decode(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                        attn_src_t v, attn_dst_t o, float *lse);
attn_status_t attn__sdpa_backward_fused(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                        attn_src_t v, attn_src_t o, const float *lse,
                                        attn_src_t d_o, attn_dst_t dq, attn_dst_t dk,
                                        attn_dst_t dv, attn_dst_t dbias);

/* ---- helpers every kernel shares ---------------------------------------------------------- */

static inline const float *attn__f32(attn_src_t t) { return (const float *)t.data; }

/* Element at element offset off of a source tensor of any dtype, as float. */
static inline float attn__get(attn_src_t t, int64_t off) {
    switch (t.dtype) {
    case ATTN_DTYPE_F16: return attn__f16_to_f32(((const uint16_t *)t.data)[off]);
    case ATTN_DTYPE_BF16: return attn__bf16_to_f32(((const uint16_t *)t.data)[off]);
    default: return ((const float *)t.data)[off];
    }
}

/* Floating-point operations of a full (unmasked) forward: 2 B Hq Nq Nk (D + Dv). */
static inline double attn__sdpa_flops(const attn__sdpa_t *p) {
    return 2.0 * (double)p->B * (double)p->Hq * (double)p->Nq * (double)p->Nk *
           (double)(p->D + p->Dv);
}

static inline int64_t attn__key_len(const attn__sdpa_t *p, int64_t b) {
    return p->key_lens ? p->key_lens[b] : p->Nk;
}

/* One past the last key that query i of batch b may see under key_lens and the causal rule
 * (the elementwise mask may hide further keys below it). In [0, Nk]. */
static inline int64_t attn__key_end(const attn__sdpa_t *p, int64_t b, int64_t i) {
    int64_t len = attn__key_len(p, b), end = len;
    if (p->causal == ATTN_CAUSAL_TOP_LEFT) end = i + 1;
    else if (p->causal == ATTN_CAUSAL_BOTTOM_RIGHT) end = i + 1 + len - p->Nq;
    if (end > len) end = len;
    return end < 0 ? 0 : end;
}

/* Element offset of mask row (b, h, i); key j adds j * mask_stride[3]. */
static inline int64_t attn__mask_row(const attn__sdpa_t *p, int64_t b, int64_t h, int64_t i) {
    return b * p->mask_stride[0] + h * p->mask_stride[1] + i * p->mask_stride[2];
}

/* Applies the elementwise mask to a row of scaled scores s[j0 .. j1) (indices relative to
 * j0 in s), writing -INFINITY where a key is hidden and adding the bias otherwise. */
static inline void attn__mask_apply(const attn__sdpa_t *p, int64_t b, int64_t h, int64_t i,
                                    int64_t j0, int64_t j1, float *s) {
    if (p->mask_kind == ATTN_MASK_NONE) return;
    int64_t base = attn__mask_row(p, b, h, i), sj = p->mask_stride[3];
    if (p->mask_kind == ATTN_MASK_BOOL) {
        const uint8_t *m = (const uint8_t *)p->mask_data + base;
        for (int64_t j = j0; j < j1; j++)
            if (!m[j * sj]) s[j - j0] = -INFINITY;
    } else {
        const float *m = (const float *)p->mask_data + base;
        for (int64_t j = j0; j < j1; j++) s[j - j0] += m[j * sj];
    }
}

#endif
