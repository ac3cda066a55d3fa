/* nn/mha: multi-head attention against PyTorch's nn.MultiheadAttention(8, 2, batch_first)
 * (self-attention with key_padding_mask, causal via attn_mask plus key padding,
 * cross-attention with key padding), finite differences of the same three, the key/value
 * cache (step by step and prompt + steps equal the full causal forward; cached
 * cross-attention equals the full one), determinism, initialisation and errors.
 *
 * PyTorch (float64 on the same float32 values): y within 1e-5 abs + 1e-5 rel; dx, dmemory
 * and every parameter gradient within 1e-4 abs + 1e-4 rel.
 * Finite differences (L = sum(y * G) in double, h = 1e-2, every element of x, memory and
 * every parameter): |fd - g| <= 2e-3 max(1, max|g|) + 1e-2 |g|.
 * The same finite differences with attention dropout in training mode (a fixed seed).
 * Incremental decoding: within 1e-5 abs + 1e-5 rel of the full forward (the kernel sees other
 * Nq / Nk, so the bits may differ). */
#include "nn/mha.h"
#include "transformer_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, T = 5, TK = 6, E = 8, H = 2 };

/* ---- PyTorch ------------------------------------------------------------------------------- */
static const float *get(const ref_file *f, const char *c, const char *what, int64_t n) {
    char key[64];
    snprintf(key, sizeof key, "%s.%s", c, what);
    return tc_ref(f, key, n);
}

static void torch_case(const ref_file *f, const char *name, int cross, attn_causal_t causal) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__mha_t m;
    attn__arena_t a;
    attn__arena_init(&a, 0);
    TC_OK(attn__mha_init(&m, &ps, name, E, H));
    TC_OK(attn__params_alloc(&ps));
    tc_load_params(&ps, f, name);
    const float *x = get(f, name, "x", B * T * E), *dy = get(f, name, "dy", B * T * E);
    const float *y_ref = get(f, name, "y", B * T * E), *dx_ref = get(f, name, "dx", B * T * E);
    const float *lens_f = cross ? NULL : get(f, name, "lens", B);
    const float *mem = cross ? get(f, name, "mem", B * TK * E) : NULL;
    const float *dmem_ref = cross ? get(f, name, "dmem", B * TK * E) : NULL;
    const float *mlens_f = cross ? get(f, name, "mlens", B) : NULL;
    const float *lf = cross ? mlens_f : lens_f;
    if (x && dy && y_ref && dx_ref && lf && (!cross || (mem && dmem_ref))) {
        int64_t lens[B];
        for (int b = 0; b < B; b++) lens[b] = (int64_t)lf[b];
        float y[B * T * E], dx[B * T * E] = {0}, dmem[B * TK * E] = {0};
        attn__mha_cache_t c;
        TC_OK(attn__mha_forward(&m, &ps, B, T, cross ? TK : T, x, cross ? mem : NULL, lens,
                                causal, y, &c, &a));
        char label[64];
        snprintf(label, sizeof label, "%s y vs torch", name);
        tc_close(label, y, y_ref, B * T * E, 1e-5, 1e-5);
        TC_OK(attn__mha_backward(&m, &ps, x, cross ? mem : NULL, &c, dy, dx, dmem, &a));
        snprintf(label, sizeof label, "%s dx vs torch", name);
        tc_close(label, dx, dx_ref, B * T * E, 1e-4, 1e-4);
        if (cross) {
            snprintf(label, sizeof label, "%s dmem vs torch", name);
            tc_close(label, dmem, dmem_ref, B * TK * E, 1e-4, 1e-4);
        }
        tc_check_param_grads(&ps, f, 1e-4, 1e-4);
    }
    attn__arena_free(&a);
    attn__params_free(&ps);
}

/* ---- finite differences -------------------------------------------------------------------- */
typedef struct {
    attn__mha_t m;
    attn__params_t ps;
    attn__arena_t arena;
    int cross;
    attn_causal_t causal;
    int64_t lens[B];
    attn__mode_t mode; /* training with a seed: attention dropout, when the layer has it */
    float x[B * T * E], mem[B * TK * E], y[B * T * E], g[B * T * E];
} fd_ctx;

static double fd_loss(void *p) {
    fd_ctx *c = p;
    attn__mha_cache_t cache;
    attn__arena_reset(&c->arena);
    TC_OK(attn__mha_forward_mode(&c->m, &c->ps, c->mode, B, T, c->cross ? TK : T, c->x,
                                 c->cross ? c->mem : NULL, c->lens, c->causal, c->y, &cache,
                                 &c->arena));
    return tc_dot(c->y, c->g, B * T * E);
}

/* drop > 0: attention dropout in training mode (a fixed seed: a smooth function) */
static void setup(fd_ctx *c, uint64_t seed, int cross, attn_causal_t causal, float drop) {
    attn__rng_t r;
    attn__rng_seed(&r, seed);
    attn__params_init(&c->ps);
    attn__arena_init(&c->arena, 0);
    c->cross = cross;
    c->causal = causal;
    c->mode = (attn__mode_t){drop > 0.0f, seed * 7919 + 1};
    TC_OK(attn__mha_init(&c->m, &c->ps, "attn", E, H));
    TC_OK(attn__mha_set_dropout(&c->m, drop));
    TC_OK(attn__params_alloc(&c->ps));
    TC_OK(attn__mha_reset(&c->m, &c->ps, &r));
    /* nonzero biases, so their gradients are exercised through every path */
    tc_fill(&r, attn__pw(&c->ps, c->m.in_b), 3 * E, 0.3f);
    tc_fill(&r, attn__pw(&c->ps, c->m.out_b), E, 0.3f);
    tc_fill(&r, c->x, B * T * E, 1.0f);
    tc_fill(&r, c->mem, B * TK * E, 1.0f);
    tc_fill(&r, c->g, B * T * E, 1.0f);
    c->lens[0] = cross ? TK : T;
    c->lens[1] = cross ? 3 : 2;
}

static void gradcheck(const char *what, uint64_t seed, int cross, attn_causal_t causal,
                      float drop) {
    static fd_ctx c;
    setup(&c, seed, cross, causal, drop);
    float dx[B * T * E] = {0}, dmem[B * TK * E] = {0};
    attn__mha_cache_t cache;
    TC_OK(attn__mha_forward_mode(&c.m, &c.ps, c.mode, B, T, cross ? TK : T, c.x,
                                 cross ? c.mem : NULL, c.lens, causal, c.y, &cache, &c.arena));
    if (drop > 0.0f) { /* the same layer without dropout (eval) gives another y */
        float y0[B * T * E];
        attn__mha_cache_t c0;
        TC_OK(attn__mha_forward(&c.m, &c.ps, B, T, cross ? TK : T, c.x, cross ? c.mem : NULL,
                                c.lens, causal, y0, &c0, &c.arena));
        TC_CHECK(memcmp(y0, c.y, sizeof y0) != 0, "mha %s: dropout changed nothing", what);
        TC_CHECK(cache.dropout_p == drop && c0.dropout_p == 0.0f, "mha %s: cached dropout "
                 "%g / %g", what, (double)cache.dropout_p, (double)c0.dropout_p);
    }
    TC_OK(attn__mha_backward(&c.m, &c.ps, c.x, cross ? c.mem : NULL, &cache, c.g, dx, dmem,
                             &c.arena));
    float y1[B * T * E]; /* the finite differences overwrite c.y */
    memcpy(y1, c.y, sizeof y1);
    char label[160];
    snprintf(label, sizeof label, "mha %s fd dx", what);
    tc_gradcheck(label, fd_loss, &c, c.x, dx, B * T * E, 1e-2, 2e-3, 1e-2);
    if (cross) {
        snprintf(label, sizeof label, "mha %s fd dmemory", what);
        tc_gradcheck(label, fd_loss, &c, c.mem, dmem, B * TK * E, 1e-2, 2e-3, 1e-2);
        /* padded memory positions get exactly zero gradient */
        int zero = 1;
        for (int64_t j = c.lens[1]; j < TK; j++)
            for (int e = 0; e < E; e++) zero &= dmem[(TK + j) * E + e] == 0.0f;
        TC_CHECK(zero, "mha %s: padded memory rows get no gradient", what);
    }
    for (int32_t i = 0; i < c.ps.count; i++) {
        snprintf(label, sizeof label, "mha %s fd %s", what, c.ps.list[i].name);
        tc_gradcheck(label, fd_loss, &c, attn__pw(&c.ps, i), attn__pg(&c.ps, i),
                     c.ps.list[i].numel, 1e-2, 2e-3, 1e-2);
    }

    /* determinism: the same forward and backward again give the same bits */
    float dx2[B * T * E] = {0}, dmem2[B * TK * E] = {0}, y2[B * T * E];
    float *g1 = malloc(sizeof(float) * (size_t)c.ps.total);
    memcpy(g1, c.ps.g, sizeof(float) * (size_t)c.ps.total);
    attn__params_zero_grad(&c.ps);
    attn__arena_reset(&c.arena);
    TC_OK(attn__mha_forward_mode(&c.m, &c.ps, c.mode, B, T, cross ? TK : T, c.x,
                                 cross ? c.mem : NULL, c.lens, causal, y2, &cache, &c.arena));
    TC_OK(attn__mha_backward(&c.m, &c.ps, c.x, cross ? c.mem : NULL, &cache, c.g, dx2, dmem2,
                             &c.arena));
    snprintf(label, sizeof label, "mha %s: same y again", what);
    tc_bitwise(label, y2, y1, B * T * E);
    snprintf(label, sizeof label, "mha %s: same dx again", what);
    tc_bitwise(label, dx2, dx, B * T * E);
    snprintf(label, sizeof label, "mha %s: same dmemory again", what);
    tc_bitwise(label, dmem2, dmem, B * TK * E);
    snprintf(label, sizeof label, "mha %s: same parameter gradients again", what);
    tc_bitwise(label, c.ps.g, g1, c.ps.total);
    free(g1);
    attn__arena_free(&c.arena);
    attn__params_free(&c.ps);
}

/* ---- incremental decoding ------------------------------------------------------------------ */
/* rows t0 .. t0 + n - 1 of every sequence of x [B, len, E] -> out [B, n, E] */
static void slice(const float *x, int64_t len, int64_t t0, int64_t n, float *out) {
    for (int b = 0; b < B; b++)
        memcpy(out + b * n * E, x + (b * len + t0) * E, sizeof(float) * (size_t)(n * E));
}

static void kv_cache(void) {
    static fd_ctx c;
    setup(&c, 41, 0, ATTN_CAUSAL_TOP_LEFT, 0.0f);
    float full[B * T * E], cross_full[B * T * E], step[B * T * E], got[B * T * E];
    attn__mha_cache_t cache;
    TC_OK(attn__mha_forward(&c.m, &c.ps, B, T, T, c.x, NULL, NULL, ATTN_CAUSAL_TOP_LEFT, full,
                            &cache, &c.arena));
    attn__kv_cache_t kv;
    TC_OK(attn__kv_cache_init(&kv, B, T, E));

    /* one position at a time */
    for (int64_t t = 0; t < T; t++) {
        float xt[B * E], yt[B * E];
        slice(c.x, T, t, 1, xt);
        TC_OK(attn__mha_step(&c.m, &c.ps, &kv, 1, xt, yt, &c.arena));
        for (int b = 0; b < B; b++) memcpy(got + (b * T + t) * E, yt + b * E, sizeof(float) * E);
    }
    TC_CHECK(kv.len == T, "cache length %lld", (long long)kv.len);
    tc_close("kv cache: steps of 1 = full causal forward", got, full, B * T * E, 1e-5, 1e-5);

    /* a prompt of 3, then 2 single steps */
    attn__kv_cache_clear(&kv);
    slice(c.x, T, 0, 3, step);
    TC_OK(attn__mha_step(&c.m, &c.ps, &kv, 3, step, got, &c.arena));
    float want[B * 3 * E];
    slice(full, T, 0, 3, want);
    tc_close("kv cache: prompt of 3", got, want, B * 3 * E, 1e-5, 1e-5);
    for (int64_t t = 3; t < T; t++) {
        float xt[B * E], yt[B * E], wt[B * E];
        slice(c.x, T, t, 1, xt);
        slice(full, T, t, 1, wt);
        TC_OK(attn__mha_step(&c.m, &c.ps, &kv, 1, xt, yt, &c.arena));
        tc_close("kv cache: step after the prompt", yt, wt, B * E, 1e-5, 1e-5);
    }
    float xt[B * E], yt[B * E];
    TC_CHECK(attn__mha_step(&c.m, &c.ps, &kv, 1, xt, yt, &c.arena) == ATTN_STATUS_BAD_SHAPE,
             "a step past max_len is refused");

    /* beam reordering: swap the two sequences after 3 positions; the 4th step with swapped
     * inputs gives the swapped outputs */
    attn__kv_cache_clear(&kv);
    slice(c.x, T, 0, 3, step);
    TC_OK(attn__mha_step(&c.m, &c.ps, &kv, 3, step, got, &c.arena));
    float k_before[B * T * E];
    memcpy(k_before, kv.k, sizeof k_before);
    int64_t swap[B] = {1, 0}, bad_from[B] = {0, 2};
    TC_CHECK(attn__kv_cache_reorder(&kv, bad_from, &c.arena) == ATTN_STATUS_BAD_ARGUMENT,
             "reorder from a sequence that does not exist");
    TC_OK(attn__kv_cache_reorder(&kv, swap, &c.arena));
    tc_bitwise("kv reorder: sequence 0 holds sequence 1's keys", kv.k, k_before + T * E, 3 * E);
    tc_bitwise("kv reorder: sequence 1 holds sequence 0's keys", kv.k + T * E, k_before, 3 * E);
    {
        float x3[B * E], x3s[B * E], y3[B * E], w3[B * E];
        slice(c.x, T, 3, 1, x3);
        slice(full, T, 3, 1, w3);
        memcpy(x3s, x3 + E, sizeof(float) * E);
        memcpy(x3s + E, x3, sizeof(float) * E);
        TC_OK(attn__mha_step(&c.m, &c.ps, &kv, 1, x3s, y3, &c.arena));
        tc_close("kv reorder: step of sequence 0", y3, w3 + E, E, 1e-5, 1e-5);
        tc_close("kv reorder: step of sequence 1", y3 + E, w3, E, 1e-5, 1e-5);
    }

    /* cross-attention: the memory projected once, then attended from all queries */
    int64_t mlens[B] = {TK, 4};
    TC_OK(attn__mha_forward(&c.m, &c.ps, B, T, TK, c.x, c.mem, mlens, ATTN_CAUSAL_NONE,
                            cross_full, &cache, &c.arena));
    attn__kv_cache_t mem;
    TC_OK(attn__kv_cache_init(&mem, B, TK, E));
    TC_OK(attn__mha_kv_append(&c.m, &c.ps, &mem, TK, c.mem));
    TC_OK(attn__mha_attend_cached(&c.m, &c.ps, &mem, T, c.x, mlens, ATTN_CAUSAL_NONE, got,
                                  &c.arena));
    tc_close("kv cache: cached cross-attention", got, cross_full, B * T * E, 1e-5, 1e-5);
    for (int64_t t = 0; t < T; t++) {
        float wt[B * E];
        slice(c.x, T, t, 1, xt);
        slice(cross_full, T, t, 1, wt);
        TC_OK(attn__mha_attend_cached(&c.m, &c.ps, &mem, 1, xt, mlens, ATTN_CAUSAL_NONE, yt,
                                      &c.arena));
        tc_close("kv cache: cross-attention one query", yt, wt, B * E, 1e-5, 1e-5);
    }
    attn__kv_cache_free(&mem);
    attn__kv_cache_free(&kv);
    attn__arena_free(&c.arena);
    attn__params_free(&c.ps);
}

/* ---- initialisation and errors ------------------------------------------------------------- */
static void init_and_errors(void) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__mha_t m, bad;
    attn__arena_t a;
    attn__arena_init(&a, 0);
    TC_CHECK(attn__mha_init(&bad, &ps, "bad", 10, 3) == ATTN_STATUS_BAD_SHAPE,
             "E not a multiple of H");
    TC_OK(attn__mha_init(&m, &ps, "enc.self_attn", 32, 4));
    TC_CHECK(m.head_dim == 8, "head dim");
    const char *names[4] = {"enc.self_attn.in_proj_weight", "enc.self_attn.in_proj_bias",
                            "enc.self_attn.out_proj.weight", "enc.self_attn.out_proj.bias"};
    for (int i = 0; i < 4; i++)
        TC_CHECK(attn__params_find(&ps, names[i]) >= 0, "parameter %s", names[i]);
    TC_OK(attn__params_alloc(&ps));
    attn__rng_t r;
    attn__rng_seed(&r, 9);
    TC_OK(attn__mha_reset(&m, &ps, &r));
    /* xavier_uniform over [3E, E]: bound sqrt(6 / (E + 3E)); out_proj +-1/sqrt(E); biases 0 */
    double bin = sqrt(6.0 / (4.0 * 32)), bout = 1.0 / sqrt(32.0), win = 0, wout = 0, bias = 0;
    for (int i = 0; i < 3 * 32 * 32; i++) win = fmax(win, fabs(attn__pw(&ps, m.in_w)[i]));
    for (int i = 0; i < 32 * 32; i++) wout = fmax(wout, fabs(attn__pw(&ps, m.out_w)[i]));
    for (int i = 0; i < 3 * 32; i++) bias = fmax(bias, fabs(attn__pw(&ps, m.in_b)[i]));
    for (int i = 0; i < 32; i++) bias = fmax(bias, fabs(attn__pw(&ps, m.out_b)[i]));
    TC_CHECK(win <= bin && win > 0.95 * bin, "in_proj_weight reaches %g, bound %g", win, bin);
    TC_CHECK(wout <= bout && wout > 0.95 * bout, "out_proj.weight reaches %g, bound %g", wout,
             bout);
    TC_CHECK(bias == 0.0, "biases start at 0");

    float x[2 * 3 * 32] = {0}, y[2 * 3 * 32];
    attn__mha_cache_t c;
    TC_CHECK(attn__mha_forward(&m, &ps, 2, 3, 4, x, NULL, NULL, ATTN_CAUSAL_NONE, y, &c, &a) ==
             ATTN_STATUS_BAD_SHAPE, "self-attention with Tk != Tq");
    TC_CHECK(attn__mha_forward(&m, &ps, 0, 3, 3, x, NULL, NULL, ATTN_CAUSAL_NONE, y, &c, &a) ==
             ATTN_STATUS_BAD_SHAPE, "B = 0");
    int64_t lens[2] = {3, 9};
    TC_CHECK(attn__mha_forward(&m, &ps, 2, 3, 3, x, NULL, lens, ATTN_CAUSAL_NONE, y, &c, &a) !=
             ATTN_STATUS_OK, "key_lens past Tk (reported by the kernel)");
    attn__kv_cache_t kv;
    memset(&kv, 0, sizeof kv);
    TC_CHECK(attn__mha_attend_cached(&m, &ps, &kv, 1, x, NULL, ATTN_CAUSAL_NONE, y, &a) ==
             ATTN_STATUS_BAD_ARGUMENT, "attending an unallocated cache");
    TC_CHECK(attn__kv_cache_init(&kv, 2, 0, 32) == ATTN_STATUS_BAD_SHAPE, "max_len 0");
    TC_OK(attn__kv_cache_init(&kv, 2, 4, 16));
    TC_CHECK(attn__mha_step(&m, &ps, &kv, 1, x, y, &a) == ATTN_STATUS_BAD_ARGUMENT,
             "a cache for another embed dim");
    attn__kv_cache_free(&kv);
    attn__arena_free(&a);
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
        torch_case(&f, "mhaself", 0, ATTN_CAUSAL_NONE);
        torch_case(&f, "mhacausal", 0, ATTN_CAUSAL_TOP_LEFT);
        torch_case(&f, "mhacross", 1, ATTN_CAUSAL_NONE);
        ref_free(&f);
    }
    gradcheck("self, key padding", 31, 0, ATTN_CAUSAL_NONE, 0.0f);
    gradcheck("causal, key padding", 32, 0, ATTN_CAUSAL_TOP_LEFT, 0.0f);
    gradcheck("cross, key padding", 33, 1, ATTN_CAUSAL_NONE, 0.0f);
    gradcheck("causal, attention dropout 0.3", 34, 0, ATTN_CAUSAL_TOP_LEFT, 0.3f);
    gradcheck("cross, attention dropout 0.5", 35, 1, ATTN_CAUSAL_NONE, 0.5f);
    kv_cache();
    init_and_errors();
    return tc_finish("test_mha", tc_seconds() - t0);
}
