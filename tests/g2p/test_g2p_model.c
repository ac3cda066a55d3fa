#define _POSIX_C_SOURCE 200809L
/* A tiny G2P Transformer trained on a few hundred words of the standard CMUdict split: the loss
 * goes down, a checkpoint round trip gives the same pronunciations, decoding is deterministic,
 * beam width 1 equals greedy decoding, a wider beam does not lower the mean log-probability,
 * an ensemble of a model and its copy pronounces as the model,
 * and the alignment maps are distributions. Skips (exit 77) when ../shared/data is absent. */
#include "g2p/g2p.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


enum { WORDS = 250 };

typedef struct word_tally {
    int64_t words, wrong, edits, bad;
} word_tally_t;

/* attn__g2p_word_fn: counts the words, and checks that the closest reference is one of the
 * word's and that zero edits means the output is that reference */
static void tally_word(void *user, const attn__dict_entry_t *e, const char *output,
                       int32_t closest, int64_t edits) {
    word_tally_t *t = user;
    t->words++;
    t->edits += edits;
    if (closest < 0 || closest >= e->nprons || edits < 0 ||
        (edits == 0) != (strcmp(output, e->prons[closest]) == 0))
        t->bad++;
    int found = 0;
    for (int32_t k = 0; k < e->nprons; k++) found |= strcmp(output, e->prons[k]) == 0;
    t->wrong += !found;
}

int main(void) {
    const char *path = ATTN_SHARED_DATA "/cmudict-g014b2b/g014b2b.train";
    if (access(path, R_OK) != 0) {
        printf("SKIP: %s is not here (the shared data folder beside the repository)\n", path);
        return 77;
    }
    attn__dict_t full, d;
    CHECK(attn__dict_load(path, ATTN__DICT_AUTO, &full) == ATTN_STATUS_OK, "%s", attn_last_error());
    /* a sample of words spread over the alphabet */
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    for (int64_t i = 0; i < full.count && len + 256 < cap; i += full.count / WORDS) {
        const attn__dict_entry_t *e = &full.entries[i];
        for (int32_t k = 0; k < e->nprons; k++)
            len += (size_t)snprintf(text + len, cap - len, "%s\t%s\n", e->word, e->prons[k]);
    }
    CHECK(attn__dict_parse(text, (int64_t)len, "sample", ATTN__DICT_TSV, &d) == ATTN_STATUS_OK,
          "sample: %s", attn_last_error());
    free(text);
    attn__vocab_t letters, phonemes;
    attn__vocab_letters(&full, &letters);
    attn__vocab_phonemes(&full, &phonemes);

    attn__s2s_config_t cfg = attn__s2s_default_config("transformer");
    cfg.d_model = 32; cfg.heads = 2; cfg.enc_layers = 1; cfg.dec_layers = 1; cfg.ff = 64;
    cfg.dropout = 0.1f; cfg.max_len = 24;
    attn__g2p_t g;
    CHECK(attn__g2p_create(&g, &cfg, &letters, &phonemes, 3) == ATTN_STATUS_OK, "create: %s",
          attn_last_error());
    attn__pairs_t pairs;
    int64_t skipped = 0;
    CHECK(attn__g2p_pairs(&g, &d, -1, 0, 0, &pairs, &skipped) == ATTN_STATUS_OK, "pairs");
    CHECK(pairs.n >= WORDS - 5 && skipped == 0, "%lld pairs, %lld skipped", (long long)pairs.n,
          (long long)skipped);

    attn__arena_t ar;
    attn__arena_init(&ar, 0);
    double loss0, loss1, acc;
    attn__s2s_eval_loss(g.model, &pairs, 2000, &ar, &loss0, &acc);
    attn__trainer_opts_t o;
    memset(&o, 0, sizeof o);
    o.batching = attn__batching_default_opts();
    o.batching.max_tokens = 600;
    o.adamw = attn__adamw_default_opts();
    o.schedule.kind = ATTN__LR_CONSTANT;
    o.schedule.lr = 2e-3;
    o.label_smoothing = 0.1f;
    o.clip = 1.0;
    o.seed = 9;
    attn__trainer_t tr;
    CHECK(attn__trainer_init(&tr, g.model, &pairs, o) == ATTN_STATUS_OK, "trainer: %s",
          attn_last_error());
    for (int s = 0; s < 120; s++)
        if (attn__trainer_step(&tr) != ATTN_STATUS_OK) {
            CHECK(0, "step %d: %s", s, attn_last_error());
            break;
        }
    attn__s2s_eval_loss(g.model, &pairs, 2000, &ar, &loss1, &acc);
    printf("loss per phoneme: %.3f before, %.3f after 120 steps (accuracy %.2f)\n", loss0, loss1,
           acc);
    CHECK(loss1 < 0.6 * loss0, "loss went from %.3f to %.3f", loss0, loss1);
    attn__trainer_free(&tr);

    /* pronounce a sample twice (deterministic), save, load, pronounce again (identical) */
    enum { N = 40 };
    const char *words[N];
    for (int i = 0; i < N; i++) words[i] = d.entries[(i * 7) % d.count].word;
    attn__g2p_decode_opts_t greedy = {1, 1, 0.0f, 16}, beam4 = {4, 1, 0.0f, 16};
    attn__g2p_result_t a[N], b[N], c[N], w[N];
    CHECK(attn__g2p_pronounce(&g, words, N, greedy, a, NULL, NULL) == ATTN_STATUS_OK, "pronounce");
    CHECK(attn__g2p_pronounce(&g, words, N, greedy, b, NULL, NULL) == ATTN_STATUS_OK, "again");
    char tmp[] = "/tmp/attn-g2p-test-XXXXXX";
    int fd = mkstemp(tmp);
    close(fd);
    CHECK(attn__g2p_save(&g, tmp, NULL, NULL, 0) == ATTN_STATUS_OK, "save: %s", attn_last_error());
    attn__g2p_t g2;
    CHECK(attn__g2p_load(&g2, tmp, NULL, NULL) == ATTN_STATUS_OK, "load: %s", attn_last_error());
    CHECK(attn__g2p_pronounce(&g2, words, N, greedy, c, NULL, NULL) == ATTN_STATUS_OK, "loaded");
    unlink(tmp);
    for (int i = 0; i < N; i++) {
        CHECK(!strcmp(a[i].phonemes, b[i].phonemes) && a[i].logprob == b[i].logprob,
              "%s decoded twice differently", words[i]);
        CHECK(!strcmp(a[i].phonemes, c[i].phonemes) && a[i].logprob == c[i].logprob,
              "%s: '%s' before saving, '%s' after loading", words[i], a[i].phonemes, c[i].phonemes);
    }
    /* beam width 1 equals greedy; width 4 does not lower the mean log-probability */
    attn__stepper_t st = attn__s2s_stepper(g.model);
    double mg = 0, mb = 0;
    CHECK(attn__g2p_pronounce(&g, words, N, beam4, w, NULL, NULL) == ATTN_STATUS_OK, "beam 4");
    for (int i = 0; i < N; i++) {
        /* the same single-source batch for both, so the arithmetic is the same */
        int32_t src[64];
        int64_t sl = attn__vocab_encode_word(&g.letters, words[i], src, 64);
        attn__hyp_t h1, h2;
        attn__beam_opts_t one = {1, 1, 0.0f, cfg.max_len - 1, NULL};
        g.model->ops->encode(g.model, 1, sl, src, &sl);
        CHECK(attn__greedy(&st, 1, cfg.max_len - 1, NULL, &h1) == ATTN_STATUS_OK, "greedy");
        g.model->ops->encode(g.model, 1, sl, src, &sl);
        CHECK(attn__beam_search(&st, 1, one, &h2) == ATTN_STATUS_OK, "beam 1");
        CHECK(h1.len == h2.len && !memcmp(h1.tokens, h2.tokens, sizeof(int32_t) * (size_t)h1.len) &&
                  h1.logprob == h2.logprob,
              "%s: beam 1 differs from greedy", words[i]);
        attn__hyps_free(&h1, 1);
        attn__hyps_free(&h2, 1);
        mg += a[i].logprob / N;
        mb += w[i].logprob / N;
    }
    printf("mean log-prob over %d words: greedy %.4f, beam 4 %.4f\n", N, mg, mb);
    CHECK(mb >= mg, "beam 4 lowered the mean log-probability");
    /* alignment: [layers, heads, T, S], rows are distributions */
    float *maps;
    int32_t L, H;
    int64_t T, S;
    CHECK(attn__g2p_alignment(&g, words[0], a[0].phonemes, &maps, &L, &H, &T, &S) ==
              ATTN_STATUS_OK, "alignment: %s", attn_last_error());
    for (int64_t r = 0; r < L * H * T; r++) {
        double s = 0;
        for (int64_t j = 0; j < S; j++) s += maps[r * S + j];
        CHECK(fabs(s - 1) < 1e-4, "alignment row sums to %g", s);
    }
    free(maps);
    /* an ensemble of the model and its saved copy pronounces as the model; with an untrained
     * model it still decodes every word; other vocabularies are refused */
    attn__g2p_t *pair[2] = {&g, &g2};
    attn__g2p_result_t e[N];
    CHECK(attn__g2p_pronounce_ensemble(pair, 2, words, N, greedy, e, NULL, NULL) ==
              ATTN_STATUS_OK, "ensemble: %s", attn_last_error());
    for (int i = 0; i < N; i++)
        CHECK(!strcmp(a[i].phonemes, e[i].phonemes) && fabsf(a[i].logprob - e[i].logprob) < 1e-5f,
              "%s: a model and its copy as an ensemble give '%s' (%g), the model '%s' (%g)",
              words[i], e[i].phonemes, (double)e[i].logprob, a[i].phonemes,
              (double)a[i].logprob);
    attn__g2p_results_free(e, N);
    attn__g2p_t fresh, other;
    CHECK(attn__g2p_create(&fresh, &cfg, &letters, &phonemes, 11) == ATTN_STATUS_OK, "fresh");
    attn__g2p_t *mixed[2] = {&g, &fresh};
    attn__g2p_score_t se;
    CHECK(attn__g2p_evaluate_ensemble(mixed, 2, &d, -1, 0, 0, beam4, &se, NULL, NULL, NULL,
                                      NULL) == ATTN_STATUS_OK && se.words == d.count,
          "ensemble evaluate: %s", attn_last_error());
    attn__vocab_t few;
    CHECK(attn__vocab_parse("A B C", &few) == ATTN_STATUS_OK, "vocab");
    CHECK(attn__g2p_create(&other, &cfg, &few, &phonemes, 5) == ATTN_STATUS_OK, "other");
    attn__g2p_t *bad[3] = {&g, &fresh, &other};
    CHECK(attn__g2p_pronounce_ensemble(bad, 3, words, N, greedy, e, NULL, NULL) ==
              ATTN_STATUS_BAD_ARGUMENT && strstr(attn_last_error(), "model 3 reads another "
                                                 "alphabet"),
          "another alphabet: %s", attn_last_error());
    attn__vocab_free(&few);
    attn__g2p_free(&other);
    attn__g2p_free(&fresh);

    attn__g2p_score_t sc;
    CHECK(attn__g2p_evaluate(&g, &d, -1, 0, 0, greedy, &sc, NULL, NULL) == ATTN_STATUS_OK,
          "evaluate");
    CHECK(sc.words == d.count, "scored %lld of %lld words", (long long)sc.words,
          (long long)d.count);
    printf("on its own training words: WER %.1f%%, PER %.1f%%\n", 100 * attn__g2p_wer(&sc),
           100 * attn__g2p_per(&sc));
    /* the words one by one, as error analysis sees them, add up to the same score */
    word_tally_t t = {0, 0, 0, 0};
    attn__g2p_score_t s2;
    CHECK(attn__g2p_evaluate_ensemble((attn__g2p_t *[]){&g}, 1, &d, -1, 0, 0, greedy, &s2, NULL,
                                      NULL, tally_word, &t) == ATTN_STATUS_OK, "evaluate, each");
    CHECK(t.words == sc.words && t.wrong == sc.wrong && t.edits == sc.edits && t.bad == 0,
          "each word: %lld words, %lld wrong, %lld edits, %lld inconsistent; the score has "
          "%lld, %lld, %lld", (long long)t.words, (long long)t.wrong, (long long)t.edits,
          (long long)t.bad, (long long)sc.words, (long long)sc.wrong, (long long)sc.edits);
    attn__g2p_results_free(a, N);
    attn__g2p_results_free(b, N);
    attn__g2p_results_free(c, N);
    attn__g2p_results_free(w, N);
    attn__g2p_free(&g2);
    attn__g2p_free(&g);
    attn__pairs_free(&pairs);
    attn__arena_free(&ar);
    attn__vocab_free(&letters);
    attn__vocab_free(&phonemes);
    attn__dict_free(&d);
    attn__dict_free(&full);
    return check_report("test_g2p_model");
}
