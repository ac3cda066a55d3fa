#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "transformer_check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

long tc_checks, tc_failures;

void tc_fail(const char *file, int line, const char *fmt, ...) {
    tc_failures++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

double tc_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tc_finish(const char *suite, double seconds) {
    printf("%s: %ld checks, %ld failures (%.2f s)\n", suite, tc_checks, tc_failures, seconds);
    return tc_failures == 0 && tc_checks > 0 ? 0 : 1;
}

void tc_fill(attn__rng_t *r, float *x, int64_t n, float amp) {
    for (int64_t i = 0; i < n; i++) x[i] = (2.0f * attn__rng_uniform(r) - 1.0f) * amp;
}

double tc_dot(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

double tc_close(const char *label, const float *got, const float *want, int64_t n, double atol,
                double rtol) {
    double worst = 0.0;
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double r = d / (atol + rtol * fabs((double)want[i]));
        if (!(r <= worst)) { /* also catches NaN */
            worst = isnan(r) ? INFINITY : r;
            at = i;
        }
    }
    tc_checks++;
    printf("  %-40s worst error / tolerance %.3g\n", label, worst);
    if (!(worst <= 1.0))
        tc_fail(__FILE__, __LINE__, "%s: element %lld is %.8g, want %.8g (atol %g, rtol %g)",
                label, (long long)at, (double)got[at], (double)want[at], atol, rtol);
    return worst;
}

void tc_bitwise(const char *label, const float *a, const float *b, int64_t n) {
    tc_checks++;
    if (memcmp(a, b, sizeof(float) * (size_t)n) != 0) {
        int64_t i = 0;
        while (memcmp(a + i, b + i, sizeof(float)) == 0) i++;
        tc_fail(__FILE__, __LINE__, "%s: not bitwise equal at element %lld (%.9g vs %.9g)",
                label, (long long)i, (double)a[i], (double)b[i]);
    }
}

double tc_gradcheck(const char *label, tc_loss_fn loss, void *ctx, float *x, const float *grad,
                    int64_t n, double h, double atol, double rtol) {
    double gmax = 0.0;
    for (int64_t i = 0; i < n; i++) gmax = fmax(gmax, fabs((double)grad[i]));
    const double abs_tol = atol * fmax(1.0, gmax);
    double worst = 0.0, worst_fd = 0.0;
    int64_t at = -1;
    /* thousands of tiny forwards: one thread (the results do not depend on the count, and
     * parallel regions this small crawl on a loaded machine) */
    const int32_t threads = attn_get_num_threads();
    attn_set_num_threads(1);
    for (int64_t i = 0; i < n; i++) {
        const float keep = x[i];
        const float xp = (float)((double)keep + h), xm = (float)((double)keep - h);
        x[i] = xp;
        double lp = loss(ctx);
        x[i] = xm;
        double lm = loss(ctx);
        x[i] = keep;
        double fd = (lp - lm) / ((double)xp - (double)xm);
        double r = fabs(fd - (double)grad[i]) / (abs_tol + rtol * fabs((double)grad[i]));
        if (!(r <= worst)) {
            worst = isnan(r) ? INFINITY : r;
            worst_fd = fd;
            at = i;
        }
    }
    attn_set_num_threads(threads);
    tc_checks++;
    printf("  %-40s worst error / tolerance %.3g\n", label, worst);
    if (!(worst <= 1.0))
        tc_fail(__FILE__, __LINE__, "%s: gradient element %lld is %.8g, finite difference "
                "%.8g (h %g, atol %g x max(1, %g), rtol %g)", label, (long long)at,
                (double)grad[at], worst_fd, h, atol, gmax, rtol);
    return worst;
}

const float *tc_ref(const ref_file *f, const char *name, int64_t numel) {
    const ref_tensor *t = ref_get(f, name);
    tc_checks++;
    if (!t) {
        tc_fail(__FILE__, __LINE__, "reference tensor %s is missing", name);
        return NULL;
    }
    if (t->numel != numel) {
        tc_fail(__FILE__, __LINE__, "reference tensor %s has %lld elements, want %lld", name,
                (long long)t->numel, (long long)numel);
        return NULL;
    }
    return t->data;
}

void tc_load_params(attn__params_t *ps, const ref_file *f, const char *prefix) {
    char name[ATTN__PARAM_NAME + 8];
    for (int32_t i = 0; i < ps->count; i++) {
        snprintf(name, sizeof name, "w:%s", ps->list[i].name);
        const float *w = tc_ref(f, name, ps->list[i].numel);
        if (w) memcpy(attn__pw(ps, i), w, sizeof(float) * (size_t)ps->list[i].numel);
    }
    /* the other way round: PyTorch has no parameter the C layer lacks */
    char want[ATTN__PARAM_NAME + 8];
    int len = snprintf(want, sizeof want, "w:%s.", prefix);
    for (int i = 0; i < f->count; i++) {
        if (strncmp(f->t[i].name, want, (size_t)len) != 0) continue;
        tc_checks++;
        if (attn__params_find(ps, f->t[i].name + 2) < 0)
            tc_fail(__FILE__, __LINE__, "PyTorch parameter %s has no counterpart in the C "
                    "layer", f->t[i].name + 2);
    }
}

double tc_check_param_grads(const attn__params_t *ps, const ref_file *f, double atol,
                            double rtol) {
    char name[ATTN__PARAM_NAME + 8];
    double worst = 0.0;
    for (int32_t i = 0; i < ps->count; i++) {
        snprintf(name, sizeof name, "g:%s", ps->list[i].name);
        const float *g = tc_ref(f, name, ps->list[i].numel);
        if (!g) continue;
        double r = tc_close(name, attn__pg(ps, i), g, ps->list[i].numel, atol, rtol);
        worst = fmax(worst, r);
    }
    return worst;
}
