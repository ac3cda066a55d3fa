/* Internal: scoring G2P output the way the published tables do (Sequitur's convention):
 *   - each unique test word is scored once;
 *   - it is correct when the output equals any one of its reference pronunciations;
 *     WER = words not correct / words;
 *   - PER = sum over words of the edit distance to the closest reference / sum of the
 *     lengths of those closest references (ties: the first reference listed).
 * Totals are also kept per word length (letters), for the "where attention matters" table. */
#ifndef ATTN_G2P_SCORE_H
#define ATTN_G2P_SCORE_H

#include <stdint.h>

enum { ATTN__SCORE_MAXLEN = 32 }; /* words of this length or longer share the last bucket */

typedef struct attn__g2p_score {
    int64_t words, wrong, edits, ref_phonemes;
    int64_t len_words[ATTN__SCORE_MAXLEN + 1], len_wrong[ATTN__SCORE_MAXLEN + 1];
    int64_t len_edits[ATTN__SCORE_MAXLEN + 1], len_ref[ATTN__SCORE_MAXLEN + 1];
} attn__g2p_score_t;

/* Levenshtein distance with unit costs between two id sequences. */
int64_t attn__edit_distance(const int32_t *a, int64_t n, const int32_t *b, int64_t m);

/* A minimum-edit alignment of hyp (n ids) with ref (m ids), unit costs: pairs[2k] is a
 * hypothesis id and pairs[2k + 1] the reference id set against it, -1 on the side of a gap
 * (an inserted or a deleted phoneme); matches are included. pairs holds 2 * (n + m) ids.
 * Among alignments of equal cost the one taken is fixed: walking back from the ends, a match
 * or substitution first, then a reference phoneme left out, then an extra one. Returns the
 * number of pairs, or -1 when out of memory. */
int64_t attn__edit_alignment(const int32_t *hyp, int64_t n, const int32_t *ref, int64_t m,
                             int32_t *pairs);

/* The reference closest to hyp (nh ids) by edit distance, the first listed among equals, with
 * that distance in *edits; -1 (and *edits = nh) when there are no references. */
int32_t attn__g2p_closest(const int32_t *hyp, int64_t nh, const int32_t *const *refs,
                          const int64_t *ref_len, int32_t nrefs, int64_t *edits);

/* Scores one word: hyp (nh ids) against nrefs references refs[r] of lengths ref_len[r];
 * letters = the word's length in letters. Returns 1 when correct, 0 when not. */
int attn__g2p_score_add(attn__g2p_score_t *s, int64_t letters, const int32_t *hyp, int64_t nh,
                        const int32_t *const *refs, const int64_t *ref_len, int32_t nrefs);

static inline double attn__g2p_wer(const attn__g2p_score_t *s) {
    return s->words ? (double)s->wrong / (double)s->words : 0.0;
}
static inline double attn__g2p_per(const attn__g2p_score_t *s) {
    return s->ref_phonemes ? (double)s->edits / (double)s->ref_phonemes : 0.0;
}

#endif
