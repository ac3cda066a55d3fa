/* Internal: the threading layer and run-time choices (thread count, kernel selection).
 * Kernels never own threads: they describe their work as n independent items, and
 * attn__parallel_for hands items to threads. Each item's result may not depend on which thread
 * ran it, which is what keeps results bitwise identical for any thread count. */
#ifndef ATTN_CORE_RUNTIME_H
#define ATTN_CORE_RUNTIME_H

#include "attn.h"

/* Runs fn(ctx, item, thread) for every item in [0, n). thread is in [0, nthreads). */
typedef void (*attn__item_fn)(void *ctx, int64_t item, int thread);
void attn__parallel_for(int64_t n, int nthreads, attn__item_fn fn, void *ctx);

/* Threads to use for n items of flops floating-point operations in all:
 * min(attn_get_num_threads(), n), at least 1, and 1 for work too small to be worth waking a
 * second thread for (a few microseconds). */
int attn__threads_for(int64_t n, double flops);

/* Runs fn(ctx, begin, end) over [0, n) in chunks of grain items (the last one shorter), on
 * as many threads as attn__threads_for(chunks, flops) gives; flops is the whole job's work.
 * The chunks depend only on n and grain, so a reduction kept per chunk and summed in chunk
 * order gives the same bits for any thread count. */
typedef void (*attn__range_fn)(void *ctx, int64_t begin, int64_t end);
void attn__parallel_range(int64_t n, int64_t grain, double flops, attn__range_fn fn, void *ctx);

/* Resolves ATTN_KERNEL_AUTO through the ATTN_KERNEL environment variable (default fused).
 * Returns ATTN_STATUS_BAD_ARGUMENT with a message when the variable holds something else. */
attn_status_t attn__resolve_kernel(attn_kernel_t requested, attn_kernel_t *out);

/* Bytes of the level-LEVEL (2 or 3) data or unified cache of the first CPU: from Linux's
 * /sys/devices/system/cpu/cpu0/cache (what lscpu shows), else sysconf; 0 where neither says.
 * glibc's sysconf reads cpuid, which under some hypervisors reports the host's cache (320 MiB
 * of L3 on a 2-vCPU AMD EPYC guest whose sysfs says 32 MiB). Read once, then remembered. */
int64_t attn__cache_bytes(int level);

#endif
