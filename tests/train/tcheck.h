/* Checks for the tests of the training pieces (tests/train and tests/nn/test_embedding_loss).
 * Every CHECK counts; tc_finish() prints the totals and the run time and returns the exit code
 * (nonzero when any check failed), so main() ends with `return tc_finish("name");`.
 * Header-only: each test is one translation unit. */
#ifndef ATTN_TESTS_TCHECK_H
#define ATTN_TESTS_TCHECK_H

#include "attn.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static long tc_checks, tc_failures;
static const char *tc_case = "";

static inline double tc_now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline void tc_begin(const char *name) { tc_case = name; }

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline void tc_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    tc_failures++;
    fprintf(stderr, "FAIL %s:%d [%s] %s: ", file, line, tc_case, expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        tc_checks++;                                                                          \
        if (!(cond)) tc_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
    } while (0)

#define CHECK_OK(call)                                                                        \
    do {                                                                                      \
        attn_status_t tc_st_ = (call);                                                        \
        tc_checks++;                                                                          \
        if (tc_st_ != ATTN_STATUS_OK)                                                         \
            tc_fail(__FILE__, __LINE__, #call, "returned %s: %s",                             \
                    attn_status_string(tc_st_), attn_last_error());                          \
    } while (0)

/* The call fails with status `want` and attn_last_error() contains `text`. */
#define CHECK_FAILS(call, want, text)                                                         \
    do {                                                                                      \
        attn_status_t tc_st_ = (call);                                                        \
        tc_checks++;                                                                          \
        if (tc_st_ != (want) || !strstr(attn_last_error(), (text)))                           \
            tc_fail(__FILE__, __LINE__, #call, "returned %s (%s), expected %s with \"%s\"",   \
                    attn_status_string(tc_st_), attn_last_error(),                           \
                    attn_status_string(want), (text));                                        \
    } while (0)

/* max over i of |a[i] - b[i]| / (atol + rtol * |b[i]|); <= 1 means every element is within
 * tolerance; +inf when a NaN appears on one side only. *worst gets the index. */
static inline double tc_excess(const float *a, const double *b, int64_t n, double atol,
                               double rtol, int64_t *worst) {
    double e = 0.0;
    int64_t w = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        double r = isnan(d) ? (isnan(a[i]) && isnan(b[i]) ? 0.0 : INFINITY)
                            : d / (atol + rtol * fabs(b[i]));
        if (r > e) { e = r; w = i; }
    }
    if (worst) *worst = w;
    return e;
}

/* Checks a[i] against b[i] within atol + rtol * |b[i]|, reporting the worst element. */
#define CHECK_CLOSE(what, a, b, n, atol, rtol)                                                \
    do {                                                                                      \
        int64_t tc_w_ = 0;                                                                    \
        double tc_e_ = tc_excess((a), (b), (n), (atol), (rtol), &tc_w_);                      \
        tc_checks++;                                                                          \
        if (!(tc_e_ <= 1.0))                                                                  \
            tc_fail(__FILE__, __LINE__, what, "element %lld: %.9g vs %.9g (atol %g rtol %g)", \
                    (long long)tc_w_, (double)(a)[tc_w_], (double)(b)[tc_w_],                 \
                    (double)(atol), (double)(rtol));                                          \
    } while (0)

static double tc_start_time;

static inline void tc_start(void) { tc_start_time = tc_now(); }

static inline int tc_finish(const char *suite) {
    printf("%s: %ld checks, %ld failures, %.2f s\n", suite, tc_checks, tc_failures,
           tc_now() - tc_start_time);
    return tc_failures == 0 && tc_checks > 0 ? 0 : 1;
}

#endif
