/* Shared helpers of the subcommands: error messages, typo suggestions, option parsing. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    if (cmd)
        fprintf(stderr, "attn %s: ", cmd);
    else
        fputs("attn: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\nRun 'attn help %s' for its options.\n", cmd);
    else
        fputs("\nRun 'attn help' to list the commands.\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_library_error(const char *cmd, const char *what, attn_status_t status) {
    /* The message already starts with the status name ("bad shape: ..."). */
    const char *msg = attn_last_error();
    if (msg && *msg)
        fprintf(stderr, "attn %s: %s failed: %s\n", cmd, what, msg);
    else
        fprintf(stderr, "attn %s: %s failed: %s\n", cmd, what, attn_status_string(status));
    return CLI_EXIT_FAILED;
}

/* Edit distance counting insertions, deletions, substitutions and swaps of two neighbouring
 * letters as one edit each (so "dmeo" is one edit from "demo"). Short words only: longer ones
 * count as far apart. */
static size_t edit_distance(const char *a, const char *b) {
    enum { MAXLEN = 63 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXLEN || lb > MAXLEN) return (size_t)-1;
    size_t d[MAXLEN + 1][MAXLEN + 1];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

const char *cli_closest(const char *word, const char *const *candidates) {
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (const char *const *c = candidates; *c; c++) {
        size_t d = edit_distance(word, *c);
        if (d < best_d) {
            best_d = d;
            best = *c;
        }
    }
    /* A typo changes a few letters: accept up to a third of the word, at least one. */
    size_t limit = strlen(word) / 3;
    if (limit < 1) limit = 1;
    return best_d <= limit ? best : NULL;
}

int cli_option_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                     const char **value) {
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0) return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0') return 0;
    if (*i + 1 >= argc || (argv[*i + 1][0] == '-' && argv[*i + 1][1] != '\0')) {
        cli_usage_error(cmd, "option %s needs a value, as in %s=VALUE", name, name);
        return -1;
    }
    *i += 1;
    *value = argv[*i];
    return 1;
}

int cli_parse_int(const char *text, long lo, long hi, long *out) {
    if (!text || !*text) return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || !end || *end != '\0' || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}
