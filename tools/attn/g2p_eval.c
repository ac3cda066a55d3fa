/* attn g2p eval: word and phoneme error rates of one or more models on a test set, by the
 * published convention (g2p/score.h), with a table by word length and an optional SVG plot of
 * WER by word length (one line per model: where attention matters). With --ensemble the
 * models decode together (g2p/g2p.h) and are scored as one system. --errors FILE lists one
 * system's wrong words and sums up its phoneme errors (g2p_errors.h). */
#include "g2p_cli.h"
#include "g2p_errors.h"
#include "svg_plot.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_MODELS = 8 };

/* Word-length buckets: 1-3, 4, 5, ..., 12, 13+ letters. */
enum { BUCKETS = 11 };
static const char *const bucket_names[BUCKETS] = {"1-3", "4", "5", "6",  "7",  "8",
                                                  "9",   "10", "11", "12", "13+"};
static int bucket_of(int letters) {
    if (letters <= 3) return 0;
    if (letters >= 13) return BUCKETS - 1;
    return letters - 3;
}

typedef struct bucket {
    int64_t words, wrong, edits, ref;
} bucket_t;

static void buckets_of(const attn__g2p_score_t *s, bucket_t *b) {
    memset(b, 0, sizeof *b * BUCKETS);
    for (int len = 0; len <= ATTN__SCORE_MAXLEN; len++) {
        bucket_t *k = &b[bucket_of(len)];
        k->words += s->len_words[len];
        k->wrong += s->len_wrong[len];
        k->edits += s->len_edits[len];
        k->ref += s->len_ref[len];
    }
}

typedef struct eval_opts {
    const char *models[MAX_MODELS];
    int n_models;
    g2p_source_t src;
    long beam, threads;
    double alpha;      /* --length-penalty */
    const char *plot;
    const char *errors; /* --errors FILE */
    int ensemble;      /* --ensemble: the models decode together, scored as one */
    const char *dev;   /* --dev FILE: the dev part of a standard-split train file */
    long dev_permille; /* its share, as attn g2p train --dev-permille */
} eval_opts_t;

static int parse_options(int argc, char **argv, eval_opts_t *o) {
    static const char *const names[] = {"--model", "--test", "--dict", "--dev", "--dev-permille",
                                        "--beam", "--plot", "--threads", "--ensemble",
                                        "--length-penalty", "--errors", NULL};
    const char *cmd = G2P_CMD;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int r;
        if ((r = cli_option_value(cmd, argc, argv, &i, "--model", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (o->n_models == MAX_MODELS)
                return cli_usage_error(cmd, "at most %d models at a time", MAX_MODELS);
            o->models[o->n_models++] = val;
        } else if (!strcmp(a, "--ensemble")) {
            o->ensemble = 1;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--test", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            o->src.test = val;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--dict", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            o->src.dict = val;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--dev", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            o->dev = val;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--dev-permille", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (cli_parse_int(val, 0, 500, &o->dev_permille) != 0)
                return cli_usage_error(cmd, "--dev-permille must be a whole number from 0 to "
                                            "500, not '%s'", val);
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
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--plot", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (!*val)
                return cli_usage_error(cmd, "--plot needs a file name, as in --plot=wer.svg");
            o->plot = val;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--errors", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (!*val)
                return cli_usage_error(cmd, "--errors needs a file name, as in "
                                            "--errors=errors.tsv");
            o->errors = val;
        } else if ((r = cli_option_value(cmd, argc, argv, &i, "--threads", &val)) != 0) {
            if (r < 0) return CLI_EXIT_USAGE;
            if (cli_parse_int(val, 1, 4096, &o->threads) != 0)
                return cli_usage_error(cmd, "--threads must be a whole number from 1 to 4096, "
                                            "not '%s'", val);
        } else if (a[0] == '-') {
            return g2p_unknown_option("eval", a, names);
        } else {
            return cli_usage_error(cmd, "'attn g2p eval' takes no arguments besides options, got "
                                        "'%s'; models "
                                        "are given with --model PATH", a);
        }
    }
    if (o->alpha > 0 && o->beam < 2)
        return cli_usage_error(cmd, "--length-penalty ranks the hypotheses of a beam search; "
                                    "add --beam N (N >= 2)");
    if (o->ensemble && o->n_models < 2)
        return cli_usage_error(cmd, "--ensemble decodes two or more --model files together; "
                                    "got %d", o->n_models);
    if (o->errors && o->n_models > 1 && !o->ensemble)
        return cli_usage_error(cmd, "--errors analyses one system: give one --model, or "
                                    "--ensemble to score the %d models as one", o->n_models);
    if (!!o->src.test + !!o->src.dict + !!o->dev > 1)
        return cli_usage_error(cmd, "--test FILE, --dict FILE and --dev FILE name different "
                                    "word sets; pick one");
    if (!o->src.test && !o->src.dict && !o->dev) {
        o->src.dict = g2p_default_dict();
        o->src.dict_is_default = 1;
    }
    return CLI_EXIT_OK;
}

/* "models/g2p-rnn.safetensors" -> "g2p-rnn" */
static void model_name(const char *path, char *buf, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, cap, "%s", base);
    char *dot = strstr(buf, ".safetensors");
    if (dot && dot != buf && dot[12] == '\0') *dot = '\0';
}

/* one model's block of the table: "  WER% PER%" in 19 columns */
static void print_block(int64_t wrong, int64_t words, int64_t edits, int64_t ref) {
    fputs("  ", stdout);
    if (words > 0) printf("%7.1f%%", 100.0 * (double)wrong / (double)words);
    else printf("%8s", "-");
    if (ref > 0) printf(" %7.1f%%", 100.0 * (double)edits / (double)ref);
    else printf(" %8s", "-");
}

int g2p_eval(int argc, char **argv) {
    const char *cmd = G2P_CMD_EVAL;
    eval_opts_t o;
    memset(&o, 0, sizeof o);
    o.beam = 1;
    o.dev_permille = G2P_DEV_PERMILLE;
    int rc = parse_options(argc, argv, &o);
    if (rc != CLI_EXIT_OK) return rc;
    if ((rc = g2p_set_threads(cmd, o.threads)) != CLI_EXIT_OK) return rc;

    /* the models' paths first, so a missing one fails before the dictionary is read */
    static char paths[MAX_MODELS][PATH_MAX + 64];
    if (o.n_models == 0) {
        if ((rc = g2p_find_model(cmd, NULL, paths[0], sizeof paths[0])) != CLI_EXIT_OK) return rc;
        o.models[o.n_models++] = paths[0];
    } else {
        for (int m = 0; m < o.n_models; m++)
            if ((rc = g2p_find_model(cmd, o.models[m], paths[m], sizeof paths[m])) != CLI_EXIT_OK)
                return rc;
    }

    attn__dict_t d;
    int part, dev = 0, test = 0;
    char what[PATH_MAX + 128];
    if (o.src.test) {
        rc = g2p_load_dict(cmd, o.src.test, 0, "--test", &d);
        part = G2P_PART_ALL;
        snprintf(what, sizeof what, "every word of %s", o.src.test);
    } else if (o.dev) {
        /* the words attn g2p train --train FILE held out for dev (none go to test there) */
        rc = g2p_load_dict(cmd, o.dev, 0, "--dev", &d);
        part = G2P_PART_DEV;
        dev = (int)o.dev_permille;
        snprintf(what, sizeof what, "the dev part of %s (%d permille of its words, by a hash "
                                    "of the word, as attn g2p train holds them out)", o.dev, dev);
    } else {
        rc = g2p_load_dict(cmd, o.src.dict, o.src.dict_is_default, "--dict", &d);
        part = G2P_PART_TEST;
        dev = G2P_DEV_PERMILLE;
        test = G2P_TEST_PERMILLE;
        snprintf(what, sizeof what, "the test part of %s (%d permille of its words, by a hash "
                                    "of the word)", o.src.dict, G2P_TEST_PERMILLE);
    }
    if (rc != CLI_EXIT_OK) return rc;
    int64_t n_words = 0;
    for (int64_t i = 0; i < d.count; i++)
        if (part < 0 || attn__dict_split_of(d.entries[i].word, dev, test) == part) n_words++;
    if (n_words == 0) {
        fprintf(stderr, "attn %s: no words to score: %s is empty (the dictionary has %lld "
                        "words)%s\n", cmd, what, (long long)d.count,
                o.dev && o.dev_permille == 0 ? "; --dev-permille 0 holds out no words: give "
                                               "the share attn g2p train used" : "");
        attn__dict_free(&d);
        return CLI_EXIT_FAILED;
    }
    printf("attn g2p eval: %lld words, %s; %s decoding\n", (long long)n_words, what,
           o.beam == 1 ? "greedy" : "beam search");
    if (o.beam > 1) printf("beam width %ld, length penalty %g\n", o.beam, o.alpha);

    /* one system per model, or with --ensemble one system of all of them */
    attn__g2p_score_t scores[MAX_MODELS];
    char names[MAX_MODELS][64];
    static attn__g2p_t models[MAX_MODELS];
    attn__g2p_t *gs[MAX_MODELS];
    int loaded = 0, n_systems = o.ensemble ? 1 : o.n_models;
    g2p_errors_t *errors = NULL;
    for (int m = 0; m < o.n_models && rc == CLI_EXIT_OK; m++) {
        if (!o.ensemble) loaded = 0; /* one model in memory at a time */
        attn__g2p_t *g = &models[loaded];
        if ((rc = g2p_load_model(cmd, o.models[m], g)) != CLI_EXIT_OK) break;
        gs[loaded++] = g;
        const attn__s2s_config_t *c = &g->cfg;
        printf("model %d: %s  (%s, %lld+%lld layers, d_model %lld, ", m + 1, o.models[m],
               c->kind, (long long)c->enc_layers, (long long)c->dec_layers,
               (long long)c->d_model);
        if (!strcmp(c->kind, "transformer")) printf("%lld heads, ", (long long)c->heads);
        else printf("hidden %lld %s, ", (long long)c->hidden, c->cell);
        printf("%.2fM parameters)\n", (double)g->model->params.total / 1e6);
        fflush(stdout);
        if (o.ensemble && m + 1 < o.n_models) continue; /* load them all first */
        int sys = o.ensemble ? 0 : m;
        if (o.ensemble) {
            snprintf(names[sys], sizeof names[sys], "ensemble of %d", o.n_models);
            printf("ensemble of the %d models (their mean probability):\n", o.n_models);
        } else {
            model_name(o.models[m], names[sys], sizeof names[sys]);
        }
        attn__g2p_decode_opts_t dopts = {(int32_t)o.beam, 1, (float)o.alpha,
                                         g2p_decode_batch((int32_t)o.beam)};
        progress_t p;
        progress_begin(&p, names[sys], "words", n_words);
        double t0 = progress_now();
        attn_status_t st = ATTN_STATUS_OK;
        if (o.errors && !(errors = g2p_errors_new(&gs[0]->phonemes)))
            st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "--errors: out of memory");
        if (st == ATTN_STATUS_OK)
            st = attn__g2p_evaluate_ensemble(gs, loaded, &d, part, dev, test, dopts,
                                             &scores[sys], g2p_progress, &p,
                                             errors ? g2p_errors_word : NULL, errors);
        if (st != ATTN_STATUS_OK) {
            g2p_progress_clear(&p);
            rc = cli_library_error(cmd, "evaluating", st);
        } else {
            progress_end(&p, scores[sys].words, NULL);
            printf("  WER %.2f%%  PER %.2f%%  (%.1f s)\n", 100.0 * attn__g2p_wer(&scores[sys]),
                   100.0 * attn__g2p_per(&scores[sys]), progress_now() - t0);
        }
        if (!o.ensemble) attn__g2p_free(g);
    }
    if (o.ensemble)
        for (int m = 0; m < loaded; m++) attn__g2p_free(gs[m]);
    attn__dict_free(&d);
    if (rc != CLI_EXIT_OK) {
        g2p_errors_free(errors);
        return rc;
    }

    /* the table: one row per length bucket, WER and PER per model */
    bucket_t b[MAX_MODELS][BUCKETS];
    for (int m = 0; m < n_systems; m++) buckets_of(&scores[m], b[m]);
    printf("\nBy word length (letters):\n%-8s %7s", "", "");
    for (int m = 0; m < n_systems; m++) printf("  %-17.17s", names[m]);
    printf("\n%-8s %7s", "letters", "words");
    for (int m = 0; m < n_systems; m++) printf("  %8s %8s", "WER", "PER");
    printf("\n");
    for (int k = 0; k < BUCKETS; k++) {
        if (b[0][k].words == 0) continue;
        printf("%-8s %7lld", bucket_names[k], (long long)b[0][k].words);
        for (int m = 0; m < n_systems; m++)
            print_block(b[m][k].wrong, b[m][k].words, b[m][k].edits, b[m][k].ref);
        printf("\n");
    }
    printf("%-8s %7lld", "all", (long long)scores[0].words);
    for (int m = 0; m < n_systems; m++)
        print_block(scores[m].wrong, scores[m].words, scores[m].edits, scores[m].ref_phonemes);
    printf("\n");
    fflush(stdout);

    if (o.plot) {
        double y[MAX_MODELS][BUCKETS];
        svg_series_t series[MAX_MODELS];
        for (int m = 0; m < n_systems; m++) {
            for (int k = 0; k < BUCKETS; k++)
                y[m][k] = b[m][k].words ? 100.0 * (double)b[m][k].wrong / (double)b[m][k].words
                                        : NAN;
            series[m].name = names[m];
            series[m].y = y[m];
        }
        svg_plot_t plot;
        memset(&plot, 0, sizeof plot);
        plot.title = "G2P word error rate by word length";
        plot.x_label = "word length (letters)";
        plot.y_label = "word error rate (%)";
        plot.n_x = BUCKETS;
        plot.x_ticks = bucket_names;
        plot.n_series = n_systems;
        plot.series = series;
        plot.y_unit = "%";
        char err[512];
        if (svg_plot_write(o.plot, &plot, err, sizeof err) != 0) {
            fprintf(stderr, "attn %s: --plot: %s\n", cmd, err);
            g2p_errors_free(errors);
            return CLI_EXIT_FAILED;
        }
        printf("\nplot: %s\n", o.plot);
    }
    if (errors) {
        rc = g2p_errors_finish(errors, cmd, o.errors, 12);
        g2p_errors_free(errors);
    }
    return rc;
}
