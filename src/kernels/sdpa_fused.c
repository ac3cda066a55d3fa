#include "kernels/sdpa.h"
attn_status_t attn__sdpa_forward_fused(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                       attn_src_t v, attn_dst_t o, float *lse) {
    return attn__sdpa_forward_reference(p, q, k, v, o, lse);
}
attn_status_t attn__sdpa_backward_fused(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                        attn_src_t v, attn_src_t o, const float *lse,
                                        attn_src_t d_o, attn_dst_t dq, attn_dst_t dk,
                                        attn_dst_t dv, attn_dst_t dbias) {
    return attn__sdpa_backward_reference(p, q, k, v, o, lse, d_o, dq, dk, dv, dbias);
}
