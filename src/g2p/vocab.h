/* Internal: the symbol tables of the G2P task: letters (graphemes, one byte each) and
 * phonemes, with four reserved ids shared by both. */
#ifndef ATTN_G2P_VOCAB_H
#define ATTN_G2P_VOCAB_H

#include "attn.h"
#include "g2p/dict.h"

#include <stdint.h>

enum { ATTN__TOK_PAD = 0, ATTN__TOK_BOS = 1, ATTN__TOK_EOS = 2, ATTN__TOK_UNK = 3,
       ATTN__TOK_FIRST = 4 };

typedef struct attn__vocab {
    int32_t count;  /* including the 4 reserved ids */
    char **names;   /* id -> symbol ("<pad>", "<s>", "</s>", "<unk>", then sorted symbols) */
} attn__vocab_t;

/* Letters of every word / phonemes of every pronunciation in d, sorted. */
attn_status_t attn__vocab_letters(const attn__dict_t *d, attn__vocab_t *v);
attn_status_t attn__vocab_phonemes(const attn__dict_t *d, attn__vocab_t *v);
/* From a list "A B C" of symbols separated by single spaces (checkpoint metadata). */
attn_status_t attn__vocab_parse(const char *list, attn__vocab_t *v);
/* The symbols (without the reserved ones) as "A B C"; caller frees. */
char *attn__vocab_join(const attn__vocab_t *v);
void attn__vocab_free(attn__vocab_t *v);
int32_t attn__vocab_id(const attn__vocab_t *v, const char *symbol);

/* Letters of an upper-case word to ids; returns the count, or -1 with a message naming the
 * first letter outside the alphabet. */
int64_t attn__vocab_encode_word(const attn__vocab_t *v, const char *word, int32_t *ids,
                                int64_t cap);
/* Phonemes "PH PH" to ids; -1 with a message for an unknown phoneme. */
int64_t attn__vocab_encode_pron(const attn__vocab_t *v, const char *pron, int32_t *ids,
                                int64_t cap);

#endif
