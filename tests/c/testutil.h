/* Small helpers shared by the C tests: failure counting, a seeded RNG, 4-d tensors in arbitrary
 * layouts, masks, a whole attention problem (inputs + outputs) built from a table row, and a
 * double-precision oracle written straight from the contract in attn.h.
 *
 * Every check counts; tu_finish() prints the totals and returns nonzero when any check failed,
 * so main() ends with `return tu_finish();`. */
#ifndef ATTN_TESTS_TESTUTIL_H
#define ATTN_TESTS_TESTUTIL_H

#include <attn.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#  define TU_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define TU_PRINTF(a, b)
#endif

/* ---- failure counting ------------------------------------------------------------------- */
extern long tu_checks, tu_failures;

/* Names the case the following checks belong to (printed with each failure). */
void tu_begin(const char *fmt, ...) TU_PRINTF(1, 2);
void tu_fail(const char *file, int line, const char *expr, const char *fmt, ...) TU_PRINTF(4, 5);
/* Prints "<suite>: N checks, M failures" and the run time; returns the exit code for main. */
int tu_finish(const char *suite);
double tu_seconds(void); /* monotonic clock */

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        tu_checks++;                                                                          \
        if (!(cond)) tu_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
    } while (0)

#define CHECK_OK(call)                                                                        \
    do {                                                                                      \
        attn_status_t tu_st_ = (call);                                                        \
        tu_checks++;                                                                          \
        if (tu_st_ != ATTN_STATUS_OK)                                                         \
            tu_fail(__FILE__, __LINE__, #call, "returned %d (%s): %s", (int)tu_st_,           \
                    attn_status_string(tu_st_), attn_last_error());                          \
    } while (0)

/* ---- RNG (splitmix64; the same seed gives the same numbers everywhere) -------------------- */
typedef struct { uint64_t s; } tu_rng;
void tu_rng_seed(tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(tu_rng *r);
double tu_rng_unif(tu_rng *r);            /* [0, 1) */
float tu_rng_sym(tu_rng *r, double amp);  /* uniform in [-amp, amp] */
int64_t tu_rng_int(tu_rng *r, int64_t n); /* [0, n) */

/* ---- tensors ------------------------------------------------------------------------------ */
typedef enum {
    TL_CONTIG = 0, /* [B, H, N, D] contiguous */
    TL_BNHD,       /* [B, N, H, D] storage passed through strides */
    TL_PADDED,     /* contiguous last dim, padded rows, heads and batches */
    TL_DMAJOR,     /* [B, H, D, N] storage: stride[3] = N (feature dim not contiguous) */
    TL_BCAST_B,    /* inputs only: stride[0] = 0, every batch reads batch 0 */
    TL_BCAST_H,    /* inputs only: stride[1] = 0, every head reads head 0 */
    TL_REVERSED,   /* [D, N, H, B] storage: stride[0] = 1, stride[3] the largest */
    TL_BCAST_N,    /* inputs only: stride[2] = 0, every position reads position 0 */
    TL_COUNT
} tu_layout;
const char *tu_layout_name(tu_layout l);

typedef struct {
    float *buf;
    int64_t n;        /* elements allocated */
    int64_t dim[4];
    int64_t stride[4];
} tu_tensor;

/* Allocates a tensor of logical size dim in the given layout; every allocated element
 * (logical and padding) is set to fill. */
void tu_tensor_alloc(tu_tensor *t, const int64_t dim[4], tu_layout layout, float fill);
void tu_tensor_free(tu_tensor *t);
int64_t tu_off(const tu_tensor *t, int64_t b, int64_t h, int64_t n, int64_t d);
#define TU_AT(t, b, h, n, d) ((t)->buf[tu_off((t), (b), (h), (n), (d))])
void tu_tensor_random(tu_tensor *t, tu_rng *r, double amp); /* logical elements */
void tu_tensor_set_all(tu_tensor *t, float v);              /* whole allocation */
attn_src_t tu_src(const tu_tensor *t);
attn_dst_t tu_dst(const tu_tensor *t);
double tu_max_abs(const tu_tensor *t);                      /* over logical elements */
/* Max |a - b| over logical elements (a and b may have different layouts); +inf when any
 * element is non-finite in one and not bit-for-bit equal in the other. */
double tu_max_diff(const tu_tensor *a, const tu_tensor *b);
int64_t tu_count_nonfinite(const tu_tensor *t);
/* 1 when every allocated element that is not a logical element still holds fill (bitwise). */
int tu_padding_intact(const tu_tensor *t, float fill);
/* 1 when every logical element of a and b is bitwise identical. */
int tu_bitwise_equal(const tu_tensor *a, const tu_tensor *b);
float tu_nan_fill(void); /* a quiet NaN with a recognisable payload, used to pre-fill outputs */

/* ---- one attention problem -------------------------------------------------------------- */
enum {
    TU_KL_NONE = 0,
    TU_KL_RANDOM = 1,
    TU_KL_ZERO = 2, /* random, and batch B-1 gets 0 */
    TU_KL_SHORT = 3 /* random up to 1000: a long cache, mostly unused (cheap to check) */
};

typedef struct {
    const char *name;
    int64_t B, Hq, Hkv, Nq, Nk, D, Dv;
    attn_causal_t causal;
    attn_mask_kind_t mask;
    int mfull[4];       /* mask dim d is full size when set, else 1 (broadcast) */
    double hide;        /* probability that a mask entry hides its key (false / -inf) */
    int hide_slice;     /* also hide one whole mask row (or batch when Mq == 1) */
    int key_lens;       /* TU_KL_* */
    tu_layout lq, lkv, lo; /* layouts of Q, of K and V, of O / dO / dQ / dK / dV */
    float scale;        /* 0 means the default (NAN) */
    double amp;         /* amplitude of Q and K entries; 0 means 1 */
    float dropout;      /* attention dropout_p (the seed follows the problem's seed); the
                         * oracle knows no dropout: compare such cases between kernels */
} tu_case;

typedef struct {
    tu_case c;
    attn_shape_t shape;
    attn_params_t params;
    tu_tensor q, k, v, d_o;
    void *mask_buf;     /* uint8_t or float, with mask_stride */
    int64_t mask_n, mshape[4], mstride[4];
    int64_t *key_lens;
} tu_problem;

typedef struct {
    tu_tensor o, dq, dk, dv, dbias;
    float *lse;
    int has_dbias;
} tu_outputs;

void tu_problem_init(tu_problem *p, const tu_case *c, uint64_t seed);
void tu_problem_free(tu_problem *p);
/* Outputs in the case's output layout, pre-filled with tu_nan_fill(). dbias exists when the
 * mask is a float bias. */
void tu_outputs_alloc(tu_outputs *o, const tu_problem *p);
void tu_outputs_free(tu_outputs *o);
attn_status_t tu_forward(tu_problem *p, attn_kernel_t kernel, tu_outputs *out);
/* Backward from out->o and out->lse (as the forward left them). */
attn_status_t tu_backward(tu_problem *p, attn_kernel_t kernel, tu_outputs *out);
/* A one-line description of the case for messages. */
const char *tu_case_str(const tu_case *c);

/* ---- the oracle: the contract of attn.h in double ----------------------------------------- */
double tu_scale(const tu_problem *p);
int tu_visible(const tu_problem *p, int64_t b, int64_t h, int64_t i, int64_t j);
double tu_score(const tu_problem *p, int64_t b, int64_t h, int64_t i, int64_t j); /* -inf hidden */
double tu_mask_bias(const tu_problem *p, int64_t b, int64_t h, int64_t i, int64_t j);
int tu_row_hidden(const tu_problem *p, int64_t b, int64_t h, int64_t i);
/* o [B, Hq, Nq, Dv] and lse [B, Hq, Nq] contiguous; either may be NULL. */
void tu_oracle_forward(const tu_problem *p, double *o, double *lse);
double tu_max_score(const tu_problem *p); /* max |s| over visible pairs */

/* Checks the "hidden contributes exactly 0" contract and that nothing is NaN: fully hidden
 * rows have O == 0 and LSE == -inf (and dQ == 0 when with_grads), every other LSE is finite,
 * keys hidden from every query get dK == dV == 0, dbias is 0 where every contribution is
 * hidden, and no output is NaN or +-inf (except those LSEs). */
void tu_check_hidden(const tu_problem *p, const tu_outputs *out, int with_grads,
                     const char *label);

/* Absolute tolerance for an fp32 result compared with a double one: base * max(1, refmax),
 * grown by sqrt(nred / 64) for long reductions (rounding errors add up like a random walk)
 * and by smax / 4 for large scores (fp32 scores are off by ~1 ulp of |s|). */
double tu_tol(double base, double refmax, double nred, double smax);

#endif
