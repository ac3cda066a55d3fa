/* The vector math of the tile sets (src/kernels/tiles.h), for the portable set and for the one
 * this CPU runs (AVX2+FMA where present), against double-precision libm:
 *   - exp_row, p = exp(s - m) on [-87, 0]: relative error at most 3e-7 (the polynomial's bound
 *     is 2e-7, plus the rounding of s - m), the sum within 1e-6 of the double sum, exactly 0
 *     below -88 and for -inf;
 *   - tanh_sum, t = tanh(q + k) on [-20, 20] and at the switch |x| = 0.625: relative error at
 *     most 4e-7 (bound 3e-7 in simd.h), +-1 exactly from |x| = 10, NaN kept, +-inf -> +-1;
 *   - tanh_dot, sum v tanh(q + k), within 1e-6 of the double sum (relative to sum |v t|).
 * Measured maxima are printed. */
#include "kernels/tiles.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { N = 20001 };

static void exp_case(const attn__tiles_t *t) {
    static float s[N], p[N];
    for (int i = 0; i < N; i++) s[i] = -87.0f * (float)i / (float)(N - 1);
    float m = 0.0f;
    float sum = t->exp_row(N, s, m, p);
    double worst = 0.0, dsum = 0.0;
    for (int i = 0; i < N; i++) {
        double want = exp((double)s[i] - (double)m);
        dsum += want;
        double rel = fabs((double)p[i] - want) / want;
        worst = rel > worst ? rel : worst;
    }
    printf("  %s exp_row: max relative error %.3g on [-87, 0]\n", t->name, worst);
    CHECK(worst <= 3e-7, "%s exp_row: relative error %.3g > 3e-7", t->name, worst);
    CHECK(fabs((double)sum - dsum) <= 1e-6 * dsum, "%s exp_row: sum %.9g, want %.9g", t->name,
          (double)sum, dsum);
    float low[9] = {-88.5f, -100.0f, -1000.0f, -INFINITY, -1e30f, -90.0f, -95.0f, -120.0f,
                    -88.1f};
    float out[9];
    t->exp_row(9, low, 0.0f, out);
    int zeros = 1;
    for (int i = 0; i < 9; i++) zeros &= out[i] == 0.0f;
    CHECK(zeros, "%s exp_row: arguments below -88 must give exactly 0", t->name);
}

static void tanh_case(const attn__tiles_t *t) {
    static float q[N], k[N], out[N];
    for (int i = 0; i < N; i++) {
        q[i] = -20.0f + 40.0f * (float)i / (float)(N - 1);
        k[i] = (i % 7 == 0) ? 0.0f : 1e-3f * (float)(i % 5) - 2e-3f;
    }
    t->tanh_sum(N, q, k, out);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        double x = (double)(q[i] + k[i]), want = tanh(x);
        if (want == 0.0) {
            CHECK(out[i] == 0.0f, "%s tanh(0) = %g", t->name, (double)out[i]);
            continue;
        }
        double rel = fabs((double)out[i] - want) / fabs(want);
        worst = rel > worst ? rel : worst;
    }
    /* around the switch between the polynomial and the exponential form, and tiny values */
    float near[16], zk[16] = {0}, nout[16];
    for (int i = 0; i < 8; i++) {
        near[i] = 0.625f + (float)(i - 4) * 1e-7f;
        near[8 + i] = (i % 2 ? -1.0f : 1.0f) * ldexpf(1.0f, -3 * i - 1);
    }
    t->tanh_sum(16, near, zk, nout);
    for (int i = 0; i < 16; i++) {
        double want = tanh((double)near[i]), rel = fabs((double)nout[i] - want) / fabs(want);
        worst = rel > worst ? rel : worst;
    }
    printf("  %s tanh_sum: max relative error %.3g on [-20, 20]\n", t->name, worst);
    CHECK(worst <= 4e-7, "%s tanh: relative error %.3g > 4e-7", t->name, worst);

    float edge[8] = {10.0f, -10.0f, 50.0f, -1e30f, INFINITY, -INFINITY, NAN, 0.0f}, ez[8] = {0};
    float eo[8];
    t->tanh_sum(8, edge, ez, eo);
    CHECK(eo[0] == 1.0f && eo[1] == -1.0f && eo[2] == 1.0f && eo[3] == -1.0f,
          "%s tanh: +-1 exactly for large |x| (got %g %g %g %g)", t->name, (double)eo[0],
          (double)eo[1], (double)eo[2], (double)eo[3]);
    CHECK(eo[4] == 1.0f && eo[5] == -1.0f, "%s tanh(+-inf) = %g %g", t->name, (double)eo[4],
          (double)eo[5]);
    CHECK(isnan(eo[6]), "%s tanh(NaN) = %g, want NaN", t->name, (double)eo[6]);

    /* the additive score */
    static float v[N];
    double dsum = 0.0, mag = 0.0;
    for (int i = 0; i < N; i++) {
        v[i] = (float)((i * 37) % 101 - 50) / 50.0f;
        double term = (double)v[i] * tanh((double)(q[i] + k[i]));
        dsum += term;
        mag += fabs(term);
    }
    for (int n = 1; n <= 40; n += 13) { /* short rows: the scalar tail too */
        double ds = 0.0, dm = 0.0;
        for (int i = 0; i < n; i++) {
            double term = (double)v[i * 400] * tanh((double)(q[i * 400] + k[i * 400]));
            ds += term;
            dm += fabs(term);
        }
        float vv[40], qq[40], kk[40];
        for (int i = 0; i < n; i++) {
            vv[i] = v[i * 400];
            qq[i] = q[i * 400];
            kk[i] = k[i * 400];
        }
        float got = t->tanh_dot(n, vv, qq, kk);
        CHECK(fabs((double)got - ds) <= 1e-6 * dm + 1e-30, "%s tanh_dot n=%d: %.9g, want %.9g",
              t->name, n, (double)got, ds);
    }
    float got = t->tanh_dot(N, v, q, k);
    CHECK(fabs((double)got - dsum) <= 1e-6 * mag, "%s tanh_dot: %.9g, want %.9g", t->name,
          (double)got, dsum);
}

int main(void) {
    const attn__tiles_t *sets[2] = {&attn__tiles_generic, attn__tiles()};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && sets[1] == sets[0]) break;
        exp_case(sets[i]);
        tanh_case(sets[i]);
    }
    return check_report("test_tiles_math");
}
