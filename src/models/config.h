/* Internal: the configuration of a sequence-to-sequence model, and building a model from it.
 *
 * Written into checkpoints as a flat JSON object whose values are all strings
 * ({"kind": "transformer", "d_model": "256", "dropout": "0.1", ...}), so a checkpoint is enough
 * to rebuild its model. */
#ifndef ATTN_MODELS_CONFIG_H
#define ATTN_MODELS_CONFIG_H

#include "models/s2s.h"

typedef struct attn__s2s_config {
    char kind[32];       /* "transformer", "rnn-attention", "rnn" */
    int64_t src_vocab, tgt_vocab;
    int64_t d_model;     /* Transformer width; RNN embedding size */
    int64_t heads;       /* Transformer */
    int64_t enc_layers, dec_layers;
    int64_t ff;          /* Transformer feed-forward width */
    int64_t hidden;      /* RNN hidden size (per direction in the encoder) */
    char cell[8];        /* RNN: "gru" or "lstm" */
    char score[16];      /* RNN attention: "additive", "dot" or "general" */
    char activation[8];  /* Transformer: "relu" or "gelu" */
    float dropout;
    float attention_dropout; /* Transformer: on the attention weights (0: none) */
    int64_t max_len;     /* longest target the decoder produces (and positions it knows) */
} attn__s2s_config_t;

/* Transformer 3+3 layers, width 256, 4 heads, ff 1024, dropout 0.1, relu, max_len 64. */
attn__s2s_config_t attn__s2s_default_config(const char *kind);
/* JSON text (caller frees) and back; unknown keys and bad values are errors naming the key. */
char *attn__s2s_config_to_json(const attn__s2s_config_t *c);
attn_status_t attn__s2s_config_from_json(const char *text, attn__s2s_config_t *c);
/* Checks the values; a message names the first bad one. */
attn_status_t attn__s2s_config_check(const attn__s2s_config_t *c);

/* Builds the model the config describes, with freshly initialised weights from `seed`. */
attn_status_t attn__s2s_create(const attn__s2s_config_t *c, uint64_t seed, attn__s2s_t **out);
void attn__s2s_destroy(attn__s2s_t *m);

/* The constructors (one file each). */
attn_status_t attn__transformer_s2s_create(const attn__s2s_config_t *c, uint64_t seed,
                                           attn__s2s_t **out);
attn_status_t attn__rnn_s2s_create(const attn__s2s_config_t *c, uint64_t seed,
                                   attn__s2s_t **out);

#endif
