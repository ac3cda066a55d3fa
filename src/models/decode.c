#include "models/decode.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void attn__hyps_free(attn__hyp_t *h, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        free(h[i].tokens);
        h[i].tokens = NULL;
    }
}

static float length_penalty(float alpha, int64_t len) {
    return alpha == 0.0f ? 1.0f : powf((5.0f + (float)len) / 6.0f, alpha);
}

static int set_hyp(attn__hyp_t *h, const int32_t *tokens, int64_t len, float logprob,
                   float score) {
    h->tokens = malloc(sizeof(int32_t) * (size_t)(len > 0 ? len : 1));
    if (!h->tokens) return -1;
    if (len > 0) memcpy(h->tokens, tokens, sizeof(int32_t) * (size_t)len);
    h->len = len;
    h->logprob = logprob;
    h->score = score;
    return 0;
}

attn_status_t attn__greedy(const attn__stepper_t *m, int64_t B, int64_t max_len,
                           const int64_t *caps, attn__hyp_t *out) {
    if (B < 1 || max_len < 1)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "greedy decoding of %lld sources up to %lld "
                          "tokens; both must be >= 1", (long long)B, (long long)max_len);
    const int64_t V = m->vocab;
    int32_t *prev = malloc(sizeof *prev * (size_t)B), *hist = malloc(sizeof *hist * (size_t)(B * max_len));
    float *logp = malloc(sizeof *logp * (size_t)(B * V)), *lp = calloc((size_t)B, sizeof *lp);
    int64_t *len = calloc((size_t)B, sizeof *len);
    char *done = calloc((size_t)B, 1);
    attn_status_t st = ATTN_STATUS_OK;
    if (!prev || !hist || !logp || !lp || !len || !done) {
        st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "greedy decoding: out of memory");
        goto end;
    }
    for (int64_t b = 0; b < B; b++) prev[b] = m->bos;
    if ((st = m->begin(m->ctx, B)) != ATTN_STATUS_OK) goto end;
    for (int64_t t = 0; t < max_len; t++) {
        if ((st = m->step(m->ctx, t, prev, logp)) != ATTN_STATUS_OK) goto end;
        int64_t live = 0;
        for (int64_t b = 0; b < B; b++) {
            if (done[b]) { prev[b] = m->eos; continue; }
            const float *row = logp + b * V;
            int32_t best = 0;
            if (caps && len[b] >= caps[b]) best = m->eos; /* at its cap: the end is forced */
            else for (int32_t v = 1; v < V; v++) if (row[v] > row[best]) best = v;
            lp[b] += row[best];
            if (best == m->eos) done[b] = 1;
            else { hist[b * max_len + len[b]++] = best; live++; }
            prev[b] = best;
        }
        if (!live) break;
    }
    for (int64_t b = 0; b < B; b++)
        if (set_hyp(&out[b], hist + b * max_len, len[b], lp[b], lp[b]) != 0) {
            attn__hyps_free(out, b);
            st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "greedy decoding: out of memory");
            break;
        }
end:
    free(prev); free(hist); free(logp); free(lp); free(len); free(done);
    return st;
}

typedef struct {
    float score;   /* cumulative log-probability */
    int64_t index; /* k * V + v */
} cand_t;

/* candidate a ranks before b: higher score, then lower index */
static int before(cand_t a, cand_t b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
}

attn_status_t attn__beam_search(const attn__stepper_t *m, int64_t B, attn__beam_opts_t o,
                                attn__hyp_t *out) {
    if (B < 1 || o.beam < 1 || o.nbest < 1 || o.nbest > o.beam || o.max_len < 1 ||
        !(o.alpha >= 0.0f))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT,
                          "beam search: sources %lld, beam %d, nbest %d, max_len %lld, alpha %g; "
                          "need sources, beam, max_len >= 1, 1 <= nbest <= beam, alpha >= 0",
                          (long long)B, (int)o.beam, (int)o.nbest, (long long)o.max_len,
                          (double)o.alpha);
    const int64_t K = o.beam, V = m->vocab, R = B * K, L = o.max_len, C = 2 * K;
    int32_t *prev = malloc(sizeof *prev * (size_t)R);
    int32_t *hist = malloc(sizeof *hist * (size_t)(R * L)), *hist2 = malloc(sizeof *hist2 * (size_t)(R * L));
    float *logp = malloc(sizeof *logp * (size_t)(R * V)), *score = malloc(sizeof *score * (size_t)R);
    float *score2 = malloc(sizeof *score2 * (size_t)R);
    int64_t *from = malloc(sizeof *from * (size_t)R);
    int32_t *next = malloc(sizeof *next * (size_t)R);
    cand_t *cand = malloc(sizeof *cand * (size_t)C);
    attn__hyp_t *fin = calloc((size_t)(B * K), sizeof *fin); /* finished, K per source */
    int64_t *nfin = calloc((size_t)B, sizeof *nfin);
    char *done = calloc((size_t)B, 1);
    attn_status_t st = ATTN_STATUS_OK;
    int64_t t = 0;
    if (!prev || !hist || !hist2 || !logp || !score || !score2 || !from || !next || !cand ||
        !fin || !nfin || !done) {
        st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "beam search: out of memory");
        goto end;
    }
    for (int64_t r = 0; r < R; r++) {
        prev[r] = m->bos;
        score[r] = r % K == 0 ? 0.0f : -INFINITY; /* one live start per source */
    }
    if ((st = m->begin(m->ctx, R)) != ATTN_STATUS_OK) goto end;
    for (t = 0; t < L; t++) {
        if ((st = m->step(m->ctx, t, prev, logp)) != ATTN_STATUS_OK) goto end;
        int all_done = 1;
        for (int64_t b = 0; b < B; b++) {
            int64_t base = b * K;
            if (done[b]) {
                for (int64_t k = 0; k < K; k++) {
                    from[base + k] = base + k;
                    next[base + k] = m->eos;
                    score2[base + k] = -INFINITY;
                }
                continue;
            }
            /* the 2K best extensions, kept sorted (only </s> once the source's cap is reached) */
            int64_t nc = 0;
            const int capped = o.caps && t >= o.caps[b];
            for (int64_t k = 0; k < K; k++) {
                if (score[base + k] == -INFINITY) continue;
                const float *row = logp + (base + k) * V;
                for (int64_t v = capped ? m->eos : 0; v < (capped ? m->eos + 1 : V); v++) {
                    cand_t c = {score[base + k] + row[v], k * V + v};
                    if (nc == C && !before(c, cand[C - 1])) continue;
                    int64_t pos = nc < C ? nc++ : C - 1;
                    while (pos > 0 && before(c, cand[pos - 1])) { cand[pos] = cand[pos - 1]; pos--; }
                    cand[pos] = c;
                }
            }
            int64_t alive = 0;
            for (int64_t i = 0; i < nc && alive < K; i++) {
                int64_t k = cand[i].index / V;
                int32_t v = (int32_t)(cand[i].index % V);
                if (v == m->eos) {
                    float s = cand[i].score / length_penalty(o.alpha, t + 1);
                    /* keep the K best finished; a worse one than all K is dropped */
                    int64_t n = nfin[b], slot = n;
                    if (n == K) {
                        if (!(s > fin[base + K - 1].score)) continue;
                        free(fin[base + K - 1].tokens);
                        slot = K - 1;
                    } else {
                        nfin[b]++;
                    }
                    while (slot > 0 && s > fin[base + slot - 1].score) {
                        fin[base + slot] = fin[base + slot - 1];
                        slot--;
                    }
                    if (set_hyp(&fin[base + slot], hist + (base + k) * L, t, cand[i].score, s)) {
                        fin[base + slot].tokens = NULL;
                        st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "beam search: out of memory");
                        goto end;
                    }
                    continue;
                }
                from[base + alive] = base + k;
                next[base + alive] = v;
                score2[base + alive] = cand[i].score;
                alive++;
            }
            for (int64_t k = alive; k < K; k++) {
                from[base + k] = base;
                next[base + k] = m->eos;
                score2[base + k] = -INFINITY;
            }
            /* done when K are finished and no live hypothesis can still overtake the best */
            float best_alive = alive ? score2[base] : -INFINITY;
            float bound = best_alive / length_penalty(o.alpha, o.alpha > 0 ? L + 1 : 1);
            if (alive == 0 || (nfin[b] == K && fin[base].score >= bound)) done[b] = 1;
            else all_done = 0;
        }
        for (int64_t r = 0; r < R; r++) {
            memcpy(hist2 + r * L, hist + from[r] * L, sizeof(int32_t) * (size_t)t);
            hist2[r * L + t] = next[r];
            prev[r] = next[r];
            score[r] = score2[r];
        }
        int32_t *tmp = hist; hist = hist2; hist2 = tmp;
        if ((st = m->reorder(m->ctx, from)) != ATTN_STATUS_OK) goto end;
        if (all_done) { t++; break; }
    }
    /* sources that ran out of length: their live hypotheses join the finished ones */
    for (int64_t b = 0; b < B; b++) {
        int64_t base = b * K;
        for (int64_t k = 0; k < K && !done[b]; k++) {
            if (score[base + k] == -INFINITY) continue;
            float s = score[base + k] / length_penalty(o.alpha, t);
            int64_t n = nfin[b], slot = n;
            if (n == K) {
                if (!(s > fin[base + K - 1].score)) continue;
                free(fin[base + K - 1].tokens);
                slot = K - 1;
            } else {
                nfin[b]++;
            }
            while (slot > 0 && s > fin[base + slot - 1].score) {
                fin[base + slot] = fin[base + slot - 1];
                slot--;
            }
            if (set_hyp(&fin[base + slot], hist + (base + k) * L, t, score[base + k], s)) {
                fin[base + slot].tokens = NULL;
                st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "beam search: out of memory");
                goto end;
            }
        }
        for (int64_t i = 0; i < o.nbest; i++) {
            if (i < nfin[b]) {
                out[b * o.nbest + i] = fin[base + i];
                fin[base + i].tokens = NULL;
            } else {
                memset(&out[b * o.nbest + i], 0, sizeof *out);
                out[b * o.nbest + i].logprob = out[b * o.nbest + i].score = -INFINITY;
            }
        }
    }
end:
    if (fin)
        for (int64_t i = 0; i < B * K; i++) free(fin[i].tokens);
    free(prev); free(hist); free(hist2); free(logp); free(score); free(score2);
    free(from); free(next); free(cand); free(fin); free(nfin); free(done);
    return st;
}

void attn__log_softmax_rows(int64_t R, int64_t V, const float *logits, float *logp,
                            const int32_t *banned, int32_t nbanned) {
    for (int64_t r = 0; r < R; r++) {
        const float *z = logits + r * V;
        float *lp = logp + r * V, mx = z[0];
        for (int64_t v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        double sum = 0.0;
        for (int64_t v = 0; v < V; v++) sum += exp((double)z[v] - (double)mx);
        const float lse = mx + (float)log(sum);
        for (int64_t v = 0; v < V; v++) lp[v] = z[v] - lse;
        for (int32_t k = 0; k < nbanned; k++) lp[banned[k]] = -INFINITY;
    }
}
