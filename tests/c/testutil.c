#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- failure counting ------------------------------------------------------------------- */
long tu_checks, tu_failures;
static char current_case[512] = "(setup)";
static double start_time = -1.0;

double tu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tu_begin(const char *fmt, ...) {
    if (start_time < 0) start_time = tu_seconds();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(current_case, sizeof current_case, fmt, ap);
    va_end(ap);
}

void tu_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    tu_failures++;
    if (tu_failures > 60) {
        if (tu_failures == 61) fprintf(stderr, "(further failures are counted, not printed)\n");
        return;
    }
    fprintf(stderr, "FAIL %s:%d [%s]\n     %s\n     ", file, line, current_case, expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tu_finish(const char *suite) {
    double t = start_time < 0 ? 0.0 : tu_seconds() - start_time;
    printf("%s: %ld checks, %ld failures, %.2f s\n", suite, tu_checks, tu_failures, t);
    fflush(stdout);
    if (tu_checks == 0) {
        fprintf(stderr, "%s: no check ran\n", suite);
        return 1;
    }
    return tu_failures == 0 ? 0 : 1;
}

/* ---- RNG ---------------------------------------------------------------------------------- */
void tu_rng_seed(tu_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 12345u; }

uint64_t tu_rng_next(tu_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_rng_unif(tu_rng *r) { return (double)(tu_rng_next(r) >> 11) * 0x1.0p-53; }
float tu_rng_sym(tu_rng *r, double amp) { return (float)(amp * (2.0 * tu_rng_unif(r) - 1.0)); }
int64_t tu_rng_int(tu_rng *r, int64_t n) { return (int64_t)(tu_rng_next(r) % (uint64_t)n); }

/* ---- tensors ------------------------------------------------------------------------------ */
const char *tu_layout_name(tu_layout l) {
    static const char *const names[] = {"contig", "bnhd", "padded", "dmajor", "bcast_b",
                                        "bcast_h", "reversed", "bcast_n"};
    return (unsigned)l < TL_COUNT ? names[l] : "?";
}

float tu_nan_fill(void) {
    uint32_t bits = 0x7fc0beefu;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void tu_tensor_alloc(tu_tensor *t, const int64_t dim[4], tu_layout layout, float fill) {
    const int64_t H = dim[1], N = dim[2], D = dim[3];
    int64_t *s = t->stride;
    for (int d = 0; d < 4; d++) t->dim[d] = dim[d];
    switch (layout) {
    case TL_BNHD: s[3] = 1; s[1] = D; s[2] = H * D; s[0] = N * H * D; break;
    case TL_PADDED: s[3] = 1; s[2] = D + 3; s[1] = (N + 2) * s[2]; s[0] = H * s[1] + 5; break;
    case TL_DMAJOR: s[2] = 1; s[3] = N; s[1] = D * N; s[0] = H * D * N; break;
    case TL_BCAST_B: s[3] = 1; s[2] = D; s[1] = N * D; s[0] = 0; break;
    case TL_BCAST_H: s[3] = 1; s[2] = D; s[1] = 0; s[0] = N * D; break;
    case TL_REVERSED: s[0] = 1; s[1] = dim[0]; s[2] = H * dim[0]; s[3] = N * H * dim[0]; break;
    case TL_BCAST_N: s[3] = 1; s[2] = 0; s[1] = D; s[0] = H * D; break;
    case TL_CONTIG:
    default: s[3] = 1; s[2] = D; s[1] = N * D; s[0] = H * N * D; break;
    }
    int64_t last = 0;
    for (int d = 0; d < 4; d++) last += (dim[d] - 1) * s[d];
    t->n = last + 1 + (layout == TL_PADDED ? 7 : 0);
    t->buf = malloc(sizeof(float) * (size_t)t->n);
    if (!t->buf) {
        fprintf(stderr, "out of memory allocating a test tensor\n");
        exit(2);
    }
    for (int64_t e = 0; e < t->n; e++) t->buf[e] = fill;
}

void tu_tensor_free(tu_tensor *t) {
    free(t->buf);
    t->buf = NULL;
}

int64_t tu_off(const tu_tensor *t, int64_t b, int64_t h, int64_t n, int64_t d) {
    return b * t->stride[0] + h * t->stride[1] + n * t->stride[2] + d * t->stride[3];
}

#define FOR_EACH(t, b, h, n, d)                                                               \
    for (int64_t b = 0; b < (t)->dim[0]; b++)                                                 \
        for (int64_t h = 0; h < (t)->dim[1]; h++)                                             \
            for (int64_t n = 0; n < (t)->dim[2]; n++)                                         \
                for (int64_t d = 0; d < (t)->dim[3]; d++)

void tu_tensor_random(tu_tensor *t, tu_rng *r, double amp) {
    FOR_EACH(t, b, h, n, d) TU_AT(t, b, h, n, d) = tu_rng_sym(r, amp);
}

void tu_tensor_set_all(tu_tensor *t, float v) {
    for (int64_t e = 0; e < t->n; e++) t->buf[e] = v;
}

attn_src_t tu_src(const tu_tensor *t) {
    attn_src_t s;
    s.data = t->buf;
    s.dtype = ATTN_DTYPE_F32;
    for (int d = 0; d < 4; d++) s.stride[d] = t->stride[d];
    return s;
}

attn_dst_t tu_dst(const tu_tensor *t) {
    attn_dst_t s;
    s.data = t->buf;
    for (int d = 0; d < 4; d++) s.stride[d] = t->stride[d];
    return s;
}

double tu_max_abs(const tu_tensor *t) {
    double m = 0.0;
    FOR_EACH(t, b, h, n, d) {
        double x = fabs((double)TU_AT(t, b, h, n, d));
        if (!(x <= m)) m = x; /* NaN propagates */
    }
    return m;
}

double tu_max_diff(const tu_tensor *a, const tu_tensor *x) {
    double m = 0.0;
    FOR_EACH(a, b, h, n, d) {
        float u = TU_AT(a, b, h, n, d), w = TU_AT(x, b, h, n, d);
        if (!isfinite(u) || !isfinite(w)) {
            if (memcmp(&u, &w, sizeof u) != 0) return INFINITY;
            continue;
        }
        double e = fabs((double)u - (double)w);
        if (e > m) m = e;
    }
    return m;
}

int64_t tu_count_nonfinite(const tu_tensor *t) {
    int64_t c = 0;
    FOR_EACH(t, b, h, n, d) c += !isfinite(TU_AT(t, b, h, n, d));
    return c;
}

int tu_padding_intact(const tu_tensor *t, float fill) {
    unsigned char *logical = calloc((size_t)t->n, 1);
    if (!logical) return 0;
    FOR_EACH(t, b, h, n, d) logical[tu_off(t, b, h, n, d)] = 1;
    int ok = 1;
    for (int64_t e = 0; e < t->n && ok; e++)
        if (!logical[e] && memcmp(&t->buf[e], &fill, sizeof fill) != 0) ok = 0;
    free(logical);
    return ok;
}

int tu_bitwise_equal(const tu_tensor *a, const tu_tensor *x) {
    FOR_EACH(a, b, h, n, d) {
        float u = TU_AT(a, b, h, n, d), w = TU_AT(x, b, h, n, d);
        if (memcmp(&u, &w, sizeof u) != 0) return 0;
    }
    return 1;
}

/* ---- one attention problem -------------------------------------------------------------- */
static int64_t mask_off(const tu_problem *p, int64_t b, int64_t h, int64_t i, int64_t j) {
    const int64_t idx[4] = {b, h, i, j};
    int64_t off = 0;
    for (int d = 0; d < 4; d++)
        if (p->mshape[d] > 1) off += idx[d] * p->mstride[d];
    return off;
}

static void hide_entry(tu_problem *p, int64_t off) {
    if (p->c.mask == ATTN_MASK_BOOL) ((uint8_t *)p->mask_buf)[off] = 0;
    else ((float *)p->mask_buf)[off] = -INFINITY;
}

static void build_mask(tu_problem *p, tu_rng *r) {
    const tu_case *c = &p->c;
    const int64_t full[4] = {c->B, c->Hq, c->Nq, c->Nk};
    for (int d = 0; d < 4; d++) p->mshape[d] = c->mfull[d] ? full[d] : 1;
    /* padded strides: 2 extra keys per row, 1 extra row per head; size-1 dimensions get a
     * nonsense stride, which the library must ignore */
    int64_t s = 1;
    const int64_t pad[4] = {3, 1, 1, 2};
    for (int d = 3; d >= 0; d--) {
        p->mstride[d] = p->mshape[d] > 1 ? s : 1000003;
        if (p->mshape[d] > 1) s *= p->mshape[d] + pad[d];
    }
    p->mask_n = s;
    size_t esz = c->mask == ATTN_MASK_BOOL ? 1 : sizeof(float);
    p->mask_buf = malloc(esz * (size_t)s);
    if (!p->mask_buf) exit(2);
    /* padding holds values that would show if read: true / NaN */
    for (int64_t e = 0; e < s; e++) {
        if (c->mask == ATTN_MASK_BOOL) ((uint8_t *)p->mask_buf)[e] = 1;
        else ((float *)p->mask_buf)[e] = NAN;
    }
    for (int64_t a = 0; a < p->mshape[0]; a++)
        for (int64_t h = 0; h < p->mshape[1]; h++)
            for (int64_t i = 0; i < p->mshape[2]; i++)
                for (int64_t j = 0; j < p->mshape[3]; j++) {
                    int64_t off = mask_off(p, a, h, i, j);
                    if (c->mask == ATTN_MASK_BOOL) ((uint8_t *)p->mask_buf)[off] = 1 + (j % 3);
                    else ((float *)p->mask_buf)[off] = tu_rng_sym(r, 1.5);
                    if (tu_rng_unif(r) < c->hide) hide_entry(p, off);
                    if (c->hide_slice) {
                        int hit = p->mshape[2] > 1 ? i == p->mshape[2] / 2
                                  : p->mshape[0] > 1 ? a == 0 : p->mshape[1] > 1 ? h == 0 : 0;
                        if (hit) hide_entry(p, off);
                    }
                }
}

void tu_problem_init(tu_problem *p, const tu_case *c, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    memset(p, 0, sizeof *p);
    p->c = *c;
    attn_shape_t sh = {c->B, c->Hq, c->Hkv, c->Nq, c->Nk, c->D, c->Dv};
    p->shape = sh;
    p->params = attn_default_params();
    if (c->scale != 0.0f) p->params.scale = c->scale;
    p->params.causal = c->causal;
    p->params.dropout_p = c->dropout;
    p->params.dropout_seed = seed * 0x9E3779B97F4A7C15ull + 17;
    double amp = c->amp > 0 ? c->amp : 1.0;
    const int64_t dq[4] = {c->B, c->Hq, c->Nq, c->D}, dk[4] = {c->B, c->Hkv, c->Nk, c->D};
    const int64_t dv[4] = {c->B, c->Hkv, c->Nk, c->Dv}, dout[4] = {c->B, c->Hq, c->Nq, c->Dv};
    tu_tensor_alloc(&p->q, dq, c->lq, NAN);
    tu_tensor_alloc(&p->k, dk, c->lkv, NAN);
    tu_tensor_alloc(&p->v, dv, c->lkv, NAN);
    tu_tensor_alloc(&p->d_o, dout, c->lo, NAN);
    tu_tensor_random(&p->q, &r, amp);
    tu_tensor_random(&p->k, &r, amp);
    tu_tensor_random(&p->v, &r, 1.0);
    tu_tensor_random(&p->d_o, &r, 1.0);
    if (c->key_lens != TU_KL_NONE) {
        p->key_lens = malloc(sizeof(int64_t) * (size_t)c->B);
        if (!p->key_lens) exit(2);
        const int64_t most = c->key_lens == TU_KL_SHORT && c->Nk > 1000 ? 1000 : c->Nk;
        for (int64_t b = 0; b < c->B; b++) p->key_lens[b] = 1 + tu_rng_int(&r, most);
        if (c->key_lens == TU_KL_ZERO) p->key_lens[c->B - 1] = 0;
        p->params.key_lens = p->key_lens;
    }
    if (c->mask != ATTN_MASK_NONE) {
        build_mask(p, &r);
        p->params.mask.kind = c->mask;
        p->params.mask.data = p->mask_buf;
        for (int d = 0; d < 4; d++) {
            p->params.mask.shape[d] = p->mshape[d];
            p->params.mask.stride[d] = p->mstride[d];
        }
    }
}

void tu_problem_free(tu_problem *p) {
    tu_tensor_free(&p->q); tu_tensor_free(&p->k); tu_tensor_free(&p->v);
    tu_tensor_free(&p->d_o);
    free(p->mask_buf); free(p->key_lens);
    p->mask_buf = NULL; p->key_lens = NULL;
}

void tu_outputs_alloc(tu_outputs *o, const tu_problem *p) {
    const tu_case *c = &p->c;
    const float nf = tu_nan_fill();
    const int64_t dq[4] = {c->B, c->Hq, c->Nq, c->D}, dk[4] = {c->B, c->Hkv, c->Nk, c->D};
    const int64_t dv[4] = {c->B, c->Hkv, c->Nk, c->Dv}, dout[4] = {c->B, c->Hq, c->Nq, c->Dv};
    memset(o, 0, sizeof *o);
    tu_tensor_alloc(&o->o, dout, c->lo, nf);
    tu_tensor_alloc(&o->dq, dq, c->lo, nf);
    tu_tensor_alloc(&o->dk, dk, c->lo, nf);
    tu_tensor_alloc(&o->dv, dv, c->lo, nf);
    o->has_dbias = c->mask == ATTN_MASK_BIAS;
    const int64_t one[4] = {1, 1, 1, 1};
    tu_tensor_alloc(&o->dbias, o->has_dbias ? p->mshape : one, TL_PADDED, nf);
    for (int d = 0; d < 4; d++) /* size-1 dimensions: any stride is allowed for an output */
        if (o->dbias.dim[d] == 1) o->dbias.stride[d] = d == 1 ? 0 : 77;
    size_t nl = (size_t)(c->B * c->Hq * c->Nq);
    o->lse = malloc(sizeof(float) * nl);
    if (!o->lse) exit(2);
    for (size_t e = 0; e < nl; e++) o->lse[e] = nf;
}

void tu_outputs_free(tu_outputs *o) {
    tu_tensor_free(&o->o); tu_tensor_free(&o->dq); tu_tensor_free(&o->dk);
    tu_tensor_free(&o->dv); tu_tensor_free(&o->dbias);
    free(o->lse);
    o->lse = NULL;
}

attn_status_t tu_forward(tu_problem *p, attn_kernel_t kernel, tu_outputs *out) {
    attn_params_t prm = p->params;
    prm.kernel = kernel;
    return attn_forward(&p->shape, &prm, tu_src(&p->q), tu_src(&p->k), tu_src(&p->v),
                        tu_dst(&out->o), out->lse);
}

attn_status_t tu_backward(tu_problem *p, attn_kernel_t kernel, tu_outputs *out) {
    attn_params_t prm = p->params;
    prm.kernel = kernel;
    attn_dst_t db = tu_dst(&out->dbias);
    if (!out->has_dbias) db.data = NULL;
    return attn_backward(&p->shape, &prm, tu_src(&p->q), tu_src(&p->k), tu_src(&p->v),
                         tu_src(&out->o), out->lse, tu_src(&p->d_o), tu_dst(&out->dq),
                         tu_dst(&out->dk), tu_dst(&out->dv), db);
}

const char *tu_case_str(const tu_case *c) {
    static char buf[400];
    static const char *const causal[] = {"none", "top-left", "bottom-right"};
    static const char *const mk[] = {"none", "bool", "bias"};
    snprintf(buf, sizeof buf,
             "%s: B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld Dv=%lld causal=%s mask=%s"
             "[%s,%s,%s,%s] hide=%.2f%s key_lens=%d layouts q=%s kv=%s out=%s dropout=%g",
             c->name, (long long)c->B, (long long)c->Hq, (long long)c->Hkv, (long long)c->Nq,
             (long long)c->Nk, (long long)c->D, (long long)c->Dv, causal[c->causal % 3],
             mk[c->mask % 3], c->mfull[0] ? "B" : "1", c->mfull[1] ? "Hq" : "1",
             c->mfull[2] ? "Nq" : "1", c->mfull[3] ? "Nk" : "1", c->hide,
             c->hide_slice ? "+slice" : "", c->key_lens, tu_layout_name(c->lq),
             tu_layout_name(c->lkv), tu_layout_name(c->lo), (double)c->dropout);
    return buf;
}

/* ---- the oracle --------------------------------------------------------------------------- */
/* The scale is a float parameter, so the default 1/sqrt(D) is the float nearest to it. */
double tu_scale(const tu_problem *p) {
    float s = p->params.scale;
    return isnan(s) ? (double)(float)(1.0 / sqrt((double)p->c.D)) : (double)s;
}

double tu_mask_bias(const tu_problem *p, int64_t b, int64_t h, int64_t i, int64_t j) {
    if (p->c.mask != ATTN_MASK_BIAS) return 0.0;
    return (double)((const float *)p->mask_buf)[mask_off(p, b, h, i, j)];
}

int tu_visible(const tu_problem *p, int64_t b, int64_t h, int64_t i, int64_t j) {
    int64_t L = p->key_lens ? p->key_lens[b] : p->c.Nk;
    if (j >= L) return 0;
    if (p->c.causal == ATTN_CAUSAL_TOP_LEFT && j > i) return 0;
    if (p->c.causal == ATTN_CAUSAL_BOTTOM_RIGHT && j > i + (L - p->c.Nq)) return 0;
    if (p->c.mask == ATTN_MASK_BOOL && !((const uint8_t *)p->mask_buf)[mask_off(p, b, h, i, j)])
        return 0;
    if (p->c.mask == ATTN_MASK_BIAS && tu_mask_bias(p, b, h, i, j) == -INFINITY) return 0;
    return 1;
}

double tu_score(const tu_problem *p, int64_t b, int64_t h, int64_t i, int64_t j) {
    if (!tu_visible(p, b, h, i, j)) return -INFINITY;
    int64_t hk = h / (p->c.Hq / p->c.Hkv);
    double dot = 0.0;
    for (int64_t d = 0; d < p->c.D; d++)
        dot += (double)TU_AT(&p->q, b, h, i, d) * (double)TU_AT(&p->k, b, hk, j, d);
    return tu_scale(p) * dot + tu_mask_bias(p, b, h, i, j);
}

int tu_row_hidden(const tu_problem *p, int64_t b, int64_t h, int64_t i) {
    for (int64_t j = 0; j < p->c.Nk; j++)
        if (tu_visible(p, b, h, i, j)) return 0;
    return 1;
}

void tu_oracle_forward(const tu_problem *p, double *o, double *lse) {
    const tu_case *c = &p->c;
    double *s = malloc(sizeof(double) * (size_t)c->Nk);
    if (!s) exit(2);
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->Hq; h++)
            for (int64_t i = 0; i < c->Nq; i++) {
                int64_t row = (b * c->Hq + h) * c->Nq + i, hk = h / (c->Hq / c->Hkv);
                double mx = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j < c->Nk; j++) {
                    s[j] = tu_score(p, b, h, i, j);
                    if (s[j] > mx) mx = s[j];
                }
                for (int64_t j = 0; j < c->Nk; j++)
                    sum += s[j] == -INFINITY ? 0.0 : exp(s[j] - mx);
                if (lse) lse[row] = mx == -INFINITY ? -INFINITY : mx + log(sum);
                if (o)
                    for (int64_t e = 0; e < c->Dv; e++) {
                        double acc = 0.0;
                        for (int64_t j = 0; j < c->Nk; j++)
                            if (s[j] != -INFINITY)
                                acc += exp(s[j] - mx) * (double)TU_AT(&p->v, b, hk, j, e);
                        o[row * c->Dv + e] = mx == -INFINITY ? 0.0 : acc / sum;
                    }
            }
    free(s);
}

double tu_max_score(const tu_problem *p) {
    double m = 0.0;
    for (int64_t b = 0; b < p->c.B; b++)
        for (int64_t h = 0; h < p->c.Hq; h++)
            for (int64_t i = 0; i < p->c.Nq; i++)
                for (int64_t j = 0; j < p->c.Nk; j++) {
                    double s = tu_score(p, b, h, i, j);
                    if (s != -INFINITY && fabs(s) > m) m = fabs(s);
                }
    return m;
}

double tu_tol(double base, double refmax, double nred, double smax) {
    double g = nred > 64 ? sqrt(nred / 64.0) : 1.0;
    double gs = smax > 4 ? smax / 4.0 : 1.0;
    return base * (refmax > 1 ? refmax : 1.0) * g * gs;
}

static int row_zero(const tu_tensor *t, int64_t b, int64_t h, int64_t n) {
    for (int64_t d = 0; d < t->dim[3]; d++)
        if (TU_AT(t, b, h, n, d) != 0.0f) return 0;
    return 1;
}

void tu_check_hidden(const tu_problem *p, const tu_outputs *out, int with_grads,
                     const char *label) {
    const tu_case *c = &p->c;
    const int64_t g = c->Hq / c->Hkv;
    int64_t bad_o = 0, bad_lse = 0, bad_dq = 0, bad_kv = 0, bad_db = 0, hidden_rows = 0;
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->Hq; h++)
            for (int64_t i = 0; i < c->Nq; i++) {
                float l = out->lse[(b * c->Hq + h) * c->Nq + i];
                if (tu_row_hidden(p, b, h, i)) {
                    hidden_rows++;
                    bad_o += !row_zero(&out->o, b, h, i);
                    bad_lse += !(l == -INFINITY);
                    if (with_grads) bad_dq += !row_zero(&out->dq, b, h, i);
                } else {
                    bad_lse += !isfinite(l);
                }
            }
    CHECK(bad_o == 0, "%s: %lld fully hidden rows of O are not exactly 0 (of %lld)", label,
          (long long)bad_o, (long long)hidden_rows);
    CHECK(bad_lse == 0, "%s: %lld LSE values wrong: -inf exactly when the row is hidden, "
          "finite otherwise", label, (long long)bad_lse);
    CHECK(tu_count_nonfinite(&out->o) == 0, "%s: O has non-finite values", label);
    if (!with_grads) return;
    CHECK(bad_dq == 0, "%s: %lld hidden rows of dQ are not exactly 0", label, (long long)bad_dq);
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t hk = 0; hk < c->Hkv; hk++)
            for (int64_t j = 0; j < c->Nk; j++) {
                int seen = 0;
                for (int64_t h = hk * g; h < (hk + 1) * g && !seen; h++)
                    for (int64_t i = 0; i < c->Nq && !seen; i++) seen = tu_visible(p, b, h, i, j);
                if (!seen)
                    bad_kv += !row_zero(&out->dk, b, hk, j) || !row_zero(&out->dv, b, hk, j);
            }
    CHECK(bad_kv == 0, "%s: %lld keys hidden from every query have nonzero dK or dV", label,
          (long long)bad_kv);
    CHECK(tu_count_nonfinite(&out->dq) == 0, "%s: dQ has non-finite values", label);
    CHECK(tu_count_nonfinite(&out->dk) == 0, "%s: dK has non-finite values", label);
    CHECK(tu_count_nonfinite(&out->dv) == 0, "%s: dV has non-finite values", label);
    if (!out->has_dbias) return;
    CHECK(tu_count_nonfinite(&out->dbias) == 0, "%s: dbias has non-finite values", label);
    const int64_t *ms = p->mshape;
    for (int64_t a = 0; a < ms[0]; a++)
        for (int64_t hm = 0; hm < ms[1]; hm++)
            for (int64_t im = 0; im < ms[2]; im++)
                for (int64_t jm = 0; jm < ms[3]; jm++) {
                    /* the [B, Hq, Nq, Nk] positions this mask entry broadcasts to */
                    int seen = 0;
                    int64_t b1 = ms[0] > 1 ? a + 1 : c->B, h1 = ms[1] > 1 ? hm + 1 : c->Hq;
                    int64_t i1 = ms[2] > 1 ? im + 1 : c->Nq, j1 = ms[3] > 1 ? jm + 1 : c->Nk;
                    for (int64_t b = ms[0] > 1 ? a : 0; b < b1 && !seen; b++)
                        for (int64_t h = ms[1] > 1 ? hm : 0; h < h1 && !seen; h++)
                            for (int64_t i = ms[2] > 1 ? im : 0; i < i1 && !seen; i++)
                                for (int64_t j = ms[3] > 1 ? jm : 0; j < j1 && !seen; j++)
                                    seen = tu_visible(p, b, h, i, j);
                    if (!seen) bad_db += TU_AT(&out->dbias, a, hm, im, jm) != 0.0f;
                }
    CHECK(bad_db == 0, "%s: %lld dbias entries with only hidden contributions are nonzero",
          label, (long long)bad_db);
}
