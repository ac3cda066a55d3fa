/* attn bench: the naive OpenBLAS form, what one writes without a fused kernel.
 *
 * Forward, per (batch, query head), the Nq x Nk scores materialised:
 *     S = scale * Q K^T            cblas_sgemm (cblas_sgemv when Nq = 1)
 *     P = softmax(S) by rows, keys j > i hidden when causal
 *     O = P V                      cblas_sgemm (cblas_sgemv when Nq = 1)
 * Backward, per head, from the P its forward kept for every head (as autograd keeps it):
 *     dV += P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dP * P)),
 *     dQ = scale * dS K,  dK += scale * dS^T Q
 * OpenBLAS runs its GEMMs on the bench's thread count (openblas_set_num_threads); the
 * row-wise passes (softmax, dS) are split over as many pthreads. fp16 cases run in fp32 here,
 * on K and V rounded to fp16 so that the outputs are comparable. */
#include "bench.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct naive {
    const bench_case_t *c;
    int threads;
    float scale;
    float *Q, *K, *V, *O, *dO, *dQ, *dK, *dV;
    float *S;  /* Nq x Nk scores of one head (forward without saving) */
    float *P;  /* B x Hq x Nq x Nk probabilities kept for the backward, or NULL */
    float *dP; /* Nq x Nk scratch of the backward */
} naive_t;

typedef struct rows_job {
    float *S, *P;
    int64_t rows, cols;
    int causal;
} rows_job_t;

/* Row softmax in place; with causal, row i keeps keys 0..i and the rest become 0. */
static void softmax_rows(void *p, int tid, int nthreads) {
    const rows_job_t *j = p;
    for (int64_t i = tid; i < j->rows; i += nthreads) { /* interleaved: causal rows vary */
        float *s = j->S + i * j->cols;
        int64_t n = j->causal ? (i + 1 < j->cols ? i + 1 : j->cols) : j->cols;
        float m = -INFINITY;
        for (int64_t k = 0; k < n; k++) m = s[k] > m ? s[k] : m;
        float sum = 0.0f;
        for (int64_t k = 0; k < n; k++) {
            s[k] = expf(s[k] - m);
            sum += s[k];
        }
        float inv = 1.0f / sum;
        for (int64_t k = 0; k < n; k++) s[k] *= inv;
        for (int64_t k = n; k < j->cols; k++) s[k] = 0.0f;
    }
}

/* dS = P * (dP - rowsum(dP * P)) in place of dP. */
static void ds_rows(void *p, int tid, int nthreads) {
    const rows_job_t *j = p;
    for (int64_t i = tid; i < j->rows; i += nthreads) {
        float *dp = j->S + i * j->cols;
        const float *pr = j->P + i * j->cols;
        float dot = 0.0f;
        for (int64_t k = 0; k < j->cols; k++) dot += dp[k] * pr[k];
        for (int64_t k = 0; k < j->cols; k++) dp[k] = pr[k] * (dp[k] - dot);
    }
}

static int naive_forward(void *p) {
    naive_t *n = p;
    const bench_case_t *c = n->c;
    const int64_t Nq = c->Nq, Nk = c->Nk, D = c->D, Dv = c->Dv, g = c->Hq / c->Hkv;
    for (int64_t b = 0; b < c->B; b++) {
        for (int64_t h = 0; h < c->Hq; h++) {
            int64_t bh = b * c->Hq + h, bk = b * c->Hkv + h / g;
            const float *q = n->Q + bh * Nq * D, *k = n->K + bk * Nk * D, *v = n->V + bk * Nk * Dv;
            float *o = n->O + bh * Nq * Dv, *s = n->P ? n->P + bh * Nq * Nk : n->S;
            if (Nq == 1)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)Nk, (int)D, n->scale, k, (int)D, q,
                            1, 0.0f, s, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Nq, (int)Nk, (int)D,
                            n->scale, q, (int)D, k, (int)D, 0.0f, s, (int)Nk);
            rows_job_t job = {s, NULL, Nq, Nk, c->causal};
            bench_parallel(Nq > 1 ? n->threads : 1, softmax_rows, &job);
            if (Nq == 1)
                cblas_sgemv(CblasRowMajor, CblasTrans, (int)Nk, (int)Dv, 1.0f, v, (int)Dv, s, 1,
                            0.0f, o, 1);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Nq, (int)Dv, (int)Nk,
                            1.0f, s, (int)Nk, v, (int)Dv, 0.0f, o, (int)Dv);
        }
    }
    return 0;
}

static int naive_backward(void *p) {
    naive_t *n = p;
    const bench_case_t *c = n->c;
    const int64_t Nq = c->Nq, Nk = c->Nk, D = c->D, Dv = c->Dv, g = c->Hq / c->Hkv;
    for (int64_t b = 0; b < c->B; b++) {
        for (int64_t h = 0; h < c->Hq; h++) {
            int64_t bh = b * c->Hq + h, bk = b * c->Hkv + h / g;
            const float *q = n->Q + bh * Nq * D, *k = n->K + bk * Nk * D, *v = n->V + bk * Nk * Dv;
            const float *dout = n->dO + bh * Nq * Dv, *pr = n->P + bh * Nq * Nk;
            float *dq = n->dQ + bh * Nq * D, *dk = n->dK + bk * Nk * D, *dv = n->dV + bk * Nk * Dv;
            float beta = h % g == 0 ? 0.0f : 1.0f; /* dK, dV sum over the heads of a group */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Nk, (int)Dv, (int)Nq, 1.0f,
                        pr, (int)Nk, dout, (int)Dv, beta, dv, (int)Dv);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Nq, (int)Nk, (int)Dv, 1.0f,
                        dout, (int)Dv, v, (int)Dv, 0.0f, n->dP, (int)Nk);
            rows_job_t job = {n->dP, (float *)pr, Nq, Nk, c->causal};
            bench_parallel(n->threads, ds_rows, &job);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Nq, (int)D, (int)Nk,
                        n->scale, n->dP, (int)Nk, k, (int)D, 0.0f, dq, (int)D);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Nk, (int)D, (int)Nq,
                        n->scale, n->dP, (int)Nk, q, (int)D, beta, dk, (int)D);
        }
    }
    return 0;
}

double bench_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d != d) return NAN;
        if (d > m) m = d;
    }
    return m;
}

static float *alloc_filled(size_t n, uint64_t seed, int round_f16) {
    float *x = bench_alloc(n * sizeof(float));
    if (!x) return NULL;
    bench_fill(x, n, seed);
    if (round_f16)
        for (size_t i = 0; i < n; i++) x[i] = attn__f16_to_f32(attn__f32_to_f16(x[i]));
    return x;
}

#define NAIVE_TOLERANCE 1e-3

void bench_child_naive(void *jobp, void *out) {
    const bench_job_t *job = jobp;
    const bench_case_t *c = job->c;
    bench_timing_t *t = out;
    memset(t, 0, sizeof *t);
    t->max_err = -1.0;
    openblas_set_num_threads(job->threads);

    const int64_t B = c->B, Hq = c->Hq, Hkv = c->Hkv, Nq = c->Nq, Nk = c->Nk;
    size_t nq = (size_t)(B * Hq * Nq * c->D), nk = (size_t)(B * Hkv * Nk * c->D);
    size_t nv = (size_t)(B * Hkv * Nk * c->Dv), no = (size_t)(B * Hq * Nq * c->Dv);
    int bwd = c->kind == BENCH_BWD;
    naive_t n;
    memset(&n, 0, sizeof n);
    n.c = c;
    n.threads = job->threads;
    n.scale = (float)(1.0 / sqrt((double)c->D));
    n.Q = alloc_filled(nq, 1, 0);
    n.K = alloc_filled(nk, 2, c->f16);
    n.V = alloc_filled(nv, 3, c->f16);
    n.O = bench_alloc(no * sizeof(float));
    int ok = n.Q && n.K && n.V && n.O;
    if (bwd) {
        n.dO = alloc_filled(no, 4, 0);
        n.dQ = bench_alloc(nq * sizeof(float));
        n.dK = bench_alloc(nk * sizeof(float));
        n.dV = bench_alloc(nv * sizeof(float));
        n.P = bench_alloc((size_t)(B * Hq * Nq * Nk) * sizeof(float));
        n.dP = bench_alloc((size_t)(Nq * Nk) * sizeof(float));
        ok = ok && n.dO && n.dQ && n.dK && n.dV && n.P && n.dP;
    } else {
        n.S = bench_alloc((size_t)(Nq * Nk) * sizeof(float));
        ok = ok && n.S;
    }
    if (!ok) {
        t->status = BENCH_FAILED;
        snprintf(t->note, sizeof t->note, "out of memory for the naive form's buffers");
        goto done;
    }
    if (bwd) naive_forward(&n); /* fills P for every head; not timed */
    int (*step)(void *) = bwd ? naive_backward : naive_forward;
    double t0 = bench_now();
    step(&n); /* warm-up */
    double warm = bench_now() - t0;

    if (job->shared) {
        double e;
        if (bwd) {
            double e1 = bench_max_abs_diff(n.dQ, job->shared, nq);
            double e2 = bench_max_abs_diff(n.dK, job->shared + nq, nk);
            double e3 = bench_max_abs_diff(n.dV, job->shared + nq + nk, nv);
            e = e1 != e1 || e2 != e2 || e3 != e3 ? NAN : fmax(e1, fmax(e2, e3));
        } else {
            e = bench_max_abs_diff(n.O, job->shared, no);
        }
        t->max_err = e;
        if (!(e <= NAIVE_TOLERANCE)) {
            t->status = BENCH_FAILED;
            snprintf(t->note, sizeof t->note,
                     "attn fused and the naive form disagree: max |difference| of %s is %.3g, "
                     "more than %.0e", bwd ? "dQ, dK, dV" : "O", e, NAIVE_TOLERANCE);
            goto done;
        }
    }
    if (job->validate_only) {
        t->status = BENCH_SKIPPED;
        snprintf(t->note, sizeof t->note, "checked only");
        goto done;
    }
    if (bench_time(step, &n, warm, job->target_s, t) != 0) {
        t->status = BENCH_FAILED;
        snprintf(t->note, sizeof t->note, "out of memory while timing");
        goto done;
    }
    t->status = BENCH_RAN;
done:
    t->rss_mib = bench_self_rss_mib();
    free(n.Q);
    free(n.K);
    free(n.V);
    free(n.O);
    free(n.dO);
    free(n.dQ);
    free(n.dK);
    free(n.dV);
    free(n.S);
    free(n.P);
    free(n.dP);
}
