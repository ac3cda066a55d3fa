/* The G2P data pipeline on hand-made cases: both dictionary formats (variants listed apart from
 * their base word, apostrophes, hyphens, periods, digits, stress digits, comments), malformed
 * files, the deterministic split, vocabularies, and the scorer's convention. */
#include "g2p/dict.h"
#include "g2p/score.h"
#include "g2p/vocab.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static attn_status_t parse(const char *text, attn__dict_format_t f, attn__dict_t *d) {
    return attn__dict_parse(text, (int64_t)strlen(text), "test.dict", f, d);
}

static void test_cmusphinx(void) {
    const char *text = "'bout B AW T\n"
                       "a AH\n"
                       "a(2) EY\n"
                       "a. EY\n"
                       "able-bodied EY B AH L B AA D IY D\n"
                       "c3 S IY T HH R IY\n"
                       "aaronson's(2) AA R AH N S AH N Z\n"
                       "aaronson AA R AH N S AH N\n"
                       "aaronson's EH R AH N S AH N Z\n"
                       "\n"
                       "read(3) R EH D\n"
                       "read R IY D\n"
                       "stress AH0 B AW1 T\n";
    attn__dict_t d;
    CHECK(parse(text, ATTN__DICT_AUTO, &d) == ATTN_STATUS_OK, "parse: %s", attn_last_error());
    CHECK(d.count == 9, "unique words %lld, want 9", (long long)d.count);
    CHECK(d.lines == 12, "lines %lld, want 12", (long long)d.lines);
    const attn__dict_entry_t *e = attn__dict_find(&d, "A");
    CHECK(e && e->nprons == 2 && strcmp(e->prons[1], "EY") == 0, "a(2) grouped under A");
    e = attn__dict_find(&d, "AARONSON'S");
    CHECK(e && e->nprons == 2 && strcmp(e->prons[0], "AA R AH N S AH N Z") == 0,
          "variant listed before its base word is grouped, in file order");
    e = attn__dict_find(&d, "READ");
    CHECK(e && e->nprons == 2, "read(3) before read grouped");
    CHECK(attn__dict_find(&d, "'BOUT") != NULL, "apostrophe kept");
    CHECK(attn__dict_find(&d, "A.") != NULL, "period kept, distinct from A");
    CHECK(attn__dict_find(&d, "ABLE-BODIED") != NULL, "hyphen kept");
    CHECK(attn__dict_find(&d, "C3") != NULL, "digit kept");
    e = attn__dict_find(&d, "STRESS");
    CHECK(e && strcmp(e->prons[0], "AH B AW T") == 0, "stress digits dropped: '%s'",
          e ? e->prons[0] : "");
    attn__vocab_t letters, phones;
    CHECK(attn__vocab_letters(&d, &letters) == ATTN_STATUS_OK, "letters");
    CHECK(attn__vocab_id(&letters, "'") >= ATTN__TOK_FIRST, "apostrophe is a letter");
    CHECK(attn__vocab_id(&letters, "3") >= ATTN__TOK_FIRST, "digit is a letter");
    CHECK(attn__vocab_phonemes(&d, &phones) == ATTN_STATUS_OK, "phonemes");
    CHECK(attn__vocab_id(&phones, "AH") >= ATTN__TOK_FIRST, "AH known");
    CHECK(attn__vocab_id(&phones, "AH0") < 0, "no stressed phoneme");
    int32_t ids[64];
    CHECK(attn__vocab_encode_word(&letters, "a.", ids, 64) == 2, "encode lower-case word");
    CHECK(attn__vocab_encode_word(&letters, "QZ", ids, 64) == -1 &&
              strstr(attn_last_error(), "'Q'") != NULL,
          "unknown letter named: %s", attn_last_error());
    char *joined = attn__vocab_join(&phones);
    attn__vocab_t back;
    CHECK(joined && attn__vocab_parse(joined, &back) == ATTN_STATUS_OK && back.count == phones.count,
          "vocabulary round trip through its text form");
    for (int32_t i = 0; i < phones.count && i < back.count; i++)
        CHECK(strcmp(back.names[i], phones.names[i]) == 0, "symbol %d differs", (int)i);
    free(joined);
    attn__vocab_free(&back);
    attn__vocab_free(&letters);
    attn__vocab_free(&phones);
    attn__dict_free(&d);
}

static void test_tsv(void) {
    const char *text = "AAA\tT R IH P AH L EY\nAABERG\tAA B ER G\nABBY\tAE B IY\nABBY\tAE B IH\n";
    attn__dict_t d;
    CHECK(parse(text, ATTN__DICT_AUTO, &d) == ATTN_STATUS_OK, "tsv: %s", attn_last_error());
    CHECK(d.count == 3, "tsv words %lld", (long long)d.count);
    const attn__dict_entry_t *e = attn__dict_find(&d, "ABBY");
    CHECK(e && e->nprons == 2, "two pronunciations of ABBY");
    attn__dict_free(&d);
    CHECK(parse("WORD PH\n", ATTN__DICT_TSV, &d) == ATTN_STATUS_BAD_ARGUMENT &&
              strstr(attn_last_error(), "test.dict:1") != NULL,
          "TSV without a tab rejected with file:line: %s", attn_last_error());
}

static void test_malformed(void) {
    attn__dict_t d;
    const char *bad[] = {"word\n", "word AH1 B@\n", "", "# only a comment\n", "word A\x01H\n",
                         "good AH\nbad\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        attn_status_t st = parse(bad[i], ATTN__DICT_AUTO, &d);
        CHECK(st != ATTN_STATUS_OK && attn_last_error()[0], "malformed case %zu accepted", i);
        CHECK(d.count == 0 && d.entries == NULL, "case %zu leaves nothing allocated", i);
    }
    CHECK(attn__dict_load("/nonexistent/dict", ATTN__DICT_AUTO, &d) != ATTN_STATUS_OK &&
              strstr(attn_last_error(), "/nonexistent/dict"),
          "missing file named: %s", attn_last_error());
}

static void test_split(void) {
    int count[3] = {0, 0, 0};
    char word[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(word, sizeof word, "W%dX", i);
        int s = attn__dict_split_of(word, 50, 50);
        CHECK(s == attn__dict_split_of(word, 50, 50), "split is a function of the word");
        count[s]++;
    }
    CHECK(count[1] > 800 && count[1] < 1200 && count[2] > 800 && count[2] < 1200,
          "5%%/5%% split gave dev %d, test %d of 20000", count[1], count[2]);
}

static void test_score(void) {
    attn__g2p_score_t s;
    memset(&s, 0, sizeof s);
    int32_t r1[] = {1, 2, 3, 4}, r2[] = {1, 2, 5}, hyp1[] = {1, 2, 5}, hyp2[] = {1, 3, 4};
    const int32_t *refs[] = {r1, r2};
    int64_t lens[] = {4, 3};
    CHECK(attn__edit_distance(r1, 4, r2, 3) == 2, "edit distance 1234 vs 125");
    CHECK(attn__edit_distance(r1, 0, r2, 3) == 3, "edit distance from empty");
    CHECK(attn__g2p_score_add(&s, 5, hyp1, 3, refs, lens, 2) == 1, "equal to the second ref");
    CHECK(attn__g2p_score_add(&s, 5, hyp2, 3, refs, lens, 2) == 0, "1 3 4 is wrong");
    /* hyp2 vs r1 = 1 (deletion of 2), vs r2 = 2: closest is r1, length 4 */
    CHECK(s.words == 2 && s.wrong == 1, "WER counts: %lld/%lld", (long long)s.wrong,
          (long long)s.words);
    CHECK(s.edits == 1 && s.ref_phonemes == 3 + 4, "PER sums: %lld/%lld", (long long)s.edits,
          (long long)s.ref_phonemes);
    CHECK(attn__g2p_wer(&s) == 0.5, "WER 0.5");
    CHECK(s.len_words[5] == 2 && s.len_wrong[5] == 1, "by length");
    /* ties: the first listed reference defines the length */
    int32_t t1[] = {7, 8}, t2[] = {7, 9, 9}, h[] = {7, 9};
    const int32_t *trefs[] = {t1, t2};
    int64_t tlens[] = {2, 3};
    attn__g2p_score_t z;
    memset(&z, 0, sizeof z);
    attn__g2p_score_add(&z, 2, h, 2, trefs, tlens, 2);
    CHECK(z.edits == 1 && z.ref_phonemes == 2, "tie broken by the first reference");
    /* the closest reference and the alignment behind the edit distance */
    int64_t ed = -1;
    CHECK(attn__g2p_closest(hyp2, 3, refs, lens, 2, &ed) == 0 && ed == 1, "closest: r1, 1 edit");
    CHECK(attn__g2p_closest(h, 2, trefs, tlens, 2, &ed) == 0 && ed == 1, "closest: the first");
    CHECK(attn__g2p_closest(h, 2, trefs, tlens, 0, &ed) == -1 && ed == 2, "no references");
    int32_t pairs[2 * 16];
    /* 1 3 4 against 1 2 3 4: the 2 left out */
    const int32_t want1[] = {1, 1, -1, 2, 3, 3, 4, 4};
    CHECK(attn__edit_alignment(hyp2, 3, r1, 4, pairs) == 4 &&
              !memcmp(pairs, want1, sizeof want1), "alignment with a deletion");
    /* 1 2 5 6 against 1 2 3: walking back, the substitution 6/3 is taken before the extra 5 */
    const int32_t h4[] = {1, 2, 5, 6}, want2[] = {1, 1, 2, 2, 5, -1, 6, 3};
    CHECK(attn__edit_alignment(h4, 4, r1, 3, pairs) == 4 && !memcmp(pairs, want2, sizeof want2),
          "alignment with an insertion and a substitution");
    const int32_t want3[] = {1, -1, 2, -1}, want4[] = {-1, 1, -1, 2};
    CHECK(attn__edit_alignment(r1, 2, r1, 0, pairs) == 2 && !memcmp(pairs, want3, sizeof want3),
          "alignment with an empty reference");
    CHECK(attn__edit_alignment(r1, 0, r1, 2, pairs) == 2 && !memcmp(pairs, want4, sizeof want4),
          "alignment of an empty output");
    CHECK(attn__edit_alignment(r1, 0, r1, 0, pairs) == 0, "two empty sequences");
}

int main(void) {
    test_cmusphinx();
    test_tsv();
    test_malformed();
    test_split();
    test_score();
    return check_report("test_g2p_data");
}
