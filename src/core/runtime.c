#include "core/runtime.h"
#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

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

/* ---- the thread pool ---------------------------------------------------------------------
 *
 * A small pool of our own rather than OpenMP: between parallel loops its workers sleep on a
 * condition variable instead of spinning, so they leave the cores to OpenBLAS's threads, which
 * the layers call in between (an OpenMP team spinning after a loop halves the speed of the
 * matrix products that follow on a 2-core machine). Items are handed out through one atomic
 * counter; which thread runs an item never changes its result. One caller at a time uses the
 * pool: a second concurrent caller, or a call from inside a pool thread, runs its loop alone. */
enum { POOL_MAX = 256 };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_mutex_t busy;     /* held by the caller running a loop on the pool */
    int started;              /* workers created */
    uint64_t generation;      /* bumped for every loop */
    int participants;         /* workers (besides the caller) taking part in this loop */
    int running;              /* workers still inside this loop */
    attn__item_fn fn;
    void *ctx;
    int64_t n;
    _Atomic int64_t next;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, NULL, NULL, 0, 0};

static _Thread_local int in_pool; /* set in pool threads */

static void run_items(int tid) {
    for (;;) {
        int64_t i = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed);
        if (i >= pool.n) break;
        pool.fn(pool.ctx, i, tid);
    }
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg; /* 1 .. */
    in_pool = 1;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.wake, &pool.mu);
        seen = pool.generation;
        if (id > pool.participants) continue;
        pthread_mutex_unlock(&pool.mu);
        run_items(id);
        pthread_mutex_lock(&pool.mu);
        if (--pool.running == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

void attn__parallel_for(int64_t n, int nthreads, attn__item_fn fn, void *ctx) {
    if (nthreads > POOL_MAX) nthreads = POOL_MAX;
    if (nthreads <= 1 || n <= 1 || in_pool || pthread_mutex_trylock(&pool.busy) != 0) {
        for (int64_t i = 0; i < n; i++) fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    while (pool.started < nthreads - 1) { /* grow the pool on first need */
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int err = pthread_create(&th, &attr, worker, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&attr);
        if (err != 0) break; /* fewer threads: still correct */
        pool.started++;
    }
    int helpers = nthreads - 1 < pool.started ? nthreads - 1 : pool.started;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    atomic_store_explicit(&pool.next, 0, memory_order_relaxed);
    pool.participants = helpers;
    pool.running = helpers;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);

    in_pool = 1; /* the caller is thread 0 of this loop */
    run_items(0);
    in_pool = 0;

    pthread_mutex_lock(&pool.mu);
    while (pool.running > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.busy);
}

typedef struct range_job {
    attn__range_fn fn;
    void *ctx;
    int64_t n, grain;
} range_job_t;

static void range_item(void *ctx, int64_t item, int thread) {
    (void)thread;
    const range_job_t *J = ctx;
    int64_t b = item * J->grain, e = b + J->grain < J->n ? b + J->grain : J->n;
    J->fn(J->ctx, b, e);
}

void attn__parallel_range(int64_t n, int64_t grain, double flops, attn__range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t chunks = (n + grain - 1) / grain;
    if (chunks == 1) {
        fn(ctx, 0, n);
        return;
    }
    range_job_t J = {fn, ctx, n, grain};
    attn__parallel_for(chunks, attn__threads_for(chunks, flops), range_item, &J);
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

/* ---- cache sizes ------------------------------------------------------------------------ */

static int64_t cache_size[4];
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

/* the first line of a small sysfs file, or "" */
static void read_line(const char *path, char *out, size_t size) {
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (!fgets(out, (int)size, f)) out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static void probe_caches(void) {
    for (int index = 0; index < 16; index++) {
        char path[96], text[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", index);
        read_line(path, text, sizeof text);
        if (!text[0]) break;
        const int level = atoi(text);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", index);
        read_line(path, text, sizeof text);
        if (level < 2 || level > 3 || strcmp(text, "Instruction") == 0) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        read_line(path, text, sizeof text);
        char *end = NULL;
        long long n = strtoll(text, &end, 10);
        if (n <= 0 || !end) continue;
        if (*end == 'K') n <<= 10;
        else if (*end == 'M') n <<= 20;
        cache_size[level] = (int64_t)n;
    }
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE), l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (cache_size[2] == 0 && l2 > 0) cache_size[2] = l2;
    if (cache_size[3] == 0 && l3 > 0) cache_size[3] = l3;
}

int64_t attn__cache_bytes(int level) {
    if (level < 2 || level > 3) return 0;
    pthread_once(&cache_once, probe_caches);
    return cache_size[level];
}
