/* The attn command-line program: what the subcommands share.
 *
 * main.c holds the table of subcommands and dispatches to them; each subcommand lives in its own
 * cmd_<name>.c and has the signature of cli_command_fn. A subcommand gets argv starting at its
 * own name (argv[0] is "demo" for `attn demo --causal`) and returns an exit status:
 *
 *   CLI_EXIT_OK      0  it did what was asked
 *   CLI_EXIT_FAILED  1  it was asked something sensible but failed (a library error, say)
 *   CLI_EXIT_USAGE   2  the command line was wrong (unknown command, bad flag or value)
 *
 * Messages go to stderr and always say what was wrong and what to type instead. */
#ifndef ATTN_CLI_H
#define ATTN_CLI_H

#include "attn.h"

#include <stdio.h>

#if defined(__GNUC__)
#  define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define CLI_PRINTF(a, b)
#endif

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILED = 1, CLI_EXIT_USAGE = 2 };

typedef int (*cli_command_fn)(int argc, char **argv);

typedef struct cli_command {
    const char *name;    /* what is typed after `attn` */
    const char *summary; /* one line for `attn help` */
    const char *usage;   /* the full help of the command, printed by `attn help <name>` */
    cli_command_fn run;
} cli_command_t;

/* The table of subcommands (main.c), ended by an entry whose name is NULL. */
extern const cli_command_t cli_commands[];
const cli_command_t *cli_find_command(const char *name);
/* The command name closest to a mistyped one, or NULL. */
const char *cli_guess_command(const char *name);

/* Subcommands (one file each). */
int cli_cmd_bench(int argc, char **argv);
int cli_cmd_bench_train(int argc, char **argv);
int cli_cmd_demo(int argc, char **argv);
int cli_cmd_g2p(int argc, char **argv);
int cli_cmd_help(int argc, char **argv);
int cli_cmd_version(int argc, char **argv);
extern const char cli_bench_usage[];
extern const char cli_bench_train_usage[];
extern const char cli_demo_usage[];
extern const char cli_g2p_usage[];
extern const char cli_help_usage[];
extern const char cli_version_usage[];

/* Prints the help of a command (or of the program when cmd is NULL) to out. */
void cli_print_help(FILE *out, const cli_command_t *cmd);

/* ---- errors (cli_util.c) --------------------------------------------------------------- */

/* "attn <cmd>: <message>" on stderr, then a hint to run `attn help <cmd>`; returns
 * CLI_EXIT_USAGE so callers can `return cli_usage_error(...)`. cmd may be NULL (the program). */
int cli_usage_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/* "attn <cmd>: <what> failed: <attn_last_error()>" on stderr (the status name when there is no
 * message); returns CLI_EXIT_FAILED. */
int cli_library_error(const char *cmd, const char *what, attn_status_t status);

/* The candidate closest to word by edit distance, or NULL when nothing is close enough to be a
 * likely typo. candidates ends with NULL. */
const char *cli_closest(const char *word, const char *const *candidates);

/* ---- options (cli_util.c) -------------------------------------------------------------- */

/* Matches argv[*i] against a long option "--name" taking a value, given as "--name=VALUE" or as
 * "--name VALUE". Returns 1 and sets *value (advancing *i past a separate value) on a match,
 * 0 when argv[*i] is another option, and -1 (after printing a usage error) when the value is
 * missing. */
int cli_option_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                     const char **value);

/* Parses a whole decimal integer in [lo, hi]; returns 0 and sets *out, or -1. */
int cli_parse_int(const char *text, long lo, long hi, long *out);

/* ---- terminal output (render.c) -------------------------------------------------------- */

typedef enum cli_color { CLI_COLOR_AUTO = 0, CLI_COLOR_ALWAYS = 1, CLI_COLOR_NEVER = 2 } cli_color_t;

/* Whether to write ANSI colours to out: ALWAYS, NEVER, or for AUTO when out is a terminal,
 * NO_COLOR is unset or empty and TERM is not "dumb". */
int cli_use_color(cli_color_t mode, FILE *out);

/* A labelled matrix of rows x cols floats (row stride ld). hidden, when not NULL, is rows x cols
 * (row stride cols) and marks cells printed as a dot instead of a number. */
typedef struct cli_matrix {
    int rows, cols;
    const char *const *row_labels;
    const char *const *col_labels;
    const float *data;
    int ld;
    const unsigned char *hidden;
} cli_matrix_t;

/* The numbers as a table with the labels as its header and first column; indent spaces before
 * each line; decimals digits after the point. */
void cli_print_table(FILE *out, const cli_matrix_t *m, int indent, int decimals);

/* Values in [0, 1] as a heatmap aligned with cli_print_table's columns: shade blocks, or cells
 * of ANSI 256-colour background when color is nonzero. A legend line comes first. */
void cli_print_heatmap(FILE *out, const cli_matrix_t *m, int indent, int color);

#endif
