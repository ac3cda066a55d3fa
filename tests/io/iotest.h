/* Small helpers for the tests of src/io: counted checks that fail the test loudly, checks on
 * the status and message of a call, a seeded RNG, and scratch directories.
 *
 * Every test ends with `return io_finish("name");`, which prints "name: N checks, M failures"
 * and returns nonzero when any check failed. */
#ifndef ATTN_TESTS_IO_IOTEST_H
#define ATTN_TESTS_IO_IOTEST_H

#include "attn.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long io_checks, io_failures;
static char io_case[256];

static inline void io_begin(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(io_case, sizeof io_case, fmt, ap);
    va_end(ap);
}

static inline void io_fail(const char *file, int line, const char *what, const char *fmt, ...) {
    io_failures++;
    fprintf(stderr, "FAIL %s:%d [%s] %s: ", file, line, io_case, what);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        io_checks++;                                                                          \
        if (!(cond)) io_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
    } while (0)

#define CHECK_OK(call)                                                                        \
    do {                                                                                      \
        attn_status_t io_st_ = (call);                                                        \
        io_checks++;                                                                          \
        if (io_st_ != ATTN_STATUS_OK)                                                         \
            io_fail(__FILE__, __LINE__, #call, "returned %s: %s",                             \
                    attn_status_string(io_st_), attn_last_error());                           \
    } while (0)

/* The call must fail with status want and a message containing each of the given strings
 * (a NULL-terminated list). */
static inline int io_check_fail(const char *file, int line, const char *expr, attn_status_t got,
                         attn_status_t want, ...) {
    io_checks++;
    const char *msg = attn_last_error();
    if (getenv("IO_VERBOSE")) printf("  [%s] %s\n", io_case, msg);
    if (got != want) {
        io_fail(file, line, expr, "returned %s, expected %s (message: %s)",
                attn_status_string(got), attn_status_string(want), msg);
        return 0;
    }
    va_list ap;
    va_start(ap, want);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        if (!strstr(msg, s)) {
            io_fail(file, line, expr, "message lacks \"%s\": %s", s, msg);
            va_end(ap);
            return 0;
        }
    va_end(ap);
    return 1;
}
#define CHECK_FAIL(call, want, ...)                                                           \
    io_check_fail(__FILE__, __LINE__, #call, (call), (want), __VA_ARGS__, (const char *)NULL)

static inline double io_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int io_finish(const char *suite, double t0) {
    printf("%s: %ld checks, %ld failures (%.2f s)\n", suite, io_checks, io_failures,
           io_seconds() - t0);
    return io_failures ? 1 : 0;
}

/* splitmix64 */
typedef struct { uint64_t s; } io_rng;
static inline uint64_t io_next(io_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A whole file into a malloc'ed buffer (NULL when it cannot be read). */
static inline unsigned char *io_slurp(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            unsigned char *b = realloc(buf, cap);
            if (!b) { free(buf); fclose(fp); return NULL; }
            buf = b;
        }
        size_t k = fread(buf + n, 1, cap - n, fp);
        n += k;
        if (k == 0) break;
    }
    fclose(fp);
    *size = n;
    return buf;
}

static inline int io_spit(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t k = fwrite(data, 1, n, fp);
    return (fclose(fp) == 0 && k == n) ? 0 : -1;
}

#endif
