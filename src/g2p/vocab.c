#include "g2p/vocab.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

static const char *const reserved[ATTN__TOK_FIRST] = {"<pad>", "<s>", "</s>", "<unk>"};

void attn__vocab_free(attn__vocab_t *v) {
    for (int32_t i = 0; i < v->count; i++) free(v->names[i]);
    free(v->names);
    v->names = NULL;
    v->count = 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Builds a vocabulary from n symbols (duplicates allowed; they are merged). Takes ownership of
 * nothing: symbols are copied. */
static attn_status_t from_symbols(char **sym, int64_t n, attn__vocab_t *v) {
    qsort(sym, (size_t)n, sizeof *sym, cmp_str);
    int64_t uniq = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || strcmp(sym[i], sym[i - 1]) != 0) uniq++;
    v->count = (int32_t)(ATTN__TOK_FIRST + uniq);
    v->names = calloc((size_t)v->count, sizeof *v->names);
    if (!v->names) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot build a vocabulary");
    int32_t k = 0;
    for (; k < ATTN__TOK_FIRST; k++) v->names[k] = strdup(reserved[k]);
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || strcmp(sym[i], sym[i - 1]) != 0) v->names[k++] = strdup(sym[i]);
    for (int32_t i = 0; i < v->count; i++)
        if (!v->names[i]) {
            attn__vocab_free(v);
            return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot build a vocabulary");
        }
    return ATTN_STATUS_OK;
}

attn_status_t attn__vocab_letters(const attn__dict_t *d, attn__vocab_t *v) {
    int seen[256] = {0};
    for (int64_t i = 0; i < d->count; i++)
        for (const unsigned char *c = (const unsigned char *)d->entries[i].word; *c; c++)
            seen[*c] = 1;
    char *store[256], buf[256][2];
    int64_t n = 0;
    for (int c = 1; c < 256; c++)
        if (seen[c]) {
            buf[n][0] = (char)c;
            buf[n][1] = '\0';
            store[n] = buf[n];
            n++;
        }
    return from_symbols(store, n, v);
}

attn_status_t attn__vocab_phonemes(const attn__dict_t *d, attn__vocab_t *v) {
    int64_t cap = 64, n = 0;
    char **sym = malloc(sizeof *sym * (size_t)cap);
    attn_status_t st = ATTN_STATUS_OK;
    if (!sym) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot build a vocabulary");
    for (int64_t i = 0; i < d->count && st == ATTN_STATUS_OK; i++)
        for (int32_t k = 0; k < d->entries[i].nprons && st == ATTN_STATUS_OK; k++) {
            const char *p = d->entries[i].prons[k];
            while (*p) {
                const char *e = strchr(p, ' ');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                int known = 0; /* the inventory is tiny: a linear scan is enough */
                for (int64_t j = 0; j < n && !known; j++)
                    known = strlen(sym[j]) == len && strncmp(sym[j], p, len) == 0;
                if (!known) {
                    if (n == cap) {
                        char **g = realloc(sym, sizeof *g * (size_t)(cap *= 2));
                        if (!g) { st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "vocabulary"); break; }
                        sym = g;
                    }
                    if (!(sym[n] = strndup(p, len))) {
                        st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "vocabulary");
                        break;
                    }
                    n++;
                }
                p += len;
                if (*p == ' ') p++;
            }
        }
    if (st == ATTN_STATUS_OK) st = from_symbols(sym, n, v);
    for (int64_t j = 0; j < n; j++) free(sym[j]);
    free(sym);
    return st;
}

attn_status_t attn__vocab_parse(const char *list, attn__vocab_t *v) {
    char *copy = strdup(list ? list : "");
    if (!copy) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "vocabulary");
    int64_t n = 0, cap = 16;
    char **sym = malloc(sizeof *sym * (size_t)cap);
    attn_status_t st = sym ? ATTN_STATUS_OK : attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "vocabulary");
    for (char *save = NULL, *tok = sym ? strtok_r(copy, " ", &save) : NULL; tok;
         tok = strtok_r(NULL, " ", &save)) {
        if (n == cap) {
            char **g = realloc(sym, sizeof *g * (size_t)(cap *= 2));
            if (!g) { st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "vocabulary"); break; }
            sym = g;
        }
        sym[n++] = tok;
    }
    if (st == ATTN_STATUS_OK && n == 0)
        st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "empty vocabulary list");
    if (st == ATTN_STATUS_OK) st = from_symbols(sym, n, v);
    free(sym);
    free(copy);
    return st;
}

char *attn__vocab_join(const attn__vocab_t *v) {
    size_t len = 1;
    for (int32_t i = ATTN__TOK_FIRST; i < v->count; i++) len += strlen(v->names[i]) + 1;
    char *out = malloc(len), *p = out;
    if (!out) return NULL;
    for (int32_t i = ATTN__TOK_FIRST; i < v->count; i++) {
        if (i > ATTN__TOK_FIRST) *p++ = ' ';
        size_t n = strlen(v->names[i]);
        memcpy(p, v->names[i], n);
        p += n;
    }
    *p = '\0';
    return out;
}

int32_t attn__vocab_id(const attn__vocab_t *v, const char *symbol) {
    /* symbols after the reserved ones are sorted: binary search */
    int32_t lo = ATTN__TOK_FIRST, hi = v->count - 1;
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2, c = strcmp(v->names[mid], symbol);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    for (int32_t i = 0; i < ATTN__TOK_FIRST; i++)
        if (strcmp(reserved[i], symbol) == 0) return i;
    return -1;
}

int64_t attn__vocab_encode_word(const attn__vocab_t *v, const char *word, int32_t *ids,
                                int64_t cap) {
    int64_t n = 0;
    for (const char *c = word; *c; c++) {
        char sym[2] = {*c, '\0'};
        if (*c >= 'a' && *c <= 'z') sym[0] = (char)(*c - 'a' + 'A');
        int32_t id = attn__vocab_id(v, sym);
        if (id < ATTN__TOK_FIRST) {
            attn__fail(ATTN_STATUS_BAD_ARGUMENT, "'%s' has the character '%c' (0x%02x), which "
                       "is not in the model's alphabet", word, *c >= 0x20 ? *c : '?',
                       (unsigned)(unsigned char)*c);
            return -1;
        }
        if (n >= cap) {
            attn__fail(ATTN_STATUS_BAD_ARGUMENT, "'%s' is longer than %lld letters", word,
                       (long long)cap);
            return -1;
        }
        ids[n++] = id;
    }
    return n;
}

int64_t attn__vocab_encode_pron(const attn__vocab_t *v, const char *pron, int32_t *ids,
                                int64_t cap) {
    int64_t n = 0;
    char sym[16];
    for (const char *p = pron; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        size_t len = 0;
        while (p[len] && p[len] != ' ') len++;
        if (len >= sizeof sym) {
            attn__fail(ATTN_STATUS_BAD_ARGUMENT, "overlong phoneme in '%s'", pron);
            return -1;
        }
        memcpy(sym, p, len);
        sym[len] = '\0';
        int32_t id = attn__vocab_id(v, sym);
        if (id < ATTN__TOK_FIRST) {
            attn__fail(ATTN_STATUS_BAD_ARGUMENT, "unknown phoneme '%s' in '%s'", sym, pron);
            return -1;
        }
        if (n >= cap) {
            attn__fail(ATTN_STATUS_BAD_ARGUMENT, "pronunciation longer than %lld phonemes",
                       (long long)cap);
            return -1;
        }
        ids[n++] = id;
        p += len;
    }
    return n;
}
