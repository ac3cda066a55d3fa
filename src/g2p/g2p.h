/* Internal: a grapheme-to-phoneme model: a sequence-to-sequence model with its two
 * vocabularies, saved as one checkpoint, and the operations of the `attn g2p` commands:
 * building training pairs from a dictionary, pronouncing words (greedy or beam search, in
 * batches), scoring against a dictionary, and the letter-to-phoneme alignment of a word.
 *
 * Checkpoint metadata: "model" = "attn-g2p", "config" (models/config.h JSON), "letters" and
 * "phonemes" (the vocabularies, space-separated), plus whatever the caller adds (training
 * state). */
#ifndef ATTN_G2P_G2P_H
#define ATTN_G2P_G2P_H

#include "g2p/dict.h"
#include "g2p/score.h"
#include "g2p/vocab.h"
#include "io/checkpoint.h"
#include "models/config.h"
#include "models/train.h"

typedef struct attn__g2p {
    attn__s2s_config_t cfg;
    attn__s2s_t *model;
    attn__vocab_t letters, phonemes;
} attn__g2p_t;

/* A new model: cfg's vocabulary sizes are taken from the vocabularies (which are copied). */
attn_status_t attn__g2p_create(attn__g2p_t *g, const attn__s2s_config_t *cfg,
                               const attn__vocab_t *letters, const attn__vocab_t *phonemes,
                               uint64_t seed);
/* Loads a checkpoint; opt (may be NULL) receives the AdamW state when the file has it, and
 * meta (may be NULL) the metadata. */
attn_status_t attn__g2p_load(attn__g2p_t *g, const char *path, attn__ckpt_optim_t *opt,
                             attn__ckpt_meta_t *meta);
/* Saves atomically, with the optimizer state when opt is not NULL and extra metadata. */
attn_status_t attn__g2p_save(const attn__g2p_t *g, const char *path,
                             const attn__ckpt_optim_t *opt, const attn__st_meta_t *extra,
                             int64_t n_extra);
/* Saves the weights alone as ATTN__ST_F32, ATTN__ST_F16 or ATTN__ST_BF16 (rounded to nearest
 * even): a model file for running, half the size in 16 bits; loads like any other. */
attn_status_t attn__g2p_save_weights(const attn__g2p_t *g, const char *path,
                                     attn__st_dtype_t dtype, const attn__st_meta_t *extra,
                                     int64_t n_extra);
void attn__g2p_free(attn__g2p_t *g);

/* Training pairs: one per pronunciation of every word whose split (attn__dict_split_of with
 * dev_permille and test_permille) equals part (-1: every word). Words with letters outside
 * the model's alphabet or longer than max_len are skipped and counted in *skipped. */
attn_status_t attn__g2p_pairs(const attn__g2p_t *g, const attn__dict_t *d, int part,
                              int dev_permille, int test_permille, attn__pairs_t *out,
                              int64_t *skipped);

typedef struct attn__g2p_result {
    char *phonemes; /* "PH PH PH" */
    float logprob, score;
} attn__g2p_result_t;

typedef struct attn__g2p_decode_opts {
    int32_t beam;  /* 1 = greedy */
    int32_t nbest; /* results per word, <= beam */
    float alpha;   /* length penalty */
    int64_t batch; /* words decoded together */
} attn__g2p_decode_opts_t;

typedef void (*attn__g2p_progress_fn)(void *user, int64_t done, int64_t total);

/* The most phonemes a word of `letters` letters may get: 2 * letters + 10. The standard train
 * split's longest expansions are abbreviations ("REP": 3 letters, 12 phonemes; "W": 1, 7), at
 * most 2 * letters + 6; past the cap decoding forces </s>, so a model caught in a loop ("V IY V
 * IY ...") stops early instead of running to max_len. */
static inline int64_t attn__g2p_length_cap(int64_t letters) { return 2 * letters + 10; }

/* Pronounces n words (out: n * nbest results, word i's best first at out[i * nbest]), each at
 * most attn__g2p_length_cap(its length) phonemes (and the model's max_len - 1). A word
 * with a character outside the alphabet fails the whole call with a message naming it;
 * check words first with attn__g2p_check_word to skip them instead. */
attn_status_t attn__g2p_pronounce(attn__g2p_t *g, const char *const *words, int64_t n,
                                  attn__g2p_decode_opts_t opts, attn__g2p_result_t *out,
                                  attn__g2p_progress_fn progress, void *user);
/* The same with an ensemble of n models (their mean probability, models/ensemble.h): each
 * encodes the words, and they decode together. The models must share alphabet and phoneme
 * set; their sizes and kinds may differ. attn__g2p_pronounce is this with n = 1. */
attn_status_t attn__g2p_pronounce_ensemble(attn__g2p_t *const *gs, int32_t n,
                                           const char *const *words, int64_t count,
                                           attn__g2p_decode_opts_t opts, attn__g2p_result_t *out,
                                           attn__g2p_progress_fn progress, void *user);
/* ATTN_STATUS_OK when the n models can decode as an ensemble (same vocabularies), else a
 * message naming the model that differs. */
attn_status_t attn__g2p_check_ensemble(attn__g2p_t *const *gs, int32_t n);
/* ATTN_STATUS_OK when the model can read the word (alphabet, length), else why not. */
attn_status_t attn__g2p_check_word(const attn__g2p_t *g, const char *word);
void attn__g2p_results_free(attn__g2p_result_t *r, int64_t n);

/* Scores the model on every word of d in `part` (as attn__g2p_pairs) by the published
 * convention (g2p/score.h). */
attn_status_t attn__g2p_evaluate(attn__g2p_t *g, const attn__dict_t *d, int part,
                                 int dev_permille, int test_permille,
                                 attn__g2p_decode_opts_t opts, attn__g2p_score_t *score,
                                 attn__g2p_progress_fn progress, void *user);

/* One scored word, for error analysis: the output ("" for a word the model cannot read) and
 * the closest reference, e->prons[closest] (-1: none the model's phoneme set can spell), at
 * `edits` edits. Called from the calling thread: the words the models can read, in d's order,
 * then the others. */
typedef void (*attn__g2p_word_fn)(void *user, const attn__dict_entry_t *e, const char *output,
                                  int32_t closest, int64_t edits);

/* attn__g2p_evaluate with an ensemble of n models, scored as one system, and each (may be
 * NULL) called with every scored word. */
attn_status_t attn__g2p_evaluate_ensemble(attn__g2p_t *const *gs, int32_t n,
                                          const attn__dict_t *d, int part, int dev_permille,
                                          int test_permille, attn__g2p_decode_opts_t opts,
                                          attn__g2p_score_t *score,
                                          attn__g2p_progress_fn progress, void *user,
                                          attn__g2p_word_fn each, void *each_user);

/* Attention of the model over the letters of `word` while it produces `phonemes`
 * (teacher-forced): maps [layers, heads, T, S] with T = phonemes + 1 (</s>), S = letters;
 * freed with free(). */
attn_status_t attn__g2p_alignment(attn__g2p_t *g, const char *word, const char *phonemes,
                                  float **maps, int32_t *layers, int32_t *heads, int64_t *T,
                                  int64_t *S);

#endif
