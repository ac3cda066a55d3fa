/* attn bench: the report. A header describing the machine and the implementations, a table per
 * case, a summary of the figures the acceptance criteria name, the sweep table, and --json. */
#include "bench.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const json_impl_names[IMPL_COUNT] = {"attn_fused", "attn_reference",
                                                        "naive_blas", "torch"};

static int ran(const bench_timing_t *t) {
    return t->status == BENCH_RAN && t->median_ms > 0;
}

/* FLOPs and K/V bytes as the implementation sees them: the naive form and torch read fp32. */
static double impl_bytes(const bench_case_t *c, int impl) {
    bench_case_t f = *c;
    if (impl == IMPL_NAIVE || impl == IMPL_TORCH) f.f16 = 0;
    return bench_kv_bytes(&f);
}

static double gflops(const bench_case_t *c, const bench_timing_t *t) {
    return bench_flops(c) / (t->median_ms * 1e-3) * 1e-9;
}

static double gbs(const bench_case_t *c, int impl, const bench_timing_t *t) {
    return impl_bytes(c, impl) / (t->median_ms * 1e-3) * 1e-9;
}

/* "torch (baddbmm)" from the note "baddbmm; one run each: ..." */
static void impl_label(const bench_result_t *r, int impl, char *out, size_t size) {
    const bench_timing_t *t = &r->t[impl];
    if (impl == IMPL_TORCH && ran(t)) {
        int len = (int)strcspn(t->note, ";");
        snprintf(out, size, "torch (%.*s)", len > 20 ? 20 : len, t->note);
    } else {
        snprintf(out, size, "%s", bench_impl_names[impl]);
    }
    if (t->borrowed && strlen(out) + 5 < size) strcat(out, " =f32");
}

void bench_print_header(FILE *f, const bench_machine_t *m, const bench_torch_t *t,
                        int no_torch) {
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&now));
    fprintf(f, "attn bench: libattn %s, %s, %d thread%s, %s\n\n", attn_version(), m->cpu,
            m->threads, m->threads == 1 ? "" : "s", date);
    fprintf(f, "Machine, measured now on %d thread%s:\n", m->threads, m->threads == 1 ? "" : "s");
    fprintf(f, "  fp32 FMA peak     %.1f GFLOP/s (%.1f on one thread), %s\n", m->peak_gflops,
            m->peak_gflops_1t, m->peak_isa);
    /* float lanes of the kernels' vectors and of the peak's (portable C and SSE: 4) */
    const int kernel_lanes = strcmp(m->kernel_isa, "avx512") == 0 ? 16
                             : strcmp(m->kernel_isa, "avx2") == 0 ? 8 : 4;
    const int peak_lanes = strncmp(m->peak_isa, "AVX-512", 7) == 0 ? 16
                           : strncmp(m->peak_isa, "AVX2", 4) == 0 ? 8 : 4;
    fprintf(f, "  attn kernels      %s (%s)%s\n", m->kernel_isa,
            kernel_lanes == 16 ? "16-float vectors" : kernel_lanes == 8 ? "8-float vectors"
                                                                        : "portable C",
            kernel_lanes < peak_lanes
                ? ": narrower than the peak's vectors (ATTN_ISA set?), so far below the peak"
                : "");
    fprintf(f, "  memory bandwidth  read %.1f GB/s, copy %.1f GB/s (bytes read + written), "
               "%.0f MiB buffer\n", m->read_gbs, m->copy_gbs, m->buffer_mib);
    fprintf(f, "  baseline RSS      %.1f MiB (this program before any case; part of every RSS "
               "below)\n", m->baseline_rss_mib);
    fprintf(f, "  load average      %.2f (1 minute, before measuring; other work on the machine "
               "disturbs the timings)\n\n", m->load_start);
    fprintf(f, "Implementations:\n");
    fprintf(f, "  attn fused        params.kernel = ATTN_KERNEL_FUSED\n");
    fprintf(f, "  attn reference    ATTN_KERNEL_REFERENCE (scalar, double); skipped (slow) past "
               "N=512 except decoding\n");
    fprintf(f, "  naive BLAS        %s; cblas_sgemm per head, N x N scores materialised, "
               "row softmax on %d threads;\n"
               "                    backward from the P its forward kept for every head\n",
            openblas_get_config(), m->threads);
    if (no_torch)
        fprintf(f, "  torch             left out\n");
    else if (!t->available)
        fprintf(f, "  torch             not available: %s\n", t->why);
    else
        fprintf(f, "  torch             %s via %s, %d threads, fastest of its forms (math, "
                   "baddbmm, sdpa where it has one);\n"
                   "                    backward timed alone (out.backward(grad, "
                   "retain_graph=True)); RSS includes %.0f MiB of python + torch\n",
                t->version, t->python, m->threads, t->baseline_rss_mib);
    fprintf(f, "  fp16 cases        attn reads K and V as fp16 (Q fp32); the naive form and torch "
               "run fp32 and their\n"
               "                    figures are the fp32 case's (marked =f32)\n");
    fprintf(f, "FLOPs: FlashAttention's count, forward 4*B*H*Nq*Nk*D, half when causal (the "
               "useful half), backward\n2.5x forward. %% peak is of the measured FMA peak; "
               "decoding reports K+V bytes read once\n(B*Hkv*Nk*(D+Dv)*element size) per second "
               "and %% of the measured read bandwidth.\n");
    fprintf(f, "Times: one warm-up run, then the median of R runs (R >= 3). vs X = X's time / "
               "this row's time.\n");
}

static void print_speedup(FILE *f, const bench_result_t *r, int impl, int other) {
    const bench_timing_t *a = &r->t[impl], *b = &r->t[other];
    if (impl == other || !ran(a) || !ran(b))
        fprintf(f, " %9s", "-");
    else
        fprintf(f, " %8.2fx", b->median_ms / a->median_ms);
}

void bench_print_case(FILE *f, const bench_machine_t *m, const bench_result_t *r) {
    const bench_case_t *c = &r->c;
    int dec = c->kind == BENCH_DEC;
    fprintf(f, "\n== %s: ", c->name);
    if (dec)
        fprintf(f, "decoding, B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld, K/V %s, "
                   "%.1f MiB of K+V\n", (long long)c->B, (long long)c->Hq, (long long)c->Hkv,
                (long long)c->Nq, (long long)c->Nk, (long long)c->D, c->f16 ? "fp16" : "fp32",
                bench_kv_bytes(c) / (1 << 20));
    else
        fprintf(f, "%s, B=%lld H=%lld N=%lld D=%lld, %s, K/V %s, %.2f GFLOP%s\n",
                c->kind == BENCH_FWD ? "forward" : "backward", (long long)c->B, (long long)c->Hq,
                (long long)c->Nq, (long long)c->D, c->causal ? "causal" : "not causal",
                c->f16 ? "fp16" : "fp32", bench_flops(c) * 1e-9,
                c->causal ? " (useful half)" : "");
    const double err = r->t[IMPL_NAIVE].max_err;
    if (err >= 0)
        fprintf(f, "   check: max |fused - naive| over %s = %.2e%s\n",
                c->kind == BENCH_BWD ? "dQ, dK, dV" : "O", err, err <= 1e-3 ? "" : "  FAILED");
    else if (err != err)
        fprintf(f, "   check: max |fused - naive| is NaN  FAILED\n");
    fprintf(f, "   %-22s %10s %8s %7s %9s %9s %9s %9s %6s\n", "implementation", "median ms",
            dec ? "GB/s" : "GFLOP/s", dec ? "% bw" : "% peak", "vs naive", "vs torch",
            "vs ref", "RSS MiB", "reps");
    for (int i = 0; i < IMPL_COUNT; i++) {
        const bench_timing_t *t = &r->t[i];
        char label[48];
        impl_label(r, i, label, sizeof label);
        if (!ran(t)) {
            if (t->status == BENCH_NOT_RUN && !t->note[0]) continue;
            fprintf(f, "   %-22s %s%s\n", label,
                    t->status == BENCH_FAILED ? "FAILED: " : "",
                    t->note[0] ? t->note : "not run");
            continue;
        }
        double rate = dec ? gbs(c, i, t) : gflops(c, t);
        double pct = dec ? (m->read_gbs > 0 ? 100.0 * rate / m->read_gbs : 0.0)
                         : (m->peak_gflops > 0 ? 100.0 * rate / m->peak_gflops : 0.0);
        fprintf(f, "   %-22s %10.3f %8.1f %6.1f%%", label, t->median_ms, rate, pct);
        print_speedup(f, r, i, IMPL_NAIVE);
        print_speedup(f, r, i, IMPL_TORCH);
        print_speedup(f, r, i, IMPL_REF);
        fprintf(f, " %9.1f %6d\n", t->rss_mib, t->reps);
    }
}

/* ---- summary ----------------------------------------------------------------------------- */

static void summary_line(FILE *f, const bench_machine_t *m, const bench_result_t *r) {
    const bench_timing_t *t = &r->t[IMPL_FUSED];
    if (!ran(t)) {
        fprintf(f, "  %-30s fused did not run\n", r->c.name);
        return;
    }
    double g = gflops(&r->c, t);
    fprintf(f, "  %-30s %9.3f ms %8.1f GFLOP/s %6.1f%% of peak\n", r->c.name, t->median_ms, g,
            m->peak_gflops > 0 ? 100.0 * g / m->peak_gflops : 0.0);
}

static void print_load(FILE *f, const bench_machine_t *m) {
    fprintf(f, "load average (1 minute): %.2f before, %.2f after%s\n", m->load_start, m->load_end,
            m->load_start > 0.5 || m->load_end > (double)m->threads + 0.5
                ? "; other work ran meanwhile, so the timings may be low"
                : "");
}

void bench_print_summary(FILE *f, const bench_machine_t *m, const bench_result_t *r, int n) {
    fprintf(f, "\n== Summary: attn fused against the measured peak %.1f GFLOP/s and read "
               "bandwidth %.1f GB/s ==\n", m->peak_gflops, m->read_gbs);
    static const char *const titles[] = {
        "forward, fp32, not causal, N >= 2048:", "forward, fp32, causal (useful half counted):",
        "backward, fp32 (2.5x forward FLOPs):"};
    for (int s = 0; s < 3; s++) {
        int shown = 0;
        for (int i = 0; i < n; i++) {
            const bench_case_t *c = &r[i].c;
            if (c->f16 || c->kind == BENCH_DEC || strncmp(c->name, "tiny", 4) == 0) continue;
            if (s == 0 && !(c->kind == BENCH_FWD && !c->causal && c->Nq >= 2048)) continue;
            if (s == 1 && !(c->kind == BENCH_FWD && c->causal)) continue;
            if (s == 2 && c->kind != BENCH_BWD) continue;
            if (!shown++) fprintf(f, "%s\n", titles[s]);
            summary_line(f, m, &r[i]);
        }
    }
    int shown = 0;
    for (int i = 0; i < n; i++) {
        const bench_case_t *c = &r[i].c;
        if (c->kind == BENCH_DEC || c->Nq != 2048 || c->f16) continue;
        if (!shown++)
            fprintf(f, "speed-up of attn fused at N=2048, fp32 (other's median / fused median):\n"
                       "  %-30s %10s %10s  %s\n", "case", "vs naive", "vs torch", "torch form");
        const bench_timing_t *fu = &r[i].t[IMPL_FUSED], *nv = &r[i].t[IMPL_NAIVE],
                             *to = &r[i].t[IMPL_TORCH];
        char a[16] = "-", b[16] = "-", form[24] = "-";
        if (ran(fu) && ran(nv)) snprintf(a, sizeof a, "%.2fx", nv->median_ms / fu->median_ms);
        if (ran(fu) && ran(to)) {
            snprintf(b, sizeof b, "%.2fx", to->median_ms / fu->median_ms);
            snprintf(form, sizeof form, "%.*s", (int)strcspn(to->note, ";"), to->note);
        }
        fprintf(f, "  %-30s %10s %10s  %s\n", c->name, a, b, form);
    }
    shown = 0;
    for (int i = 0; i < n; i++) {
        const bench_case_t *c = &r[i].c;
        const bench_timing_t *t = &r[i].t[IMPL_FUSED];
        if (c->kind != BENCH_DEC) continue;
        if (!shown++) {
            fprintf(f, "decoding (K+V read once per step):\n");
            if (m->read_gbs_end > 0)
                fprintf(f, "  (read bandwidth %.1f GB/s before the cases, %.1f GB/s after them: "
                           "%% of each)\n", m->read_gbs, m->read_gbs_end);
        }
        if (!ran(t)) {
            fprintf(f, "  %-30s fused did not run\n", c->name);
            continue;
        }
        double g = gbs(c, IMPL_FUSED, t);
        fprintf(f, "  %-30s %9.3f ms %8.1f GB/s %6.1f%% of read bandwidth", c->name,
                t->median_ms, g, m->read_gbs > 0 ? 100.0 * g / m->read_gbs : 0.0);
        if (m->read_gbs_end > 0) fprintf(f, ", %5.1f%% after", 100.0 * g / m->read_gbs_end);
        fputc('\n', f);
    }
    print_load(f, m);
}

void bench_print_sweep(FILE *f, const bench_machine_t *m, const bench_result_t *r, int n) {
    fprintf(f, "\n== Sweep: attn fused forward, B=1 H=8, not causal, fp32; peak %.1f GFLOP/s ==\n",
            m->peak_gflops);
    fprintf(f, "  %-5s %7s %11s %9s %7s %9s %18s %6s\n", "D", "N", "median ms", "GFLOP/s",
            "% peak", "RSS MiB", "(RSS-base)/N KiB", "reps");
    for (int i = 0; i < n; i++) {
        const bench_case_t *c = &r[i].c;
        const bench_timing_t *t = &r[i].t[IMPL_FUSED];
        if (!ran(t)) {
            fprintf(f, "  %-5lld %7lld  FAILED: %s\n", (long long)c->D, (long long)c->Nq, t->note);
            continue;
        }
        double g = gflops(c, t);
        fprintf(f, "  %-5lld %7lld %11.3f %9.1f %6.1f%% %9.1f %18.2f %6d\n", (long long)c->D,
                (long long)c->Nq, t->median_ms, g, 100.0 * g / m->peak_gflops, t->rss_mib,
                (t->rss_mib - m->baseline_rss_mib) * 1024.0 / (double)c->Nq, t->reps);
    }
    print_load(f, m);
}

/* ---- JSON ------------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double x) {
    if (x == x && fabs(x) < 1e300)
        fprintf(f, "%.10g", x);
    else
        fputs("null", f);
}

static void json_timing(FILE *f, const bench_machine_t *m, const bench_result_t *r, int impl) {
    static const char *const status[] = {"not run", "ran", "skipped", "failed"};
    const bench_case_t *c = &r->c;
    const bench_timing_t *t = &r->t[impl];
    fprintf(f, "{\"status\": \"%s\", \"note\": ", status[t->status & 3]);
    json_string(f, t->note);
    fprintf(f, ", \"borrowed_from_fp32\": %s", t->borrowed ? "true" : "false");
    if (ran(t)) {
        double g = gflops(c, t), b = gbs(c, impl, t);
        fprintf(f, ", \"median_ms\": ");
        json_num(f, t->median_ms);
        fprintf(f, ", \"min_ms\": ");
        json_num(f, t->min_ms);
        fprintf(f, ", \"max_ms\": ");
        json_num(f, t->max_ms);
        fprintf(f, ", \"reps\": %d, \"gflops\": ", t->reps);
        json_num(f, g);
        fprintf(f, ", \"pct_peak\": ");
        json_num(f, m->peak_gflops > 0 ? 100.0 * g / m->peak_gflops : NAN);
        fprintf(f, ", \"kv_gbs\": ");
        json_num(f, b);
        fprintf(f, ", \"pct_bandwidth\": ");
        json_num(f, m->read_gbs > 0 ? 100.0 * b / m->read_gbs : NAN);
        fprintf(f, ", \"peak_rss_mib\": ");
        json_num(f, t->rss_mib);
        fprintf(f, ", \"speedup_vs\": {");
        int first = 1;
        for (int o = 0; o < IMPL_COUNT; o++) {
            if (o == impl || !ran(&r->t[o])) continue;
            fprintf(f, "%s\"%s\": ", first ? "" : ", ", json_impl_names[o]);
            json_num(f, r->t[o].median_ms / t->median_ms);
            first = 0;
        }
        fputc('}', f);
    }
    fputc('}', f);
}

int bench_write_json(const char *path, const bench_machine_t *m, const bench_torch_t *t,
                     const bench_result_t *r, int n, int sweep) {
    static const char *const kinds[] = {"forward", "backward", "decoding"};
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "attn bench: cannot write %s: ", tmp);
        perror(NULL);
        return -1;
    }
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "{\n  \"attn_version\": \"%s\",\n  \"date\": \"%s\",\n  \"mode\": \"%s\",\n",
            attn_version(), date, sweep ? "sweep" : "cases");
    fprintf(f, "  \"machine\": {\"cpu\": ");
    json_string(f, m->cpu);
    fprintf(f, ", \"threads\": %d, \"peak_isa\": ", m->threads);
    json_string(f, m->peak_isa);
    fprintf(f, ", \"peak_gflops\": ");
    json_num(f, m->peak_gflops);
    fprintf(f, ", \"peak_gflops_1thread\": ");
    json_num(f, m->peak_gflops_1t);
    fprintf(f, ", \"kernel_isa\": ");
    json_string(f, m->kernel_isa);
    fprintf(f, ", \"read_gbs\": ");
    json_num(f, m->read_gbs);
    fprintf(f, ", \"read_gbs_after\": ");
    json_num(f, m->read_gbs_end > 0 ? m->read_gbs_end : NAN);
    fprintf(f, ", \"copy_gbs\": ");
    json_num(f, m->copy_gbs);
    fprintf(f, ", \"bandwidth_buffer_mib\": ");
    json_num(f, m->buffer_mib);
    fprintf(f, ", \"baseline_rss_mib\": ");
    json_num(f, m->baseline_rss_mib);
    fprintf(f, ", \"load_average_before\": ");
    json_num(f, m->load_start);
    fprintf(f, ", \"load_average_after\": ");
    json_num(f, m->load_end);
    fprintf(f, "},\n  \"openblas\": ");
    json_string(f, openblas_get_config());
    fprintf(f, ",\n  \"torch\": {\"available\": %s, \"version\": ",
            t->available ? "true" : "false");
    json_string(f, t->version);
    fprintf(f, ", \"why_not\": ");
    json_string(f, t->why);
    fprintf(f, ", \"baseline_rss_mib\": ");
    json_num(f, t->baseline_rss_mib);
    fprintf(f, ", \"backward\": \"out.backward(grad, retain_graph=True) alone\"},\n");
    fprintf(f, "  \"flops\": \"forward 2*B*Hq*Nq*Nk*(D+Dv), half when causal; backward 2.5x\",\n");
    fprintf(f, "  \"cases\": [");
    for (int i = 0; i < n; i++) {
        const bench_case_t *c = &r[i].c;
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        json_string(f, c->name);
        fprintf(f, ", \"kind\": \"%s\", \"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, \"Nq\": %lld, "
                   "\"Nk\": %lld, \"D\": %lld, \"Dv\": %lld, \"causal\": %s, \"kv_dtype\": \"%s\", "
                   "\"flops\": ", kinds[c->kind], (long long)c->B, (long long)c->Hq,
                (long long)c->Hkv, (long long)c->Nq, (long long)c->Nk, (long long)c->D,
                (long long)c->Dv, c->causal ? "true" : "false", c->f16 ? "f16" : "f32");
        json_num(f, bench_flops(c));
        fprintf(f, ", \"kv_bytes\": ");
        json_num(f, bench_kv_bytes(c));
        fprintf(f, ", \"max_abs_err_fused_vs_naive\": ");
        json_num(f, r[i].t[IMPL_NAIVE].max_err >= 0 ? r[i].t[IMPL_NAIVE].max_err : NAN);
        fprintf(f, ",\n     \"impls\": {");
        for (int k = 0; k < IMPL_COUNT; k++) {
            fprintf(f, "%s\n       \"%s\": ", k ? "," : "", json_impl_names[k]);
            json_timing(f, m, &r[i], k);
        }
        fprintf(f, "}}");
    }
    fprintf(f, "\n  ]\n}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "attn bench: writing %s failed\n", tmp);
        remove(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "attn bench: cannot rename %s to %s: ", tmp, path);
        perror(NULL);
        remove(tmp);
        return -1;
    }
    return 0;
}
