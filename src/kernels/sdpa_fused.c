/* Fused attention: tiled, online softmax, extra memory linear in sequence length.
 *
 * Score tiles are held transposed, S^T[j][i] (key j, query i), so that the per-query softmax
 * statistics are vectors across queries and K and V tiles are used as rows, never transposed.
 *
 * Forward (one work item = batch b, query head h, block of br queries):
 *     Qt = scale * Q_blk^T                (times log2 e: see LOG2E) [D x br]
 *     for each block of BC keys that the causal rule and key_lens leave visible:
 *         S^T = K_blk Qt (+ bias, masks)                          [BC x br]
 *         m' = max(m, colmax S^T); P^T = exp(S^T - m'); l = l exp(m - m') + colsum P^T
 *         O_acc = O_acc exp(m - m') + P V_blk                     [br x Dv]
 *     O = O_acc / l, LSE = m + log l
 *
 * Each item writes only its own rows and sums in an order fixed by the tiling alone (br, 96 or
 * 192, is fixed by the shape), so results are bitwise identical for any thread count. Tiles
 * wholly hidden by the causal rule or key_lens are never computed. The dense work goes through
 * attn__tiles() (tiles.h); the backward is in sdpa_fused_backward.c. */
#include "kernels/sdpa.h"
#include "kernels/pack.h"
#include "kernels/prefetch.h"
#include "kernels/sdpa_fused.h"
#include "kernels/tiles.h"
#include "core/runtime.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Hides, in the transposed score tile St (keys j0.. by queries i0..), what the causal rule and
 * the mask hide, and adds the bias. Keys at or past key_lens never reach a tile. */
void attn__mask_tile(const attn__sdpa_t *p, int64_t b, int64_t h, int64_t i0, int64_t rows,
                      int64_t j0, int64_t cols, float *St, int64_t ld) {
    if (p->causal != ATTN_CAUSAL_NONE && attn__key_end(p, b, i0) < j0 + cols)
        for (int64_t c = 0; c < cols; c++) {
            int64_t hidden = attn__min64(attn__first_query_seeing(p, b, j0 + c) - i0, rows);
            for (int64_t r = 0; r < hidden; r++) St[c * ld + r] = -INFINITY;
        }
    if (p->mask_kind == ATTN_MASK_NONE) return;
    int64_t base = attn__mask_row(p, b, h, i0), si = p->mask_stride[2], sj = p->mask_stride[3];
    for (int64_t c = 0; c < cols; c++) {
        float *s = St + c * ld;
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

/* m ? x * s : 0 for a mask m of all ones or all zeros, as bit operations (a loop the
 * compiler vectorises; a branch on a coin flip mispredicts) */
static inline float keep_scaled(uint32_t m, float x, float s) {
    float v = x * s;
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u &= m;
    memcpy(&v, &u, sizeof v);
    return v;
}

void attn__drop_tile(const attn__sdpa_t *p, const attn__tiles_t *t, int64_t b, int64_t h,
                     int64_t i0, int64_t rows, int64_t j0, int64_t cols, float *St, int64_t ld) {
    uint32_t keep[BR_LONG + 4]; /* rows <= BR_LONG queries, from an even flat index */
    const float scale = p->drop_scale;
    for (int64_t c = 0; c < cols; c++) { /* key j0 + c: its queries are consecutive indices */
        const int64_t e0 = ((b * p->Hq + h) * p->Nk + j0 + c) * p->Nq + i0;
        const int64_t base = e0 & ~(int64_t)1;
        t->keep_masks(p->drop_key, base >> 1, ((e0 + rows + 1) >> 1) - (base >> 1), p->drop_cut,
                      keep);
        const uint32_t *k = keep + (e0 - base);
        float *x = St + c * ld;
        for (int64_t r = 0; r < rows; r++) x[r] = keep_scaled(k[r], x[r], scale);
    }
}

/* ---- forward ------------------------------------------------------------------------------ */

typedef struct {
    const attn__sdpa_t *p;
    const attn__tiles_t *t;
    attn_src_t q, k, v;
    attn_dst_t o;
    float *lse;
    int64_t br, nqb; /* queries per block (BR or BR_LONG), blocks per head */
    attn__scratch_t scratch;
} fwd_job;

void attn__causal_limits(const attn__sdpa_t *p, const attn__tiles_t *t, int64_t b, int64_t i0,
                         int64_t rows, int64_t j0, int64_t cols, int64_t n, int32_t *need_rows,
                         int32_t *need_keys) {
    /* keys visible to query i0 + r: those before attn__key_end(p, b, i0 + r) */
    for (int64_t r0 = 0, k = 0; r0 < n; r0 += t->nr, k++) {
        int64_t last = attn__min64(r0 + t->nr, rows) - 1;
        int64_t e = last < 0 ? 0 : attn__key_end(p, b, i0 + last) - j0;
        need_rows[k] = (int32_t)(e < 0 ? 0 : e > cols ? cols : e);
    }
    for (int64_t r0 = 0, k = 0; r0 < rows; r0 += t->mr, k++) {
        int64_t last = attn__min64(r0 + t->mr, rows) - 1;
        int64_t e = attn__key_end(p, b, i0 + last) - j0;
        need_keys[k] = (int32_t)(e < 0 ? 0 : e > cols ? cols : e);
    }
}

/* Asks for rows [n0, n0 + rows) of T[b, h] (fp32, contiguous rows) to be brought into L2
 * ahead of use: the next key / value tile while the current one is computed, so that long
 * sequences, whose K and V no longer fit the last-level cache, do not stall on memory. */
static void prefetch_tile(attn_src_t t, int64_t b, int64_t h, int64_t n0, int64_t rows,
                          int64_t dim) {
    if (t.dtype != ATTN_DTYPE_F32 || t.stride[3] != 1 || rows <= 0) return;
    const float *base = attn__f32(t) + b * t.stride[0] + h * t.stride[1] + n0 * t.stride[2];
    attn__prefetch_rows_l2(base, rows, t.stride[2] * (int64_t)sizeof(float),
                           dim * (int64_t)sizeof(float));
}

static size_t forward_scratch(const attn__sdpa_t *p, int64_t br) {
    return (size_t)(p->D * br + BC * p->D + BC * p->Dv + BC * br + br * p->Dv + 4 * br);
}

/* Queries per block: BR, or BR_LONG when one head's K and V (counted as fp32) exceed
 * LONG_KV_BYTES, or a quarter of the last-level cache where that is less, and the larger
 * block's working set (Q^T, S^T and O of the block, the current and the next K and V tiles)
 * fits half of this core's L2. Every block streams all of its head's K and V; once they no
 * longer stay in the last-level cache, twice the queries per block halve that traffic (2 vCPUs
 * of an Intel Xeon with 2 MiB of L2, D=128, N=32768: 219 -> 242 GFLOP/s; N=16384, which stays
 * in its large L3, 252 -> 243). On 2 vCPUs of an AMD EPYC Zen 4 (1 MiB of L2 a core, 32 MiB
 * of L3) two threads' heads of 16 MiB each (D=128, N=16384) fill the L3, and the larger
 * block took that case from 174-184 to 191-198 GFLOP/s. With Zen 3's 512 KiB of L2 the larger
 * block would not fit, and nothing changes there. The choice depends on the shape and the machine,
 * never on the thread count, so results stay bitwise the same for any thread count. */
static int64_t forward_rows(const attn__sdpa_t *p) {
    const int64_t kv = p->Nk * (p->D + p->Dv) * (int64_t)sizeof(float);
    const int64_t llc = attn__cache_bytes(3); /* 0 where the system does not say */
    const int64_t limit = llc > 0 && llc / 4 < LONG_KV_BYTES ? llc / 4 : LONG_KV_BYTES;
    if (kv <= limit || p->Nq <= BR) return BR;
    const int64_t set = (int64_t)sizeof(float) *
                        (BR_LONG * (p->D + BC + p->Dv) + 2 * BC * (p->D + p->Dv));
    const int64_t l2 = attn__cache_bytes(2);
    return l2 > 0 && set <= l2 / 2 ? BR_LONG : BR;
}

static void forward_item(void *ctx, int64_t item, int thread) {
    const fwd_job *J = ctx;
    const attn__sdpa_t *p = J->p;
    const attn__tiles_t *t = J->t;
    const int64_t D = p->D, Dv = p->Dv;
    int64_t qb = item % J->nqb, bh = item / J->nqb, b = bh / p->Hq, h = bh % p->Hq;
    const int64_t br = J->br;
    int64_t hk = h / p->group, i0 = qb * br, rows = attn__min64(br, p->Nq - i0), n = attn__padded(rows);

    float *Qt = attn__scratch_of(&J->scratch, thread);
    float *Kp = Qt + D * br, *Vp = Kp + BC * D, *St = Vp + BC * Dv, *Oacc = St + BC * br;
    float *m = Oacc + br * Dv, *l = m + br, *alpha = l + br, *mx = alpha + br;

    attn__pack_cols(J->q, b, h, i0, rows, D, p->scale * LOG2E, Qt, br);
    memset(Oacc, 0, sizeof(float) * (size_t)(rows * Dv));
    for (int64_t r = 0; r < br; r++) { m[r] = -INFINITY; l[r] = 0.0f; }

    int32_t need_rows[BR_LONG], need_keys[BR_LONG]; /* per block of t->nr columns / t->mr rows */
    int64_t kend = attn__key_end(p, b, i0 + rows - 1); /* the last query sees the most keys */
    for (int64_t j0 = 0; j0 < kend; j0 += BC) {
        int64_t cols = attn__min64(BC, kend - j0);
        int64_t ldk, ldv;
        const float *Kr = attn__tile_rows(t, J->k, b, hk, j0, cols, D, Kp, &ldk);
        const float *Vr = attn__tile_rows(t, J->v, b, hk, j0, cols, Dv, Vp, &ldv);
        /* a tile the causal rule cuts: key c hides its first hidden(c) queries, a count that
         * grows with c, so each block of queries needs only a prefix of the keys */
        const int diagonal = p->causal != ATTN_CAUSAL_NONE && attn__key_end(p, b, i0) < j0 + cols;
        if (diagonal) attn__causal_limits(p, t, b, i0, rows, j0, cols, n, need_rows, need_keys);
        const int64_t next = attn__min64(BC, kend - j0 - BC);
        prefetch_tile(J->k, b, hk, j0 + BC, next, D);
        prefetch_tile(J->v, b, hk, j0 + BC, next, Dv);
        if (diagonal || p->mask_kind != ATTN_MASK_NONE) {
            if (diagonal) t->gemm_nn_rows(cols, n, D, Kr, ldk, Qt, br, St, br, 0, need_rows);
            else t->gemm_nn(cols, n, D, Kr, ldk, Qt, br, St, br, 0);
            attn__mask_tile(p, b, h, i0, rows, j0, cols, St, br);
            t->softmax_update(cols, n, St, br, m, l, alpha);
        } else { /* nothing to hide or add: the column maxima come out of the product */
            memcpy(mx, m, sizeof(float) * (size_t)n);
            t->gemm_nn_max(cols, n, D, Kr, ldk, Qt, br, St, br, mx);
            t->softmax_update_max(cols, n, St, br, mx, m, l, alpha);
        }
        for (int64_t r = 0; r < rows; r++)
            if (alpha[r] != 1.0f) t->scale(Dv, alpha[r], Oacc + r * Dv);
        /* dropout acts on the weights that reach V; l keeps the sum without it */
        if (p->drop_p > 0.0f) attn__drop_tile(p, t, b, h, i0, rows, j0, cols, St, br);
        if (diagonal) t->gemm_tn_depth(rows, Dv, cols, St, br, Vr, ldv, Oacc, Dv, 1, need_keys);
        else t->gemm_tn(rows, Dv, cols, St, br, Vr, ldv, Oacc, Dv, 1);
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
    const int64_t br = forward_rows(p);
    fwd_job J = {p, attn__tiles(), q, k, v, o, lse, br, (p->Nq + br - 1) / br, {NULL, 0}};
    int64_t items = p->B * p->Hq * J.nqb;
    int threads = attn__threads_for(items, attn__sdpa_flops(p));
    attn_status_t st = attn__scratch_alloc(&J.scratch, threads, forward_scratch(p, br), "fused forward");
    if (st != ATTN_STATUS_OK) return st;
    attn__parallel_for(items, threads, forward_item, &J);
    free(J.scratch.mem);
    return ATTN_STATUS_OK;
}
