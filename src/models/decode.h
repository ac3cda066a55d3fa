/* Internal: decoding a sequence-to-sequence model, greedy or by beam search, batched.
 *
 * The decoders see a model only through attn__stepper_t: after the model has encoded B
 * sources, `begin` prepares rows = B * K decoder states (K hypotheses per source), `step`
 * gives, for every row, log-probabilities over the target vocabulary from the row's previous
 * token, and `reorder` makes row r continue the state of row from[r] (beams that survive a step
 * are copied over those that do not). Row b * K + k belongs to source b.
 *
 * Beam search keeps K live hypotheses per source; a hypothesis that emits </s> is finished and
 * scored by its log-probability divided by the length penalty lp(len) = ((5 + len) / 6)^alpha
 * (Wu et al. 2016; alpha = 0 scores by the plain sum). A source is done when it has K finished
 * hypotheses and no live one can still beat the worst of them... in practice: when K are
 * finished and the best live score is below the best finished score, or at max_len. With K = 1
 * and alpha = 0 it returns exactly the greedy output. Ties go to the lower token id. */
#ifndef ATTN_MODELS_DECODE_H
#define ATTN_MODELS_DECODE_H

#include "attn.h"

#include <stdint.h>

typedef struct attn__stepper {
    void *ctx;
    int64_t vocab;
    int32_t bos, eos;
    attn_status_t (*begin)(void *ctx, int64_t rows);
    attn_status_t (*step)(void *ctx, int64_t t, const int32_t *prev, float *logp);
    attn_status_t (*reorder)(void *ctx, const int64_t *from);
} attn__stepper_t;

typedef struct attn__hyp {
    int32_t *tokens; /* without <s> and </s> */
    int64_t len;
    float logprob;   /* sum of the token log-probabilities, </s> included */
    float score;     /* logprob / lp(len) */
} attn__hyp_t;

typedef struct attn__beam_opts {
    int32_t beam;      /* K >= 1 */
    int32_t nbest;     /* hypotheses returned per source, 1 <= nbest <= K */
    float alpha;       /* length penalty exponent, 0 = none */
    int64_t max_len;   /* tokens per hypothesis at most (without </s>) */
    const int64_t *caps; /* NULL, or [B] per-source caps: a hypothesis of source b that has
                          * caps[b] tokens can only end (</s> is forced, as fairseq does at its
                          * max_len_a * src_len + max_len_b), so a model that loops stops */
} attn__beam_opts_t;

/* Decodes B sources. out receives B * nbest hypotheses (source b's best first at
 * out[b * nbest]); free them with attn__hyps_free. A source whose search reaches max_len
 * without </s> returns its best live hypotheses, unfinished. */
attn_status_t attn__beam_search(const attn__stepper_t *m, int64_t B, attn__beam_opts_t opts,
                                attn__hyp_t *out);
/* Greedy decoding: the most probable token at each step; out receives B hypotheses. caps:
 * NULL or per-source caps as in attn__beam_opts_t (with them, beam width 1 still equals greedy). */
attn_status_t attn__greedy(const attn__stepper_t *m, int64_t B, int64_t max_len,
                           const int64_t *caps, attn__hyp_t *out);
void attn__hyps_free(attn__hyp_t *h, int64_t n);

/* The step of a decoder's output layer: logp[r] = log_softmax(logits[r]) for R rows of V, with
 * the ids `banned[0 .. nbanned)` (e.g. <pad> and <s>) set to -inf so they are never emitted. */
void attn__log_softmax_rows(int64_t R, int64_t V, const float *logits, float *logp,
                            const int32_t *banned, int32_t nbanned);

#endif
