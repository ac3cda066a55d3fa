/* attn_probs: exact attention probabilities for a block of query rows, recomputed from Q, K
 * and the forward's LSE (or a fresh LSE), never storing more than the rows asked for. */
#include "kernels/sdpa.h"
#include "core/runtime.h"
#include "core/status.h"

#include <math.h>

typedef struct {
    const attn__sdpa_t *p;
    attn_src_t q, k;
    const float *lse;
    int64_t b, h, q_start;
    float *out;
    int64_t ld;
} probs_job;

static void probs_row(void *ctx, int64_t r, int thread) {
    (void)thread;
    const probs_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    int64_t b = J->b, h = J->h, hk = h / p->group, i = J->q_start + r;
    float *row = J->out + r * J->ld;
    int64_t qi = b * J->q.stride[0] + h * J->q.stride[1] + i * J->q.stride[2];
    int64_t end = attn__key_end(p, b, i);
    for (int64_t j = 0; j < p->Nk; j++) {
        float s = -INFINITY;
        if (j < end) {
            int64_t kj = b * J->k.stride[0] + hk * J->k.stride[1] + j * J->k.stride[2];
            double dot = 0.0;
            for (int64_t d = 0; d < p->D; d++)
                dot += (double)attn__get(J->q, qi + d * J->q.stride[3]) *
                       (double)attn__get(J->k, kj + d * J->k.stride[3]);
            s = (float)((double)p->scale * dot);
            attn__mask_apply(p, b, h, i, j, j + 1, &s);
        }
        row[j] = s;
    }
    double l;
    if (J->lse) {
        l = J->lse[(b * p->Hq + h) * p->Nq + i];
    } else {
        double mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < p->Nk; j++) if (row[j] > mx) mx = row[j];
        if (mx != -INFINITY)
            for (int64_t j = 0; j < p->Nk; j++) sum += exp((double)row[j] - mx);
        l = mx == -INFINITY ? -INFINITY : mx + log(sum);
    }
    for (int64_t j = 0; j < p->Nk; j++)
        row[j] = (l == -INFINITY || row[j] == -INFINITY) ? 0.0f : (float)exp((double)row[j] - l);
}

attn_status_t attn_probs(const attn_shape_t *shape, const attn_params_t *params, attn_src_t q,
                         attn_src_t k, const float *lse, int64_t b, int64_t h, int64_t q_start,
                         int64_t q_count, float *out, int64_t ld_out) {
    attn__sdpa_t p;
    attn_status_t st;
    if ((st = attn__sdpa_prepare(shape, params, &p)) != ATTN_STATUS_OK) return st;
    const int64_t qd[4] = {p.B, p.Hq, p.Nq, p.D};
    const int64_t kd[4] = {p.B, p.Hkv, p.Nk, p.D};
    if ((st = attn__check_src("q", q, qd, 1)) != ATTN_STATUS_OK) return st;
    if ((st = attn__check_src("k", k, kd, 1)) != ATTN_STATUS_OK) return st;
    if (!out)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "out is NULL; pass a [q_count, Nk] buffer");
    if (b < 0 || b >= p.B || h < 0 || h >= p.Hq)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                          "(b=%lld, h=%lld) is outside [0, B=%lld) x [0, Hq=%lld)",
                          (long long)b, (long long)h, (long long)p.B, (long long)p.Hq);
    if (q_start < 0 || q_count < 1 || q_start > p.Nq || q_count > p.Nq - q_start)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                          "q_start=%lld, q_count=%lld ask for queries outside [0, Nq=%lld); ask "
                          "for at least one query inside the sequence", (long long)q_start,
                          (long long)q_count, (long long)p.Nq);
    if (ld_out < p.Nk)
        return attn__fail(ATTN_STATUS_BAD_STRIDE,
                          "ld_out is %lld but each row holds Nk=%lld probabilities; use ld_out >= "
                          "Nk", (long long)ld_out, (long long)p.Nk);
    int64_t tmp;
    if (__builtin_mul_overflow(q_count, ld_out, &tmp))
        return attn__fail(ATTN_STATUS_OVERFLOW, "q_count * ld_out overflows");
    probs_job job = {&p, q, k, lse, b, h, q_start, out, ld_out};
    double flops = 2.0 * (double)q_count * (double)p.Nk * (double)p.D;
    attn__parallel_for(q_count, attn__threads_for(q_count, flops), probs_row, &job);
    return ATTN_STATUS_OK;
}
