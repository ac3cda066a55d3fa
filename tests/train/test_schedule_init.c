/* Learning-rate schedules against hand-computed values, and the initialisation helpers:
 * fans and gains against torch.nn.init (references from torch_optim.py, argv[1]), bounds,
 * sample statistics, and reproducibility from the seed. */
#include "refio.h"
#include "tcheck.h"
#include "train/init.h"
#include "train/schedule.h"

#include <stdlib.h>

static ref_file ref;

static const ref_tensor *get(const char *name) {
    const ref_tensor *t = ref_get(&ref, name);
    CHECK(t != NULL, "reference tensor %s missing", name);
    return t;
}

/* |got - want| <= 1e-12 relative: the formulas are evaluated in double */
#define CHECK_LR(s, step, want)                                                               \
    do {                                                                                      \
        double got_ = attn__schedule_lr((s), (step));                                         \
        CHECK(fabs(got_ - (want)) <= 1e-12 * fabs(want), "step %lld: lr %.17g, expected %.17g", \
              (long long)(step), got_, (double)(want));                                       \
    } while (0)

static void test_schedules(void) {
    tc_begin("schedules");
    attn__schedule_t s;
    memset(&s, 0, sizeof s);
    s.kind = ATTN__LR_CONSTANT;
    s.lr = 3e-4;
    CHECK_OK(attn__schedule_check(&s));
    CHECK_LR(&s, 1, 3e-4);
    CHECK_LR(&s, 123456, 3e-4);

    /* inverse square root, warm-up 4: lr * min(s / 4, sqrt(4 / s)) */
    s.kind = ATTN__LR_INV_SQRT;
    s.lr = 1e-3;
    s.warmup = 4;
    CHECK_OK(attn__schedule_check(&s));
    CHECK_LR(&s, 0, 2.5e-4); /* steps below 1 count as 1 */
    CHECK_LR(&s, 1, 2.5e-4);
    CHECK_LR(&s, 2, 5e-4);
    CHECK_LR(&s, 4, 1e-3);
    CHECK_LR(&s, 16, 5e-4);
    CHECK_LR(&s, 400, 1e-4);

    /* Noam, d_model 512, warm-up 4000, factor 1: 512^-0.5 * min(s^-0.5, s * 4000^-1.5) */
    s.kind = ATTN__LR_NOAM;
    s.lr = 1.0;
    s.warmup = 4000;
    s.d_model = 512.0;
    CHECK_OK(attn__schedule_check(&s));
    CHECK_LR(&s, 1, 1.7469281074217108e-07);    /* 1 / (sqrt(512) * 4000^1.5) */
    CHECK_LR(&s, 4000, 6.9877124296868431e-04); /* 1 / sqrt(512 * 4000) */
    CHECK_LR(&s, 16000, 3.4938562148434216e-04);
    s.lr = 2.0; /* the factor scales everything */
    CHECK_LR(&s, 4000, 1.3975424859373686e-03);

    /* warm-up 10 to 1e-3, cosine to 1e-4 at step 110 */
    s.kind = ATTN__LR_WARMUP_COSINE;
    s.lr = 1e-3;
    s.min_lr = 1e-4;
    s.warmup = 10;
    s.total = 110;
    CHECK_OK(attn__schedule_check(&s));
    CHECK_LR(&s, 1, 1e-4);
    CHECK_LR(&s, 5, 5e-4);
    CHECK_LR(&s, 10, 1e-3);
    CHECK_LR(&s, 35, 8.6819805153394638e-04); /* 1e-4 + 4.5e-4 * (1 + cos(pi / 4)) */
    CHECK_LR(&s, 60, 5.5e-4);                 /* halfway: the mean of lr and min_lr */
    CHECK_LR(&s, 85, 2.3180194846605362e-04); /* 1e-4 + 4.5e-4 * (1 - cos(pi / 4)) */
    CHECK_LR(&s, 110, 1e-4);
    CHECK_LR(&s, 5000, 1e-4);
    s.warmup = 0; /* no warm-up: the cosine starts at step 0 */
    s.total = 100;
    CHECK_LR(&s, 50, 5.5e-4);

    /* invalid schedules */
    s.kind = ATTN__LR_INV_SQRT;
    s.warmup = 0;
    CHECK_FAILS(attn__schedule_check(&s), ATTN_STATUS_BAD_ARGUMENT, "warmup must be >= 1");
    CHECK(isnan(attn__schedule_lr(&s, 5)), "an invalid schedule gives NaN");
    s.kind = ATTN__LR_WARMUP_COSINE;
    s.warmup = 10;
    s.total = 10;
    CHECK_FAILS(attn__schedule_check(&s), ATTN_STATUS_BAD_ARGUMENT, "total must be greater");
    s.total = 20;
    s.min_lr = 2e-3;
    CHECK_FAILS(attn__schedule_check(&s), ATTN_STATUS_BAD_ARGUMENT, "min_lr");
    s.kind = ATTN__LR_NOAM;
    s.lr = 1.0;
    s.d_model = 0.0;
    CHECK_FAILS(attn__schedule_check(&s), ATTN_STATUS_BAD_ARGUMENT, "d_model");
    s.kind = (attn__lr_kind_t)9;
    CHECK_FAILS(attn__schedule_check(&s), ATTN_STATUS_BAD_ARGUMENT, "kind");
}

static void test_fans_gains(void) {
    tc_begin("fans and gains vs torch.nn.init");
    for (int k = 0; k < 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "fan%d.shape", k);
        const ref_tensor *S = get(name);
        snprintf(name, sizeof name, "fan%d.fans", k);
        const ref_tensor *F = get(name);
        if (!S || !F) return;
        int64_t shape[4], fi = -1, fo = -1;
        for (int64_t d = 0; d < S->numel; d++) shape[d] = (int64_t)S->data[d];
        CHECK_OK(attn__init_fans((int32_t)S->numel, shape, &fi, &fo));
        CHECK(fi == (int64_t)F->data[0] && fo == (int64_t)F->data[1],
              "shape %d: fans (%lld, %lld), PyTorch (%g, %g)", k, (long long)fi, (long long)fo,
              (double)F->data[0], (double)F->data[1]);
    }
    const ref_tensor *G = get("gains");
    if (!G) return;
    const attn__nonlin_t kinds[6] = {ATTN__NONLIN_LINEAR, ATTN__NONLIN_SIGMOID,
                                     ATTN__NONLIN_TANH, ATTN__NONLIN_RELU,
                                     ATTN__NONLIN_LEAKY_RELU, ATTN__NONLIN_SELU};
    for (int k = 0; k < 6; k++) {
        double g = attn__init_gain(kinds[k], sqrt(5.0));
        CHECK(fabs(g - G->data[k]) <= 1e-7 * G->data[k], "gain %d: %.9g vs %.9g", k, g,
              (double)G->data[k]);
    }
    /* nn.Linear's default: kaiming_uniform(a = sqrt 5) has bound 1 / sqrt(fan_in) */
    CHECK(fabs(attn__init_kaiming_bound(64, sqrt(5.0), ATTN__NONLIN_LEAKY_RELU) - 0.125) < 1e-15,
          "kaiming bound for nn.Linear(64, .)");
    const ref_tensor *M = get("linear.maxabs");
    if (M) CHECK(M->data[0] <= 0.125f && M->data[0] > 0.1249f, "PyTorch's Linear max |w| %g",
                 (double)M->data[0]);
    CHECK(fabs(attn__init_xavier_bound(30, 70, 2.0) - 2.0 * sqrt(0.06)) < 1e-15, "xavier bound");
    int64_t fi, fo;
    const int64_t one[1] = {5};
    CHECK_FAILS(attn__init_fans(1, one, &fi, &fo), ATTN_STATUS_BAD_SHAPE, "1 dimensions");
}

/* mean and variance of n floats, in double */
static void moments(const float *w, int64_t n, double *mean, double *var) {
    double s = 0.0, q = 0.0;
    for (int64_t i = 0; i < n; i++) s += w[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) q += (w[i] - *mean) * (w[i] - *mean);
    *var = q / (double)n;
}

static void test_init_samples(void) {
    tc_begin("initialisation samples");
    enum { N = 40000 };
    float *w = malloc(sizeof(float) * N), *w2 = malloc(sizeof(float) * N);
    attn__rng_t r;
    double mean, var;
    /* uniform(-2, 6): mean 2, variance 64 / 12; standard errors 0.012 and 0.03 */
    attn__rng_seed(&r, 1);
    CHECK_OK(attn__init_uniform(w, N, -2.0, 6.0, &r));
    float lo = w[0], hi = w[0];
    for (int i = 0; i < N; i++) { lo = fminf(lo, w[i]); hi = fmaxf(hi, w[i]); }
    CHECK(lo >= -2.0f && hi < 6.0f && lo < -1.99f && hi > 5.99f, "range [%g, %g]", lo, hi);
    moments(w, N, &mean, &var);
    CHECK(fabs(mean - 2.0) < 0.06 && fabs(var - 64.0 / 12.0) < 0.15, "uniform mean %g var %g",
          mean, var);
    /* normal(0.5, 0.02) */
    CHECK_OK(attn__init_normal(w, N, 0.5, 0.02, &r));
    moments(w, N, &mean, &var);
    CHECK(fabs(mean - 0.5) < 5e-4 && fabs(sqrt(var) - 0.02) < 5e-4, "normal mean %g std %g",
          mean, sqrt(var));
    /* xavier_uniform of [200, 200]: bound sqrt(6 / 400), variance bound^2 / 3 */
    const int64_t sh[2] = {200, 200};
    CHECK_OK(attn__init_xavier_uniform(w, 2, sh, 1.0, &r));
    const double xb = sqrt(6.0 / 400.0);
    moments(w, N, &mean, &var);
    hi = 0.0f;
    for (int i = 0; i < N; i++) hi = fmaxf(hi, fabsf(w[i]));
    CHECK(hi <= (float)xb && hi > 0.99f * (float)xb, "xavier max |w| %g, bound %g", hi, xb);
    CHECK(fabs(var - xb * xb / 3.0) < 0.03 * xb * xb / 3.0, "xavier variance %g", var);
    /* kaiming_uniform (relu, fan_out) of [100, 400]: bound sqrt(3) sqrt(2) / sqrt(100) */
    const int64_t sk[2] = {100, 400};
    CHECK_OK(attn__init_kaiming_uniform(w, 2, sk, 0.0, ATTN__FAN_OUT, ATTN__NONLIN_RELU, &r));
    const double kb = sqrt(6.0) / 10.0;
    hi = 0.0f;
    for (int i = 0; i < N; i++) hi = fmaxf(hi, fabsf(w[i]));
    CHECK(hi <= (float)kb && hi > 0.99f * (float)kb, "kaiming max |w| %g, bound %g", hi, kb);
    /* the same seed gives the same values */
    attn__rng_seed(&r, 77);
    CHECK_OK(attn__init_kaiming_uniform(w, 2, sk, sqrt(5.0), ATTN__FAN_IN, ATTN__NONLIN_LEAKY_RELU,
                                        &r));
    attn__rng_seed(&r, 77);
    CHECK_OK(attn__init_kaiming_uniform(w2, 2, sk, sqrt(5.0), ATTN__FAN_IN,
                                        ATTN__NONLIN_LEAKY_RELU, &r));
    CHECK(memcmp(w, w2, sizeof(float) * N) == 0, "same seed, same weights");
    CHECK_FAILS(attn__init_uniform(w, 4, 1.0, 0.0, &r), ATTN_STATUS_BAD_ARGUMENT, "a <= b");
    CHECK_FAILS(attn__init_kaiming_uniform(w, 2, sk, 0.0, (attn__fan_mode_t)3,
                                           ATTN__NONLIN_RELU, &r),
                ATTN_STATUS_BAD_ARGUMENT, "mode 3");
    free(w);
    free(w2);
}

int main(int argc, char **argv) {
    tc_start();
    if (argc < 2 || ref_load(&ref, argv[1]) != 0) {
        fprintf(stderr, "usage: test_schedule_init <reference file from torch_optim.py>\n");
        return 1;
    }
    test_schedules();
    test_fans_gains();
    test_init_samples();
    ref_free(&ref);
    return tc_finish("test_schedule_init");
}
