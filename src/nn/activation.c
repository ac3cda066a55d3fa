/* Element-wise activations: ReLU, GELU (erf) and GELU (tanh approximation), forward and
 * backward side by side. Each element is computed in double and rounded once. */
#include "nn/activation.h"

#include "core/runtime.h"

#include <math.h>

#define SQRT1_2 0.70710678118654752440     /* 1 / sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794 /* 1 / sqrt(2 pi) */
#define SQRT_2_PI 0.79788456080286535588    /* sqrt(2 / pi) */
#define GELU_C 0.044715

static attn_status_t check(const char *what, int64_t n, const void *a, const void *b,
                           const void *c) {
    if (n < 0)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "%s: n = %lld is negative", what,
                          (long long)n);
    if (n > 0 && (!a || !b || !c))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "%s: NULL array", what);
    return ATTN_STATUS_OK;
}

/* ---- one element ----------------------------------------------------------------------------
 * ReLU      forward y = max(x, 0);                     backward dx += dy where x > 0
 * GELU      forward y = 0.5 x (1 + erf(x / sqrt 2));   backward dx += dy (Phi(x) + x phi(x)),
 *           phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
 * GELU tanh forward y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3);
 *           backward dx += dy (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)) */
static inline float relu_f(float x) { return x > 0.0f ? x : 0.0f; }
static inline float gelu_f(float x) {
    double v = x;
    return (float)(0.5 * v * (1.0 + erf(v * SQRT1_2)));
}
static inline float gelu_b(float x, float dy, float dx) {
    double v = x;
    double d = 0.5 * (1.0 + erf(v * SQRT1_2)) + v * INV_SQRT_2PI * exp(-0.5 * v * v);
    return (float)((double)dx + (double)dy * d);
}
static inline float gelu_tanh_f(float x) {
    double v = x;
    return (float)(0.5 * v * (1.0 + tanh(SQRT_2_PI * (v + GELU_C * v * v * v))));
}
static inline float gelu_tanh_b(float x, float dy, float dx) {
    double v = x;
    double t = tanh(SQRT_2_PI * (v + GELU_C * v * v * v));
    double d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_PI * (1.0 + 3.0 * GELU_C * v * v);
    return (float)((double)dx + (double)dy * d);
}

/* ---- whole arrays, in chunks on the thread pool (each element on its own: any split gives
 * the same bits) ------------------------------------------------------------------------------ */
enum { GRAIN = 16384 };
typedef struct job {
    attn__act_t act;
    int backward;
    const float *x, *dy;
    float *out; /* y, or dx */
} job_t;

static void run_range(void *ctx, int64_t i0, int64_t i1) {
    const job_t *J = ctx;
    const float *x = J->x, *dy = J->dy;
    float *o = J->out;
    if (!J->backward) {
        switch (J->act) {
        case ATTN__ACT_RELU:
            for (int64_t i = i0; i < i1; i++) o[i] = relu_f(x[i]);
            break;
        case ATTN__ACT_GELU:
            for (int64_t i = i0; i < i1; i++) o[i] = gelu_f(x[i]);
            break;
        case ATTN__ACT_GELU_TANH:
            for (int64_t i = i0; i < i1; i++) o[i] = gelu_tanh_f(x[i]);
            break;
        }
        return;
    }
    switch (J->act) {
    case ATTN__ACT_RELU:
        /* o += dy where x > 0, as a select on bits (a branch on the sign of x mispredicts half
         * the time); the sum o + dy is formed for every element and kept only where x > 0 */
        for (int64_t i = i0; i < i1; i++)
            o[i] = attn__select_f32(0u - (uint32_t)(x[i] > 0.0f), o[i] + dy[i], o[i]);
        break;
    case ATTN__ACT_GELU:
        for (int64_t i = i0; i < i1; i++) o[i] = gelu_b(x[i], dy[i], o[i]);
        break;
    case ATTN__ACT_GELU_TANH:
        for (int64_t i = i0; i < i1; i++) o[i] = gelu_tanh_b(x[i], dy[i], o[i]);
        break;
    }
}

static void run(attn__act_t act, int backward, int64_t n, const float *x, const float *dy,
                float *out) {
    job_t J = {act, backward, x, dy, out};
    double per = act == ATTN__ACT_RELU ? 1.0 : 40.0;
    attn__parallel_range(n, GRAIN, per * (double)n, run_range, &J);
}

attn_status_t attn__relu_forward(int64_t n, const float *x, float *y) {
    attn_status_t st = check("relu forward", n, x, y, y);
    if (!st) run(ATTN__ACT_RELU, 0, n, x, NULL, y);
    return st;
}

attn_status_t attn__relu_backward(int64_t n, const float *x, const float *dy, float *dx) {
    attn_status_t st = check("relu backward", n, x, dy, dx);
    if (!st) run(ATTN__ACT_RELU, 1, n, x, dy, dx);
    return st;
}

attn_status_t attn__gelu_forward(int64_t n, const float *x, float *y) {
    attn_status_t st = check("gelu forward", n, x, y, y);
    if (!st) run(ATTN__ACT_GELU, 0, n, x, NULL, y);
    return st;
}

attn_status_t attn__gelu_backward(int64_t n, const float *x, const float *dy, float *dx) {
    attn_status_t st = check("gelu backward", n, x, dy, dx);
    if (!st) run(ATTN__ACT_GELU, 1, n, x, dy, dx);
    return st;
}

attn_status_t attn__gelu_tanh_forward(int64_t n, const float *x, float *y) {
    attn_status_t st = check("gelu_tanh forward", n, x, y, y);
    if (!st) run(ATTN__ACT_GELU_TANH, 0, n, x, NULL, y);
    return st;
}

attn_status_t attn__gelu_tanh_backward(int64_t n, const float *x, const float *dy, float *dx) {
    attn_status_t st = check("gelu_tanh backward", n, x, dy, dx);
    if (!st) run(ATTN__ACT_GELU_TANH, 1, n, x, dy, dx);
    return st;
}

/* ---- by kind ------------------------------------------------------------------------------- */
const char *attn__act_name(attn__act_t act) {
    switch (act) {
    case ATTN__ACT_RELU: return "relu";
    case ATTN__ACT_GELU: return "gelu";
    case ATTN__ACT_GELU_TANH: return "gelu_tanh";
    }
    return "unknown";
}

attn_status_t attn__act_forward(attn__act_t act, int64_t n, const float *x, float *y) {
    switch (act) {
    case ATTN__ACT_RELU: return attn__relu_forward(n, x, y);
    case ATTN__ACT_GELU: return attn__gelu_forward(n, x, y);
    case ATTN__ACT_GELU_TANH: return attn__gelu_tanh_forward(n, x, y);
    }
    return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "activation %d is not one of relu (0), gelu "
                      "(1), gelu_tanh (2)", (int)act);
}

attn_status_t attn__act_backward(attn__act_t act, int64_t n, const float *x, const float *dy,
                                 float *dx) {
    switch (act) {
    case ATTN__ACT_RELU: return attn__relu_backward(n, x, dy, dx);
    case ATTN__ACT_GELU: return attn__gelu_backward(n, x, dy, dx);
    case ATTN__ACT_GELU_TANH: return attn__gelu_tanh_backward(n, x, dy, dx);
    }
    return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "activation %d is not one of relu (0), gelu "
                      "(1), gelu_tanh (2)", (int)act);
}
