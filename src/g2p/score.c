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

int64_t attn__edit_alignment(const int32_t *hyp, int64_t n, const int32_t *ref, int64_t m,
                             int32_t *pairs) {
    /* the whole table of the dynamic programme, D[i][j] = distance of hyp[:i] and ref[:j] */
    const int64_t w = m + 1;
    int64_t *D = malloc(sizeof *D * (size_t)((n + 1) * w));
    if (!D) return -1;
    for (int64_t j = 0; j <= m; j++) D[j] = j;
    for (int64_t i = 1; i <= n; i++) {
        D[i * w] = i;
        for (int64_t j = 1; j <= m; j++) {
            int64_t sub = D[(i - 1) * w + j - 1] + (hyp[i - 1] != ref[j - 1]);
            int64_t del = D[(i - 1) * w + j] + 1, ins = D[i * w + j - 1] + 1;
            int64_t best = sub < del ? sub : del;
            D[i * w + j] = best < ins ? best : ins;
        }
    }
    /* walk back from (n, m), collecting the pairs in reverse */
    int64_t k = 0, i = n, j = m;
    while (i > 0 || j > 0) {
        const int64_t here = D[i * w + j];
        if (i > 0 && j > 0 && here == D[(i - 1) * w + j - 1] + (hyp[i - 1] != ref[j - 1])) {
            pairs[2 * k] = hyp[--i];
            pairs[2 * k + 1] = ref[--j];
        } else if (j > 0 && here == D[i * w + j - 1] + 1) { /* ref[j-1] left out of hyp */
            pairs[2 * k] = -1;
            pairs[2 * k + 1] = ref[--j];
        } else { /* hyp[i-1] is extra */
            pairs[2 * k] = hyp[--i];
            pairs[2 * k + 1] = -1;
        }
        k++;
    }
    free(D);
    for (int64_t a = 0, b = k - 1; a < b; a++, b--) {
        int32_t h = pairs[2 * a], r = pairs[2 * a + 1];
        pairs[2 * a] = pairs[2 * b];
        pairs[2 * a + 1] = pairs[2 * b + 1];
        pairs[2 * b] = h;
        pairs[2 * b + 1] = r;
    }
    return k;
}

int32_t attn__g2p_closest(const int32_t *hyp, int64_t nh, const int32_t *const *refs,
                          const int64_t *ref_len, int32_t nrefs, int64_t *edits) {
    int32_t best = -1;
    int64_t best_d = nh; /* no reference: every output phoneme is an error */
    for (int32_t r = 0; r < nrefs; r++) {
        int64_t d = attn__edit_distance(hyp, nh, refs[r], ref_len[r]);
        if (best < 0 || d < best_d) {
            best = r;
            best_d = d;
        }
    }
    *edits = best_d;
    return best;
}

int attn__g2p_score_add(attn__g2p_score_t *s, int64_t letters, const int32_t *hyp, int64_t nh,
                        const int32_t *const *refs, const int64_t *ref_len, int32_t nrefs) {
    int64_t best;
    int32_t r = attn__g2p_closest(hyp, nh, refs, ref_len, nrefs, &best);
    const int64_t best_len = r >= 0 ? ref_len[r] : 0;
    const int correct = r >= 0 && best == 0;
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
