/* nn/dropout: reproducible masks (same seed and site -> same bits; other seeds and sites ->
 * other masks; a prefix of a tensor gets the prefix of the mask), the keep rate, the 1/(1-p)
 * scale, eval mode, p = 0 and p = 1, the backward using the forward's mask, a
 * finite-difference check with a fixed mask, the overwriting backward and the residual form,
 * the same bits on 1 and 2 threads, and errors.
 *
 * Keep rate: over n = 200000 elements at p = 0.3 the kept fraction is within 5 standard
 * deviations (sqrt(p (1 - p) / n) ~ 1e-3) of 0.7. Finite differences: h = 1e-2,
 * |fd - g| <= 1e-3 max(1, max|g|) + 1e-3 |g| (dropout is linear for a fixed mask). */
#include "nn/dropout.h"
#include "transformer_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { BIG = 200000, NF = 64 };

static void reproducible(void) {
    float *x = malloc(sizeof(float) * BIG), *a = malloc(sizeof(float) * BIG);
    float *b = malloc(sizeof(float) * BIG), *c = malloc(sizeof(float) * BIG);
    attn__rng_t r;
    attn__rng_seed(&r, 1);
    for (int i = 0; i < BIG; i++) x[i] = 0.5f + attn__rng_uniform(&r); /* never 0 */
    attn__dropout_t d, other;
    TC_OK(attn__dropout_init(&d, "enc.layers.0.dropout1", 0.3f));
    TC_OK(attn__dropout_init(&other, "enc.layers.0.dropout2", 0.3f));
    attn__mode_t m = {1, 1234};
    TC_OK(attn__dropout_forward(&d, m, BIG, x, a));
    TC_OK(attn__dropout_forward(&d, m, BIG, x, b));
    tc_bitwise("dropout: same seed and site, same bits", a, b, BIG);

    /* a prefix of the tensor gets the prefix of the mask (the mask is a function of the
     * element index, not of n, order or threads) */
    TC_OK(attn__dropout_forward(&d, m, 1000, x, c));
    tc_bitwise("dropout: prefix", a, c, 1000);

    /* other seeds and other sites draw other masks (about 42% of elements differ) */
    attn__mode_t m2 = {1, 1235};
    TC_OK(attn__dropout_forward(&d, m2, BIG, x, b));
    TC_OK(attn__dropout_forward(&other, m, BIG, x, c));
    long diff_seed = 0, diff_site = 0, kept = 0;
    const float scale = (float)(1.0 / (1.0 - 0.3));
    int exact = 1;
    for (int i = 0; i < BIG; i++) {
        diff_seed += (a[i] == 0) != (b[i] == 0);
        diff_site += (a[i] == 0) != (c[i] == 0);
        if (a[i] != 0) {
            kept++;
            exact &= a[i] == x[i] * scale;
        }
    }
    TC_CHECK(diff_seed > BIG / 3 && diff_site > BIG / 3,
             "other seed / site change %ld / %ld of %d mask entries", diff_seed, diff_site, BIG);
    double rate = (double)kept / BIG, sd = sqrt(0.3 * 0.7 / BIG);
    printf("  keep rate %.5f (want 0.7 +- %.5f)\n", rate, 5 * sd);
    TC_CHECK(fabs(rate - 0.7) <= 5 * sd, "keep rate %.5f, want 0.7 within %.5f", rate, 5 * sd);
    TC_CHECK(exact, "kept elements are x / (1 - p)");

    /* backward: the same mask and scale */
    float *dx = calloc(BIG, sizeof(float));
    TC_OK(attn__dropout_backward(&d, m, BIG, x, dx));
    tc_bitwise("dropout backward = forward for a linear map", dx, a, BIG);

    /* in place */
    memcpy(c, x, sizeof(float) * BIG);
    TC_OK(attn__dropout_forward(&d, m, BIG, c, c));
    tc_bitwise("dropout in place", c, a, BIG);

    /* the overwriting backward, and the residual form y = x + dropout(branch) */
    for (int i = 0; i < BIG; i++) c[i] = -7.0f;
    TC_OK(attn__dropout_grad(&d, m, BIG, x, c));
    tc_bitwise("dropout grad (overwrite) = forward", c, a, BIG);
    TC_OK(attn__dropout_add(&d, m, BIG, b, x, c));
    int add_ok = 1;
    for (int i = 0; i < BIG; i++) add_ok &= c[i] == (a[i] != 0.0f ? b[i] + a[i] : b[i]);
    TC_CHECK(add_ok, "dropout add: y = x + dropout(branch)");

    /* the same bits on 1 and 2 threads (the elements go to the pool in chunks) */
    attn_set_num_threads(1);
    TC_OK(attn__dropout_forward(&d, m, BIG, x, c));
    attn_set_num_threads(2);
    tc_bitwise("dropout: 1 thread = 2 threads", c, a, BIG);
    attn_set_num_threads(0);
    free(x);
    free(a);
    free(b);
    free(c);
    free(dx);
}

/* The mask against its definition, element by element: element i is kept when the 24-bit
 * draw of its pair's hash (the top 24 bits for i even, the next 24 for i odd) is at least
 * ceil(p 2^24). Checked for every op, lengths around the kernel's blocks and the pool's
 * chunks (odd ones included), and with infinities in the input (a dropped element is 0). */
static int ref_keep(uint64_t key, int64_t i, uint32_t cut) {
    const uint64_t h = attn__hash_at(key, (uint64_t)(i >> 1));
    const uint32_t u = (i & 1) ? (uint32_t)((h >> 16) & 0xFFFFFFu) : (uint32_t)(h >> 40);
    return u >= cut;
}

static void definition(void) {
    const int64_t lens[] = {1, 2, 3, 511, 512, 513, 514, 1025, 16383, 16385, 40001};
    const float p = 0.25f;
    const uint32_t cut = (uint32_t)ceil((double)p * 16777216.0);
    const float scale = (float)(1.0 / (1.0 - (double)p));
    attn__dropout_t d;
    TC_OK(attn__dropout_init(&d, "definition", p));
    attn__mode_t m = {1, 77};
    const uint64_t key = attn__hash_key(m.seed, d.stream);
    enum { MAXN = 40001 };
    float *x = malloc(sizeof(float) * MAXN), *g = malloc(sizeof(float) * MAXN);
    float *y = malloc(sizeof(float) * MAXN), *want = malloc(sizeof(float) * MAXN);
    attn__rng_t r;
    attn__rng_seed(&r, 3);
    for (int i = 0; i < MAXN; i++) {
        x[i] = i % 97 == 5 ? INFINITY : attn__rng_uniform(&r) - 0.5f;
        g[i] = attn__rng_uniform(&r) - 0.5f;
    }
    int ok = 1;
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        const int64_t n = lens[k];
        TC_OK(attn__dropout_forward(&d, m, n, x, y));
        for (int64_t i = 0; i < n; i++) want[i] = ref_keep(key, i, cut) ? x[i] * scale : 0.0f;
        ok &= memcmp(y, want, sizeof(float) * (size_t)n) == 0;
        TC_OK(attn__dropout_add(&d, m, n, g, x, y));
        for (int64_t i = 0; i < n; i++)
            want[i] = ref_keep(key, i, cut) ? g[i] + x[i] * scale : g[i];
        ok &= memcmp(y, want, sizeof(float) * (size_t)n) == 0;
        memcpy(y, g, sizeof(float) * (size_t)n);
        TC_OK(attn__dropout_backward(&d, m, n, x, y));
        for (int64_t i = 0; i < n; i++)
            want[i] = ref_keep(key, i, cut) ? g[i] + x[i] * scale : g[i];
        ok &= memcmp(y, want, sizeof(float) * (size_t)n) == 0;
    }
    TC_CHECK(ok, "dropout: every op equals the mask's definition element by element");
    free(x);
    free(g);
    free(y);
    free(want);
}

static void modes(void) {
    float x[8] = {1, -2, 3, -4, 5, -6, 7, -8}, y[8], dx[8] = {0};
    attn__dropout_t d, zero, all;
    TC_OK(attn__dropout_init(&d, "d", 0.5f));
    TC_OK(attn__dropout_init(&zero, "z", 0.0f));
    TC_OK(attn__dropout_init(&all, "a", 1.0f));
    attn__mode_t eval = {0, 99}, train = {1, 99};
    TC_OK(attn__dropout_forward(&d, eval, 8, x, y));
    tc_bitwise("eval: identity", y, x, 8);
    TC_OK(attn__dropout_backward(&d, eval, 8, x, dx));
    tc_bitwise("eval: backward identity", dx, x, 8);
    TC_CHECK(!attn__dropout_active(&d, eval) && attn__dropout_active(&d, train) &&
             !attn__dropout_active(&zero, train), "active only when training with p > 0");
    TC_OK(attn__dropout_forward(&zero, train, 8, x, y));
    tc_bitwise("p = 0: identity", y, x, 8);
    TC_OK(attn__dropout_forward(&all, train, 8, x, y));
    int zeros = 1;
    for (int i = 0; i < 8; i++) zeros &= y[i] == 0.0f;
    TC_CHECK(zeros, "p = 1: all dropped");
}

typedef struct {
    attn__dropout_t d;
    attn__mode_t mode;
    float x[NF], y[NF], g[NF];
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    TC_OK(attn__dropout_forward(&c->d, c->mode, NF, c->x, c->y));
    return tc_dot(c->y, c->g, NF);
}

static void gradcheck(void) {
    fd_ctx c;
    attn__rng_t r;
    attn__rng_seed(&r, 17);
    TC_OK(attn__dropout_init(&c.d, "fd", 0.4f));
    c.mode = (attn__mode_t){1, 42}; /* a fixed seed: a fixed mask */
    tc_fill(&r, c.x, NF, 1.0f);
    tc_fill(&r, c.g, NF, 1.0f);
    float dx[NF] = {0};
    TC_OK(attn__dropout_backward(&c.d, c.mode, NF, c.g, dx));
    tc_gradcheck("dropout fd dx (fixed mask)", fd_loss, &c, c.x, dx, NF, 1e-2, 1e-3, 1e-3);
}

static void errors(void) {
    attn__dropout_t d;
    TC_CHECK(attn__dropout_init(&d, "x", 1.5f) == ATTN_STATUS_BAD_ARGUMENT, "p > 1");
    TC_CHECK(attn__dropout_init(&d, "x", -0.1f) == ATTN_STATUS_BAD_ARGUMENT, "p < 0");
    TC_CHECK(attn__dropout_init(&d, "x", NAN) == ATTN_STATUS_BAD_ARGUMENT, "p NaN");
    TC_CHECK(attn__dropout_init(&d, NULL, 0.1f) == ATTN_STATUS_NULL_POINTER, "no name");
    TC_OK(attn__dropout_init(&d, "x", 0.1f));
    float v[1] = {1};
    TC_CHECK(attn__dropout_forward(&d, (attn__mode_t){1, 0}, -1, v, v) ==
             ATTN_STATUS_BAD_SHAPE, "n < 0");
    TC_CHECK(attn__dropout_backward(&d, (attn__mode_t){1, 0}, 1, v, NULL) ==
             ATTN_STATUS_NULL_POINTER, "NULL dx");
}

int main(void) {
    double t0 = tc_seconds();
    reproducible();
    definition();
    modes();
    gradcheck();
    errors();
    return tc_finish("test_dropout", tc_seconds() - t0);
}
