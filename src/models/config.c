#include "models/config.h"
#include "core/status.h"
#include "io/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

attn__s2s_config_t attn__s2s_default_config(const char *kind) {
    attn__s2s_config_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.kind, sizeof c.kind, "%s", kind ? kind : "transformer");
    c.d_model = 256;
    c.heads = 4;
    c.enc_layers = 3;
    c.dec_layers = 3;
    c.ff = 1024;
    c.hidden = 256;
    snprintf(c.cell, sizeof c.cell, "gru");
    snprintf(c.score, sizeof c.score, "additive");
    snprintf(c.activation, sizeof c.activation, "relu");
    c.dropout = 0.1f;
    c.attention_dropout = 0.0f;
    c.max_len = 64;
    if (strcmp(c.kind, "transformer") != 0) {
        c.d_model = 128;
        c.enc_layers = c.dec_layers = 1;
    }
    return c;
}

char *attn__s2s_config_to_json(const attn__s2s_config_t *c) {
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "{\"kind\": \"%s\", \"src_vocab\": \"%lld\", \"tgt_vocab\": \"%lld\", "
                     "\"d_model\": \"%lld\", \"heads\": \"%lld\", \"enc_layers\": \"%lld\", "
                     "\"dec_layers\": \"%lld\", \"ff\": \"%lld\", \"hidden\": \"%lld\", "
                     "\"cell\": \"%s\", \"score\": \"%s\", \"activation\": \"%s\", "
                     "\"dropout\": \"%.9g\", \"max_len\": \"%lld\"}",
                     c->kind, (long long)c->src_vocab, (long long)c->tgt_vocab,
                     (long long)c->d_model, (long long)c->heads, (long long)c->enc_layers,
                     (long long)c->dec_layers, (long long)c->ff, (long long)c->hidden, c->cell,
                     c->score, c->activation, (double)c->dropout, (long long)c->max_len);
    if (n < 0 || (size_t)n >= sizeof buf) return NULL;
    if (c->attention_dropout > 0.0f) { /* only then, so older configs read back unchanged */
        int m = snprintf(buf + n - 1, sizeof buf - (size_t)n + 1,
                         ", \"attention_dropout\": \"%.9g\"}", (double)c->attention_dropout);
        if (m < 0 || (size_t)m >= sizeof buf - (size_t)n + 1) return NULL;
    }
    return strdup(buf);
}

static int parse_i64(const char *s, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || end == s || *end) return -1;
    *out = v;
    return 0;
}

attn_status_t attn__s2s_config_from_json(const char *text, attn__s2s_config_t *c) {
    memset(c, 0, sizeof *c);
    attn__jr_t r;
    attn_status_t st = attn__jr_init(&r, text, strlen(text));
    if (st != ATTN_STATUS_OK) return st;
    attn__json_str_t key, val;
    st = ATTN_STATUS_OK;
    if (!attn__jr_begin_object(&r)) goto bad;
    while (attn__jr_next_member(&r, &key)) {
        char k[32];
        snprintf(k, sizeof k, "%s", key.s);
        if (!attn__jr_string(&r, &val)) goto bad;
        int64_t *num = NULL;
        char *str = NULL;
        size_t cap = 0;
        if (!strcmp(k, "kind")) { str = c->kind; cap = sizeof c->kind; }
        else if (!strcmp(k, "cell")) { str = c->cell; cap = sizeof c->cell; }
        else if (!strcmp(k, "score")) { str = c->score; cap = sizeof c->score; }
        else if (!strcmp(k, "activation")) { str = c->activation; cap = sizeof c->activation; }
        else if (!strcmp(k, "src_vocab")) num = &c->src_vocab;
        else if (!strcmp(k, "tgt_vocab")) num = &c->tgt_vocab;
        else if (!strcmp(k, "d_model")) num = &c->d_model;
        else if (!strcmp(k, "heads")) num = &c->heads;
        else if (!strcmp(k, "enc_layers")) num = &c->enc_layers;
        else if (!strcmp(k, "dec_layers")) num = &c->dec_layers;
        else if (!strcmp(k, "ff")) num = &c->ff;
        else if (!strcmp(k, "hidden")) num = &c->hidden;
        else if (!strcmp(k, "max_len")) num = &c->max_len;
        else if (!strcmp(k, "dropout") || !strcmp(k, "attention_dropout")) {
            char *end = NULL;
            double d = strtod(val.s, &end);
            if (!end || *end || !(d >= 0.0 && d < 1.0)) {
                st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: %s '%s' is not a "
                                "number in [0, 1)", k, val.s);
                goto end;
            }
            *(!strcmp(k, "dropout") ? &c->dropout : &c->attention_dropout) = (float)d;
            continue;
        } else {
            st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: unknown key '%s'", k);
            goto end;
        }
        if (str) {
            if (val.len >= cap) {
                st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: %s '%s' is too long",
                                k, val.s);
                goto end;
            }
            memcpy(str, val.s, val.len + 1);
        } else if (parse_i64(val.s, num) != 0) {
            st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: %s '%s' is not a whole "
                            "number", k, val.s);
            goto end;
        }
    }
    if (!attn__jr_finish(&r)) goto bad;
    st = attn__s2s_config_check(c);
    goto end;
bad:
    st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config is not a JSON object of strings: %s",
                    r.why);
end:
    attn__jr_free(&r);
    return st;
}

attn_status_t attn__s2s_config_check(const attn__s2s_config_t *c) {
    int transformer = !strcmp(c->kind, "transformer");
    int rnn = !strcmp(c->kind, "rnn-attention") || !strcmp(c->kind, "rnn");
    if (!transformer && !rnn)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model kind '%s'; use transformer, "
                          "rnn-attention or rnn", c->kind);
    const struct { const char *name; int64_t v, lo, hi; } ints[] = {
        {"src_vocab", c->src_vocab, 5, 1 << 20}, {"tgt_vocab", c->tgt_vocab, 5, 1 << 20},
        {"d_model", c->d_model, 1, 1 << 14},     {"enc_layers", c->enc_layers, 1, 64},
        {"dec_layers", c->dec_layers, 1, 64},    {"max_len", c->max_len, 1, 1 << 16},
        {"heads", c->heads, 1, 1024},            {"ff", c->ff, 1, 1 << 16},
        {"hidden", c->hidden, 1, 1 << 14}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        if (!transformer && (!strcmp(ints[i].name, "heads") || !strcmp(ints[i].name, "ff")))
            continue;
        if (ints[i].v < ints[i].lo || ints[i].v > ints[i].hi)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: %s is %lld; use %lld to "
                              "%lld", ints[i].name, (long long)ints[i].v,
                              (long long)ints[i].lo, (long long)ints[i].hi);
    }
    if (transformer && c->d_model % c->heads != 0)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: d_model %lld is not a "
                          "multiple of heads %lld", (long long)c->d_model, (long long)c->heads);
    if (transformer && strcmp(c->activation, "relu") && strcmp(c->activation, "gelu"))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: activation '%s'; use relu "
                          "or gelu", c->activation);
    if (rnn && strcmp(c->cell, "gru") && strcmp(c->cell, "lstm"))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: cell '%s'; use gru or lstm",
                          c->cell);
    if (!strcmp(c->kind, "rnn-attention") && strcmp(c->score, "additive") &&
        strcmp(c->score, "dot") && strcmp(c->score, "general"))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: score '%s'; use additive, "
                          "dot or general", c->score);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: dropout %g; use [0, 1)",
                          (double)c->dropout);
    if (!(c->attention_dropout >= 0.0f && c->attention_dropout < 1.0f))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: attention_dropout %g; use "
                          "[0, 1)", (double)c->attention_dropout);
    if (!transformer && c->attention_dropout > 0.0f)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "model config: attention_dropout is for "
                          "the Transformer; the RNN models' attention has no dropout");
    return ATTN_STATUS_OK;
}

attn_status_t attn__s2s_create(const attn__s2s_config_t *c, uint64_t seed, attn__s2s_t **out) {
    *out = NULL;
    attn_status_t st = attn__s2s_config_check(c);
    if (st != ATTN_STATUS_OK) return st;
    if (!strcmp(c->kind, "transformer")) return attn__transformer_s2s_create(c, seed, out);
    return attn__rnn_s2s_create(c, seed, out);
}

void attn__s2s_destroy(attn__s2s_t *m) {
    if (!m) return;
    if (m->ops && m->ops->destroy) m->ops->destroy(m);
}
