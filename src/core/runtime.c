#include "core/runtime.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef ATTN_HAVE_OPENMP
#  include <omp.h>
#endif

static int32_t requested_threads; /* 0: default */

static int32_t default_threads(void) {
    const char *env = getenv("ATTN_NUM_THREADS");
    if (env && *env) {
        char *end = NULL;
        long n = strtol(env, &end, 10);
        if (end && *end == '\0' && n > 0 && n <= 4096) return (int32_t)n;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int32_t)cores : 1;
}

attn_status_t attn_set_num_threads(int32_t n) {
    requested_threads = n > 0 ? n : 0;
    return ATTN_STATUS_OK;
}

int32_t attn_get_num_threads(void) {
    return requested_threads > 0 ? requested_threads : default_threads();
}

int attn__threads_for(int64_t n, double flops) {
    if (flops < 2e6) return 1;
    int64_t t = attn_get_num_threads();
    if (t > n) t = n;
    return t < 1 ? 1 : (int)t;
}

void attn__parallel_for(int64_t n, int nthreads, attn__item_fn fn, void *ctx) {
#ifdef ATTN_HAVE_OPENMP
    if (nthreads > 1) {
#pragma omp parallel num_threads(nthreads)
        {
            int tid = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
            for (int64_t i = 0; i < n; i++) fn(ctx, i, tid);
        }
        return;
    }
#else
    (void)nthreads;
#endif
    for (int64_t i = 0; i < n; i++) fn(ctx, i, 0);
}

attn_status_t attn__resolve_kernel(attn_kernel_t requested, attn_kernel_t *out) {
    if (requested == ATTN_KERNEL_REFERENCE || requested == ATTN_KERNEL_FUSED) {
        *out = requested;
        return ATTN_STATUS_OK;
    }
    if (requested != ATTN_KERNEL_AUTO)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                          "params.kernel is %d; use ATTN_KERNEL_AUTO, ATTN_KERNEL_REFERENCE or "
                          "ATTN_KERNEL_FUSED", (int)requested);
    const char *env = getenv("ATTN_KERNEL");
    if (!env || !*env || strcmp(env, "fused") == 0) {
        *out = ATTN_KERNEL_FUSED;
        return ATTN_STATUS_OK;
    }
    if (strcmp(env, "reference") == 0) {
        *out = ATTN_KERNEL_REFERENCE;
        return ATTN_STATUS_OK;
    }
    return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                      "environment variable ATTN_KERNEL is '%s'; set it to 'fused' or "
                      "'reference', or unset it", env);
}

const char *attn_kernel_name(attn_kernel_t kernel) {
    attn_kernel_t k = ATTN_KERNEL_FUSED;
    if (attn__resolve_kernel(kernel, &k) != ATTN_STATUS_OK) return "invalid";
    return k == ATTN_KERNEL_REFERENCE ? "reference" : "fused";
}
