/* Error analysis for `attn g2p eval --errors FILE` (see g2p_errors.h). */
#include "g2p_errors.h"

#include "cli.h"
#include "svg_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PHONEMES = 256 };

/* The vowels of CMUdict's ARPAbet (Debian's copy adds stress digits: AH0, AH1) */
static int is_vowel(const char *ph) {
    static const char *const vowels[] = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER",
                                         "EY", "IH", "IY", "OW", "OY", "UH", "UW"};
    for (size_t i = 0; i < sizeof vowels / sizeof *vowels; i++)
        if (!strncmp(ph, vowels[i], 2) && (!ph[2] || (ph[2] >= '0' && ph[2] <= '9' && !ph[3])))
            return 1;
    return 0;
}

struct g2p_errors {
    attn__vocab_t ph;
    int32_t n;                 /* ph.count + 1: cell 0 of each axis is "none" (a gap) */
    int64_t *cells;            /* [n * n]: [reference + 1][output + 1] */
    char *text;                /* the file's lines */
    size_t len, cap;
    int64_t words, wrong, edits, subs, left_out, extra, unaligned;
    int64_t vowel_subs; /* substitutions of a vowel for a vowel */
    int oom;
};

g2p_errors_t *g2p_errors_new(const attn__vocab_t *phonemes) {
    g2p_errors_t *x = calloc(1, sizeof *x);
    char *list = attn__vocab_join(phonemes);
    if (!x || !list || attn__vocab_parse(list, &x->ph) != ATTN_STATUS_OK) {
        free(list);
        free(x);
        return NULL;
    }
    free(list);
    x->n = x->ph.count + 1;
    x->cells = calloc((size_t)x->n * (size_t)x->n, sizeof *x->cells);
    if (!x->cells) {
        g2p_errors_free(x);
        return NULL;
    }
    return x;
}

void g2p_errors_free(g2p_errors_t *x) {
    if (!x) return;
    attn__vocab_free(&x->ph);
    free(x->cells);
    free(x->text);
    free(x);
}

/* One line of the file: word, output, closest reference, edits. */
static void append_line(g2p_errors_t *x, const char *word, const char *output, const char *ref,
                        int64_t edits) {
    static const char fmt[] = "%s\t%s\t%s\t%lld\n";
    int need = snprintf(NULL, 0, fmt, word, output, ref, (long long)edits);
    if (need < 0 || x->oom) return;
    if (x->len + (size_t)need + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 1 << 16;
        while (x->len + (size_t)need + 1 > cap) cap *= 2;
        char *t = realloc(x->text, cap);
        if (!t) {
            x->oom = 1;
            return;
        }
        x->text = t;
        x->cap = cap;
    }
    x->len += (size_t)snprintf(x->text + x->len, x->cap - x->len, fmt, word, output, ref,
                               (long long)edits);
}

void g2p_errors_word(void *user, const attn__dict_entry_t *e, const char *output,
                     int32_t closest, int64_t edits) {
    g2p_errors_t *x = user;
    x->words++;
    const char *ref = closest >= 0 && closest < e->nprons ? e->prons[closest] : "";
    if (closest >= 0 && edits == 0) return; /* correct */
    x->wrong++;
    x->edits += edits;
    append_line(x, e->word, output, ref, edits);
    /* the phoneme errors, on the alignment with the closest reference */
    int32_t out_ids[MAX_PHONEMES], ref_ids[MAX_PHONEMES], pairs[4 * MAX_PHONEMES];
    int64_t no = attn__vocab_encode_pron(&x->ph, output, out_ids, MAX_PHONEMES);
    int64_t nr = attn__vocab_encode_pron(&x->ph, ref, ref_ids, MAX_PHONEMES);
    int64_t k = no >= 0 && nr >= 0 ? attn__edit_alignment(out_ids, no, ref_ids, nr, pairs) : -1;
    if (k < 0) {
        x->unaligned++; /* a reference phoneme outside the model's set */
        return;
    }
    for (int64_t i = 0; i < k; i++) {
        int32_t o = pairs[2 * i], r = pairs[2 * i + 1];
        if (o == r) continue;
        x->cells[(int64_t)(r + 1) * x->n + (o + 1)]++;
        if (o < 0) x->left_out++;
        else if (r < 0) x->extra++;
        else {
            x->subs++;
            x->vowel_subs += is_vowel(x->ph.names[o]) && is_vowel(x->ph.names[r]);
        }
    }
}

static void write_body(FILE *f, const void *ctx) {
    const g2p_errors_t *x = ctx;
    fputs("word\toutput\tclosest_reference\tedits\n", f);
    if (x->len) fwrite(x->text, 1, x->len, f);
}

typedef struct cell {
    int64_t count;
    int32_t index;
} cell_t;

static int by_count(const void *a, const void *b) {
    const cell_t *p = a, *q = b;
    if (p->count != q->count) return p->count > q->count ? -1 : 1;
    return (p->index > q->index) - (p->index < q->index);
}

int g2p_errors_finish(g2p_errors_t *x, const char *cmd, const char *path, int top) {
    if (x->oom) {
        fprintf(stderr, "attn %s: --errors: out of memory\n", cmd);
        return CLI_EXIT_FAILED;
    }
    char err[1024];
    if (svg_write_file(path, write_body, x, err, sizeof err) != 0) {
        fprintf(stderr, "attn %s: --errors: %s\n", cmd, err);
        return CLI_EXIT_FAILED;
    }
    printf("\nerrors: %lld of %lld words wrong -> %s\n", (long long)x->wrong,
           (long long)x->words, path);
    const int64_t total = x->subs + x->left_out + x->extra;
    printf("phoneme errors against the closest reference: %lld\n  %lld substitutions",
           (long long)total, (long long)x->subs);
    if (x->subs)
        printf(" (%lld of them a vowel for a vowel, %.1f%%)", (long long)x->vowel_subs,
               100.0 * (double)x->vowel_subs / (double)x->subs);
    printf(", %lld left out, %lld extra", (long long)x->left_out, (long long)x->extra);
    if (x->unaligned)
        printf("\n  %lld words not aligned (a reference phoneme the model does not know)",
               (long long)x->unaligned);
    printf("\n");
    if (total == 0) return CLI_EXIT_OK;
    const int64_t cells = (int64_t)x->n * x->n;
    cell_t *list = malloc(sizeof *list * (size_t)cells);
    if (!list) {
        fprintf(stderr, "attn %s: --errors: out of memory\n", cmd);
        return CLI_EXIT_FAILED;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < cells; i++)
        if (x->cells[i]) list[m++] = (cell_t){x->cells[i], (int32_t)i};
    qsort(list, (size_t)m, sizeof *list, by_count);
    printf("the most frequent (closest reference -> output; '-' is a gap):\n");
    for (int64_t i = 0; i < m && i < top; i++) {
        int32_t r = list[i].index / x->n - 1, o = list[i].index % x->n - 1;
        printf("  %5s -> %-5s %7lld  %5.1f%%\n", r < 0 ? "-" : x->ph.names[r],
               o < 0 ? "-" : x->ph.names[o], (long long)list[i].count,
               100.0 * (double)list[i].count / (double)total);
    }
    free(list);
    return CLI_EXIT_OK;
}
