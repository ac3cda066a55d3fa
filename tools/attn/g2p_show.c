/* The alignment of a word's letters to its phonemes, as the demo's heatmap: one row per phoneme
 * (and </s>), one column per letter, the cross-attention weight of the decoder over the
 * encoder's letters while it produced that phoneme (teacher-forced on the pronunciation). */
#include "g2p_cli.h"

#include <stdlib.h>
#include <string.h>

int g2p_show_alignment(FILE *out, attn__g2p_t *g, const char *word, const char *phonemes,
                       int layer, int head, int color) {
    float *maps = NULL;
    int32_t L = 0, H = 0;
    int64_t T = 0, S = 0;
    attn_status_t st = attn__g2p_alignment(g, word, phonemes, &maps, &L, &H, &T, &S);
    if (st != ATTN_STATUS_OK) {
        if (st == ATTN_STATUS_UNSUPPORTED)
            fprintf(stderr, "attn g2p: --show-attention: %s (a %s model)\n", attn_last_error(),
                    g->cfg.kind);
        else
            fprintf(stderr, "attn g2p: the alignment of '%s' failed: %s\n", word,
                    attn_last_error());
        return CLI_EXIT_FAILED;
    }
    if (layer > L || head > H) {
        free(maps);
        if (layer > L)
            return cli_usage_error(G2P_CMD, "--layer %d: the model has %d decoder layer%s", layer,
                                   (int)L, L == 1 ? "" : "s");
        return cli_usage_error(G2P_CMD, "--head %d: the model has %d head%s", head, (int)H,
                               H == 1 ? "" : "s");
    }
    int l = layer > 0 ? layer - 1 : (int)L - 1;
    float *avg = calloc((size_t)(T * S), sizeof *avg);
    /* labels: the phonemes then </s>; the letters of the word */
    char *pcopy = strdup(phonemes);
    const char **rows = calloc((size_t)T, sizeof *rows);
    const char **cols = calloc((size_t)S, sizeof *cols);
    char *letters = calloc((size_t)S, 2);
    if (!avg || !pcopy || !rows || !cols || !letters) {
        free(maps); free(avg); free(pcopy); free(rows); free(cols); free(letters);
        fprintf(stderr, "attn g2p: out of memory\n");
        return CLI_EXIT_FAILED;
    }
    for (int h = 0; h < H; h++) {
        if (head > 0 && h != head - 1) continue;
        const float *m = maps + ((int64_t)l * H + h) * T * S;
        float w = head > 0 ? 1.0f : 1.0f / (float)H;
        for (int64_t i = 0; i < T * S; i++) avg[i] += w * m[i];
    }
    int64_t r = 0;
    for (char *tok = strtok(pcopy, " "); tok && r < T - 1; tok = strtok(NULL, " ")) rows[r++] = tok;
    while (r < T) rows[r++] = "</s>";
    for (int64_t j = 0; j < S; j++) {
        letters[2 * j] = word[j];
        cols[j] = &letters[2 * j];
    }
    fprintf(out, "\nattention of '%s' -> %s: decoder layer %d of %d, ", word, phonemes, l + 1,
            (int)L);
    if (head > 0)
        fprintf(out, "head %d of %d\n", head, (int)H);
    else
        fprintf(out, "mean of %d head%s\n", (int)H, H == 1 ? "" : "s");
    fprintf(out, "rows: the phoneme being produced; columns: the letters it attends to\n");
    cli_matrix_t mat = {(int)T, (int)S, rows, cols, avg, (int)S, NULL};
    cli_print_heatmap(out, &mat, 2, color);
    /* the letter each phoneme attends to most */
    fprintf(out, "  strongest:");
    for (int64_t i = 0; i < T - 1; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < S; j++)
            if (avg[i * S + j] > avg[i * S + best]) best = j;
        fprintf(out, " %s<-%c", rows[i], word[best]);
    }
    fputc('\n', out);
    free(maps); free(avg); free(pcopy); free(rows); free(cols); free(letters);
    return CLI_EXIT_OK;
}
