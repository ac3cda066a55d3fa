#include "test_rnn_util.h"

#include "attn.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

long tr_checks, tr_failures;

void tr_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    tr_failures++;
    if (tr_failures > 50) return; /* the count still tells */
    fprintf(stderr, "%s:%d: FAILED %s: ", file, line, expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int tr_finish(const char *suite) {
    printf("%s: %ld checks, %ld failures (%.2f s of CPU)\n", suite, tr_checks, tr_failures,
           (double)clock() / CLOCKS_PER_SEC);
    return tr_failures == 0 && tr_checks > 0 ? 0 : 1;
}

void tr_fill(float *x, int64_t n, attn__rng_t *r, float amp) {
    for (int64_t i = 0; i < n; i++) x[i] = (2.0f * attn__rng_uniform(r) - 1.0f) * amp;
}

float *tr_zeros(int64_t n) {
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory allocating %lld floats\n", (long long)n);
        exit(2); /* a test, not the library */
    }
    return p;
}

double tr_dot(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

double tr_fd_check(const char *what, float *x, const float *grad, int64_t n, tr_loss_fn loss,
                   void *ctx, double eps, double rtol, double atol) {
    double gmax = 0.0, worst = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(grad[i]) > gmax) gmax = fabs(grad[i]);
    for (int64_t i = 0; i < n; i++) {
        float x0 = x[i];
        float xp = (float)(x0 + eps), xm = (float)(x0 - eps);
        x[i] = xp;
        double lp = loss(ctx);
        x[i] = xm;
        double lm = loss(ctx);
        x[i] = x0;
        double fd = (lp - lm) / ((double)xp - (double)xm);
        double g = grad[i];
        double tol = rtol * fmax(fabs(g), 0.05 * gmax) + atol;
        double ratio = fabs(fd - g) / tol;
        if (ratio > worst) worst = ratio;
        TR_CHECK(fabs(fd - g) <= tol, "%s[%lld]: finite difference %.7g, backward %.7g "
                 "(tolerance %.3g)", what, (long long)i, fd, g, tol);
    }
    return worst;
}

double tr_fd_params(const char *what, attn__params_t *ps, tr_loss_fn loss, void *ctx,
                    double eps, double rtol, double atol) {
    double worst = 0.0;
    for (int32_t k = 0; k < ps->count; k++) {
        char label[160];
        snprintf(label, sizeof label, "%s %s", what, ps->list[k].name);
        double r = tr_fd_check(label, attn__pw(ps, k), attn__pg(ps, k), ps->list[k].numel,
                               loss, ctx, eps, rtol, atol);
        if (r > worst) worst = r;
    }
    return worst;
}

double tr_compare(const char *what, const float *got, int64_t n, const ref_tensor *want,
                  double rtol, double atol) {
    TR_CHECK(want != NULL, "%s: reference tensor missing", what);
    if (!want) return INFINITY;
    TR_CHECK(want->numel == n, "%s: %lld values, the reference has %lld", what, (long long)n,
             (long long)want->numel);
    if (want->numel != n) return INFINITY;
    double worst = 0.0;
    long bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = want->data[i], tol = atol + rtol * fabs(w);
        double err = fabs((double)got[i] - w);
        double ratio = isfinite(got[i]) ? err / tol : INFINITY;
        if (ratio > worst) worst = ratio;
        if (!(err <= tol) && bad++ < 5)
            fprintf(stderr, "  %s[%lld]: got %.8g, PyTorch %.8g (tolerance %.3g)\n", what,
                    (long long)i, got[i], w, tol);
    }
    TR_CHECK(bad == 0, "%s: %ld of %lld values outside atol %.1e + rtol %.1e (worst %.2f x "
             "tolerance)", what, bad, (long long)n, atol, rtol, worst);
    return worst;
}

int tr_params_from_ref(attn__params_t *ps, const ref_file *f) {
    for (int32_t k = 0; k < ps->count; k++) {
        const ref_tensor *t = ref_get(f, ps->list[k].name);
        TR_CHECK(t && t->numel == ps->list[k].numel, "weights of %s missing or of another size",
                 ps->list[k].name);
        if (!t || t->numel != ps->list[k].numel) return -1;
        memcpy(attn__pw(ps, k), t->data, sizeof(float) * (size_t)t->numel);
    }
    return 0;
}

double tr_compare_param_grads(const attn__params_t *ps, const ref_file *f, double rtol,
                              double atol) {
    double worst = 0.0;
    for (int32_t k = 0; k < ps->count; k++) {
        char name[160];
        snprintf(name, sizeof name, "grad.%s", ps->list[k].name);
        double r = tr_compare(name, attn__pg(ps, k), ps->list[k].numel, ref_get(f, name), rtol,
                              atol);
        if (r > worst) worst = r;
    }
    return worst;
}
