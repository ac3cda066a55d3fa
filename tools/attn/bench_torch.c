/* attn bench: PyTorch, timed by tools/attn/bench_torch.py in a /usr/bin/python3 subprocess.
 *
 * The interpreter is ATTN_BENCH_PYTHON when set, else /usr/bin/python3 (Debian's, which has
 * python3-torch); the script is ATTN_BENCH_TORCH_SCRIPT when set, else the one in the source
 * tree this program was built from (ATTN_SOURCE_DIR). One process per case, so that its peak
 * resident memory is the case's (plus the interpreter and torch, reported by --probe). The
 * case goes to the script as JSON on its command line; it answers with one JSON line. */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ATTN_SOURCE_DIR
#  define ATTN_SOURCE_DIR "."
#endif

/* Runs python script arg with OMP_NUM_THREADS=threads; its stdout and stderr go to out
 * (NUL-terminated, truncated to size). Returns 0 when it exited with 0. */
static int run_script(const bench_torch_t *t, const char *arg, int threads, char *out,
                      size_t size) {
    int fd[2];
    out[0] = '\0';
    if (pipe(fd) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[1]);
        char n[16];
        snprintf(n, sizeof n, "%d", threads);
        setenv("OMP_NUM_THREADS", n, 1);
        execl(t->python, t->python, t->script, arg, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", t->python, strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t got = 0;
    char sink[4096];
    for (;;) {
        ssize_t r = got + 1 < size ? read(fd[0], out + got, size - 1 - got)
                                   : read(fd[0], sink, sizeof sink); /* drain the rest */
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (got + 1 < size) got += (size_t)r;
    }
    out[got] = '\0';
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The last line of text that starts with '{' (the script's answer), or NULL. */
static const char *answer_line(const char *text) {
    const char *best = NULL;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (*p == '{') best = p;
    return best;
}

/* The text after "key": in a flat JSON object, or NULL. */
static const char *json_value(const char *js, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = js ? strstr(js, pat) : NULL;
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    return p;
}

static int json_number(const char *js, const char *key, double *out) {
    const char *v = json_value(js, key);
    if (!v) return -1;
    char *end = NULL;
    double d = strtod(v, &end);
    if (end == v) return -1;
    *out = d;
    return 0;
}

/* A string value (without unescaping beyond \" and \\) or a raw {...} object, into out. */
static int json_text(const char *js, const char *key, char *out, size_t size) {
    const char *v = json_value(js, key);
    size_t n = 0;
    if (!v || size == 0) return -1;
    if (*v == '{') {
        const char *e = strchr(v, '}');
        if (!e) return -1;
        n = (size_t)(e - v + 1);
        if (n >= size) n = size - 1;
        memcpy(out, v, n);
    } else if (*v == '"') {
        for (v++; *v && *v != '"' && n + 1 < size; v++) {
            if (*v == '\\' && v[1]) v++;
            out[n++] = *v;
        }
    } else {
        return -1;
    }
    out[n] = '\0';
    return 0;
}

void bench_torch_probe(bench_torch_t *t, int threads) {
    memset(t, 0, sizeof t[0]);
    const char *py = getenv("ATTN_BENCH_PYTHON"), *script = getenv("ATTN_BENCH_TORCH_SCRIPT");
    snprintf(t->python, sizeof t->python, "%s", py && *py ? py : "/usr/bin/python3");
    if (script && *script)
        snprintf(t->script, sizeof t->script, "%s", script);
    else
        snprintf(t->script, sizeof t->script, "%s/tools/attn/bench_torch.py", ATTN_SOURCE_DIR);
    snprintf(t->backward_note, sizeof t->backward_note,
             "torch backward: out.backward(grad, retain_graph=True) alone, graph built before");
    if (access(t->python, X_OK) != 0) {
        snprintf(t->why, sizeof t->why, "%.250s not found", t->python);
        return;
    }
    if (access(t->script, R_OK) != 0) {
        snprintf(t->why, sizeof t->why,
                 "%.300s not found (set ATTN_BENCH_TORCH_SCRIPT to tools/attn/bench_torch.py)",
                 t->script);
        return;
    }
    char out[8192];
    int rc = run_script(t, "--probe", threads, out, sizeof out);
    const char *js = answer_line(out);
    const char *ok = json_value(js, "ok");
    if (rc != 0 || !ok || strncmp(ok, "true", 4) != 0) {
        char err[160] = "";
        if (json_text(js, "error", err, sizeof err) != 0)
            snprintf(err, sizeof err, "%.150s", out[0] ? out : "no output");
        err[strcspn(err, "\n")] = '\0';
        snprintf(t->why, sizeof t->why, "%.250s has no usable torch (%s)", t->python, err);
        return;
    }
    json_text(js, "torch", t->version, sizeof t->version);
    double kib = 0;
    if (json_number(js, "maxrss_kib", &kib) == 0) t->baseline_rss_mib = kib / 1024.0;
    t->available = 1;
}

void bench_torch_run(const bench_torch_t *t, const bench_case_t *c, int threads, double target_s,
                     bench_timing_t *out) {
    static const char *const kinds[] = {"fwd", "bwd", "dec"};
    memset(out, 0, sizeof *out);
    out->max_err = -1.0;
    char arg[512], text[16384];
    snprintf(arg, sizeof arg,
             "{\"name\": \"%s\", \"kind\": \"%s\", \"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, "
             "\"Nq\": %lld, \"Nk\": %lld, \"D\": %lld, \"Dv\": %lld, \"causal\": %d, "
             "\"threads\": %d, \"target_s\": %g}",
             c->name, kinds[c->kind], (long long)c->B, (long long)c->Hq, (long long)c->Hkv,
             (long long)c->Nq, (long long)c->Nk, (long long)c->D, (long long)c->Dv, c->causal,
             threads, target_s);
    int rc = run_script(t, arg, threads, text, sizeof text);
    const char *js = answer_line(text);
    const char *ok = json_value(js, "ok");
    if (rc != 0 || !ok || strncmp(ok, "true", 4) != 0) {
        char err[180] = "";
        if (json_text(js, "error", err, sizeof err) != 0) {
            /* No answer: the last line of what it printed (a traceback's last line, say). */
            size_t len = strlen(text);
            while (len > 0 && text[len - 1] == '\n') text[--len] = '\0';
            const char *last = strrchr(text, '\n');
            snprintf(err, sizeof err, "%.170s", last ? last + 1 : text[0] ? text : "no output");
        }
        out->status = BENCH_FAILED;
        snprintf(out->note, sizeof out->note, "torch: %s", err);
        return;
    }
    double reps = 0, kib = 0;
    char form[32] = "?", forms[160] = "";
    json_number(js, "median_ms", &out->median_ms);
    json_number(js, "min_ms", &out->min_ms);
    json_number(js, "max_ms", &out->max_ms);
    json_number(js, "reps", &reps);
    json_number(js, "maxrss_kib", &kib);
    json_text(js, "form", form, sizeof form);
    json_text(js, "forms", forms, sizeof forms);
    out->reps = (int)reps;
    out->rss_mib = kib / 1024.0;
    out->status = BENCH_RAN;
    snprintf(out->note, sizeof out->note, "%s; one run each: %s", form, forms);
}
