/* attn bench: what its files share.
 *
 *   cmd_bench.c     options, the order of the work, progress on stderr
 *   bench_machine.c the machine: FMA peak, memory bandwidth, threads, child processes, RSS
 *   bench_cases.c   the case list, inputs, the timing loop, attn's fused and reference kernels
 *   bench_naive.c   the naive OpenBLAS form (scores materialised per head)
 *   bench_torch.c   PyTorch through a /usr/bin/python3 subprocess running bench_torch.py
 *   bench_report.c  the tables on stdout and the --json file
 *
 * Every measurement runs in a forked child process, so its peak resident memory (ru_maxrss) is
 * its own and no thread pool of one implementation lingers while another is timed. The parent
 * never starts a thread. */
#ifndef ATTN_BENCH_H
#define ATTN_BENCH_H

#include "cli.h"
#include "core/half.h"

#include <stddef.h>
#include <stdint.h>

typedef enum bench_kind { BENCH_FWD = 0, BENCH_BWD = 1, BENCH_DEC = 2 } bench_kind_t;

/* The implementations, in the order they run within a case and appear in the table. */
typedef enum bench_impl {
    IMPL_FUSED = 0,  /* attn, params.kernel = ATTN_KERNEL_FUSED */
    IMPL_REF = 1,    /* attn, ATTN_KERNEL_REFERENCE (scalar, double) */
    IMPL_NAIVE = 2,  /* cblas_sgemm per head with the scores materialised */
    IMPL_TORCH = 3,  /* PyTorch, fastest of its forms */
    IMPL_COUNT = 4
} bench_impl_t;

extern const char *const bench_impl_names[IMPL_COUNT];

typedef struct bench_case {
    char name[64];     /* e.g. "fwd-n2048-d64-causal-f32"; what --cases matches */
    bench_kind_t kind;
    int64_t B, Hq, Hkv, Nq, Nk, D, Dv;
    int causal;        /* ATTN_CAUSAL_TOP_LEFT when set (Nq = Nk) */
    int f16;           /* K and V given to attn as fp16 (Q stays fp32) */
    int twin;          /* for an fp16 case: index of the fp32 case with the same shape, else -1 */
} bench_case_t;

typedef enum bench_status {
    BENCH_NOT_RUN = 0,   /* left out (--no-torch, torch missing, filtered) */
    BENCH_RAN = 1,
    BENCH_SKIPPED = 2,   /* deliberately not timed; note says why */
    BENCH_FAILED = 3     /* an error; note says what */
} bench_status_t;

/* One implementation on one case. Children send this through a pipe. */
typedef struct bench_timing {
    int status;            /* bench_status_t */
    int reps;              /* timed repetitions after the warm-up */
    double median_ms, min_ms, max_ms;
    double rss_mib;        /* peak resident memory of the process that ran it */
    double max_err;        /* naive only: max |naive - fused| of the outputs; < 0: unchecked */
    int borrowed;          /* copied from the fp32 twin case (fp16 cases: naive and torch) */
    char note[200];        /* why skipped / what failed / the torch form that won */
} bench_timing_t;

typedef struct bench_result {
    bench_case_t c;
    bench_timing_t t[IMPL_COUNT];
} bench_result_t;

typedef struct bench_machine {
    int threads;
    char cpu[96];
    char peak_isa[32];       /* the widest FMA the machine has ("AVX-512 FMA", "AVX2 FMA") or
                                the fallback used */
    double peak_gflops;      /* fp32 FMA peak over all threads, best of a few runs */
    double peak_gflops_1t;   /* the same on one thread */
    char kernel_isa[16];     /* attn_simd_isa(): what attn's kernels run with */
    double read_gbs;         /* streaming read over a buffer far larger than L3 */
    double read_gbs_end;     /* the same measured again after the cases (0: not measured) */
    double copy_gbs;         /* memcpy, counting bytes read plus bytes written */
    double buffer_mib;       /* the size of that buffer */
    double baseline_rss_mib; /* ru_maxrss of a child that does nothing: part of every RSS */
    double load_start, load_end; /* 1-minute load average before and after the run */
} bench_machine_t;

typedef struct bench_opts {
    const char *json;        /* --json FILE */
    const char *cases;       /* --cases FILTER */
    int quick, sweep, list, no_torch;
    long threads;            /* 0: attn_get_num_threads() */
    double target_s;         /* --time: seconds of timed runs per measurement */
} bench_opts_t;

/* ---- bench_machine.c ------------------------------------------------------------------- */
double bench_now(void); /* CLOCK_MONOTONIC seconds */
/* Runs fn(ctx, tid, nthreads) on nthreads pthreads (the caller is thread 0) and waits. */
void bench_parallel(int nthreads, void (*fn)(void *ctx, int tid, int nthreads), void *ctx);
/* Runs fn(ctx, out) in a forked child, which sends the size bytes of out back through a pipe;
 * the parent receives them in out. Returns 0, or -1 with err filled in (the child died). */
int bench_in_child(void (*fn)(void *ctx, void *out), void *ctx, void *out, size_t size,
                   char *err, size_t errsize);
double bench_self_rss_mib(void); /* ru_maxrss of the calling process in MiB */
double bench_loadavg(void);      /* 1-minute load average (/proc/loadavg), -1 if unknown */
/* Measures the machine (in a child). */
int bench_measure_machine(int threads, bench_machine_t *m);
/* Measures the streaming read bandwidth again (in a child) into m->read_gbs_end: on a shared
 * VM it can move by a factor of 1.5-2 within minutes, so the report shows both readings. */
int bench_measure_bandwidth_again(bench_machine_t *m);

/* ---- bench_cases.c --------------------------------------------------------------------- */
/* The cases to run: the default list, --quick's, or the sweep's; then --cases. Returns the
 * number, writes at most max into out. Tiny cases (for tests) exist only when the filter
 * names "tiny". */
int bench_make_cases(const bench_opts_t *o, bench_case_t *out, int max);
/* FlashAttention's count: 2*B*Hq*Nq*Nk*(D+Dv) forward (4*..*D when D = Dv), halved when
 * causal, times 2.5 for the backward. */
double bench_flops(const bench_case_t *c);
/* Bytes of K and V read once: B*Hkv*Nk*(D+Dv)*element size. */
double bench_kv_bytes(const bench_case_t *c);
/* Elements of the outputs compared between fused and naive: O, or dQ + dK + dV. */
size_t bench_check_elems(const bench_case_t *c);
/* Deterministic inputs in [-1, 1). */
void bench_fill(float *x, size_t n, uint64_t seed);
/* After a warm-up that took warm_s seconds: repeats step until about target_s has passed
 * (at least 3 times) and fills the timing. step returns 0 on success. */
int bench_time(int (*step)(void *ctx), void *ctx, double warm_s, double target_s,
               bench_timing_t *t);
void *bench_alloc(size_t bytes); /* 64-byte aligned, NULL on failure */

/* What a child gets: the case, the thread count, the target time and where the fused
 * outputs go (shared memory mapped before the fork) for the naive run to check against. */
typedef struct bench_job {
    const bench_case_t *c;
    int threads;
    double target_s;
    float *shared;     /* bench_check_elems floats, or NULL */
    int validate_only; /* naive: check against the fused outputs but do not time */
} bench_job_t;

/* attn with params.kernel = ATTN_KERNEL_FUSED or REFERENCE; fills a bench_timing_t. The fused
 * run writes its outputs into job->shared. */
void bench_child_attn_fused(void *job, void *out);
void bench_child_attn_reference(void *job, void *out);

/* ---- bench_naive.c --------------------------------------------------------------------- */
/* The naive OpenBLAS form; checks against job->shared after its warm-up. */
void bench_child_naive(void *job, void *out);
/* The largest |a - b|, NaN when either holds a NaN. */
double bench_max_abs_diff(const float *a, const float *b, size_t n);

/* ---- bench_torch.c --------------------------------------------------------------------- */
typedef struct bench_torch {
    int available;
    char version[32];
    char why[480];        /* when not available */
    char python[256], script[1024];
    double baseline_rss_mib; /* python after `import torch` */
    char backward_note[160];
} bench_torch_t;

void bench_torch_probe(bench_torch_t *t, int threads);
void bench_torch_run(const bench_torch_t *t, const bench_case_t *c, int threads, double target_s,
                     bench_timing_t *out);

/* ---- bench_report.c -------------------------------------------------------------------- */
void bench_print_header(FILE *f, const bench_machine_t *m, const bench_torch_t *t,
                        int no_torch);
void bench_print_case(FILE *f, const bench_machine_t *m, const bench_result_t *r);
void bench_print_summary(FILE *f, const bench_machine_t *m, const bench_result_t *r, int n);
void bench_print_sweep(FILE *f, const bench_machine_t *m, const bench_result_t *r, int n);
/* Writes FILE.tmp then renames it to FILE. Returns 0, or -1 after printing why. */
int bench_write_json(const char *path, const bench_machine_t *m, const bench_torch_t *t,
                     const bench_result_t *r, int n, int sweep);

#endif
