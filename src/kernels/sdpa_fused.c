/* Fused attention: tiled, online softmax, extra memory linear in sequence length.
 *
 * Forward (one work item = batch b, query head h, block of BR queries):
 *     for each block of BC keys the causal rule and key_lens leave visible:
 *         S = Q_blk K_blk^T * scale (+ bias, masks)        [BR x BC]
 *         m_new = max(m, rowmax S); P = exp(S - m_new); l = l * exp(m - m_new) + rowsum P
 *         O_acc = O_acc * exp(m - m_new) + P V_blk          [BR x Dv]
 *     O = O_acc / l, LSE = m + log l
 *
 * Backward (FlashAttention-2's recomputation, split so no two threads write the same rows):
 *     pass 0, item (b, h):            Di = rowsum(dO * O)
 *     pass 1, item (b, hkv, key blk): for every query head of the group and query block:
 *                                     P = exp(S - LSE), dV += P^T dO, dP = dO V^T,
 *                                     dS = P * (dP - Di), dK += dS^T Q * scale
 *     pass 2, item (b, h, query blk): dQ += dS K * scale over the visible key blocks
 *     pass 3, item (bias row):        dbias, summed over the broadcast dimensions in a fixed order
 * Each item writes only its own rows and sums in an order fixed by the tiling alone, so results
 * are bitwise identical for any thread count. Tiles wholly hidden by the causal rule or key_lens
 * are never computed. The dense work goes through attn__tiles() (tiles.h). */
#include "kernels/sdpa.h"
#include "kernels/tiles.h"
#include "core/runtime.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { BR = 64, BC = 64 };

/* ---- packing: strided fp32 tensor rows into contiguous tiles ------------------------------ */

/* dst[r * ld + d] = T[b, h, n0 + r, d] for r < rows, d < dim */
static void pack_rows(attn_src_t t, int64_t b, int64_t h, int64_t n0, int64_t rows, int64_t dim,
                      float *dst, int64_t ld) {
    const float *base = attn__f32(t) + b * t.stride[0] + h * t.stride[1] + n0 * t.stride[2];
    int64_t sn = t.stride[2], sd = t.stride[3];
    for (int64_t r = 0; r < rows; r++) {
        const float *src = base + r * sn;
        if (sd == 1) memcpy(dst + r * ld, src, sizeof(float) * (size_t)dim);
        else for (int64_t d = 0; d < dim; d++) dst[r * ld + d] = src[d * sd];
    }
}

/* dst[d * ld + r] = T[b, h, n0 + r, d]: the transposed tile */
static void pack_cols(attn_src_t t, int64_t b, int64_t h, int64_t n0, int64_t rows, int64_t dim,
                      float *dst, int64_t ld) {
    const float *base = attn__f32(t) + b * t.stride[0] + h * t.stride[1] + n0 * t.stride[2];
    int64_t sn = t.stride[2], sd = t.stride[3];
    for (int64_t r = 0; r < rows; r++) {
        const float *src = base + r * sn;
        for (int64_t d = 0; d < dim; d++) dst[d * ld + r] = src[d * sd];
    }
}

/* T[b, h, n0 + r, d] = a * src[r * ld + d] */
static void unpack_rows(attn_dst_t t, int64_t b, int64_t h, int64_t n0, int64_t rows,
                        int64_t dim, const float *src, int64_t ld, float a) {
    float *base = t.data + b * t.stride[0] + h * t.stride[1] + n0 * t.stride[2];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t d = 0; d < dim; d++) base[r * t.stride[2] + d * t.stride[3]] = a * src[r * ld + d];
}

/* Scales row r of a score tile and hides the keys the causal rule, key_lens or the mask hide:
 * s[0..cols) holds keys j0 .. j0 + cols - 1 of query i. */
static void finish_scores(const attn__sdpa_t *p, const attn__tiles_t *t, int64_t b, int64_t h,
                          int64_t i, int64_t j0, int64_t cols, float *s) {
    t->scale(cols, p->scale, s);
    int64_t end = attn__key_end(p, b, i) - j0;
    for (int64_t c = end < 0 ? 0 : end; c < cols; c++) s[c] = -INFINITY;
    attn__mask_apply(p, b, h, i, j0, j0 + cols, s);
}

/* Per-thread scratch: one allocation per thread, carved into tiles. */
typedef struct {
    float *mem;
    size_t per_thread;
} scratch_t;

static attn_status_t scratch_alloc(scratch_t *s, int threads, size_t floats, const char *what) {
    floats = (floats + 15) & ~(size_t)15; /* keep every thread's block 64-byte aligned */
    s->per_thread = floats;
    void *mem = NULL;
    if (posix_memalign(&mem, 64, sizeof(float) * floats * (size_t)threads) != 0) {
        s->mem = NULL;
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of scratch",
                          what, sizeof(float) * floats * (size_t)threads);
    }
    s->mem = mem;
    return ATTN_STATUS_OK;
}

static float *scratch_of(const scratch_t *s, int thread) {
    return s->mem + s->per_thread * (size_t)thread;
}

/* ---- forward ------------------------------------------------------------------------------ */

typedef struct {
    const attn__sdpa_t *p;
    const attn__tiles_t *t;
    attn_src_t q, k, v;
    attn_dst_t o;
    float *lse;
    int64_t nqb;
    scratch_t scratch;
} fwd_job;

static void forward_item(void *ctx, int64_t item, int thread) {
    const fwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv;
    int64_t qb = item % J->nqb, bh = item / J->nqb, b = bh / p->Hq, h = bh % p->Hq;
    int64_t hk = h / p->group, i0 = qb * BR, rows = p->Nq - i0 < BR ? p->Nq - i0 : BR;

    float *Qp = scratch_of(&J->scratch, thread);
    float *Kt = Qp + BR * D, *Vp = Kt + D * BC, *S = Vp + BC * Dv, *P = S + BR * BC;
    float *Oacc = P + BR * BC, *m = Oacc + BR * Dv, *l = m + BR;

    pack_rows(J->q, b, h, i0, rows, D, Qp, D);
    memset(Oacc, 0, sizeof(float) * (size_t)(rows * Dv));
    for (int64_t r = 0; r < rows; r++) { m[r] = -INFINITY; l[r] = 0.0f; }

    int64_t kend = attn__key_end(p, b, i0 + rows - 1); /* the last row sees the most keys */
    for (int64_t j0 = 0; j0 < kend; j0 += BC) {
        int64_t cols = kend - j0 < BC ? kend - j0 : BC;
        pack_cols(J->k, b, hk, j0, cols, D, Kt, BC);
        pack_rows(J->v, b, hk, j0, cols, Dv, Vp, Dv);
        t->gemm_nn(rows, cols, D, Qp, D, Kt, BC, S, BC, 0);
        for (int64_t r = 0; r < rows; r++) {
            float *s = S + r * BC, *pr = P + r * BC;
            finish_scores(p, t, b, h, i0 + r, j0, cols, s);
            float mx = -INFINITY;
            for (int64_t c = 0; c < cols; c++) mx = s[c] > mx ? s[c] : mx;
            float mnew = mx > m[r] ? mx : m[r];
            if (mnew == -INFINITY) { /* nothing visible in this row yet */
                memset(pr, 0, sizeof(float) * (size_t)cols);
                continue;
            }
            float alpha = m[r] == -INFINITY ? 0.0f : expf(m[r] - mnew);
            float sum = t->exp_sum(cols, s, mnew, pr);
            l[r] = l[r] * alpha + sum;
            if (alpha != 1.0f) t->scale(Dv, alpha, Oacc + r * Dv);
            m[r] = mnew;
        }
        t->gemm_nn(rows, Dv, cols, P, BC, Vp, Dv, Oacc, Dv, 1);
    }
    float *lse = J->lse ? J->lse + (b * p->Hq + h) * p->Nq + i0 : NULL;
    for (int64_t r = 0; r < rows; r++) {
        float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        if (l[r] > 0.0f) t->scale(Dv, inv, Oacc + r * Dv);
        else memset(Oacc + r * Dv, 0, sizeof(float) * (size_t)Dv);
        if (lse) lse[r] = l[r] > 0.0f ? m[r] + logf(l[r]) : -INFINITY;
    }
    unpack_rows(J->o, b, h, i0, rows, Dv, Oacc, Dv, 1.0f);
}

attn_status_t attn__sdpa_forward_fused(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                       attn_src_t v, attn_dst_t o, float *lse) {
    fwd_job J = {p, attn__tiles(), q, k, v, o, lse, (p->Nq + BR - 1) / BR, {NULL, 0}};
    int64_t items = p->B * p->Hq * J.nqb;
    int threads = attn__threads_for(items);
    size_t floats = (size_t)(BR * p->D + p->D * BC + BC * p->Dv + 2 * BR * BC + BR * p->Dv +
                             2 * BR);
    attn_status_t st = scratch_alloc(&J.scratch, threads, floats, "fused forward");
    if (st != ATTN_STATUS_OK) return st;
    attn__parallel_for(items, threads, forward_item, &J);
    free(J.scratch.mem);
    return ATTN_STATUS_OK;
}

/* ---- backward ----------------------------------------------------------------------------- */

typedef struct {
    const attn__sdpa_t *p;
    const attn__tiles_t *t;
    attn_src_t q, k, v, o, d_o;
    const float *lse;
    attn_dst_t dq, dk, dv, dbias;
    float *di; /* [B, Hq, Nq] rowsum(dO * O) */
    int64_t nqb, nkb;
    scratch_t scratch;
} bwd_job;

/* pass 0: Di = rowsum(dO * O), summed in double in index order */
static void delta_item(void *ctx, int64_t bh, int thread) {
    (void)thread;
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    int64_t b = bh / p->Hq, h = bh % p->Hq;
    const float *O = attn__f32(J->o), *dO = attn__f32(J->d_o);
    for (int64_t i = 0; i < p->Nq; i++) {
        const float *orow = O + b * J->o.stride[0] + h * J->o.stride[1] + i * J->o.stride[2];
        const float *grow = dO + b * J->d_o.stride[0] + h * J->d_o.stride[1] + i * J->d_o.stride[2];
        double acc = 0.0;
        for (int64_t e = 0; e < p->Dv; e++)
            acc += (double)orow[e * J->o.stride[3]] * (double)grow[e * J->d_o.stride[3]];
        J->di[bh * p->Nq + i] = (float)acc;
    }
}

/* From a score tile S (rows x cols, keys j0..) and dP = dO V^T: P = exp(S - LSE) and
 * dS = P * (dP - Di), in place of S and dP. Rows whose keys are all hidden give zeros. */
static void grad_tile(const bwd_job *J, int64_t b, int64_t h, int64_t i0, int64_t rows,
                      int64_t j0, int64_t cols, float *S, float *dP, float *P) {
    const attn__sdpa_t *p = J->p;
    const float *lse = J->lse + (b * p->Hq + h) * p->Nq + i0;
    const float *di = J->di + (b * p->Hq + h) * p->Nq + i0;
    for (int64_t r = 0; r < rows; r++) {
        float *s = S + r * BC, *pr = P + r * BC, *dp = dP + r * BC;
        if (lse[r] == -INFINITY) {
            memset(pr, 0, sizeof(float) * (size_t)cols);
            memset(dp, 0, sizeof(float) * (size_t)cols);
            continue;
        }
        finish_scores(p, J->t, b, h, i0 + r, j0, cols, s);
        J->t->exp_sum(cols, s, lse[r], pr);
        for (int64_t c = 0; c < cols; c++) dp[c] = pr[c] * (dp[c] - di[r]);
    }
}

/* First query whose visible keys reach key j0 (key_end is non-decreasing in i). */
static int64_t first_query_seeing(const attn__sdpa_t *p, int64_t b, int64_t j0) {
    int64_t i = 0;
    if (p->causal == ATTN_CAUSAL_TOP_LEFT) i = j0;
    else if (p->causal == ATTN_CAUSAL_BOTTOM_RIGHT) i = j0 - attn__key_len(p, b) + p->Nq;
    return i < 0 ? 0 : i;
}

/* pass 1: dK and dV for one block of keys, over every query head of its group */
static void dkdv_item(void *ctx, int64_t item, int thread) {
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv;
    int64_t kb = item % J->nkb, bh = item / J->nkb, b = bh / p->Hkv, hk = bh % p->Hkv;
    int64_t j0 = kb * BC, cols = p->Nk - j0 < BC ? p->Nk - j0 : BC;

    float *Kt = scratch_of(&J->scratch, thread);
    float *Vt = Kt + D * BC, *Qp = Vt + Dv * BC, *dOp = Qp + BR * D, *S = dOp + BR * Dv;
    float *dP = S + BR * BC, *P = dP + BR * BC, *dK = P + BR * BC, *dV = dK + BC * D;
    memset(dK, 0, sizeof(float) * (size_t)(cols * D));
    memset(dV, 0, sizeof(float) * (size_t)(cols * Dv));

    int64_t istart = j0 < attn__key_len(p, b) ? first_query_seeing(p, b, j0) : p->Nq;
    if (istart < p->Nq) {
        pack_cols(J->k, b, hk, j0, cols, D, Kt, BC);
        pack_cols(J->v, b, hk, j0, cols, Dv, Vt, BC);
    }
    for (int64_t h = hk * p->group; h < (hk + 1) * p->group; h++)
        for (int64_t i0 = istart / BR * BR; i0 < p->Nq; i0 += BR) {
            int64_t rows = p->Nq - i0 < BR ? p->Nq - i0 : BR;
            pack_rows(J->q, b, h, i0, rows, D, Qp, D);
            pack_rows(J->d_o, b, h, i0, rows, Dv, dOp, Dv);
            t->gemm_nn(rows, cols, D, Qp, D, Kt, BC, S, BC, 0);
            t->gemm_nn(rows, cols, Dv, dOp, Dv, Vt, BC, dP, BC, 0);
            grad_tile(J, b, h, i0, rows, j0, cols, S, dP, P);
            t->gemm_tn(cols, Dv, rows, P, BC, dOp, Dv, dV, Dv);
            t->gemm_tn(cols, D, rows, dP, BC, Qp, D, dK, D);
        }
    unpack_rows(J->dk, b, hk, j0, cols, D, dK, D, p->scale);
    unpack_rows(J->dv, b, hk, j0, cols, Dv, dV, Dv, 1.0f);
}

/* pass 2: dQ for one block of queries */
static void dq_item(void *ctx, int64_t item, int thread) {
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv;
    int64_t qb = item % J->nqb, bh = item / J->nqb, b = bh / p->Hq, h = bh % p->Hq;
    int64_t hk = h / p->group, i0 = qb * BR, rows = p->Nq - i0 < BR ? p->Nq - i0 : BR;

    float *Kt = scratch_of(&J->scratch, thread);
    float *Vt = Kt + D * BC, *Qp = Vt + Dv * BC, *dOp = Qp + BR * D, *S = dOp + BR * Dv;
    float *dP = S + BR * BC, *P = dP + BR * BC, *Kp = P + BR * BC, *dQ = Kp + BC * D;
    memset(dQ, 0, sizeof(float) * (size_t)(rows * D));
    pack_rows(J->q, b, h, i0, rows, D, Qp, D);
    pack_rows(J->d_o, b, h, i0, rows, Dv, dOp, Dv);
    int64_t kend = attn__key_end(p, b, i0 + rows - 1);
    for (int64_t j0 = 0; j0 < kend; j0 += BC) {
        int64_t cols = kend - j0 < BC ? kend - j0 : BC;
        pack_cols(J->k, b, hk, j0, cols, D, Kt, BC);
        pack_rows(J->k, b, hk, j0, cols, D, Kp, D);
        pack_cols(J->v, b, hk, j0, cols, Dv, Vt, BC);
        t->gemm_nn(rows, cols, D, Qp, D, Kt, BC, S, BC, 0);
        t->gemm_nn(rows, cols, Dv, dOp, Dv, Vt, BC, dP, BC, 0);
        grad_tile(J, b, h, i0, rows, j0, cols, S, dP, P);
        t->gemm_nn(rows, D, cols, dP, BC, Kp, D, dQ, D, 1);
    }
    unpack_rows(J->dq, b, h, i0, rows, D, dQ, D, p->scale);
}

/* pass 3: one row (bm, hm, qm) of the bias gradient, summed over the (b, h, i) it broadcast
 * to, in index order. Scalar and row by row: a learned bias is the rare case. */
static void dbias_item(void *ctx, int64_t item, int thread) {
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const int64_t *ms = p->mask_shape;
    int64_t qm = item % ms[2], hm = item / ms[2] % ms[1], bm = item / (ms[2] * ms[1]);
    double *acc = (double *)(void *)scratch_of(&J->scratch, thread);
    float *s = (float *)(acc + p->Nk);
    memset(acc, 0, sizeof(double) * (size_t)p->Nk);
    const float *Q = attn__f32(J->q), *K = attn__f32(J->k), *V = attn__f32(J->v);
    const float *dO = attn__f32(J->d_o);
    for (int64_t b = ms[0] > 1 ? bm : 0; b < (ms[0] > 1 ? bm + 1 : p->B); b++)
        for (int64_t h = ms[1] > 1 ? hm : 0; h < (ms[1] > 1 ? hm + 1 : p->Hq); h++)
            for (int64_t i = ms[2] > 1 ? qm : 0; i < (ms[2] > 1 ? qm + 1 : p->Nq); i++) {
                float lse = J->lse[(b * p->Hq + h) * p->Nq + i];
                if (lse == -INFINITY) continue;
                float di = J->di[(b * p->Hq + h) * p->Nq + i];
                int64_t hk = h / p->group, end = attn__key_end(p, b, i);
                const float *qi = Q + b * J->q.stride[0] + h * J->q.stride[1] + i * J->q.stride[2];
                const float *gi = dO + b * J->d_o.stride[0] + h * J->d_o.stride[1] +
                                  i * J->d_o.stride[2];
                for (int64_t j = 0; j < end; j++) {
                    const float *kj = K + b * J->k.stride[0] + hk * J->k.stride[1] + j * J->k.stride[2];
                    float dot = 0.0f;
                    for (int64_t d = 0; d < p->D; d++)
                        dot += qi[d * J->q.stride[3]] * kj[d * J->k.stride[3]];
                    s[j] = dot * p->scale;
                }
                attn__mask_apply(p, b, h, i, 0, end, s);
                for (int64_t j = 0; j < end; j++) {
                    if (s[j] == -INFINITY) continue;
                    const float *vj = V + b * J->v.stride[0] + hk * J->v.stride[1] + j * J->v.stride[2];
                    float dp = 0.0f;
                    for (int64_t e = 0; e < p->Dv; e++)
                        dp += gi[e * J->d_o.stride[3]] * vj[e * J->v.stride[3]];
                    float pj = expf(s[j] - lse);
                    acc[j] += (double)(pj * (dp - di));
                }
            }
    float *out = J->dbias.data + bm * J->dbias.stride[0] + hm * J->dbias.stride[1] +
                 qm * J->dbias.stride[2];
    if (ms[3] > 1) {
        for (int64_t j = 0; j < p->Nk; j++) out[j * J->dbias.stride[3]] = (float)acc[j];
    } else {
        double total = 0.0;
        for (int64_t j = 0; j < p->Nk; j++) total += acc[j];
        out[0] = (float)total;
    }
}

attn_status_t attn__sdpa_backward_fused(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                        attn_src_t v, attn_src_t o, const float *lse,
                                        attn_src_t d_o, attn_dst_t dq, attn_dst_t dk,
                                        attn_dst_t dv, attn_dst_t dbias) {
    bwd_job J = {p, attn__tiles(), q, k, v, o, d_o, lse, dq, dk, dv, dbias, NULL,
                 (p->Nq + BR - 1) / BR, (p->Nk + BC - 1) / BC, {NULL, 0}};
    attn_status_t st;
    J.di = malloc(sizeof(float) * (size_t)(p->B * p->Hq * p->Nq));
    if (!J.di)
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "fused backward: cannot allocate %lld "
                          "row sums", (long long)(p->B * p->Hq * p->Nq));
    int64_t bh = p->B * p->Hq;
    attn__parallel_for(bh, attn__threads_for(bh), delta_item, &J);

    /* one scratch size serves passes 1 and 2 (pass 3 needs Nk doubles + Nk floats) */
    size_t tiles = (size_t)(p->D * BC + p->Dv * BC + BR * p->D + BR * p->Dv + 3 * BR * BC +
                            BC * p->D + (BC * p->Dv > BR * p->D ? BC * p->Dv : BR * p->D));
    size_t row = (size_t)(3 * p->Nk + 16);
    int64_t items1 = p->B * p->Hkv * J.nkb, items2 = bh * J.nqb;
    int64_t most = items1 > items2 ? items1 : items2;
    int threads = attn__threads_for(most);
    st = scratch_alloc(&J.scratch, threads, tiles > row ? tiles : row, "fused backward");
    if (st == ATTN_STATUS_OK) {
        attn__parallel_for(items1, attn__threads_for(items1), dkdv_item, &J);
        attn__parallel_for(items2, attn__threads_for(items2), dq_item, &J);
        if (dbias.data && p->mask_kind == ATTN_MASK_BIAS) {
            int64_t rows = p->mask_shape[0] * p->mask_shape[1] * p->mask_shape[2];
            attn__parallel_for(rows, attn__threads_for(rows), dbias_item, &J);
        }
    }
    free(J.scratch.mem);
    free(J.di);
    return st;
}
