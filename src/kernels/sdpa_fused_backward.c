/* Fused attention backward: FlashAttention-2's recomputation from Q, K, V, O, dO and LSE,
 * with memory linear in sequence length and no atomics.
 *
 *     pass 0, item (b, h, query blk):  Di = rowsum(dO * O), and the query side of every tile
 *                                      packed once: Q^T (scaled), dO^T, LSE, Di
 *     pass 1, item (b, hkv, key group g): for each key block of the group, each query head of
 *                                      the kv head's group and each visible query block:
 *                                          P^T  = exp(S^T - LSE)        S^T = K Q^T * scale
 *                                          dV  += P^T dO
 *                                          dP^T = V dO^T
 *                                          dS^T = P^T * (dP^T - Di)
 *                                          dK  += dS^T Q * scale
 *                                          dQ_g += dS K                 (a partial per group)
 *     pass 2, item (b, h, query blk):  dQ = scale * sum over g of dQ_g, in group order
 *     pass 3, item (bias row):         dbias, summed over broadcast dimensions in index order
 *
 * dK and dV rows belong to one item each. dQ gets a contribution from every key block; instead
 * of atomics (FlashAttention-2) or recomputing the tiles a second time, the keys are split
 * into G groups fixed by the shape alone (never by the thread count), each group's item sums
 * its own dQ_g in a fixed order, and pass 2 adds the G partials in order. So the result is
 * bitwise identical for any thread count, at the price of G copies of dQ in memory (G <= 4).
 * Tiles the causal rule cuts skip their void part, as the forward's do (tile_step). */
#include "kernels/sdpa.h"
#include "kernels/pack.h"
#include "kernels/sdpa_fused.h"
#include "kernels/tiles.h"
#include "core/runtime.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const attn__sdpa_t *p;
    const attn__tiles_t *t;
    attn_src_t q, k, v, o, d_o;
    const float *lse;
    attn_dst_t dq, dk, dv, dbias;
    int64_t nqb, nkb, groups;
    int64_t pw;      /* columns of a packed query block: BR, or fewer for short queries */
    size_t side;     /* floats of one packed query block: Qt, dOt, lse, di */
    float *packed;   /* [B, Hq, nqb] packed query blocks */
    float *di;       /* [B, Hq, Nq] rowsum(dO * O) */
    float *dq_part;  /* [groups, B, Hq, Nq, D] */
    attn__scratch_t scratch;
} bwd_job;

typedef struct {
    const float *Qt, *dOt, *lse, *di;
} query_side;

static query_side side_at(const bwd_job *J, const float *base) {
    const attn__sdpa_t *p = J->p;
    const int64_t pw = J->pw;
    query_side qs = {base, base + p->D * pw, base + (p->D + p->Dv) * pw,
                     base + (p->D + p->Dv + 1) * pw};
    return qs;
}

/* The query side of block qb of head (b, h) into base (J->side floats), and its Di into di:
 * Di in double in index order; the packed side padded to pw columns (LSE is +inf where a row
 * is fully hidden, so that 2^(s - LSE) = 0). */
static void pack_side(const bwd_job *J, int64_t b, int64_t h, int64_t qb, float *base,
                      float *di) {
    const attn__sdpa_t *p = J->p;
    const int64_t bh = b * p->Hq + h;
    int64_t i0 = qb * BR, rows = attn__min64(BR, p->Nq - i0);
    const float *O = attn__f32(J->o), *dO = attn__f32(J->d_o);
    /* four rows at a time: four independent chains of double adds (each row's sum in index
     * order, as one row alone would have it) */
    const int64_t so = J->o.stride[3], sg = J->d_o.stride[3];
    for (int64_t r0 = 0; r0 < rows; r0 += 4) {
        const float *orow[4], *grow[4];
        double acc[4] = {0.0, 0.0, 0.0, 0.0};
        for (int64_t k = 0; k < 4; k++) {
            int64_t i = i0 + (r0 + k < rows ? r0 + k : r0); /* (a repeat past the end) */
            orow[k] = O + b * J->o.stride[0] + h * J->o.stride[1] + i * J->o.stride[2];
            grow[k] = dO + b * J->d_o.stride[0] + h * J->d_o.stride[1] + i * J->d_o.stride[2];
        }
        for (int64_t e = 0; e < p->Dv; e++)
            for (int64_t k = 0; k < 4; k++)
                acc[k] += (double)orow[k][e * so] * (double)grow[k][e * sg];
        for (int64_t k = 0; k < 4 && r0 + k < rows; k++) di[r0 + k] = (float)acc[k];
    }
    const int64_t pw = J->pw;
    attn__pack_cols(J->q, b, h, i0, rows, p->D, p->scale * LOG2E, base, pw);
    attn__pack_cols(J->d_o, b, h, i0, rows, p->Dv, 1.0f, base + p->D * pw, pw);
    float *lse = base + (p->D + p->Dv) * pw, *dpad = lse + pw;
    const float *l = J->lse + bh * p->Nq + i0;
    for (int64_t r = 0; r < pw; r++) {
        lse[r] = r < rows && l[r] != -INFINITY ? l[r] * LOG2E : INFINITY;
        dpad[r] = r < rows ? di[r] : 0.0f;
    }
}

/* pass 0: the query side of one block, into the packed array */
static void query_item(void *ctx, int64_t item, int thread) {
    (void)thread;
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    int64_t qb = item % J->nqb, bh = item / J->nqb;
    pack_side(J, bh / p->Hq, bh % p->Hq, qb, J->packed + item * J->side,
              J->di + bh * p->Nq + qb * BR);
}

/* P^T and dS^T of one tile: St becomes P^T, dPt becomes dS^T. On a tile the causal rule cuts,
 * need_rows (attn__causal_limits) says which keys each block of query columns needs: S^T and
 * dP^T skip the rest, which the mask sets to -inf in S^T (so P = 0 there) and which are zeros
 * in dP^T (so dS = 0 there, whatever an earlier tile left in this scratch). */
static void grad_tile(const bwd_job *J, int64_t b, int64_t h, int64_t i0, int64_t rows,
                      int64_t j0, int64_t cols, const float *Kr, int64_t ldk, const float *Vr,
                      int64_t ldv, const query_side *qs, const int32_t *need_rows, float *St,
                      float *dPt) {
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    int64_t n = attn__padded(rows);
    if (need_rows) t->gemm_nn_rows(cols, n, p->D, Kr, ldk, qs->Qt, J->pw, St, BR, 0, need_rows);
    else t->gemm_nn(cols, n, p->D, Kr, ldk, qs->Qt, J->pw, St, BR, 0);
    attn__mask_tile(p, b, h, i0, rows, j0, cols, St, BR);
    t->exp_sub(cols, n, St, BR, qs->lse);
    if (need_rows) {
        memset(dPt, 0, sizeof(float) * (size_t)(cols * BR));
        t->gemm_nn_rows(cols, n, p->Dv, Vr, ldv, qs->dOt, J->pw, dPt, BR, 0, need_rows);
    } else {
        t->gemm_nn(cols, n, p->Dv, Vr, ldv, qs->dOt, J->pw, dPt, BR, 0);
    }
    /* with dropout O = (P o Z) V: dP = (V dO^T) o Z before the softmax's gradient (Di =
     * rowsum(dO * O) stays right), and dV takes P o Z */
    if (p->drop_p > 0.0f) attn__drop_tile(p, t, b, h, i0, rows, j0, cols, dPt, BR);
    t->softmax_grad(cols, n, St, dPt, BR, qs->di);
    if (p->drop_p > 0.0f) attn__drop_tile(p, t, b, h, i0, rows, j0, cols, St, BR);
}

static size_t backward_scratch(const attn__sdpa_t *p) {
    size_t keys = (size_t)(BC * p->D + BC * p->Dv);          /* K, V tiles when converted */
    size_t tiles = (size_t)(2 * BC * BR);                    /* St, dPt */
    size_t rows = (size_t)(BR * p->D + BR * p->Dv);          /* Q, dO tiles when converted */
    size_t acc = (size_t)(BC * p->D + BC * p->Dv);           /* dK, dV */
    size_t pass1 = keys + tiles + rows + acc;
    size_t pass3 = (size_t)(3 * p->Nk + 16);                 /* dbias: Nk doubles + Nk */
    return pass1 > pass3 ? pass1 : pass3;
}

/* One tile (query block at i0, key block at j0) of pass 1: dV and dK of the key block, and
 * dq (row stride D) of the query block, all accumulated */
typedef struct {
    float *Qp, *dOp, *St, *dPt;
} tile_bufs;

static void tile_step(const bwd_job *J, int64_t b, int64_t h, int64_t i0, int64_t rows,
                      int64_t j0, int64_t live, const float *Kr, int64_t ldk, const float *Vr,
                      int64_t ldv, const float *side, const tile_bufs *w, float *dK, float *dV,
                      float *dq) {
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv;
    int64_t ldq, ldo;
    query_side qs = side_at(J, side);
    const float *Qr = attn__tile_rows(t, J->q, b, h, i0, rows, D, w->Qp, &ldq);
    const float *dOr = attn__tile_rows(t, J->d_o, b, h, i0, rows, Dv, w->dOp, &ldo);
    /* a tile the causal rule cuts: each block of queries needs only a prefix of the keys (in
     * S^T, dP^T and dQ), and each block of keys only a suffix of the queries (in dV and dK) */
    int32_t need_rows[BR], need_keys[BR], first_query[BC]; /* per block of nr or mr */
    const int diagonal = p->causal != ATTN_CAUSAL_NONE && attn__key_end(p, b, i0) < j0 + live;
    if (diagonal) {
        attn__causal_limits(p, t, b, i0, rows, j0, live, attn__padded(rows), need_rows, need_keys);
        for (int64_t c0 = 0, k = 0; c0 < live; c0 += t->mr, k++) {
            int64_t f = attn__first_query_seeing(p, b, j0 + c0) - i0;
            first_query[k] = (int32_t)(f < 0 ? 0 : f > rows ? rows : f);
        }
    }
    grad_tile(J, b, h, i0, rows, j0, live, Kr, ldk, Vr, ldv, &qs, diagonal ? need_rows : NULL,
              w->St, w->dPt);
    if (diagonal) {
        t->gemm_nn_from(live, Dv, rows, w->St, BR, dOr, ldo, dV, Dv, 1, first_query);
        t->gemm_nn_from(live, D, rows, w->dPt, BR, Qr, ldq, dK, D, 1, first_query);
        t->gemm_tn_depth(rows, D, live, w->dPt, BR, Kr, ldk, dq, D, 1, need_keys);
    } else {
        t->gemm_nn(live, Dv, rows, w->St, BR, dOr, ldo, dV, Dv, 1);
        t->gemm_nn(live, D, rows, w->dPt, BR, Qr, ldq, dK, D, 1);
        t->gemm_tn(rows, D, live, w->dPt, BR, Kr, ldk, dq, D, 1);
    }
}

/* pass 1: the key blocks of one group: dK, dV, and the group's partial dQ */
static void key_group_item(void *ctx, int64_t item, int thread) {
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv;
    int64_t g = item % J->groups, bh = item / J->groups, b = bh / p->Hkv, hk = bh % p->Hkv;
    int64_t kb0 = g * J->nkb / J->groups, kb1 = (g + 1) * J->nkb / J->groups;

    float *w = attn__scratch_of(&J->scratch, thread);
    float *Kp = w, *Vp = Kp + BC * D, *St = Vp + BC * Dv, *dPt = St + BC * BR;
    float *Qp = dPt + BC * BR, *dOp = Qp + BR * D, *dK = dOp + BR * Dv, *dV = dK + BC * D;
    const tile_bufs tb = {Qp, dOp, St, dPt};
    for (int64_t kb = kb0; kb < kb1; kb++) {
        int64_t j0 = kb * BC, cols = attn__min64(BC, p->Nk - j0);
        memset(dK, 0, sizeof(float) * (size_t)(cols * D));
        memset(dV, 0, sizeof(float) * (size_t)(cols * Dv));
        /* keys no query sees (past key_lens[b], or past the causal limit of the last query)
         * get zero gradients and are never read: a padded cache may hold anything there */
        int64_t live = attn__min64(cols, attn__key_end(p, b, p->Nq - 1) - j0);
        int64_t istart = live > 0 ? attn__first_query_seeing(p, b, j0) : p->Nq;
        int64_t ldk = D, ldv = Dv;
        const float *Kr = Kp, *Vr = Vp;
        if (istart < p->Nq) {
            Kr = attn__tile_rows(t, J->k, b, hk, j0, live, D, Kp, &ldk);
            Vr = attn__tile_rows(t, J->v, b, hk, j0, live, Dv, Vp, &ldv);
        }
        for (int64_t h = hk * p->group; h < (hk + 1) * p->group; h++) {
            float *dq = J->dq_part + ((g * p->B + b) * p->Hq + h) * p->Nq * D;
            /* (istart = Nq when no query sees the block: no tile, and live <= 0) */
            for (int64_t qb = istart / BR; istart < p->Nq && qb < J->nqb; qb++) {
                int64_t i0 = qb * BR, rows = attn__min64(BR, p->Nq - i0);
                tile_step(J, b, h, i0, rows, j0, live, Kr, ldk, Vr, ldv,
                          J->packed + ((b * p->Hq + h) * J->nqb + qb) * J->side, &tb, dK, dV,
                          dq + i0 * D);
            }
        }
        attn__unpack_rows(J->dk, b, hk, j0, cols, D, dK, D, p->scale);
        attn__unpack_rows(J->dv, b, hk, j0, cols, Dv, dV, Dv, 1.0f);
    }
}

/* pass 2: dQ = scale * (dQ_0 + dQ_1 + ...) for one block of queries */
static void dq_rows(const bwd_job *J, int64_t b, int64_t h, int64_t i0, int64_t rows,
                    const float *src, size_t part) {
    const attn__sdpa_t *p = J->p;
    const int64_t D = p->D;
    for (int64_t r = 0; r < rows; r++) {
        float *out = J->dq.data + b * J->dq.stride[0] + h * J->dq.stride[1] +
                     (i0 + r) * J->dq.stride[2];
        const float *s0 = src + r * D;
        if (J->dq.stride[3] == 1) { /* the same sums as below, as loops the compiler vectorises */
            for (int64_t d = 0; d < D; d++) out[d] = s0[d];
            for (int64_t g = 1; g < J->groups; g++)
                for (int64_t d = 0; d < D; d++) out[d] += s0[g * part + d];
            for (int64_t d = 0; d < D; d++) out[d] *= p->scale;
            continue;
        }
        for (int64_t d = 0; d < D; d++) {
            float acc = s0[d];
            for (int64_t g = 1; g < J->groups; g++) acc += s0[g * part + d];
            out[d * J->dq.stride[3]] = p->scale * acc;
        }
    }
}

static void dq_sum_item(void *ctx, int64_t item, int thread) {
    (void)thread;
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    int64_t qb = item % J->nqb, bh = item / J->nqb;
    int64_t i0 = qb * BR, rows = attn__min64(BR, p->Nq - i0);
    dq_rows(J, bh / p->Hq, bh % p->Hq, i0, rows, J->dq_part + (bh * p->Nq + i0) * p->D,
            (size_t)(p->B * p->Hq * p->Nq * p->D));
}

/* The three passes in one item (b, hkv) when all queries are one block and all keys one tile
 * (G2P's ~10-letter words): the query side, Di and the dQ of each query head in this thread's
 * scratch instead of arrays over the whole batch (tens of MB a call, fresh pages every time).
 * The same operations in the same order as passes 0-2 with one key group, so the same bits. */
static void single_block_item(void *ctx, int64_t item, int thread) {
    const bwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv, rows = p->Nq, cols = p->Nk;
    int64_t b = item / p->Hkv, hk = item % p->Hkv;

    float *w = attn__scratch_of(&J->scratch, thread);
    float *Kp = w, *Vp = Kp + BC * D, *St = Vp + BC * Dv, *dPt = St + BC * BR;
    float *Qp = dPt + BC * BR, *dOp = Qp + BR * D, *dK = dOp + BR * Dv, *dV = dK + BC * D;
    float *side = dV + BC * Dv, *dq = side + J->side, *di = dq + BR * D;
    const tile_bufs tb = {Qp, dOp, St, dPt};
    memset(dK, 0, sizeof(float) * (size_t)(cols * D));
    memset(dV, 0, sizeof(float) * (size_t)(cols * Dv));
    int64_t live = attn__min64(cols, attn__key_end(p, b, p->Nq - 1));
    int64_t ldk = D, ldv = Dv;
    const float *Kr = Kp, *Vr = Vp;
    if (live > 0) {
        Kr = attn__tile_rows(t, J->k, b, hk, 0, live, D, Kp, &ldk);
        Vr = attn__tile_rows(t, J->v, b, hk, 0, live, Dv, Vp, &ldv);
    }
    for (int64_t h = hk * p->group; h < (hk + 1) * p->group; h++) {
        pack_side(J, b, h, 0, side, di);
        memset(dq, 0, sizeof(float) * (size_t)(rows * D));
        if (live > 0) {
            tile_step(J, b, h, 0, rows, 0, live, Kr, ldk, Vr, ldv, side, &tb, dK, dV, dq);
        }
        dq_rows(J, b, h, 0, rows, dq, 0);
    }
    attn__unpack_rows(J->dk, b, hk, 0, cols, D, dK, D, p->scale);
    attn__unpack_rows(J->dv, b, hk, 0, cols, Dv, dV, Dv, 1.0f);
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
                    if (p->drop_p > 0.0f)
                        dp = attn__drop_keep(p, b, h, i, j) ? dp * p->drop_scale : 0.0f;
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

/* Key groups: enough items to keep 16 threads busy, at most 4 copies of dQ. Depends on the
 * shape only, so the summation order never depends on the thread count. */
static int64_t key_groups(const attn__sdpa_t *p, int64_t nkb) {
    int64_t heads = p->B * p->Hkv, g = (16 + heads - 1) / heads;
    if (g > 4) g = 4;
    if (g > nkb) g = nkb;
    return g < 1 ? 1 : g;
}

attn_status_t attn__sdpa_backward_fused(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                        attn_src_t v, attn_src_t o, const float *lse,
                                        attn_src_t d_o, attn_dst_t dq, attn_dst_t dk,
                                        attn_dst_t dv, attn_dst_t dbias) {
    bwd_job J = {p, attn__tiles(), q, k, v, o, d_o, lse, dq, dk, dv, dbias,
                 (p->Nq + BR - 1) / BR, (p->Nk + BC - 1) / BC, 0, 0, 0, NULL, NULL, NULL,
                 {NULL, 0}};
    /* short queries (one block of rows < BR) pack only as many columns as the tiles read:
     * the packed side is allocated per call, and at G2P's ~10 queries a head BR columns made
     * it 6x larger than needed (100 MB a call, all of it fresh pages) */
    J.pw = p->Nq >= BR ? BR : attn__padded(p->Nq);
    J.side = (size_t)((p->D + p->Dv + 2) * J.pw);
    J.groups = key_groups(p, J.nkb);
    int64_t bh = p->B * p->Hq, qitems = bh * J.nqb, kitems = p->B * p->Hkv * J.groups;
    const double flops = 2.5 * attn__sdpa_flops(p);
    if (J.nqb == 1 && J.nkb == 1 && !(dbias.data && p->mask_kind == ATTN_MASK_BIAS)) {
        int64_t items = p->B * p->Hkv;
        int threads = attn__threads_for(items, flops);
        size_t floats = backward_scratch(p) + J.side + (size_t)(BR * p->D + BR);
        attn_status_t st = attn__scratch_alloc(&J.scratch, threads, floats, "fused backward");
        if (st != ATTN_STATUS_OK) return st;
        attn__parallel_for(items, threads, single_block_item, &J);
        free(J.scratch.mem);
        return ATTN_STATUS_OK;
    }
    size_t part = (size_t)(bh * p->Nq * p->D);
    J.di = malloc(sizeof(float) * (size_t)(bh * p->Nq));
    J.packed = malloc(sizeof(float) * J.side * (size_t)qitems);
    J.dq_part = calloc(part * (size_t)J.groups, sizeof(float));
    attn_status_t st = ATTN_STATUS_OK;
    if (!J.di || !J.packed || !J.dq_part)
        st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY,
                        "fused backward: cannot allocate %zu bytes of workspace",
                        sizeof(float) * (J.side * (size_t)qitems + part * (size_t)J.groups));
    int threads = attn__threads_for(qitems > kitems ? qitems : kitems, flops);
    if (st == ATTN_STATUS_OK)
        st = attn__scratch_alloc(&J.scratch, threads, backward_scratch(p), "fused backward");
    if (st == ATTN_STATUS_OK) {
        attn__parallel_for(qitems, attn__threads_for(qitems, flops), query_item, &J);
        attn__parallel_for(kitems, attn__threads_for(kitems, flops), key_group_item, &J);
        attn__parallel_for(qitems, attn__threads_for(qitems, flops), dq_sum_item, &J);
        if (dbias.data && p->mask_kind == ATTN_MASK_BIAS) {
            int64_t rows = p->mask_shape[0] * p->mask_shape[1] * p->mask_shape[2];
            attn__parallel_for(rows, attn__threads_for(rows, flops), dbias_item, &J);
        }
    }
    free(J.scratch.mem);
    free(J.dq_part);
    free(J.packed);
    free(J.di);
    return st;
}
