/* attn g2p: what its files share.
 *
 *   cmd_g2p.c    dispatch of `attn g2p ...`, pronouncing words, and the helpers below
 *   g2p_train.c  `attn g2p train`
 *   g2p_eval.c   `attn g2p eval`
 *   g2p_average.c `attn g2p average` (checkpoint averaging)
 *   g2p_curve.c  the learning curve of `attn g2p train` (PATH.curve.tsv and .svg)
 *   g2p_errors.c `attn g2p eval --errors`: the wrong words and the phoneme errors behind them
 *   g2p_show.c   the letter-to-phoneme alignment as a terminal heatmap
 *   svg_plot.c   the SVG plot of `attn g2p eval --plot`
 *
 * The model and the data come from the library's internal G2P layer (src/g2p/g2p.h), which the
 * program links statically. */
#ifndef ATTN_CLI_G2P_H
#define ATTN_CLI_G2P_H

#include "cli.h"
#include "g2p/g2p.h"
#include "progress.h"

#include <stdint.h>
#include <stdio.h>

/* The dictionary of Debian's package pocketsphinx-en-us, read by default (the environment
 * variable ATTN_G2P_DICT names another default). */
#define G2P_DEBIAN_DICT "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"
#define G2P_DEBIAN_PACKAGE "pocketsphinx-en-us"
/* The bundled model's file name, looked for in models/ folders (g2p_find_model). */
#define G2P_BUNDLED_MODEL "g2p-transformer.safetensors"

/* Debian's dictionary is split by word: 50 permille dev, 50 permille test, the rest train. The
 * standard split's train file gives 50 permille of its words to dev and none to test (its test
 * file is the test set). */
enum { G2P_DEV_PERMILLE = 50, G2P_TEST_PERMILLE = 50 };
enum { G2P_PART_ALL = -1, G2P_PART_TRAIN = 0, G2P_PART_DEV = 1, G2P_PART_TEST = 2 };

int g2p_train(int argc, char **argv); /* argv[0] = "train" */
int g2p_eval(int argc, char **argv);  /* argv[0] = "eval" */
int g2p_average(int argc, char **argv); /* argv[0] = "average" */

/* ---- helpers (cmd_g2p.c) ---------------------------------------------------------------- */

/* Names for messages: "attn g2p train: cannot read ...". Usage errors all name G2P_CMD, so
 * that their hint, 'attn help g2p', works. */
#define G2P_CMD_TRAIN "g2p train"
#define G2P_CMD_EVAL "g2p eval"
#define G2P_CMD "g2p"

/* The usage error for an unknown option arg of `attn g2p <sub>` (sub NULL: of `attn g2p`),
 * with a guess among names (NULL-ended). */
int g2p_unknown_option(const char *sub, const char *arg, const char *const *names);
/* A whole finite decimal number in [lo, hi]; 0 and *out set, or -1. */
int g2p_parse_double(const char *text, double lo, double hi, double *out);
/* --threads: sets the library's thread count; returns an exit status. */
int g2p_set_threads(const char *cmd, long threads);

/* Where the data comes from. */
typedef struct g2p_source {
    const char *dict;  /* Debian's format, split by word (NULL: not used) */
    const char *train; /* the standard split's train file (NULL: not used) */
    const char *test;  /* the standard split's test file (NULL: not used) */
    int dict_is_default;
} g2p_source_t;

/* The default Debian dictionary: $ATTN_G2P_DICT or G2P_DEBIAN_DICT. */
const char *g2p_default_dict(void);
/* Loads a dictionary file for cmd. A missing file gets a message naming it (for the default
 * Debian dictionary: the apt-get command installing it); a malformed one the library's
 * message with the file and line. Returns an exit status (CLI_EXIT_FAILED on failure). */
int g2p_load_dict(const char *cmd, const char *path, int is_default, const char *flag,
                  attn__dict_t *d);

/* The model file to use: path when not NULL, else the bundled model found in
 * $ATTN_G2P_MODEL, <program dir>/../share/attn/models, the install prefix's share/attn/models
 * and the source tree's models/. Writes the path to buf; returns an exit status (a message
 * saying how to get a model when there is none). */
int g2p_find_model(const char *cmd, const char *path, char *buf, size_t cap);
/* Loads a model for decoding; returns an exit status. */
int g2p_load_model(const char *cmd, const char *path, attn__g2p_t *g);

/* A progress callback for attn__g2p_pronounce / attn__g2p_evaluate; user is a progress_t. */
void g2p_progress(void *user, int64_t done, int64_t total);
/* attn_last_error() without a leading "bad argument: " (for messages about words). */
const char *g2p_error_text(void);
/* Erases a progress line being redrawn on a terminal, before other output. */
void g2p_progress_clear(progress_t *p);

/* A dictionary of the entries of d in part (as attn__dict_split_of with the permilles),
 * at most max_words of them spread evenly over the part (0: all). */
int g2p_subset(const char *cmd, const attn__dict_t *d, int part, int dev_permille,
               int test_permille, int64_t max_words, attn__dict_t *out);

/* Words decoded together. */
int64_t g2p_decode_batch(int32_t beam);

/* ---- alignment heatmap (g2p_show.c) ------------------------------------------------------ */

/* Prints the attention of the model over the letters of word while producing phonemes:
 * phonemes (and </s>) as rows, letters as columns; the mean over heads of decoder layer
 * `layer` (1-based; 0 = the last) or head `head` (1-based; 0 = the mean). Returns an exit
 * status (CLI_EXIT_USAGE when layer or head is out of range, CLI_EXIT_FAILED when the model
 * has no attention). */
int g2p_show_alignment(FILE *out, attn__g2p_t *g, const char *word, const char *phonemes,
                       int layer, int head, int color);
/* Writes the same attention of every decoder layer and head (and each layer's mean over the
 * heads) as an SVG figure to path. Returns an exit status. */
int g2p_write_alignment_svg(const char *path, attn__g2p_t *g, const char *word,
                            const char *phonemes);

#endif
