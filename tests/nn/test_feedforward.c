/* nn/feedforward: finite-difference checks of linear1 -> activation -> dropout -> linear2
 * (GELU and GELU-tanh, eval and training with a fixed dropout mask), parameter names, the
 * dropout's place (between the activation and linear2), determinism and errors. ReLU and GELU
 * inside PyTorch's layers are compared in test_transformer_layers.
 *
 * Finite differences (L = sum(y * G) in double, h = 1e-2, every element of x and of every
 * parameter): |fd - g| <= 2e-3 max(1, max|g|) + 1e-2 |g|. */
#include "nn/feedforward.h"
#include "transformer_check.h"

#include <math.h>
#include <string.h>

enum { N = 6, E = 8, F = 16 };

typedef struct {
    attn__feedforward_t ff;
    attn__params_t ps;
    attn__arena_t arena;
    attn__mode_t mode;
    float x[N * E], y[N * E], g[N * E];
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    attn__feedforward_cache_t cache;
    attn__arena_reset(&c->arena);
    TC_OK(attn__feedforward_forward(&c->ff, &c->ps, c->mode, N, c->x, c->y, &cache, &c->arena));
    return tc_dot(c->y, c->g, N * E);
}

static void gradcheck(attn__act_t act, float p, attn__mode_t mode) {
    static fd_ctx c;
    attn__rng_t r;
    attn__rng_seed(&r, 23 + (uint64_t)act);
    attn__params_init(&c.ps);
    attn__arena_init(&c.arena, 0);
    c.mode = mode;
    TC_OK(attn__feedforward_init(&c.ff, &c.ps, "layer", E, F, act, p));
    TC_OK(attn__params_alloc(&c.ps));
    TC_OK(attn__feedforward_reset(&c.ff, &c.ps, &r));
    tc_fill(&r, c.x, N * E, 1.5f);
    tc_fill(&r, c.g, N * E, 1.0f);
    float dx[N * E] = {0};
    attn__feedforward_cache_t cache;
    TC_OK(attn__feedforward_forward(&c.ff, &c.ps, mode, N, c.x, c.y, &cache, &c.arena));
    TC_OK(attn__feedforward_backward(&c.ff, &c.ps, mode, N, c.x, &cache, c.g, dx, &c.arena));

    if (attn__dropout_active(&c.ff.dropout, mode)) {
        /* the hidden activations after dropout: zeros where dropped, act(h) / (1 - p) else */
        long dropped = 0;
        for (int i = 0; i < N * F; i++) dropped += cache.a[i] == 0.0f;
        TC_CHECK(dropped > N * F / 10 && dropped < N * F / 2, "%ld of %d hidden units dropped",
                 dropped, N * F);
    }
    char label[160];
    snprintf(label, sizeof label, "ff %s p=%.1f %s fd dx", attn__act_name(act), (double)p,
             mode.training ? "train" : "eval");
    tc_gradcheck(label, fd_loss, &c, c.x, dx, N * E, 1e-2, 2e-3, 1e-2);
    for (int32_t i = 0; i < c.ps.count; i++) {
        snprintf(label, sizeof label, "ff %s fd %s", attn__act_name(act), c.ps.list[i].name);
        tc_gradcheck(label, fd_loss, &c, attn__pw(&c.ps, i), attn__pg(&c.ps, i),
                     c.ps.list[i].numel, 1e-2, 2e-3, 1e-2);
    }
    attn__arena_free(&c.arena);
    attn__params_free(&c.ps);
}

static void names_and_determinism(void) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__feedforward_t ff;
    TC_OK(attn__feedforward_init(&ff, &ps, "enc.layers.1", E, F, ATTN__ACT_RELU, 0.2f));
    const char *want[4] = {"enc.layers.1.linear1.weight", "enc.layers.1.linear1.bias",
                           "enc.layers.1.linear2.weight", "enc.layers.1.linear2.bias"};
    const int64_t numel[4] = {F * E, F, E * F, E};
    for (int i = 0; i < 4; i++) {
        int32_t id = attn__params_find(&ps, want[i]);
        TC_CHECK(id >= 0 && ps.list[id].numel == numel[i], "parameter %s", want[i]);
    }
    TC_CHECK(ps.count == 4, "%d parameters", (int)ps.count);
    TC_OK(attn__params_alloc(&ps));
    attn__rng_t r;
    attn__rng_seed(&r, 2);
    TC_OK(attn__feedforward_reset(&ff, &ps, &r));
    float x[N * E], y1[N * E], y2[N * E];
    tc_fill(&r, x, N * E, 1.0f);
    attn__arena_t a;
    attn__arena_init(&a, 0);
    attn__feedforward_cache_t c1, c2;
    attn__mode_t m = {1, 77};
    TC_OK(attn__feedforward_forward(&ff, &ps, m, N, x, y1, &c1, &a));
    TC_OK(attn__feedforward_forward(&ff, &ps, m, N, x, y2, &c2, &a));
    tc_bitwise("ff: same seed, same bits", y1, y2, N * E);
    m.seed = 78;
    TC_OK(attn__feedforward_forward(&ff, &ps, m, N, x, y2, &c2, &a));
    TC_CHECK(memcmp(y1, y2, sizeof y1) != 0, "ff: another seed, another mask");
    TC_CHECK(attn__feedforward_forward(&ff, &ps, m, -1, x, y2, &c2, &a) ==
             ATTN_STATUS_BAD_SHAPE, "N < 0");
    TC_CHECK(attn__feedforward_init(&ff, &ps, "bad", E, F, (attn__act_t)9, 0.0f) ==
             ATTN_STATUS_BAD_ARGUMENT, "unknown activation");
    attn__arena_free(&a);
    attn__params_free(&ps);
}

int main(void) {
    double t0 = tc_seconds();
    attn__mode_t eval = {0, 0}, train = {1, 4242};
    gradcheck(ATTN__ACT_GELU, 0.0f, eval);
    gradcheck(ATTN__ACT_GELU_TANH, 0.0f, eval);
    gradcheck(ATTN__ACT_GELU, 0.3f, train);
    names_and_determinism();
    return tc_finish("test_feedforward", tc_seconds() - t0);
}
