/* attn bench: the cases, their inputs, the timing loop, and attn's two kernels as measured
 * implementations (each run in a child process by cmd_bench.c). */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const bench_impl_names[IMPL_COUNT] = {"attn fused", "attn reference", "naive BLAS",
                                                  "torch"};

/* ---- cases ------------------------------------------------------------------------------ */

static void add_case(bench_case_t *out, int *n, int max, const char *prefix, bench_kind_t kind,
                     int64_t Hq, int64_t Hkv, int64_t Nq, int64_t Nk, int64_t D, int causal,
                     int f16) {
    if (*n < max) {
        bench_case_t *c = &out[*n];
        memset(c, 0, sizeof *c);
        c->kind = kind;
        c->B = 1;
        c->Hq = Hq;
        c->Hkv = Hkv;
        c->Nq = Nq;
        c->Nk = Nk;
        c->D = c->Dv = D;
        c->causal = causal;
        c->f16 = f16;
        c->twin = -1;
        if (kind == BENCH_DEC)
            snprintf(c->name, sizeof c->name, "%sdec-nk%lld-hq%lld-hkv%lld-d%lld-%s", prefix,
                     (long long)Nk, (long long)Hq, (long long)Hkv, (long long)D,
                     f16 ? "f16" : "f32");
        else
            snprintf(c->name, sizeof c->name, "%s%s-n%lld-d%lld-%s-%s", prefix,
                     kind == BENCH_FWD ? "fwd" : "bwd", (long long)Nq, (long long)D,
                     causal ? "causal" : "full", f16 ? "f16" : "f32");
    }
    (*n)++;
}

/* Whether every comma-separated term of one alternative occurs in name (len: its length). */
static int matches_all(const char *name, const char *p, size_t len) {
    const char *end = p + len;
    while (p < end) {
        size_t n = strcspn(p, ",|");
        if (n > (size_t)(end - p)) n = (size_t)(end - p);
        if (n > 0) {
            char term[64];
            if (n >= sizeof term) return 0;
            memcpy(term, p, n);
            term[n] = '\0';
            if (!strstr(name, term)) return 0;
        }
        p += n;
        if (p < end && *p == ',') p++;
    }
    return 1;
}

/* Whether name matches one of the '|'-separated alternatives of filter. */
static int matches(const char *name, const char *filter) {
    if (!filter) return 1;
    for (const char *p = filter;;) {
        size_t len = strcspn(p, "|");
        if (len > 0 && matches_all(name, p, len)) return 1;
        if (!p[len]) return 0;
        p += len + 1;
    }
}

int bench_make_cases(const bench_opts_t *o, bench_case_t *out, int max) {
    enum { MAXALL = 256 };
    bench_case_t all[MAXALL];
    int n = 0;
    static const int64_t dims[] = {64, 128}, lens[] = {512, 2048, 8192};
    static const int64_t cache[] = {4096, 16384, 65536}, kvheads[] = {8, 2};
    if (o->sweep) {
        for (int d = 0; d < 2; d++)
            for (int64_t N = 1024; N <= 32768; N *= 2)
                add_case(all, &n, MAXALL, "sweep-", BENCH_FWD, 8, 8, N, N, dims[d], 0, 0);
    } else if (o->quick) {
        for (int kind = BENCH_FWD; kind <= BENCH_BWD; kind++)
            for (int causal = 0; causal < 2; causal++)
                add_case(all, &n, MAXALL, "", (bench_kind_t)kind, 8, 8, 2048, 2048, 64, causal, 0);
        add_case(all, &n, MAXALL, "", BENCH_DEC, 8, 8, 1, 16384, 128, 0, 0);
    } else {
        for (int kind = BENCH_FWD; kind <= BENCH_BWD; kind++)
            for (int d = 0; d < 2; d++)
                for (int l = 0; l < 3; l++)
                    for (int causal = 0; causal < 2; causal++)
                        for (int f16 = 0; f16 < 2; f16++)
                            add_case(all, &n, MAXALL, "", (bench_kind_t)kind, 8, 8, lens[l],
                                     lens[l], dims[d], causal, f16);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 3; k++)
                for (int f16 = 0; f16 < 2; f16++)
                    add_case(all, &n, MAXALL, "", BENCH_DEC, 8, kvheads[h], 1, cache[k], 128, 0,
                             f16);
    }
    /* Tiny shapes that finish in milliseconds, for the command-line test: only on request. */
    if (o->cases && strstr(o->cases, "tiny")) {
        add_case(all, &n, MAXALL, "tiny-", BENCH_FWD, 2, 2, 64, 64, 32, 0, 0);
        add_case(all, &n, MAXALL, "tiny-", BENCH_FWD, 2, 2, 64, 64, 32, 1, 1);
        add_case(all, &n, MAXALL, "tiny-", BENCH_BWD, 2, 2, 64, 64, 32, 1, 0);
        add_case(all, &n, MAXALL, "tiny-", BENCH_BWD, 2, 2, 64, 64, 32, 0, 1);
        add_case(all, &n, MAXALL, "tiny-", BENCH_DEC, 4, 2, 1, 512, 32, 0, 0);
        add_case(all, &n, MAXALL, "tiny-", BENCH_DEC, 4, 2, 1, 512, 32, 0, 1);
    }
    if (n > MAXALL) n = MAXALL;

    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (!matches(all[i].name, o->cases)) continue;
        if (kept < max) {
            out[kept] = all[i];
            /* An fp16 case borrows naive and torch timings from its fp32 twin, when kept. */
            if (out[kept].f16) {
                char twin[64];
                snprintf(twin, sizeof twin, "%s", out[kept].name);
                size_t len = strlen(twin);
                memcpy(twin + len - 3, "f32", 3);
                for (int j = 0; j < kept; j++)
                    if (strcmp(out[j].name, twin) == 0) out[kept].twin = j;
            }
        }
        kept++;
    }
    return kept;
}

double bench_flops(const bench_case_t *c) {
    double f = 2.0 * (double)c->B * (double)c->Hq * (double)c->Nq * (double)c->Nk *
               (double)(c->D + c->Dv);
    if (c->causal) f *= 0.5;
    if (c->kind == BENCH_BWD) f *= 2.5;
    return f;
}

double bench_kv_bytes(const bench_case_t *c) {
    return (double)c->B * (double)c->Hkv * (double)c->Nk * (double)(c->D + c->Dv) *
           (c->f16 ? 2.0 : 4.0);
}

size_t bench_check_elems(const bench_case_t *c) {
    size_t q = (size_t)(c->B * c->Hq * c->Nq * c->D), o = (size_t)(c->B * c->Hq * c->Nq * c->Dv);
    size_t k = (size_t)(c->B * c->Hkv * c->Nk * c->D), v = (size_t)(c->B * c->Hkv * c->Nk * c->Dv);
    return c->kind == BENCH_BWD ? q + k + v : o;
}

/* ---- inputs ------------------------------------------------------------------------------ */

void *bench_alloc(size_t bytes) {
    void *p = NULL;
    if (bytes == 0) bytes = 64;
    if (posix_memalign(&p, 64, (bytes + 63) / 64 * 64) != 0) return NULL;
    return p;
}

void bench_fill(float *x, size_t n, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13; /* xorshift64 */
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 40) * (1.0 / 8388608.0) - 1.0); /* 24 bits -> [-1, 1) */
    }
}

/* ---- timing ------------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int bench_time(int (*step)(void *ctx), void *ctx, double warm_s, double target_s,
               bench_timing_t *t) {
    double want = warm_s > 0 ? ceil(target_s / warm_s) : 2000.0;
    int reps = want < 3 ? 3 : want > 2000 ? 2000 : (int)want;
    double *times = malloc(sizeof(double) * (size_t)reps);
    if (!times) return -1;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        if (step(ctx) != 0) {
            free(times);
            return -1;
        }
        times[r] = bench_now() - t0;
    }
    qsort(times, (size_t)reps, sizeof(double), cmp_double);
    t->reps = reps;
    double mid = reps % 2 ? times[reps / 2] : 0.5 * (times[reps / 2 - 1] + times[reps / 2]);
    t->median_ms = 1e3 * mid;
    t->min_ms = 1e3 * times[0];
    t->max_ms = 1e3 * times[reps - 1];
    free(times);
    return 0;
}

/* ---- attn's kernels ---------------------------------------------------------------------- */

typedef struct attn_run {
    attn_shape_t shape;
    attn_params_t params;
    attn_src_t q, k, v, o_in, d_o;
    attn_dst_t o, dq, dk, dv;
    float *lse;
    attn_status_t status;
} attn_run_t;

static int step_forward(void *p) {
    attn_run_t *r = p;
    r->status = attn_forward(&r->shape, &r->params, r->q, r->k, r->v, r->o, r->lse);
    return r->status == ATTN_STATUS_OK ? 0 : -1;
}

static int step_backward(void *p) {
    attn_run_t *r = p;
    attn_dst_t none = {NULL, {0, 0, 0, 0}};
    r->status = attn_backward(&r->shape, &r->params, r->q, r->k, r->v, r->o_in, r->lse, r->d_o,
                              r->dq, r->dk, r->dv, none);
    return r->status == ATTN_STATUS_OK ? 0 : -1;
}

static void fail(bench_timing_t *t, const char *what) {
    t->status = BENCH_FAILED;
    snprintf(t->note, sizeof t->note, "%s", what);
}

static void fail_attn(bench_timing_t *t, const char *fn, attn_status_t st) {
    const char *msg = attn_last_error();
    t->status = BENCH_FAILED;
    snprintf(t->note, sizeof t->note, "%s failed: %s", fn,
             msg && *msg ? msg : attn_status_string(st));
}

/* Q, K, V [B, H, N, D] contiguous; K and V as fp16 for an fp16 case. */
static void *make_kv(const bench_case_t *c, size_t n, uint64_t seed) {
    float *x = bench_alloc(n * sizeof(float));
    if (!x || !c->f16) {
        if (x) bench_fill(x, n, seed);
        return x;
    }
    bench_fill(x, n, seed);
    uint16_t *h = bench_alloc(n * sizeof(uint16_t));
    if (h)
        for (size_t i = 0; i < n; i++) h[i] = attn__f32_to_f16(x[i]);
    free(x);
    return h;
}

static void attn_child(bench_job_t *job, attn_kernel_t kernel, bench_timing_t *t) {
    const bench_case_t *c = job->c;
    memset(t, 0, sizeof *t);
    t->max_err = -1.0;
    attn_set_num_threads(job->threads);
    const int64_t B = c->B, Hq = c->Hq, Hkv = c->Hkv, Nq = c->Nq, Nk = c->Nk, D = c->D,
                  Dv = c->Dv;
    size_t nq = (size_t)(B * Hq * Nq * D), nk = (size_t)(B * Hkv * Nk * D);
    size_t nv = (size_t)(B * Hkv * Nk * Dv), no = (size_t)(B * Hq * Nq * Dv);
    int bwd = c->kind == BENCH_BWD;
    attn_dtype_t kvt = c->f16 ? ATTN_DTYPE_F16 : ATTN_DTYPE_F32;

    float *Q = bench_alloc(nq * sizeof(float)), *O = bench_alloc(no * sizeof(float));
    float *LSE = bench_alloc((size_t)(B * Hq * Nq) * sizeof(float));
    void *K = make_kv(c, nk, 2), *V = make_kv(c, nv, 3);
    float *dO = NULL, *dQ = NULL, *dK = NULL, *dV = NULL;
    if (bwd) {
        dO = bench_alloc(no * sizeof(float));
        dQ = bench_alloc(nq * sizeof(float));
        dK = bench_alloc(nk * sizeof(float));
        dV = bench_alloc(nv * sizeof(float));
    }
    if (!Q || !O || !LSE || !K || !V || (bwd && (!dO || !dQ || !dK || !dV))) {
        fail(t, "out of memory for the inputs");
        goto done;
    }
    bench_fill(Q, nq, 1);
    if (bwd) bench_fill(dO, no, 4);

    attn_run_t r;
    memset(&r, 0, sizeof r);
    r.shape = (attn_shape_t){B, Hq, Hkv, Nq, Nk, D, Dv};
    r.params = attn_default_params();
    r.params.kernel = kernel;
    r.params.causal = c->causal ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_NONE;
    r.q = attn_src_f32(Q, Hq * Nq * D, Nq * D, D);
    r.k = attn_src_typed(K, kvt, Hkv * Nk * D, Nk * D, D);
    r.v = attn_src_typed(V, kvt, Hkv * Nk * Dv, Nk * Dv, Dv);
    r.o = attn_dst_f32(O, Hq * Nq * Dv, Nq * Dv, Dv);
    r.lse = LSE;
    if (bwd) {
        r.o_in = attn_src_f32(O, Hq * Nq * Dv, Nq * Dv, Dv);
        r.d_o = attn_src_f32(dO, Hq * Nq * Dv, Nq * Dv, Dv);
        r.dq = attn_dst_f32(dQ, Hq * Nq * D, Nq * D, D);
        r.dk = attn_dst_f32(dK, Hkv * Nk * D, Nk * D, D);
        r.dv = attn_dst_f32(dV, Hkv * Nk * Dv, Nk * Dv, Dv);
        if (step_forward(&r) != 0) { /* O and LSE for the backward; not timed */
            fail_attn(t, "attn_forward", r.status);
            goto done;
        }
    }
    int (*step)(void *) = bwd ? step_backward : step_forward;
    double t0 = bench_now();
    if (step(&r) != 0) { /* warm-up */
        fail_attn(t, bwd ? "attn_backward" : "attn_forward", r.status);
        goto done;
    }
    double warm = bench_now() - t0;
    if (job->shared) {
        if (bwd) {
            memcpy(job->shared, dQ, nq * sizeof(float));
            memcpy(job->shared + nq, dK, nk * sizeof(float));
            memcpy(job->shared + nq + nk, dV, nv * sizeof(float));
        } else {
            memcpy(job->shared, O, no * sizeof(float));
        }
    }
    if (bench_time(step, &r, warm, job->target_s, t) != 0) {
        fail_attn(t, bwd ? "attn_backward" : "attn_forward", r.status);
        goto done;
    }
    t->status = BENCH_RAN;
done:
    t->rss_mib = bench_self_rss_mib();
    free(Q);
    free(K);
    free(V);
    free(O);
    free(LSE);
    free(dO);
    free(dQ);
    free(dK);
    free(dV);
}

void bench_child_attn_fused(void *job, void *out) {
    attn_child(job, ATTN_KERNEL_FUSED, out);
}

void bench_child_attn_reference(void *job, void *out) {
    bench_job_t j = *(bench_job_t *)job;
    j.shared = NULL; /* the naive run checks against the fused outputs only */
    attn_child(&j, ATTN_KERNEL_REFERENCE, out);
}
