/* attn.h compiled as C: self-contained (included first), guarded against double inclusion,
 * inline constructors, the usage example from the top of the header, and the fixed values of
 * the public enums. Besides this build, ctest compiles this file again with -std=c11
 * -pedantic-errors and extra warnings as errors (see CMakeLists.txt). No test utilities on
 * purpose: only attn.h and the C library. */
#include <attn.h>
#include <attn.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

_Static_assert(ATTN_STATUS_OK == 0 && ATTN_STATUS_NULL_POINTER == 1 &&
               ATTN_STATUS_BAD_SHAPE == 2 && ATTN_STATUS_BAD_STRIDE == 3 &&
               ATTN_STATUS_OVERFLOW == 4 && ATTN_STATUS_BAD_MASK == 5 &&
               ATTN_STATUS_BAD_ARGUMENT == 6 && ATTN_STATUS_UNSUPPORTED == 7 &&
               ATTN_STATUS_OUT_OF_MEMORY == 8, "status codes are ABI");
_Static_assert(ATTN_KERNEL_AUTO == 0 && ATTN_KERNEL_REFERENCE == 1 && ATTN_KERNEL_FUSED == 2,
               "kernel values are ABI");
_Static_assert(ATTN_CAUSAL_NONE == 0 && ATTN_CAUSAL_TOP_LEFT == 1 &&
               ATTN_CAUSAL_BOTTOM_RIGHT == 2, "causal values are ABI");
_Static_assert(ATTN_MASK_NONE == 0 && ATTN_MASK_BOOL == 1 && ATTN_MASK_BIAS == 2,
               "mask kinds are ABI");
_Static_assert(ATTN_DTYPE_F32 == 0 && ATTN_DTYPE_F16 == 1 && ATTN_DTYPE_BF16 == 2,
               "dtypes are ABI");
_Static_assert(sizeof(attn_shape_t) == 7 * sizeof(int64_t), "attn_shape_t is 7 int64_t");

static int failures;
#define EXPECT(cond, ...)                                                                     \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            failures++;                                                                       \
            fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #cond);                           \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
        }                                                                                     \
    } while (0)

/* The example at the top of attn.h, verbatim apart from returning O. */
static int usage_example(float out[4], float lse_out[2]) {
    /* one sequence, one head, 2 queries, 3 keys, head size 2 */
    float q[2 * 2] = {1, 0,   0, 1};
    float k[3 * 2] = {1, 0,   0, 1,   1, 1};
    float v[3 * 2] = {1, 2,   3, 4,   5, 6};
    float o[2 * 2], lse[2];
    attn_shape_t s = {1, 1, 1, 2, 3, 2, 2};  /* B Hq Hkv Nq Nk D Dv */
    attn_params_t p = attn_default_params();  /* scale 1/sqrt(D), no mask */
    attn_status_t st = attn_forward(&s, &p,
        attn_src_f32(q, s.len_q * s.dim_qk, s.len_q * s.dim_qk, s.dim_qk),
        attn_src_f32(k, s.len_k * s.dim_qk, s.len_k * s.dim_qk, s.dim_qk),
        attn_src_f32(v, s.len_k * s.dim_v, s.len_k * s.dim_v, s.dim_v),
        attn_dst_f32(o, s.len_q * s.dim_v, s.len_q * s.dim_v, s.dim_v), lse);
    if (st != ATTN_STATUS_OK) { fprintf(stderr, "%s\n", attn_last_error()); return 1; }
    printf("%f %f\n", o[0], o[1]);
    memcpy(out, o, sizeof o);
    memcpy(lse_out, lse, sizeof lse);
    return 0;
}

int main(void) {
    float o[4], lse[2];
    EXPECT(usage_example(o, lse) == 0, "the usage example failed");
    /* by hand: scale a = 1/sqrt(2); query 0 scores (a, 0, a), query 1 scores (0, a, a) */
    double a = 1.0 / sqrt(2.0), w = exp(a);
    double z0 = 2 * w + 1, z1 = 1 + 2 * w;
    const double want[4] = {(w * 1 + 3 + w * 5) / z0, (w * 2 + 4 + w * 6) / z0,
                            (1 + w * 3 + w * 5) / z1, (2 + w * 4 + w * 6) / z1};
    for (int e = 0; e < 4; e++)
        EXPECT(fabs(o[e] - want[e]) <= 1e-6, "o[%d] = %.8f, want %.8f", e, o[e], want[e]);
    EXPECT(fabs(lse[0] - log(z0)) <= 1e-6 && fabs(lse[1] - log(z1)) <= 1e-6,
           "lse = (%.8f, %.8f), want (%.8f, %.8f)", lse[0], lse[1], log(z0), log(z1));

    /* inline constructors */
    float buf[8] = {0};
    attn_src_t s = attn_src_f32(buf, 40, 20, 5);
    EXPECT(s.data == buf && s.dtype == ATTN_DTYPE_F32 && s.stride[0] == 40 &&
           s.stride[1] == 20 && s.stride[2] == 5 && s.stride[3] == 1, "attn_src_f32 fields");
    attn_src_t t = attn_src_typed(buf, ATTN_DTYPE_BF16, 7, 6, 5);
    EXPECT(t.data == buf && t.dtype == ATTN_DTYPE_BF16 && t.stride[0] == 7 &&
           t.stride[1] == 6 && t.stride[2] == 5 && t.stride[3] == 1, "attn_src_typed fields");
    attn_dst_t d = attn_dst_f32(buf, 3, 2, 1);
    EXPECT(d.data == buf && d.stride[0] == 3 && d.stride[1] == 2 && d.stride[2] == 1 &&
           d.stride[3] == 1, "attn_dst_f32 fields");

    /* defaults */
    attn_params_t p = attn_default_params();
    EXPECT(isnan(p.scale), "default scale is %g, not NAN", p.scale);
    EXPECT(p.causal == ATTN_CAUSAL_NONE && p.key_lens == NULL &&
           p.mask.kind == ATTN_MASK_NONE && p.kernel == ATTN_KERNEL_AUTO,
           "default params are not 'no mask, no causal, auto kernel'");

    /* version */
    char v[64];
    snprintf(v, sizeof v, "%d.%d.%d", ATTN_VERSION_MAJOR, ATTN_VERSION_MINOR, ATTN_VERSION_PATCH);
    EXPECT(strcmp(v, attn_version()) == 0, "attn_version() is %s, the header says %s",
           attn_version(), v);
    EXPECT(attn_status_string(ATTN_STATUS_OK) != NULL, "attn_status_string returned NULL");
    EXPECT(attn_get_num_threads() >= 1, "attn_get_num_threads() < 1");

    printf("test_header_c: %s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
