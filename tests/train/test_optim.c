/* AdamW and gradient clipping against PyTorch (references from torch_optim.py, argv[1]):
 *   - torch.optim.AdamW (foreach=False) over 6 steps with given gradients and a changing lr:
 *     no decay; decay 0.1 with a no-decay group (1-d tensors, ".bias"); decay on everything.
 *     Parameters after every step, exp_avg / exp_avg_sq and step after the last, within
 *     ULP_TOL float ulps (the update follows PyTorch's CPU order of operations, fused
 *     multiply-adds included, so most elements agree bit for bit; the count is printed);
 *   - checkpoint: saving m, v, step and the weights after 2 steps and restoring them into a
 *     new optimiser continues bit for bit; the same steps give the same bits for 1 and 4
 *     threads;
 *   - torch.nn.utils.clip_grad_norm_: the norm (relative 1e-6: PyTorch sums in float) and
 *     the clipped gradients (relative 2e-6); no clipping below max_norm; non-finite norms. */
#include "refio.h"
#include "tcheck.h"
#include "train/adamw.h"
#include "train/clip.h"

#include <stdlib.h>

enum { NPARAM = 5, NSTEP = 6, ULP_TOL = 4 };
static const char *const NAMES[NPARAM] = {"enc.weight", "enc.bias", "norm.weight",
                                          "emb.weight", "big.weight"};
static const int64_t SHAPES[NPARAM][2] = {{4, 6}, {6, 1}, {6, 1}, {5, 3}, {100, 90}};
static const int32_t NDIMS[NPARAM] = {2, 1, 1, 2, 2};
/* the same literals as torch_optim.py (the reference file holds them only as float) */
static const double LRS[NSTEP] = {1e-3, 2e-3, 5e-3, 3e-3, 1e-3, 4e-4};
static const double OPTS[3][4] = {{0.9, 0.999, 1e-8, 0.0}, {0.9, 0.98, 1e-6, 0.1},
                                  {0.8, 0.95, 1e-8, 0.05}};
static const char *const TAGS[3] = {"A", "B", "C"};

static ref_file ref;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static const ref_tensor *rt(const char *fmt, ...) {
    char name[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const ref_tensor *t = ref_get(&ref, name);
    CHECK(t != NULL, "reference tensor %s missing", name);
    return t;
}

static int64_t ulps(float a, float b) {
    if (isnan(a) || isnan(b)) return INT64_MAX;
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    int64_t la = ia < 0 ? (int64_t)INT32_MIN - ia : ia, lb = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
    return la > lb ? la - lb : lb - la;
}

static int64_t n_equal, n_total;

/* every element of x within ULP_TOL ulps of the reference tensor */
static void check_ulps(const char *what, const float *x, const ref_tensor *r, int64_t n) {
    if (!r) return;
    int64_t worst = 0, at = 0;
    CHECK(r->numel == n, "%s: %lld elements in the reference, %lld here", what,
          (long long)r->numel, (long long)n);
    for (int64_t i = 0; i < n && i < r->numel; i++) {
        int64_t u = ulps(x[i], r->data[i]);
        n_equal += u == 0;
        n_total++;
        if (u > worst) { worst = u; at = i; }
    }
    CHECK(worst <= ULP_TOL, "%s: element %lld is %.9g, PyTorch %.9g (%lld ulps)", what,
          (long long)at, (double)x[at], (double)r->data[at], (long long)worst);
}

static void make_store(attn__params_t *ps) {
    attn__params_init(ps);
    for (int i = 0; i < NPARAM; i++)
        CHECK(attn__params_add(ps, NAMES[i], NDIMS[i], SHAPES[i]) == i, "add %s", NAMES[i]);
    CHECK_OK(attn__params_alloc(ps));
}

/* loads the tensors "<tag>.<what>.<name>" into base (ps->w or ps->g) */
static void load(attn__params_t *ps, float *base, const char *tag, const char *what) {
    for (int i = 0; i < NPARAM; i++) {
        const ref_tensor *t = rt("%s.%s.%s", tag, what, NAMES[i]);
        if (t && t->numel == ps->list[i].numel)
            memcpy(base + ps->list[i].offset, t->data, sizeof(float) * (size_t)t->numel);
    }
}

/* every tensor of base within ULP_TOL of "<tag>.<what>.<name>" */
static void check_store(const attn__params_t *ps, const float *base, const char *tag,
                        const char *what) {
    for (int i = 0; i < NPARAM; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s.%s.%s", tag, what, NAMES[i]);
        check_ulps(msg, base + ps->list[i].offset, rt("%s", msg), ps->list[i].numel);
    }
}

static attn__adamw_opts_t opts_of(int c) {
    attn__adamw_opts_t o = attn__adamw_default_opts();
    o.beta1 = OPTS[c][0];
    o.beta2 = OPTS[c][1];
    o.eps = OPTS[c][2];
    o.weight_decay = OPTS[c][3];
    return o;
}

/* the optimiser of case c over a fresh store holding the case's initial parameters */
static void setup(int c, attn__params_t *ps, attn__adamw_t *opt) {
    make_store(ps);
    CHECK_OK(attn__adamw_init(opt, ps, opts_of(c)));
    if (c == 1) { /* case B has a no-decay group */
        int32_t excluded = -1;
        CHECK_OK(attn__adamw_exclude_decay(opt, ps, attn__adamw_no_decay_default, NULL,
                                           &excluded));
        CHECK(excluded == 2 && !opt->decay[1] && !opt->decay[2] && opt->decay[0] &&
              opt->decay[3] && opt->decay[4], "enc.bias and norm.weight excluded (%d)",
              (int)excluded);
    }
    load(ps, ps->w, TAGS[c], "p0");
}

static void test_adamw_torch(int c) {
    char label[64];
    snprintf(label, sizeof label, "AdamW vs torch.optim.AdamW, case %s", TAGS[c]);
    tc_begin(label);
    const ref_tensor *o = rt("%s.opts", TAGS[c]), *lrs = rt("lrs");
    if (!o || !lrs) return;
    for (int k = 0; k < 4; k++)
        CHECK(o->data[k] == (float)OPTS[c][k], "option %d of case %s differs from the script",
              k, TAGS[c]);
    for (int k = 0; k < NSTEP; k++) CHECK(lrs->data[k] == (float)LRS[k], "lr %d", k);
    attn__params_t ps;
    attn__adamw_t opt;
    setup(c, &ps, &opt);
    for (int k = 0; k < NSTEP; k++) {
        char what[8];
        snprintf(what, sizeof what, "g%d", k);
        load(&ps, ps.g, TAGS[c], what);
        CHECK_OK(attn__adamw_step(&opt, &ps, LRS[k]));
        snprintf(what, sizeof what, "p%d", k + 1);
        check_store(&ps, ps.w, TAGS[c], what);
    }
    check_store(&ps, opt.m, TAGS[c], "m");
    check_store(&ps, opt.v, TAGS[c], "v");
    for (int i = 0; i < NPARAM; i++) {
        const ref_tensor *st = rt("%s.step.%s", TAGS[c], NAMES[i]);
        CHECK(st && st->data[0] == (float)opt.step, "step %lld", (long long)opt.step);
    }
    CHECK(opt.step == NSTEP, "step counter %lld", (long long)opt.step);
    attn__adamw_free(&opt);
    attn__params_free(&ps);
}

/* runs steps [k0, k1) of case c */
static void run_steps(int c, attn__params_t *ps, attn__adamw_t *opt, int k0, int k1) {
    for (int k = k0; k < k1; k++) {
        char what[8];
        snprintf(what, sizeof what, "g%d", k);
        load(ps, ps->g, TAGS[c], what);
        CHECK_OK(attn__adamw_step(opt, ps, LRS[k]));
    }
}

static void test_adamw_resume(void) {
    tc_begin("AdamW checkpoint and threads");
    const int c = 1;
    attn__params_t ps, ps2;
    attn__adamw_t opt, opt2;
    setup(c, &ps, &opt);
    run_steps(c, &ps, &opt, 0, 2);
    /* the checkpoint: weights, m, v, step */
    const size_t bytes = sizeof(float) * (size_t)ps.total;
    float *w = malloc(bytes), *m = malloc(bytes), *v = malloc(bytes);
    memcpy(w, ps.w, bytes);
    memcpy(m, opt.m, bytes);
    memcpy(v, opt.v, bytes);
    const int64_t step = opt.step;
    attn_set_num_threads(1);
    run_steps(c, &ps, &opt, 2, NSTEP);
    /* a new optimiser, restored, on 4 threads */
    setup(c, &ps2, &opt2);
    memcpy(ps2.w, w, bytes);
    memcpy(opt2.m, m, bytes);
    memcpy(opt2.v, v, bytes);
    opt2.step = step;
    attn_set_num_threads(4);
    run_steps(c, &ps2, &opt2, 2, NSTEP);
    attn_set_num_threads(0);
    CHECK(memcmp(ps.w, ps2.w, bytes) == 0, "restored run: parameters bitwise equal");
    CHECK(memcmp(opt.m, opt2.m, bytes) == 0 && memcmp(opt.v, opt2.v, bytes) == 0,
          "restored run: m and v bitwise equal");
    CHECK(opt.step == opt2.step && opt.step == NSTEP, "steps %lld %lld", (long long)opt.step,
          (long long)opt2.step);
    /* errors */
    CHECK_FAILS(attn__adamw_step(&opt, &ps, -1e-3), ATTN_STATUS_BAD_ARGUMENT, "learning rate");
    CHECK_FAILS(attn__adamw_step(&opt, &ps, NAN), ATTN_STATUS_BAD_ARGUMENT, "learning rate");
    attn__params_t other;
    attn__params_init(&other);
    const int64_t s1[1] = {3};
    attn__params_add(&other, "x", 1, s1);
    CHECK_OK(attn__params_alloc(&other));
    CHECK_FAILS(attn__adamw_step(&opt, &other, 1e-3), ATTN_STATUS_BAD_ARGUMENT,
                "not the one the optimiser was made for");
    attn__adamw_t bad;
    attn__adamw_opts_t bo = attn__adamw_default_opts();
    bo.beta2 = 1.0;
    CHECK_FAILS(attn__adamw_init(&bad, &other, bo), ATTN_STATUS_BAD_ARGUMENT, "betas");
    attn__params_free(&other);
    free(w);
    free(m);
    free(v);
    attn__adamw_free(&opt);
    attn__adamw_free(&opt2);
    attn__params_free(&ps);
    attn__params_free(&ps2);
}

static void test_clip_torch(const char *tag, int clips) {
    char label[64];
    snprintf(label, sizeof label, "clip_grad_norm_ vs PyTorch, %s", tag);
    tc_begin(label);
    const ref_tensor *meta = rt("%s.meta", tag);
    if (!meta) return;
    attn__params_t ps;
    make_store(&ps);
    load(&ps, ps.g, tag, "g");
    float *before = malloc(sizeof(float) * (size_t)ps.total);
    memcpy(before, ps.g, sizeof(float) * (size_t)ps.total);
    double norm = -1.0, norm2 = -1.0;
    CHECK_OK(attn__grad_norm(&ps, &norm2));
    CHECK_OK(attn__clip_grad_norm(&ps, meta->data[0], &norm));
    CHECK(norm == norm2, "attn__grad_norm agrees with the clipping's norm");
    CHECK(fabs(norm - meta->data[1]) <= 1e-6 * meta->data[1], "norm %.9g vs PyTorch %.9g", norm,
          (double)meta->data[1]);
    for (int i = 0; i < NPARAM; i++) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s.clipped.%s", tag, NAMES[i]);
        const ref_tensor *r = rt("%s", msg);
        if (!r) continue;
        double *d = malloc(sizeof(double) * (size_t)r->numel);
        for (int64_t k = 0; k < r->numel; k++) d[k] = r->data[k];
        CHECK_CLOSE(msg, attn__pg(&ps, i), d, r->numel, 1e-12, 2e-6);
        free(d);
    }
    if (!clips)
        CHECK(memcmp(before, ps.g, sizeof(float) * (size_t)ps.total) == 0,
              "below max_norm the gradients are untouched");
    else
        CHECK(norm > meta->data[0], "this case must clip");
    free(before);
    attn__params_free(&ps);
}

static void test_clip_edges(void) {
    tc_begin("clipping edges");
    attn__params_t ps;
    make_store(&ps);
    float *g = attn__pg(&ps, 0);
    g[0] = 3.0f;
    g[1] = 4.0f;
    double norm = 0.0;
    CHECK_OK(attn__clip_grad_norm(&ps, 1.0, &norm));
    CHECK(norm == 5.0, "norm of (3, 4) is %g", norm);
    CHECK(g[0] == (float)(3.0 * (1.0 / (5.0 + 1e-6))), "scaled by max_norm / (norm + 1e-6)");
    attn__pg(&ps, 3)[2] = INFINITY;
    const float keep = g[0];
    CHECK_OK(attn__clip_grad_norm(&ps, 1.0, &norm));
    CHECK(isinf(norm) && g[0] == keep, "an infinite gradient: norm inf, nothing scaled");
    CHECK_FAILS(attn__clip_grad_norm(&ps, 0.0, &norm), ATTN_STATUS_BAD_ARGUMENT, "max_norm");
    attn__params_free(&ps);
}

int main(int argc, char **argv) {
    tc_start();
    if (argc < 2 || ref_load(&ref, argv[1]) != 0) {
        fprintf(stderr, "usage: test_optim <reference file from torch_optim.py>\n");
        return 1;
    }
    for (int c = 0; c < 3; c++) test_adamw_torch(c);
    printf("AdamW: %lld of %lld values bitwise equal to PyTorch's\n", (long long)n_equal,
           (long long)n_total);
    test_adamw_resume();
    test_clip_torch("clip", 1);
    test_clip_torch("noclip", 0);
    test_clip_edges();
    ref_free(&ref);
    return tc_finish("test_optim");
}
