/* attn g2p average: checkpoint averaging. The element-wise mean of the weights of several
 * checkpoints of one model (the same configuration and vocabularies: snapshots of one
 * training run), written as a model file, as fairseq's average_checkpoints.py and OpenNMT's
 * average_models.py do. The mean is taken in double precision, in the order the files are
 * given, and rounded once (to float, or with --dtype f16 / bf16 to 16 bits: a file of half the
 * size; one --model with --dtype is a plain conversion). */
#include "g2p_cli.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_AVERAGE = 64 };

typedef struct avg_opts {
    const char *models[MAX_AVERAGE];
    int n_models;
    const char *out;
    attn__st_dtype_t dtype;
} avg_opts_t;

static int parse_options(int argc, char **argv, avg_opts_t *o) {
    static const char *const names[] = {"--model", "--out", "--dtype", NULL};
    const char *cmd = G2P_CMD;
    for (int i = 1; i < argc; i++) {
        const char *val = NULL;
        int r;
        if ((r = cli_option_value(cmd, argc, argv, &i, "--model", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (o->n_models == MAX_AVERAGE)
                return cli_usage_error(cmd, "at most %d models to average", MAX_AVERAGE);
            o->models[o->n_models++] = val;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--out", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (!*val) return cli_usage_error(cmd, "--out needs a file name");
            o->out = val;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--dtype", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (!strcmp(val, "f32") || !strcmp(val, "float32")) o->dtype = ATTN__ST_F32;
            else if (!strcmp(val, "f16") || !strcmp(val, "float16")) o->dtype = ATTN__ST_F16;
            else if (!strcmp(val, "bf16") || !strcmp(val, "bfloat16")) o->dtype = ATTN__ST_BF16;
            else
                return cli_usage_error(cmd, "--dtype %s: use f32 (default), f16 or bf16", val);
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(cli_g2p_usage, stdout);
            return -1;
        } else {
            return g2p_unknown_option("average", argv[i], names);
        }
    }
    if (o->n_models < 2 && !(o->n_models == 1 && o->dtype != ATTN__ST_F32))
        return cli_usage_error(cmd, "'attn g2p average' needs at least two --model files "
                                    "(snapshots of one training run), or one with --dtype "
                                    "f16|bf16 to convert it");
    if (!o->out) return cli_usage_error(cmd, "'attn g2p average' needs --out FILE");
    for (int i = 0; i < o->n_models; i++)
        if (!strcmp(o->models[i], o->out))
            return cli_usage_error(cmd, "--out %s is also one of the --model files; write the "
                                        "average to a new file", o->out);
    return CLI_EXIT_OK;
}

/* "a b c" from the values of key in each file (skipped when absent) */
static void join_values(char *buf, size_t cap, const attn__ckpt_meta_t *metas, int n,
                        const char *key) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len + 1 < cap; i++) {
        const char *v = attn__ckpt_meta_get(&metas[i], key);
        int w = snprintf(buf + len, cap - len, "%s%s", len ? " " : "", v ? v : "?");
        if (w < 0) break;
        len += (size_t)w < cap - len ? (size_t)w : cap - len - 1;
    }
}

int g2p_average(int argc, char **argv) {
    const char *cmd = "g2p average";
    avg_opts_t o;
    memset(&o, 0, sizeof o);
    o.dtype = ATTN__ST_F32;
    int rc = parse_options(argc, argv, &o);
    if (rc < 0) return CLI_EXIT_OK;
    if (rc != CLI_EXIT_OK) return rc;

    attn__g2p_t first, other;
    memset(&first, 0, sizeof first);
    memset(&other, 0, sizeof other);
    attn__ckpt_meta_t metas[MAX_AVERAGE];
    memset(metas, 0, sizeof metas);
    double *acc = NULL;
    int64_t total = 0;
    rc = CLI_EXIT_OK;
    for (int i = 0; i < o.n_models && rc == CLI_EXIT_OK; i++) {
        attn__g2p_t *g = i == 0 ? &first : &other;
        attn_status_t st = attn__g2p_load(g, o.models[i], NULL, &metas[i]);
        if (st != ATTN_STATUS_OK) {
            rc = cli_library_error(cmd, o.models[i], st);
            break;
        }
        const attn__params_t *ps = &g->model->params;
        if (i == 0) {
            total = ps->total;
            acc = calloc((size_t)total, sizeof *acc);
            if (!acc) {
                fprintf(stderr, "attn %s: out of memory for %lld weights\n", cmd,
                        (long long)total);
                rc = CLI_EXIT_FAILED;
                break;
            }
        } else {
            const char *keys[3] = {"config", "letters", "phonemes"};
            const char *what[3] = {"configuration", "alphabet", "phoneme set"};
            for (int k = 0; k < 3 && rc == CLI_EXIT_OK; k++) {
                const char *a = attn__ckpt_meta_get(&metas[0], keys[k]);
                const char *b = attn__ckpt_meta_get(&metas[i], keys[k]);
                if (!a || !b || strcmp(a, b) != 0) {
                    fprintf(stderr, "attn %s: %s and %s are not the same model (their %s "
                                    "differs); average snapshots of one training run\n",
                            cmd, o.models[0], o.models[i], what[k]);
                    rc = CLI_EXIT_FAILED;
                }
            }
            if (rc == CLI_EXIT_OK && ps->total != total) {
                fprintf(stderr, "attn %s: %s and %s hold different numbers of weights\n", cmd,
                        o.models[0], o.models[i]);
                rc = CLI_EXIT_FAILED;
            }
        }
        if (rc == CLI_EXIT_OK)
            for (int64_t j = 0; j < total; j++) acc[j] += (double)ps->w[j];
        if (i > 0) attn__g2p_free(&other);
    }
    if (rc == CLI_EXIT_OK) {
        float *w = first.model->params.w;
        for (int64_t j = 0; j < total; j++) w[j] = (float)(acc[j] / (double)o.n_models);
        char steps[1024], count[32];
        join_values(steps, sizeof steps, metas, o.n_models, "state.step");
        snprintf(count, sizeof count, "%d", o.n_models);
        attn__st_meta_t extra[2] = {{"averaged.checkpoints", count},
                                    {"averaged.steps", steps}};
        attn_status_t st;
        if (o.n_models == 1) { /* a conversion keeps the file's own record */
            attn__st_meta_t *keep = malloc(sizeof *keep * (size_t)(metas[0].count + 1));
            int64_t n = 0;
            static const char *const own[] = {"model", "config", "letters", "phonemes"};
            for (int64_t i = 0; keep && i < metas[0].count; i++) {
                bool mine = false;
                for (int k = 0; k < 4; k++) mine |= !strcmp(metas[0].items[i].key, own[k]);
                if (!mine) keep[n++] = metas[0].items[i];
            }
            st = keep ? attn__g2p_save_weights(&first, o.out, o.dtype, keep, n)
                      : ATTN_STATUS_OUT_OF_MEMORY;
            free(keep);
        } else {
            st = attn__g2p_save_weights(&first, o.out, o.dtype, extra, 2);
        }
        if (st != ATTN_STATUS_OK) rc = cli_library_error(cmd, o.out, st);
        else if (o.n_models == 1)
            printf("converted %s -> %s, %s weights\n", o.models[0], o.out,
                   attn__st_dtype_name(o.dtype));
        else
            printf("averaged %d checkpoints (steps %s) -> %s, %s weights\n", o.n_models, steps,
                   o.out, attn__st_dtype_name(o.dtype));
    }
    free(acc);
    for (int i = 0; i < o.n_models; i++) attn__ckpt_meta_free(&metas[i]);
    if (first.model) attn__g2p_free(&first);
    return rc;
}
