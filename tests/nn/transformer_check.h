/* Helpers of the Transformer layer tests (tests/nn/test_{linear,layernorm,activation,dropout,
 * feedforward,mha,transformer_layers}.c): counted checks, tensor comparisons, central-difference
 * gradient checks, and loading PyTorch references (torch_transformer.py) into a parameter
 * store by name.
 *
 * Every check counts; tc_finish() prints "<suite>: N checks, M failures" and returns the exit
 * code for main, nonzero when anything failed. */
#ifndef ATTN_TESTS_NN_TRANSFORMER_CHECK_H
#define ATTN_TESTS_NN_TRANSFORMER_CHECK_H

#include "nn/nn.h"
#include "refio.h"

#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#  define TC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define TC_PRINTF(a, b)
#endif

extern long tc_checks, tc_failures;

void tc_fail(const char *file, int line, const char *fmt, ...) TC_PRINTF(3, 4);
int tc_finish(const char *suite, double seconds);
double tc_seconds(void);

#define TC_CHECK(cond, ...)                                                                   \
    do {                                                                                      \
        tc_checks++;                                                                          \
        if (!(cond)) tc_fail(__FILE__, __LINE__, __VA_ARGS__);                                \
    } while (0)

#define TC_OK(call)                                                                           \
    do {                                                                                      \
        attn_status_t tc_st_ = (call);                                                        \
        tc_checks++;                                                                          \
        if (tc_st_ != ATTN_STATUS_OK)                                                         \
            tc_fail(__FILE__, __LINE__, "%s returned %s: %s", #call,                          \
                    attn_status_string(tc_st_), attn_last_error());                           \
    } while (0)

/* uniform in [-amp, amp] */
void tc_fill(attn__rng_t *r, float *x, int64_t n, float amp);
/* sum_i a[i] * b[i] in double */
double tc_dot(const float *a, const float *b, int64_t n);

/* One check: every |got - want| <= atol + rtol * |want|. Prints the worst element on failure.
 * Returns the largest |got - want| / (atol + rtol |want|) (<= 1 passes). */
double tc_close(const char *label, const float *got, const float *want, int64_t n, double atol,
                double rtol);
/* One check: n floats bitwise equal. */
void tc_bitwise(const char *label, const float *a, const float *b, int64_t n);

/* Central differences of a scalar loss computed in double from a float forward:
 *     fd[i] = (L(x_i + h) - L(x_i - h)) / (stored (x_i + h) - stored (x_i - h))
 * for every element of x (restored afterwards), compared with grad[i]:
 *     |fd - grad| <= atol * max(1, max|grad|) + rtol * |grad|
 * One check per tensor; prints the worst element on failure. Returns the worst ratio.
 * Runs the kernels on one thread (results do not depend on the thread count) and restores
 * the count afterwards. */
typedef double (*tc_loss_fn)(void *ctx);
double tc_gradcheck(const char *label, tc_loss_fn loss, void *ctx, float *x, const float *grad,
                    int64_t n, double h, double atol, double rtol);

/* ---- PyTorch references ------------------------------------------------------------------- */
/* The tensor, checking its element count (a failed check and NULL otherwise). */
const float *tc_ref(const ref_file *f, const char *name, int64_t numel);
/* Copies "w:<name>" into every parameter of the store, and checks that every "w:<prefix>."
 * tensor of the file is a parameter of the store (same names both ways, same sizes). */
void tc_load_params(attn__params_t *ps, const ref_file *f, const char *prefix);
/* Compares every parameter gradient of the store with "g:<name>". Returns the worst ratio. */
double tc_check_param_grads(const attn__params_t *ps, const ref_file *f, double atol,
                            double rtol);

#endif
