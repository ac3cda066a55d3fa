/* attn g2p train: trains a G2P model on CMUdict, evaluating on the dev words every so often and
 * keeping the best checkpoint (by dev WER) at --out PATH and the latest state at PATH.last.
 *
 * Resuming (--resume) is exact: PATH.last holds the weights, AdamW's moments and step, and in
 * its metadata (strings) the trainer's step, the batcher's epoch and position, the best dev
 * WER so far and every training option, which the resumed run takes from there. So N steps,
 * or N/2 steps and N/2 more after --resume, give the same weights bit for bit (same threads).
 *
 * Metadata keys beside the model's own: "train.<option>" (the options, e.g. "train.lr"),
 * "state.step", "state.epoch", "state.position", "state.adam_step", "state.pairs",
 * "state.best_wer", "state.best_per", "state.best_step", "state.seconds", and the learning
 * curve so far, "state.curve" (g2p_curve.h; PATH.curve.tsv and PATH.curve.svg show it). */
#include "g2p_cli.h"
#include "g2p_curve.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- options ----------------------------------------------------------------------------- */

typedef enum { K_INT, K_DOUBLE, K_STR, K_FLAG } opt_kind_t;
/* What --resume does with an option: NOT stored; SAME: taken from the checkpoint, and when
 * given must equal it; CHANGE: taken from the checkpoint unless given. */
typedef enum { KEEP_NOT = 0, KEEP_SAME = 1, KEEP_CHANGE = 2 } opt_keep_t;

typedef struct opt {
    const char *name; /* "--lr" */
    opt_kind_t kind;
    opt_keep_t keep;
    double lo, hi;       /* K_INT, K_DOUBLE */
    const char *choices; /* K_STR: "a|b|c", or NULL for any text */
    const char *hint;    /* what a value is, for messages */
    /* the value */
    long i;
    double d;
    const char *s;
    int given;
} opt_t;

enum {
    O_MODEL_TYPE, O_LAYERS, O_ENC_LAYERS, O_DEC_LAYERS, O_D_MODEL, O_HEADS, O_FF, O_HIDDEN,
    O_CELL, O_SCORE, O_DROPOUT, O_ATTN_DROPOUT, O_LABEL_SMOOTHING, O_LR, O_WARMUP, O_SCHEDULE, O_STEPS,
    O_BATCH_TOKENS, O_BUCKET, O_CLIP, O_SEED, O_TRAIN, O_TEST, O_DICT, O_EVAL_EVERY, O_DEV_WORDS,
    O_DEV_PERMILLE, O_KEEP_LAST, O_MATMUL, O_OUT, O_TIME_LIMIT, O_RESUME, O_THREADS, O_COUNT
};

static void init_options(opt_t *o) {
    const opt_t table[O_COUNT] = {
        [O_MODEL_TYPE] = {"--model-type", K_STR, KEEP_SAME, 0, 0, "transformer|rnn-attention|rnn",
                          "a model type", 0, 0, "transformer", 0},
        [O_LAYERS] = {"--layers", K_INT, KEEP_NOT, 1, 64, NULL, "a layer count", 0, 0, 0, 0},
        [O_ENC_LAYERS] = {"--enc-layers", K_INT, KEEP_SAME, 1, 64, NULL, "a layer count", 0, 0,
                          0, 0},
        [O_DEC_LAYERS] = {"--dec-layers", K_INT, KEEP_SAME, 1, 64, NULL, "a layer count", 0, 0,
                          0, 0},
        [O_D_MODEL] = {"--d-model", K_INT, KEEP_SAME, 1, 16384, NULL, "a width", 0, 0, 0, 0},
        [O_HEADS] = {"--heads", K_INT, KEEP_SAME, 1, 1024, NULL, "a head count", 0, 0, 0, 0},
        [O_FF] = {"--ff", K_INT, KEEP_SAME, 1, 65536, NULL, "a width", 0, 0, 0, 0},
        [O_HIDDEN] = {"--hidden", K_INT, KEEP_SAME, 1, 16384, NULL, "a width", 0, 0, 0, 0},
        [O_CELL] = {"--cell", K_STR, KEEP_SAME, 0, 0, "gru|lstm", "a cell", 0, 0, 0, 0},
        [O_SCORE] = {"--score", K_STR, KEEP_SAME, 0, 0, "additive|dot|general", "a score", 0,
                     0, 0, 0},
        [O_DROPOUT] = {"--dropout", K_DOUBLE, KEEP_SAME, 0, 0.95, NULL, "a rate in [0, 0.95]",
                       0, 0, 0, 0},
        [O_ATTN_DROPOUT] = {"--attention-dropout", K_DOUBLE, KEEP_SAME, 0, 0.95, NULL,
                            "a rate in [0, 0.95]", 0, 0, 0, 0},
        [O_LABEL_SMOOTHING] = {"--label-smoothing", K_DOUBLE, KEEP_SAME, 0, 0.95, NULL,
                               "a number in [0, 0.95]", 0, 0.1, 0, 0},
        [O_LR] = {"--lr", K_DOUBLE, KEEP_SAME, 1e-9, 10, NULL, "a learning rate in (0, 10]",
                  0, 1e-3, 0, 0},
        [O_WARMUP] = {"--warmup", K_INT, KEEP_SAME, 0, 100000000, NULL, "a number of steps",
                      1000, 0, 0, 0},
        [O_SCHEDULE] = {"--schedule", K_STR, KEEP_SAME, 0, 0, "inv-sqrt|cosine|constant",
                        "a schedule", 0, 0, "inv-sqrt", 0},
        [O_STEPS] = {"--steps", K_INT, KEEP_CHANGE, 1, 1000000000, NULL, "a number of steps",
                     20000, 0, 0, 0},
        [O_BATCH_TOKENS] = {"--batch-tokens", K_INT, KEEP_SAME, 64, 100000000, NULL,
                            "a number of tokens", 4096, 0, 0, 0},
        [O_BUCKET] = {"--bucket-words", K_INT, KEEP_SAME, 1, 1000000000, NULL,
                      "a number of words", 4096, 0, 0, 0},
        [O_CLIP] = {"--clip", K_DOUBLE, KEEP_SAME, 0, 1e9, NULL, "a gradient norm (0: none)",
                    0, 1.0, 0, 0},
        [O_SEED] = {"--seed", K_INT, KEEP_SAME, 0, 1e15, NULL, "a whole number", 1, 0, 0, 0},
        [O_TRAIN] = {"--train", K_STR, KEEP_SAME, 0, 0, NULL, "a file", 0, 0, "", 0},
        [O_TEST] = {"--test", K_STR, KEEP_CHANGE, 0, 0, NULL, "a file", 0, 0, "", 0},
        [O_DICT] = {"--dict", K_STR, KEEP_SAME, 0, 0, NULL, "a file", 0, 0, "", 0},
        [O_EVAL_EVERY] = {"--eval-every", K_INT, KEEP_CHANGE, 1, 1000000000, NULL,
                          "a number of steps", 1000, 0, 0, 0},
        [O_DEV_WORDS] = {"--dev-words", K_INT, KEEP_CHANGE, 0, 1000000000, NULL,
                         "a number of words (0: all)", 2000, 0, 0, 0},
        [O_DEV_PERMILLE] = {"--dev-permille", K_INT, KEEP_SAME, 0, 500, NULL,
                            "a number of thousandths", G2P_DEV_PERMILLE, 0, 0, 0},
        [O_KEEP_LAST] = {"--keep-last", K_INT, KEEP_CHANGE, 0, 1000000, NULL,
                         "a number of snapshots (0: none)", 0, 0, 0, 0},
        [O_MATMUL] = {"--matmul-precision", K_STR, KEEP_SAME, 0, 0, "highest|medium",
                      "a precision", 0, 0, "highest", 0},
        [O_OUT] = {"--out", K_STR, KEEP_NOT, 0, 0, NULL, "a path", 0, 0, NULL, 0},
        [O_TIME_LIMIT] = {"--time-limit", K_DOUBLE, KEEP_NOT, 0.001, 1e7, NULL,
                          "minutes (a positive number)", 0, 0, 0, 0},
        [O_RESUME] = {"--resume", K_FLAG, KEEP_NOT, 0, 0, NULL, NULL, 0, 0, 0, 0},
        [O_THREADS] = {"--threads", K_INT, KEEP_NOT, 1, 4096, NULL, "a whole number", 0, 0, 0,
                       0},
    };
    memcpy(o, table, sizeof table);
}

static int in_choices(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *c = choices; *c;) {
        size_t k = strcspn(c, "|");
        if (k == n && strncmp(c, v, n) == 0) return 1;
        c += k + (c[k] == '|');
    }
    return 0;
}

/* Parses text as the value of o; returns 0, or -1 after a usage error. */
static int set_value(opt_t *o, const char *text, const char *where) {
    switch (o->kind) {
    case K_INT:
        if (cli_parse_int(text, (long)o->lo, (long)o->hi, &o->i) != 0) {
            cli_usage_error(G2P_CMD, "%s must be %s from %.0f to %.0f, not '%s'%s", o->name,
                            o->hint, o->lo, o->hi, text, where);
            return -1;
        }
        break;
    case K_DOUBLE:
        if (g2p_parse_double(text, o->lo, o->hi, &o->d) != 0) {
            cli_usage_error(G2P_CMD, "%s must be %s, not '%s'%s", o->name, o->hint, text, where);
            return -1;
        }
        break;
    case K_STR:
        if (o->choices && !in_choices(o->choices, text)) {
            char list[128];
            snprintf(list, sizeof list, "%s", o->choices);
            for (char *c = list; *c; c++)
                if (*c == '|') *c = ',';
            cli_usage_error(G2P_CMD, "%s must be one of %s, not '%s'%s", o->name, list, text,
                            where);
            return -1;
        }
        if (!o->choices && !*text) {
            cli_usage_error(G2P_CMD, "%s needs %s%s", o->name, o->hint, where);
            return -1;
        }
        o->s = text;
        break;
    case K_FLAG:
        o->i = 1;
        break;
    }
    return 0;
}

/* The value as stored in the checkpoint. */
static void format_value(const opt_t *o, char *buf, size_t cap) {
    switch (o->kind) {
    case K_INT: case K_FLAG: snprintf(buf, cap, "%ld", o->i); break;
    case K_DOUBLE: snprintf(buf, cap, "%.17g", o->d); break;
    case K_STR: snprintf(buf, cap, "%s", o->s ? o->s : ""); break;
    }
}

static int parse_options(int argc, char **argv, opt_t *o) {
    const char *names[O_COUNT + 1];
    for (int k = 0; k < O_COUNT; k++) names[k] = o[k].name;
    names[O_COUNT] = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (a[0] != '-')
            return cli_usage_error(G2P_CMD, "'attn g2p train' takes no arguments besides options, "
                                            "got '%s'", a);
        int matched = 0;
        for (int k = 0; k < O_COUNT && !matched; k++) {
            if (o[k].kind == K_FLAG) {
                if (strcmp(a, o[k].name) == 0) {
                    o[k].i = 1;
                    o[k].given = matched = 1;
                }
                continue;
            }
            int r = cli_option_value(G2P_CMD, argc, argv, &i, o[k].name, &val);
            if (r < 0) return CLI_EXIT_USAGE;
            if (r > 0) {
                if (set_value(&o[k], val, "") != 0) return CLI_EXIT_USAGE;
                o[k].given = matched = 1;
            }
        }
        if (!matched) return g2p_unknown_option("train", a, names);
    }
    return CLI_EXIT_OK;
}

/* Fills the model options not given from the library's defaults for the model type, and
 * checks that the given ones apply to it. */
static int resolve_model_options(opt_t *o) {
    const char *kind = o[O_MODEL_TYPE].s;
    int transformer = !strcmp(kind, "transformer"), attention = strcmp(kind, "rnn") != 0;
    static const int tf_only[] = {O_HEADS, O_FF}, rnn_only[] = {O_HIDDEN, O_CELL};
    for (size_t k = 0; k < 2; k++) {
        if (!transformer && o[tf_only[k]].given)
            return cli_usage_error(G2P_CMD, "%s applies to the transformer, not to --model-type %s",
                                   o[tf_only[k]].name, kind);
        if (transformer && o[rnn_only[k]].given)
            return cli_usage_error(G2P_CMD, "%s applies to rnn-attention and rnn models, not "
                                            "to the transformer", o[rnn_only[k]].name);
    }
    if (o[O_SCORE].given && (transformer || !attention))
        return cli_usage_error(G2P_CMD, "--score applies to --model-type rnn-attention, not %s",
                               kind);
    if (o[O_LAYERS].given && (o[O_ENC_LAYERS].given || o[O_DEC_LAYERS].given))
        return cli_usage_error(G2P_CMD, "--layers sets both sides; give it or --enc-layers / "
                                    "--dec-layers, not both");
    static attn__s2s_config_t def; /* strings for o->s point into it */
    def = attn__s2s_default_config(kind);
    if (o[O_LAYERS].given) o[O_ENC_LAYERS].i = o[O_DEC_LAYERS].i = o[O_LAYERS].i;
    if (!o[O_ENC_LAYERS].given && !o[O_LAYERS].given) o[O_ENC_LAYERS].i = def.enc_layers;
    if (!o[O_DEC_LAYERS].given && !o[O_LAYERS].given) o[O_DEC_LAYERS].i = def.dec_layers;
    if (!o[O_D_MODEL].given) o[O_D_MODEL].i = def.d_model;
    if (!o[O_HEADS].given) o[O_HEADS].i = def.heads;
    if (!o[O_FF].given) o[O_FF].i = def.ff;
    if (!o[O_HIDDEN].given) o[O_HIDDEN].i = def.hidden;
    if (!o[O_CELL].given) o[O_CELL].s = def.cell;
    if (!o[O_SCORE].given) o[O_SCORE].s = def.score;
    if (!o[O_DROPOUT].given) o[O_DROPOUT].d = def.dropout;
    return CLI_EXIT_OK;
}

static attn__s2s_config_t config_of(const opt_t *o, int64_t src_vocab, int64_t tgt_vocab) {
    attn__s2s_config_t c = attn__s2s_default_config(o[O_MODEL_TYPE].s);
    c.src_vocab = src_vocab;
    c.tgt_vocab = tgt_vocab;
    c.enc_layers = o[O_ENC_LAYERS].i;
    c.dec_layers = o[O_DEC_LAYERS].i;
    c.d_model = o[O_D_MODEL].i;
    c.heads = o[O_HEADS].i;
    c.ff = o[O_FF].i;
    c.hidden = o[O_HIDDEN].i;
    snprintf(c.cell, sizeof c.cell, "%s", o[O_CELL].s);
    snprintf(c.score, sizeof c.score, "%s", o[O_SCORE].s);
    c.dropout = (float)o[O_DROPOUT].d;
    c.attention_dropout = (float)o[O_ATTN_DROPOUT].d;
    return c;
}

/* Checks the options against each other, before any file is read. */
static int check_options(opt_t *o) {
    if (o[O_DICT].s[0] && o[O_TRAIN].s[0])
        return cli_usage_error(G2P_CMD, "--dict (Debian's dictionary, split by word) and --train "
                                    "(the standard split) are two data sets; pick one");
    if (o[O_TEST].s[0] && !o[O_TRAIN].s[0])
        return cli_usage_error(G2P_CMD, "--test goes with --train (the standard split); Debian's "
                                    "dictionary holds its own test part");
    const char *sched = o[O_SCHEDULE].s;
    if (!strcmp(sched, "inv-sqrt") && o[O_WARMUP].i < 1)
        return cli_usage_error(G2P_CMD, "--schedule inv-sqrt needs --warmup of at least 1 step");
    if (!strcmp(sched, "cosine") && o[O_WARMUP].i >= o[O_STEPS].i)
        return cli_usage_error(G2P_CMD, "--schedule cosine needs --warmup (%ld) below --steps "
                                        "(%ld)", o[O_WARMUP].i, o[O_STEPS].i);
    attn__s2s_config_t c = config_of(o, 64, 64);
    if (attn__s2s_config_check(&c) != ATTN_STATUS_OK)
        return cli_usage_error(G2P_CMD, "%s", attn_last_error());
    return CLI_EXIT_OK;
}

/* ---- metadata ---------------------------------------------------------------------------- */

typedef struct train_state {
    int64_t step, epoch, position, adam_step, pairs, best_step;
    double best_wer, best_per, seconds; /* best_wer < 0: no evaluation yet */
} train_state_t;

enum { META_MAX = O_COUNT + 16 };

typedef struct meta_buf {
    attn__st_meta_t items[META_MAX + 1]; /* + the curve, whose text is held elsewhere */
    char keys[META_MAX][48], values[META_MAX][PATH_MAX + 32];
    int n;
} meta_buf_t;

static void meta_add(meta_buf_t *m, const char *key, const char *fmt, ...) CLI_PRINTF(3, 4);
static void meta_add(meta_buf_t *m, const char *key, const char *fmt, ...) {
    if (m->n >= META_MAX) return;
    snprintf(m->keys[m->n], sizeof m->keys[m->n], "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->values[m->n], sizeof m->values[m->n], fmt, ap);
    va_end(ap);
    m->items[m->n] = (attn__st_meta_t){m->keys[m->n], m->values[m->n]};
    m->n++;
}

static void build_meta(meta_buf_t *m, const opt_t *o, const train_state_t *s) {
    m->n = 0;
    for (int k = 0; k < O_COUNT; k++) {
        if (o[k].keep == KEEP_NOT) continue;
        char key[48], val[PATH_MAX + 32];
        snprintf(key, sizeof key, "train.%s", o[k].name + 2);
        format_value(&o[k], val, sizeof val);
        meta_add(m, key, "%s", val);
    }
    meta_add(m, "state.step", "%lld", (long long)s->step);
    meta_add(m, "state.epoch", "%lld", (long long)s->epoch);
    meta_add(m, "state.position", "%lld", (long long)s->position);
    meta_add(m, "state.adam_step", "%lld", (long long)s->adam_step);
    meta_add(m, "state.pairs", "%lld", (long long)s->pairs);
    meta_add(m, "state.best_wer", "%.17g", s->best_wer);
    meta_add(m, "state.best_per", "%.17g", s->best_per);
    meta_add(m, "state.best_step", "%lld", (long long)s->best_step);
    meta_add(m, "state.seconds", "%.3f", s->seconds);
}

/* The learning curve's item: its text is too long for the fixed buffers. */
static void meta_add_curve(meta_buf_t *m, const char *text) {
    m->items[m->n++] = (attn__st_meta_t){"state.curve", text};
}

static int meta_i64(const attn__ckpt_meta_t *m, const char *key, int64_t *out) {
    const char *v = attn__ckpt_meta_get(m, key);
    long x;
    if (!v || cli_parse_int(v, LONG_MIN, LONG_MAX, &x) != 0) return -1;
    *out = x;
    return 0;
}

static int meta_double(const attn__ckpt_meta_t *m, const char *key, double *out) {
    const char *v = attn__ckpt_meta_get(m, key);
    return v && g2p_parse_double(v, -1e300, 1e300, out) == 0 ? 0 : -1;
}

/* Takes the options and state of the run in last; given options must agree with it. */
static int restore(const char *last, const attn__ckpt_meta_t *m, opt_t *o, train_state_t *s,
                   g2p_curve_t *c) {
    const char *cmd = G2P_CMD_TRAIN;
    if (meta_i64(m, "state.step", &s->step) || meta_i64(m, "state.epoch", &s->epoch) ||
        meta_i64(m, "state.position", &s->position) ||
        meta_i64(m, "state.adam_step", &s->adam_step) || meta_i64(m, "state.pairs", &s->pairs) ||
        meta_i64(m, "state.best_step", &s->best_step) ||
        meta_double(m, "state.best_wer", &s->best_wer) ||
        meta_double(m, "state.best_per", &s->best_per) ||
        meta_double(m, "state.seconds", &s->seconds) || !m->has_optimizer) {
        fprintf(stderr, "attn %s: %s lacks the training state (it is not a PATH.last written "
                        "by 'attn g2p train'); cannot --resume from it\n", cmd, last);
        return CLI_EXIT_FAILED;
    }
    /* the learning curve: absent from the checkpoints of older versions */
    const char *curve = attn__ckpt_meta_get(m, "state.curve");
    if (curve && g2p_curve_decode(curve, c) != 0)
        fprintf(stderr, "attn %s: warning: the learning curve stored in %s is malformed; the "
                        "curve starts again from here (training is not affected)\n", cmd, last);
    /* --layers is not stored: it must agree with both sides */
    if (o[O_LAYERS].given) {
        o[O_ENC_LAYERS].given = o[O_DEC_LAYERS].given = 1;
        o[O_ENC_LAYERS].i = o[O_DEC_LAYERS].i = o[O_LAYERS].i;
    }
    for (int k = 0; k < O_COUNT; k++) {
        if (o[k].keep == KEEP_NOT) continue;
        char key[48];
        snprintf(key, sizeof key, "train.%s", o[k].name + 2);
        const char *stored = attn__ckpt_meta_get(m, key);
        if (!stored) {
            /* an option newer than the checkpoint: its run used the option's default */
            opt_t defaults[O_COUNT];
            init_options(defaults);
            char def[PATH_MAX + 32], now[PATH_MAX + 32];
            format_value(&defaults[k], def, sizeof def);
            format_value(&o[k], now, sizeof now);
            if (o[k].given && o[k].keep == KEEP_SAME && strcmp(now, def) != 0)
                return cli_usage_error(G2P_CMD, "%s %s differs from the run being resumed (it "
                                            "used the default, %s); leave it out with "
                                            "--resume, or start a new run with another --out",
                                       o[k].name, now, def);
            continue;
        }
        if (o[k].given) {
            char now[PATH_MAX + 32];
            format_value(&o[k], now, sizeof now);
            if (strcmp(now, stored) != 0 && o[k].keep == KEEP_SAME)
                return cli_usage_error(G2P_CMD, "%s %s differs from the run being resumed (%s%s); "
                                            "leave it out with --resume, or start a new run "
                                            "with another --out", o[k].name, now,
                                       *stored ? o[k].name : "it did not use ",
                                       *stored ? "" : o[k].name);
            if (strcmp(now, stored) != 0)
                fprintf(stderr, "attn %s: %s changes from %s to %s on resuming\n", cmd,
                        o[k].name, *stored ? stored : "(none)", now);
            continue;
        }
        /* stored values are trusted to parse (this program wrote them) but checked anyway */
        char where[PATH_MAX + 64];
        snprintf(where, sizeof where, " (read from %s)", last);
        if (o[k].kind == K_STR && !o[k].choices) {
            o[k].s = stored; /* the path may be empty: not used */
        } else if (set_value(&o[k], stored, where) != 0) {
            return CLI_EXIT_FAILED;
        }
    }
    return CLI_EXIT_OK;
}

/* ---- training ---------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

/* on = 1: Ctrl-C (or SIGTERM) asks the training loop to stop and save; a second one stops at
 * once. on = 0: the default again. */
static void catch_signals(int on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sa.sa_flags = on ? (int)SA_RESETHAND : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

typedef struct run {
    opt_t *o;
    char out[PATH_MAX], last[PATH_MAX + 8];
    attn__g2p_t g;
    attn__dict_t dict, dev_dict;
    attn__pairs_t train, dev;
    attn__trainer_t tr;
    int trainer_ready;
    attn__arena_t arena;
    train_state_t st;
    g2p_curve_t curve; /* one point per dev evaluation */
    double session_start;
} run_t;

/* Writes the run's weights to path, with the optimizer's state when with_optim (PATH.last). */
static int save(run_t *r, const char *path, int with_optim) {
    r->st.step = r->tr.step;
    r->st.epoch = r->tr.batcher.epoch;
    r->st.position = r->tr.batcher.position;
    r->st.adam_step = r->tr.adamw.step;
    double seconds = r->st.seconds;
    r->st.seconds += progress_now() - r->session_start;
    meta_buf_t *m = malloc(sizeof *m);
    if (!m) {
        fprintf(stderr, "attn %s: out of memory\n", G2P_CMD_TRAIN);
        return CLI_EXIT_FAILED;
    }
    build_meta(m, r->o, &r->st);
    r->st.seconds = seconds;
    char *curve = g2p_curve_encode(&r->curve);
    if (!curve) {
        free(m);
        fprintf(stderr, "attn %s: out of memory\n", G2P_CMD_TRAIN);
        return CLI_EXIT_FAILED;
    }
    meta_add_curve(m, curve);
    attn_status_t s;
    attn__ckpt_optim_t opt = {r->tr.adamw.m, r->tr.adamw.v, r->tr.adamw.step};
    s = attn__g2p_save(&r->g, path, with_optim ? &opt : NULL, m->items, m->n);
    free(m);
    free(curve);
    if (s != ATTN_STATUS_OK) return cli_library_error(G2P_CMD_TRAIN, "saving", s);
    return CLI_EXIT_OK;
}

/* --keep-last N: the weights at each dev evaluation go to PATH.step<step> (for checkpoint
 * averaging, `attn g2p average`), and only the N latest such files of PATH are kept. */
static int snapshot(run_t *r) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s.step%lld", r->out, (long long)r->tr.step);
    int rc = save(r, path, 0);
    if (rc != CLI_EXIT_OK) return rc;
    /* the folder of PATH, and the names PATH.step<digits> in it */
    char dir[PATH_MAX];
    const char *slash = strrchr(r->out, '/');
    const char *base = slash ? slash + 1 : r->out;
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - r->out + (slash == r->out)), r->out);
    else snprintf(dir, sizeof dir, ".");
    DIR *d = opendir(dir);
    if (!d) return CLI_EXIT_OK; /* nothing to prune: the snapshot itself was written */
    const size_t nb = strlen(base);
    long long *steps = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const char *name = e->d_name, *tail = name + nb;
        if (strncmp(name, base, nb) != 0 || strncmp(tail, ".step", 5) != 0) continue;
        char *end;
        errno = 0;
        long long st = strtoll(tail + 5, &end, 10);
        if (end == tail + 5 || *end || errno || st < 0) continue;
        if (n == cap) {
            size_t c = cap ? 2 * cap : 16;
            long long *t = realloc(steps, c * sizeof *t);
            if (!t) break;
            steps = t;
            cap = c;
        }
        steps[n++] = st;
    }
    closedir(d);
    const size_t keep = (size_t)r->o[O_KEEP_LAST].i;
    for (size_t i = 0; n > keep && i < n; i++) {
        size_t newer = 0; /* snapshots later than steps[i] */
        for (size_t j = 0; j < n; j++) newer += steps[j] > steps[i];
        if (newer < keep) continue;
        snprintf(path, sizeof path, "%s.step%lld", r->out, steps[i]);
        if (remove(path) != 0)
            fprintf(stderr, "attn %s: cannot remove the old snapshot %s: %s\n", G2P_CMD_TRAIN,
                    path, strerror(errno));
    }
    free(steps);
    return CLI_EXIT_OK;
}

/* Adds the evaluation to the learning curve and writes PATH.curve.tsv and .svg; a file that
 * cannot be written is a warning (the checkpoints hold the curve too). */
static int add_to_curve(run_t *r, double train_loss, double dev_loss, double wer, double per) {
    g2p_curve_point_t pt = {r->tr.step, r->st.seconds + progress_now() - r->session_start,
                            r->tr.lr, train_loss, dev_loss, wer, per};
    if (g2p_curve_add(&r->curve, &pt) != 0) {
        fprintf(stderr, "attn %s: out of memory\n", G2P_CMD_TRAIN);
        return CLI_EXIT_FAILED;
    }
    const char *slash = strrchr(r->out, '/');
    char title[PATH_MAX + 64], err[PATH_MAX + 128];
    snprintf(title, sizeof title, "attn g2p train: %s", slash ? slash + 1 : r->out);
    if (g2p_curve_write(r->out, &r->curve, title, err, sizeof err) != 0)
        fprintf(stderr, "attn %s: warning: the learning curve: %s\n", G2P_CMD_TRAIN, err);
    return CLI_EXIT_OK;
}

/* Dev evaluation: greedy WER/PER on the dev words, and the loss on every dev pair;
 * train_loss is the smoothed training loss, for the learning curve. */
static int evaluate_dev(run_t *r, progress_t *p, double train_loss) {
    g2p_progress_clear(p);
    double t0 = progress_now();
    attn__g2p_score_t sc;
    attn__g2p_decode_opts_t greedy = {1, 1, 0.0f, g2p_decode_batch(1)};
    attn_status_t st = attn__g2p_evaluate(&r->g, &r->dev_dict, G2P_PART_ALL, 0, 0, greedy, &sc,
                                          NULL, NULL);
    double loss = 0.0, acc = 0.0;
    if (st == ATTN_STATUS_OK)
        st = attn__s2s_eval_loss(r->g.model, &r->dev, r->o[O_BATCH_TOKENS].i, &r->arena, &loss,
                                 &acc);
    if (st != ATTN_STATUS_OK) return cli_library_error(G2P_CMD_TRAIN, "dev evaluation", st);
    double wer = attn__g2p_wer(&sc), per = attn__g2p_per(&sc);
    int better = r->st.best_wer < 0 || wer < r->st.best_wer ||
                 (wer == r->st.best_wer && per < r->st.best_per);
    if (better) {
        r->st.best_wer = wer;
        r->st.best_per = per;
        r->st.best_step = r->tr.step;
    }
    printf("step %lld: dev WER %.2f%% PER %.2f%% loss %.6f (%lld words, %.1f s)%s\n",
           (long long)r->tr.step, 100 * wer, 100 * per, loss, (long long)sc.words,
           progress_now() - t0, better ? "  best" : "");
    fflush(stdout);
    int rc = add_to_curve(r, train_loss, loss, wer, per);
    if (rc == CLI_EXIT_OK && better) rc = save(r, r->out, 0);
    if (rc == CLI_EXIT_OK) rc = save(r, r->last, 1);
    if (rc == CLI_EXIT_OK && r->o[O_KEEP_LAST].i > 0) rc = snapshot(r);
    return rc;
}

/* The checkpoints of an evaluation step when there are no dev words: the latest weights
 * stand in for the best. */
static int save_no_dev(run_t *r) {
    int rc = save(r, r->out, 0);
    if (rc == CLI_EXIT_OK) rc = save(r, r->last, 1);
    if (rc == CLI_EXIT_OK && r->o[O_KEEP_LAST].i > 0) rc = snapshot(r);
    return rc;
}

static void run_free(run_t *r) {
    if (r->trainer_ready) attn__trainer_free(&r->tr);
    g2p_curve_free(&r->curve);
    attn__arena_free(&r->arena);
    attn__pairs_free(&r->train);
    attn__pairs_free(&r->dev);
    attn__dict_free(&r->dev_dict);
    attn__dict_free(&r->dict);
    if (r->g.model) attn__g2p_free(&r->g);
}

/* After training: the best checkpoint on the --test file. */
static int report_test(run_t *r) {
    const char *cmd = G2P_CMD_TRAIN, *path = r->o[O_TEST].s;
    attn__dict_t test;
    int rc = g2p_load_dict(cmd, path, 0, "--test", &test);
    if (rc != CLI_EXIT_OK) return rc;
    attn__g2p_t best;
    const char *model = access(r->out, R_OK) == 0 ? r->out : r->last;
    if ((rc = g2p_load_model(cmd, model, &best)) != CLI_EXIT_OK) {
        attn__dict_free(&test);
        return rc;
    }
    attn__g2p_score_t sc;
    attn__g2p_decode_opts_t greedy = {1, 1, 0.0f, g2p_decode_batch(1)};
    progress_t p;
    progress_begin(&p, "test", "words", test.count);
    attn_status_t st = attn__g2p_evaluate(&best, &test, G2P_PART_ALL, 0, 0, greedy, &sc,
                                          g2p_progress, &p);
    if (st == ATTN_STATUS_OK) {
        progress_end(&p, sc.words, NULL);
        printf("test (%s, %lld words, greedy): WER %.2f%% PER %.2f%%\n", path,
               (long long)sc.words, 100 * attn__g2p_wer(&sc), 100 * attn__g2p_per(&sc));
    } else {
        g2p_progress_clear(&p);
        rc = cli_library_error(cmd, "test evaluation", st);
    }
    attn__g2p_free(&best);
    attn__dict_free(&test);
    return rc;
}

static int train_loop(run_t *r) {
    const opt_t *o = r->o;
    const int64_t steps = o[O_STEPS].i, start = r->tr.step, every = o[O_EVAL_EVERY].i;
    const int have_dev = r->dev_dict.count > 0;
    const double limit = o[O_TIME_LIMIT].given ? o[O_TIME_LIMIT].d * 60.0 : INFINITY;
    int64_t tokens = 0, last_eval = -1;
    double ema = NAN;
    /* tokens per second over the last window of >= 20 s of steps (dev evaluations left out),
     * the session's mean until the first window closes */
    int64_t win_tokens = 0;
    double win_start = progress_now(), win_rate = NAN;
    progress_t p;
    progress_begin(&p, "train", "steps", steps - start);
    int rc = CLI_EXIT_OK, stopped = 0;
    int64_t no_update = 0; /* batches in a row whose gradient was not finite */
    catch_signals(1);
    while (r->tr.step < steps) {
        if (interrupted || progress_now() - r->session_start >= limit) {
            stopped = 1;
            break;
        }
        int64_t before = r->tr.step;
        attn_status_t st = attn__trainer_step(&r->tr);
        if (st != ATTN_STATUS_OK) {
            g2p_progress_clear(&p);
            rc = cli_library_error(G2P_CMD_TRAIN, "training step", st);
            break;
        }
        if (r->tr.step == before && ++no_update >= 100) {
            g2p_progress_clear(&p);
            fprintf(stderr, "attn %s: training diverged: %lld batches in a row at step %lld had "
                            "a gradient that is not finite; try a lower --lr or --clip\n",
                    G2P_CMD_TRAIN, (long long)no_update, (long long)r->tr.step);
            rc = CLI_EXIT_FAILED;
            break;
        }
        if (r->tr.step != before) no_update = 0;
        tokens += r->tr.tokens;
        win_tokens += r->tr.tokens;
        if (isfinite(r->tr.loss)) ema = isnan(ema) ? r->tr.loss : 0.98 * ema + 0.02 * r->tr.loss;
        double now = progress_now(), el = now - p.start;
        if (now - win_start >= 20.0) {
            win_rate = (double)win_tokens / (now - win_start);
            win_tokens = 0;
            win_start = now;
        }
        double rate = isnan(win_rate) ? (el > 0 ? (double)tokens / el : 0.0) : win_rate;
        char note[160], best[48] = "";
        if (r->st.best_wer >= 0)
            snprintf(best, sizeof best, "  best dev WER %.1f%%", 100 * r->st.best_wer);
        snprintf(note, sizeof note, "step %lld  loss %.3f  lr %.2e  %.0f tok/s%s",
                 (long long)r->tr.step, ema, r->tr.lr, rate, best);
        progress_update(&p, r->tr.step - start, note);
        if (r->tr.step != before && r->tr.step % every == 0 && r->tr.step < steps) {
            if (have_dev) rc = evaluate_dev(r, &p, ema);
            else { g2p_progress_clear(&p); rc = save_no_dev(r); }
            last_eval = r->tr.step;
            win_tokens = 0;
            win_start = progress_now();
            if (rc != CLI_EXIT_OK) break;
        }
    }
    catch_signals(0);
    if (rc != CLI_EXIT_OK) return rc;
    {
        char note[96];
        snprintf(note, sizeof note, "step %lld  loss %.3f", (long long)r->tr.step, ema);
        progress_end(&p, r->tr.step - start, note);
    }
    if (!stopped && last_eval != r->tr.step && r->tr.step > start) {
        /* the final evaluation */
        if (have_dev) rc = evaluate_dev(r, &p, ema);
        else rc = save_no_dev(r);
    } else if (r->tr.step > start || stopped) {
        rc = save(r, r->last, 1);
    }
    if (rc != CLI_EXIT_OK) return rc;

    double session = progress_now() - r->session_start, total = r->st.seconds + session;
    char t_session[32], t_total[32];
    progress_format_time(session, t_session, sizeof t_session);
    progress_format_time(total, t_total, sizeof t_total);
    printf("\n%s at step %lld of %lld: %lld steps in this session (%s), %s of training in all\n",
           stopped ? (interrupted ? "interrupted" : "time limit reached") : "done",
           (long long)r->tr.step, (long long)steps, (long long)(r->tr.step - start), t_session,
           t_total);
    if (r->st.best_wer >= 0)
        printf("best dev WER %.2f%% PER %.2f%% (step %lld) -> %s\n", 100 * r->st.best_wer,
               100 * r->st.best_per, (long long)r->st.best_step, r->out);
    else if (have_dev)
        printf("no dev evaluation yet (every %lld steps)\n", (long long)every);
    else
        printf("no dev words (the dictionary is too small to hold some out); %s holds the "
               "latest weights\n", r->out);
    printf("latest state -> %s\n", r->last);
    if (stopped)
        printf("continue with the same command and --resume\n");
    fflush(stdout);
    if (!stopped && o[O_TEST].s[0]) rc = report_test(r);
    /* a clean stop after the time limit succeeds; an interrupted run does not */
    return rc == CLI_EXIT_OK && interrupted ? CLI_EXIT_FAILED : rc;
}

int g2p_train(int argc, char **argv) {
    const char *cmd = G2P_CMD_TRAIN;
    opt_t o[O_COUNT];
    init_options(o);
    int rc = parse_options(argc, argv, o);
    if (rc != CLI_EXIT_OK) return rc;

    run_t *r = calloc(1, sizeof *r);
    if (!r) return CLI_EXIT_FAILED;
    r->o = o;
    r->session_start = progress_now();
    r->st.best_wer = r->st.best_per = -1.0;
    attn__arena_init(&r->arena, 0);

    /* the output paths: --out is needed first, to find PATH.last */
    char default_out[64];
    if (!o[O_OUT].given) {
        snprintf(default_out, sizeof default_out, "g2p-%s.safetensors", o[O_MODEL_TYPE].s);
        o[O_OUT].s = default_out;
    }
    if (strlen(o[O_OUT].s) >= sizeof r->out) {
        free(r);
        return cli_usage_error(G2P_CMD, "--out: the path is too long");
    }
    snprintf(r->out, sizeof r->out, "%s", o[O_OUT].s);
    snprintf(r->last, sizeof r->last, "%s.last", r->out);

    attn__ckpt_meta_t meta;
    memset(&meta, 0, sizeof meta);
    if (o[O_RESUME].i) {
        if (access(r->last, R_OK) != 0) {
            fprintf(stderr, "attn %s: nothing to resume: %s does not exist (%s); leave out "
                            "--resume to start a new run, or give the --out of the run to "
                            "continue\n", cmd, r->last, strerror(errno));
            rc = CLI_EXIT_FAILED;
            goto end;
        }
        attn_status_t st = attn__g2p_load(&r->g, r->last, NULL, &meta);
        if (st != ATTN_STATUS_OK) {
            fprintf(stderr, "attn %s: cannot resume from %s: %s\n", cmd, r->last,
                    attn_last_error());
            rc = CLI_EXIT_FAILED;
            goto end;
        }
        if ((rc = restore(r->last, &meta, o, &r->st, &r->curve)) != CLI_EXIT_OK) goto end;
        /* the model options must describe the model in the file */
        attn__s2s_config_t want = config_of(o, r->g.cfg.src_vocab, r->g.cfg.tgt_vocab);
        want.max_len = r->g.cfg.max_len;
        snprintf(want.activation, sizeof want.activation, "%s", r->g.cfg.activation);
        char *a = attn__s2s_config_to_json(&want), *b = attn__s2s_config_to_json(&r->g.cfg);
        int same = a && b && !strcmp(a, b);
        free(a);
        free(b);
        if (!same) {
            fprintf(stderr, "attn %s: %s holds a model other than its training options "
                            "describe; cannot --resume from it\n", cmd, r->last);
            rc = CLI_EXIT_FAILED;
            goto end;
        }
    } else {
        if ((rc = resolve_model_options(o)) != CLI_EXIT_OK) goto end;
        if (access(r->last, F_OK) == 0) {
            fprintf(stderr, "attn %s: %s exists: an earlier run's state. Continue it with "
                            "--resume, or remove it (and %s) to start again\n", cmd, r->last,
                    r->out);
            rc = CLI_EXIT_FAILED;
            goto end;
        }
    }
    int dict_default = 0;
    if (!o[O_TRAIN].s[0] && !o[O_DICT].s[0]) {
        o[O_DICT].s = g2p_default_dict();
        dict_default = 1;
    } else if (o[O_RESUME].i && !o[O_DICT].given && !strcmp(o[O_DICT].s, G2P_DEBIAN_DICT)) {
        dict_default = 1; /* the resumed run read Debian's dictionary by default */
    }
    if ((rc = check_options(o)) != CLI_EXIT_OK) goto end;
    if (o[O_TEST].s[0] && access(o[O_TEST].s, R_OK) != 0) {
        fprintf(stderr, "attn %s: cannot read the dictionary '%s' given by --test: %s\n", cmd,
                o[O_TEST].s, strerror(errno));
        rc = CLI_EXIT_FAILED;
        goto end;
    }
    if ((rc = g2p_set_threads(cmd, o[O_THREADS].i)) != CLI_EXIT_OK) goto end;
    attn_set_matmul_precision(strcmp(o[O_MATMUL].s, "medium") ? ATTN_MATMUL_HIGHEST
                                                               : ATTN_MATMUL_MEDIUM);

    /* the data */
    int standard = o[O_TRAIN].s[0] != '\0';
    const char *data = standard ? o[O_TRAIN].s : o[O_DICT].s;
    int dev_pm = (int)o[O_DEV_PERMILLE].i, test_pm = standard ? 0 : G2P_TEST_PERMILLE;
    rc = g2p_load_dict(cmd, data, dict_default, standard ? "--train" : "--dict", &r->dict);
    if (rc != CLI_EXIT_OK) goto end;
    if (!o[O_RESUME].i) {
        attn__vocab_t letters, phonemes;
        attn_status_t st = attn__vocab_letters(&r->dict, &letters);
        if (st == ATTN_STATUS_OK) {
            st = attn__vocab_phonemes(&r->dict, &phonemes);
            if (st != ATTN_STATUS_OK) attn__vocab_free(&letters);
        }
        if (st == ATTN_STATUS_OK) {
            attn__s2s_config_t c = config_of(o, letters.count, phonemes.count);
            st = attn__g2p_create(&r->g, &c, &letters, &phonemes, (uint64_t)o[O_SEED].i);
            attn__vocab_free(&letters);
            attn__vocab_free(&phonemes);
        }
        if (st != ATTN_STATUS_OK) {
            rc = cli_library_error(cmd, "creating the model", st);
            goto end;
        }
    }
    int64_t skipped = 0, skipped_dev = 0;
    attn_status_t st = attn__g2p_pairs(&r->g, &r->dict, G2P_PART_TRAIN, dev_pm, test_pm,
                                       &r->train, &skipped);
    if (st == ATTN_STATUS_OK)
        st = attn__g2p_pairs(&r->g, &r->dict, G2P_PART_DEV, dev_pm, test_pm, &r->dev,
                             &skipped_dev);
    if (st != ATTN_STATUS_OK) {
        rc = cli_library_error(cmd, "building the training pairs", st);
        goto end;
    }
    if (r->train.n == 0) {
        fprintf(stderr, "attn %s: %s gives no training pairs\n", cmd, data);
        rc = CLI_EXIT_FAILED;
        goto end;
    }
    if (o[O_RESUME].i && r->st.pairs != r->train.n) {
        fprintf(stderr, "attn %s: the training data changed: %s gave %lld training pairs to "
                        "the run being resumed and %lld now; resuming would not be exact\n",
                cmd, data, (long long)r->st.pairs, (long long)r->train.n);
        rc = CLI_EXIT_FAILED;
        goto end;
    }
    r->st.pairs = r->train.n;
    if ((rc = g2p_subset(cmd, &r->dict, G2P_PART_DEV, dev_pm, test_pm, o[O_DEV_WORDS].i,
                         &r->dev_dict)) != CLI_EXIT_OK)
        goto end;

    /* the trainer */
    attn__trainer_opts_t to;
    memset(&to, 0, sizeof to);
    to.batching = attn__batching_default_opts();
    to.batching.max_tokens = o[O_BATCH_TOKENS].i;
    to.batching.bucket_size = o[O_BUCKET].i;
    to.batching.seed = (uint64_t)o[O_SEED].i;
    to.adamw = attn__adamw_default_opts();
    const char *sched = o[O_SCHEDULE].s;
    to.schedule.lr = o[O_LR].d;
    to.schedule.warmup = o[O_WARMUP].i;
    if (!strcmp(sched, "inv-sqrt")) {
        to.schedule.kind = ATTN__LR_INV_SQRT;
    } else if (!strcmp(sched, "cosine")) {
        to.schedule.kind = ATTN__LR_WARMUP_COSINE;
        to.schedule.total = o[O_STEPS].i;
        to.schedule.min_lr = 0.0;
    } else {
        to.schedule.kind = ATTN__LR_CONSTANT;
    }
    to.label_smoothing = (float)o[O_LABEL_SMOOTHING].d;
    to.clip = o[O_CLIP].d;
    to.seed = (uint64_t)o[O_SEED].i ^ 0x5eedd209u;
    st = attn__trainer_init(&r->tr, r->g.model, &r->train, to);
    if (st != ATTN_STATUS_OK) {
        rc = cli_library_error(cmd, "setting up training", st);
        goto end;
    }
    r->trainer_ready = 1;
    if (o[O_RESUME].i) {
        attn__ckpt_optim_t opt = {r->tr.adamw.m, r->tr.adamw.v, 0};
        st = attn__ckpt_load(r->last, &r->g.model->params, &opt, NULL);
        if (st == ATTN_STATUS_OK) st = attn__batcher_seek(&r->tr.batcher, r->st.epoch,
                                                          r->st.position);
        if (st != ATTN_STATUS_OK) {
            fprintf(stderr, "attn %s: cannot resume from %s: %s\n", cmd, r->last,
                    attn_last_error());
            rc = CLI_EXIT_FAILED;
            goto end;
        }
        r->tr.adamw.step = opt.step;
        r->tr.step = r->st.step;
    }

    /* what is about to happen */
    const attn__s2s_config_t *c = &r->g.cfg;
    printf("attn g2p train: %s model, %lld+%lld layers, d_model %lld, ", c->kind,
           (long long)c->enc_layers, (long long)c->dec_layers, (long long)c->d_model);
    if (!strcmp(c->kind, "transformer"))
        printf("%lld heads, ff %lld", (long long)c->heads, (long long)c->ff);
    else
        printf("hidden %lld %s%s%s", (long long)c->hidden, c->cell,
               strcmp(c->kind, "rnn") ? ", score " : "", strcmp(c->kind, "rnn") ? c->score : "");
    printf(", dropout %g", (double)c->dropout);
    if (c->attention_dropout > 0.0f) printf(", attention dropout %g", (double)c->attention_dropout);
    printf(": %.2fM parameters\n", (double)r->g.model->params.total / 1e6);
    const double dev_pct = 0.1 * (double)o[O_DEV_PERMILLE].i;
    char split[96];
    if (standard)
        snprintf(split, sizeof split, "standard split, %g%% of its words for dev", dev_pct);
    else
        snprintf(split, sizeof split, "Debian's dictionary, %g/%g/5%% train/dev/test by word",
                 95.0 - dev_pct, dev_pct);
    printf("data: %s (%s): %lld training pairs, %lld dev words%s", data, split,
           (long long)r->train.n, (long long)r->dev_dict.count,
           o[O_DEV_WORDS].i > 0 && r->dev_dict.count == o[O_DEV_WORDS].i ? " (--dev-words)" : "");
    if (skipped + skipped_dev > 0)
        printf(", %lld pronunciations skipped (too long or unknown symbols)",
               (long long)(skipped + skipped_dev));
    printf("\ntraining: %lld steps, %s lr %g warmup %lld, batches of %lld tokens, clip %g, "
           "label smoothing %g, seed %ld, %d threads, products on %s\n",
           (long long)o[O_STEPS].i, sched, o[O_LR].d, (long long)o[O_WARMUP].i,
           (long long)o[O_BATCH_TOKENS].i, o[O_CLIP].d, o[O_LABEL_SMOOTHING].d, o[O_SEED].i,
           (int)attn_get_num_threads(), attn_matmul_engine());
    if (!strcmp(o[O_MATMUL].s, "medium") && !strcmp(attn_matmul_engine(), "sgemm"))
        printf("(--matmul-precision medium: this CPU has neither AVX512-BF16 nor AMX-BF16, so "
               "the products stay fp32)\n");
    if (o[O_RESUME].i) {
        printf("resuming from %s at step %lld (epoch %lld, batch %lld)", r->last,
               (long long)r->st.step, (long long)r->st.epoch, (long long)r->st.position);
        if (r->st.best_wer >= 0)
            printf(", best dev WER %.2f%% at step %lld", 100 * r->st.best_wer,
                   (long long)r->st.best_step);
        printf("\n");
    }
    printf("checkpoints: best -> %s, latest -> %s\n", r->out, r->last);
    if (r->dev_dict.count == 0)
        printf("note: no dev words (the dictionary is too small); %s will hold the latest "
               "weights\n", r->out);
    if (r->tr.step >= o[O_STEPS].i)
        printf("already at step %lld of %lld: nothing to train (raise --steps to go on)\n",
               (long long)r->tr.step, (long long)o[O_STEPS].i);
    fflush(stdout);
    if (r->tr.step < o[O_STEPS].i) rc = train_loop(r);
end:
    attn__ckpt_meta_free(&meta);
    run_free(r);
    free(r);
    return rc;
}
