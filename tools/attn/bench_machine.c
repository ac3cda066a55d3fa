/* attn bench: the machine. Its fp32 FMA peak and its memory bandwidth, measured on the threads
 * the kernels use, plus the process helpers every measurement goes through: a pthread
 * parallel-for, a forked child that sends its result back through a pipe, and ru_maxrss. */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#  include <immintrin.h>
#  define BENCH_X86 1
#endif

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_self_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

double bench_loadavg(void) {
    double l = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1.0;
        fclose(f);
    }
    return l;
}

/* ---- threads ----------------------------------------------------------------------------- */

typedef struct par_arg {
    void (*fn)(void *ctx, int tid, int nthreads);
    void *ctx;
    int tid, nthreads;
} par_arg_t;

static void *par_main(void *p) {
    par_arg_t *a = p;
    a->fn(a->ctx, a->tid, a->nthreads);
    return NULL;
}

void bench_parallel(int nthreads, void (*fn)(void *ctx, int tid, int nthreads), void *ctx) {
    enum { MAXT = 256 };
    if (nthreads < 1) nthreads = 1;
    if (nthreads > MAXT) nthreads = MAXT;
    pthread_t th[MAXT];
    par_arg_t arg[MAXT];
    int started[MAXT];
    for (int t = 0; t < nthreads; t++) {
        arg[t] = (par_arg_t){fn, ctx, t, nthreads};
        started[t] = 0;
    }
    for (int t = 1; t < nthreads; t++)
        started[t] = pthread_create(&th[t], NULL, par_main, &arg[t]) == 0;
    fn(ctx, 0, nthreads);
    /* A thread that could not start has its share done here, so the work is always complete. */
    for (int t = 1; t < nthreads; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            fn(ctx, t, nthreads);
    }
}

/* ---- child processes --------------------------------------------------------------------- */

int bench_in_child(void (*fn)(void *ctx, void *out), void *ctx, void *out, size_t size,
                   char *err, size_t errsize) {
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(err, errsize, "pipe failed: %s", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errsize, "fork failed: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        fn(ctx, out);
        const char *p = out;
        size_t left = size;
        while (left > 0) {
            ssize_t w = write(fd[1], p, left);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) _exit(3);
            p += w;
            left -= (size_t)w;
        }
        close(fd[1]);
        _exit(0); /* no atexit handlers, no flushing of the parent's stdio buffers */
    }
    close(fd[1]);
    char *p = out;
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd[0], p + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (got == size && WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFSIGNALED(status))
        snprintf(err, errsize, "the measuring process was killed by signal %d (%s)%s",
                 WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WTERMSIG(status) == SIGKILL ? "; out of memory?" : "");
    else
        snprintf(err, errsize, "the measuring process exited with status %d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return -1;
}

/* ---- FMA peak ---------------------------------------------------------------------------- */

enum { PEAK_ACC = 12 }; /* independent accumulators: > latency (4) x FMA ports (2) */
enum { PEAK_FALLBACK, PEAK_AVX2, PEAK_AVX512 }; /* the loop measure_peak runs */

#ifdef BENCH_X86
/* PEAK_ACC independent chains of 8-lane FMAs; the empty asm makes the compiler keep every
 * accumulator in a register and every FMA in the loop. a <- a*m + c converges to 1, so no
 * value overflows or becomes subnormal. Returns the flops done. */
__attribute__((target("avx2,fma"))) static double fma_loop_avx2(long iters, float *sink) {
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    __m256 a0 = _mm256_set1_ps(0.1f), a1 = _mm256_set1_ps(0.2f), a2 = _mm256_set1_ps(0.3f);
    __m256 a3 = _mm256_set1_ps(0.4f), a4 = _mm256_set1_ps(0.5f), a5 = _mm256_set1_ps(0.6f);
    __m256 a6 = _mm256_set1_ps(0.7f), a7 = _mm256_set1_ps(0.8f), a8 = _mm256_set1_ps(0.9f);
    __m256 a9 = _mm256_set1_ps(1.1f), a10 = _mm256_set1_ps(1.2f), a11 = _mm256_set1_ps(1.3f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, m, c);
        a1 = _mm256_fmadd_ps(a1, m, c);
        a2 = _mm256_fmadd_ps(a2, m, c);
        a3 = _mm256_fmadd_ps(a3, m, c);
        a4 = _mm256_fmadd_ps(a4, m, c);
        a5 = _mm256_fmadd_ps(a5, m, c);
        a6 = _mm256_fmadd_ps(a6, m, c);
        a7 = _mm256_fmadd_ps(a7, m, c);
        a8 = _mm256_fmadd_ps(a8, m, c);
        a9 = _mm256_fmadd_ps(a9, m, c);
        a10 = _mm256_fmadd_ps(a10, m, c);
        a11 = _mm256_fmadd_ps(a11, m, c);
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5),
                         "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    *sink = lanes[0] + lanes[7];
    return (double)iters * PEAK_ACC * 8 * 2;
}

/* The same with 16-lane AVX-512 FMAs: the peak of a machine that has them (attn's kernels run
 * 16-lane vectors there too). */
__attribute__((target("avx512f"))) static double fma_loop_avx512(long iters, float *sink) {
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    __m512 a0 = _mm512_set1_ps(0.1f), a1 = _mm512_set1_ps(0.2f), a2 = _mm512_set1_ps(0.3f);
    __m512 a3 = _mm512_set1_ps(0.4f), a4 = _mm512_set1_ps(0.5f), a5 = _mm512_set1_ps(0.6f);
    __m512 a6 = _mm512_set1_ps(0.7f), a7 = _mm512_set1_ps(0.8f), a8 = _mm512_set1_ps(0.9f);
    __m512 a9 = _mm512_set1_ps(1.1f), a10 = _mm512_set1_ps(1.2f), a11 = _mm512_set1_ps(1.3f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm512_fmadd_ps(a0, m, c);
        a1 = _mm512_fmadd_ps(a1, m, c);
        a2 = _mm512_fmadd_ps(a2, m, c);
        a3 = _mm512_fmadd_ps(a3, m, c);
        a4 = _mm512_fmadd_ps(a4, m, c);
        a5 = _mm512_fmadd_ps(a5, m, c);
        a6 = _mm512_fmadd_ps(a6, m, c);
        a7 = _mm512_fmadd_ps(a7, m, c);
        a8 = _mm512_fmadd_ps(a8, m, c);
        a9 = _mm512_fmadd_ps(a9, m, c);
        a10 = _mm512_fmadd_ps(a10, m, c);
        a11 = _mm512_fmadd_ps(a11, m, c);
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),
                         "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    float lanes[16];
    _mm512_storeu_ps(lanes, s);
    *sink = lanes[0] + lanes[15];
    return (double)iters * PEAK_ACC * 16 * 2;
}

/* Without AVX2/FMA: 4-lane SSE multiplies and adds (two flops per lane per pair). */
static double fma_loop_sse(long iters, float *sink) {
    const __m128 m = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-6f);
    __m128 a0 = _mm_set1_ps(0.1f), a1 = _mm_set1_ps(0.2f), a2 = _mm_set1_ps(0.3f);
    __m128 a3 = _mm_set1_ps(0.4f), a4 = _mm_set1_ps(0.5f), a5 = _mm_set1_ps(0.6f);
    __m128 a6 = _mm_set1_ps(0.7f), a7 = _mm_set1_ps(0.8f);
    for (long i = 0; i < iters; i++) {
        a0 = _mm_add_ps(_mm_mul_ps(a0, m), c);
        a1 = _mm_add_ps(_mm_mul_ps(a1, m), c);
        a2 = _mm_add_ps(_mm_mul_ps(a2, m), c);
        a3 = _mm_add_ps(_mm_mul_ps(a3, m), c);
        a4 = _mm_add_ps(_mm_mul_ps(a4, m), c);
        a5 = _mm_add_ps(_mm_mul_ps(a5, m), c);
        a6 = _mm_add_ps(_mm_mul_ps(a6, m), c);
        a7 = _mm_add_ps(_mm_mul_ps(a7, m), c);
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5),
                         "+x"(a6), "+x"(a7));
    }
    __m128 s = _mm_add_ps(_mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)),
                          _mm_add_ps(_mm_add_ps(a4, a5), _mm_add_ps(a6, a7)));
    *sink = _mm_cvtss_f32(s);
    return (double)iters * 8 * 4 * 2;
}

static int have_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* AVX-512F with its registers enabled by the OS (libgcc's check includes XGETBV) */
static int have_avx512f(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#else
/* Portable scalar estimate: eight independent multiply-add chains. */
static double fma_loop_scalar(long iters, float *sink) {
    volatile float mv = 0.999999f, cv = 1e-6f;
    float m = mv, c = cv, a[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < 8; j++) a[j] = a[j] * m + c;
    *sink = a[0] + a[7];
    return (double)iters * 8 * 2;
}
#endif

typedef struct peak_ctx {
    long iters;
    int isa; /* PEAK_FALLBACK, PEAK_AVX2 or PEAK_AVX512 */
    pthread_barrier_t barrier;
    double start, end[256], flops[256];
    float sink[256];
} peak_ctx_t;

static void peak_thread(void *p, int tid, int nthreads) {
    peak_ctx_t *c = p;
    (void)nthreads;
    pthread_barrier_wait(&c->barrier);
    if (tid == 0) c->start = bench_now();
#ifdef BENCH_X86
    c->flops[tid] = c->isa == PEAK_AVX512 ? fma_loop_avx512(c->iters, &c->sink[tid])
                    : c->isa == PEAK_AVX2 ? fma_loop_avx2(c->iters, &c->sink[tid])
                                          : fma_loop_sse(c->iters, &c->sink[tid]);
#else
    c->flops[tid] = fma_loop_scalar(c->iters, &c->sink[tid]);
#endif
    c->end[tid] = bench_now();
}

/* Best GFLOP/s of a few runs of about 0.1 s each on nthreads threads. */
static double measure_peak(int nthreads, int isa) {
    static peak_ctx_t c; /* 4 KiB of per-thread slots; one measurement at a time */
    double best = 0.0;
    c.isa = isa;
    c.iters = 1000000;
    for (int run = 0; run < 6; run++) {
        pthread_barrier_init(&c.barrier, NULL, (unsigned)nthreads);
        bench_parallel(nthreads, peak_thread, &c);
        pthread_barrier_destroy(&c.barrier);
        double end = c.start, flops = 0.0;
        for (int t = 0; t < nthreads; t++) {
            if (c.end[t] > end) end = c.end[t];
            flops += c.flops[t];
        }
        double secs = end - c.start;
        if (run == 0) { /* calibration: size the next runs to ~0.1 s */
            double scale = secs > 0 ? 0.1 / secs : 100.0;
            if (scale > 1000.0) scale = 1000.0;
            c.iters = (long)((double)c.iters * scale) + 1;
            continue;
        }
        double g = secs > 0 ? flops / secs * 1e-9 : 0.0;
        if (g > best) best = g;
    }
    return best;
}

/* ---- memory bandwidth -------------------------------------------------------------------- */

typedef struct bw_ctx {
    float *buf;
    size_t n;          /* floats in buf */
    int mode;          /* 0 fill, 1 read, 2 copy first half to second half */
    int avx2;
    pthread_barrier_t barrier;
    double start, end[256];
    float sum[256];
} bw_ctx_t;

#ifdef BENCH_X86
__attribute__((target("avx2"))) static float sum_avx2(const float *x, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(x + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(x + i + 24));
    }
    float lanes[8], total = 0.0f;
    _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (int l = 0; l < 8; l++) total += lanes[l];
    for (; i < n; i++) total += x[i];
    return total;
}
#endif

static float sum_plain(const float *x, size_t n) {
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += x[i + (size_t)l];
    float total = 0.0f;
    for (int l = 0; l < 8; l++) total += s[l];
    for (; i < n; i++) total += x[i];
    return total;
}

static void bw_thread(void *p, int tid, int nthreads) {
    bw_ctx_t *c = p;
    size_t n = c->mode == 2 ? c->n / 2 : c->n;
    size_t lo = n * (size_t)tid / (size_t)nthreads, hi = n * (size_t)(tid + 1) / (size_t)nthreads;
    pthread_barrier_wait(&c->barrier);
    if (tid == 0) c->start = bench_now();
    if (c->mode == 0) {
        for (size_t i = lo; i < hi; i++) c->buf[i] = (float)(i & 7) * 0.125f;
    } else if (c->mode == 1) {
#ifdef BENCH_X86
        c->sum[tid] = c->avx2 ? sum_avx2(c->buf + lo, hi - lo) : sum_plain(c->buf + lo, hi - lo);
#else
        c->sum[tid] = sum_plain(c->buf + lo, hi - lo);
#endif
    } else {
        memcpy(c->buf + n + lo, c->buf + lo, (hi - lo) * sizeof(float));
    }
    c->end[tid] = bench_now();
}

static double bw_run(bw_ctx_t *c, int nthreads, int mode) {
    c->mode = mode;
    pthread_barrier_init(&c->barrier, NULL, (unsigned)nthreads);
    bench_parallel(nthreads, bw_thread, c);
    pthread_barrier_destroy(&c->barrier);
    double end = c->start;
    for (int t = 0; t < nthreads; t++)
        if (c->end[t] > end) end = c->end[t];
    return end - c->start;
}

/* ---- the measurement, in a child ------------------------------------------------------- */

static void cpu_name(char *out, size_t size) {
    snprintf(out, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        snprintf(out, size, "%s", v);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    fclose(f);
}

/* The streaming read (best of 5) and copy (best of 3) bandwidth over a buffer of 1 GiB, 32
 * times an L3 of 32 MiB; halved until the allocation succeeds. */
static void measure_bandwidth(int threads, int avx2, bench_machine_t *m) {
    size_t bytes = (size_t)1 << 30;
    bw_ctx_t *c = calloc(1, sizeof *c);
    while (c && bytes >= ((size_t)64 << 20) && !(c->buf = bench_alloc(bytes))) bytes /= 2;
    if (c && c->buf) {
        c->n = bytes / sizeof(float);
        c->avx2 = avx2;
        m->buffer_mib = (double)bytes / (1 << 20);
        bw_run(c, threads, 0); /* first touch: the pages are mapped here, not while timed */
        double best = 0.0;
        for (int run = 0; run < 5; run++) {
            double s = bw_run(c, threads, 1);
            if (s > 0 && (double)bytes / s * 1e-9 > best) best = (double)bytes / s * 1e-9;
        }
        m->read_gbs = best;
        best = 0.0;
        for (int run = 0; run < 3; run++) {
            double s = bw_run(c, threads, 2);
            if (s > 0 && (double)bytes / s * 1e-9 > best) best = (double)bytes / s * 1e-9;
        }
        m->copy_gbs = best;
        free(c->buf);
    }
    free(c);
}

static void machine_child(void *ctx, void *out) {
    bench_machine_t *m = out;
    int threads = *(const int *)ctx;
    if (threads > 256) threads = 256;
    m->threads = threads;
    cpu_name(m->cpu, sizeof m->cpu);
    /* the peak of the widest FMA the machine has, whatever the kernels run (ATTN_ISA may
     * narrow them; the report then says so) */
#ifdef BENCH_X86
    const int avx2 = have_avx2_fma();
    const int isa = !avx2 ? PEAK_FALLBACK : have_avx512f() ? PEAK_AVX512 : PEAK_AVX2;
    snprintf(m->peak_isa, sizeof m->peak_isa, "%s",
             isa == PEAK_AVX512 ? "AVX-512 FMA, 12 accumulators"
             : isa == PEAK_AVX2 ? "AVX2 FMA, 12 accumulators"
                                : "SSE mul+add (no AVX2/FMA)");
#else
    const int avx2 = 0, isa = PEAK_FALLBACK;
    snprintf(m->peak_isa, sizeof m->peak_isa, "scalar multiply-add");
#endif
    snprintf(m->kernel_isa, sizeof m->kernel_isa, "%s", attn_simd_isa());
    m->peak_gflops_1t = measure_peak(1, isa);
    m->peak_gflops = threads > 1 ? measure_peak(threads, isa) : m->peak_gflops_1t;

    measure_bandwidth(threads, avx2, m);
}

static void bandwidth_child(void *ctx, void *out) {
    const bench_machine_t *in = ctx;
    bench_machine_t *m = out;
    *m = *in;
#ifdef BENCH_X86
    const int avx2 = have_avx2_fma();
#else
    const int avx2 = 0;
#endif
    measure_bandwidth(in->threads, avx2, m);
}

static void baseline_child(void *ctx, void *out) {
    (void)ctx;
    *(double *)out = bench_self_rss_mib();
}

int bench_measure_machine(int threads, bench_machine_t *m) {
    char err[256];
    memset(m, 0, sizeof *m);
    double load = bench_loadavg();
    if (bench_in_child(machine_child, &threads, m, sizeof *m, err, sizeof err) != 0) {
        fprintf(stderr, "attn bench: measuring the machine failed: %s\n", err);
        return -1;
    }
    double base = 0.0;
    if (bench_in_child(baseline_child, NULL, &base, sizeof base, err, sizeof err) == 0)
        m->baseline_rss_mib = base;
    m->load_start = load;
    return 0;
}

int bench_measure_bandwidth_again(bench_machine_t *m) {
    char err[256];
    bench_machine_t again;
    if (bench_in_child(bandwidth_child, m, &again, sizeof again, err, sizeof err) != 0) {
        fprintf(stderr, "attn bench: measuring the bandwidth again failed: %s\n", err);
        return -1;
    }
    m->read_gbs_end = again.read_gbs;
    return 0;
}
