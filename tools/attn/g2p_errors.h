/* Error analysis for `attn g2p eval --errors FILE`: the words a system gets wrong, each with
 * its output and the closest reference, written to FILE (tab-separated), and a summary of the
 * phoneme errors behind them (substitutions, phonemes left out, extra phonemes), counted on a
 * minimum-edit alignment of each output with its closest reference (g2p/score.h). */
#ifndef ATTN_CLI_G2P_ERRORS_H
#define ATTN_CLI_G2P_ERRORS_H

#include "g2p/g2p.h"

typedef struct g2p_errors g2p_errors_t;

/* A collector for a system whose phoneme set is phonemes (copied); NULL when out of memory. */
g2p_errors_t *g2p_errors_new(const attn__vocab_t *phonemes);

/* An attn__g2p_word_fn: pass the collector as its user pointer. */
void g2p_errors_word(void *user, const attn__dict_entry_t *e, const char *output,
                     int32_t closest, int64_t edits);

/* Writes the wrong words to path (through a temporary file renamed over it) and prints the
 * summary, its `top` most frequent phoneme errors first. Returns an exit status. */
int g2p_errors_finish(g2p_errors_t *x, const char *cmd, const char *path, int top);

void g2p_errors_free(g2p_errors_t *x);

#endif
