/* Reading safetensors files: everything is validated before the handle is returned (the rules
 * are listed in safetensors.h). */
#include "io/safetensors.h"
#include "core/status.h"
#include "io/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#  error "safetensors data is little-endian; this reader has no byte-swapping path"
#endif

static const struct {
    const char *name;
    size_t size;
} dtypes[ATTN__ST_DTYPE_COUNT] = {
    [ATTN__ST_BOOL] = {"BOOL", 1},   [ATTN__ST_U8] = {"U8", 1},
    [ATTN__ST_I8] = {"I8", 1},       [ATTN__ST_F8_E5M2] = {"F8_E5M2", 1},
    [ATTN__ST_F8_E4M3] = {"F8_E4M3", 1}, [ATTN__ST_F8_E8M0] = {"F8_E8M0", 1},
    [ATTN__ST_I16] = {"I16", 2},     [ATTN__ST_U16] = {"U16", 2},
    [ATTN__ST_F16] = {"F16", 2},     [ATTN__ST_BF16] = {"BF16", 2},
    [ATTN__ST_I32] = {"I32", 4},     [ATTN__ST_U32] = {"U32", 4},
    [ATTN__ST_F32] = {"F32", 4},     [ATTN__ST_C64] = {"C64", 8},
    [ATTN__ST_F64] = {"F64", 8},     [ATTN__ST_I64] = {"I64", 8},
    [ATTN__ST_U64] = {"U64", 8},
};

const char *attn__st_dtype_name(attn__st_dtype_t dtype) {
    return (unsigned)dtype < ATTN__ST_DTYPE_COUNT ? dtypes[dtype].name : NULL;
}

size_t attn__st_dtype_size(attn__st_dtype_t dtype) {
    return (unsigned)dtype < ATTN__ST_DTYPE_COUNT ? dtypes[dtype].size : 0;
}

struct attn__st_file {
    char *label;
    unsigned char *owned; /* the file's bytes when we read them */
    const unsigned char *data;
    uint64_t data_len;
    attn__st_tensor_t *tensors; /* by offset */
    int64_t count, cap;
    const attn__st_tensor_t **by_name; /* sorted by name */
    attn__st_meta_t *meta; /* sorted by key */
    int64_t meta_count, meta_cap;
    attn__jr_t jr; /* owns the decoded names, keys and values */
};

/* ---- messages ------------------------------------------------------------------------------ */

/* A name made printable for a message: control and non-ASCII bytes as \xNN, cut at ~60. */
static const char *show(const char *s, size_t n, char out[96]) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o > 60) { memcpy(out + o, "...", 4); return out; }
        if (c >= 0x20 && c < 0x7F && c != '\\') out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, 96 - o, "\\x%02X", (unsigned)c);
    }
    out[o] = '\0';
    return out;
}

static attn_status_t bad(const attn__st_file_t *f, const char *fmt, ...)
    ATTN__PRINTF(2, 3);
static attn_status_t bad(const attn__st_file_t *f, const char *fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "safetensors file '%s': %s", f->label, msg);
}

/* A JSON-level failure inside the entry named ctx (NULL: at the top level). */
static attn_status_t bad_json(const attn__st_file_t *f, const char *ctx) {
    if (ctx) return bad(f, "%s: invalid header JSON %s", ctx, f->jr.why);
    return bad(f, "header is not valid JSON: %s", f->jr.why);
}

static bool key_is(const attn__json_str_t *k, const char *s) {
    return k->len == strlen(s) && memcmp(k->s, s, k->len) == 0;
}

/* ---- header -------------------------------------------------------------------------------- */

static attn_status_t parse_dtype(attn__st_file_t *f, attn__st_tensor_t *t, const char *ctx) {
    attn__json_str_t s;
    if (!attn__jr_string(&f->jr, &s)) return bad_json(f, ctx);
    for (int d = 0; d < ATTN__ST_DTYPE_COUNT; d++)
        if (key_is(&s, dtypes[d].name)) {
            t->dtype = (attn__st_dtype_t)d;
            return ATTN_STATUS_OK;
        }
    char buf[96];
    return bad(f, "%s: unknown dtype \"%s\"; known: BOOL U8 I8 F8_E5M2 F8_E4M3 F8_E8M0 I16 U16 "
               "F16 BF16 I32 U32 F32 C64 F64 I64 U64", ctx, show(s.s, s.len, buf));
}

static attn_status_t parse_shape(attn__st_file_t *f, attn__st_tensor_t *t, const char *ctx) {
    attn__jr_t *r = &f->jr;
    if (!attn__jr_begin_array(r)) return bad_json(f, ctx);
    t->ndim = 0;
    while (attn__jr_next_element(r)) {
        uint64_t v;
        if (t->ndim == ATTN__ST_MAX_DIMS)
            return bad(f, "%s: shape has more than %d dimensions", ctx, ATTN__ST_MAX_DIMS);
        if (!attn__jr_uint(r, &v)) return bad_json(f, ctx);
        if (v > (uint64_t)INT64_MAX)
            return bad(f, "%s: shape dimension %d is %llu, more than 2^63 - 1", ctx,
                       (int)t->ndim, (unsigned long long)v);
        t->shape[t->ndim++] = (int64_t)v;
    }
    return r->failed ? bad_json(f, ctx) : ATTN_STATUS_OK;
}

static attn_status_t parse_offsets(attn__st_file_t *f, attn__st_tensor_t *t, const char *ctx) {
    attn__jr_t *r = &f->jr;
    if (!attn__jr_begin_array(r)) return bad_json(f, ctx);
    uint64_t v[2];
    int n = 0;
    while (attn__jr_next_element(r)) {
        if (n == 2) return bad(f, "%s: data_offsets has more than 2 numbers", ctx);
        if (!attn__jr_uint(r, &v[n])) return bad_json(f, ctx);
        n++;
    }
    if (r->failed) return bad_json(f, ctx);
    if (n != 2)
        return bad(f, "%s: data_offsets must be [begin, end]; it has %d number%s", ctx, n,
                   n == 1 ? "" : "s");
    t->begin = v[0];
    t->end = v[1];
    return ATTN_STATUS_OK;
}

static void format_shape(const attn__st_tensor_t *t, char *out, size_t cap) {
    size_t o = (size_t)snprintf(out, cap, "[");
    for (int32_t d = 0; d < t->ndim && o < cap; d++)
        o += (size_t)snprintf(out + o, cap - o, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (o < cap) snprintf(out + o, cap - o, "]");
}

/* Everything about one tensor that does not depend on the others. */
static attn_status_t check_tensor(attn__st_file_t *f, attn__st_tensor_t *t, const char *ctx) {
    if (t->begin > t->end)
        return bad(f, "%s: data_offsets [%llu, %llu] are reversed (begin after end)", ctx,
                   (unsigned long long)t->begin, (unsigned long long)t->end);
    uint64_t numel = 1, bytes;
    bool overflow = false;
    for (int32_t d = 0; d < t->ndim; d++)
        overflow |= __builtin_mul_overflow(numel, (uint64_t)t->shape[d], &numel);
    overflow |= numel > (uint64_t)INT64_MAX;
    overflow |= __builtin_mul_overflow(numel, (uint64_t)dtypes[t->dtype].size, &bytes);
    char shape[200];
    format_shape(t, shape, sizeof shape);
    if (overflow)
        return bad(f, "%s: shape %s of %s overflows a 64-bit byte count", ctx, shape,
                   dtypes[t->dtype].name);
    if (bytes != t->end - t->begin)
        return bad(f, "%s: shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] span "
                   "%llu", ctx, shape, dtypes[t->dtype].name, (unsigned long long)bytes,
                   (unsigned long long)t->begin, (unsigned long long)t->end,
                   (unsigned long long)(t->end - t->begin));
    if (t->end > f->data_len)
        return bad(f, "%s: data_offsets [%llu, %llu] reach past the data buffer, which holds "
                   "%llu bytes (is the file truncated?)", ctx, (unsigned long long)t->begin,
                   (unsigned long long)t->end, (unsigned long long)f->data_len);
    t->numel = (int64_t)numel;
    return ATTN_STATUS_OK;
}

static attn_status_t parse_tensor(attn__st_file_t *f, const attn__json_str_t *name) {
    char shown[96], ctx[120];
    snprintf(ctx, sizeof ctx, "tensor '%s'", show(name->s, name->len, shown));
    if (memchr(name->s, '\0', name->len))
        return bad(f, "%s: the name contains a NUL character (\\u0000)", ctx);
    if (f->count == f->cap) {
        int64_t cap = f->cap ? f->cap * 2 : 16;
        attn__st_tensor_t *list = realloc(f->tensors, sizeof *list * (size_t)cap);
        if (!list) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "out of memory reading '%s'",
                                     f->label);
        f->tensors = list;
        f->cap = cap;
    }
    attn__st_tensor_t *t = &f->tensors[f->count++];
    memset(t, 0, sizeof *t);
    t->name = name->s;

    attn__jr_t *r = &f->jr;
    if (!attn__jr_begin_object(r)) return bad_json(f, ctx);
    bool seen[3] = {false, false, false};
    static const char *const keys[3] = {"dtype", "shape", "data_offsets"};
    attn__json_str_t key;
    while (attn__jr_next_member(r, &key)) {
        int k = 0;
        while (k < 3 && !key_is(&key, keys[k])) k++;
        if (k == 3) {
            char kb[96];
            return bad(f, "%s: unknown key \"%s\"; an entry has exactly dtype, shape and "
                       "data_offsets", ctx, show(key.s, key.len, kb));
        }
        if (seen[k]) return bad(f, "%s: key \"%s\" appears twice", ctx, keys[k]);
        seen[k] = true;
        attn_status_t st = k == 0 ? parse_dtype(f, t, ctx)
                         : k == 1 ? parse_shape(f, t, ctx)
                                  : parse_offsets(f, t, ctx);
        if (st != ATTN_STATUS_OK) return st;
    }
    if (r->failed) return bad_json(f, ctx);
    for (int k = 0; k < 3; k++)
        if (!seen[k]) return bad(f, "%s: key \"%s\" is missing", ctx, keys[k]);
    return check_tensor(f, t, ctx);
}

static attn_status_t parse_metadata(attn__st_file_t *f) {
    attn__jr_t *r = &f->jr;
    const char *ctx = "__metadata__";
    if (!attn__jr_begin_object(r)) return bad_json(f, ctx);
    attn__json_str_t key, value;
    while (attn__jr_next_member(r, &key)) {
        char kb[96], ctx2[140];
        snprintf(ctx2, sizeof ctx2, "__metadata__ key '%s'", show(key.s, key.len, kb));
        if (!attn__jr_string(r, &value)) return bad_json(f, ctx2);
        if (memchr(key.s, '\0', key.len) || memchr(value.s, '\0', value.len))
            return bad(f, "%s: key or value contains a NUL character (\\u0000)", ctx2);
        if (f->meta_count == f->meta_cap) {
            int64_t cap = f->meta_cap ? f->meta_cap * 2 : 8;
            attn__st_meta_t *m = realloc(f->meta, sizeof *m * (size_t)cap);
            if (!m) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "out of memory reading '%s'",
                                      f->label);
            f->meta = m;
            f->meta_cap = cap;
        }
        f->meta[f->meta_count].key = key.s;
        f->meta[f->meta_count].value = value.s;
        f->meta_count++;
    }
    return r->failed ? bad_json(f, ctx) : ATTN_STATUS_OK;
}

static attn_status_t parse_header(attn__st_file_t *f, const unsigned char *text, size_t len) {
    attn_status_t st = attn__jr_init(&f->jr, text, len);
    if (st != ATTN_STATUS_OK) return st;
    attn__jr_t *r = &f->jr;
    if (attn__jr_peek(r) != ATTN__JSON_OBJECT && !r->failed) {
        if (attn__jr_skip(r))
            return bad(f, "the header must be a JSON object of tensors, not another value");
        return bad_json(f, NULL);
    }
    if (!attn__jr_begin_object(r)) return bad_json(f, NULL);
    bool seen_meta = false;
    attn__json_str_t key;
    while (attn__jr_next_member(r, &key)) {
        if (key_is(&key, "__metadata__")) {
            if (seen_meta) return bad(f, "\"__metadata__\" appears twice");
            seen_meta = true;
            st = parse_metadata(f);
        } else {
            st = parse_tensor(f, &key);
        }
        if (st != ATTN_STATUS_OK) return st;
    }
    if (r->failed || !attn__jr_finish(r)) return bad_json(f, NULL);
    return ATTN_STATUS_OK;
}

/* ---- whole-file rules ---------------------------------------------------------------------- */

static int by_offset(const void *a, const void *b) {
    const attn__st_tensor_t *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const attn__st_tensor_t *const *)a)->name,
                  (*(const attn__st_tensor_t *const *)b)->name);
}

static int by_key(const void *a, const void *b) {
    return strcmp(((const attn__st_meta_t *)a)->key, ((const attn__st_meta_t *)b)->key);
}

static attn_status_t check_layout(attn__st_file_t *f) {
    char b1[96], b2[96];
    /* duplicate names first: a repeated entry would otherwise show up as an overlap */
    if (f->count > 0) {
        f->by_name = malloc(sizeof *f->by_name * (size_t)f->count);
        if (!f->by_name)
            return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "out of memory reading '%s'", f->label);
        qsort(f->tensors, (size_t)f->count, sizeof *f->tensors, by_offset);
        for (int64_t i = 0; i < f->count; i++) f->by_name[i] = &f->tensors[i];
        qsort(f->by_name, (size_t)f->count, sizeof *f->by_name, by_name);
    }
    for (int64_t i = 1; i < f->count; i++) {
        const char *a = f->by_name[i - 1]->name, *b = f->by_name[i]->name;
        if (strcmp(a, b) == 0)
            return bad(f, "tensor name '%s' appears twice", show(a, strlen(a), b1));
    }
    uint64_t expected = 0;
    for (int64_t i = 0; i < f->count; i++) {
        const attn__st_tensor_t *t = &f->tensors[i];
        if (t->begin < expected)
            return bad(f, "tensors '%s' and '%s' overlap in the data buffer (bytes %llu to %llu "
                       "are claimed by both)", show(f->tensors[i - 1].name,
                       strlen(f->tensors[i - 1].name), b1), show(t->name, strlen(t->name), b2),
                       (unsigned long long)t->begin,
                       (unsigned long long)(t->end < expected ? t->end : expected));
        if (t->begin > expected)
            return bad(f, "bytes %llu to %llu of the data buffer belong to no tensor (a gap "
                       "before tensor '%s'); tensors must be stored back to back",
                       (unsigned long long)expected, (unsigned long long)t->begin,
                       show(t->name, strlen(t->name), b1));
        expected = t->end;
    }
    if (expected != f->data_len)
        return bad(f, "the data buffer holds %llu bytes but the tensors cover only %llu; the "
                   "last %llu bytes belong to no tensor", (unsigned long long)f->data_len,
                   (unsigned long long)expected, (unsigned long long)(f->data_len - expected));
    for (int64_t i = 0; i < f->count; i++)
        f->tensors[i].data = f->data + f->tensors[i].begin;
    if (f->meta_count > 1) qsort(f->meta, (size_t)f->meta_count, sizeof *f->meta, by_key);
    for (int64_t i = 1; i < f->meta_count; i++)
        if (strcmp(f->meta[i - 1].key, f->meta[i].key) == 0)
            return bad(f, "__metadata__ key '%s' appears twice",
                       show(f->meta[i].key, strlen(f->meta[i].key), b1));
    return ATTN_STATUS_OK;
}

/* ---- entry points -------------------------------------------------------------------------- */

static attn_status_t parse_bytes(attn__st_file_t *f, const unsigned char *bytes, size_t size) {
    if (size < 8)
        return bad(f, "the file has %zu bytes, fewer than the 8 of the header length; it is "
                   "truncated or not a safetensors file", size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | bytes[i];
    if (n > ATTN__ST_MAX_HEADER)
        return bad(f, "the header length field says %llu bytes, more than the %u-byte limit; "
                   "the file is corrupted or not a safetensors file", (unsigned long long)n,
                   ATTN__ST_MAX_HEADER);
    if (n > size - 8)
        return bad(f, "the header length field says %llu bytes but only %zu bytes follow it; "
                   "the file is truncated", (unsigned long long)n, size - 8);
    if (n == 0) return bad(f, "the header is empty; it must be a JSON object");
    f->data = bytes + 8 + n;
    f->data_len = size - 8 - n;
    attn_status_t st = parse_header(f, bytes + 8, (size_t)n);
    if (st != ATTN_STATUS_OK) return st;
    return check_layout(f);
}

static attn_status_t start(attn__st_file_t **out, const char *label) {
    *out = NULL;
    attn__st_file_t *f = calloc(1, sizeof *f);
    if (!label) label = "(unnamed)";
    size_t n = strlen(label) + 1;
    if (f) f->label = malloc(n);
    if (!f || !f->label) {
        free(f);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "out of memory opening '%s'", label);
    }
    memcpy(f->label, label, n);
    *out = f;
    return ATTN_STATUS_OK;
}

attn_status_t attn__st_parse(attn__st_file_t **out, const void *bytes, size_t size,
                             const char *label) {
    if (!out) return attn__fail(ATTN_STATUS_NULL_POINTER, "attn__st_parse: out is NULL");
    *out = NULL;
    if (!bytes && size > 0)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "attn__st_parse: bytes is NULL");
    attn__st_file_t *f;
    attn_status_t st = start(&f, label);
    if (st != ATTN_STATUS_OK) return st;
    static const unsigned char none[1] = {0};
    st = parse_bytes(f, bytes ? bytes : none, size);
    if (st != ATTN_STATUS_OK) { attn__st_close(f); return st; }
    *out = f;
    return ATTN_STATUS_OK;
}

attn_status_t attn__st_open(attn__st_file_t **out, const char *path) {
    if (!out || !path)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "attn__st_open: out or path is NULL");
    *out = NULL;
    attn__st_file_t *f;
    attn_status_t st = start(&f, path);
    if (st != ATTN_STATUS_OK) return st;
    char eb[160];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (strerror_r(e, eb, sizeof eb) != 0) snprintf(eb, sizeof eb, "error %d", e);
        st = bad(f, "cannot open it: %s", eb);
    } else if (!S_ISREG(sb.st_mode)) {
        st = bad(f, "not a regular file");
    } else if ((uint64_t)sb.st_size > SIZE_MAX - 1) {
        st = bad(f, "too large for this machine's address space");
    } else {
        size_t size = (size_t)sb.st_size, got = 0;
        f->owned = malloc(size ? size : 1);
        if (!f->owned)
            st = attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot allocate %zu bytes to read '%s'",
                            size, path);
        while (st == ATTN_STATUS_OK && got < size) {
            ssize_t k = read(fd, f->owned + got, size - got);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) {
                int e = errno;
                if (strerror_r(e, eb, sizeof eb) != 0) snprintf(eb, sizeof eb, "error %d", e);
                st = bad(f, "read failed after %zu bytes: %s", got, eb);
            } else if (k == 0) {
                st = bad(f, "the file shrank to %zu bytes while being read", got);
            }
            else got += (size_t)k;
        }
        if (st == ATTN_STATUS_OK) st = parse_bytes(f, f->owned, size);
    }
    if (fd >= 0) close(fd);
    if (st != ATTN_STATUS_OK) { attn__st_close(f); return st; }
    *out = f;
    return ATTN_STATUS_OK;
}

void attn__st_close(attn__st_file_t *f) {
    if (!f) return;
    attn__jr_free(&f->jr);
    free(f->tensors);
    free(f->by_name);
    free(f->meta);
    free(f->owned);
    free(f->label);
    free(f);
}

int64_t attn__st_count(const attn__st_file_t *f) { return f->count; }

const attn__st_tensor_t *attn__st_tensor(const attn__st_file_t *f, int64_t i) {
    return i >= 0 && i < f->count ? &f->tensors[i] : NULL;
}

const attn__st_tensor_t *attn__st_find(const attn__st_file_t *f, const char *name) {
    int64_t lo = 0, hi = f->count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

int64_t attn__st_meta_count(const attn__st_file_t *f) { return f->meta_count; }

const attn__st_meta_t *attn__st_meta_at(const attn__st_file_t *f, int64_t i) {
    return i >= 0 && i < f->meta_count ? &f->meta[i] : NULL;
}

const char *attn__st_meta_get(const attn__st_file_t *f, const char *key) {
    int64_t lo = 0, hi = f->meta_count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->meta[mid].key, key);
        if (c == 0) return f->meta[mid].value;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *attn__st_label(const attn__st_file_t *f) { return f->label; }
