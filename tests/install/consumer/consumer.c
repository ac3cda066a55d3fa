/* A program outside the attn source tree that uses the installed library: built once through
 * pkg-config and once through find_package(attn), then run by tests/install/install_test.cmake.
 * Prints "consumer: ok" when every check passed, and exits with 1 otherwise. */
#include <attn.h>

#include <stdio.h>
#include <string.h>

static int failures = 0;

static void expect_near(const char *what, double got, double want) {
    double err = got > want ? got - want : want - got;
    if (!(err <= 1e-5)) {
        fprintf(stderr, "consumer: %s is %.9g, expected %.9g\n", what, got, want);
        failures++;
    }
}

int main(void) {
    /* One query of zeros against four keys: every score is 0, so the weights are all 1/4, the
     * output is the mean of the values and the LSE is log(4). */
    enum { NK = 4, D = 2 };
    const float q[D] = {0, 0};
    const float k[NK * D] = {1, 0, 0, 1, -1, 0, 0, -1};
    const float v[NK * D] = {1, 2, 3, 4, 5, 6, 7, 8};
    float o[D], lse[1], p[NK];
    attn_shape_t s = {1, 1, 1, 1, NK, D, D}; /* B Hq Hkv Nq Nk D Dv */
    attn_params_t params = attn_default_params();

    attn_status_t st = attn_forward(&s, &params, attn_src_f32(q, D, D, D),
                                    attn_src_f32(k, NK * D, NK * D, D),
                                    attn_src_f32(v, NK * D, NK * D, D),
                                    attn_dst_f32(o, D, D, D), lse);
    if (st != ATTN_STATUS_OK) {
        fprintf(stderr, "consumer: attn_forward failed: %s\n", attn_last_error());
        return 1;
    }
    st = attn_probs(&s, &params, attn_src_f32(q, D, D, D), attn_src_f32(k, NK * D, NK * D, D),
                    lse, 0, 0, 0, 1, p, NK);
    if (st != ATTN_STATUS_OK) {
        fprintf(stderr, "consumer: attn_probs failed: %s\n", attn_last_error());
        return 1;
    }
    expect_near("o[0]", o[0], 4.0);
    expect_near("o[1]", o[1], 5.0);
    expect_near("lse", lse[0], 1.3862943611198906);
    for (int j = 0; j < NK; j++) expect_near("p[j]", p[j], 0.25);

    /* A caller's mistake comes back as a status with a message, not an abort. */
    st = attn_forward(NULL, &params, attn_src_f32(q, D, D, D), attn_src_f32(k, NK * D, NK * D, D),
                      attn_src_f32(v, NK * D, NK * D, D), attn_dst_f32(o, D, D, D), lse);
    if (st == ATTN_STATUS_OK || attn_last_error()[0] == '\0') {
        fprintf(stderr, "consumer: attn_forward(NULL shape) gave status %d and message '%s'\n",
                (int)st, attn_last_error());
        failures++;
    }

    char header[32];
    snprintf(header, sizeof header, "%d.%d.%d", ATTN_VERSION_MAJOR, ATTN_VERSION_MINOR,
             ATTN_VERSION_PATCH);
    if (strcmp(header, attn_version()) != 0) {
        fprintf(stderr, "consumer: attn.h says %s but the library says %s\n", header,
                attn_version());
        failures++;
    }

    printf("consumer: attn %s o = %.4f %.4f lse = %.6f p = %.4f %.4f %.4f %.4f\n",
           attn_version(), (double)o[0], (double)o[1], (double)lse[0], (double)p[0],
           (double)p[1], (double)p[2], (double)p[3]);
    if (failures) return 1;
    printf("consumer: ok\n");
    return 0;
}
