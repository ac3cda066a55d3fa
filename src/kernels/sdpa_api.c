/* Public attention entry points: validate, pick the kernel, dispatch. */
#include "kernels/sdpa.h"
#include "core/runtime.h"
#include "core/status.h"

#include <math.h>

attn_params_t attn_default_params(void) {
    attn_params_t p;
    p.scale = NAN;
    p.causal = ATTN_CAUSAL_NONE;
    p.key_lens = NULL;
    p.mask.kind = ATTN_MASK_NONE;
    p.mask.data = NULL;
    for (int d = 0; d < 4; d++) { p.mask.shape[d] = 1; p.mask.stride[d] = 0; }
    p.kernel = ATTN_KERNEL_AUTO;
    p.dropout_p = 0.0f;
    p.dropout_seed = 0;
    return p;
}

static attn_status_t check_qkv(const attn__sdpa_t *p, attn_src_t q, attn_src_t k, attn_src_t v) {
    attn_status_t st;
    const int64_t qd[4] = {p->B, p->Hq, p->Nq, p->D};
    const int64_t kd[4] = {p->B, p->Hkv, p->Nk, p->D};
    const int64_t vd[4] = {p->B, p->Hkv, p->Nk, p->Dv};
    if ((st = attn__check_src("q", q, qd, 1)) != ATTN_STATUS_OK) return st;
    if ((st = attn__check_src("k", k, kd, 1)) != ATTN_STATUS_OK) return st;
    return attn__check_src("v", v, vd, 1);
}

attn_status_t attn_forward(const attn_shape_t *shape, const attn_params_t *params,
                           attn_src_t q, attn_src_t k, attn_src_t v, attn_dst_t o, float *lse) {
    attn__sdpa_t p;
    attn_kernel_t kernel = ATTN_KERNEL_FUSED;
    attn_status_t st;
    if ((st = attn__sdpa_prepare(shape, params, &p)) != ATTN_STATUS_OK) return st;
    if ((st = attn__resolve_kernel(params ? params->kernel : ATTN_KERNEL_AUTO, &kernel)))
        return st;
    if ((st = check_qkv(&p, q, k, v)) != ATTN_STATUS_OK) return st;
    const int64_t od[4] = {p.B, p.Hq, p.Nq, p.Dv};
    if ((st = attn__check_dst("o", o, od)) != ATTN_STATUS_OK) return st;
    return kernel == ATTN_KERNEL_REFERENCE ? attn__sdpa_forward_reference(&p, q, k, v, o, lse)
                                           : attn__sdpa_forward_fused(&p, q, k, v, o, lse);
}

attn_status_t attn_backward(const attn_shape_t *shape, const attn_params_t *params,
                            attn_src_t q, attn_src_t k, attn_src_t v, attn_src_t o,
                            const float *lse, attn_src_t d_o, attn_dst_t dq, attn_dst_t dk,
                            attn_dst_t dv, attn_dst_t dbias) {
    attn__sdpa_t p;
    attn_kernel_t kernel = ATTN_KERNEL_FUSED;
    attn_status_t st;
    if ((st = attn__sdpa_prepare(shape, params, &p)) != ATTN_STATUS_OK) return st;
    if ((st = attn__resolve_kernel(params ? params->kernel : ATTN_KERNEL_AUTO, &kernel)))
        return st;
    if ((st = check_qkv(&p, q, k, v)) != ATTN_STATUS_OK) return st;
    const int64_t qd[4] = {p.B, p.Hq, p.Nq, p.D};
    const int64_t kd[4] = {p.B, p.Hkv, p.Nk, p.D};
    const int64_t vd[4] = {p.B, p.Hkv, p.Nk, p.Dv};
    const int64_t od[4] = {p.B, p.Hq, p.Nq, p.Dv};
    if ((st = attn__check_src("o", o, od, 0)) != ATTN_STATUS_OK) return st;
    if ((st = attn__check_src("d_o", d_o, od, 0)) != ATTN_STATUS_OK) return st;
    if (!lse)
        return attn__fail(ATTN_STATUS_NULL_POINTER,
                          "lse is NULL; the backward needs the [B, Hq, Nq] log-sum-exp that "
                          "attn_forward wrote");
    if ((st = attn__check_dst("dq", dq, qd)) != ATTN_STATUS_OK) return st;
    if ((st = attn__check_dst("dk", dk, kd)) != ATTN_STATUS_OK) return st;
    if ((st = attn__check_dst("dv", dv, vd)) != ATTN_STATUS_OK) return st;
    if (dbias.data) {
        if (p.mask_kind != ATTN_MASK_BIAS)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                              "dbias.data is set but params.mask is not a float bias "
                              "(ATTN_MASK_BIAS); pass dbias.data = NULL");
        if ((st = attn__check_dst("dbias", dbias, p.mask_shape)) != ATTN_STATUS_OK) return st;
    }
    return kernel == ATTN_KERNEL_REFERENCE
               ? attn__sdpa_backward_reference(&p, q, k, v, o, lse, d_o, dq, dk, dv, dbias)
               : attn__sdpa_backward_fused(&p, q, k, v, o, lse, d_o, dq, dk, dv, dbias);
}
