/* The plain reference attention: the definition written out, scores materialised, every sum in
 * double. Tests compare the fused kernel against it. Single-threaded, so trivially
 * deterministic; speed is not its job. */
#include "kernels/sdpa.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AT(t, b, h, n, d) ((t).stride[0] * (b) + (t).stride[1] * (h) + (t).stride[2] * (n) + \
                           (t).stride[3] * (d))

/* Scaled, masked scores of row (b, h, i) into s[0..Nk), in double; -inf where hidden.
 * Returns the row maximum (-inf when every key is hidden). */
static double score_row(const attn__sdpa_t *p, attn_src_t q, attn_src_t k, int64_t b, int64_t h,
                        int64_t i, double *s) {
    int64_t hk = h / p->group, end = attn__key_end(p, b, i);
    int64_t mrow = attn__mask_row(p, b, h, i), ms = p->mask_stride[3];
    double mx = -INFINITY;
    for (int64_t j = 0; j < p->Nk; j++) {
        double v = -INFINITY;
        if (j < end) {
            double dot = 0.0;
            for (int64_t d = 0; d < p->D; d++)
                dot += (double)attn__get(q, AT(q, b, h, i, d)) * (double)attn__get(k, AT(k, b, hk, j, d));
            v = (double)p->scale * dot;
            if (p->mask_kind == ATTN_MASK_BOOL) {
                if (!((const uint8_t *)p->mask_data)[mrow + j * ms]) v = -INFINITY;
            } else if (p->mask_kind == ATTN_MASK_BIAS) {
                v += (double)((const float *)p->mask_data)[mrow + j * ms];
            }
        }
        s[j] = v;
        if (v > mx) mx = v;
    }
    return mx;
}

/* Turns scores into probabilities in place; returns the log-sum-exp (-inf if all hidden). */
static double softmax_row(int64_t n, double mx, double *s) {
    if (mx == -INFINITY) {
        for (int64_t j = 0; j < n; j++) s[j] = 0.0;
        return -INFINITY;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++) {
        s[j] = s[j] == -INFINITY ? 0.0 : exp(s[j] - mx);
        sum += s[j];
    }
    for (int64_t j = 0; j < n; j++) s[j] /= sum;
    return mx + log(sum);
}

attn_status_t attn__sdpa_forward_reference(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                           attn_src_t v, attn_dst_t o, float *lse) {
    double *s = malloc(sizeof(double) * (size_t)p->Nk);
    if (!s)
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "reference forward: cannot allocate %lld "
                          "scores", (long long)p->Nk);
    for (int64_t b = 0; b < p->B; b++)
        for (int64_t h = 0; h < p->Hq; h++) {
            int64_t hk = h / p->group;
            for (int64_t i = 0; i < p->Nq; i++) {
                double l = softmax_row(p->Nk, score_row(p, q, k, b, h, i, s), s);
                /* keys past the causal limit or key_lens are never read (a padded cache may
                 * hold anything there); keys hidden by the mask are, as in PyTorch */
                int64_t end = attn__key_end(p, b, i);
                if (p->drop_p > 0.0f)
                    for (int64_t j = 0; j < end; j++)
                        s[j] = attn__drop_keep(p, b, h, i, j) ? s[j] * p->drop_scale : 0.0;
                for (int64_t e = 0; e < p->Dv; e++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j < end; j++)
                        acc += s[j] * (double)attn__get(v, AT(v, b, hk, j, e));
                    o.data[AT(o, b, h, i, e)] = (float)acc;
                }
                if (lse) lse[(b * p->Hq + h) * p->Nq + i] = (float)l;
            }
        }
    free(s);
    return ATTN_STATUS_OK;
}

attn_status_t attn__sdpa_backward_reference(const attn__sdpa_t *p, attn_src_t q, attn_src_t k,
                                            attn_src_t v, attn_src_t o, const float *lse,
                                            attn_src_t d_o, attn_dst_t dq, attn_dst_t dk,
                                            attn_dst_t dv, attn_dst_t dbias) {
    (void)o; (void)lse; /* the reference recomputes both exactly */
    const int64_t Nq = p->Nq, Nk = p->Nk, D = p->D, Dv = p->Dv;
    const float *dO = attn__f32(d_o);
    const int64_t *ms = p->mask_shape;
    int want_dbias = dbias.data != NULL;
    size_t nbias = want_dbias ? (size_t)(ms[0] * ms[1] * ms[2] * ms[3]) : 1;
    double *P = malloc(sizeof(double) * (size_t)(Nq * Nk));
    double *dS = malloc(sizeof(double) * (size_t)(Nq * Nk));
    double *gk = malloc(sizeof(double) * (size_t)(Nk * D));
    double *gv = malloc(sizeof(double) * (size_t)(Nk * Dv));
    double *gb = calloc(nbias, sizeof(double));
    if (!P || !dS || !gk || !gv || !gb) {
        free(P); free(dS); free(gk); free(gv); free(gb);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY,
                          "reference backward: cannot allocate the %lld x %lld score matrix; "
                          "use the fused kernel for long sequences", (long long)Nq, (long long)Nk);
    }
    for (int64_t b = 0; b < p->B; b++)
        for (int64_t hk = 0; hk < p->Hkv; hk++) {
            memset(gk, 0, sizeof(double) * (size_t)(Nk * D));
            memset(gv, 0, sizeof(double) * (size_t)(Nk * Dv));
            for (int64_t h = hk * p->group; h < (hk + 1) * p->group; h++) {
                for (int64_t i = 0; i < Nq; i++) {
                    double *pr = P + i * Nk, *ds = dS + i * Nk;
                    softmax_row(Nk, score_row(p, q, k, b, h, i, pr), pr);
                    double di = 0.0;
                    int64_t end = attn__key_end(p, b, i);
                    for (int64_t j = 0; j < Nk; j++) {
                        double dp = 0.0;
                        if (j < end)
                            for (int64_t e = 0; e < Dv; e++)
                                dp += (double)dO[AT(d_o, b, h, i, e)] *
                                      (double)attn__get(v, AT(v, b, hk, j, e));
                        /* with dropout O = (P o Z) V: dP = (dO V^T) o Z, and dV takes P o Z */
                        if (p->drop_p > 0.0f && j < end)
                            dp = attn__drop_keep(p, b, h, i, j) ? dp * p->drop_scale : 0.0;
                        ds[j] = dp;
                        di += pr[j] * dp;
                    }
                    for (int64_t j = 0; j < Nk; j++) ds[j] = pr[j] * (ds[j] - di);
                    if (p->drop_p > 0.0f)
                        for (int64_t j = 0; j < end; j++)
                            pr[j] = attn__drop_keep(p, b, h, i, j) ? pr[j] * p->drop_scale : 0.0;
                }
                for (int64_t i = 0; i < Nq; i++)
                    for (int64_t d = 0; d < D; d++) {
                        double acc = 0.0;
                        int64_t end = attn__key_end(p, b, i);
                        for (int64_t j = 0; j < end; j++)
                            acc += dS[i * Nk + j] * (double)attn__get(k, AT(k, b, hk, j, d));
                        dq.data[AT(dq, b, h, i, d)] = (float)(p->scale * acc);
                    }
                for (int64_t j = 0; j < Nk; j++) {
                    for (int64_t d = 0; d < D; d++) {
                        double acc = 0.0;
                        for (int64_t i = 0; i < Nq; i++)
                            acc += dS[i * Nk + j] * (double)attn__get(q, AT(q, b, h, i, d));
                        gk[j * D + d] += p->scale * acc;
                    }
                    for (int64_t e = 0; e < Dv; e++) {
                        double acc = 0.0;
                        for (int64_t i = 0; i < Nq; i++)
                            acc += P[i * Nk + j] * (double)dO[AT(d_o, b, h, i, e)];
                        gv[j * Dv + e] += acc;
                    }
                }
                if (want_dbias)
                    for (int64_t i = 0; i < Nq; i++)
                        for (int64_t j = 0; j < Nk; j++) {
                            int64_t bi = ms[0] > 1 ? b : 0, hi = ms[1] > 1 ? h : 0;
                            int64_t ii = ms[2] > 1 ? i : 0, ji = ms[3] > 1 ? j : 0;
                            gb[((bi * ms[1] + hi) * ms[2] + ii) * ms[3] + ji] += dS[i * Nk + j];
                        }
            }
            for (int64_t j = 0; j < Nk; j++) {
                for (int64_t d = 0; d < D; d++) dk.data[AT(dk, b, hk, j, d)] = (float)gk[j * D + d];
                for (int64_t e = 0; e < Dv; e++)
                    dv.data[AT(dv, b, hk, j, e)] = (float)gv[j * Dv + e];
            }
        }
    if (want_dbias)
        for (int64_t a = 0; a < ms[0]; a++)
            for (int64_t h = 0; h < ms[1]; h++)
                for (int64_t i = 0; i < ms[2]; i++)
                    for (int64_t j = 0; j < ms[3]; j++)
                        dbias.data[AT(dbias, a, h, i, j)] =
                            (float)gb[((a * ms[1] + h) * ms[2] + i) * ms[3] + j];
    free(P); free(dS); free(gk); free(gv); free(gb);
    return ATTN_STATUS_OK;
}
