/* Helpers shared by the tests of the recurrent layers and RNN attentions (test_rnn_*.c):
 * check counting, random fills, central-difference gradient checks and comparisons with
 * PyTorch reference tensors (tests/common/refio.h).
 *
 * Every check counts; main() ends with `return tr_finish("name");`, which prints the totals
 * and returns nonzero when any check failed. */
#ifndef ATTN_TESTS_NN_TEST_RNN_UTIL_H
#define ATTN_TESTS_NN_TEST_RNN_UTIL_H

#include "core/rng.h"
#include "refio.h"
#include "train/params.h"

#include <stdint.h>

#if defined(__GNUC__)
#  define TR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define TR_PRINTF(a, b)
#endif

extern long tr_checks, tr_failures;

void tr_fail(const char *file, int line, const char *expr, const char *fmt, ...)
    TR_PRINTF(4, 5);
int tr_finish(const char *suite);

#define TR_CHECK(cond, ...)                                                                   \
    do {                                                                                      \
        tr_checks++;                                                                          \
        if (!(cond)) tr_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
    } while (0)

#define TR_OK(call)                                                                           \
    do {                                                                                      \
        attn_status_t tr_st_ = (call);                                                        \
        tr_checks++;                                                                          \
        if (tr_st_ != ATTN_STATUS_OK)                                                         \
            tr_fail(__FILE__, __LINE__, #call, "returned %d (%s): %s", (int)tr_st_,           \
                    attn_status_string(tr_st_), attn_last_error());                          \
    } while (0)

/* a status other than OK, with a message */
#define TR_FAILS(call, status)                                                                \
    do {                                                                                      \
        attn_status_t tr_st_ = (call);                                                        \
        tr_checks++;                                                                          \
        if (tr_st_ != (status) || attn_last_error()[0] == '\0')                               \
            tr_fail(__FILE__, __LINE__, #call, "returned %d, expected %d with a message",     \
                    (int)tr_st_, (int)(status));                                              \
    } while (0)

/* x[i] uniform in [-amp, amp] */
void tr_fill(float *x, int64_t n, attn__rng_t *r, float amp);
/* calloc that fails the test loudly instead of returning NULL */
float *tr_zeros(int64_t n);

/* ---- finite differences ---------------------------------------------------------------------
 * For each i < n: fd = (L(x_i + eps) - L(x_i - eps)) / (step actually stored in fp32), and
 *     |fd - grad[i]| <= rtol * max(|grad[i]|, 0.05 * max_k |grad[k]|) + atol.
 * loss(ctx) recomputes the forward and returns the loss in double; x is restored after each
 * element. Returns the largest |fd - grad| / tolerance seen (< 1 when all passed). */
typedef double (*tr_loss_fn)(void *ctx);
double tr_fd_check(const char *what, float *x, const float *grad, int64_t n, tr_loss_fn loss,
                   void *ctx, double eps, double rtol, double atol);
/* every parameter of the store, by name */
double tr_fd_params(const char *what, attn__params_t *ps, tr_loss_fn loss, void *ctx,
                    double eps, double rtol, double atol);

/* sum of a[i] * b[i] in double */
double tr_dot(const float *a, const float *b, int64_t n);

/* ---- PyTorch references ----------------------------------------------------------------------
 * |got - want| <= atol + rtol * |want| for every element, and got has the reference's numel.
 * Returns the largest |got - want| / tolerance. */
double tr_compare(const char *what, const float *got, int64_t n, const ref_tensor *want,
                  double rtol, double atol);
/* copies every parameter of ps from the tensor of the same name in f; 0 on success */
int tr_params_from_ref(attn__params_t *ps, const ref_file *f);
/* compares every parameter gradient with the reference tensor "grad.<name>" */
double tr_compare_param_grads(const attn__params_t *ps, const ref_file *f, double rtol,
                              double atol);

#endif
