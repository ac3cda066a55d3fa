/* nn/linear: against PyTorch's nn.Linear (with and without bias), finite differences,
 * accumulation, initialisation and errors.
 *
 * PyTorch (float64 on the same float32 weights): y within 1e-5 abs + 1e-5 rel, dx and every
 * parameter gradient within 1e-4 abs + 1e-4 rel (values of order 1).
 * Finite differences (L = sum(y * G) in double, h = 1e-2): |fd - g| <= 1e-3 max(1, max|g|)
 * + 1e-3 |g| (the layer is linear, so only fp32 rounding of L remains). */
#include "nn/linear.h"
#include "transformer_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void torch_case(const ref_file *f, const char *name, int bias) {
    const int64_t N = 7, IN = 6, OUT = 5;
    attn__params_t ps;
    attn__params_init(&ps);
    attn__linear_t l;
    TC_OK(attn__linear_init(&l, &ps, name, IN, OUT, bias));
    TC_OK(attn__params_alloc(&ps));
    tc_load_params(&ps, f, name);
    char key[64];
    snprintf(key, sizeof key, "%s.x", name);
    const float *x = tc_ref(f, key, N * IN);
    snprintf(key, sizeof key, "%s.dy", name);
    const float *dy = tc_ref(f, key, N * OUT);
    snprintf(key, sizeof key, "%s.y", name);
    const float *y_ref = tc_ref(f, key, N * OUT);
    snprintf(key, sizeof key, "%s.dx", name);
    const float *dx_ref = tc_ref(f, key, N * IN);
    if (x && dy && y_ref && dx_ref) {
        float y[35], dx[42] = {0};
        TC_OK(attn__linear_forward(&l, &ps, N, x, y));
        tc_close("linear y vs torch", y, y_ref, N * OUT, 1e-5, 1e-5);
        TC_OK(attn__linear_backward(&l, &ps, N, x, dy, dx));
        tc_close("linear dx vs torch", dx, dx_ref, N * IN, 1e-4, 1e-4);
        tc_check_param_grads(&ps, f, 1e-4, 1e-4);
    }
    attn__params_free(&ps);
}

/* ---- finite differences ------------------------------------------------------------------ */
typedef struct {
    attn__linear_t l;
    attn__params_t ps;
    int64_t n;
    float *x, *y, *g;
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    TC_OK(attn__linear_forward(&c->l, &c->ps, c->n, c->x, c->y));
    return tc_dot(c->y, c->g, c->n * c->l.out);
}

static void gradcheck(void) {
    fd_ctx c;
    attn__rng_t r;
    attn__rng_seed(&r, 7);
    attn__params_init(&c.ps);
    TC_OK(attn__linear_init(&c.l, &c.ps, "fc", 6, 5, 1));
    TC_OK(attn__params_alloc(&c.ps));
    TC_OK(attn__linear_reset(&c.l, &c.ps, &r));
    c.n = 4;
    float x[24], y[20], g[20], dx[24] = {0};
    c.x = x;
    c.y = y;
    c.g = g;
    tc_fill(&r, x, 24, 1.0f);
    tc_fill(&r, g, 20, 1.0f);
    TC_OK(attn__linear_forward(&c.l, &c.ps, c.n, x, y));
    TC_OK(attn__linear_backward(&c.l, &c.ps, c.n, x, g, dx));
    tc_gradcheck("linear fd dx", fd_loss, &c, x, dx, 24, 1e-2, 1e-3, 1e-3);
    tc_gradcheck("linear fd dW", fd_loss, &c, attn__pw(&c.ps, c.l.w), attn__pg(&c.ps, c.l.w),
                 30, 1e-2, 1e-3, 1e-3);
    tc_gradcheck("linear fd db", fd_loss, &c, attn__pw(&c.ps, c.l.b), attn__pg(&c.ps, c.l.b),
                 5, 1e-2, 1e-3, 1e-3);

    /* backward accumulates: a second call doubles every gradient exactly */
    float dw1[30], dx1[24];
    memcpy(dw1, attn__pg(&c.ps, c.l.w), sizeof dw1);
    memcpy(dx1, dx, sizeof dx1);
    TC_OK(attn__linear_backward(&c.l, &c.ps, c.n, x, g, dx));
    for (int i = 0; i < 30; i++) dw1[i] *= 2.0f;
    for (int i = 0; i < 24; i++) dx1[i] *= 2.0f;
    tc_bitwise("linear dW accumulates", attn__pg(&c.ps, c.l.w), dw1, 30);
    tc_bitwise("linear dx accumulates", dx, dx1, 24);
    attn__params_free(&c.ps);
}

/* PyTorch's init: W and b uniform in +-1/sqrt(in) */
static void init_bounds(void) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__linear_t l;
    attn__rng_t r;
    attn__rng_seed(&r, 3);
    TC_OK(attn__linear_init(&l, &ps, "big", 64, 32, 1));
    TC_OK(attn__params_alloc(&ps));
    TC_OK(attn__linear_reset(&l, &ps, &r));
    const float *w = attn__pw(&ps, l.w), *b = attn__pw(&ps, l.b);
    double bound = 1.0 / 8.0, wmax = 0.0, bmax = 0.0, mean = 0.0;
    for (int i = 0; i < 64 * 32; i++) {
        wmax = fmax(wmax, fabs(w[i]));
        mean += w[i];
    }
    for (int i = 0; i < 32; i++) bmax = fmax(bmax, fabs(b[i]));
    mean /= 64 * 32;
    TC_CHECK(wmax <= bound && wmax > 0.95 * bound, "weights reach %g, bound %g", wmax, bound);
    TC_CHECK(bmax <= bound && bmax > 0.7 * bound, "biases reach %g, bound %g", bmax, bound);
    TC_CHECK(fabs(mean) < 0.01, "weight mean %g", mean);
    TC_CHECK(attn__params_find(&ps, "big.weight") == l.w &&
             attn__params_find(&ps, "big.bias") == l.b, "parameter names");
    attn__params_free(&ps);
}

static void errors(void) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__linear_t l, l2;
    TC_CHECK(attn__linear_init(&l, &ps, "e", 0, 3, 1) == ATTN_STATUS_BAD_SHAPE, "in = 0");
    TC_OK(attn__linear_init(&l, &ps, "e", 2, 3, 0));
    TC_CHECK(l.b == -1, "no bias");
    TC_CHECK(attn__linear_init(&l2, &ps, "e", 2, 3, 0) != ATTN_STATUS_OK, "duplicate name");
    TC_CHECK(attn__linear_forward(&l, &ps, 1, NULL, NULL) == ATTN_STATUS_NULL_POINTER,
             "forward before alloc");
    TC_OK(attn__params_alloc(&ps));
    float x[2] = {1, 2}, y[3];
    TC_CHECK(attn__linear_forward(&l, &ps, -1, x, y) == ATTN_STATUS_BAD_SHAPE, "N < 0");
    TC_CHECK(attn__linear_backward(&l, &ps, 1, x, NULL, NULL) == ATTN_STATUS_NULL_POINTER,
             "backward without dy");
    TC_CHECK(strlen(attn_last_error()) > 0, "message");
    attn__params_free(&ps);
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
        torch_case(&f, "lin", 1);
        torch_case(&f, "linnb", 0);
        ref_free(&f);
    }
    gradcheck();
    init_bounds();
    errors();
    return tc_finish("test_linear", tc_seconds() - t0);
}
