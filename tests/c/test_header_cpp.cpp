// attn.h compiled as C++: extern "C" linkage, the inline constructors, the usage example from
// the top of the header and a backward call. Besides this build, ctest compiles this file
// again with -std=c++11 -pedantic-errors and extra warnings as errors (see CMakeLists.txt).
#include <attn.h>
#include <attn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

static_assert(ATTN_STATUS_OK == 0 && ATTN_STATUS_OUT_OF_MEMORY == 8, "status codes are ABI");
static_assert(sizeof(attn_shape_t) == 7 * sizeof(int64_t), "attn_shape_t is 7 int64_t");

static int failures = 0;
#define EXPECT(cond, what)                                                                    \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            failures++;                                                                       \
            std::fprintf(stderr, "FAIL line %d: %s: %s\n", __LINE__, #cond, what);            \
        }                                                                                     \
    } while (0)

namespace {

// The example at the top of attn.h (as written there, in a function).
int usage_example(float out[4]) {
    // one sequence, one head, 2 queries, 3 keys, head size 2
    float q[2 * 2] = {1, 0,   0, 1};
    float k[3 * 2] = {1, 0,   0, 1,   1, 1};
    float v[3 * 2] = {1, 2,   3, 4,   5, 6};
    float o[2 * 2], lse[2];
    attn_shape_t s = {1, 1, 1, 2, 3, 2, 2};  // B Hq Hkv Nq Nk D Dv
    attn_params_t p = attn_default_params();  // scale 1/sqrt(D), no mask
    attn_status_t st = attn_forward(&s, &p,
        attn_src_f32(q, s.len_q * s.dim_qk, s.len_q * s.dim_qk, s.dim_qk),
        attn_src_f32(k, s.len_k * s.dim_qk, s.len_k * s.dim_qk, s.dim_qk),
        attn_src_f32(v, s.len_k * s.dim_v, s.len_k * s.dim_v, s.dim_v),
        attn_dst_f32(o, s.len_q * s.dim_v, s.len_q * s.dim_v, s.dim_v), lse);
    if (st != ATTN_STATUS_OK) { std::fprintf(stderr, "%s\n", attn_last_error()); return 1; }
    std::printf("%f %f\n", static_cast<double>(o[0]), static_cast<double>(o[1]));
    std::memcpy(out, o, sizeof o);
    return 0;
}

}  // namespace

int main() {
    float o[4];
    EXPECT(usage_example(o) == 0, "the usage example failed");
    const double a = 1.0 / std::sqrt(2.0), w = std::exp(a), z = 2 * w + 1;
    EXPECT(std::fabs(static_cast<double>(o[0]) - (w + 3 + 5 * w) / z) <= 1e-6, "o[0]");
    EXPECT(std::fabs(static_cast<double>(o[3]) - (2 + 4 * w + 6 * w) / z) <= 1e-6, "o[3]");

    // a grouped-query backward through std::vector storage with the typed constructor
    const attn_shape_t s = {1, 2, 1, 3, 4, 2, 2};
    std::vector<float> q(12, 0.25f), k(8, 0.5f), v(8, 1.0f), out(12), lse(6), d_o(12, 1.0f);
    std::vector<float> dq(12), dk(8), dv(8);
    attn_params_t p = attn_default_params();
    p.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
    p.kernel = ATTN_KERNEL_FUSED;
    attn_src_t qs = attn_src_typed(q.data(), ATTN_DTYPE_F32, 12, 6, 2);
    attn_src_t ks = attn_src_f32(k.data(), 8, 8, 2);
    attn_src_t vs = attn_src_f32(v.data(), 8, 8, 2);
    EXPECT(attn_forward(&s, &p, qs, ks, vs, attn_dst_f32(out.data(), 12, 6, 2), lse.data()) ==
               ATTN_STATUS_OK, attn_last_error());
    attn_dst_t none = attn_dst_f32(nullptr, 0, 0, 0);
    EXPECT(attn_backward(&s, &p, qs, ks, vs, attn_src_f32(out.data(), 12, 6, 2), lse.data(),
                         attn_src_f32(d_o.data(), 12, 6, 2), attn_dst_f32(dq.data(), 12, 6, 2),
                         attn_dst_f32(dk.data(), 8, 8, 2), attn_dst_f32(dv.data(), 8, 8, 2),
                         none) == ATTN_STATUS_OK, attn_last_error());
    // V is all ones, so O is all ones and nothing flows back to Q or K; dV sums to Hq * Nq
    double sum_dv = 0;
    for (float x : dv) sum_dv += static_cast<double>(x);
    EXPECT(std::fabs(sum_dv - 2.0 * 3 * 2) <= 1e-5, "sum of dV");
    for (float x : out) EXPECT(std::fabs(static_cast<double>(x) - 1.0) <= 1e-6, "O == 1");
    for (float x : dq) EXPECT(std::fabs(static_cast<double>(x)) <= 1e-6, "dQ == 0");

    // an error, as C++ sees it
    attn_params_t bad = attn_default_params();
    bad.scale = std::numeric_limits<float>::infinity();
    EXPECT(attn_forward(&s, &bad, qs, ks, vs, attn_dst_f32(out.data(), 12, 6, 2), nullptr) ==
               ATTN_STATUS_BAD_ARGUMENT, "infinite scale accepted");
    EXPECT(std::strlen(attn_last_error()) > 0, "empty attn_last_error()");
    EXPECT(std::strcmp(attn_kernel_name(ATTN_KERNEL_REFERENCE), "reference") == 0,
           "attn_kernel_name(REFERENCE)");

    std::printf("test_header_cpp: %s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
