#include "io/json.h"
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_OBJECT = 1, KIND_ARRAY = 2 };

/* ---- UTF-8 --------------------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (avail bytes readable), or 0. */
static size_t utf8_len(const unsigned char *p, size_t avail) {
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) { n = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) n = 3;
    else if (c == 0xED) { n = 3; hi = 0x9F; } /* no UTF-16 surrogates */
    else if (c >= 0xEE && c <= 0xEF) n = 3;
    else if (c == 0xF0) { n = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) { n = 4; hi = 0x8F; } /* nothing past U+10FFFF */
    else return 0;
    if (avail < n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return n;
}

bool attn__utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0) return false;
        i += k;
    }
    return true;
}

static size_t utf8_put(char *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- reader basics ------------------------------------------------------------------------- */

attn_status_t attn__jr_init(attn__jr_t *r, const void *text, size_t len) {
    memset(r, 0, sizeof *r);
    r->text = text;
    r->len = len;
    if (len > SIZE_MAX / 2) {
        r->failed = true;
        snprintf(r->why, sizeof r->why, "a JSON text of %zu bytes is too large", len);
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "a JSON text of %zu bytes is too large",
                          len);
    }
    /* every decoded string is shorter than its quoted source: len + 1 bytes hold them all */
    r->arena_cap = len + 1;
    r->arena = malloc(r->arena_cap);
    if (!r->arena) {
        r->failed = true;
        snprintf(r->why, sizeof r->why, "out of memory for %zu bytes of JSON strings", len);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot allocate %zu bytes to decode "
                          "the strings of a JSON text", r->arena_cap);
    }
    return ATTN_STATUS_OK;
}

void attn__jr_free(attn__jr_t *r) {
    free(r->arena);
    r->arena = NULL;
    r->arena_cap = r->arena_used = 0;
}

bool attn__jr_fail(attn__jr_t *r, size_t pos, const char *fmt, ...) {
    if (r->failed) return false;
    r->failed = true;
    int n = snprintf(r->why, sizeof r->why, "at byte %zu: ", pos);
    if (n < 0 || (size_t)n >= sizeof r->why) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why + n, sizeof r->why - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

/* A short description of the byte at pos, for messages: 'x', byte 0x07, or the end. */
static const char *found(const attn__jr_t *r, size_t pos, char buf[24]) {
    if (pos >= r->len) return "the end of the text";
    unsigned char c = r->text[pos];
    if (c >= 0x20 && c < 0x7F) snprintf(buf, 24, "'%c'", (char)c);
    else snprintf(buf, 24, "byte 0x%02X", (unsigned)c);
    return buf;
}

static void skip_ws(attn__jr_t *r) {
    while (r->pos < r->len) {
        unsigned char c = r->text[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        r->pos++;
    }
}

size_t attn__jr_pos(attn__jr_t *r) {
    skip_ws(r);
    return r->pos;
}

attn__json_type_t attn__jr_peek(attn__jr_t *r) {
    if (r->failed) return ATTN__JSON_NONE;
    skip_ws(r);
    if (r->pos >= r->len) return ATTN__JSON_NONE;
    unsigned char c = r->text[r->pos];
    switch (c) {
    case '{': return ATTN__JSON_OBJECT;
    case '[': return ATTN__JSON_ARRAY;
    case '"': return ATTN__JSON_STRING;
    case 't': case 'f': return ATTN__JSON_BOOL;
    case 'n': return ATTN__JSON_NULL;
    default: return (c == '-' || (c >= '0' && c <= '9')) ? ATTN__JSON_NUMBER : ATTN__JSON_NONE;
    }
}

static const char *type_name(attn__json_type_t t) {
    switch (t) {
    case ATTN__JSON_NULL: return "null";
    case ATTN__JSON_BOOL: return "a boolean";
    case ATTN__JSON_NUMBER: return "a number";
    case ATTN__JSON_STRING: return "a string";
    case ATTN__JSON_ARRAY: return "an array";
    case ATTN__JSON_OBJECT: return "an object";
    case ATTN__JSON_NONE: break;
    }
    return "no value";
}

/* Fails unless the next value has type want ("expected <what>, found an array"). */
static bool expect_type(attn__jr_t *r, attn__json_type_t want, const char *what) {
    attn__json_type_t t = attn__jr_peek(r);
    if (r->failed) return false;
    if (t == want) return true;
    char buf[24];
    if (t == ATTN__JSON_NONE)
        return attn__jr_fail(r, r->pos, "expected %s, found %s", what, found(r, r->pos, buf));
    return attn__jr_fail(r, r->pos, "expected %s, found %s", what, type_name(t));
}

/* ---- strings ------------------------------------------------------------------------------- */

static int hex4(const unsigned char *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        uint32_t d;
        if (c >= '0' && c <= '9') d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (uint32_t)(c - 'A' + 10);
        else return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* Reads the string whose opening quote is at r->pos; decodes it into the arena when out is
 * not NULL, else only checks it. */
static bool scan_string(attn__jr_t *r, attn__json_str_t *out) {
    const unsigned char *t = r->text;
    size_t start = r->pos, p = r->pos + 1;
    char *dst = out ? r->arena + r->arena_used : NULL;
    size_t n = 0;
    for (;;) {
        if (p >= r->len)
            return attn__jr_fail(r, start, "string never closed (no '\"' before the end)");
        unsigned char c = t[p];
        if (c == '"') break;
        if (c < 0x20)
            return attn__jr_fail(r, p, "control byte 0x%02X inside a string; JSON requires "
                                 "it to be escaped", (unsigned)c);
        if (c == '\\') {
            if (p + 1 >= r->len)
                return attn__jr_fail(r, start, "string never closed (ends in '\\')");
            unsigned char e = t[p + 1];
            char one = 0;
            switch (e) {
            case '"': one = '"'; break;
            case '\\': one = '\\'; break;
            case '/': one = '/'; break;
            case 'b': one = '\b'; break;
            case 'f': one = '\f'; break;
            case 'n': one = '\n'; break;
            case 'r': one = '\r'; break;
            case 't': one = '\t'; break;
            case 'u': break;
            default: {
                char buf[24];
                return attn__jr_fail(r, p, "unknown escape '\\' followed by %s",
                                     found(r, p + 1, buf));
            }
            }
            if (e != 'u') {
                if (dst) dst[n] = one;
                n++;
                p += 2;
                continue;
            }
            uint32_t cp;
            if (p + 6 > r->len || !hex4(t + p + 2, &cp))
                return attn__jr_fail(r, p, "\\u must be followed by 4 hex digits");
            p += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return attn__jr_fail(r, p - 6, "\\u%04X is a lone low surrogate", (unsigned)cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (p + 6 > r->len || t[p] != '\\' || t[p + 1] != 'u' ||
                    !hex4(t + p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return attn__jr_fail(r, p - 6, "\\u%04X (a high surrogate) is not "
                                         "followed by a \\u low surrogate", (unsigned)cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            char tmp[4];
            size_t k = utf8_put(tmp, cp);
            if (dst) memcpy(dst + n, tmp, k);
            n += k;
            continue;
        }
        size_t k = utf8_len(t + p, r->len - p);
        if (k == 0)
            return attn__jr_fail(r, p, "invalid UTF-8 byte 0x%02X inside a string",
                                 (unsigned)c);
        if (dst) memcpy(dst + n, t + p, k);
        n += k;
        p += k;
    }
    r->pos = p + 1;
    if (out) {
        dst[n] = '\0';
        out->s = dst;
        out->len = n;
        out->pos = start;
        r->arena_used += n + 1;
    }
    return true;
}

bool attn__jr_string(attn__jr_t *r, attn__json_str_t *out) {
    if (!expect_type(r, ATTN__JSON_STRING, "a string")) return false;
    return scan_string(r, out);
}

/* ---- numbers and literals ------------------------------------------------------------------ */

typedef struct {
    bool negative, fraction, exponent, overflow;
    uint64_t magnitude; /* of the integer part */
} number_t;

static bool is_digit(const attn__jr_t *r, size_t p) {
    return p < r->len && r->text[p] >= '0' && r->text[p] <= '9';
}

static bool scan_number(attn__jr_t *r, number_t *num) {
    memset(num, 0, sizeof *num);
    size_t p = r->pos, start = r->pos;
    if (p < r->len && r->text[p] == '-') { num->negative = true; p++; }
    if (!is_digit(r, p)) return attn__jr_fail(r, start, "a number needs a digit here");
    if (r->text[p] == '0' && is_digit(r, p + 1))
        return attn__jr_fail(r, start, "numbers may not have leading zeros");
    while (is_digit(r, p)) {
        uint64_t d = (uint64_t)(r->text[p] - '0');
        if (num->magnitude > (UINT64_MAX - d) / 10) num->overflow = true;
        else num->magnitude = num->magnitude * 10 + d;
        p++;
    }
    if (p < r->len && r->text[p] == '.') {
        num->fraction = true;
        p++;
        if (!is_digit(r, p)) return attn__jr_fail(r, p, "a digit must follow '.' in a number");
        while (is_digit(r, p)) p++;
    }
    if (p < r->len && (r->text[p] == 'e' || r->text[p] == 'E')) {
        num->exponent = true;
        p++;
        if (p < r->len && (r->text[p] == '+' || r->text[p] == '-')) p++;
        if (!is_digit(r, p)) return attn__jr_fail(r, p, "a digit must follow the exponent");
        while (is_digit(r, p)) p++;
    }
    r->pos = p;
    return true;
}

bool attn__jr_uint(attn__jr_t *r, uint64_t *out) {
    if (!expect_type(r, ATTN__JSON_NUMBER, "a non-negative integer")) return false;
    size_t start = r->pos;
    number_t num;
    if (!scan_number(r, &num)) return false;
    int len = (int)(r->pos - start > 40 ? 40 : r->pos - start);
    const char *txt = (const char *)r->text + start;
    if (num.negative)
        return attn__jr_fail(r, start, "expected a non-negative integer, found %.*s", len, txt);
    if (num.fraction || num.exponent)
        return attn__jr_fail(r, start, "expected an integer written without fraction or "
                             "exponent, found %.*s", len, txt);
    if (num.overflow)
        return attn__jr_fail(r, start, "integer %.*s does not fit in 64 bits", len, txt);
    *out = num.magnitude;
    return true;
}

static bool scan_literal(attn__jr_t *r) {
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (r->len - r->pos >= n && memcmp(r->text + r->pos, words[i], n) == 0) {
            r->pos += n;
            return true;
        }
    }
    char buf[24];
    return attn__jr_fail(r, r->pos, "expected a value, found %s", found(r, r->pos, buf));
}

/* ---- containers ---------------------------------------------------------------------------- */

static bool begin(attn__jr_t *r, int kind) {
    if (r->depth >= ATTN__JSON_MAX_DEPTH)
        return attn__jr_fail(r, r->pos, "nesting deeper than %d levels", ATTN__JSON_MAX_DEPTH);
    r->pos++;
    r->depth++;
    r->first[r->depth] = true;
    r->kind[r->depth] = (unsigned char)kind;
    return true;
}

bool attn__jr_begin_object(attn__jr_t *r) {
    return expect_type(r, ATTN__JSON_OBJECT, "an object") && begin(r, KIND_OBJECT);
}

bool attn__jr_begin_array(attn__jr_t *r) {
    return expect_type(r, ATTN__JSON_ARRAY, "an array") && begin(r, KIND_ARRAY);
}

/* Shared by members and elements: consumes the closer (returns false) or the separator. */
static bool next_item(attn__jr_t *r, int kind) {
    if (r->failed) return false;
    if (r->depth < 1 || r->kind[r->depth] != kind)
        return attn__jr_fail(r, r->pos, "internal: reading %s items outside one",
                             kind == KIND_OBJECT ? "object" : "array");
    char close = kind == KIND_OBJECT ? '}' : ']';
    skip_ws(r);
    char buf[24];
    if (r->pos < r->len && r->text[r->pos] == close) {
        r->pos++;
        r->depth--;
        return false;
    }
    if (!r->first[r->depth]) {
        if (r->pos >= r->len || r->text[r->pos] != ',')
            return attn__jr_fail(r, r->pos, "expected ',' or '%c', found %s", close,
                                 found(r, r->pos, buf));
        r->pos++;
        skip_ws(r);
        if (r->pos < r->len && r->text[r->pos] == close)
            return attn__jr_fail(r, r->pos, "trailing ',' before '%c'", close);
    }
    r->first[r->depth] = false;
    return true;
}

bool attn__jr_next_member(attn__jr_t *r, attn__json_str_t *key) {
    if (!next_item(r, KIND_OBJECT)) return false;
    char buf[24];
    if (r->pos >= r->len || r->text[r->pos] != '"')
        return attn__jr_fail(r, r->pos, "expected a member name in quotes, found %s",
                             found(r, r->pos, buf));
    attn__json_str_t k;
    if (!scan_string(r, key ? key : &k)) return false;
    skip_ws(r);
    if (r->pos >= r->len || r->text[r->pos] != ':')
        return attn__jr_fail(r, r->pos, "expected ':' after a member name, found %s",
                             found(r, r->pos, buf));
    r->pos++;
    return true;
}

bool attn__jr_next_element(attn__jr_t *r) { return next_item(r, KIND_ARRAY); }

bool attn__jr_skip(attn__jr_t *r) {
    number_t num;
    switch (attn__jr_peek(r)) {
    case ATTN__JSON_OBJECT:
        if (!attn__jr_begin_object(r)) return false;
        while (attn__jr_next_member(r, NULL))
            if (!attn__jr_skip(r)) return false;
        return !r->failed;
    case ATTN__JSON_ARRAY:
        if (!attn__jr_begin_array(r)) return false;
        while (attn__jr_next_element(r))
            if (!attn__jr_skip(r)) return false;
        return !r->failed;
    case ATTN__JSON_STRING: return scan_string(r, NULL);
    case ATTN__JSON_NUMBER: return scan_number(r, &num);
    case ATTN__JSON_BOOL:
    case ATTN__JSON_NULL: return scan_literal(r);
    case ATTN__JSON_NONE: break;
    }
    if (r->failed) return false;
    char buf[24];
    return attn__jr_fail(r, r->pos, "expected a value, found %s", found(r, r->pos, buf));
}

bool attn__jr_finish(attn__jr_t *r) {
    if (r->failed) return false;
    if (r->depth != 0)
        return attn__jr_fail(r, r->pos, "internal: %d containers left open", r->depth);
    skip_ws(r);
    char buf[24];
    if (r->pos != r->len)
        return attn__jr_fail(r, r->pos, "unexpected %s after the end of the top-level value",
                             found(r, r->pos, buf));
    return true;
}

/* ---- writer -------------------------------------------------------------------------------- */

void attn__jbuf_init(attn__jbuf_t *b) { memset(b, 0, sizeof *b); }

void attn__jbuf_free(attn__jbuf_t *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

void attn__jbuf_raw(attn__jbuf_t *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX - 1 - b->len) { b->oom = true; return; }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) {
            if (cap > SIZE_MAX / 2) { b->oom = true; return; }
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (!d) { b->oom = true; return; }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void attn__jbuf_cstr(attn__jbuf_t *b, const char *s) { attn__jbuf_raw(b, s, strlen(s)); }

void attn__jbuf_u64(attn__jbuf_t *b, uint64_t v) {
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    attn__jbuf_raw(b, tmp, (size_t)n);
}

void attn__jbuf_string(attn__jbuf_t *b, const char *s, size_t n) {
    attn__jbuf_raw(b, "\"", 1);
    size_t run = 0; /* bytes copied verbatim, flushed before each escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)c);
                esc = tmp;
            }
        }
        if (!esc) { run++; continue; }
        attn__jbuf_raw(b, s + i - run, run);
        run = 0;
        attn__jbuf_cstr(b, esc);
    }
    attn__jbuf_raw(b, s + n - run, run);
    attn__jbuf_raw(b, "\"", 1);
}
