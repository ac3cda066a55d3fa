/* GRU, LSTM and the RNN attentions against PyTorch (tests/nn/torch_rnn.py, float64, with the
 * same float32 weights and inputs, loaded here by parameter name):
 *   - nn.GRU / nn.LSTM (batch_first=True; uni- and bidirectional; 1 and 2 layers) over
 *     pack_padded_sequence(enforce_sorted=False) with unequal lengths including 1, with and
 *     without initial states: outputs y (padded with zeros), h_n, c_n, and the gradients of x,
 *     h0, c0 and every parameter for L = sum(y gy) + sum(h_n ghn) [+ sum(c_n gcn)];
 *   - additive, dot and general attention (autograd of the same formulas) with masked source
 *     positions: alpha, context, and the gradients of s, h and every parameter for
 *     L = sum(ctx gctx) + sum(alpha galpha).
 * Tolerance (fp32 against float64): |c - torch| <= ATOL + RTOL |torch| with
 *     outputs   RTOL 1e-5, ATOL 2e-6
 *     gradients RTOL 2e-5, ATOL 4e-6
 * (the values are O(1); fp32 rounding over these short sums and T = 5 steps is ~1e-6; the
 * gradients sum over more terms: every step's contribution to a weight). */
#include "nn/gru.h"
#include "nn/lstm.h"
#include "nn/rnn_attention.h"
#include "test_rnn_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_RTOL 1e-5
#define OUT_ATOL 2e-6
#define GRAD_RTOL 2e-5
#define GRAD_ATOL 4e-6

typedef struct {
    const char *name;
    int lstm;
    int64_t B, T, in, H;
    int32_t layers;
    int bidir, use_h0;
} rnn_case;

/* as in torch_rnn.py's RNN_CASES */
static const rnn_case rnn_cases[] = {
    {"gru_uni", 0, 3, 5, 4, 6, 1, 0, 1},    {"gru_bi", 0, 3, 5, 4, 6, 1, 1, 1},
    {"gru_stack", 0, 4, 5, 3, 4, 2, 1, 0},  {"lstm_uni", 1, 3, 5, 4, 6, 1, 0, 1},
    {"lstm_bi", 1, 3, 5, 4, 6, 1, 1, 1},    {"lstm_stack", 1, 4, 5, 3, 4, 2, 1, 0},
};

static const ref_tensor *get(const ref_file *f, const char *name, const char *what) {
    char full[64];
    snprintf(full, sizeof full, "%s.%s", name, what);
    const ref_tensor *t = ref_get(f, full);
    TR_CHECK(t != NULL, "reference tensor %s missing", full);
    return t;
}

/* the lengths, stored as floats */
static int get_lens(const ref_file *f, const char *name, int64_t B, int64_t *lens) {
    const ref_tensor *t = get(f, name, "lens");
    if (!t || t->numel != B) return -1;
    for (int64_t b = 0; b < B; b++) lens[b] = (int64_t)t->data[b];
    return 0;
}

static double cmp(const char *name, const char *what, const float *got, int64_t n,
                  const ref_file *f, const char *ref, double rtol, double atol) {
    char label[96];
    snprintf(label, sizeof label, "%s %s", name, what);
    return tr_compare(label, got, n, get(f, name, ref), rtol, atol);
}

static void run_rnn(const rnn_case *c, const ref_file *f) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__gru_t g;
    attn__lstm_t m;
    if (c->lstm)
        TR_OK(attn__lstm_init(&m, &ps, c->name, c->in, c->H, c->layers, c->bidir));
    else
        TR_OK(attn__gru_init(&g, &ps, c->name, c->in, c->H, c->layers, c->bidir));
    TR_OK(attn__params_alloc(&ps));
    int64_t D = c->bidir ? 2 : 1, S = c->layers * D * c->B * c->H;
    int64_t nx = c->B * c->T * c->in, ny = c->B * c->T * D * c->H, lens[8];
    const ref_tensor *x = get(f, c->name, "x"), *h0 = get(f, c->name, "h0"),
                     *c0 = get(f, c->name, "c0"), *gy = get(f, c->name, "gy"),
                     *ghn = get(f, c->name, "ghn"), *gcn = get(f, c->name, "gcn");
    if (tr_params_from_ref(&ps, f) != 0 || get_lens(f, c->name, c->B, lens) != 0 || !x ||
        !h0 || !c0 || !gy || !ghn || !gcn || x->numel != nx || h0->numel != S ||
        gy->numel != ny) {
        TR_CHECK(0, "%s: the reference file does not match the case table", c->name);
        attn__params_free(&ps);
        return;
    }
    float *y = tr_zeros(ny), *hn = tr_zeros(S), *cn = tr_zeros(S), *dx = tr_zeros(nx);
    float *dh0 = tr_zeros(S), *dc0 = tr_zeros(S);
    attn__arena_t arena;
    attn__arena_init(&arena, 1 << 14);
    const float *h0p = c->use_h0 ? h0->data : NULL, *c0p = c->use_h0 ? c0->data : NULL;
    if (c->lstm) {
        attn__lstm_cache_t cache;
        TR_OK(attn__lstm_forward(&m, &ps, c->B, c->T, x->data, lens, h0p, c0p, y, hn, cn,
                                 &cache, &arena));
        TR_OK(attn__lstm_backward(&m, &ps, c->B, c->T, x->data, lens, h0p, c0p, y, &cache,
                                  gy->data, ghn->data, gcn->data, dx, c->use_h0 ? dh0 : NULL,
                                  c->use_h0 ? dc0 : NULL, &arena));
    } else {
        attn__gru_cache_t cache;
        TR_OK(attn__gru_forward(&g, &ps, c->B, c->T, x->data, lens, h0p, y, hn, &cache,
                                &arena));
        TR_OK(attn__gru_backward(&g, &ps, c->B, c->T, x->data, lens, h0p, y, &cache, gy->data,
                                 ghn->data, dx, c->use_h0 ? dh0 : NULL, &arena));
    }
    double wo = 0.0, wg = 0.0;
    wo = fmax(wo, cmp(c->name, "y", y, ny, f, "y", OUT_RTOL, OUT_ATOL));
    wo = fmax(wo, cmp(c->name, "h_n", hn, S, f, "hn", OUT_RTOL, OUT_ATOL));
    if (c->lstm) wo = fmax(wo, cmp(c->name, "c_n", cn, S, f, "cn", OUT_RTOL, OUT_ATOL));
    wg = fmax(wg, cmp(c->name, "dx", dx, nx, f, "grad_x", GRAD_RTOL, GRAD_ATOL));
    if (c->use_h0) {
        wg = fmax(wg, cmp(c->name, "dh0", dh0, S, f, "grad_h0", GRAD_RTOL, GRAD_ATOL));
        if (c->lstm)
            wg = fmax(wg, cmp(c->name, "dc0", dc0, S, f, "grad_c0", GRAD_RTOL, GRAD_ATOL));
    }
    wg = fmax(wg, tr_compare_param_grads(&ps, f, GRAD_RTOL, GRAD_ATOL));
    printf("  %-12s worst error / tolerance: outputs %.3f, gradients %.3f\n", c->name, wo, wg);
    free(y); free(hn); free(cn); free(dx); free(dh0); free(dc0);
    attn__arena_free(&arena);
    attn__params_free(&ps);
}

typedef struct {
    const char *name;
    attn__rnn_score_t score;
    int64_t B, Tk, hs, hh, a;
} att_case;

/* as in torch_rnn.py's ATT_CASES */
static const att_case att_cases[] = {
    {"att_add", ATTN__RNN_SCORE_ADDITIVE, 3, 6, 5, 4, 7},
    {"att_dot", ATTN__RNN_SCORE_DOT, 3, 6, 4, 4, 0},
    {"att_gen", ATTN__RNN_SCORE_GENERAL, 3, 6, 5, 4, 0},
};

static void run_att(const att_case *c, const ref_file *f) {
    attn__params_t ps;
    attn__params_init(&ps);
    attn__rnn_attention_t at;
    TR_OK(attn__rnn_attention_init(&at, &ps, c->name, c->score, c->hs, c->hh, c->a));
    TR_OK(attn__params_alloc(&ps));
    int64_t B = c->B, Tk = c->Tk, lens[8];
    const ref_tensor *s = get(f, c->name, "s"), *h = get(f, c->name, "h"),
                     *gctx = get(f, c->name, "gctx"), *galpha = get(f, c->name, "galpha");
    if (tr_params_from_ref(&ps, f) != 0 || get_lens(f, c->name, B, lens) != 0 || !s || !h ||
        !gctx || !galpha || s->numel != B * c->hs || h->numel != B * Tk * c->hh) {
        TR_CHECK(0, "%s: the reference file does not match the case table", c->name);
        attn__params_free(&ps);
        return;
    }
    float *keys = tr_zeros(B * Tk * at.dk), *dkeys = tr_zeros(B * Tk * at.dk);
    float *alpha = tr_zeros(B * Tk), *ctx = tr_zeros(B * c->hh);
    float *cache = tr_zeros(attn__rnn_attention_cache_floats(&at, B));
    float *ds = tr_zeros(B * c->hs), *dh = tr_zeros(B * Tk * c->hh);
    TR_OK(attn__rnn_attention_keys_forward(&at, &ps, B, Tk, h->data, keys));
    TR_OK(attn__rnn_attention_forward(&at, &ps, B, Tk, s->data, h->data, keys, lens, alpha,
                                      ctx, cache));
    TR_OK(attn__rnn_attention_backward(&at, &ps, B, Tk, s->data, h->data, keys, lens, alpha,
                                       cache, gctx->data, galpha->data, ds, dh, dkeys));
    TR_OK(attn__rnn_attention_keys_backward(&at, &ps, B, Tk, h->data, lens, dkeys, dh));
    double wo = 0.0, wg = 0.0;
    wo = fmax(wo, cmp(c->name, "alpha", alpha, B * Tk, f, "alpha", OUT_RTOL, OUT_ATOL));
    wo = fmax(wo, cmp(c->name, "ctx", ctx, B * c->hh, f, "ctx", OUT_RTOL, OUT_ATOL));
    wg = fmax(wg, cmp(c->name, "ds", ds, B * c->hs, f, "grad_s", GRAD_RTOL, GRAD_ATOL));
    wg = fmax(wg, cmp(c->name, "dh", dh, B * Tk * c->hh, f, "grad_h", GRAD_RTOL, GRAD_ATOL));
    wg = fmax(wg, tr_compare_param_grads(&ps, f, GRAD_RTOL, GRAD_ATOL));
    printf("  %-12s worst error / tolerance: outputs %.3f, gradients %.3f\n", c->name, wo, wg);
    free(keys); free(dkeys); free(alpha); free(ctx); free(cache); free(ds); free(dh);
    attn__params_free(&ps);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s rnn_ref.bin (written by tests/nn/torch_rnn.py)\n", argv[0]);
        return 1;
    }
    ref_file f;
    TR_CHECK(ref_load(&f, argv[1]) == 0, "cannot load %s", argv[1]);
    if (tr_failures) return tr_finish("test_rnn_torch");
    for (size_t i = 0; i < sizeof rnn_cases / sizeof rnn_cases[0]; i++) run_rnn(&rnn_cases[i], &f);
    for (size_t i = 0; i < sizeof att_cases / sizeof att_cases[0]; i++) run_att(&att_cases[i], &f);
    ref_free(&f);
    return tr_finish("test_rnn_torch");
}
