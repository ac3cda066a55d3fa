/* nn/transformer: the pre-norm encoder and decoder layers against PyTorch 1.13's
 * nn.TransformerEncoderLayer / nn.TransformerDecoderLayer (norm_first=True, batch_first=True,
 * dropout=0; d_model 8, nhead 2, dim_feedforward 16):
 *   enc   gelu, src_key_padding_mask
 *   encc  relu, causal src_mask + src_key_padding_mask
 *   dec   gelu, causal tgt_mask + tgt_key_padding_mask + memory_key_padding_mask
 *   decr  relu, causal tgt_mask only
 * forward outputs, input gradients (x and memory) and the gradient of every parameter, the
 * parameters loaded by PyTorch's names (and no name left over on either side). Then
 * finite differences of both layers in training mode (dropout p = 0.2 with a fixed seed, key
 * padding), the decoder's incremental step against its full causal forward, and dropout
 * reproducibility through a whole layer.
 *
 * PyTorch (float64 on the same float32 values): y within 1e-5 abs + 1e-5 rel; dx, dmemory and
 * every parameter gradient within 1e-4 abs + 1e-4 rel.
 * Finite differences (L = sum(y * G) in double, h = 1e-2, every element of x, memory and of
 * every parameter): |fd - g| <= 2e-3 max(1, max|g|) + 1e-2 |g|.
 * Incremental decoding: within 1e-5 abs + 1e-5 rel of the full forward. */
#include "nn/transformer.h"
#include "transformer_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, T = 5, TK = 6, E = 8, H = 2, FF = 16 };
enum { NX = B * T * E, NM = B * TK * E };

static attn__transformer_config_t config(attn__act_t act, float dropout) {
    attn__transformer_config_t c = attn__transformer_default_config(E, H);
    c.dim_feedforward = FF;
    c.dropout = dropout;
    c.activation = act;
    return c;
}

static const float *get(const ref_file *f, const char *c, const char *what, int64_t n) {
    char key[64];
    snprintf(key, sizeof key, "%s.%s", c, what);
    return tc_ref(f, key, n);
}

static void lens_from(const float *lf, int64_t *lens) {
    for (int b = 0; b < B; b++) lens[b] = (int64_t)lf[b];
}

/* ---- PyTorch ------------------------------------------------------------------------------- */
static void torch_encoder(const ref_file *f, const char *name, attn__act_t act,
                          attn_causal_t causal) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__arena_t a;
    attn__arena_init(&a, 0);
    attn__encoder_layer_t l;
    TC_OK(attn__encoder_layer_init(&l, &ps, name, config(act, 0.0f)));
    TC_OK(attn__params_alloc(&ps));
    tc_load_params(&ps, f, name);
    const float *x = get(f, name, "x", NX), *dy = get(f, name, "dy", NX);
    const float *y_ref = get(f, name, "y", NX), *dx_ref = get(f, name, "dx", NX);
    const float *lf = get(f, name, "lens", B);
    if (x && dy && y_ref && dx_ref && lf) {
        int64_t lens[B];
        lens_from(lf, lens);
        float y[NX], dx[NX] = {0};
        attn__encoder_cache_t c;
        attn__mode_t train = {1, 5};
        TC_OK(attn__encoder_layer_forward(&l, &ps, train, B, T, x, lens, causal, y, &c, &a));
        char label[64];
        snprintf(label, sizeof label, "%s y vs torch", name);
        tc_close(label, y, y_ref, NX, 1e-5, 1e-5);
        TC_OK(attn__encoder_layer_backward(&l, &ps, train, x, &c, dy, dx, &a));
        snprintf(label, sizeof label, "%s dx vs torch", name);
        tc_close(label, dx, dx_ref, NX, 1e-4, 1e-4);
        tc_check_param_grads(&ps, f, 1e-4, 1e-4);
    }
    attn__arena_free(&a);
    attn__params_free(&ps);
}

static void torch_decoder(const ref_file *f, const char *name, attn__act_t act, int padded) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__arena_t a;
    attn__arena_init(&a, 0);
    attn__decoder_layer_t l;
    TC_OK(attn__decoder_layer_init(&l, &ps, name, config(act, 0.0f)));
    TC_OK(attn__params_alloc(&ps));
    tc_load_params(&ps, f, name);
    const float *x = get(f, name, "x", NX), *mem = get(f, name, "mem", NM);
    const float *dy = get(f, name, "dy", NX), *y_ref = get(f, name, "y", NX);
    const float *dx_ref = get(f, name, "dx", NX), *dmem_ref = get(f, name, "dmem", NM);
    const float *lf = padded ? get(f, name, "lens", B) : NULL;
    const float *mlf = padded ? get(f, name, "mlens", B) : NULL;
    if (x && mem && dy && y_ref && dx_ref && dmem_ref && (!padded || (lf && mlf))) {
        int64_t lens[B], mlens[B];
        if (padded) {
            lens_from(lf, lens);
            lens_from(mlf, mlens);
        }
        float y[NX], dx[NX] = {0}, dmem[NM] = {0};
        attn__decoder_cache_t c;
        attn__mode_t train = {1, 5};
        TC_OK(attn__decoder_layer_forward(&l, &ps, train, B, T, TK, x, mem,
                                          padded ? lens : NULL, padded ? mlens : NULL, y, &c,
                                          &a));
        char label[64];
        snprintf(label, sizeof label, "%s y vs torch", name);
        tc_close(label, y, y_ref, NX, 1e-5, 1e-5);
        TC_OK(attn__decoder_layer_backward(&l, &ps, train, x, mem, &c, dy, dx, dmem, &a));
        snprintf(label, sizeof label, "%s dx vs torch", name);
        tc_close(label, dx, dx_ref, NX, 1e-4, 1e-4);
        snprintf(label, sizeof label, "%s dmem vs torch", name);
        tc_close(label, dmem, dmem_ref, NM, 1e-4, 1e-4);
        tc_check_param_grads(&ps, f, 1e-4, 1e-4);
    }
    attn__arena_free(&a);
    attn__params_free(&ps);
}

/* ---- finite differences -------------------------------------------------------------------- */
typedef struct {
    int decoder;
    attn__encoder_layer_t enc;
    attn__decoder_layer_t dec;
    attn__params_t ps;
    attn__arena_t arena;
    attn__mode_t mode;
    int64_t lens[B], mlens[B];
    float x[NX], mem[NM], y[NX], g[NX];
} fd_ctx;

static attn_status_t forward(fd_ctx *c, float *y, attn__encoder_cache_t *ec,
                             attn__decoder_cache_t *dc) {
    if (c->decoder)
        return attn__decoder_layer_forward(&c->dec, &c->ps, c->mode, B, T, TK, c->x, c->mem,
                                           c->lens, c->mlens, y, dc, &c->arena);
    return attn__encoder_layer_forward(&c->enc, &c->ps, c->mode, B, T, c->x, c->lens,
                                       ATTN_CAUSAL_NONE, y, ec, &c->arena);
}

static double fd_loss(void *p) {
    fd_ctx *c = p;
    attn__encoder_cache_t ec;
    attn__decoder_cache_t dc;
    attn__arena_reset(&c->arena);
    TC_OK(forward(c, c->y, &ec, &dc));
    return tc_dot(c->y, c->g, NX);
}

static void setup(fd_ctx *c, int decoder, uint64_t seed, attn__transformer_config_t cfg) {
    attn__rng_t r;
    attn__rng_seed(&r, seed);
    memset(c, 0, sizeof *c);
    c->decoder = decoder;
    attn__params_init(&c->ps);
    attn__arena_init(&c->arena, 0);
    if (decoder) {
        TC_OK(attn__decoder_layer_init(&c->dec, &c->ps, "dec", cfg));
        TC_OK(attn__params_alloc(&c->ps));
        TC_OK(attn__decoder_layer_reset(&c->dec, &c->ps, &r));
    } else {
        TC_OK(attn__encoder_layer_init(&c->enc, &c->ps, "enc", cfg));
        TC_OK(attn__params_alloc(&c->ps));
        TC_OK(attn__encoder_layer_reset(&c->enc, &c->ps, &r));
    }
    /* every parameter random (layer norm scales near 1), so that every path carries signal */
    for (int32_t i = 0; i < c->ps.count; i++) {
        float *w = attn__pw(&c->ps, i);
        int norm_scale = strstr(c->ps.list[i].name, ".norm") &&
                         strstr(c->ps.list[i].name, ".weight");
        tc_fill(&r, w, c->ps.list[i].numel, norm_scale ? 0.3f : 0.4f);
        if (norm_scale)
            for (int64_t k = 0; k < c->ps.list[i].numel; k++) w[k] += 1.0f;
    }
    tc_fill(&r, c->x, NX, 1.0f);
    tc_fill(&r, c->mem, NM, 1.0f);
    tc_fill(&r, c->g, NX, 1.0f);
    c->lens[0] = T;
    c->lens[1] = 3;
    c->mlens[0] = 4;
    c->mlens[1] = TK;
}

static void gradcheck(int decoder) {
    static fd_ctx c;
    setup(&c, decoder, 51 + (uint64_t)decoder, config(ATTN__ACT_GELU, 0.2f));
    c.mode = (attn__mode_t){1, 2024}; /* training: dropout with a fixed mask */
    const char *what = decoder ? "decoder" : "encoder";
    float dx[NX] = {0}, dmem[NM] = {0};
    attn__encoder_cache_t ec;
    attn__decoder_cache_t dc;
    TC_OK(forward(&c, c.y, &ec, &dc));
    if (decoder)
        TC_OK(attn__decoder_layer_backward(&c.dec, &c.ps, c.mode, c.x, c.mem, &dc, c.g, dx,
                                           dmem, &c.arena));
    else
        TC_OK(attn__encoder_layer_backward(&c.enc, &c.ps, c.mode, c.x, &ec, c.g, dx,
                                           &c.arena));
    char label[160];
    snprintf(label, sizeof label, "%s fd dx", what);
    tc_gradcheck(label, fd_loss, &c, c.x, dx, NX, 1e-2, 2e-3, 1e-2);
    if (decoder) {
        snprintf(label, sizeof label, "%s fd dmemory", what);
        tc_gradcheck(label, fd_loss, &c, c.mem, dmem, NM, 1e-2, 2e-3, 1e-2);
    }
    for (int32_t i = 0; i < c.ps.count; i++) {
        snprintf(label, sizeof label, "%s fd %s", what, c.ps.list[i].name);
        tc_gradcheck(label, fd_loss, &c, attn__pw(&c.ps, i), attn__pg(&c.ps, i),
                     c.ps.list[i].numel, 1e-2, 2e-3, 1e-2);
    }
    attn__arena_free(&c.arena);
    attn__params_free(&c.ps);
}

/* ---- incremental decoding ------------------------------------------------------------------ */
static void slice(const float *x, int64_t t0, int64_t n, float *out) {
    for (int b = 0; b < B; b++)
        memcpy(out + b * n * E, x + (b * T + t0) * E, sizeof(float) * (size_t)(n * E));
}

static void decoder_steps(void) {
    static fd_ctx c;
    setup(&c, 1, 61, config(ATTN__ACT_GELU, 0.3f)); /* p is ignored in eval mode */
    c.mode = (attn__mode_t){0, 0};
    attn__decoder_cache_t dc;
    float full[NX], got[NX];
    TC_OK(attn__decoder_layer_forward(&c.dec, &c.ps, c.mode, B, T, TK, c.x, c.mem, NULL,
                                      c.mlens, full, &dc, &c.arena));
    attn__decoder_state_t s;
    TC_OK(attn__decoder_layer_start(&c.dec, &c.ps, &s, B, T, TK, c.mem, c.mlens));
    for (int64_t t = 0; t < T; t++) {
        float xt[B * E], yt[B * E];
        slice(c.x, t, 1, xt);
        attn__arena_reset(&c.arena);
        TC_OK(attn__decoder_layer_step(&c.dec, &c.ps, &s, 1, xt, yt, &c.arena));
        for (int b = 0; b < B; b++) memcpy(got + (b * T + t) * E, yt + b * E, sizeof(float) * E);
    }
    tc_close("decoder: steps of 1 = full causal forward", got, full, NX, 1e-5, 1e-5);
    TC_CHECK(s.self.len == T && s.cross.len == TK, "cache lengths %lld, %lld",
             (long long)s.self.len, (long long)s.cross.len);
    attn__decoder_state_free(&s);

    /* a prompt of 2 positions, then one at a time */
    TC_OK(attn__decoder_layer_start(&c.dec, &c.ps, &s, B, T, TK, c.mem, c.mlens));
    float xp[B * 2 * E], yp[B * 2 * E], wp[B * 2 * E];
    slice(c.x, 0, 2, xp);
    slice(full, 0, 2, wp);
    TC_OK(attn__decoder_layer_step(&c.dec, &c.ps, &s, 2, xp, yp, &c.arena));
    tc_close("decoder: prompt of 2", yp, wp, B * 2 * E, 1e-5, 1e-5);
    for (int64_t t = 2; t < T; t++) {
        float xt[B * E], yt[B * E], wt[B * E];
        slice(c.x, t, 1, xt);
        slice(full, t, 1, wt);
        TC_OK(attn__decoder_layer_step(&c.dec, &c.ps, &s, 1, xt, yt, &c.arena));
        tc_close("decoder: step after the prompt", yt, wt, B * E, 1e-5, 1e-5);
    }
    float xt[B * E], yt[B * E];
    TC_CHECK(attn__decoder_layer_step(&c.dec, &c.ps, &s, 1, xt, yt, &c.arena) ==
             ATTN_STATUS_BAD_SHAPE, "a step past max_len is refused");
    attn__decoder_state_free(&s);
    attn__arena_free(&c.arena);
    attn__params_free(&c.ps);
}

/* ---- dropout through a layer --------------------------------------------------------------- */
static void dropout_modes(void) {
    static fd_ctx c;
    setup(&c, 0, 71, config(ATTN__ACT_RELU, 0.25f));
    float y1[NX], y2[NX], y_eval[NX], y_p0[NX];
    attn__encoder_cache_t ec;
    c.mode = (attn__mode_t){1, 900};
    TC_OK(forward(&c, y1, &ec, NULL));
    TC_OK(forward(&c, y2, &ec, NULL));
    tc_bitwise("encoder: same seed, same bits", y1, y2, NX);
    c.mode.seed = 901;
    TC_OK(forward(&c, y2, &ec, NULL));
    TC_CHECK(memcmp(y1, y2, sizeof y1) != 0, "encoder: another seed, another output");
    c.mode = (attn__mode_t){0, 900};
    TC_OK(forward(&c, y_eval, &ec, NULL));
    TC_CHECK(memcmp(y1, y_eval, sizeof y1) != 0, "training differs from eval");
    /* eval with p = 0.25 computes what p = 0 computes in training */
    c.enc.dropout1.p = c.enc.dropout2.p = c.enc.ff.dropout.p = 0.0f;
    c.mode = (attn__mode_t){1, 900};
    TC_OK(forward(&c, y_p0, &ec, NULL));
    tc_bitwise("eval = training with p = 0", y_eval, y_p0, NX);
    TC_CHECK(attn__encoder_layer_forward(&c.enc, &c.ps, c.mode, B, T, c.x, NULL,
                                         ATTN_CAUSAL_NONE, c.x, &ec, &c.arena) ==
             ATTN_STATUS_BAD_ARGUMENT, "y = x is refused (the backward reads x)");
    attn__arena_free(&c.arena);
    attn__params_free(&c.ps);

    /* errors */
    attn__params_t ps;
    attn__params_init(&ps);
    attn__encoder_layer_t l;
    attn__transformer_config_t bad = config(ATTN__ACT_RELU, 0.1f);
    bad.nhead = 3;
    TC_CHECK(attn__encoder_layer_init(&l, &ps, "x", bad) == ATTN_STATUS_BAD_SHAPE,
             "d_model not a multiple of nhead");
    bad = config(ATTN__ACT_RELU, 1.5f);
    TC_CHECK(attn__encoder_layer_init(&l, &ps, "y", bad) == ATTN_STATUS_BAD_ARGUMENT,
             "dropout 1.5");
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
        torch_encoder(&f, "enc", ATTN__ACT_GELU, ATTN_CAUSAL_NONE);
        torch_encoder(&f, "encc", ATTN__ACT_RELU, ATTN_CAUSAL_TOP_LEFT);
        torch_decoder(&f, "dec", ATTN__ACT_GELU, 1);
        torch_decoder(&f, "decr", ATTN__ACT_RELU, 0);
        ref_free(&f);
    }
    gradcheck(0);
    gradcheck(1);
    decoder_steps();
    dropout_modes();
    return tc_finish("test_transformer_layers", tc_seconds() - t0);
}
