#include "g2p/score.h"

#include <stdlib.h>
#include <string.h>

int64_t attn__edit_distance(const int32_t *a, int64_t n, const int32_t *b, int64_t m) {
    /* two rows of the dynamic programme; short sequences live on the stack */
    int64_t stack[2 * 128], *row = stack;
    if (m + 1 > 128) {
        row = malloc(sizeof *row * (size_t)(2 * (m + 1)));
        if (!row) return -1;
    }
    int64_t *prev = row, *cur = row + (m + 1);
    for (int64_t j = 0; j <= m; j++) prev[j] = j;
    for (int64_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (int64_t j = 1; j <= m; j++) {
            int64_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int64_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            int64_t best = sub < del ? sub : del;
            cur[j] = best < ins ? best : ins;
        }
        int64_t *t = prev;
        prev = cur;
        cur = t;
    }
    int64_t d = prev[m];
    if (row != stack) free(row);
    return d;
}

int attn__g2p_score_add(attn__g2p_score_t *s, int64_t letters, const int32_t *hyp, int64_t nh,
                        const int32_t *const *refs, const int64_t *ref_len, int32_t nrefs) {
    int64_t best = -1, best_len = 0;
    int correct = 0;
    for (int32_t r = 0; r < nrefs; r++) {
        int64_t d = attn__edit_distance(hyp, nh, refs[r], ref_len[r]);
        if (best < 0 || d < best) {
            best = d;
            best_len = ref_len[r];
        }
        if (d == 0) correct = 1;
    }
    if (best < 0) best = nh; /* no reference: every output phoneme is an error */
    int64_t b = letters < ATTN__SCORE_MAXLEN ? letters : ATTN__SCORE_MAXLEN;
    if (b < 0) b = 0;
    s->words++;
    s->len_words[b]++;
    if (!correct) {
        s->wrong++;
        s->len_wrong[b]++;
    }
    s->edits += best;
    s->len_edits[b] += best;
    s->ref_phonemes += best_len;
    s->len_ref[b] += best_len;
    return correct;
}
