/* attn g2p: grapheme-to-phoneme conversion with attention models.
 *
 *   attn g2p [options] WORD...          pronounce words (this file)
 *   attn g2p [options] --input FILE     pronounce a word list (this file)
 *   attn g2p train [options]            train a model (g2p_train.c)
 *   attn g2p eval [options]             score models on a test set (g2p_eval.c)
 *
 * Also here: the helpers the three share (dictionaries, finding the bundled model, progress). */
#include "g2p_cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ATTN_SOURCE_DIR
#  define ATTN_SOURCE_DIR "."
#endif
#ifndef ATTN_INSTALL_MODELS_DIR
#  define ATTN_INSTALL_MODELS_DIR "/usr/local/share/attn/models"
#endif

const char cli_g2p_usage[] =
    "Usage: attn g2p [OPTIONS] WORD...            pronounce words\n"
    "       attn g2p [OPTIONS] --input FILE       pronounce a list of words, one a line\n"
    "       attn g2p train [OPTIONS]              train a model on CMUdict\n"
    "       attn g2p eval [OPTIONS]               word and phoneme error rates of models\n"
    "       attn g2p average --model A --model B ... --out FILE\n"
    "                                             average snapshots of one training run\n"
    "\n"
    "Grapheme-to-phoneme conversion (English spelling to ARPAbet phonemes) with a Transformer,\n"
    "an RNN with attention or an RNN without, trained on the CMU pronouncing dictionary.\n"
    "\n"
    "Pronouncing (attn g2p WORD...): prints 'word<TAB>PH PH PH' lines.\n"
    "  --model PATH        the model (default: the bundled " G2P_BUNDLED_MODEL ", looked\n"
    "                      for in $ATTN_G2P_MODEL, <prefix>/share/attn/models and the source\n"
    "                      tree's models/); repeat for an ensemble (up to 16 models of one\n"
    "                      alphabet and phoneme set, decoded with their mean probability)\n"
    "  --beam N            beam search with N hypotheses (default 1: greedy)\n"
    "  --nbest K           the K best pronunciations (K <= N), each with its log-probability\n"
    "                      as a third column\n"
    "  --length-penalty A  rank finished hypotheses by log-probability / ((5 + len) / 6)^A\n"
    "                      (Wu et al. 2016; default 0: by log-probability; needs --beam)\n"
    "  --input FILE        read the words from FILE ('-': standard input), one a line; lines\n"
    "                      the model cannot read are reported on stderr and skipped (exit 1)\n"
    "  --show-attention    after each word, the alignment of its letters (columns) to the\n"
    "                      phonemes (rows) as a heatmap: the mean over the heads of the last\n"
    "                      decoder layer, or --layer N / --head N (from 1); of the first\n"
    "                      model of an ensemble\n"
    "  --attention-svg FILE  the same for every decoder layer and head (and each layer's\n"
    "                      mean) as an SVG figure; with several words, one file each, the\n"
    "                      word added to the name (FILE-word.svg)\n"
    "  --color=WHEN        colour the heatmap: auto (default), always or never; --no-color\n"
    "  --threads N         threads (default: ATTN_NUM_THREADS, else all cores)\n"
    "  To pronounce the words 'train', 'eval' or 'average', put -- before them.\n"
    "\n"
    "Data (train and eval): CMUdict in either format.\n"
    "  --dict FILE         Debian's dictionary ('word(2) PH PH', lower case), split by word\n"
    "                      into train / dev / test (90% / 5% / 5%, fixed by a hash of the word).\n"
    "                      Default: " G2P_DEBIAN_DICT "\n"
    "                      (apt-get install " G2P_DEBIAN_PACKAGE "; ATTN_G2P_DICT names another)\n"
    "  --train FILE        the standard split's train file ('WORD<TAB>PH PH', e.g.\n"
    "                      ../shared/data/cmudict-g014b2b/g014b2b.train); 5% of its words are\n"
    "                      the dev set\n"
    "  --dev-permille N    (train) thousandths of the words held out for dev instead of 50;\n"
    "                      Debian's test part stays the same\n"
    "  --test FILE         the standard split's test file (g014b2b.test), only for the figures\n"
    "                      reported at the end of training and by eval\n"
    "\n"
    "Training (attn g2p train):\n"
    "  --model-type T      transformer (default), rnn-attention or rnn\n"
    "  --layers N          encoder and decoder layers (default 3 Transformer, 1 RNN);\n"
    "                      --enc-layers N, --dec-layers N set one side\n"
    "  --d-model N         Transformer width / RNN embedding size (default 256 / 128)\n"
    "  --heads N, --ff N   Transformer heads (4) and feed-forward width (1024)\n"
    "  --hidden N          RNN hidden size (256); --cell gru|lstm (gru);\n"
    "                      --score additive|dot|general (rnn-attention; additive)\n"
    "  --dropout P         dropout (0.1); --label-smoothing E (0.1)\n"
    "  --attention-dropout P  Transformer: dropout on the attention weights (0), inside\n"
    "                      the fused kernel\n"
    "  --lr R              peak learning rate (0.001); --warmup N steps (1000)\n"
    "  --schedule S        inv-sqrt (default), cosine or constant\n"
    "  --steps N           total updates (20000); --batch-tokens N padded tokens a batch (4096)\n"
    "  --bucket-words N    each epoch shuffles the words, sorts them by length N at a time\n"
    "                      and cuts batches from those (4096): a larger N leaves fewer\n"
    "                      padded positions in a batch, but mixes the words less\n"
    "  --clip C            gradient norm clipping (1.0; 0: none); --seed N (1)\n"
    "  --out PATH          the best checkpoint by dev WER (default g2p-<type>.safetensors); the\n"
    "                      latest state goes to PATH.last\n"
    "  --eval-every N      steps between dev evaluations (1000); --dev-words N dev words\n"
    "                      decoded per evaluation (2000; 0: all). Each evaluation adds to\n"
    "                      the learning curve, PATH.curve.tsv and PATH.curve.svg\n"
    "  --keep-last N       also write the weights at each dev evaluation to PATH.step<step>,\n"
    "                      keeping the N latest (0, default: none), for 'attn g2p average'\n"
    "  --time-limit M      stop cleanly after M minutes, saving PATH.last (Ctrl-C saves it\n"
    "                      too, and exits with 1)\n"
    "  --resume            continue from PATH.last exactly (weights, optimizer, data order,\n"
    "                      best dev WER); the training options come from the checkpoint, and\n"
    "                      --steps may be raised\n"
    "  --matmul-precision P  highest (default: fp32 products) or medium (bf16 operands,\n"
    "                      fp32 sums, on CPUs with AMX-BF16 or AVX512-BF16: faster)\n"
    "  --threads N         threads\n"
    "\n"
    "Evaluation (attn g2p eval): each unique word once; correct when the output equals any\n"
    "reference; PER = edit distance to the closest reference over its length. A table by word\n"
    "length, one column per model.\n"
    "  --model PATH        a model; repeat for several (default: the bundled model)\n"
    "  --test FILE         score every word of FILE; or --dict FILE: its test part\n"
    "                      (default: the test part of Debian's dictionary); or --dev FILE:\n"
    "                      the dev words 'g2p train --train FILE' holds out (for choosing\n"
    "                      checkpoints without the test set; --dev-permille N as there)\n"
    "  --beam N            beam search (default 1: greedy)\n"
    "  --ensemble          score the --model files as one ensemble (their mean probability)\n"
    "  --length-penalty A  with --beam: the length penalty, as when pronouncing\n"
    "  --plot FILE.svg     an SVG plot of WER by word length, one line per model\n"
    "  --errors FILE.tsv   one model's (or the ensemble's) wrong words, each with its output\n"
    "                      and closest reference, and a summary of the phoneme errors\n"
    "  --threads N         threads\n"
    "\n"
    "Checkpoint averaging (attn g2p average): the mean of the weights of two or more\n"
    "checkpoints of one model (e.g. PATH.last copies from the end of one run), as a model file.\n"
    "  --model PATH        a checkpoint; repeat (2 to 64)\n"
    "  --out PATH          the averaged model\n"
    "  --dtype T           its weights as f32 (default), f16 or bf16 (rounded to nearest\n"
    "                      even; half the file); with one --model, a plain conversion\n"
    "\n"
    "Examples:\n"
    "  attn g2p train --train ../shared/data/cmudict-g014b2b/g014b2b.train --out g2p.safetensors\n"
    "  attn g2p eval --model g2p.safetensors --test ../shared/data/cmudict-g014b2b/g014b2b.test\n"
    "  attn g2p --model g2p.safetensors --show-attention phoneme\n"
    "\n"
    "Exit status: 0 success, 1 failure (missing file, unreadable word, ...), 2 wrong command\n"
    "line.\n";

/* ---- helpers ----------------------------------------------------------------------------- */

int g2p_unknown_option(const char *sub, const char *arg, const char *const *names) {
    char name[64], of[32] = "";
    if (sub) snprintf(of, sizeof of, " for 'attn g2p %s'", sub);
    size_t n = strcspn(arg, "=");
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, arg, n);
    name[n] = '\0';
    const char *guess = cli_closest(name, names);
    if (guess)
        return cli_usage_error(G2P_CMD, "unknown option '%s'%s; did you mean '%s'?", arg, of,
                               guess);
    return cli_usage_error(G2P_CMD, "unknown option '%s'%s", arg, of);
}

int g2p_parse_double(const char *text, double lo, double hi, double *out) {
    if (!text || !*text) return -1;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || !end || *end != '\0' || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int g2p_set_threads(const char *cmd, long threads) {
    if (threads <= 0) return CLI_EXIT_OK;
    attn_status_t st = attn_set_num_threads((int32_t)threads);
    return st == ATTN_STATUS_OK ? CLI_EXIT_OK : cli_library_error(cmd, "attn_set_num_threads", st);
}

const char *g2p_default_dict(void) {
    const char *env = getenv("ATTN_G2P_DICT");
    return env && *env ? env : G2P_DEBIAN_DICT;
}

int g2p_load_dict(const char *cmd, const char *path, int is_default, const char *flag,
                  attn__dict_t *d) {
    memset(d, 0, sizeof *d);
    if (access(path, R_OK) != 0) {
        int err = errno;
        if (is_default && strcmp(path, G2P_DEBIAN_DICT) == 0)
            fprintf(stderr,
                    "attn %s: Debian's CMU dictionary %s is missing (%s).\n"
                    "Install it with:  apt-get install %s\n"
                    "or give a dictionary: --dict FILE (Debian's format), or the standard split "
                    "with --train FILE (and --test FILE).\n",
                    cmd, path, strerror(err), G2P_DEBIAN_PACKAGE);
        else if (is_default)
            fprintf(stderr,
                    "attn %s: the dictionary %s named by ATTN_G2P_DICT is missing (%s); unset "
                    "ATTN_G2P_DICT to use Debian's (apt-get install %s), or pass --dict FILE\n",
                    cmd, path, strerror(err), G2P_DEBIAN_PACKAGE);
        else
            fprintf(stderr, "attn %s: cannot read the dictionary '%s' given by %s: %s\n", cmd,
                    path, flag, strerror(err));
        return CLI_EXIT_FAILED;
    }
    attn_status_t st = attn__dict_load(path, ATTN__DICT_AUTO, d);
    if (st != ATTN_STATUS_OK) {
        fprintf(stderr, "attn %s: the dictionary %s (%s) is not usable: %s\n", cmd, path, flag,
                attn_last_error());
        return CLI_EXIT_FAILED;
    }
    return CLI_EXIT_OK;
}

/* The folder of the running program, from /proc/self/exe (Linux); 0 on success. */
static int program_dir(char *buf, size_t cap) {
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1) return -1;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) return -1;
    *slash = '\0';
    return 0;
}

int g2p_find_model(const char *cmd, const char *path, char *buf, size_t cap) {
    if (path) {
        if (access(path, R_OK) != 0) {
            fprintf(stderr, "attn %s: cannot read the model '%s': %s\n", cmd, path,
                    strerror(errno));
            return CLI_EXIT_FAILED;
        }
        snprintf(buf, cap, "%s", path);
        return CLI_EXIT_OK;
    }
    const char *env = getenv("ATTN_G2P_MODEL");
    if (env && *env) {
        if (access(env, R_OK) != 0) {
            fprintf(stderr, "attn %s: cannot read the model '%s' named by ATTN_G2P_MODEL: %s\n",
                    cmd, env, strerror(errno));
            return CLI_EXIT_FAILED;
        }
        snprintf(buf, cap, "%s", env);
        return CLI_EXIT_OK;
    }
    char places[3][PATH_MAX];
    int n = 0;
    char dir[PATH_MAX];
    if (program_dir(dir, sizeof dir) == 0 &&
        snprintf(places[n], PATH_MAX, "%s/../share/attn/models", dir) < PATH_MAX)
        n++;
    snprintf(places[n++], PATH_MAX, "%s", ATTN_INSTALL_MODELS_DIR);
    snprintf(places[n++], PATH_MAX, "%s/models", ATTN_SOURCE_DIR);
    for (int i = 0; i < n; i++) {
        char file[PATH_MAX + 64];
        int len = snprintf(file, sizeof file, "%s/%s", places[i], G2P_BUNDLED_MODEL);
        if (len > 0 && (size_t)len < sizeof file && access(file, R_OK) == 0) {
            snprintf(buf, cap, "%s", file);
            return CLI_EXIT_OK;
        }
    }
    fprintf(stderr, "attn %s: there is no bundled model yet: %s is in none of\n", cmd,
            G2P_BUNDLED_MODEL);
    for (int i = 0; i < n; i++) fprintf(stderr, "  %s/\n", places[i]);
    fprintf(stderr,
            "Train one (a small Transformer takes some minutes to hours) with, for example:\n"
            "  attn g2p train --d-model 128 --ff 512 --out %s/models/%s\n"
            "or pass a model with --model PATH (or ATTN_G2P_MODEL=PATH).\n",
            ATTN_SOURCE_DIR, G2P_BUNDLED_MODEL);
    return CLI_EXIT_FAILED;
}

int g2p_load_model(const char *cmd, const char *path, attn__g2p_t *g) {
    attn_status_t st = attn__g2p_load(g, path, NULL, NULL);
    if (st != ATTN_STATUS_OK) {
        fprintf(stderr, "attn %s: cannot load the model %s: %s\n", cmd, path, attn_last_error());
        return CLI_EXIT_FAILED;
    }
    return CLI_EXIT_OK;
}

void g2p_progress(void *user, int64_t done, int64_t total) {
    progress_t *p = user;
    if (done < total) progress_update(p, done, NULL); /* the caller ends the line */
}

const char *g2p_error_text(void) {
    const char *m = attn_last_error(), *prefix = "bad argument: ";
    if (!m) return "";
    return strncmp(m, prefix, strlen(prefix)) == 0 ? m + strlen(prefix) : m;
}

void g2p_progress_clear(progress_t *p) {
    if (p->tty && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = 0;
    }
}

int64_t g2p_decode_batch(int32_t beam) {
    int64_t b = 256 / (beam > 0 ? beam : 1);
    return b < 8 ? 8 : b;
}

int g2p_subset(const char *cmd, const attn__dict_t *d, int part, int dev_permille,
               int test_permille, int64_t max_words, attn__dict_t *out) {
    memset(out, 0, sizeof *out);
    int64_t n = 0;
    for (int64_t i = 0; i < d->count; i++)
        if (part < 0 || attn__dict_split_of(d->entries[i].word, dev_permille, test_permille) ==
                            part)
            n++;
    int64_t keep = max_words > 0 && max_words < n ? max_words : n;
    if (keep == 0) return CLI_EXIT_OK; /* an empty set: out->count == 0 */
    /* the k-th kept word is the floor(k * n / keep)-th of the part: spread over the file */
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    int64_t seen = 0, next = 0, kept = 0;
    for (int64_t i = 0; text && i < d->count && kept < keep; i++) {
        const attn__dict_entry_t *e = &d->entries[i];
        if (part >= 0 && attn__dict_split_of(e->word, dev_permille, test_permille) != part)
            continue;
        if (seen++ != next) continue;
        kept++;
        next = kept * n / keep;
        for (int32_t k = 0; k < e->nprons; k++) {
            size_t need = strlen(e->word) + strlen(e->prons[k]) + 3;
            if (len + need >= cap) {
                while (len + need >= cap) cap *= 2;
                char *grown = realloc(text, cap);
                if (!grown) {
                    free(text);
                    text = NULL;
                    break;
                }
                text = grown;
            }
            len += (size_t)snprintf(text + len, cap - len, "%s\t%s\n", e->word, e->prons[k]);
        }
    }
    if (!text) {
        fprintf(stderr, "attn %s: out of memory\n", cmd);
        return CLI_EXIT_FAILED;
    }
    attn_status_t st = attn__dict_parse(text, (int64_t)len, "subset", ATTN__DICT_TSV, out);
    free(text);
    if (st != ATTN_STATUS_OK) return cli_library_error(cmd, "selecting words", st);
    return CLI_EXIT_OK;
}

/* ---- pronouncing ------------------------------------------------------------------------- */

enum { MAX_ENSEMBLE = 16 };

typedef struct say_opts {
    const char *models[MAX_ENSEMBLE], *input;
    int n_models;
    long beam, nbest, threads, layer, head;
    double alpha; /* --length-penalty */
    int show_attention;
    const char *svg; /* --attention-svg FILE */
    cli_color_t color;
} say_opts_t;

static int parse_say_options(int argc, char **argv, say_opts_t *o, char ***words, int *nwords) {
    static const char *const names[] = {"--model", "--beam", "--nbest", "--input",
                                        "--show-attention", "--layer", "--head", "--color",
                                        "--no-color", "--threads", "--attention-svg",
                                        "--length-penalty", NULL};
    const char *cmd = G2P_CMD;
    *nwords = 0;
    *words = malloc(sizeof **words * (size_t)(argc > 0 ? argc : 1));
    if (!*words) return CLI_EXIT_FAILED;
    int only_words = 0, nbest_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int r;
        if (only_words || a[0] != '-' || a[1] == '\0') {
            (*words)[(*nwords)++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            only_words = 1;
        } else if (strcmp(a, "--show-attention") == 0) {
            o->show_attention = 1;
        } else if (strcmp(a, "--no-color") == 0) {
            o->color = CLI_COLOR_NEVER;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--model", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (o->n_models == MAX_ENSEMBLE)
                return cli_usage_error(cmd, "at most %d --model files (an ensemble)",
                                       MAX_ENSEMBLE);
            o->models[o->n_models++] = val;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--attention-svg", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (!*val)
                return cli_usage_error(cmd, "--attention-svg needs a file name, as in "
                                            "--attention-svg=attention.svg");
            o->svg = val;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--input", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            o->input = val;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--beam", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (cli_parse_int(val, 1, 64, &o->beam) != 0)
                return cli_usage_error(cmd, "--beam must be a whole number from 1 to 64, not "
                                            "'%s'", val);
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--length-penalty", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (g2p_parse_double(val, 0.0, 10.0, &o->alpha) != 0)
                return cli_usage_error(cmd, "--length-penalty must be a number from 0 to 10, "
                                            "not '%s'", val);
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--nbest", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (cli_parse_int(val, 1, 64, &o->nbest) != 0)
                return cli_usage_error(cmd, "--nbest must be a whole number from 1 to 64, not "
                                            "'%s'", val);
            nbest_given = 1;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--layer", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (cli_parse_int(val, 1, 64, &o->layer) != 0)
                return cli_usage_error(cmd, "--layer must be a decoder layer from 1, not '%s'",
                                       val);
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--head", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (cli_parse_int(val, 1, 1024, &o->head) != 0)
                return cli_usage_error(cmd, "--head must be a head number from 1, not '%s'",
                                       val);
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--color", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (strcmp(val, "auto") == 0) o->color = CLI_COLOR_AUTO;
            else if (strcmp(val, "always") == 0) o->color = CLI_COLOR_ALWAYS;
            else if (strcmp(val, "never") == 0) o->color = CLI_COLOR_NEVER;
            else
                return cli_usage_error(cmd, "--color must be auto, always or never, not '%s'",
                                       val);
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--threads", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (cli_parse_int(val, 1, 4096, &o->threads) != 0)
                return cli_usage_error(cmd, "--threads must be a whole number from 1 to 4096, "
                                            "not '%s'", val);
        } else {
            return g2p_unknown_option(NULL, a, names);
        }
    }
    if (o->alpha > 0 && o->beam < 2)
        return cli_usage_error(cmd, "--length-penalty ranks the hypotheses of a beam search; "
                                    "add --beam N (N >= 2)");
    if (nbest_given && o->nbest > o->beam)
        return cli_usage_error(cmd, "--nbest %ld needs a beam at least as wide: add --beam %ld",
                               o->nbest, o->nbest);
    if (o->input && *nwords > 0)
        return cli_usage_error(cmd, "give words on the command line or --input FILE, not both "
                                    "(got '%s' and --input %s)", (*words)[0], o->input);
    if (!o->input && *nwords == 0)
        return cli_usage_error(cmd, "no words to pronounce: give WORD... or --input FILE, or "
                                    "use 'attn g2p train' or 'attn g2p eval'");
    if (o->input && (o->show_attention || o->svg))
        return cli_usage_error(cmd, "%s shows words given on the command line, not --input",
                               o->svg ? "--attention-svg" : "--show-attention");
    if ((o->layer || o->head) && !o->show_attention)
        return cli_usage_error(cmd, "--layer and --head choose what --show-attention shows; add "
                                    "--show-attention");
    return CLI_EXIT_OK;
}

/* A list of words read from a file, with their line numbers. */
typedef struct word_list {
    char **words;
    int64_t *lines;
    int64_t n, cap;
} word_list_t;

static void word_list_free(word_list_t *w) {
    for (int64_t i = 0; i < w->n; i++) free(w->words[i]);
    free(w->words);
    free(w->lines);
    memset(w, 0, sizeof *w);
}

/* Reads the words of --input: one a line, surrounding blanks and a CR removed, blank lines
 * ignored; a line the model cannot read is reported and counted in *skipped. */
static int read_words(const char *path, const attn__g2p_t *g, word_list_t *w, int64_t *skipped) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    const char *name = f == stdin ? "standard input" : path;
    if (!f) {
        fprintf(stderr, "attn g2p: cannot read --input %s: %s\n", path, strerror(errno));
        return CLI_EXIT_FAILED;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t lineno = 0;
    int rc = CLI_EXIT_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *s = line, *e = line + len;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) e--;
        *e = '\0';
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) continue;
        if ((size_t)(e - s) != strlen(s)) {
            fprintf(stderr, "%s:%lld: skipped: the line holds a NUL byte\n", name,
                    (long long)lineno);
            (*skipped)++;
            continue;
        }
        if (attn__g2p_check_word(g, s) != ATTN_STATUS_OK) {
            fprintf(stderr, "%s:%lld: skipped: %s\n", name, (long long)lineno, g2p_error_text());
            (*skipped)++;
            continue;
        }
        if (w->n == w->cap) {
            int64_t nc = w->cap ? 2 * w->cap : 1024;
            char **nw = realloc(w->words, sizeof *nw * (size_t)nc);
            if (nw) w->words = nw;
            int64_t *nl = realloc(w->lines, sizeof *nl * (size_t)nc);
            if (nl) w->lines = nl;
            if (!nw || !nl) {
                rc = CLI_EXIT_FAILED;
                break;
            }
            w->cap = nc;
        }
        if (!(w->words[w->n] = strdup(s))) {
            rc = CLI_EXIT_FAILED;
            break;
        }
        w->lines[w->n++] = lineno;
    }
    if (rc == CLI_EXIT_OK && ferror(f)) {
        fprintf(stderr, "attn g2p: error reading %s\n", name);
        rc = CLI_EXIT_FAILED;
    } else if (rc != CLI_EXIT_OK) {
        fprintf(stderr, "attn g2p: out of memory reading %s\n", name);
    }
    free(line);
    if (f != stdin) fclose(f);
    return rc;
}

/* FILE for one word; for several, FILE with "-word" before its extension ("a.svg" ->
 * "a-cat.svg"), so each word gets its own figure */
static void svg_path_for(const char *file, const char *word, char *out, size_t cap) {
    if (!word) {
        snprintf(out, cap, "%s", file);
        return;
    }
    const char *slash = strrchr(file, '/'), *dot = strrchr(file, '.');
    if (!dot || (slash && dot < slash)) dot = file + strlen(file);
    snprintf(out, cap, "%.*s-%s%s", (int)(dot - file), file, word, dot);
}

static int pronounce(const say_opts_t *o, attn__g2p_t *const *gs, int32_t n_models,
                     char *const *words, int64_t n, int show_progress) {
    attn__g2p_t *g = gs[0];
    attn__g2p_decode_opts_t dopts = {(int32_t)o->beam, (int32_t)o->nbest, (float)o->alpha,
                                     g2p_decode_batch((int32_t)o->beam)};
    attn__g2p_result_t *res = calloc((size_t)(n * o->nbest + 1), sizeof *res);
    if (!res) {
        fprintf(stderr, "attn g2p: out of memory\n");
        return CLI_EXIT_FAILED;
    }
    progress_t p;
    if (show_progress) progress_begin(&p, "pronounce", "words", n);
    attn_status_t st = attn__g2p_pronounce_ensemble(gs, n_models, (const char *const *)words, n,
                                                    dopts, res,
                                                    show_progress ? g2p_progress : NULL, &p);
    if (show_progress) {
        if (st == ATTN_STATUS_OK) progress_end(&p, n, NULL);
        else g2p_progress_clear(&p);
    }
    if (st != ATTN_STATUS_OK) {
        free(res);
        return cli_library_error(G2P_CMD, "pronouncing", st);
    }
    int rc = CLI_EXIT_OK, color = cli_use_color(o->color, stdout);
    for (int64_t i = 0; i < n; i++) {
        for (long k = 0; k < o->nbest; k++) {
            const attn__g2p_result_t *r = &res[i * o->nbest + k];
            if (o->nbest > 1 && !r->phonemes[0]) continue; /* fewer hypotheses than asked */
            if (o->nbest > 1)
                printf("%s\t%s\t%.4f\n", words[i], r->phonemes, (double)r->logprob);
            else
                printf("%s\t%s\n", words[i], r->phonemes);
        }
        if (o->show_attention) {
            int r = g2p_show_alignment(stdout, g, words[i], res[i * o->nbest].phonemes,
                                       (int)o->layer, (int)o->head, color);
            if (r != CLI_EXIT_OK) {
                rc = r;
                break;
            }
            if (i + 1 < n) putchar('\n');
        }
        if (o->svg) {
            char path[PATH_MAX];
            svg_path_for(o->svg, n > 1 ? words[i] : NULL, path, sizeof path);
            int r = g2p_write_alignment_svg(path, g, words[i], res[i * o->nbest].phonemes);
            if (r != CLI_EXIT_OK) {
                rc = r;
                break;
            }
            fprintf(stderr, "attn g2p: the attention of '%s' -> %s\n", words[i], path);
        }
    }
    attn__g2p_results_free(res, n * o->nbest);
    free(res);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "attn g2p: cannot write the output: %s\n", strerror(errno));
        return CLI_EXIT_FAILED;
    }
    return rc;
}

static void free_models(attn__g2p_t *models, int n) {
    for (int m = 0; m < n; m++) attn__g2p_free(&models[m]);
}

static int cmd_say(int argc, char **argv) {
    say_opts_t o;
    memset(&o, 0, sizeof o);
    o.beam = o.nbest = 1;
    o.color = CLI_COLOR_AUTO;
    char **args = NULL;
    int nargs = 0;
    int rc = parse_say_options(argc, argv, &o, &args, &nargs);
    if (rc == CLI_EXIT_OK) rc = g2p_set_threads(G2P_CMD, o.threads);
    if (o.n_models == 0) o.models[o.n_models++] = NULL; /* the bundled model */
    static attn__g2p_t models[MAX_ENSEMBLE];
    attn__g2p_t *gs[MAX_ENSEMBLE];
    int loaded = 0;
    for (int m = 0; m < o.n_models && rc == CLI_EXIT_OK; m++) {
        char path[PATH_MAX + 64];
        rc = g2p_find_model(G2P_CMD, o.models[m], path, sizeof path);
        memset(&models[m], 0, sizeof models[m]);
        if (rc == CLI_EXIT_OK) rc = g2p_load_model(G2P_CMD, path, &models[m]);
        if (rc == CLI_EXIT_OK) gs[loaded++] = &models[m];
    }
    if (rc == CLI_EXIT_OK && attn__g2p_check_ensemble(gs, loaded) != ATTN_STATUS_OK) {
        fprintf(stderr, "attn g2p: %s\n", g2p_error_text());
        rc = CLI_EXIT_FAILED;
    }
    if (rc != CLI_EXIT_OK) {
        free_models(models, loaded);
        free(args);
        return rc;
    }
    attn__g2p_t *g = gs[0]; /* the shared alphabet; attention maps of the first model */
    int64_t skipped = 0;
    if (o.input) {
        word_list_t w = {0};
        rc = read_words(o.input, g, &w, &skipped);
        if (rc == CLI_EXIT_OK && w.n > 0)
            rc = pronounce(&o, gs, loaded, w.words, w.n, w.n >= 1000);
        word_list_free(&w);
    } else {
        /* words the model cannot read are reported, the others pronounced */
        int kept = 0;
        for (int i = 0; i < nargs; i++) {
            if (attn__g2p_check_word(g, args[i]) != ATTN_STATUS_OK) {
                fprintf(stderr, "attn g2p: cannot pronounce '%s': %s\n", args[i],
                        g2p_error_text());
                skipped++;
            } else {
                args[kept++] = args[i];
            }
        }
        if (kept > 0) rc = pronounce(&o, gs, loaded, args, kept, 0);
    }
    if (rc == CLI_EXIT_OK && skipped > 0) {
        fprintf(stderr, "attn g2p: skipped %lld word%s the model cannot read\n",
                (long long)skipped, skipped == 1 ? "" : "s");
        rc = CLI_EXIT_FAILED;
    }
    free_models(models, loaded);
    free(args);
    return rc;
}

int cli_cmd_g2p(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "train") == 0) return g2p_train(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "eval") == 0) return g2p_eval(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "average") == 0) return g2p_average(argc - 1, argv + 1);
    return cmd_say(argc, argv);
}
