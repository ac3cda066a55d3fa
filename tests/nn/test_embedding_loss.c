/* Embedding, positions and the cross-entropy loss:
 *   - nn.Embedding (padding_idx), learned positions and F.cross_entropy (ignore_index,
 *     label_smoothing) against PyTorch references written by torch_embedding_loss.py
 *     (argv[1]). Tolerances: lookups bit for bit; gradients that sum a few rows 1e-6
 *     (absolute + relative: PyTorch may add them in another order); the loss 2e-6 relative
 *     and dlogits 1e-8 + 2e-5 relative against PyTorch in float64;
 *   - finite-difference checks of every backward: embedding and learned positions (with lens)
 *     are linear, so h = 0.5 is exact up to rounding (1e-5 relative); the loss with
 *     smoothing and ignored rows, h = 1e-2, 1e-4 absolute;
 *   - sinusoids against the paper's formula (1.2e-7); error paths; determinism over thread
 *     counts (bitwise). */
#include "nn/embedding.h"
#include "nn/loss.h"
#include "nn/position.h"
#include "refio.h"
#include "tcheck.h"

#include <stdlib.h>

static ref_file ref;

static const ref_tensor *get(const char *name) {
    const ref_tensor *t = ref_get(&ref, name);
    CHECK(t != NULL, "reference tensor %s missing", name);
    return t;
}

static double *to_double(const float *x, int64_t n) {
    double *d = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static double dot_fd(const float *a, const double *r, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * r[i];
    return s;
}

/* ---- embedding ----------------------------------------------------------------------------- */

static void test_embedding_torch(void) {
    tc_begin("embedding vs nn.Embedding");
    const ref_tensor *W = get("emb.weight"), *I = get("emb.ids"), *P = get("emb.pad"),
                     *D = get("emb.dout"), *O = get("emb.out"), *G = get("emb.grad");
    if (!W || !I || !P || !D || !O || !G) return;
    const int64_t V = W->shape[0], C = W->shape[1], N = I->numel;
    attn__params_t ps;
    attn__params_init(&ps);
    attn__embedding_t e;
    CHECK_OK(attn__embedding_init(&e, &ps, "embed_tokens", V, C, (int64_t)P->data[0]));
    CHECK_OK(attn__params_alloc(&ps));
    memcpy(attn__pw(&ps, e.weight), W->data, sizeof(float) * (size_t)(V * C));
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)N);
    for (int64_t i = 0; i < N; i++) ids[i] = (int32_t)I->data[i];
    float *out = malloc(sizeof(float) * (size_t)(N * C));
    CHECK_OK(attn__embedding_forward(&e, &ps, ids, N, out));
    CHECK(memcmp(out, O->data, sizeof(float) * (size_t)(N * C)) == 0, "forward is a copy");
    CHECK_OK(attn__embedding_backward(&e, &ps, ids, N, D->data));
    double *g = to_double(G->data, V * C);
    /* sums of at most 4 rows: PyTorch may add them in another order */
    CHECK_CLOSE("grad vs PyTorch", attn__pg(&ps, e.weight), g, V * C, 1e-6, 1e-6);
    const float *gpad = attn__pg(&ps, e.weight) + e.padding_idx * C;
    for (int64_t c = 0; c < C; c++) CHECK(gpad[c] == 0.0f, "padding row gradient %g", gpad[c]);
    CHECK(attn__params_find(&ps, "embed_tokens.weight") == e.weight, "parameter name");
    free(g);
    free(out);
    free(ids);
    attn__params_free(&ps);
}

static void test_embedding_fd(void) {
    tc_begin("embedding finite differences");
    const int64_t V = 6, C = 3, N = 10, pad = 2;
    const int32_t ids[10] = {1, 2, 5, 1, 0, 2, 1, 4, 5, 1};
    attn__params_t ps;
    attn__params_init(&ps);
    attn__embedding_t e;
    CHECK_OK(attn__embedding_init(&e, &ps, "emb", V, C, pad));
    CHECK_OK(attn__params_alloc(&ps));
    attn__rng_t rng;
    attn__rng_seed(&rng, 7);
    CHECK_OK(attn__embedding_reset(&e, &ps, &rng));
    float *w = attn__pw(&ps, e.weight);
    for (int64_t c = 0; c < C; c++) CHECK(w[pad * C + c] == 0.0f, "reset zeroes the pad row");
    float out[30], dout[30];
    double r[30];
    for (int i = 0; i < 30; i++) {
        dout[i] = attn__rng_normal(&rng);
        r[i] = dout[i];
    }
    CHECK_OK(attn__embedding_backward(&e, &ps, ids, N, dout));
    const float *g = attn__pg(&ps, e.weight);
    /* L = sum(out * r) is linear in w: central differences with h = 0.5 are exact up to the
     * rounding of w +- h */
    for (int64_t k = 0; k < V * C; k++) {
        const float w0 = w[k];
        w[k] = w0 + 0.5f;
        CHECK_OK(attn__embedding_forward(&e, &ps, ids, N, out));
        double lp = dot_fd(out, r, N * C);
        w[k] = w0 - 0.5f;
        CHECK_OK(attn__embedding_forward(&e, &ps, ids, N, out));
        double lm = dot_fd(out, r, N * C);
        w[k] = w0;
        double fd = (lp - lm) / 1.0;
        if (k / C == pad) fd = 0.0; /* padding_idx: no gradient by definition */
        CHECK(fabs(g[k] - fd) <= 1e-5 * (1.0 + fabs(fd)), "dW[%lld]: %.8g vs fd %.8g",
              (long long)k, (double)g[k], fd);
    }
    /* backward accumulates (the second call adds on top), and is deterministic */
    float first[18];
    memcpy(first, g, sizeof first);
    CHECK_OK(attn__embedding_backward(&e, &ps, ids, N, dout));
    double acc = 0.0;
    for (int k = 0; k < 18; k++) acc = fmax(acc, fabs(g[k] - 2.0 * first[k]));
    CHECK(acc <= 1e-6, "a second backward adds the gradient again (off by %g)", acc);
    attn__params_zero_grad(&ps);
    CHECK_OK(attn__embedding_backward(&e, &ps, ids, N, dout));
    CHECK(memcmp(first, g, sizeof first) == 0, "the same call gives the same bits");
    attn__params_free(&ps);
}

static void test_embedding_errors(void) {
    tc_begin("embedding errors");
    attn__params_t ps;
    attn__params_init(&ps);
    attn__embedding_t e, bad;
    CHECK_FAILS(attn__embedding_init(&bad, &ps, "x", 5, 4, 5), ATTN_STATUS_BAD_ARGUMENT,
                "padding_idx 5");
    CHECK_FAILS(attn__embedding_init(&bad, &ps, "x", 0, 4, -1), ATTN_STATUS_BAD_SHAPE, "0 rows");
    CHECK_OK(attn__embedding_init(&e, &ps, "emb", 11, 4, -1));
    CHECK_OK(attn__params_alloc(&ps));
    const int32_t ids[4] = {0, 10, 11, 3};
    float out[16], dout[16] = {0};
    for (int i = 0; i < 16; i++) out[i] = -7.0f;
    CHECK_FAILS(attn__embedding_forward(&e, &ps, ids, 4, out), ATTN_STATUS_BAD_ARGUMENT,
                "id 11 at position 2 is outside the vocabulary of 11 rows");
    CHECK(out[0] == -7.0f && out[4] == -7.0f, "nothing written before the error");
    const int32_t neg[2] = {1, -1};
    CHECK_FAILS(attn__embedding_backward(&e, &ps, neg, 2, dout), ATTN_STATUS_BAD_ARGUMENT,
                "id -1 at position 1");
    CHECK_FAILS(attn__embedding_forward(&e, &ps, ids, 2, NULL), ATTN_STATUS_NULL_POINTER,
                "required");
    attn__params_free(&ps);
}

/* ---- positions ----------------------------------------------------------------------------- */

static void test_sinusoid(void) {
    tc_begin("sinusoidal positions");
    enum { T = 40, C = 7, B = 2 };
    const int64_t pos0 = 990;
    float table[T * C], x[B * T * C], x0[B * T * C];
    CHECK_OK(attn__sinusoid_table(table, T, C, pos0));
    double worst = 0.0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t c = 0; c < C; c++) {
            const int64_t i2 = c / 2 * 2; /* 2i */
            const double angle = (double)(pos0 + t) / pow(10000.0, (double)i2 / (double)C);
            const double want = c % 2 == 0 ? sin(angle) : cos(angle);
            const double d = fabs(table[t * C + c] - want);
            if (d > worst) worst = d;
        }
    /* the float rounding of the value (<= 6e-8) plus angle error (pos * 1e-16) */
    CHECK(worst <= 1.2e-7, "table vs sin(pos / 10000^(2i/C)): max error %g", worst);
    float t0[C];
    CHECK_OK(attn__sinusoid_table(t0, 1, C, 0));
    for (int64_t c = 0; c < C; c++)
        CHECK(t0[c] == (c % 2 == 0 ? 0.0f : 1.0f), "PE[0, %lld] = %g", (long long)c, t0[c]);
    CHECK_OK(attn__sinusoid_table(t0, 1, C, 1));
    CHECK(t0[0] == (float)sin(1.0) && t0[1] == (float)cos(1.0), "PE[1, 0:2] = sin 1, cos 1");
    attn__rng_t rng;
    attn__rng_seed(&rng, 3);
    for (int i = 0; i < B * T * C; i++) x[i] = x0[i] = attn__rng_normal(&rng);
    CHECK_OK(attn__sinusoid_add(x, B, T, C, pos0));
    int same = 1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < T * C; k++)
            same &= x[b * T * C + k] == x0[b * T * C + k] + table[k];
    CHECK(same, "add is x + table, for every sequence of the batch");
    CHECK_FAILS(attn__sinusoid_add(x, B, T, C, -1), ATTN_STATUS_BAD_SHAPE, "pos0=-1");
}

static void test_learned_pos(void) {
    tc_begin("learned positions");
    enum { B = 3, T = 5, C = 4, TMAX = 9 };
    const int64_t pos0 = 2, lens[B] = {5, 3, 0};
    attn__params_t ps;
    attn__params_init(&ps);
    attn__learned_pos_t lp;
    CHECK_OK(attn__learned_pos_init(&lp, &ps, "embed_positions", TMAX, C));
    CHECK_OK(attn__params_alloc(&ps));
    CHECK(attn__params_find(&ps, "embed_positions.weight") == lp.table.weight, "name");
    attn__rng_t rng;
    attn__rng_seed(&rng, 5);
    CHECK_OK(attn__learned_pos_reset(&lp, &ps, &rng));
    float x[B * T * C], y[B * T * C], dy[B * T * C];
    double r[B * T * C];
    for (int i = 0; i < B * T * C; i++) {
        x[i] = attn__rng_normal(&rng);
        dy[i] = attn__rng_normal(&rng);
    }
    /* L = sum over real rows (t < lens[b]) of y * dy; padded rows of dy hold garbage that the
     * backward must skip */
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < C; c++)
                r[(b * T + t) * C + c] = t < lens[b] ? dy[(b * T + t) * C + c] : 0.0;
    CHECK_OK(attn__learned_pos_backward(&lp, &ps, dy, B, T, pos0, lens));
    float *w = attn__pw(&ps, lp.table.weight);
    const float *g = attn__pg(&ps, lp.table.weight);
    double worst = 0.0;
    for (int64_t k = 0; k < TMAX * C; k++) {
        const float w0 = w[k];
        w[k] = w0 + 0.5f;
        memcpy(y, x, sizeof y);
        CHECK_OK(attn__learned_pos_forward(&lp, &ps, y, B, T, pos0));
        double lp_ = dot_fd(y, r, B * T * C);
        w[k] = w0 - 0.5f;
        memcpy(y, x, sizeof y);
        CHECK_OK(attn__learned_pos_forward(&lp, &ps, y, B, T, pos0));
        double lm = dot_fd(y, r, B * T * C);
        w[k] = w0;
        const double fd = lp_ - lm, d = fabs(g[k] - fd) / (1.0 + fabs(fd));
        if (d > worst) worst = d;
    }
    CHECK(worst <= 1e-5, "dW vs finite differences: worst relative error %g", worst);
    for (int64_t k = 0; k < pos0 * C; k++) CHECK(g[k] == 0.0f, "rows before pos0 untouched");
    memcpy(y, x, sizeof y);
    CHECK_FAILS(attn__learned_pos_forward(&lp, &ps, y, B, T, 5), ATTN_STATUS_BAD_ARGUMENT,
                "position 9 is beyond the table of 9 learned positions");
    CHECK(memcmp(y, x, sizeof y) == 0, "nothing added before the error");
    CHECK_OK(attn__learned_pos_forward(&lp, &ps, y, B, T, 4)); /* positions 4..8 fit */
    CHECK_FAILS(attn__learned_pos_backward(&lp, &ps, dy, B, T, 7, NULL),
                ATTN_STATUS_BAD_ARGUMENT, "beyond the table");
    const int64_t badlens[B] = {5, 6, 0};
    CHECK_FAILS(attn__learned_pos_backward(&lp, &ps, dy, B, T, 0, badlens),
                ATTN_STATUS_BAD_ARGUMENT, "lens[1] = 6");
    attn__params_free(&ps);
}

static void test_learned_pos_torch(void) {
    tc_begin("learned positions vs nn.Embedding over positions");
    const ref_tensor *W = get("pos.weight"), *X = get("pos.x"), *DY = get("pos.dy"),
                     *Y = get("pos.y"), *L = get("pos.lens"), *P0 = get("pos.pos0"),
                     *G = get("pos.grad");
    if (!W || !X || !DY || !Y || !L || !P0 || !G) return;
    const int64_t tmax = W->shape[0], C = W->shape[1], B = X->shape[0], T = X->shape[1];
    const int64_t pos0 = (int64_t)P0->data[0];
    int64_t lens[8];
    for (int64_t b = 0; b < B && b < 8; b++) lens[b] = (int64_t)L->data[b];
    attn__params_t ps;
    attn__params_init(&ps);
    attn__learned_pos_t lp;
    CHECK_OK(attn__learned_pos_init(&lp, &ps, "pos", tmax, C));
    CHECK_OK(attn__params_alloc(&ps));
    memcpy(attn__pw(&ps, lp.table.weight), W->data, sizeof(float) * (size_t)(tmax * C));
    float *y = malloc(sizeof(float) * (size_t)(B * T * C));
    memcpy(y, X->data, sizeof(float) * (size_t)(B * T * C));
    CHECK_OK(attn__learned_pos_forward(&lp, &ps, y, B, T, pos0));
    CHECK(memcmp(y, Y->data, sizeof(float) * (size_t)(B * T * C)) == 0,
          "forward: x + weight[pos0 + t] bit for bit");
    CHECK_OK(attn__learned_pos_backward(&lp, &ps, DY->data, B, T, pos0, lens));
    double *g = to_double(G->data, tmax * C);
    /* sums of at most 3 rows, possibly in another order */
    CHECK_CLOSE("grad vs PyTorch", attn__pg(&ps, lp.table.weight), g, tmax * C, 1e-6, 1e-6);
    free(g);
    free(y);
    attn__params_free(&ps);
}

/* ---- cross-entropy ------------------------------------------------------------------------- */

static void test_xent_torch(void) {
    const ref_tensor *K = get("xe.count");
    if (!K) return;
    for (int k = 0; k < (int)K->data[0]; k++) {
        char name[64], label[64];
        snprintf(label, sizeof label, "cross_entropy vs PyTorch, case %d", k);
        tc_begin(label);
#define REF(var, suffix)                                                                      \
        snprintf(name, sizeof name, "xe%d." suffix, k);                                       \
        const ref_tensor *var = get(name);                                                    \
        if (!var) return;
        REF(L, "logits") REF(Tg, "targets") REF(M, "meta") REF(Lo, "loss") REF(Co, "correct")
        REF(G, "grad")
#undef REF
        const int64_t N = L->shape[0], V = L->shape[1];
        attn__xent_opts_t o = attn__xent_default_opts();
        o.ignore_index = (int32_t)M->data[0];
        o.label_smoothing = M->data[1];
        int32_t *t = malloc(sizeof(int32_t) * (size_t)N);
        for (int64_t i = 0; i < N; i++) t[i] = (int32_t)Tg->data[i];
        float *lse = malloc(sizeof(float) * (size_t)N);
        float *dl = calloc((size_t)(N * V), sizeof(float));
        attn__xent_t res;
        CHECK_OK(attn__xent_forward(L->data, t, N, V, o, lse, &res));
        /* float exponentials, double sums: a few float ulps of the loss */
        CHECK(fabs(res.loss - Lo->data[0]) <= 2e-6 * (1.0 + fabs(Lo->data[0])),
              "loss %.9g vs PyTorch %.9g", res.loss, (double)Lo->data[0]);
        CHECK(res.count == (int64_t)M->data[2], "count %lld vs %g", (long long)res.count,
              (double)M->data[2]);
        CHECK(fabs(res.sum - res.loss * (double)res.count) <= 1e-9 * fabs(res.sum),
              "sum = loss * count");
        CHECK(res.correct == (int64_t)Co->data[0], "correct %lld vs %g",
              (long long)res.correct, (double)Co->data[0]);
        CHECK_OK(attn__xent_backward(L->data, t, N, V, o, lse, &res, 1.0f, dl));
        double *g = to_double(G->data, N * V);
        CHECK_CLOSE("dlogits vs PyTorch", dl, g, N * V, 1e-8, 2e-5);
        for (int64_t i = 0; i < N; i++)
            if (t[i] == o.ignore_index)
                for (int64_t j = 0; j < V; j++)
                    CHECK(dl[i * V + j] == 0.0f, "ignored row %lld has gradient", (long long)i);
        free(g);
        free(dl);
        free(lse);
        free(t);
    }
}

static double xent_loss(const float *x, const int32_t *t, int64_t N, int64_t V,
                        attn__xent_opts_t o) {
    float lse[16];
    attn__xent_t res;
    CHECK_OK(attn__xent_forward(x, t, N, V, o, lse, &res));
    return res.loss;
}

static void test_xent_fd(void) {
    tc_begin("cross_entropy finite differences (smoothing 0.15, ignored rows)");
    enum { N = 6, V = 5 };
    const int32_t t[N] = {4, -100, 0, 2, -100, 2};
    attn__xent_opts_t o = attn__xent_default_opts();
    o.label_smoothing = 0.15f;
    attn__rng_t rng;
    attn__rng_seed(&rng, 21);
    float x[N * V], dl[N * V], lse[N];
    for (int i = 0; i < N * V; i++) {
        x[i] = 1.5f * attn__rng_normal(&rng);
        dl[i] = 0.25f; /* the backward adds to what is there */
    }
    attn__xent_t res;
    CHECK_OK(attn__xent_forward(x, t, N, V, o, lse, &res));
    CHECK(res.count == 4, "count %lld", (long long)res.count);
    CHECK_OK(attn__xent_backward(x, t, N, V, o, lse, &res, 1.0f, dl));
    double worst = 0.0;
    for (int k = 0; k < N * V; k++) {
        const float x0 = x[k], xp = x0 + 1e-2f, xm = x0 - 1e-2f;
        x[k] = xp;
        const double lp = xent_loss(x, t, N, V, o);
        x[k] = xm;
        const double lm = xent_loss(x, t, N, V, o);
        x[k] = x0;
        const double fd = (lp - lm) / ((double)xp - (double)xm);
        const double d = fabs((dl[k] - 0.25) - fd);
        if (d > worst) worst = d;
    }
    /* truncation h^2 / 6 * f''' (f''' <= 1 / N) plus float rounding of the loss / h: < 3e-5 */
    CHECK(worst <= 1e-4, "dlogits vs finite differences: max abs error %g", worst);
    for (int j = 0; j < V; j++)
        CHECK(dl[1 * V + j] == 0.25f && dl[4 * V + j] == 0.25f, "ignored rows untouched");
    /* dloss scales the gradient */
    float d2[N * V] = {0}, d1[N * V] = {0};
    CHECK_OK(attn__xent_backward(x, t, N, V, o, lse, &res, 1.0f, d1));
    CHECK_OK(attn__xent_backward(x, t, N, V, o, lse, &res, 2.0f, d2));
    int scaled = 1;
    for (int k = 0; k < N * V; k++) scaled &= d2[k] == 2.0f * d1[k];
    CHECK(scaled, "dloss = 2 doubles the gradient exactly");
}

static void test_xent_edges(void) {
    tc_begin("cross_entropy errors and edges");
    enum { N = 3, V = 4 };
    float x[N * V] = {1, 2, 3, 4, 0, 0, 0, 0, -1, 5, 2, 5}, lse[N], dl[N * V] = {0};
    attn__xent_opts_t o = attn__xent_default_opts();
    attn__xent_t res;
    const int32_t bad[N] = {0, 4, 1};
    CHECK_FAILS(attn__xent_forward(x, bad, N, V, o, lse, &res), ATTN_STATUS_BAD_ARGUMENT,
                "target 4 of row 1 is outside the 4 classes");
    o.label_smoothing = 1.5f;
    const int32_t good[N] = {3, 0, 3};
    CHECK_FAILS(attn__xent_forward(x, good, N, V, o, lse, &res), ATTN_STATUS_BAD_ARGUMENT,
                "label_smoothing");
    o = attn__xent_default_opts();
    CHECK_OK(attn__xent_forward(x, good, N, V, o, lse, &res));
    /* row 1 is all ties (argmax 0 = its target); row 2 ties classes 1 and 3: argmax is the
     * first, so target 3 is not correct */
    CHECK(res.correct == 2, "correct %lld (ties go to the first maximum)", (long long)res.correct);
    CHECK(fabs(res.sum - (log(4.0) + (lse[0] - 4.0) + (lse[2] - 5.0))) < 1e-6, "sum");
    const int32_t none[N] = {-100, -100, -100};
    CHECK_OK(attn__xent_forward(x, none, N, V, o, lse, &res));
    CHECK(res.count == 0 && res.loss == 0.0 && res.sum == 0.0 && res.correct == 0,
          "all rows ignored: loss 0, count 0");
    CHECK_OK(attn__xent_backward(x, none, N, V, o, lse, &res, 1.0f, dl));
    int zero = 1;
    for (int k = 0; k < N * V; k++) zero &= dl[k] == 0.0f;
    CHECK(zero, "all rows ignored: no gradient");
}

static void test_xent_threads(void) {
    tc_begin("cross_entropy determinism over thread counts");
    enum { N = 301, V = 97 };
    float *x = malloc(sizeof(float) * N * V), lse[N];
    float *d1 = calloc(N * V, sizeof(float)), *d4 = calloc(N * V, sizeof(float));
    int32_t t[N];
    attn__rng_t rng;
    attn__rng_seed(&rng, 99);
    for (int i = 0; i < N * V; i++) x[i] = 3.0f * attn__rng_normal(&rng);
    for (int i = 0; i < N; i++) t[i] = i % 13 == 0 ? -100 : (int32_t)attn__rng_below(&rng, V);
    attn__xent_opts_t o = attn__xent_default_opts();
    o.label_smoothing = 0.1f;
    attn__xent_t r1, r4;
    attn_set_num_threads(1);
    CHECK_OK(attn__xent_forward(x, t, N, V, o, lse, &r1));
    CHECK_OK(attn__xent_backward(x, t, N, V, o, lse, &r1, 1.0f, d1));
    attn_set_num_threads(4);
    CHECK_OK(attn__xent_forward(x, t, N, V, o, lse, &r4));
    CHECK_OK(attn__xent_backward(x, t, N, V, o, lse, &r4, 1.0f, d4));
    attn_set_num_threads(0);
    CHECK(memcmp(&r1.sum, &r4.sum, sizeof r1.sum) == 0 && r1.correct == r4.correct,
          "sum %.17g vs %.17g", r1.sum, r4.sum);
    CHECK(memcmp(d1, d4, sizeof(float) * N * V) == 0, "dlogits bitwise equal");
    free(x);
    free(d1);
    free(d4);
}

int main(int argc, char **argv) {
    tc_start();
    if (argc < 2 || ref_load(&ref, argv[1]) != 0) {
        fprintf(stderr, "usage: test_embedding_loss <reference file from "
                        "torch_embedding_loss.py>\n");
        return 1;
    }
    test_embedding_torch();
    test_embedding_fd();
    test_embedding_errors();
    test_sinusoid();
    test_learned_pos();
    test_learned_pos_torch();
    test_xent_torch();
    test_xent_fd();
    test_xent_edges();
    test_xent_threads();
    ref_free(&ref);
    return tc_finish("test_embedding_loss");
}
