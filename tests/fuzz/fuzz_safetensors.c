/* libFuzzer target: arbitrary bytes parsed as a safetensors file from memory.
 *
 * Beyond "no crash, no leak, no undefined behaviour" (ASan and UBSan are on), it checks the
 * parser's promises on every input it accepts, and traps when one is broken:
 *   - every tensor lies inside the data buffer, and the tensors tile it exactly;
 *   - looking a tensor up by its name finds it, every metadata key finds its value;
 *   - writing what was read and parsing that again gives the same tensors and metadata, and
 *     writing it once more gives the same bytes (the writer is a fixed point after one trip).
 * A rejected input must leave a message in attn_last_error().
 *
 * Built and run by tests/fuzz/run_fuzz.sh (ctest: io_fuzz_safetensors). */
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ENSURE(c) do { if (!(c)) __builtin_trap(); } while (0)

/* The tensors and metadata of f, as writer arguments (pointing into f). */
static void entries(const attn__st_file_t *f, attn__st_entry_t **e, attn__st_meta_t **m) {
    int64_t n = attn__st_count(f), nm = attn__st_meta_count(f);
    *e = malloc(sizeof **e * (size_t)(n + 1));
    *m = malloc(sizeof **m * (size_t)(nm + 1));
    ENSURE(*e && *m);
    for (int64_t i = 0; i < n; i++) {
        const attn__st_tensor_t *t = attn__st_tensor(f, i);
        (*e)[i] = (attn__st_entry_t){t->name, t->dtype, t->ndim, t->shape, t->data};
    }
    for (int64_t i = 0; i < nm; i++) (*m)[i] = *attn__st_meta_at(f, i);
}

static void same_content(const attn__st_file_t *a, const attn__st_file_t *b) {
    ENSURE(attn__st_count(a) == attn__st_count(b));
    ENSURE(attn__st_meta_count(a) == attn__st_meta_count(b));
    for (int64_t i = 0; i < attn__st_count(a); i++) {
        const attn__st_tensor_t *x = attn__st_tensor(a, i), *y = attn__st_find(b, x->name);
        ENSURE(y && y->dtype == x->dtype && y->ndim == x->ndim && y->numel == x->numel);
        ENSURE(memcmp(x->shape, y->shape, sizeof(int64_t) * (size_t)x->ndim) == 0);
        ENSURE(x->end - x->begin == y->end - y->begin);
        ENSURE(x->end == x->begin || memcmp(x->data, y->data, x->end - x->begin) == 0);
    }
    for (int64_t i = 0; i < attn__st_meta_count(a); i++) {
        const attn__st_meta_t *kv = attn__st_meta_at(a, i);
        const char *v = attn__st_meta_get(b, kv->key);
        ENSURE(v && strcmp(v, kv->value) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    attn__st_file_t *f = NULL;
    if (attn__st_parse(&f, data, size, "fuzz") != ATTN_STATUS_OK) {
        ENSURE(f == NULL && attn_last_error()[0] != '\0');
        return 0;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | data[i];
    uint64_t data_len = size - 8 - n, pos = 0;
    for (int64_t i = 0; i < attn__st_count(f); i++) {
        const attn__st_tensor_t *t = attn__st_tensor(f, i);
        ENSURE(t->begin == pos && t->begin <= t->end && t->end <= data_len);
        ENSURE((const uint8_t *)t->data == data + 8 + n + t->begin);
        ENSURE(attn__st_find(f, t->name) == t);
        pos = t->end;
    }
    ENSURE(pos == data_len);
    for (int64_t i = 0; i < attn__st_meta_count(f); i++) {
        const attn__st_meta_t *kv = attn__st_meta_at(f, i);
        ENSURE(attn__st_meta_get(f, kv->key) == kv->value);
    }

    attn__st_entry_t *e;
    attn__st_meta_t *m;
    entries(f, &e, &m);
    void *once = NULL, *twice = NULL;
    size_t once_size = 0, twice_size = 0;
    ENSURE(attn__st_serialize(&once, &once_size, e, attn__st_count(f), m,
                              attn__st_meta_count(f)) == ATTN_STATUS_OK);
    attn__st_file_t *g = NULL;
    ENSURE(attn__st_parse(&g, once, once_size, "fuzz-again") == ATTN_STATUS_OK);
    same_content(f, g);
    same_content(g, f);
    free(e);
    free(m);
    entries(g, &e, &m);
    ENSURE(attn__st_serialize(&twice, &twice_size, e, attn__st_count(g), m,
                              attn__st_meta_count(g)) == ATTN_STATUS_OK);
    ENSURE(twice_size == once_size && memcmp(once, twice, once_size) == 0);
    free(e);
    free(m);
    free(once);
    free(twice);
    attn__st_close(g);
    attn__st_close(f);
    return 0;
}
