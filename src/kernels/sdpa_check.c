/* Argument validation for the attention entry points. Nothing here touches tensor data except
 * key_lens, whose values must be read to be checked. */
#include "kernels/sdpa.h"
#include "core/status.h"

#include <math.h>
#include <stddef.h>

static const char *const dim_names[4] = {"batch", "head", "sequence", "feature"};

/* Largest element offset a tensor of these sizes and strides reaches; -1 on overflow. */
static int64_t max_offset(const int64_t dims[4], const int64_t stride[4]) {
    int64_t total = 0;
    for (int d = 0; d < 4; d++) {
        int64_t part;
        if (dims[d] <= 1) continue;
        if (__builtin_mul_overflow(dims[d] - 1, stride[d], &part)) return -1;
        if (__builtin_add_overflow(total, part, &total)) return -1;
    }
    /* the byte offset must fit too (8 bytes covers every dtype we read) */
    if (total > INT64_MAX / 8 || (uint64_t)total > (uint64_t)(SIZE_MAX / 8)) return -1;
    return total;
}

attn_status_t attn__check_src(const char *name, attn_src_t t, const int64_t dims[4], int halves) {
    if (!t.data)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "%s.data is NULL; pass the tensor's memory",
                          name);
    if (t.dtype != ATTN_DTYPE_F32 && t.dtype != ATTN_DTYPE_F16 && t.dtype != ATTN_DTYPE_BF16)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s.dtype is %d, not an attn_dtype_t value",
                          name, (int)t.dtype);
    if (t.dtype != ATTN_DTYPE_F32 && !halves)
        return attn__fail(ATTN_STATUS_UNSUPPORTED,
                          "%s.dtype is %s, but %s must be fp32 (ATTN_DTYPE_F32); only q, k and v "
                          "may be fp16 or bf16", name,
                          t.dtype == ATTN_DTYPE_F16 ? "fp16" : "bf16", name);
    for (int d = 0; d < 4; d++)
        if (t.stride[d] < 0 && dims[d] > 1)
            return attn__fail(ATTN_STATUS_BAD_STRIDE,
                              "%s.stride[%d] (%s) is %lld; strides must be >= 0 (copy a "
                              "reversed view into ascending order first)", name, d, dim_names[d],
                              (long long)t.stride[d]);
    if (max_offset(dims, t.stride) < 0)
        return attn__fail(ATTN_STATUS_OVERFLOW,
                          "%s: sizes [%lld, %lld, %lld, %lld] with strides [%lld, %lld, %lld, "
                          "%lld] overflow a 64-bit offset; check the strides", name,
                          (long long)dims[0], (long long)dims[1], (long long)dims[2],
                          (long long)dims[3], (long long)t.stride[0], (long long)t.stride[1],
                          (long long)t.stride[2], (long long)t.stride[3]);
    return ATTN_STATUS_OK;
}

attn_status_t attn__check_dst(const char *name, attn_dst_t t, const int64_t dims[4]) {
    attn_src_t s;
    s.data = t.data;
    s.dtype = ATTN_DTYPE_F32;
    for (int d = 0; d < 4; d++) s.stride[d] = t.stride[d];
    attn_status_t st = attn__check_src(name, s, dims, 0);
    if (st != ATTN_STATUS_OK) return st;
    for (int d = 0; d < 4; d++)
        if (dims[d] > 1 && t.stride[d] == 0)
            return attn__fail(ATTN_STATUS_BAD_STRIDE,
                              "%s.stride[%d] (%s) is 0 but that dimension has size %lld: an "
                              "output cannot broadcast; give each element its own place",
                              name, d, dim_names[d], (long long)dims[d]);
    return ATTN_STATUS_OK;
}

static attn_status_t check_size(const char *field, int64_t v) {
    if (v <= 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "shape.%s is %lld; every size must be >= 1",
                          field, (long long)v);
    if (v > ((int64_t)1 << 40))
        return attn__fail(ATTN_STATUS_OVERFLOW,
                          "shape.%s is %lld, beyond the supported 2^40; check the value", field,
                          (long long)v);
    return ATTN_STATUS_OK;
}

attn_status_t attn__sdpa_prepare(const attn_shape_t *shape, const attn_params_t *params,
                                 attn__sdpa_t *p) {
    attn_status_t st;
    if (!shape)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "shape is NULL; pass an attn_shape_t");
    attn_params_t defaults = attn_default_params();
    if (!params) params = &defaults;

    static const char *const fields[7] = {"batch", "heads_q", "heads_kv", "len_q",
                                          "len_k", "dim_qk",  "dim_v"};
    const int64_t vals[7] = {shape->batch, shape->heads_q, shape->heads_kv, shape->len_q,
                             shape->len_k, shape->dim_qk,  shape->dim_v};
    for (int i = 0; i < 7; i++)
        if ((st = check_size(fields[i], vals[i])) != ATTN_STATUS_OK) return st;
    if (shape->heads_q % shape->heads_kv != 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE,
                          "heads_q (%lld) is not a multiple of heads_kv (%lld); grouped-query "
                          "attention needs Hq = g * Hkv", (long long)shape->heads_q,
                          (long long)shape->heads_kv);
    /* element counts of every tensor and of B*Hq*Nq*Nk-sized loops must fit in int64 */
    int64_t n = shape->batch;
    const int64_t rest[4] = {shape->heads_q, shape->len_q,
                             shape->len_k > shape->dim_v ? shape->len_k : shape->dim_v,
                             shape->dim_qk};
    for (int i = 0; i < 4; i++)
        if (__builtin_mul_overflow(n, rest[i], &n) || n > INT64_MAX / 8)
            return attn__fail(ATTN_STATUS_OVERFLOW,
                              "the problem [B=%lld, Hq=%lld, Nq=%lld, Nk=%lld, D=%lld, Dv=%lld] "
                              "is too large for 64-bit element counts",
                              (long long)shape->batch, (long long)shape->heads_q,
                              (long long)shape->len_q, (long long)shape->len_k,
                              (long long)shape->dim_qk, (long long)shape->dim_v);

    p->B = shape->batch; p->Hq = shape->heads_q; p->Hkv = shape->heads_kv;
    p->Nq = shape->len_q; p->Nk = shape->len_k; p->D = shape->dim_qk; p->Dv = shape->dim_v;
    p->group = p->Hq / p->Hkv;

    if (isinf(params->scale))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                          "params.scale is infinite; use a finite scale or NAN for 1/sqrt(D)");
    p->scale = isnan(params->scale) ? (float)(1.0 / sqrt((double)p->D)) : params->scale;

    if (params->causal != ATTN_CAUSAL_NONE && params->causal != ATTN_CAUSAL_TOP_LEFT &&
        params->causal != ATTN_CAUSAL_BOTTOM_RIGHT)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                          "params.causal is %d; use ATTN_CAUSAL_NONE, ATTN_CAUSAL_TOP_LEFT or "
                          "ATTN_CAUSAL_BOTTOM_RIGHT", (int)params->causal);
    p->causal = params->causal;

    p->key_lens = params->key_lens;
    if (p->key_lens)
        for (int64_t b = 0; b < p->B; b++)
            if (p->key_lens[b] < 0 || p->key_lens[b] > p->Nk)
                return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                                  "params.key_lens[%lld] is %lld; each key length must be in "
                                  "[0, len_k=%lld]", (long long)b, (long long)p->key_lens[b],
                                  (long long)p->Nk);

    if (!(params->dropout_p >= 0.0f && params->dropout_p <= 1.0f))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                          "params.dropout_p is %g; use a probability in [0, 1] (0: no dropout)",
                          (double)params->dropout_p);
    p->drop_p = params->dropout_p;
    p->drop_scale = p->drop_p < 1.0f ? (float)(1.0 / (1.0 - (double)p->drop_p)) : 0.0f;
    p->drop_cut = (uint32_t)ceil((double)p->drop_p * 16777216.0);
    p->drop_key = attn__hash_key(params->dropout_seed, ATTN__DROP_STREAM);

    const attn_mask_t *m = &params->mask;
    p->mask_kind = m->kind;
    p->mask_data = m->data;
    for (int d = 0; d < 4; d++) { p->mask_shape[d] = 1; p->mask_stride[d] = 0; }
    if (m->kind == ATTN_MASK_NONE) return ATTN_STATUS_OK;
    if (m->kind != ATTN_MASK_BOOL && m->kind != ATTN_MASK_BIAS)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                          "params.mask.kind is %d; use ATTN_MASK_NONE, ATTN_MASK_BOOL or "
                          "ATTN_MASK_BIAS", (int)m->kind);
    if (!m->data)
        return attn__fail(ATTN_STATUS_NULL_POINTER,
                          "params.mask.data is NULL while params.mask.kind asks for a mask; pass "
                          "the mask or set kind to ATTN_MASK_NONE");
    const int64_t full[4] = {p->B, p->Hq, p->Nq, p->Nk};
    static const char *const mnames[4] = {"B", "Hq", "Nq", "Nk"};
    for (int d = 0; d < 4; d++) {
        if (m->shape[d] != 1 && m->shape[d] != full[d])
            return attn__fail(ATTN_STATUS_BAD_MASK,
                              "params.mask.shape[%d] is %lld, which does not broadcast to %s=%lld; "
                              "use 1 or %lld (mask shape [%lld, %lld, %lld, %lld] against "
                              "[B=%lld, Hq=%lld, Nq=%lld, Nk=%lld])", d, (long long)m->shape[d],
                              mnames[d], (long long)full[d], (long long)full[d],
                              (long long)m->shape[0], (long long)m->shape[1],
                              (long long)m->shape[2], (long long)m->shape[3], (long long)full[0],
                              (long long)full[1], (long long)full[2], (long long)full[3]);
        if (m->shape[d] > 1 && m->stride[d] < 0)
            return attn__fail(ATTN_STATUS_BAD_STRIDE,
                              "params.mask.stride[%d] is %lld; strides must be >= 0", d,
                              (long long)m->stride[d]);
        p->mask_shape[d] = m->shape[d];
        p->mask_stride[d] = m->shape[d] > 1 ? m->stride[d] : 0;
    }
    if (max_offset(p->mask_shape, p->mask_stride) < 0)
        return attn__fail(ATTN_STATUS_OVERFLOW,
                          "params.mask: its sizes and strides overflow a 64-bit offset");
    return ATTN_STATUS_OK;
}
