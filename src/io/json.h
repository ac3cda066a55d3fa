/* Internal: a strict JSON reader (RFC 8259) and a small JSON writer, for file headers such as
 * safetensors'.
 *
 * Reader: a pull parser over a byte buffer that is not NUL-terminated. The caller walks the
 * document it expects (objects, arrays, strings, integers) and skips what it does not need; the
 * reader checks every byte it passes against the JSON grammar: UTF-8 only (no overlong forms,
 * no surrogates, nothing past U+10FFFF), no control characters in strings, escapes and
 * \u surrogate pairs well formed, numbers in JSON's exact syntax, nesting at most
 * ATTN__JSON_MAX_DEPTH deep, nothing but whitespace after the top-level value. It never
 * builds a tree, so memory stays proportional to the decoded strings (at most the input size)
 * whatever the input.
 *
 * The first error stops the reader: every later call returns false, and why[] holds a sentence
 * naming the byte offset and what was expected there. Typical use:
 *
 *     attn__jr_t r;
 *     if (attn__jr_init(&r, text, len) != ATTN_STATUS_OK) ...;   // out of memory
 *     attn__json_str_t key;
 *     if (attn__jr_begin_object(&r))
 *         while (attn__jr_next_member(&r, &key)) { ... read or skip the member's value ... }
 *     attn__jr_finish(&r);                 // only whitespace may follow
 *     if (r.failed) ... r.why ...;
 *     attn__jr_free(&r);                   // decoded strings die here
 *
 * Writer: a growable byte buffer with a sticky out-of-memory flag; strings are escaped the way
 * serde_json escapes them (", \, and control characters; everything else verbatim). */
#ifndef ATTN_IO_JSON_H
#define ATTN_IO_JSON_H

#include "attn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { ATTN__JSON_MAX_DEPTH = 64 };

typedef enum attn__json_type {
    ATTN__JSON_NONE = 0, /* end of input, or the reader has failed */
    ATTN__JSON_NULL,
    ATTN__JSON_BOOL,
    ATTN__JSON_NUMBER,
    ATTN__JSON_STRING,
    ATTN__JSON_ARRAY,
    ATTN__JSON_OBJECT
} attn__json_type_t;

/* A decoded string: UTF-8, NUL-terminated, len bytes (it may itself contain NUL from \u0000).
 * Valid until attn__jr_free. */
typedef struct attn__json_str {
    const char *s;
    size_t len;
    size_t pos; /* byte offset of its opening quote, for messages */
} attn__json_str_t;

typedef struct attn__jr {
    const unsigned char *text;
    size_t len, pos;
    int depth;
    bool first[ATTN__JSON_MAX_DEPTH + 1];          /* no item read yet at this depth */
    unsigned char kind[ATTN__JSON_MAX_DEPTH + 1];  /* object or array at this depth */
    bool failed;
    char why[320];
    char *arena; /* decoded strings */
    size_t arena_used, arena_cap;
} attn__jr_t;

/* Prepares to read text[0 .. len). Fails only when the string arena cannot be allocated. */
attn_status_t attn__jr_init(attn__jr_t *r, const void *text, size_t len);
void attn__jr_free(attn__jr_t *r);

/* Records an error at byte offset pos (the first one wins); always returns false. */
bool attn__jr_fail(attn__jr_t *r, size_t pos, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The type of the next value, judged from its first byte, without consuming it; NONE at the
 * end of the input, on a byte that cannot start a value, or after a failure. */
attn__json_type_t attn__jr_peek(attn__jr_t *r);
/* Byte offset of the next non-whitespace byte (for messages). */
size_t attn__jr_pos(attn__jr_t *r);

/* Consumes '{'. Then each attn__jr_next_member consumes the separator, the member's name and
 * the ':' and returns true, or consumes the closing '}' and returns false. */
bool attn__jr_begin_object(attn__jr_t *r);
bool attn__jr_next_member(attn__jr_t *r, attn__json_str_t *key);
/* The same for arrays: true before each element, false after consuming ']'. */
bool attn__jr_begin_array(attn__jr_t *r);
bool attn__jr_next_element(attn__jr_t *r);

/* A string value, decoded. */
bool attn__jr_string(attn__jr_t *r, attn__json_str_t *out);
/* A number written as a non-negative integer without fraction or exponent, at most 2^64 - 1.
 * Anything else (another type, "-1", "1.0", "1e3", too large) fails with a message saying
 * which. */
bool attn__jr_uint(attn__jr_t *r, uint64_t *out);
/* Consumes any one value, checking it completely. */
bool attn__jr_skip(attn__jr_t *r);
/* Checks that only whitespace is left. */
bool attn__jr_finish(attn__jr_t *r);

/* Whether s[0 .. n) is well-formed UTF-8 (the same rules as the reader). */
bool attn__utf8_valid(const char *s, size_t n);

/* ---- writer ---------------------------------------------------------------------------- */
typedef struct attn__jbuf {
    char *data;
    size_t len, cap;
    bool oom; /* an append failed; the content is incomplete */
} attn__jbuf_t;

void attn__jbuf_init(attn__jbuf_t *b);
void attn__jbuf_free(attn__jbuf_t *b);
void attn__jbuf_raw(attn__jbuf_t *b, const char *s, size_t n);
void attn__jbuf_cstr(attn__jbuf_t *b, const char *s); /* raw, NUL-terminated */
void attn__jbuf_u64(attn__jbuf_t *b, uint64_t v);
/* A quoted, escaped JSON string of s[0 .. n) (the caller has checked it is UTF-8). */
void attn__jbuf_string(attn__jbuf_t *b, const char *s, size_t n);

#endif
