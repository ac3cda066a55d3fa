/* Decoding attention: a few queries (one new token per head, or a few) against a long
 * key/value cache. Bandwidth-bound, not compute-bound, so it is organised around reading K and
 * V once:
 *   - one work item = batch b, key/value head hkv, chunk of CHUNK keys; every query head of
 *     the group and every query is handled inside it, so grouped-query heads share one read;
 *   - each item leaves a partial result (row max m, sum l, unnormalised O) per query row;
 *   - a merge pass combines the chunks of each row in chunk order, by their maxima:
 *         M = max_c m_c,  l = sum_c l_c e^(m_c - M),  O = sum_c O_c e^(m_c - M) / l.
 * The chunking depends on Nk alone, so results are bitwise identical for any thread count. */
#include "kernels/sdpa.h"
#include "kernels/pack.h"
#include "kernels/tiles.h"
#include "core/runtime.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK = 512, SUB = 64 };

int attn__sdpa_use_decode(const attn__sdpa_t *p) {
    return p->Nq * p->group <= 4 && p->Nk >= 256 && p->drop_p == 0.0f;
}

typedef struct {
    const attn__sdpa_t *p;
    const attn__tiles_t *t;
    attn_src_t q, k, v;
    attn_dst_t o;
    float *lse;
    int64_t nchunks;
    float *part; /* [B, Hq, Nq, nchunks, Dv + 2]: m, l, O */
    attn__scratch_t scratch;
} dec_job;

/* Rows jb .. of T[b, h] in their stored form when the tile routines read that form directly:
 * fp32, or fp16 / bf16 (widened in registers), with a contiguous last dimension. Returns the
 * half-precision kind (0 fp16, 1 bf16) in *half, or -1 for fp32 rows, and NULL when the rows
 * must be converted into a buffer first (any other layout). */
static const void *direct_rows(attn_src_t t, int64_t b, int64_t h, int64_t jb, int64_t dim,
                               int64_t *ld, int *half) {
    if (t.stride[3] != 1 && dim != 1) return NULL;
    int64_t off = b * t.stride[0] + h * t.stride[1] + jb * t.stride[2];
    *ld = t.stride[2];
    switch (t.dtype) {
    case ATTN_DTYPE_F32: *half = -1; return (const float *)t.data + off;
    case ATTN_DTYPE_F16: *half = 0; return (const uint16_t *)t.data + off;
    case ATTN_DTYPE_BF16: *half = 1; return (const uint16_t *)t.data + off;
    }
    return NULL;
}

static float *partial(const dec_job *J, int64_t b, int64_t h, int64_t i, int64_t c) {
    const attn__sdpa_t *p = J->p;
    return J->part + (((b * p->Hq + h) * p->Nq + i) * J->nchunks + c) * (p->Dv + 2);
}

static void chunk_item(void *ctx, int64_t item, int thread) {
    const dec_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv, C = p->group * p->Nq;
    int64_t chunk = item % J->nchunks, bh = item / J->nchunks, b = bh / p->Hkv, hk = bh % p->Hkv;

    float *Qs = attn__scratch_of(&J->scratch, thread);
    float *Kbuf = Qs + C * D, *Vbuf = Kbuf + SUB * D, *s = Vbuf + SUB * Dv, *pr = s + C * SUB;
    float *Oc = pr + C * SUB, *m = Oc + C * Dv, *l = m + C, *alpha = l + C;
    for (int64_t c = 0; c < C; c++) {
        int64_t h = hk * p->group + c / p->Nq, i = c % p->Nq;
        attn__pack_rows(t, J->q, b, h, i, 1, D, Qs + c * D, D);
        t->scale(D, p->scale, Qs + c * D);
        m[c] = -INFINITY;
        l[c] = 0.0f;
    }
    memset(Oc, 0, sizeof(float) * (size_t)(C * Dv));

    int64_t j0 = chunk * CHUNK, j1 = j0 + CHUNK < p->Nk ? j0 + CHUNK : p->Nk;
    int64_t kmax = attn__key_end(p, b, p->Nq - 1); /* the last query sees the most keys */
    if (j1 > kmax) j1 = kmax;
    for (int64_t jb = j0; jb < j1; jb += SUB) {
        int64_t cnt = j1 - jb < SUB ? j1 - jb : SUB, ldk, ldv;
        int kh = -1, vh = -1;
        const void *Kr = direct_rows(J->k, b, hk, jb, D, &ldk, &kh);
        const void *Vr = direct_rows(J->v, b, hk, jb, Dv, &ldv, &vh);
        if (!Kr) { Kr = attn__tile_rows(t, J->k, b, hk, jb, cnt, D, Kbuf, &ldk); kh = -1; }
        if (!Vr) { Vr = attn__tile_rows(t, J->v, b, hk, jb, cnt, Dv, Vbuf, &ldv); vh = -1; }
        if (C > 1) {
            /* the group's queries share each read of a K and a V row */
            t->dot_group[kh + 1](C, cnt, D, Kr, ldk, Qs, D, s, SUB);
            for (int64_t c = 0; c < C; c++) {
                int64_t h = hk * p->group + c / p->Nq, i = c % p->Nq;
                int64_t n = attn__key_end(p, b, i) - jb;
                float *sc = s + c * SUB, *pc = pr + c * SUB;
                alpha[c] = 1.0f;
                if (n > cnt) n = cnt;
                if (n < 0) n = 0;
                memset(pc + n, 0, sizeof(float) * (size_t)(cnt - n));
                if (n == 0) continue;
                attn__mask_apply(p, b, h, i, jb, jb + n, sc);
                float mx = t->row_max(n, sc), mnew = mx > m[c] ? mx : m[c];
                if (mnew == -INFINITY) {
                    memset(pc, 0, sizeof(float) * (size_t)n);
                    continue;
                }
                alpha[c] = m[c] == -INFINITY ? 0.0f : expf(m[c] - mnew);
                float sum = t->exp_row(n, sc, mnew, pc);
                l[c] = l[c] * alpha[c] + sum;
                m[c] = mnew;
            }
            t->axpy_group[vh + 1](C, cnt, Dv, pr, SUB, Vr, ldv, alpha, Oc, Dv);
            continue;
        }
        for (int64_t c = 0; c < C; c++) {
            int64_t h = hk * p->group + c / p->Nq, i = c % p->Nq;
            int64_t n = attn__key_end(p, b, i) - jb;
            if (n <= 0) continue;
            if (n > cnt) n = cnt;
            if (kh < 0) t->dot_rows(n, D, Kr, ldk, Qs + c * D, s);
            else t->dot_rows_h[kh](n, D, Kr, ldk, Qs + c * D, s);
            attn__mask_apply(p, b, h, i, jb, jb + n, s);
            float mx = t->row_max(n, s), mnew = mx > m[c] ? mx : m[c];
            if (mnew == -INFINITY) continue;
            float alpha1 = m[c] == -INFINITY ? 0.0f : expf(m[c] - mnew);
            float sum = t->exp_row(n, s, mnew, pr);
            l[c] = l[c] * alpha1 + sum;
            m[c] = mnew;
            if (vh < 0) t->axpy_rows(n, Dv, pr, Vr, ldv, alpha1, Oc + c * Dv);
            else t->axpy_rows_h[vh](n, Dv, pr, Vr, ldv, alpha1, Oc + c * Dv);
        }
    }
    for (int64_t c = 0; c < C; c++) {
        float *out = partial(J, b, hk * p->group + c / p->Nq, c % p->Nq, chunk);
        out[0] = m[c];
        out[1] = l[c];
        memcpy(out + 2, Oc + c * Dv, sizeof(float) * (size_t)Dv);
    }
}

static void merge_item(void *ctx, int64_t row, int thread) {
    const dec_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    int64_t i = row % p->Nq, bh = row / p->Nq, b = bh / p->Hq, h = bh % p->Hq;
    double *acc = (double *)(void *)attn__scratch_of(&J->scratch, thread);
    float M = -INFINITY;
    for (int64_t c = 0; c < J->nchunks; c++) {
        float mc = partial(J, b, h, i, c)[0];
        M = mc > M ? mc : M;
    }
    double l = 0.0;
    for (int64_t e = 0; e < p->Dv; e++) acc[e] = 0.0;
    if (M != -INFINITY)
        for (int64_t c = 0; c < J->nchunks; c++) {
            const float *pc = partial(J, b, h, i, c);
            if (pc[0] == -INFINITY) continue;
            double w = exp((double)pc[0] - (double)M);
            l += w * pc[1];
            for (int64_t e = 0; e < p->Dv; e++) acc[e] += w * pc[2 + e];
        }
    float *o = J->o.data + b * J->o.stride[0] + h * J->o.stride[1] + i * J->o.stride[2];
    for (int64_t e = 0; e < p->Dv; e++)
        o[e * J->o.stride[3]] = l > 0.0 ? (float)(acc[e] / l) : 0.0f;
    if (J->lse)
        J->lse[(b * p->Hq + h) * p->Nq + i] = l > 0.0 ? (float)(M + log(l)) : -INFINITY;
}

attn_status_t attn__sdpa_forward_decode(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                        attn_src_t v, attn_dst_t o, float *lse) {
    dec_job J = {p, attn__tiles(), q, k, v, o, lse, (p->Nk + CHUNK - 1) / CHUNK, NULL,
                 {NULL, 0}};
    const int64_t C = p->group * p->Nq, rows = p->B * p->Hq * p->Nq;
    J.part = malloc(sizeof(float) * (size_t)(rows * J.nchunks * (p->Dv + 2)));
    if (!J.part)
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "decoding: cannot allocate partial results");
    int64_t items = p->B * p->Hkv * J.nchunks;
    const double flops = attn__sdpa_flops(p);
    int threads = attn__threads_for(items > rows ? items : rows, flops);
    size_t work = (size_t)(C * p->D + SUB * p->D + SUB * p->Dv + 2 * C * SUB + C * p->Dv + 3 * C);
    size_t merge = (size_t)(2 * p->Dv + 16);
    attn_status_t st = attn__scratch_alloc(&J.scratch, threads, work > merge ? work : merge,
                                           "decoding");
    if (st == ATTN_STATUS_OK) {
        attn__parallel_for(items, attn__threads_for(items, flops), chunk_item, &J);
        attn__parallel_for(rows, attn__threads_for(rows, flops), merge_item, &J);
    }
    free(J.scratch.mem);
    free(J.part);
    return st;
}
