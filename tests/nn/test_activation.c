/* nn/activation: ReLU, GELU (erf) and GELU (tanh) against PyTorch (F.relu, F.gelu,
 * F.gelu(approximate='tanh')) on [-5, 5], finite differences, known values, errors.
 *
 * PyTorch (float64 on the same float32 inputs): y within 1e-6 abs + 1e-6 rel, dx within
 * 1e-6 abs + 1e-6 rel (each element is computed in double and rounded once).
 * Finite differences (L = sum(y * G) in double, h = 1e-3; ReLU inputs kept |x| >= 0.05 so no
 * step crosses the kink): |fd - g| <= 1e-3 max(1, max|g|) + 1e-3 |g|. */
#include "nn/activation.h"
#include "transformer_check.h"

#include <math.h>
#include <string.h>

enum { NT = 64, NF = 40 };

static void torch_case(const ref_file *f, const char *name, attn__act_t act) {
    char key[64];
    snprintf(key, sizeof key, "%s.x", name);
    const float *x = tc_ref(f, key, NT);
    snprintf(key, sizeof key, "%s.dy", name);
    const float *dy = tc_ref(f, key, NT);
    snprintf(key, sizeof key, "%s.y", name);
    const float *y_ref = tc_ref(f, key, NT);
    snprintf(key, sizeof key, "%s.dx", name);
    const float *dx_ref = tc_ref(f, key, NT);
    if (!x || !dy || !y_ref || !dx_ref) return;
    float y[NT], dx[NT] = {0};
    char label[64];
    TC_OK(attn__act_forward(act, NT, x, y));
    snprintf(label, sizeof label, "%s y vs torch", attn__act_name(act));
    tc_close(label, y, y_ref, NT, 1e-6, 1e-6);
    TC_OK(attn__act_backward(act, NT, x, dy, dx));
    snprintf(label, sizeof label, "%s dx vs torch", attn__act_name(act));
    tc_close(label, dx, dx_ref, NT, 1e-6, 1e-6);
}

typedef struct {
    attn__act_t act;
    float x[NF], y[NF], g[NF];
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    TC_OK(attn__act_forward(c->act, NF, c->x, c->y));
    return tc_dot(c->y, c->g, NF);
}

static void gradcheck(attn__act_t act) {
    fd_ctx c;
    attn__rng_t r;
    attn__rng_seed(&r, 5 + (uint64_t)act);
    c.act = act;
    tc_fill(&r, c.x, NF, 4.0f);
    for (int i = 0; i < NF; i++)
        if (fabsf(c.x[i]) < 0.05f) c.x[i] = c.x[i] < 0 ? -0.05f : 0.05f;
    tc_fill(&r, c.g, NF, 1.0f);
    float dx[NF] = {0};
    TC_OK(attn__act_backward(act, NF, c.x, c.g, dx));
    char label[64];
    snprintf(label, sizeof label, "%s fd dx", attn__act_name(act));
    tc_gradcheck(label, fd_loss, &c, c.x, dx, NF, 1e-3, 1e-3, 1e-3);

    /* accumulation: backward adds to what dx holds */
    float acc[NF], once[NF] = {0};
    for (int i = 0; i < NF; i++) acc[i] = 1.0f;
    TC_OK(attn__act_backward(act, NF, c.x, c.g, acc));
    TC_OK(attn__act_backward(act, NF, c.x, c.g, once));
    int ok = 1;
    for (int i = 0; i < NF; i++) ok &= fabsf(acc[i] - (1.0f + once[i])) <= 1e-6f * (1 + fabsf(once[i]));
    TC_CHECK(ok, "%s backward accumulates into dx", attn__act_name(act));
}

static void known_values(void) {
    float x[5] = {-2.0f, -0.0f, 0.0f, 1.0f, 3.0f}, y[5], dx[5] = {0}, ones[5] = {1, 1, 1, 1, 1};
    TC_OK(attn__relu_forward(5, x, y));
    TC_CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0 && y[3] == 1 && y[4] == 3, "relu values");
    TC_OK(attn__relu_backward(5, x, ones, dx));
    TC_CHECK(dx[0] == 0 && dx[2] == 0 && dx[3] == 1, "relu'(0) = 0 as in PyTorch");
    TC_OK(attn__gelu_forward(5, x, y));
    /* gelu(1) = Phi(1) = 0.841344746..., gelu(-2) = -2 Phi(-2) = -0.0455002639 */
    TC_CHECK(fabs(y[3] - 0.8413447461) < 1e-7 && fabs(y[0] + 0.0455002639) < 1e-8 &&
             y[2] == 0.0f, "gelu values %.9g %.9g", (double)y[3], (double)y[0]);
    TC_OK(attn__gelu_tanh_forward(5, x, y));
    TC_CHECK(fabs(y[3] - 0.8411919906) < 1e-7, "gelu_tanh(1) = %.9g", (double)y[3]);
    /* in place */
    memcpy(y, x, sizeof y);
    TC_OK(attn__gelu_forward(5, y, y));
    TC_CHECK(fabs(y[3] - 0.8413447461) < 1e-7, "gelu in place");
    TC_CHECK(strcmp(attn__act_name(ATTN__ACT_GELU_TANH), "gelu_tanh") == 0, "names");
}

static void errors(void) {
    float x[1] = {0}, y[1];
    TC_CHECK(attn__act_forward((attn__act_t)7, 1, x, y) == ATTN_STATUS_BAD_ARGUMENT,
             "unknown activation");
    TC_CHECK(attn__gelu_forward(-1, x, y) == ATTN_STATUS_BAD_SHAPE, "n < 0");
    TC_CHECK(attn__gelu_backward(1, x, NULL, y) == ATTN_STATUS_NULL_POINTER, "NULL dy");
    TC_OK(attn__relu_forward(0, NULL, NULL)); /* nothing to do */
}

/* ReLU's backward against its definition, bit for bit: dx += dy exactly where x > 0, and dx
 * untouched elsewhere even when dy there is infinite or NaN (x = 0, -0, negative, NaN). */
static void relu_backward_bits(void) {
    enum { N = 1001 };
    float x[N], dy[N], dx[N], want[N];
    attn__rng_t r;
    attn__rng_seed(&r, 11);
    for (int i = 0; i < N; i++) {
        const int kind = i % 7;
        x[i] = kind == 0 ? 0.0f : kind == 1 ? -0.0f : kind == 2 ? NAN : attn__rng_uniform(&r) - 0.5f;
        dy[i] = i % 11 == 0 ? INFINITY : i % 13 == 0 ? NAN : attn__rng_uniform(&r) - 0.5f;
        dx[i] = attn__rng_uniform(&r);
        want[i] = x[i] > 0.0f ? dx[i] + dy[i] : dx[i];
    }
    TC_OK(attn__relu_backward(N, x, dy, dx));
    TC_CHECK(memcmp(dx, want, sizeof dx) == 0, "relu backward: dx += dy where x > 0, bit for bit");
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
        torch_case(&f, "relu", ATTN__ACT_RELU);
        torch_case(&f, "gelu", ATTN__ACT_GELU);
        torch_case(&f, "gelut", ATTN__ACT_GELU_TANH);
        ref_free(&f);
    }
    gradcheck(ATTN__ACT_RELU);
    gradcheck(ATTN__ACT_GELU);
    gradcheck(ATTN__ACT_GELU_TANH);
    known_values();
    relu_backward_bits();
    errors();
    return tc_finish("test_activation", tc_seconds() - t0);
}
