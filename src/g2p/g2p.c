#include "g2p/g2p.h"
#include "core/status.h"
#include "models/ensemble.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void attn__g2p_free(attn__g2p_t *g) {
    attn__s2s_destroy(g->model);
    attn__vocab_free(&g->letters);
    attn__vocab_free(&g->phonemes);
    memset(g, 0, sizeof *g);
}

static attn_status_t copy_vocab(const attn__vocab_t *from, attn__vocab_t *to) {
    char *joined = attn__vocab_join(from);
    if (!joined) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "vocabulary");
    attn_status_t st = attn__vocab_parse(joined, to);
    free(joined);
    return st;
}

attn_status_t attn__g2p_create(attn__g2p_t *g, const attn__s2s_config_t *cfg,
                               const attn__vocab_t *letters, const attn__vocab_t *phonemes,
                               uint64_t seed) {
    memset(g, 0, sizeof *g);
    g->cfg = *cfg;
    g->cfg.src_vocab = letters->count;
    g->cfg.tgt_vocab = phonemes->count;
    attn_status_t st = copy_vocab(letters, &g->letters);
    if (st == ATTN_STATUS_OK) st = copy_vocab(phonemes, &g->phonemes);
    if (st == ATTN_STATUS_OK) st = attn__s2s_create(&g->cfg, seed, &g->model);
    if (st != ATTN_STATUS_OK) attn__g2p_free(g);
    return st;
}

static attn_status_t save(const attn__g2p_t *g, const char *path, const attn__ckpt_optim_t *opt,
                          attn__st_dtype_t dtype, const attn__st_meta_t *extra,
                          int64_t n_extra) {
    char *letters = attn__vocab_join(&g->letters), *phonemes = attn__vocab_join(&g->phonemes);
    attn__st_meta_t *meta = malloc(sizeof *meta * (size_t)(n_extra + 4));
    attn_status_t st;
    if (!letters || !phonemes || !meta) {
        st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "saving %s: out of memory", path);
    } else {
        meta[0] = (attn__st_meta_t){"model", "attn-g2p"};
        meta[1] = (attn__st_meta_t){"config", g->model->config};
        meta[2] = (attn__st_meta_t){"letters", letters};
        meta[3] = (attn__st_meta_t){"phonemes", phonemes};
        for (int64_t i = 0; i < n_extra; i++) meta[4 + i] = extra[i];
        st = opt || dtype == ATTN__ST_F32
                 ? attn__ckpt_save(path, &g->model->params, opt, meta, n_extra + 4)
                 : attn__ckpt_save_weights(path, &g->model->params, dtype, meta, n_extra + 4);
    }
    free(letters);
    free(phonemes);
    free(meta);
    return st;
}

attn_status_t attn__g2p_save(const attn__g2p_t *g, const char *path,
                             const attn__ckpt_optim_t *opt, const attn__st_meta_t *extra,
                             int64_t n_extra) {
    return save(g, path, opt, ATTN__ST_F32, extra, n_extra);
}

attn_status_t attn__g2p_save_weights(const attn__g2p_t *g, const char *path,
                                     attn__st_dtype_t dtype, const attn__st_meta_t *extra,
                                     int64_t n_extra) {
    return save(g, path, NULL, dtype, extra, n_extra);
}

attn_status_t attn__g2p_load(attn__g2p_t *g, const char *path, attn__ckpt_optim_t *opt,
                             attn__ckpt_meta_t *meta) {
    memset(g, 0, sizeof *g);
    attn__st_file_t *f = NULL;
    attn_status_t st = attn__st_open(&f, path);
    if (st != ATTN_STATUS_OK) return st;
    const char *model = attn__st_meta_get(f, "model"), *config = attn__st_meta_get(f, "config");
    const char *letters = attn__st_meta_get(f, "letters");
    const char *phonemes = attn__st_meta_get(f, "phonemes");
    if (!model || strcmp(model, "attn-g2p") != 0 || !config || !letters || !phonemes) {
        st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s is not an attn G2P model (its metadata "
                        "lacks model=attn-g2p, config, letters or phonemes); train one with "
                        "`attn g2p train`", path);
    } else {
        st = attn__s2s_config_from_json(config, &g->cfg);
        if (st == ATTN_STATUS_OK) st = attn__vocab_parse(letters, &g->letters);
        if (st == ATTN_STATUS_OK) st = attn__vocab_parse(phonemes, &g->phonemes);
        if (st == ATTN_STATUS_OK &&
            (g->letters.count != g->cfg.src_vocab || g->phonemes.count != g->cfg.tgt_vocab))
            st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s: the vocabularies (%d letters, %d "
                            "phonemes) do not match the config (%lld, %lld)", path,
                            (int)g->letters.count, (int)g->phonemes.count,
                            (long long)g->cfg.src_vocab, (long long)g->cfg.tgt_vocab);
    }
    attn__st_close(f);
    if (st == ATTN_STATUS_OK) st = attn__s2s_create(&g->cfg, 0, &g->model);
    if (st == ATTN_STATUS_OK) st = attn__ckpt_load(path, &g->model->params, opt, meta);
    if (st != ATTN_STATUS_OK) attn__g2p_free(g);
    return st;
}

attn_status_t attn__g2p_check_word(const attn__g2p_t *g, const char *word) {
    int64_t n = (int64_t)strlen(word);
    if (n == 0) return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "empty word");
    int32_t ids[256];
    if (n > 255) return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "'%.20s...' is longer than 255 "
                                   "letters", word);
    return attn__vocab_encode_word(&g->letters, word, ids, 256) < 0 ? ATTN_STATUS_BAD_ARGUMENT
                                                                    : ATTN_STATUS_OK;
}

attn_status_t attn__g2p_pairs(const attn__g2p_t *g, const attn__dict_t *d, int part,
                              int dev_permille, int test_permille, attn__pairs_t *out,
                              int64_t *skipped) {
    memset(out, 0, sizeof *out);
    int64_t n = 0, ns = 0, nt = 0, skip = 0;
    for (int64_t i = 0; i < d->count; i++) {
        const attn__dict_entry_t *e = &d->entries[i];
        if (part >= 0 && attn__dict_split_of(e->word, dev_permille, test_permille) != part)
            continue;
        n += e->nprons;
        ns += (int64_t)strlen(e->word) * e->nprons;
        for (int32_t k = 0; k < e->nprons; k++) nt += (int64_t)strlen(e->prons[k]) / 2 + 1;
    }
    out->src_off = malloc(sizeof(int64_t) * (size_t)(n + 1));
    out->tgt_off = malloc(sizeof(int64_t) * (size_t)(n + 1));
    out->src = malloc(sizeof(int32_t) * (size_t)(ns + 1));
    out->tgt = malloc(sizeof(int32_t) * (size_t)(nt + 1));
    if (!out->src_off || !out->tgt_off || !out->src || !out->tgt) {
        attn__pairs_free(out);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot allocate %lld pairs", (long long)n);
    }
    out->src_off[0] = out->tgt_off[0] = 0;
    int64_t k = 0;
    for (int64_t i = 0; i < d->count; i++) {
        const attn__dict_entry_t *e = &d->entries[i];
        if (part >= 0 && attn__dict_split_of(e->word, dev_permille, test_permille) != part)
            continue;
        for (int32_t r = 0; r < e->nprons; r++) {
            int64_t s = attn__vocab_encode_word(&g->letters, e->word, out->src + out->src_off[k],
                                                ns - out->src_off[k]);
            int64_t t = s < 0 ? -1
                              : attn__vocab_encode_pron(&g->phonemes, e->prons[r],
                                                        out->tgt + out->tgt_off[k],
                                                        nt - out->tgt_off[k]);
            if (s <= 0 || t < 0 || t + 1 > g->cfg.max_len) {
                skip++;
                continue;
            }
            out->src_off[k + 1] = out->src_off[k] + s;
            out->tgt_off[k + 1] = out->tgt_off[k] + t;
            k++;
        }
    }
    out->n = k;
    if (skipped) *skipped = skip;
    return ATTN_STATUS_OK;
}

void attn__g2p_results_free(attn__g2p_result_t *r, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        free(r[i].phonemes);
        r[i].phonemes = NULL;
    }
}

static char *phoneme_string(const attn__vocab_t *v, const int32_t *ids, int64_t n) {
    size_t len = 1;
    for (int64_t i = 0; i < n; i++) len += strlen(v->names[ids[i]]) + 1;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (i) *p++ = ' ';
        size_t k = strlen(v->names[ids[i]]);
        memcpy(p, v->names[ids[i]], k);
        p += k;
    }
    *p = '\0';
    return s;
}

typedef struct {
    int64_t len, index;
} by_len_t;

static int cmp_len(const void *a, const void *b) {
    const by_len_t *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static bool same_vocab(const attn__vocab_t *a, const attn__vocab_t *b) {
    if (a->count != b->count) return false;
    for (int32_t i = 0; i < a->count; i++)
        if (strcmp(a->names[i], b->names[i]) != 0) return false;
    return true;
}

attn_status_t attn__g2p_check_ensemble(attn__g2p_t *const *gs, int32_t n) {
    if (!gs || n < 1)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "an ensemble of %d models; give at least "
                          "one", (int)n);
    for (int32_t i = 1; i < n; i++) {
        if (!same_vocab(&gs[i]->letters, &gs[0]->letters))
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "ensemble: model %d reads another "
                              "alphabet than model 1 (%d letters against %d); the models must "
                              "share their vocabularies", (int)i + 1,
                              (int)gs[i]->letters.count - 4, (int)gs[0]->letters.count - 4);
        if (!same_vocab(&gs[i]->phonemes, &gs[0]->phonemes))
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "ensemble: model %d writes another "
                              "phoneme set than model 1 (%d phonemes against %d); the models "
                              "must share their vocabularies", (int)i + 1,
                              (int)gs[i]->phonemes.count - 4, (int)gs[0]->phonemes.count - 4);
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__g2p_pronounce(attn__g2p_t *g, const char *const *words, int64_t n,
                                  attn__g2p_decode_opts_t o, attn__g2p_result_t *out,
                                  attn__g2p_progress_fn progress, void *user) {
    return attn__g2p_pronounce_ensemble(&g, 1, words, n, o, out, progress, user);
}

attn_status_t attn__g2p_pronounce_ensemble(attn__g2p_t *const *gs, int32_t n_models,
                                           const char *const *words, int64_t n,
                                           attn__g2p_decode_opts_t o, attn__g2p_result_t *out,
                                           attn__g2p_progress_fn progress, void *user) {
    if (o.beam < 1 || o.nbest < 1 || o.nbest > o.beam || o.batch < 1)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "beam %d, nbest %d, batch %lld: need "
                          "1 <= nbest <= beam and batch >= 1", (int)o.beam, (int)o.nbest,
                          (long long)o.batch);
    attn_status_t st = attn__g2p_check_ensemble(gs, n_models);
    if (st != ATTN_STATUS_OK) return st;
    attn__g2p_t *g = gs[0]; /* the vocabularies, shared */
    memset(out, 0, sizeof *out * (size_t)(n * o.nbest));
    /* decode words of similar length together, in a fixed order */
    by_len_t *order = malloc(sizeof *order * (size_t)(n ? n : 1));
    int32_t *src = malloc(sizeof(int32_t) * (size_t)(o.batch * 256));
    int64_t *lens = malloc(sizeof(int64_t) * (size_t)o.batch);
    int64_t *caps = malloc(sizeof(int64_t) * (size_t)o.batch);
    attn__hyp_t *hyps = malloc(sizeof *hyps * (size_t)(o.batch * o.nbest));
    attn__stepper_t *members = malloc(sizeof *members * (size_t)n_models), stepper;
    attn__ensemble_t ens;
    memset(&ens, 0, sizeof ens);
    if (!order || !src || !lens || !caps || !hyps || !members) {
        st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "pronounce: out of memory");
        goto end;
    }
    int64_t max_len = g->cfg.max_len - 1;
    for (int32_t m = 0; m < n_models; m++) {
        members[m] = attn__s2s_stepper(gs[m]->model);
        if (gs[m]->cfg.max_len - 1 < max_len) max_len = gs[m]->cfg.max_len - 1;
    }
    if ((st = attn__ensemble_init(&ens, members, n_models, &stepper)) != ATTN_STATUS_OK)
        goto end;
    for (int64_t i = 0; i < n; i++) {
        if ((st = attn__g2p_check_word(g, words[i])) != ATTN_STATUS_OK) goto end;
        order[i] = (by_len_t){(int64_t)strlen(words[i]), i};
    }
    qsort(order, (size_t)n, sizeof *order, cmp_len);
    for (int64_t i0 = 0; i0 < n; i0 += o.batch) {
        int64_t B = n - i0 < o.batch ? n - i0 : o.batch, S = order[i0 + B - 1].len;
        for (int64_t b = 0; b < B; b++) {
            int32_t *row = src + b * S;
            lens[b] = attn__vocab_encode_word(&g->letters, words[order[i0 + b].index], row, S);
            for (int64_t j = lens[b]; j < S; j++) row[j] = ATTN__TOK_PAD;
        }
        for (int32_t m = 0; m < n_models; m++)
            if ((st = gs[m]->model->ops->encode(gs[m]->model, B, S, src, lens)) != ATTN_STATUS_OK)
                goto end;
        for (int64_t b = 0; b < B; b++) caps[b] = attn__g2p_length_cap(lens[b]);
        if (o.beam == 1) {
            st = attn__greedy(&stepper, B, max_len, caps, hyps);
        } else {
            attn__beam_opts_t bo = {o.beam, o.nbest, o.alpha, max_len, caps};
            st = attn__beam_search(&stepper, B, bo, hyps);
        }
        if (st != ATTN_STATUS_OK) goto end;
        int64_t per = o.beam == 1 ? 1 : o.nbest;
        for (int64_t b = 0; b < B; b++)
            for (int64_t k = 0; k < o.nbest; k++) {
                attn__g2p_result_t *r = &out[order[i0 + b].index * o.nbest + k];
                if (k >= per || !hyps[b * per + k].tokens) {
                    r->phonemes = strdup("");
                    r->logprob = r->score = -INFINITY;
                } else {
                    const attn__hyp_t *h = &hyps[b * per + k];
                    r->phonemes = phoneme_string(&g->phonemes, h->tokens, h->len);
                    r->logprob = h->logprob;
                    r->score = h->score;
                }
                if (!r->phonemes) st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "pronounce");
            }
        attn__hyps_free(hyps, B * per);
        if (st != ATTN_STATUS_OK) goto end;
        if (progress) progress(user, i0 + B, n);
    }
end:
    if (st != ATTN_STATUS_OK) attn__g2p_results_free(out, n * o.nbest);
    free(order);
    free(src);
    free(lens);
    free(caps);
    free(hyps);
    free(members);
    attn__ensemble_free(&ens);
    return st;
}

attn_status_t attn__g2p_evaluate(attn__g2p_t *g, const attn__dict_t *d, int part,
                                 int dev_permille, int test_permille,
                                 attn__g2p_decode_opts_t opts, attn__g2p_score_t *score,
                                 attn__g2p_progress_fn progress, void *user) {
    return attn__g2p_evaluate_ensemble(&g, 1, d, part, dev_permille, test_permille, opts, score,
                                       progress, user, NULL, NULL);
}

attn_status_t attn__g2p_evaluate_ensemble(attn__g2p_t *const *gs, int32_t n_models,
                                          const attn__dict_t *d, int part, int dev_permille,
                                          int test_permille, attn__g2p_decode_opts_t opts,
                                          attn__g2p_score_t *score,
                                          attn__g2p_progress_fn progress, void *user,
                                          attn__g2p_word_fn each, void *each_user) {
    memset(score, 0, sizeof *score);
    attn_status_t st = attn__g2p_check_ensemble(gs, n_models);
    if (st != ATTN_STATUS_OK) return st;
    attn__g2p_t *g = gs[0]; /* the vocabularies, shared */
    int64_t n = 0;
    const char **words = malloc(sizeof *words * (size_t)(d->count ? d->count : 1));
    const attn__dict_entry_t **entries = malloc(sizeof *entries * (size_t)(d->count ? d->count : 1));
    if (!words || !entries) {
        free(words);
        free(entries);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "evaluate: out of memory");
    }
    for (int64_t i = 0; i < d->count; i++) {
        const attn__dict_entry_t *e = &d->entries[i];
        if (part >= 0 && attn__dict_split_of(e->word, dev_permille, test_permille) != part)
            continue;
        if (attn__g2p_check_word(g, e->word) != ATTN_STATUS_OK) continue; /* counted below */
        entries[n] = e;
        words[n++] = e->word;
    }
    opts.nbest = 1;
    attn__g2p_result_t *res = calloc((size_t)(n ? n : 1), sizeof *res);
    st = res ? attn__g2p_pronounce_ensemble(gs, n_models, words, n, opts, res, progress, user)
             : attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "evaluate: out of memory");
    int32_t hyp[256], refbuf[16][256];
    const int32_t *refs[16];
    int64_t rlen[16];
    int32_t which[16]; /* refs[r] is e->prons[which[r]] */
    for (int64_t i = 0; i < n && st == ATTN_STATUS_OK; i++) {
        const attn__dict_entry_t *e = entries[i];
        int64_t nh = attn__vocab_encode_pron(&g->phonemes, res[i].phonemes, hyp, 256);
        int32_t nr = 0;
        for (int32_t k = 0; k < e->nprons && nr < 16; k++) {
            int64_t l = attn__vocab_encode_pron(&g->phonemes, e->prons[k], refbuf[nr], 256);
            if (l < 0) continue; /* a phoneme the model never saw: that reference can't match */
            refs[nr] = refbuf[nr];
            which[nr] = k;
            rlen[nr++] = l;
        }
        if (nh < 0) nh = 0;
        attn__g2p_score_add(score, (int64_t)strlen(e->word), hyp, nh, refs, rlen, nr);
        if (each) {
            int64_t edits;
            int32_t r = attn__g2p_closest(hyp, nh, refs, rlen, nr, &edits);
            each(each_user, e, res[i].phonemes, r >= 0 ? which[r] : -1, edits);
        }
    }
    /* words the model cannot read count as wrong, every reference phoneme an error */
    for (int64_t i = 0; i < d->count && st == ATTN_STATUS_OK; i++) {
        const attn__dict_entry_t *e = &d->entries[i];
        if (part >= 0 && attn__dict_split_of(e->word, dev_permille, test_permille) != part)
            continue;
        if (attn__g2p_check_word(g, e->word) == ATTN_STATUS_OK) continue;
        int64_t l = 1;
        for (const char *c = e->prons[0]; *c; c++) l += *c == ' ';
        const int32_t *none[1] = {hyp};
        int64_t zl[1] = {l};
        for (int64_t j = 0; j < l && j < 256; j++) hyp[j] = -1;
        attn__g2p_score_add(score, (int64_t)strlen(e->word), NULL, 0, none, zl, 1);
        if (each) each(each_user, e, "", 0, l);
    }
    if (res) attn__g2p_results_free(res, n);
    free(res);
    free(words);
    free(entries);
    return st;
}

attn_status_t attn__g2p_alignment(attn__g2p_t *g, const char *word, const char *phonemes,
                                  float **maps, int32_t *layers, int32_t *heads, int64_t *T,
                                  int64_t *S) {
    *maps = NULL;
    int32_t src[256], tgt[256];
    int64_t s = attn__vocab_encode_word(&g->letters, word, src, 256);
    if (s <= 0) return s == 0 ? attn__fail(ATTN_STATUS_BAD_ARGUMENT, "empty word")
                              : ATTN_STATUS_BAD_ARGUMENT;
    int64_t t = attn__vocab_encode_pron(&g->phonemes, phonemes, tgt, 255);
    if (t < 0) return ATTN_STATUS_BAD_ARGUMENT;
    attn__pairs_t p = {1, NULL, NULL, src, tgt};
    int64_t so[2] = {0, s}, to[2] = {0, t}, zero = 0;
    p.src_off = so;
    p.tgt_off = to;
    attn__batch_buf_t buf = {0};
    attn__s2s_batch_t b;
    attn__arena_t ar;
    attn__arena_init(&ar, 0);
    float *m = NULL;
    attn_status_t st = attn__pairs_batch(&p, &zero, 1, &buf, &b);
    if (st == ATTN_STATUS_OK) {
        if (!g->model->ops->alignments)
            st = attn__fail(ATTN_STATUS_UNSUPPORTED, "the %s model has no attention to show",
                            g->cfg.kind);
        else
            st = g->model->ops->alignments(g->model, &b, &ar, &m, layers, heads);
    }
    if (st == ATTN_STATUS_OK) {
        size_t bytes = sizeof(float) * (size_t)(*layers * *heads * b.T * b.S);
        if (!(*maps = malloc(bytes))) st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "alignment");
        else memcpy(*maps, m, bytes);
        *T = b.T;
        *S = b.S;
    }
    attn__arena_free(&ar);
    attn__batch_buf_free(&buf);
    return st;
}
