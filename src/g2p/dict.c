#include "g2p/dict.h"
#include "core/status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int attn__dict_split_of(const char *word, int dev_permille, int test_permille) {
    uint64_t h = fnv1a(word);
    h ^= h >> 29; /* mix the high bits into the low ones before taking the remainder */
    int r = (int)(h % 1000);
    if (r < test_permille) return 2;
    if (r < test_permille + dev_permille) return 1;
    return 0;
}

const attn__dict_entry_t *attn__dict_find(const attn__dict_t *d, const char *word) {
    if (!d->index_cap) return NULL;
    uint64_t mask = (uint64_t)d->index_cap - 1;
    for (uint64_t i = fnv1a(word) & mask;; i = (i + 1) & mask) {
        int64_t e = d->index[i];
        if (e < 0) return NULL;
        if (strcmp(d->entries[e].word, word) == 0) return &d->entries[e];
    }
}

static int index_grow(attn__dict_t *d) {
    int64_t cap = d->index_cap ? d->index_cap * 2 : 1024;
    int64_t *idx = malloc(sizeof *idx * (size_t)cap);
    if (!idx) return -1;
    for (int64_t i = 0; i < cap; i++) idx[i] = -1;
    uint64_t mask = (uint64_t)cap - 1;
    for (int64_t e = 0; e < d->count; e++) {
        uint64_t i = fnv1a(d->entries[e].word) & mask;
        while (idx[i] >= 0) i = (i + 1) & mask;
        idx[i] = e;
    }
    free(d->index);
    d->index = idx;
    d->index_cap = cap;
    return 0;
}

/* Adds one pronunciation of `word` (upper case); -1 when out of memory. */
static int add_pron(attn__dict_t *d, const char *word, const char *pron) {
    attn__dict_entry_t *e = (attn__dict_entry_t *)attn__dict_find(d, word);
    if (!e) {
        if ((d->count + 1) * 2 > d->index_cap && index_grow(d) != 0) return -1;
        attn__dict_entry_t *grown = realloc(d->entries, sizeof *grown * (size_t)(d->count + 1));
        if (!grown) return -1;
        d->entries = grown;
        e = &d->entries[d->count];
        memset(e, 0, sizeof *e);
        e->word = strdup(word);
        if (!e->word) return -1;
        uint64_t mask = (uint64_t)d->index_cap - 1, i = fnv1a(word) & mask;
        while (d->index[i] >= 0) i = (i + 1) & mask;
        d->index[i] = d->count++;
    }
    for (int32_t k = 0; k < e->nprons; k++)
        if (strcmp(e->prons[k], pron) == 0) return 0;
    char **prons = realloc(e->prons, sizeof *prons * (size_t)(e->nprons + 1));
    if (!prons) return -1;
    e->prons = prons;
    if (!(e->prons[e->nprons] = strdup(pron))) return -1;
    e->nprons++;
    return 0;
}

void attn__dict_free(attn__dict_t *d) {
    for (int64_t i = 0; i < d->count; i++) {
        for (int32_t k = 0; k < d->entries[i].nprons; k++) free(d->entries[i].prons[k]);
        free(d->entries[i].prons);
        free(d->entries[i].word);
    }
    free(d->entries);
    free(d->index);
    memset(d, 0, sizeof *d);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Parses one line (NUL-terminated, no newline) into word and normalised pronunciation.
 * Returns 1 for an entry, 0 for a blank/comment line, -1 (message set) when malformed. */
static int parse_line(char *line, attn__dict_format_t fmt, const char *name, int64_t lineno,
                      char *word, size_t word_cap, char *pron, size_t pron_cap) {
    char *p = line;
    while (is_space(*p)) p++;
    if (*p == '\0' || (p[0] == ';' && p[1] == ';') || *p == '#') return 0;
    for (char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t' && *c != '\r') {
            attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s:%lld: control character 0x%02x in the "
                       "line; is this a text dictionary?", name, (long long)lineno,
                       (unsigned)(unsigned char)*c);
            return -1;
        }
    /* the word: up to a tab (TSV) or the first space (CMUSphinx) */
    char *end = p;
    if (fmt == ATTN__DICT_TSV) {
        while (*end && *end != '\t') end++;
        if (*end != '\t') {
            attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s:%lld: no tab after the word; the "
                       "standard split's lines are WORD<TAB>PH PH ...", name,
                       (long long)lineno);
            return -1;
        }
    } else {
        while (*end && !is_space(*end)) end++;
    }
    size_t wlen = (size_t)(end - p);
    while (wlen > 0 && is_space(p[wlen - 1])) wlen--;
    /* a variant marker "(2)" at the end of the word belongs to the entry of the base word */
    if (wlen >= 3 && p[wlen - 1] == ')') {
        size_t k = wlen - 2;
        while (k > 0 && p[k] >= '0' && p[k] <= '9') k--;
        if (k < wlen - 2 && p[k] == '(' && k > 0) wlen = k;
    }
    if (wlen == 0 || wlen >= word_cap) {
        attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s:%lld: %s word", name, (long long)lineno,
                   wlen == 0 ? "empty" : "overlong");
        return -1;
    }
    for (size_t i = 0; i < wlen; i++) {
        char c = p[i];
        word[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    word[wlen] = '\0';
    /* the phonemes: letters with an optional stress digit, normalised to upper case, no digit */
    size_t n = 0;
    int count = 0;
    for (char *q = end; *q;) {
        while (is_space(*q)) q++;
        if (!*q) break;
        char *s = q;
        while (*q && !is_space(*q)) q++;
        size_t len = (size_t)(q - s);
        if (len > 0 && s[len - 1] >= '0' && s[len - 1] <= '9') len--;
        int ok = len > 0 && len <= 4;
        for (size_t i = 0; ok && i < len; i++)
            ok = (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z');
        if (!ok) {
            attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s:%lld: '%.*s' is not an ARPAbet phoneme "
                       "(letters with an optional stress digit)", name, (long long)lineno,
                       (int)(q - s), s);
            return -1;
        }
        if (n + len + 2 > pron_cap) {
            attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s:%lld: pronunciation too long", name,
                       (long long)lineno);
            return -1;
        }
        if (count++) pron[n++] = ' ';
        for (size_t i = 0; i < len; i++)
            pron[n++] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    }
    pron[n] = '\0';
    if (count == 0) {
        attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s:%lld: the word '%s' has no pronunciation",
                   name, (long long)lineno, word);
        return -1;
    }
    return 1;
}

attn_status_t attn__dict_parse(const char *text, int64_t len, const char *name,
                               attn__dict_format_t format, attn__dict_t *d) {
    memset(d, 0, sizeof *d);
    if (format != ATTN__DICT_AUTO && format != ATTN__DICT_CMUSPHINX && format != ATTN__DICT_TSV)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "unknown dictionary format %d",
                          (int)format);
    char *line = malloc(4096), word[256], pron[2048];
    if (!line) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot read %s", name);
    int64_t pos = 0, lineno = 0;
    attn_status_t st = ATTN_STATUS_OK;
    while (pos < len) {
        int64_t end = pos;
        while (end < len && text[end] != '\n') end++;
        lineno++;
        int64_t n = end - pos;
        if (n >= 4096) {
            st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s:%lld: line longer than 4095 bytes",
                            name, (long long)lineno);
            break;
        }
        memcpy(line, text + pos, (size_t)n);
        line[n] = '\0';
        pos = end + 1;
        if (memchr(line, '\0', (size_t)n)) {
            st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s:%lld: NUL byte; is this a text "
                            "dictionary?", name, (long long)lineno);
            break;
        }
        if (format == ATTN__DICT_AUTO) {
            char *p = line;
            while (is_space(*p) && *p != '\t') p++;
            if (!*p || *p == '#' || (p[0] == ';' && p[1] == ';')) continue;
            format = strchr(line, '\t') ? ATTN__DICT_TSV : ATTN__DICT_CMUSPHINX;
        }
        int r = parse_line(line, format, name, lineno, word, sizeof word, pron, sizeof pron);
        if (r < 0) { st = ATTN_STATUS_BAD_ARGUMENT; break; }
        if (r == 0) continue;
        if (add_pron(d, word, pron) != 0) {
            st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "out of memory reading %s", name);
            break;
        }
        d->lines++;
    }
    free(line);
    if (st == ATTN_STATUS_OK && d->count == 0)
        st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "%s holds no pronunciations; is it the "
                        "right file?", name);
    if (st != ATTN_STATUS_OK) attn__dict_free(d);
    return st;
}

attn_status_t attn__dict_load(const char *path, attn__dict_format_t format, attn__dict_t *d) {
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "rb");
    if (!f)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot open dictionary %s: %s", path,
                          strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            size_t ncap = cap ? cap * 2 : 1 << 20;
            char *grown = realloc(buf, ncap);
            if (!grown) {
                free(buf);
                fclose(f);
                return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot read %s", path);
            }
            buf = grown;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "error reading %s", path);
    }
    attn_status_t st = attn__dict_parse(buf, (int64_t)len, path, format, d);
    free(buf);
    return st;
}
