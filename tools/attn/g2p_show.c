/* The alignment of a word's letters to its phonemes: the cross-attention weights of the
 * decoder over the encoder's letters while it produced each phoneme (and </s>), teacher-forced
 * on the pronunciation. In the terminal as the demo's heatmap (one layer, one head or the mean
 * of the heads), or as an SVG figure of every decoder layer and head. */
#include "g2p_cli.h"
#include "svg_heatmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct alignment {
    float *maps; /* [L, H, T, S] */
    int32_t L, H;
    int64_t T, S;
    char *pcopy, *letters;     /* storage of the labels */
    const char **rows, **cols; /* [T] the phonemes then </s>; [S] the letters */
} alignment_t;

static void alignment_free(alignment_t *a) {
    free(a->maps);
    free(a->pcopy);
    free(a->letters);
    free(a->rows);
    free(a->cols);
    memset(a, 0, sizeof *a);
}

/* The maps and their labels; on failure a message on stderr (what names the option). */
static int alignment_get(attn__g2p_t *g, const char *word, const char *phonemes,
                         const char *what, alignment_t *a) {
    memset(a, 0, sizeof *a);
    attn_status_t st = attn__g2p_alignment(g, word, phonemes, &a->maps, &a->L, &a->H, &a->T,
                                           &a->S);
    if (st != ATTN_STATUS_OK) {
        if (st == ATTN_STATUS_UNSUPPORTED)
            fprintf(stderr, "attn g2p: %s: %s (a %s model)\n", what, attn_last_error(),
                    g->cfg.kind);
        else
            fprintf(stderr, "attn g2p: the alignment of '%s' failed: %s\n", word,
                    attn_last_error());
        return CLI_EXIT_FAILED;
    }
    a->pcopy = strdup(phonemes);
    a->rows = calloc((size_t)a->T, sizeof *a->rows);
    a->cols = calloc((size_t)a->S, sizeof *a->cols);
    a->letters = calloc((size_t)a->S, 2);
    if (!a->pcopy || !a->rows || !a->cols || !a->letters) {
        alignment_free(a);
        fprintf(stderr, "attn g2p: out of memory\n");
        return CLI_EXIT_FAILED;
    }
    int64_t r = 0;
    for (char *tok = strtok(a->pcopy, " "); tok && r < a->T - 1; tok = strtok(NULL, " "))
        a->rows[r++] = tok;
    while (r < a->T) a->rows[r++] = "</s>";
    for (int64_t j = 0; j < a->S; j++) {
        a->letters[2 * j] = word[j];
        a->cols[j] = &a->letters[2 * j];
    }
    return CLI_EXIT_OK;
}

/* avg = the mean over the heads of layer l (head < 0), or that head alone */
static void layer_map(const alignment_t *a, int l, int head, float *avg) {
    const int64_t n = a->T * a->S;
    memset(avg, 0, sizeof *avg * (size_t)n);
    for (int h = 0; h < a->H; h++) {
        if (head >= 0 && h != head) continue;
        const float *m = a->maps + ((int64_t)l * a->H + h) * n;
        float w = head >= 0 ? 1.0f : 1.0f / (float)a->H;
        for (int64_t i = 0; i < n; i++) avg[i] += w * m[i];
    }
}

int g2p_show_alignment(FILE *out, attn__g2p_t *g, const char *word, const char *phonemes,
                       int layer, int head, int color) {
    alignment_t a;
    int rc = alignment_get(g, word, phonemes, "--show-attention", &a);
    if (rc != CLI_EXIT_OK) return rc;
    if (layer > a.L || head > a.H) {
        int L = a.L, H = a.H;
        alignment_free(&a);
        if (layer > L)
            return cli_usage_error(G2P_CMD, "--layer %d: the model has %d decoder layer%s", layer,
                                   L, L == 1 ? "" : "s");
        return cli_usage_error(G2P_CMD, "--head %d: the model has %d head%s", head, H,
                               H == 1 ? "" : "s");
    }
    int l = layer > 0 ? layer - 1 : (int)a.L - 1;
    float *avg = calloc((size_t)(a.T * a.S), sizeof *avg);
    if (!avg) {
        alignment_free(&a);
        fprintf(stderr, "attn g2p: out of memory\n");
        return CLI_EXIT_FAILED;
    }
    layer_map(&a, l, head - 1, avg);
    fprintf(out, "\nattention of '%s' -> %s: decoder layer %d of %d, ", word, phonemes, l + 1,
            (int)a.L);
    if (head > 0)
        fprintf(out, "head %d of %d\n", head, (int)a.H);
    else
        fprintf(out, "mean of %d head%s\n", (int)a.H, a.H == 1 ? "" : "s");
    fprintf(out, "rows: the phoneme being produced; columns: the letters it attends to\n");
    cli_matrix_t mat = {(int)a.T, (int)a.S, a.rows, a.cols, avg, (int)a.S, NULL};
    cli_print_heatmap(out, &mat, 2, color);
    /* the letter each phoneme attends to most */
    fprintf(out, "  strongest:");
    for (int64_t i = 0; i < a.T - 1; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < a.S; j++)
            if (avg[i * a.S + j] > avg[i * a.S + best]) best = j;
        fprintf(out, " %s<-%c", a.rows[i], word[best]);
    }
    fputc('\n', out);
    free(avg);
    alignment_free(&a);
    return CLI_EXIT_OK;
}

int g2p_write_alignment_svg(const char *path, attn__g2p_t *g, const char *word,
                            const char *phonemes) {
    alignment_t a;
    int rc = alignment_get(g, word, phonemes, "--attention-svg", &a);
    if (rc != CLI_EXIT_OK) return rc;
    /* per decoder layer: each head, then their mean */
    const int per = (int)a.H + 1, n = (int)a.L * per;
    const int64_t sz = a.T * a.S;
    float *means = calloc((size_t)(a.L * sz), sizeof *means);
    const float **maps = calloc((size_t)n, sizeof *maps);
    char (*titles)[40] = calloc((size_t)n, sizeof *titles);
    const char **tp = calloc((size_t)n, sizeof *tp);
    char title[512], sub[160], err[512];
    if (!means || !maps || !titles || !tp) {
        rc = CLI_EXIT_FAILED;
        fprintf(stderr, "attn g2p: out of memory\n");
    } else {
        for (int l = 0; l < a.L; l++) {
            layer_map(&a, l, -1, means + l * sz);
            for (int h = 0; h <= a.H; h++) {
                int p = l * per + h;
                maps[p] = h < a.H ? a.maps + ((int64_t)l * a.H + h) * sz : means + l * sz;
                if (h < a.H) snprintf(titles[p], sizeof titles[p], "layer %d, head %d", l + 1,
                                      h + 1);
                else snprintf(titles[p], sizeof titles[p], "layer %d, mean", l + 1);
                tp[p] = titles[p];
            }
        }
        snprintf(title, sizeof title, "attention of '%.200s' -> %.250s", word, phonemes);
        snprintf(sub, sizeof sub, "decoder cross-attention over the letters (columns) while "
                                  "producing each phoneme (rows), per layer and head");
        svg_heatmap_t h = {title, sub, a.T, a.S, a.rows, a.cols, n, per, maps, tp};
        if (svg_heatmap_write(path, &h, err, sizeof err) != 0) {
            fprintf(stderr, "attn g2p: --attention-svg: %s\n", err);
            rc = CLI_EXIT_FAILED;
        }
    }
    free(means);
    free(maps);
    free(titles);
    free(tp);
    alignment_free(&a);
    return rc;
}
