/* attn bench-train: tokens per second of training steps of the sequence-to-sequence models,
 * attn against the same model in PyTorch (tools/attn/bench_train_torch.py) with the same
 * thread count and the same batch shapes. A benchmark, never a test.
 *
 * Data are synthetic pairs with G2P-like lengths (sources of 4 to 11 letters, targets about
 * one shorter, vocabularies of 32 letters and 44 phonemes); the ids do not matter for speed,
 * the shapes and the padding do, so both sides train on batches of identical shapes. */
#include "cli.h"
#include "progress.h"

#include "io/json.h"
#include "models/config.h"
#include "models/train.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ATTN_SOURCE_DIR
#  define ATTN_SOURCE_DIR "."
#endif

const char cli_bench_train_usage[] =
    "Usage: attn bench-train [options]\n"
    "\n"
    "Times training steps (forward, loss, backward, clipping, AdamW) of the sequence-to-\n"
    "sequence models on synthetic batches with G2P-like lengths, in attn and in PyTorch with\n"
    "the same thread count and batch shapes, and prints tokens per second and the speed-up.\n"
    "\n"
    "Options:\n"
    "  --model=KIND        transformer (default), rnn-attention, rnn or all\n"
    "  --threads=N         threads for attn, OpenBLAS and PyTorch (default: all cores)\n"
    "  --batch-tokens=N    padded tokens per batch (default 3000)\n"
    "  --steps=N           timed steps after 3 warm-up steps (default 20)\n"
    "  --d-model=N --layers=N --heads=N --ff=N --hidden=N   model size (default: the\n"
    "                      Transformer 3+3 layers, width 256, 4 heads, ff 1024; RNN hidden 256)\n"
    "  --matmul-precision=P  attn's products: highest (fp32, default) or medium (bf16\n"
    "                      operands on AMX-BF16 or AVX512-BF16 CPUs; PyTorch's stay fp32)\n"
    "  --no-torch          time attn only\n"
    "  --json=FILE         also write the results as JSON\n";

enum { WARMUP = 3, NPAIRS = 20000, SRC_VOCAB = 32, TGT_VOCAB = 44 };

typedef struct {
    const char *kind;
    double attn_tps, torch_tps;
    int64_t params;
    char note[160];
} result_t;

static void make_pairs(attn__pairs_t *p) {
    p->n = NPAIRS;
    p->src_off = malloc(sizeof(int64_t) * (NPAIRS + 1));
    p->tgt_off = malloc(sizeof(int64_t) * (NPAIRS + 1));
    p->src = malloc(sizeof(int32_t) * NPAIRS * 12);
    p->tgt = malloc(sizeof(int32_t) * NPAIRS * 12);
    uint64_t x = 88172645463325252ull;
    p->src_off[0] = p->tgt_off[0] = 0;
    for (int64_t i = 0; i < NPAIRS; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int64_t s = 4 + (int64_t)(x % 8), t = s - 1 + (int64_t)((x >> 8) % 3) - 1;
        if (t < 1) t = 1;
        for (int64_t j = 0; j < s; j++) p->src[p->src_off[i] + j] = 4 + (int32_t)((x >> (j + 16)) % (SRC_VOCAB - 4));
        for (int64_t j = 0; j < t; j++) p->tgt[p->tgt_off[i] + j] = 4 + (int32_t)((x >> (j + 24)) % (TGT_VOCAB - 4));
        p->src_off[i + 1] = p->src_off[i] + s;
        p->tgt_off[i + 1] = p->tgt_off[i] + t;
    }
}

/* Times attn; writes the batches' lengths as the JSON job for PyTorch into job. */
static int time_attn(const attn__s2s_config_t *cfg, const attn__pairs_t *pairs, int64_t tokens,
                     int64_t steps, int threads, result_t *r, char **job) {
    attn__s2s_t *m = NULL;
    attn_status_t st = attn__s2s_create(cfg, 1, &m);
    if (st != ATTN_STATUS_OK) {
        snprintf(r->note, sizeof r->note, "attn: %s", attn_last_error());
        return 0;
    }
    r->params = 0;
    for (int32_t i = 0; i < m->params.count; i++) r->params += m->params.list[i].numel;
    attn__trainer_opts_t o;
    memset(&o, 0, sizeof o);
    o.batching = attn__batching_default_opts();
    o.batching.max_tokens = tokens;
    o.adamw = attn__adamw_default_opts();
    o.schedule.kind = ATTN__LR_CONSTANT;
    o.schedule.lr = 1e-3;
    o.label_smoothing = 0.1f;
    o.clip = 1.0;
    o.seed = 1;
    attn__trainer_t tr;
    if ((st = attn__trainer_init(&tr, m, pairs, o)) != ATTN_STATUS_OK) {
        snprintf(r->note, sizeof r->note, "attn: %s", attn_last_error());
        attn__s2s_destroy(m);
        return 0;
    }
    size_t cap = 1 << 20, len = 0;
    char *j = malloc(cap);
    char *cfgjson = attn__s2s_config_to_json(cfg);
    len += (size_t)snprintf(j + len, cap - len,
                            "{\"threads\": %d, \"warmup\": %d, \"lr\": 1e-3, "
                            "\"label_smoothing\": 0.1, \"clip\": 1.0, \"model\": %s, "
                            "\"batches\": [", threads, WARMUP, cfgjson);
    free(cfgjson);
    double seconds = 0.0;
    int64_t tok = 0;
    progress_t pg;
    progress_begin(&pg, cfg->kind, "steps", WARMUP + steps);
    for (int64_t s = 0; s < WARMUP + steps && st == ATTN_STATUS_OK; s++) {
        double t0 = progress_now();
        st = attn__trainer_step(&tr);
        double dt = progress_now() - t0;
        if (st != ATTN_STATUS_OK) break;
        /* the trainer's padded batch buffers hold this step's lengths */
        len += (size_t)snprintf(j + len, cap - len, "%s{\"src_len\": [", s ? ", " : "");
        for (int64_t i = 0; i < tr.pairs && len + 64 < cap; i++)
            len += (size_t)snprintf(j + len, cap - len, "%s%lld", i ? "," : "",
                                    (long long)tr.buf.src_len[i]);
        len += (size_t)snprintf(j + len, cap - len, "], \"tgt_len\": [");
        for (int64_t i = 0; i < tr.pairs && len + 64 < cap; i++)
            len += (size_t)snprintf(j + len, cap - len, "%s%lld", i ? "," : "",
                                    (long long)tr.buf.tgt_len[i]);
        len += (size_t)snprintf(j + len, cap - len, "]}");
        if (s >= WARMUP) {
            seconds += dt;
            tok += tr.tokens;
        }
        char note[64];
        snprintf(note, sizeof note, "loss %.3f", tr.loss);
        progress_update(&pg, s + 1, note);
    }
    progress_end(&pg, WARMUP + steps, NULL);
    snprintf(j + len, cap - len, "]}");
    attn__trainer_free(&tr);
    attn__s2s_destroy(m);
    if (st != ATTN_STATUS_OK) {
        snprintf(r->note, sizeof r->note, "attn: %s", attn_last_error());
        free(j);
        return 0;
    }
    r->attn_tps = seconds > 0 ? (double)tok / seconds : 0.0;
    *job = j;
    return 1;
}

/* Runs the PyTorch script with the job on its stdin; reads its JSON line. */
static void time_torch(const char *job, result_t *r) {
    char script[600];
    const char *env = getenv("ATTN_BENCH_TRAIN_TORCH_SCRIPT");
    snprintf(script, sizeof script, "%s", env ? env : ATTN_SOURCE_DIR "/tools/attn/bench_train_torch.py");
    if (access("/usr/bin/python3", X_OK) != 0 || access(script, R_OK) != 0) {
        snprintf(r->note, sizeof r->note, "PyTorch not timed: /usr/bin/python3 or %.100s missing",
                 script);
        return;
    }
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/usr/bin/python3", "python3", script, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    size_t n = strlen(job), off = 0;
    while (off < n) {
        ssize_t w = write(in[1], job + off, n - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(in[1]);
    char buf[65536];
    size_t got = 0;
    for (ssize_t k; got + 1 < sizeof buf && (k = read(out[0], buf + got, sizeof buf - 1 - got)) > 0;)
        got += (size_t)k;
    buf[got] = '\0';
    close(out[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(r->note, sizeof r->note, "PyTorch run failed (see its message above)");
        return;
    }
    /* {"torch": "...", "seconds": [..], "tokens": [..]} */
    attn__jr_t jr;
    if (attn__jr_init(&jr, buf, got) != ATTN_STATUS_OK) return;
    attn__json_str_t key;
    double sec = 0.0, tok = 0.0;
    if (attn__jr_begin_object(&jr))
        while (attn__jr_next_member(&jr, &key)) {
            int which = !strcmp(key.s, "seconds") ? 1 : !strcmp(key.s, "tokens") ? 2 : 0;
            if (!which) { attn__jr_skip(&jr); continue; }
            if (!attn__jr_begin_array(&jr)) break;
            while (attn__jr_next_element(&jr)) {
                size_t p = attn__jr_pos(&jr);
                char num[64];
                size_t k = 0;
                while (p + k < got && k < 63 && strchr("0123456789.eE+-", buf[p + k])) {
                    num[k] = buf[p + k];
                    k++;
                }
                num[k] = '\0';
                attn__jr_skip(&jr);
                if (which == 1) sec += strtod(num, NULL);
                else tok += strtod(num, NULL);
            }
        }
    attn__jr_free(&jr);
    r->torch_tps = sec > 0 ? tok / sec : 0.0;
}

int cli_cmd_bench_train(int argc, char **argv) {
    const char *cmd = "bench-train", *kind = "transformer", *json = NULL, *v;
    long threads = 0, tokens = 3000, steps = 20, d_model = 256, layers = 3, heads = 4, ff = 1024,
         hidden = 256;
    int torch = 1;
    for (int i = 1; i < argc; i++) {
        int r;
        struct { const char *name; long *dst; long lo, hi; } ints[] = {
            {"--threads", &threads, 1, 256},     {"--batch-tokens", &tokens, 64, 1 << 20},
            {"--steps", &steps, 1, 100000},      {"--d-model", &d_model, 8, 4096},
            {"--layers", &layers, 1, 24},        {"--heads", &heads, 1, 64},
            {"--ff", &ff, 8, 16384},             {"--hidden", &hidden, 8, 4096}};
        int matched = 0;
        for (size_t k = 0; k < sizeof ints / sizeof *ints && !matched; k++) {
            if ((r = cli_option_value(cmd, argc, argv, &i, ints[k].name, &v)) < 0) return CLI_EXIT_USAGE;
            if (r > 0) {
                if (cli_parse_int(v, ints[k].lo, ints[k].hi, ints[k].dst) != 0)
                    return cli_usage_error(cmd, "%s=%s: use a whole number from %ld to %ld",
                                           ints[k].name, v, ints[k].lo, ints[k].hi);
                matched = 1;
            }
        }
        if (matched) continue;
        if ((r = cli_option_value(cmd, argc, argv, &i, "--model", &v)) < 0) return CLI_EXIT_USAGE;
        if (r > 0) {
            if (strcmp(v, "transformer") && strcmp(v, "rnn-attention") && strcmp(v, "rnn") &&
                strcmp(v, "all"))
                return cli_usage_error(cmd, "--model=%s: use transformer, rnn-attention, rnn "
                                       "or all", v);
            kind = v;
            continue;
        }
        if ((r = cli_option_value(cmd, argc, argv, &i, "--json", &v)) < 0) return CLI_EXIT_USAGE;
        if (r > 0) { json = v; continue; }
        r = cli_option_value(cmd, argc, argv, &i, "--matmul-precision", &v);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) {
            if (strcmp(v, "highest") && strcmp(v, "medium"))
                return cli_usage_error(cmd, "--matmul-precision=%s: use highest or medium", v);
            attn_set_matmul_precision(strcmp(v, "medium") ? ATTN_MATMUL_HIGHEST
                                                          : ATTN_MATMUL_MEDIUM);
            continue;
        }
        if (!strcmp(argv[i], "--no-torch")) { torch = 0; continue; }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(cli_bench_train_usage, stdout);
            return CLI_EXIT_OK;
        }
        return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
    }
    if (threads) attn_set_num_threads((int32_t)threads);
    int nthreads = attn_get_num_threads();
    openblas_set_num_threads(nthreads);
    const char *kinds[3] = {"transformer", "rnn-attention", "rnn"};
    attn__pairs_t pairs;
    make_pairs(&pairs);
    result_t res[3];
    int nres = 0;
    for (int k = 0; k < 3; k++) {
        if (strcmp(kind, "all") && strcmp(kind, kinds[k])) continue;
        attn__s2s_config_t c = attn__s2s_default_config(kinds[k]);
        c.src_vocab = SRC_VOCAB;
        c.tgt_vocab = TGT_VOCAB;
        c.max_len = 32;
        if (k == 0) {
            c.d_model = d_model; c.enc_layers = c.dec_layers = layers; c.heads = heads; c.ff = ff;
            /* PyTorch's Transformer layers drop attention weights at their dropout p too */
            c.attention_dropout = c.dropout;
        } else {
            c.hidden = hidden;
            c.d_model = d_model < 128 ? d_model : 128;
        }
        result_t *r = &res[nres++];
        memset(r, 0, sizeof *r);
        r->kind = kinds[k];
        char *job = NULL;
        if (time_attn(&c, &pairs, tokens, steps, nthreads, r, &job) && torch) time_torch(job, r);
        free(job);
    }
    attn__pairs_free(&pairs);
    printf("\ntraining steps, %d threads, batches of <= %ld padded tokens, %ld timed steps; attn's "
           "products on %s%s\n", nthreads, tokens, steps, attn_matmul_engine(),
           strcmp(attn_matmul_engine(), "sgemm") ? " (PyTorch's stay fp32)" : "");
    printf("%-14s %10s %14s %14s %9s\n", "model", "params", "attn tok/s", "torch tok/s", "speed-up");
    for (int i = 0; i < nres; i++) {
        const result_t *r = &res[i];
        printf("%-14s %10lld %14.0f ", r->kind, (long long)r->params, r->attn_tps);
        if (r->torch_tps > 0) printf("%14.0f %8.2fx\n", r->torch_tps, r->attn_tps / r->torch_tps);
        else printf("%14s %9s\n", "-", "-");
        if (r->note[0]) printf("  note: %s\n", r->note);
    }
    if (json) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", json);
        FILE *f = fopen(tmp, "w");
        if (!f) {
            fprintf(stderr, "attn bench-train: cannot write %s: %s\n", tmp, strerror(errno));
            return CLI_EXIT_FAILED;
        }
        fprintf(f, "{\"threads\": %d, \"batch_tokens\": %ld, \"steps\": %ld, \"results\": [",
                nthreads, tokens, steps);
        for (int i = 0; i < nres; i++)
            fprintf(f, "%s{\"model\": \"%s\", \"params\": %lld, \"attn_tokens_per_s\": %.1f, "
                    "\"torch_tokens_per_s\": %.1f}", i ? ", " : "", res[i].kind,
                    (long long)res[i].params, res[i].attn_tps, res[i].torch_tps);
        fprintf(f, "]}\n");
        if (fclose(f) != 0 || rename(tmp, json) != 0) {
            fprintf(stderr, "attn bench-train: cannot write %s: %s\n", json, strerror(errno));
            return CLI_EXIT_FAILED;
        }
    }
    for (int i = 0; i < nres; i++)
        if (res[i].attn_tps <= 0) return CLI_EXIT_FAILED;
    return CLI_EXIT_OK;
}
