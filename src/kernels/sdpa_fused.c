/* Fused attention: tiled, online softmax, extra memory linear in sequence length.
 *
 * Score tiles are held transposed, S^T[j][i] (key j, query i), so that the per-query softmax
 * statistics are vectors across queries and K and V tiles are used as rows, never transposed.
 *
 * Forward (one work item = batch b, query head h, block of BR queries):
 *     Qt = scale * Q_blk^T                (times log2 e: see LOG2E) [D x BR]
 *     for each block of BC keys that the causal rule and key_lens leave visible:
 *         S^T = K_blk Qt (+ bias, masks)                          [BC x BR]
 *         m' = max(m, colmax S^T); P^T = exp(S^T - m'); l = l exp(m - m') + colsum P^T
 *         O_acc = O_acc exp(m - m') + P V_blk                     [BR x Dv]
 *     O = O_acc / l, LSE = m + log l
 *
 * Backward (FlashAttention-2's recomputation, split so no two threads write the same rows):
 *     pass 0, item (b, h):             Di = rowsum(dO * O)
 *     pass 1, item (b, hkv, key blk):  for every query head of the group and query block:
 *                                      P^T = exp(S^T - LSE), dV += P^T dO, dP^T = V dO^T,
 *                                      dS^T = P^T * (dP^T - Di), dK += dS^T Q * scale
 *     pass 2, item (b, h, query blk):  dQ += dS K * scale over the visible key blocks
 *     pass 3, item (bias row):         dbias, summed over broadcast dimensions in a fixed order
 * Each item writes only its own rows and sums in an order fixed by the tiling alone, so results
 * are bitwise identical for any thread count. Tiles wholly hidden by the causal rule or key_lens
 * are never computed. The dense work goes through attn__tiles() (tiles.h). */
#include "kernels/sdpa.h"
#include "kernels/pack.h"
#include "kernels/tiles.h"
#include "core/runtime.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tile sizes: multiples of the micro-kernel's 6 rows and 16 columns (tiles.c). */
enum { BR = 96, BC = 96 };

/* Scores live in log2 units inside the tiles, so the softmax uses 2^x: Q is packed scaled by
 * scale * log2(e), a bias is added times log2(e), and LSE goes out times ln(2). */
#define LOG2E 1.44269504088896341f
#define LN2 0.69314718055994531f

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
/* query columns of a tile, padded to the vector width the softmax steps need */
static int64_t padded(int64_t rows) { return (rows + 15) / 16 * 16; }

/* First query whose visible keys reach key j (key_end is non-decreasing in i). */
static int64_t first_query_seeing(const attn__sdpa_t *p, int64_t b, int64_t j) {
    int64_t i = 0;
    if (p->causal == ATTN_CAUSAL_TOP_LEFT) i = j;
    else if (p->causal == ATTN_CAUSAL_BOTTOM_RIGHT) i = j - attn__key_len(p, b) + p->Nq;
    return i < 0 ? 0 : i;
}

/* Hides, in the transposed score tile St (keys j0.. by queries i0..), what the causal rule and
 * the mask hide, and adds the bias. Keys at or past key_lens never reach a tile. */
static void mask_tile(const attn__sdpa_t *p, int64_t b, int64_t h, int64_t i0, int64_t rows,
                      int64_t j0, int64_t cols, float *St) {
    if (p->causal != ATTN_CAUSAL_NONE && attn__key_end(p, b, i0) < j0 + cols)
        for (int64_t c = 0; c < cols; c++) {
            int64_t hidden = min64(first_query_seeing(p, b, j0 + c) - i0, rows);
            for (int64_t r = 0; r < hidden; r++) St[c * BR + r] = -INFINITY;
        }
    if (p->mask_kind == ATTN_MASK_NONE) return;
    int64_t base = attn__mask_row(p, b, h, i0), si = p->mask_stride[2], sj = p->mask_stride[3];
    for (int64_t c = 0; c < cols; c++) {
        float *s = St + c * BR;
        int64_t off = base + (j0 + c) * sj;
        if (p->mask_kind == ATTN_MASK_BOOL) {
            const uint8_t *m = (const uint8_t *)p->mask_data + off;
            for (int64_t r = 0; r < rows; r++)
                if (!m[r * si]) s[r] = -INFINITY;
        } else {
            const float *m = (const float *)p->mask_data + off;
            for (int64_t r = 0; r < rows; r++) s[r] += m[r * si] * LOG2E;
        }
    }
}

/* ---- forward ------------------------------------------------------------------------------ */

typedef struct {
    const attn__sdpa_t *p;
    const attn__tiles_t *t;
    attn_src_t q, k, v;
    attn_dst_t o;
    float *lse;
    int64_t nqb;
    attn__scratch_t scratch;
} fwd_job;

static size_t forward_scratch(const attn__sdpa_t *p) {
    return (size_t)(p->D * BR + BC * p->D + BC * p->Dv + BC * BR + BR * p->Dv + 3 * BR);
}

static void forward_item(void *ctx, int64_t item, int thread) {
    const fwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv;
    int64_t qb = item % J->nqb, bh = item / J->nqb, b = bh / p->Hq, h = bh % p->Hq;
    int64_t hk = h / p->group, i0 = qb * BR, rows = min64(BR, p->Nq - i0), n = padded(rows);

    float *Qt = attn__scratch_of(&J->scratch, thread);
    float *Kp = Qt + D * BR, *Vp = Kp + BC * D, *St = Vp + BC * Dv, *Oacc = St + BC * BR;
    float *m = Oacc + BR * Dv, *l = m + BR, *alpha = l + BR;

    attn__pack_cols(J->q, b, h, i0, rows, D, p->scale * LOG2E, Qt, BR);
    memset(Oacc, 0, sizeof(float) * (size_t)(rows * Dv));
    for (int64_t r = 0; r < BR; r++) { m[r] = -INFINITY; l[r] = 0.0f; }

    int64_t kend = attn__key_end(p, b, i0 + rows - 1); /* the last query sees the most keys */
    for (int64_t j0 = 0; j0 < kend; j0 += BC) {
        int64_t cols = min64(BC, kend - j0);
        int64_t ldk, ldv;
        const float *Kr = attn__tile_rows(t, J->k, b, hk, j0, cols, D, Kp, &ldk);
        const float *Vr = attn__tile_rows(t, J->v, b, hk, j0, cols, Dv, Vp, &ldv);
        t->gemm_nn(cols, n, D, Kr, ldk, Qt, BR, St, BR, 0);
        mask_tile(p, b, h, i0, rows, j0, cols, St);
        t->softmax_update(cols, n, St, BR, m, l, alpha);
        for (int64_t r = 0; r < rows; r++)
            if (alpha[r] != 1.0f) t->scale(Dv, alpha[r], Oacc + r * Dv);
        t->gemm_tn(rows, Dv, cols, St, BR, Vr, ldv, Oacc, Dv, 1);
    }
    float *lse = J->lse ? J->lse + (b * p->Hq + h) * p->Nq + i0 : NULL;
    for (int64_t r = 0; r < rows; r++) {
        if (l[r] > 0.0f) t->scale(Dv, 1.0f / l[r], Oacc + r * Dv);
        else memset(Oacc + r * Dv, 0, sizeof(float) * (size_t)Dv);
        if (lse) lse[r] = l[r] > 0.0f ? (m[r] + log2f(l[r])) * LN2 : -INFINITY;
    }
    attn__unpack_rows(J->o, b, h, i0, rows, Dv, Oacc, Dv, 1.0f);
}

attn_status_t attn__sdpa_forward_fused(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                       attn_src_t v, attn_dst_t o, float *lse) {
    if (attn__sdpa_use_decode(p)) return attn__sdpa_forward_decode(p, q, k, v, o, lse);
    fwd_job J = {p, attn__tiles(), q, k, v, o, lse, (p->Nq + BR - 1) / BR, {NULL, 0}};
    int64_t items = p->B * p->Hq * J.nqb;
    int threads = attn__threads_for(items);
    attn_status_t st = attn__scratch_alloc(&J.scratch, threads, forward_scratch(p), "fused forward");
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
    attn__scratch_t scratch;
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

/* The query side of a backward tile: Q^T scaled, dO^T, LSE (+inf where a row is fully hidden,
 * so that exp(s - LSE) = 0) and Di, each padded to BR columns. */
typedef struct {
    float *Qt, *dOt, *lse, *di;
} query_side;

static void pack_query_side(const bwd_job *J, int64_t b, int64_t h, int64_t i0, int64_t rows,
                            const query_side *qs) {
    const attn__sdpa_t *p = J->p;
    attn__pack_cols(J->q, b, h, i0, rows, p->D, p->scale * LOG2E, qs->Qt, BR);
    attn__pack_cols(J->d_o, b, h, i0, rows, p->Dv, 1.0f, qs->dOt, BR);
    const float *lse = J->lse + (b * p->Hq + h) * p->Nq + i0;
    const float *di = J->di + (b * p->Hq + h) * p->Nq + i0;
    for (int64_t r = 0; r < BR; r++) {
        qs->lse[r] = r < rows && lse[r] != -INFINITY ? lse[r] * LOG2E : INFINITY;
        qs->di[r] = r < rows ? di[r] : 0.0f;
    }
}

/* P^T and dS^T of one tile: St becomes P^T, dPt becomes dS^T. Kp, Vp: the key tile. */
static void grad_tile(const bwd_job *J, int64_t b, int64_t h, int64_t i0, int64_t rows,
                      int64_t j0, int64_t cols, const float *Kr, int64_t ldk, const float *Vr,
                      int64_t ldv, const query_side *qs, float *St, float *dPt) {
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    int64_t n = padded(rows);
    t->gemm_nn(cols, n, p->D, Kr, ldk, qs->Qt, BR, St, BR, 0);
    mask_tile(p, b, h, i0, rows, j0, cols, St);
    t->exp_sub(cols, n, St, BR, qs->lse);
    t->gemm_nn(cols, n, p->Dv, Vr, ldv, qs->dOt, BR, dPt, BR, 0);
    t->softmax_grad(cols, n, St, dPt, BR, qs->di);
}

static size_t backward_scratch(const attn__sdpa_t *p) {
    size_t query = (size_t)(p->D * BR + p->Dv * BR + 2 * BR);   /* Qt, dOt, lse, di */
    size_t keys = (size_t)(BC * p->D + BC * p->Dv);              /* Kp, Vp */
    size_t tiles = (size_t)(2 * BC * BR);                        /* St, dPt */
    size_t pass1 = (size_t)(BR * p->D + BR * p->Dv + BC * p->D + BC * p->Dv); /* Qp dOp dK dV */
    size_t pass2 = (size_t)(BR * p->D);                          /* dQ */
    size_t common = query + keys + tiles + (pass1 > pass2 ? pass1 : pass2);
    size_t pass3 = (size_t)(3 * p->Nk + 16);                     /* dbias: Nk doubles + Nk */
    return common > pass3 ? common : pass3;
}

/* pass 1: dK and dV for one block of keys, over every query head of its group */
static void dkdv_item(void *ctx, int64_t item, int thread) {
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv;
    int64_t kb = item % J->nkb, bh = item / J->nkb, b = bh / p->Hkv, hk = bh % p->Hkv;
    int64_t j0 = kb * BC, cols = min64(BC, p->Nk - j0);

    float *w = attn__scratch_of(&J->scratch, thread);
    query_side qs = {w, w + D * BR, w + (D + Dv) * BR, w + (D + Dv + 1) * BR};
    float *Kp = w + (D + Dv + 2) * BR, *Vp = Kp + BC * D, *St = Vp + BC * Dv, *dPt = St + BC * BR;
    float *Qp = dPt + BC * BR, *dOp = Qp + BR * D, *dK = dOp + BR * Dv, *dV = dK + BC * D;
    memset(dK, 0, sizeof(float) * (size_t)(cols * D));
    memset(dV, 0, sizeof(float) * (size_t)(cols * Dv));

    /* keys at or past key_lens[b] get zero gradients: leave them out of the tiles */
    int64_t live = min64(cols, attn__key_len(p, b) - j0);
    int64_t istart = live > 0 ? first_query_seeing(p, b, j0) : p->Nq;
    int64_t ldk = D, ldv = Dv;
    const float *Kr = Kp, *Vr = Vp;
    if (istart < p->Nq) {
        Kr = attn__tile_rows(t, J->k, b, hk, j0, live, D, Kp, &ldk);
        Vr = attn__tile_rows(t, J->v, b, hk, j0, live, Dv, Vp, &ldv);
    }
    for (int64_t h = hk * p->group; h < (hk + 1) * p->group; h++)
        for (int64_t i0 = istart / BR * BR; i0 < p->Nq; i0 += BR) {
            int64_t rows = min64(BR, p->Nq - i0);
            pack_query_side(J, b, h, i0, rows, &qs);
            int64_t ldq, ldo;
            const float *Qr = attn__tile_rows(t, J->q, b, h, i0, rows, D, Qp, &ldq);
            const float *dOr = attn__tile_rows(t, J->d_o, b, h, i0, rows, Dv, dOp, &ldo);
            grad_tile(J, b, h, i0, rows, j0, live, Kr, ldk, Vr, ldv, &qs, St, dPt);
            t->gemm_nn(live, Dv, rows, St, BR, dOr, ldo, dV, Dv, 1);
            t->gemm_nn(live, D, rows, dPt, BR, Qr, ldq, dK, D, 1);
        }
    attn__unpack_rows(J->dk, b, hk, j0, cols, D, dK, D, p->scale);
    attn__unpack_rows(J->dv, b, hk, j0, cols, Dv, dV, Dv, 1.0f);
}

/* pass 2: dQ for one block of queries */
static void dq_item(void *ctx, int64_t item, int thread) {
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv;
    int64_t qb = item % J->nqb, bh = item / J->nqb, b = bh / p->Hq, h = bh % p->Hq;
    int64_t hk = h / p->group, i0 = qb * BR, rows = min64(BR, p->Nq - i0);

    float *w = attn__scratch_of(&J->scratch, thread);
    query_side qs = {w, w + D * BR, w + (D + Dv) * BR, w + (D + Dv + 1) * BR};
    float *Kp = w + (D + Dv + 2) * BR, *Vp = Kp + BC * D, *St = Vp + BC * Dv, *dPt = St + BC * BR;
    float *dQ = dPt + BC * BR;
    memset(dQ, 0, sizeof(float) * (size_t)(rows * D));
    pack_query_side(J, b, h, i0, rows, &qs);
    int64_t kend = attn__key_end(p, b, i0 + rows - 1);
    for (int64_t j0 = 0; j0 < kend; j0 += BC) {
        int64_t cols = min64(BC, kend - j0);
        int64_t ldk, ldv;
        const float *Kr = attn__tile_rows(t, J->k, b, hk, j0, cols, D, Kp, &ldk);
        const float *Vr = attn__tile_rows(t, J->v, b, hk, j0, cols, Dv, Vp, &ldv);
        grad_tile(J, b, h, i0, rows, j0, cols, Kr, ldk, Vr, ldv, &qs, St, dPt);
        t->gemm_tn(rows, D, cols, dPt, BR, Kr, ldk, dQ, D, 1);
    }
    attn__unpack_rows(J->dq, b, h, i0, rows, D, dQ, D, p->scale);
}

/* pass 3: one row (bm, hm, qm) of the bias gradient, summed over the (b, h, i) it broadcast
 * to, in index order. Scalar and row by row: a learned bias is the rare case. */
static void dbias_item(void *ctx, int64_t item, int thread) {
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const int64_t *ms = p->mask_shape;
    int64_t qm = item % ms[2], hm = item / ms[2] % ms[1], bm = item / (ms[2] * ms[1]);
    double *acc = (double *)(void *)attn__scratch_of(&J->scratch, thread);
    float *s = (float *)(acc + p->Nk);
    memset(acc, 0, sizeof(double) * (size_t)p->Nk);
    const float *dO = attn__f32(J->d_o);
    for (int64_t b = ms[0] > 1 ? bm : 0; b < (ms[0] > 1 ? bm + 1 : p->B); b++)
        for (int64_t h = ms[1] > 1 ? hm : 0; h < (ms[1] > 1 ? hm + 1 : p->Hq); h++)
            for (int64_t i = ms[2] > 1 ? qm : 0; i < (ms[2] > 1 ? qm + 1 : p->Nq); i++) {
                float lse = J->lse[(b * p->Hq + h) * p->Nq + i];
                if (lse == -INFINITY) continue;
                float di = J->di[(b * p->Hq + h) * p->Nq + i];
                int64_t hk = h / p->group, end = attn__key_end(p, b, i);
                int64_t qi = b * J->q.stride[0] + h * J->q.stride[1] + i * J->q.stride[2];
                const float *gi = dO + b * J->d_o.stride[0] + h * J->d_o.stride[1] +
                                  i * J->d_o.stride[2];
                for (int64_t j = 0; j < end; j++) {
                    int64_t kj = b * J->k.stride[0] + hk * J->k.stride[1] + j * J->k.stride[2];
                    float dot = 0.0f;
                    for (int64_t d = 0; d < p->D; d++)
                        dot += attn__get(J->q, qi + d * J->q.stride[3]) *
                               attn__get(J->k, kj + d * J->k.stride[3]);
                    s[j] = dot * p->scale;
                }
                attn__mask_apply(p, b, h, i, 0, end, s);
                for (int64_t j = 0; j < end; j++) {
                    if (s[j] == -INFINITY) continue;
                    int64_t vj = b * J->v.stride[0] + hk * J->v.stride[1] + j * J->v.stride[2];
                    float dp = 0.0f;
                    for (int64_t e = 0; e < p->Dv; e++)
                        dp += gi[e * J->d_o.stride[3]] * attn__get(J->v, vj + e * J->v.stride[3]);
                    acc[j] += (double)(expf(s[j] - lse) * (dp - di));
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
    J.di = malloc(sizeof(float) * (size_t)(p->B * p->Hq * p->Nq));
    if (!J.di)
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "fused backward: cannot allocate %lld "
                          "row sums", (long long)(p->B * p->Hq * p->Nq));
    int64_t bh = p->B * p->Hq;
    attn__parallel_for(bh, attn__threads_for(bh), delta_item, &J);

    int64_t items1 = p->B * p->Hkv * J.nkb, items2 = bh * J.nqb;
    int threads = attn__threads_for(items1 > items2 ? items1 : items2);
    attn_status_t st = attn__scratch_alloc(&J.scratch, threads, backward_scratch(p), "fused backward");
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
