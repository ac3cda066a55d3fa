/* Internal: pronunciation dictionaries in the CMUdict formats, grouped by word.
 *
 * Two formats are read:
 *   - CMUSphinx / Debian (pocketsphinx-en-us's cmudict-en-us.dict): "word PH PH ...", lower
 *     case, a variant written "word(2) PH ..." and not always next to its base word;
 *   - the standard G2P split (g014b2b.train / .test): "WORD<TAB>PH PH ...", upper case.
 * Words are kept in upper case with their punctuation (apostrophes, hyphens, periods, digits);
 * phonemes in upper case with stress digits removed (AH0 -> AH), single-spaced. Every
 * pronunciation of a word is grouped under one entry, in the order of first appearance. */
#ifndef ATTN_G2P_DICT_H
#define ATTN_G2P_DICT_H

#include "attn.h"

#include <stdint.h>

typedef enum attn__dict_format {
    ATTN__DICT_AUTO = 0,      /* TSV when the first entry line has a tab, else CMUSphinx */
    ATTN__DICT_CMUSPHINX = 1, /* word(2) PH PH */
    ATTN__DICT_TSV = 2        /* WORD<TAB>PH PH */
} attn__dict_format_t;

typedef struct attn__dict_entry {
    char *word;      /* upper case */
    int32_t nprons;
    char **prons;    /* "PH PH PH"; duplicates within a word are dropped */
} attn__dict_entry_t;

typedef struct attn__dict {
    attn__dict_entry_t *entries;
    int64_t count;   /* unique words */
    int64_t lines;   /* pronunciation lines read */
    int64_t *index;  /* open-addressing hash of words -> entry, internal */
    int64_t index_cap;
} attn__dict_t;

/* Reads a dictionary file. A missing file, an empty one, or a malformed line (a word without
 * a pronunciation, a control character, a phoneme that is not letters with an optional stress
 * digit) fails with a message naming the file and line. */
attn_status_t attn__dict_load(const char *path, attn__dict_format_t format, attn__dict_t *d);
/* The same from memory (text of `len` bytes; `name` is used in messages). */
attn_status_t attn__dict_parse(const char *text, int64_t len, const char *name,
                               attn__dict_format_t format, attn__dict_t *d);
void attn__dict_free(attn__dict_t *d);
/* the entry of an upper-case word, or NULL */
const attn__dict_entry_t *attn__dict_find(const attn__dict_t *d, const char *word);

/* Deterministic split by word: a hash of the word picks train (0), dev (1) or test (2) with
 * dev_permille and test_permille thousandths, so a word's side never depends on the rest of
 * the file. */
int attn__dict_split_of(const char *word, int dev_permille, int test_permille);

#endif
