/* Writing safetensors files: the header is built in memory, then the header and each tensor's
 * bytes go out through io/atomic_file.h (or into one buffer). */
#include "core/status.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const attn__st_entry_t *e;
    uint64_t bytes;
} item_t;

typedef struct {
    attn__jbuf_t header; /* JSON, padded to a multiple of 8 */
    item_t *items;       /* in file order */
    int64_t count;
    uint64_t data_len;
} plan_t;

static int item_by_name(const void *a, const void *b) {
    return strcmp(((const item_t *)a)->e->name, ((const item_t *)b)->e->name);
}

/* widest dtype first (the reference writer's order), then by name */
static int item_by_dtype(const void *a, const void *b) {
    const item_t *x = a, *y = b;
    if (x->e->dtype != y->e->dtype) return x->e->dtype > y->e->dtype ? -1 : 1;
    return strcmp(x->e->name, y->e->name);
}

static int meta_by_key(const void *a, const void *b) {
    return strcmp((*(const attn__st_meta_t *const *)a)->key,
                  (*(const attn__st_meta_t *const *)b)->key);
}

static attn_status_t check_entry(const attn__st_entry_t *e, int64_t i, uint64_t *bytes) {
    if (!e->name)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "safetensors: tensor %lld has no name",
                          (long long)i);
    if (!attn__utf8_valid(e->name, strlen(e->name)))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "safetensors: the name of tensor %lld is "
                          "not valid UTF-8", (long long)i);
    if (strcmp(e->name, "__metadata__") == 0)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "safetensors: \"__metadata__\" is reserved "
                          "and cannot name a tensor; rename tensor %lld", (long long)i);
    size_t size = attn__st_dtype_size(e->dtype);
    if (size == 0)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "safetensors: tensor '%s' has invalid "
                          "dtype %d", e->name, (int)e->dtype);
    if (e->ndim < 0 || e->ndim > ATTN__ST_MAX_DIMS || (e->ndim > 0 && !e->shape))
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "safetensors: tensor '%s' has %d dimensions%s; "
                          "use 0 to %d", e->name, (int)e->ndim,
                          e->ndim > 0 && !e->shape ? " but no shape" : "", ATTN__ST_MAX_DIMS);
    uint64_t numel = 1;
    for (int32_t d = 0; d < e->ndim; d++) {
        if (e->shape[d] < 0)
            return attn__fail(ATTN_STATUS_BAD_SHAPE, "safetensors: tensor '%s' dimension %d is "
                              "%lld", e->name, (int)d, (long long)e->shape[d]);
        if (__builtin_mul_overflow(numel, (uint64_t)e->shape[d], &numel))
            return attn__fail(ATTN_STATUS_OVERFLOW, "safetensors: the shape of tensor '%s' "
                              "overflows", e->name);
    }
    if (numel > (uint64_t)INT64_MAX || __builtin_mul_overflow(numel, (uint64_t)size, bytes))
        return attn__fail(ATTN_STATUS_OVERFLOW, "safetensors: the shape of tensor '%s' "
                          "overflows", e->name);
    if (*bytes > 0 && !e->data)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "safetensors: tensor '%s' has no data",
                          e->name);
    return ATTN_STATUS_OK;
}

static attn_status_t write_header(plan_t *p, const attn__st_meta_t *meta, int64_t meta_count) {
    attn__jbuf_t *h = &p->header;
    const attn__st_meta_t **sorted = NULL;
    if (meta_count > 0) {
        sorted = malloc(sizeof *sorted * (size_t)meta_count);
        if (!sorted) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "safetensors: out of memory");
        for (int64_t i = 0; i < meta_count; i++) sorted[i] = &meta[i];
        qsort(sorted, (size_t)meta_count, sizeof *sorted, meta_by_key);
        for (int64_t i = 1; i < meta_count; i++)
            if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0) {
                attn_status_t st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "safetensors: metadata "
                                              "key '%s' given twice", sorted[i]->key);
                free(sorted);
                return st;
            }
    }
    attn__jbuf_raw(h, "{", 1);
    if (meta_count > 0) {
        attn__jbuf_cstr(h, "\"__metadata__\":{");
        for (int64_t i = 0; i < meta_count; i++) {
            if (i) attn__jbuf_raw(h, ",", 1);
            attn__jbuf_string(h, sorted[i]->key, strlen(sorted[i]->key));
            attn__jbuf_raw(h, ":", 1);
            attn__jbuf_string(h, sorted[i]->value, strlen(sorted[i]->value));
        }
        attn__jbuf_raw(h, "}", 1);
    }
    free(sorted);
    uint64_t offset = 0;
    for (int64_t i = 0; i < p->count; i++) {
        const attn__st_entry_t *e = p->items[i].e;
        if (i || meta_count > 0) attn__jbuf_raw(h, ",", 1);
        attn__jbuf_string(h, e->name, strlen(e->name));
        attn__jbuf_cstr(h, ":{\"dtype\":\"");
        attn__jbuf_cstr(h, attn__st_dtype_name(e->dtype));
        attn__jbuf_cstr(h, "\",\"shape\":[");
        for (int32_t d = 0; d < e->ndim; d++) {
            if (d) attn__jbuf_raw(h, ",", 1);
            attn__jbuf_u64(h, (uint64_t)e->shape[d]);
        }
        attn__jbuf_cstr(h, "],\"data_offsets\":[");
        attn__jbuf_u64(h, offset);
        attn__jbuf_raw(h, ",", 1);
        attn__jbuf_u64(h, offset + p->items[i].bytes);
        attn__jbuf_cstr(h, "]}");
        offset += p->items[i].bytes;
    }
    attn__jbuf_raw(h, "}", 1);
    while (!h->oom && h->len % 8 != 0) attn__jbuf_raw(h, " ", 1);
    if (h->oom) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "safetensors: out of memory "
                                  "building the header");
    if (h->len > ATTN__ST_MAX_HEADER)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "safetensors: the header would be %zu "
                          "bytes, more than readers accept (%u); write fewer tensors per file",
                          h->len, ATTN__ST_MAX_HEADER);
    return ATTN_STATUS_OK;
}

static void plan_free(plan_t *p) {
    attn__jbuf_free(&p->header);
    free(p->items);
    memset(p, 0, sizeof *p);
}

static attn_status_t plan_make(plan_t *p, const attn__st_entry_t *tensors, int64_t count,
                               const attn__st_meta_t *meta, int64_t meta_count) {
    memset(p, 0, sizeof *p);
    attn__jbuf_init(&p->header);
    if (count < 0 || meta_count < 0 || (count > 0 && !tensors) || (meta_count > 0 && !meta))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "safetensors: %lld tensors at %p and %lld "
                          "metadata pairs at %p; counts must be >= 0 with arrays for them",
                          (long long)count, (const void *)tensors, (long long)meta_count,
                          (const void *)meta);
    for (int64_t i = 0; i < meta_count; i++) {
        const char *k = meta[i].key, *v = meta[i].value;
        if (!k || !v)
            return attn__fail(ATTN_STATUS_NULL_POINTER, "safetensors: metadata pair %lld has a "
                              "NULL key or value", (long long)i);
        if (!attn__utf8_valid(k, strlen(k)) || !attn__utf8_valid(v, strlen(v)))
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "safetensors: metadata key or value of "
                              "pair %lld is not valid UTF-8", (long long)i);
    }
    p->items = malloc(sizeof *p->items * (size_t)(count > 0 ? count : 1));
    if (!p->items) return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "safetensors: out of memory");
    p->count = count;
    for (int64_t i = 0; i < count; i++) {
        p->items[i].e = &tensors[i];
        attn_status_t st = check_entry(&tensors[i], i, &p->items[i].bytes);
        if (st != ATTN_STATUS_OK) return st;
        if (__builtin_add_overflow(p->data_len, p->items[i].bytes, &p->data_len))
            return attn__fail(ATTN_STATUS_OVERFLOW, "safetensors: the tensors add up to more "
                              "than 2^64 bytes");
    }
    if (count > 1) {
        qsort(p->items, (size_t)count, sizeof *p->items, item_by_name);
        for (int64_t i = 1; i < count; i++)
            if (strcmp(p->items[i - 1].e->name, p->items[i].e->name) == 0)
                return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "safetensors: tensor name '%s' "
                                  "given twice", p->items[i].e->name);
        qsort(p->items, (size_t)count, sizeof *p->items, item_by_dtype);
    }
    return write_header(p, meta, meta_count);
}

static void put_u64_le(unsigned char out[8], uint64_t v) {
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)(v >> (8 * i));
}

attn_status_t attn__st_write(const char *path, const attn__st_entry_t *tensors, int64_t count,
                             const attn__st_meta_t *meta, int64_t meta_count) {
    plan_t p;
    attn_status_t st = plan_make(&p, tensors, count, meta, meta_count);
    attn__afile_t f;
    if (st == ATTN_STATUS_OK) st = attn__afile_open(&f, path);
    if (st != ATTN_STATUS_OK) {
        plan_free(&p);
        return st;
    }
    unsigned char n[8];
    put_u64_le(n, (uint64_t)p.header.len);
    st = attn__afile_write(&f, n, 8);
    if (st == ATTN_STATUS_OK) st = attn__afile_write(&f, p.header.data, p.header.len);
    for (int64_t i = 0; i < p.count && st == ATTN_STATUS_OK; i++) {
        uint64_t left = p.items[i].bytes;
        const char *src = p.items[i].e->data;
        while (left > 0 && st == ATTN_STATUS_OK) { /* size_t may be narrower than uint64_t */
            size_t chunk = left > ((uint64_t)1 << 30) ? ((size_t)1 << 30) : (size_t)left;
            st = attn__afile_write(&f, src, chunk);
            src += chunk;
            left -= chunk;
        }
    }
    /* a failed attn__afile_write has already removed the temporary file */
    if (st == ATTN_STATUS_OK) st = attn__afile_commit(&f);
    plan_free(&p);
    return st;
}

attn_status_t attn__st_serialize(void **out, size_t *size, const attn__st_entry_t *tensors,
                                 int64_t count, const attn__st_meta_t *meta,
                                 int64_t meta_count) {
    if (!out || !size)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "attn__st_serialize: out or size is NULL");
    *out = NULL;
    *size = 0;
    plan_t p;
    attn_status_t st = plan_make(&p, tensors, count, meta, meta_count);
    if (st != ATTN_STATUS_OK) {
        plan_free(&p);
        return st;
    }
    uint64_t total = 8 + (uint64_t)p.header.len + p.data_len;
    unsigned char *buf = total < p.data_len || total > SIZE_MAX ? NULL : malloc((size_t)total);
    if (!buf) {
        plan_free(&p);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "safetensors: cannot allocate %llu bytes",
                          (unsigned long long)total);
    }
    put_u64_le(buf, (uint64_t)p.header.len);
    memcpy(buf + 8, p.header.data, p.header.len);
    size_t at = 8 + p.header.len;
    for (int64_t i = 0; i < p.count; i++) {
        if (p.items[i].bytes) memcpy(buf + at, p.items[i].e->data, (size_t)p.items[i].bytes);
        at += (size_t)p.items[i].bytes;
    }
    plan_free(&p);
    *out = buf;
    *size = (size_t)total;
    return ATTN_STATUS_OK;
}
