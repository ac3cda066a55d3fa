/* Internal: the sequence-to-sequence models (Transformer, RNN with attention, RNN without) as
 * the training loop, the decoders and the visualisation see them.
 *
 * A model owns its parameter store (PyTorch-style names) and a configuration written as a
 * small JSON object (kept in checkpoints' metadata, so a checkpoint rebuilds its model). It
 * offers:
 *   - teacher-forced training: forward() returns the logits of every target position of a
 *     padded batch, backward() takes their gradient and accumulates parameter gradients;
 *   - decoding: encode() a batch of sources, then the attn__stepper_t interface of
 *     models/decode.h (begin / step / reorder) drives greedy or beam search;
 *   - alignments(): the cross-attention weights of every decoder layer and head over the
 *     source, for one pair (the alignment heatmap).
 * Ids: sources are letters, targets phonemes, both with the reserved ids of g2p/vocab.h
 * (<pad> 0, <s> 1, </s> 2, <unk> 3). */
#ifndef ATTN_MODELS_S2S_H
#define ATTN_MODELS_S2S_H

#include "models/decode.h"
#include "nn/dropout.h"
#include "nn/nn.h"

#include <stdint.h>

/* A padded batch. Targets are given twice: the decoder's input (<s> y1 .. yn) and the labels
 * (y1 .. yn </s>); positions past tgt_len[b] hold <pad> in both and are ignored by the loss. */
typedef struct attn__s2s_batch {
    int64_t B, S, T;
    const int32_t *src;     /* [B, S] */
    const int64_t *src_len; /* [B], >= 1 */
    const int32_t *tgt_in;  /* [B, T] */
    const int32_t *tgt_out; /* [B, T] */
    const int64_t *tgt_len; /* [B], >= 1 (counts </s>) */
} attn__s2s_batch_t;

typedef struct attn__s2s attn__s2s_t;

typedef struct attn__s2s_ops {
    const char *kind; /* "transformer", "rnn-attention", "rnn" */
    /* logits [B * T, V] (row b * T + t), allocated from the arena; caches too */
    attn_status_t (*forward)(attn__s2s_t *m, const attn__s2s_batch_t *batch, attn__mode_t mode,
                             attn__arena_t *arena, float **logits);
    /* dlogits [B * T, V]; must follow the forward of the same batch with the same arena */
    attn_status_t (*backward)(attn__s2s_t *m, const attn__s2s_batch_t *batch,
                              attn__mode_t mode, const float *dlogits, attn__arena_t *arena);
    /* encodes B sources for decoding; K hypotheses per source follow in begin(rows = B * K) */
    attn_status_t (*encode)(attn__s2s_t *m, int64_t B, int64_t S, const int32_t *src,
                            const int64_t *src_len);
    attn__stepper_t stepper; /* ctx is set to the model by attn__s2s_stepper() */
    /* Attention maps of a teacher-forced pass over one pair (batch with B = 1): for every
     * decoder layer and head, the weights of each target position over the source, written to
     * *maps [layers, heads, T, S] (from the arena); models without attention return
     * ATTN_STATUS_UNSUPPORTED. */
    attn_status_t (*alignments)(attn__s2s_t *m, const attn__s2s_batch_t *pair,
                                attn__arena_t *arena, float **maps, int32_t *layers,
                                int32_t *heads);
    void (*destroy)(attn__s2s_t *m);
} attn__s2s_ops_t;

struct attn__s2s {
    const attn__s2s_ops_t *ops;
    attn__params_t params;
    char *config;      /* JSON text */
    int64_t src_vocab, tgt_vocab;
    void *impl;        /* the model's own state */
};

/* The stepper of a model, ready for attn__greedy / attn__beam_search after encode(). */
static inline attn__stepper_t attn__s2s_stepper(attn__s2s_t *m) {
    attn__stepper_t s = m->ops->stepper;
    s.ctx = m;
    s.vocab = m->tgt_vocab;
    return s;
}

#endif
