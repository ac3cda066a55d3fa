/* nn/layernorm: against PyTorch's nn.LayerNorm(8) with non-trivial weight and bias, finite
 * differences, the cached statistics, initialisation, the same bits on 1 and 2 threads over
 * 1000 rows (dweight and dbias within 1e-5 abs + 1e-6 rel of a double sum), widths that
 * are not a multiple of the sums' lanes against a double-precision reference, and errors.
 *
 * PyTorch (float64 on the same float32 values): y within 1e-5 abs + 1e-5 rel, dx, dweight
 * and dbias within 1e-4 abs + 1e-4 rel.
 * Finite differences (L = sum(y * G) in double, h = 1e-2): |fd - g| <= 2e-3 max(1, max|g|)
 * + 1e-2 |g| (h^2 truncation and fp32 rounding of L / 2h are both ~1e-5 here). */
#include "nn/layernorm.h"
#include "transformer_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 6, C = 8 };

static void torch_case(const ref_file *f) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__layernorm_t ln;
    TC_OK(attn__layernorm_init(&ln, &ps, "ln", C, 1e-5f));
    TC_OK(attn__params_alloc(&ps));
    tc_load_params(&ps, f, "ln");
    const float *x = tc_ref(f, "ln.x", N * C), *dy = tc_ref(f, "ln.dy", N * C);
    const float *y_ref = tc_ref(f, "ln.y", N * C), *dx_ref = tc_ref(f, "ln.dx", N * C);
    if (x && dy && y_ref && dx_ref) {
        float y[N * C], dx[N * C] = {0}, mean[N], rstd[N];
        TC_OK(attn__layernorm_forward(&ln, &ps, N, x, y, mean, rstd));
        tc_close("layernorm y vs torch", y, y_ref, N * C, 1e-5, 1e-5);
        TC_OK(attn__layernorm_backward(&ln, &ps, N, x, mean, rstd, dy, dx));
        tc_close("layernorm dx vs torch", dx, dx_ref, N * C, 1e-4, 1e-4);
        tc_check_param_grads(&ps, f, 1e-4, 1e-4);

        /* the cache: mean and 1 / sqrt(biased variance + eps) of each row */
        float want_mean[N], want_rstd[N];
        for (int i = 0; i < N; i++) {
            double s = 0, v = 0;
            for (int c = 0; c < C; c++) s += x[i * C + c];
            s /= C;
            for (int c = 0; c < C; c++) v += (x[i * C + c] - s) * (x[i * C + c] - s);
            want_mean[i] = (float)s;
            want_rstd[i] = (float)(1.0 / sqrt(v / C + 1e-5));
        }
        tc_close("layernorm cached mean", mean, want_mean, N, 1e-6, 1e-6);
        tc_close("layernorm cached rstd", rstd, want_rstd, N, 1e-6, 1e-6);
    }
    attn__params_free(&ps);
}

typedef struct {
    attn__layernorm_t ln;
    attn__params_t ps;
    float x[N * C], y[N * C], g[N * C], mean[N], rstd[N];
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    TC_OK(attn__layernorm_forward(&c->ln, &c->ps, N, c->x, c->y, c->mean, c->rstd));
    return tc_dot(c->y, c->g, N * C);
}

static void gradcheck(void) {
    static fd_ctx c;
    attn__rng_t r;
    attn__rng_seed(&r, 11);
    attn__params_init(&c.ps);
    TC_OK(attn__layernorm_init(&c.ln, &c.ps, "norm", C, 1e-5f));
    TC_OK(attn__params_alloc(&c.ps));
    TC_OK(attn__layernorm_reset(&c.ln, &c.ps));
    float *w = attn__pw(&c.ps, c.ln.w), *b = attn__pw(&c.ps, c.ln.b);
    for (int i = 0; i < C; i++) {
        TC_CHECK(w[i] == 1.0f && b[i] == 0.0f, "init: weight 1, bias 0");
        w[i] = 1.0f + 0.5f * (2.0f * attn__rng_uniform(&r) - 1.0f);
        b[i] = 2.0f * attn__rng_uniform(&r) - 1.0f;
    }
    tc_fill(&r, c.x, N * C, 1.5f);
    for (int i = 0; i < N; i++) c.x[i * C] += 2.0f; /* rows with nonzero means */
    tc_fill(&r, c.g, N * C, 1.0f);
    float dx[N * C] = {0};
    TC_OK(attn__layernorm_forward(&c.ln, &c.ps, N, c.x, c.y, c.mean, c.rstd));
    TC_OK(attn__layernorm_backward(&c.ln, &c.ps, N, c.x, c.mean, c.rstd, c.g, dx));
    tc_gradcheck("layernorm fd dx", fd_loss, &c, c.x, dx, N * C, 1e-2, 2e-3, 1e-2);
    tc_gradcheck("layernorm fd dweight", fd_loss, &c, w, attn__pg(&c.ps, c.ln.w), C, 1e-2,
                 2e-3, 1e-2);
    tc_gradcheck("layernorm fd dbias", fd_loss, &c, b, attn__pg(&c.ps, c.ln.b), C, 1e-2, 2e-3,
                 1e-2);
    /* the gradient of a normalised row sums to zero over the row (shift invariance) */
    for (int i = 0; i < N; i++) {
        double s = 0, m = 0;
        for (int k = 0; k < C; k++) {
            s += dx[i * C + k];
            m = fmax(m, fabs(dx[i * C + k]));
        }
        TC_CHECK(fabs(s) <= 1e-5 * fmax(1.0, m), "row %d: dx sums to %g", i, s);
    }
    attn__params_free(&c.ps);
}

static void errors(void) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__layernorm_t ln;
    TC_CHECK(attn__layernorm_init(&ln, &ps, "n", 0, 1e-5f) == ATTN_STATUS_BAD_SHAPE, "C = 0");
    TC_CHECK(attn__layernorm_init(&ln, &ps, "n", 4, -1.0f) == ATTN_STATUS_BAD_ARGUMENT,
             "eps < 0");
    TC_OK(attn__layernorm_init(&ln, &ps, "n", 4, 1e-5f));
    TC_CHECK(attn__params_find(&ps, "n.weight") == ln.w && attn__params_find(&ps, "n.bias") ==
             ln.b, "parameter names");
    TC_OK(attn__params_alloc(&ps));
    float x[4] = {0}, y[4], m[1], r[1];
    TC_CHECK(attn__layernorm_forward(&ln, &ps, 1, x, y, NULL, r) == ATTN_STATUS_NULL_POINTER,
             "no mean buffer");
    TC_OK(attn__layernorm_reset(&ln, &ps));
    TC_OK(attn__layernorm_forward(&ln, &ps, 1, x, y, m, r));
    TC_CHECK(y[0] == 0.0f && isfinite(r[0]), "a constant row normalises to 0 (eps keeps it finite)");
    attn__params_free(&ps);
}

/* a layer norm of width c in its own store, weight and bias uniform in [-1, 1) drawn from r
 * seeded with `seed` (r goes on to draw the test's data) */
static void random_layer(attn__params_t *ps, attn__layernorm_t *ln, const char *name, int64_t c,
                         uint64_t seed, attn__rng_t *r) {
    attn__params_init(ps);
    TC_OK(attn__layernorm_init(ln, ps, name, c, 1e-5f));
    TC_OK(attn__params_alloc(ps));
    attn__rng_seed(r, seed);
    tc_fill(r, attn__pw(ps, ln->w), c, 1.0f);
    tc_fill(r, attn__pw(ps, ln->b), c, 1.0f);
}

/* many rows go to the thread pool in chunks: the same bits (y, dx, dweight, dbias) on 1 and
 * 2 threads, and the chunked sums agree with a plain double-precision reference */
static void threads(void) {
    enum { BN = 1000, BC = 256 };
    attn__params_t ps;
    attn__layernorm_t ln;
    attn__rng_t r;
    random_layer(&ps, &ln, "big", BC, 7, &r);
    float *x = malloc(sizeof(float) * BN * BC), *dy = malloc(sizeof(float) * BN * BC);
    float *y[2], *dx[2], *g[2], mean[BN], rstd[BN];
    tc_fill(&r, x, BN * BC, 2.0f);
    tc_fill(&r, dy, BN * BC, 1.0f);
    for (int t = 0; t < 2; t++) {
        attn_set_num_threads(t + 1);
        y[t] = malloc(sizeof(float) * BN * BC);
        dx[t] = calloc(BN * BC, sizeof(float));
        g[t] = malloc(sizeof(float) * 2 * BC);
        memset(attn__pg(&ps, ln.w), 0, sizeof(float) * BC);
        memset(attn__pg(&ps, ln.b), 0, sizeof(float) * BC);
        TC_OK(attn__layernorm_forward(&ln, &ps, BN, x, y[t], mean, rstd));
        TC_OK(attn__layernorm_backward(&ln, &ps, BN, x, mean, rstd, dy, dx[t]));
        memcpy(g[t], attn__pg(&ps, ln.w), sizeof(float) * BC);
        memcpy(g[t] + BC, attn__pg(&ps, ln.b), sizeof(float) * BC);
    }
    attn_set_num_threads(0);
    tc_bitwise("layernorm y: 1 thread = 2 threads", y[0], y[1], BN * BC);
    tc_bitwise("layernorm dx: 1 thread = 2 threads", dx[0], dx[1], BN * BC);
    tc_bitwise("layernorm dweight, dbias: 1 thread = 2 threads", g[0], g[1], 2 * BC);
    float want[2 * BC];
    for (int c = 0; c < BC; c++) {
        double sw = 0.0, sb = 0.0;
        for (int i = 0; i < BN; i++) {
            sw += (double)dy[i * BC + c] * (double)((x[i * BC + c] - mean[i]) * rstd[i]);
            sb += dy[i * BC + c];
        }
        want[c] = (float)sw;
        want[BC + c] = (float)sb;
    }
    tc_close("layernorm dweight, dbias over 1000 rows", g[0], want, 2 * BC, 1e-5, 1e-6);
    for (int t = 0; t < 2; t++) {
        free(y[t]);
        free(dx[t]);
        free(g[t]);
    }
    free(x);
    free(dy);
    attn__params_free(&ps);
}

/* widths that are not a multiple of the sums' 8 lanes (the tail path) and widths under 8,
 * against a double-precision layer norm: y, dx, dweight and dbias */
static void widths(void) {
    static const int64_t widths_[] = {1, 3, 8, 13, 67};
    enum { WN = 5, WMAX = 67 };
    for (size_t t = 0; t < sizeof widths_ / sizeof widths_[0]; t++) {
        const int64_t c = widths_[t];
        attn__params_t ps;
        attn__layernorm_t ln;
        attn__rng_t r;
        random_layer(&ps, &ln, "w", c, 100 + (uint64_t)c, &r);
        const float *w = attn__pw(&ps, ln.w), *b = attn__pw(&ps, ln.b);
        float x[WN * WMAX], dy[WN * WMAX], y[WN * WMAX], dx[WN * WMAX] = {0}, mean[WN], rstd[WN];
        float y_want[WN * WMAX], dx_want[WN * WMAX], g_want[2 * WMAX];
        tc_fill(&r, x, WN * c, 2.0f);
        for (int64_t i = 0; i < WN; i++) x[i * c] += 3.0f; /* rows with nonzero means */
        tc_fill(&r, dy, WN * c, 1.0f);
        for (int64_t k = 0; k < 2 * c; k++) g_want[k] = 0.0f;
        for (int64_t i = 0; i < WN; i++) {
            const float *xr = x + i * c, *dyr = dy + i * c;
            double m = 0, v = 0, sg = 0, sgx = 0;
            for (int64_t k = 0; k < c; k++) m += xr[k];
            m /= (double)c;
            for (int64_t k = 0; k < c; k++) v += (xr[k] - m) * (xr[k] - m);
            double rs = 1.0 / sqrt(v / (double)c + 1e-5);
            for (int64_t k = 0; k < c; k++) {
                double xh = (xr[k] - m) * rs, g = (double)dyr[k] * w[k];
                y_want[i * c + k] = (float)(xh * w[k] + b[k]);
                sg += g;
                sgx += g * xh;
                g_want[k] += (float)(dyr[k] * xh);
                g_want[c + k] += dyr[k];
            }
            for (int64_t k = 0; k < c; k++) {
                double xh = (xr[k] - m) * rs, g = (double)dyr[k] * w[k];
                dx_want[i * c + k] = (float)(rs * (g - sg / (double)c - xh * sgx / (double)c));
            }
        }
        TC_OK(attn__layernorm_forward(&ln, &ps, WN, x, y, mean, rstd));
        TC_OK(attn__layernorm_backward(&ln, &ps, WN, x, mean, rstd, dy, dx));
        char label[64];
        snprintf(label, sizeof label, "layernorm C = %lld: y", (long long)c);
        tc_close(label, y, y_want, WN * c, 1e-5, 1e-5);
        snprintf(label, sizeof label, "layernorm C = %lld: dx", (long long)c);
        tc_close(label, dx, dx_want, WN * c, 1e-4, 1e-4);
        snprintf(label, sizeof label, "layernorm C = %lld: dweight", (long long)c);
        tc_close(label, attn__pg(&ps, ln.w), g_want, c, 1e-5, 1e-5);
        snprintf(label, sizeof label, "layernorm C = %lld: dbias", (long long)c);
        tc_close(label, attn__pg(&ps, ln.b), g_want + c, c, 1e-5, 1e-5);
        attn__params_free(&ps);
    }
}

int main(int argc, char **argv) {
    double t0 = tc_seconds();
    if (argc != 2) {
        fprintf(stderr, "usage: %s REFERENCE_FILE\n", argv[0]);
        return 2;
    }
    ref_file f;
    TC_CHECK(ref_load(&f, argv[1]) == 0, "cannot load %s", argv[1]);
    if (tc_failures == 0) {
        torch_case(&f);
        ref_free(&f);
    }
    gradcheck();
    threads();
    widths();
    errors();
    return tc_finish("test_layernorm", tc_seconds() - t0);
}
