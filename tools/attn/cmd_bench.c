/* attn bench: measures the machine, then times attn's kernels against the naive OpenBLAS form
 * and PyTorch on a list of cases, and prints (and with --json writes) the results. This file
 * holds the options and the order of the work; bench.h lists the rest. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char cli_bench_usage[] =
    "Usage: attn bench [--quick | --sweep] [--cases=FILTER] [--threads=N] [--no-torch]\n"
    "                  [--time=SECONDS] [--json=FILE] [--list]\n"
    "\n"
    "Measures this machine's fp32 FMA peak and memory bandwidth, then times every case with\n"
    "attn's fused kernel, attn's reference kernel, the naive OpenBLAS form (cblas_sgemm per\n"
    "head with the scores materialised) and PyTorch (when /usr/bin/python3 has torch), and\n"
    "prints per case: median ms, GFLOP/s, % of the measured peak (GB/s and % of the measured\n"
    "bandwidth for decoding), the speed-up against each alternative and the peak resident\n"
    "memory of the process that ran it. Each implementation runs in its own child process.\n"
    "Before timing, the fused outputs are checked against the naive form's (exit 1 when they\n"
    "differ by more than 1e-3). The default list takes several minutes.\n"
    "\n"
    "Cases: B=1, H=8, D 64 and 128, N 512, 2048 and 8192, causal or not, forward and backward,\n"
    "K/V fp32 or fp16; decoding: one query per head, Hq=8 with Hkv 8 or 2, D=128, caches of\n"
    "4096, 16384 and 65536 keys. FLOPs as FlashAttention counts them: forward 4*B*H*Nq*Nk*D\n"
    "(half when causal), backward 2.5 times the forward.\n"
    "\n"
    "Options:\n"
    "  --quick          a few cases for a smoke run: N=2048 D=64 forward and backward, causal and\n"
    "                   not, and one decoding case\n"
    "  --sweep          attn fused forward for N = 1024 .. 32768 (D 64 and 128): GFLOP/s and\n"
    "                   peak RSS, to see both hold steady and grow linearly\n"
    "  --cases=FILTER   only the cases whose name holds every comma-separated term, as in\n"
    "                   --cases=fwd,n2048; '|' separates alternatives, as in\n"
    "                   --cases='n2048,f32|nk65536' ('attn bench --list' shows the names)\n"
    "  --threads=N      threads for attn, OpenBLAS, torch and the peak (default:\n"
    "                   ATTN_NUM_THREADS, else all cores)\n"
    "  --no-torch       leave PyTorch out\n"
    "  --time=SECONDS   timed runs per measurement, about this long, at least 3 (default 1)\n"
    "  --json=FILE      also write the results as JSON to FILE\n"
    "  --list           print the names of the cases that would run, and stop\n"
    "\n"
    "Environment: ATTN_BENCH_PYTHON (default /usr/bin/python3) and ATTN_BENCH_TORCH_SCRIPT\n"
    "(default: tools/attn/bench_torch.py of the source tree) choose the PyTorch runner.\n";

static int parse_options(int argc, char **argv, bench_opts_t *o) {
    static const char *const names[] = {"--quick",  "--sweep", "--cases", "--threads", "--no-torch",
                                        "--time",   "--json",  "--list",  NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int r;
        if (strcmp(a, "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(a, "--sweep") == 0) {
            o->sweep = 1;
        } else if (strcmp(a, "--no-torch") == 0) {
            o->no_torch = 1;
        } else if (strcmp(a, "--list") == 0) {
            o->list = 1;
        } else if ((r = cli_option_value("bench", argc, argv, &i, "--cases", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (!*val || strlen(val) > 200)
                return cli_usage_error("bench", "--cases needs a filter such as fwd,n2048");
            o->cases = val;
        } else if ((r = cli_option_value("bench", argc, argv, &i, "--threads", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (cli_parse_int(val, 1, 256, &o->threads) != 0)
                return cli_usage_error("bench", "--threads must be a whole number from 1 to 256, "
                                                "not '%s'", val);
        } else if ((r = cli_option_value("bench", argc, argv, &i, "--time", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            char *end = NULL;
            double s = strtod(val, &end);
            if (!*val || !end || *end || !(s >= 0.001 && s <= 600))
                return cli_usage_error("bench", "--time must be seconds from 0.001 to 600, "
                                                "not '%s'", val);
            o->target_s = s;
        } else if ((r = cli_option_value("bench", argc, argv, &i, "--json", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (!*val) return cli_usage_error("bench", "--json needs a file name");
            o->json = val;
        } else if (a[0] == '-') {
            char name[64];
            size_t n = strcspn(a, "=");
            if (n >= sizeof name) n = sizeof name - 1;
            memcpy(name, a, n);
            name[n] = '\0';
            const char *guess = cli_closest(name, names);
            if (guess)
                return cli_usage_error("bench", "unknown option '%s'; did you mean '%s'?", a,
                                       guess);
            return cli_usage_error("bench", "unknown option '%s'", a);
        } else {
            return cli_usage_error("bench", "takes no arguments besides options, got '%s'", a);
        }
    }
    if (o->quick && o->sweep)
        return cli_usage_error("bench", "--quick and --sweep are different lists; pick one");
    return CLI_EXIT_OK;
}

/* ---- progress on stderr ------------------------------------------------------------------ */

typedef struct progress {
    double start, done, total; /* work units: 1 + GFLOPs of a case */
    int tty, n;
} bench_progress_t;

static double case_weight(const bench_case_t *c) {
    return 1.0 + bench_flops(c) * 1e-9 / 20.0;
}

static void fmt_secs(char *out, size_t size, double s) {
    if (s < 60)
        snprintf(out, size, "%.0fs", s);
    else
        snprintf(out, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void progress_show(const bench_progress_t *p, int i, const bench_case_t *c,
                          const char *what) {
    double el = bench_now() - p->start;
    char e[32], left[48] = "";
    fmt_secs(e, sizeof e, el);
    if (p->done > 0 && el > 5) {
        char l[32];
        fmt_secs(l, sizeof l, el / p->done * (p->total - p->done));
        snprintf(left, sizeof left, ", about %s left", l);
    }
    fprintf(stderr, "%s[%d/%d] %s: %s (%s elapsed%s)%s", p->tty ? "\r\033[K" : "", i + 1, p->n,
            c->name, what, e, left, p->tty ? "" : "\n");
    fflush(stderr);
}

/* ---- one case -------------------------------------------------------------------------- */

static void run_child(void (*fn)(void *, void *), bench_job_t *job, bench_timing_t *t) {
    char err[200];
    if (bench_in_child(fn, job, t, sizeof *t, err, sizeof err) != 0) {
        memset(t, 0, sizeof *t);
        t->max_err = -1.0;
        t->status = BENCH_FAILED;
        snprintf(t->note, sizeof t->note, "%s", err);
    }
}

static void not_run(bench_timing_t *t, const char *why) {
    memset(t, 0, sizeof *t);
    t->max_err = -1.0;
    t->status = BENCH_NOT_RUN;
    snprintf(t->note, sizeof t->note, "%.190s", why);
}

static void run_case(const bench_opts_t *o, int threads, const bench_torch_t *torch,
                     bench_result_t *all, int i, bench_progress_t *pg) {
    bench_result_t *r = &all[i];
    const bench_case_t *c = &r->c;
    const bench_result_t *twin = c->twin >= 0 ? &all[c->twin] : NULL;
    size_t shared_bytes = bench_check_elems(c) * sizeof(float);
    float *shared = NULL;
    if (!o->sweep) {
        void *m = mmap(NULL, shared_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                       -1, 0);
        shared = m == MAP_FAILED ? NULL : m;
    }
    bench_job_t job = {c, threads, o->target_s, shared, 0};

    progress_show(pg, i, c, "attn fused");
    run_child(bench_child_attn_fused, &job, &r->t[IMPL_FUSED]);
    int fused_ok = r->t[IMPL_FUSED].status == BENCH_RAN;

    if (o->sweep) {
        not_run(&r->t[IMPL_REF], "");
    } else if (c->kind != BENCH_DEC && c->Nq > 512) {
        not_run(&r->t[IMPL_REF], "skipped (slow)");
        r->t[IMPL_REF].status = BENCH_SKIPPED;
    } else {
        progress_show(pg, i, c, "attn reference");
        run_child(bench_child_attn_reference, &job, &r->t[IMPL_REF]);
    }

    if (o->sweep) {
        not_run(&r->t[IMPL_NAIVE], "");
    } else {
        job.shared = fused_ok ? shared : NULL;
        job.validate_only = twin && twin->t[IMPL_NAIVE].status == BENCH_RAN;
        progress_show(pg, i, c, job.validate_only ? "naive BLAS (check only)" : "naive BLAS");
        run_child(bench_child_naive, &job, &r->t[IMPL_NAIVE]);
        bench_timing_t *t = &r->t[IMPL_NAIVE];
        if (job.validate_only && t->status == BENCH_SKIPPED) {
            double err = t->max_err;
            *t = twin->t[IMPL_NAIVE];
            t->max_err = err;
            t->borrowed = 1;
        }
    }

    if (o->sweep) {
        not_run(&r->t[IMPL_TORCH], "");
    } else if (o->no_torch) {
        not_run(&r->t[IMPL_TORCH], "--no-torch");
    } else if (!torch->available) {
        not_run(&r->t[IMPL_TORCH], "not available (see the header)");
    } else if (twin && twin->t[IMPL_TORCH].status == BENCH_RAN) {
        r->t[IMPL_TORCH] = twin->t[IMPL_TORCH];
        r->t[IMPL_TORCH].borrowed = 1;
    } else {
        progress_show(pg, i, c, "torch");
        bench_torch_run(torch, c, threads, o->target_s, &r->t[IMPL_TORCH]);
    }
    if (shared) munmap(shared, shared_bytes);
    pg->done += case_weight(c);
}

/* ---- the command ----------------------------------------------------------------------- */

int cli_cmd_bench(int argc, char **argv) {
    bench_opts_t o;
    memset(&o, 0, sizeof o);
    o.target_s = 1.0;
    int rc = parse_options(argc, argv, &o);
    if (rc != CLI_EXIT_OK) return rc;
    if (o.threads > 0) attn_set_num_threads((int32_t)o.threads);
    int threads = (int)attn_get_num_threads();
    if (threads > 256) threads = 256;

    enum { MAXCASES = 256 };
    bench_case_t cases[MAXCASES];
    int n = bench_make_cases(&o, cases, MAXCASES);
    if (n > MAXCASES) n = MAXCASES;
    if (n == 0)
        return cli_usage_error("bench", "no case matches --cases=%s; 'attn bench --list' shows "
                                        "the names", o.cases ? o.cases : "");
    if (o.list) {
        for (int i = 0; i < n; i++) printf("%s\n", cases[i].name);
        return CLI_EXIT_OK;
    }

    bench_machine_t machine;
    fprintf(stderr, "attn bench: measuring the FMA peak and memory bandwidth on %d thread%s...\n",
            threads, threads == 1 ? "" : "s");
    if (bench_measure_machine(threads, &machine) != 0) return CLI_EXIT_FAILED;
    bench_torch_t torch;
    memset(&torch, 0, sizeof torch);
    if (!o.no_torch && !o.sweep) {
        fprintf(stderr, "attn bench: looking for PyTorch...\n");
        bench_torch_probe(&torch, threads);
        if (!torch.available) fprintf(stderr, "attn bench: note: no PyTorch: %s\n", torch.why);
    }
    bench_print_header(stdout, &machine, &torch, o.no_torch || o.sweep);

    bench_result_t *res = calloc((size_t)n, sizeof *res);
    if (!res) {
        fprintf(stderr, "attn bench: out of memory\n");
        return CLI_EXIT_FAILED;
    }
    bench_progress_t pg = {bench_now(), 0.0, 0.0, isatty(2), n};
    for (int i = 0; i < n; i++) pg.total += case_weight(&cases[i]);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        res[i].c = cases[i];
        run_case(&o, threads, &torch, res, i, &pg);
        if (pg.tty) fputs("\r\033[K", stderr);
        if (!o.sweep) bench_print_case(stdout, &machine, &res[i]);
        fflush(stdout);
        const bench_timing_t *f = &res[i].t[IMPL_FUSED], *nv = &res[i].t[IMPL_NAIVE];
        if (f->status == BENCH_FAILED || (nv->status == BENCH_FAILED && nv->max_err != -1.0)) {
            fprintf(stderr, "attn bench: %s: %s\n", cases[i].name,
                    f->status == BENCH_FAILED ? f->note : nv->note);
            failed = 1;
        }
    }
    char total[32];
    fmt_secs(total, sizeof total, bench_now() - pg.start);
    fprintf(stderr, "attn bench: %d case%s in %s\n", n, n == 1 ? "" : "s", total);
    machine.load_end = bench_loadavg();
    int decoding = 0;
    for (int i = 0; i < n; i++) decoding |= cases[i].kind == BENCH_DEC;
    if (decoding && !o.sweep) {
        fprintf(stderr, "attn bench: measuring the memory bandwidth again...\n");
        bench_measure_bandwidth_again(&machine);
    }
    if (o.sweep)
        bench_print_sweep(stdout, &machine, res, n);
    else
        bench_print_summary(stdout, &machine, res, n);
    if (o.json && bench_write_json(o.json, &machine, &torch, res, n, o.sweep) != 0) failed = 1;
    free(res);
    if (failed) {
        fprintf(stderr, "attn bench: FAILED: see the messages above\n");
        return CLI_EXIT_FAILED;
    }
    return CLI_EXIT_OK;
}
