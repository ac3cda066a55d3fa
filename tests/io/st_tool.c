/* Command-line side of the interoperability test (test_interop.py): writes, dumps and checks
 * safetensors files and checkpoints with attn's code, so Python can compare against the
 * safetensors package.
 *
 *   st_tool write <out> <spec.json>   tensors from {"tensors": [[name, dtype, [dims]], ...],
 *                                     "metadata": {key: value}}; byte j of tensor k is
 *                                     (37 j + 11 k + 5) mod 256, or j mod 2 for BOOL
 *   st_tool dump <file>               the file as JSON: {"tensors": {name: {"dtype", "shape",
 *                                     "hex"}}, "metadata": {...}}
 *   st_tool check <file>...           one line per file: "ok" or "bad <message>"
 *   st_tool ckpt-save <out>           a checkpoint of a small fixed store with AdamW state:
 *                                     weight j of tensor t is (j mod 97) / 2 - 3 + t, m is a
 *                                     quarter of it, v its square, step 4242
 *   st_tool ckpt-save16 <out32> <out16> F16|BF16
 *                                     that store with weights that need rounding in 16 bits,
 *                                     saved as F32 and (weights only) as F16 or BF16
 *   st_tool ckpt-load <file>          loads a file into that store (weights only) and dumps
 *                                     the weights as JSON like dump
 * Exit status 0 on success; 1 with attn_last_error() on stderr otherwise. */
#include "io/checkpoint.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "st_tool: %s: %s\n", what, attn_last_error());
    return 1;
}

static char *slurp(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    *size = (size_t)n;
    return b;
}

static void hex(attn__jbuf_t *b, const void *data, size_t n) {
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    attn__jbuf_raw(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        char two[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
        attn__jbuf_raw(b, two, 2);
    }
    attn__jbuf_raw(b, "\"", 1);
}

static void dump_tensor(attn__jbuf_t *b, const char *name, attn__st_dtype_t dtype, int32_t ndim,
                        const int64_t *shape, const void *data, size_t bytes) {
    attn__jbuf_string(b, name, strlen(name));
    attn__jbuf_cstr(b, ": {\"dtype\": \"");
    attn__jbuf_cstr(b, attn__st_dtype_name(dtype));
    attn__jbuf_cstr(b, "\", \"shape\": [");
    for (int32_t d = 0; d < ndim; d++) {
        if (d) attn__jbuf_cstr(b, ", ");
        attn__jbuf_u64(b, (uint64_t)shape[d]);
    }
    attn__jbuf_cstr(b, "], \"hex\": ");
    hex(b, data, bytes);
    attn__jbuf_cstr(b, "}");
}

static int dump(const char *path) {
    attn__st_file_t *f;
    if (attn__st_open(&f, path) != ATTN_STATUS_OK) return fail("dump");
    attn__jbuf_t b;
    attn__jbuf_init(&b);
    attn__jbuf_cstr(&b, "{\"tensors\": {");
    for (int64_t i = 0; i < attn__st_count(f); i++) {
        const attn__st_tensor_t *t = attn__st_tensor(f, i);
        if (i) attn__jbuf_cstr(&b, ", ");
        dump_tensor(&b, t->name, t->dtype, t->ndim, t->shape, t->data, t->end - t->begin);
    }
    attn__jbuf_cstr(&b, "}, \"metadata\": {");
    for (int64_t i = 0; i < attn__st_meta_count(f); i++) {
        const attn__st_meta_t *m = attn__st_meta_at(f, i);
        if (i) attn__jbuf_cstr(&b, ", ");
        attn__jbuf_string(&b, m->key, strlen(m->key));
        attn__jbuf_cstr(&b, ": ");
        attn__jbuf_string(&b, m->value, strlen(m->value));
    }
    attn__jbuf_cstr(&b, "}}\n");
    fwrite(b.data, 1, b.len, stdout);
    attn__jbuf_free(&b);
    attn__st_close(f);
    return 0;
}

/* ---- write from a spec --------------------------------------------------------------------- */

enum { MAX_T = 64 };

static int write_spec(const char *out, const char *spec_path) {
    size_t n;
    char *text = slurp(spec_path, &n);
    if (!text) { fprintf(stderr, "st_tool: cannot read %s\n", spec_path); return 1; }
    attn__jr_t r;
    if (attn__jr_init(&r, text, n) != ATTN_STATUS_OK) return fail("write");
    attn__st_entry_t e[MAX_T];
    int64_t shapes[MAX_T][ATTN__ST_MAX_DIMS];
    unsigned char *data[MAX_T];
    attn__st_meta_t meta[MAX_T];
    int nt = 0, nm = 0;
    attn__json_str_t key, s;
    attn__jr_begin_object(&r);
    while (attn__jr_next_member(&r, &key)) {
        if (strcmp(key.s, "metadata") == 0) {
            attn__jr_begin_object(&r);
            while (nm < MAX_T && attn__jr_next_member(&r, &key) && attn__jr_string(&r, &s))
                meta[nm++] = (attn__st_meta_t){key.s, s.s};
            continue;
        }
        attn__jr_begin_array(&r); /* "tensors" */
        while (nt < MAX_T && attn__jr_next_element(&r)) {
            attn__st_entry_t *x = &e[nt];
            attn__json_str_t name, dtype;
            attn__jr_begin_array(&r);
            attn__jr_next_element(&r);
            attn__jr_string(&r, &name);
            attn__jr_next_element(&r);
            attn__jr_string(&r, &dtype);
            attn__jr_next_element(&r);
            attn__jr_begin_array(&r);
            x->ndim = 0;
            uint64_t numel = 1, dim;
            while (attn__jr_next_element(&r) && attn__jr_uint(&r, &dim)) {
                shapes[nt][x->ndim++] = (int64_t)dim;
                numel *= dim;
            }
            attn__jr_next_element(&r); /* the closing ] of the triple */
            x->name = name.s;
            x->shape = shapes[nt];
            x->dtype = ATTN__ST_DTYPE_COUNT;
            for (int d = 0; d < ATTN__ST_DTYPE_COUNT; d++)
                if (dtype.s && strcmp(dtype.s, attn__st_dtype_name((attn__st_dtype_t)d)) == 0)
                    x->dtype = (attn__st_dtype_t)d;
            size_t bytes = (size_t)numel * attn__st_dtype_size(x->dtype);
            data[nt] = malloc(bytes + 1);
            for (size_t j = 0; j < bytes; j++)
                data[nt][j] = x->dtype == ATTN__ST_BOOL ? (unsigned char)(j & 1)
                                                        : (unsigned char)(37 * j + 11 * nt + 5);
            x->data = data[nt];
            nt++;
        }
    }
    if (!attn__jr_finish(&r)) {
        fprintf(stderr, "st_tool: bad spec %s: %s\n", spec_path, r.why);
        return 1;
    }
    int rc = attn__st_write(out, e, nt, meta, nm) == ATTN_STATUS_OK ? 0 : fail("write");
    for (int i = 0; i < nt; i++) free(data[i]);
    attn__jr_free(&r);
    free(text);
    return rc;
}

/* ---- checkpoints --------------------------------------------------------------------------- */

static void fixed_store(attn__params_t *ps) {
    static const struct { const char *name; int32_t ndim; int64_t shape[3]; } specs[] = {
        {"encoder.embed.weight", 2, {5, 4}},
        {"encoder.layers.0.linear1.weight", 2, {6, 4}},
        {"encoder.layers.0.linear1.bias", 1, {6}},
        {"decoder.out.weight", 3, {2, 3, 2}},
    };
    attn__params_init(ps);
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
        attn__params_add(ps, specs[i].name, specs[i].ndim, specs[i].shape);
}

static int ckpt_save(const char *out) {
    attn__params_t ps;
    fixed_store(&ps);
    if (attn__params_alloc(&ps) != ATTN_STATUS_OK) return fail("ckpt-save");
    float *m = calloc((size_t)ps.total, sizeof(float)), *v = calloc((size_t)ps.total, 4);
    for (int32_t t = 0; t < ps.count; t++)
        for (int64_t j = 0; j < ps.list[t].numel; j++) {
            int64_t i = ps.list[t].offset + j;
            ps.w[i] = (float)(j % 97) * 0.5f - 3.0f + (float)t;
            m[i] = ps.w[i] * 0.25f;
            v[i] = ps.w[i] * ps.w[i];
        }
    attn__ckpt_optim_t opt = {m, v, 4242};
    attn__st_meta_t meta[3] = {{"model", "interop-test"},
                               {"config", "{\"d_model\": \"4\", \"layers\": \"1\"}"},
                               {"step", "4242"}};
    int rc = attn__ckpt_save(out, &ps, &opt, meta, 3) == ATTN_STATUS_OK ? 0 : fail("ckpt-save");
    free(m);
    free(v);
    attn__params_free(&ps);
    return rc;
}

/* The fixed store with weights that need rounding in 16 bits (and fp16's overflow and
 * subnormal range), saved twice: as F32 to out32, and as dtype ("F16" or "BF16") to out16. */
static int ckpt_save16(const char *out32, const char *out16, const char *dtype) {
    attn__st_dtype_t dt = !strcmp(dtype, "F16") ? ATTN__ST_F16 : ATTN__ST_BF16;
    attn__params_t ps;
    fixed_store(&ps);
    if (attn__params_alloc(&ps) != ATTN_STATUS_OK) return fail("ckpt-save16");
    static const float special[] = {65519.0f, 65520.0f, -1e6f, 1e-6f, -3e-8f, 1e-45f, 0.1f};
    uint32_t h = 12345;
    for (int32_t t = 0; t < ps.count; t++)
        for (int64_t j = 0; j < ps.list[t].numel; j++) {
            h = h * 1664525u + 1013904223u;
            float x = (float)(h >> 8) * 0x1p-24f * 8.0f - 4.0f; /* [-4, 4), 24 bits */
            ps.w[ps.list[t].offset + j] = t == 0 && j < 7 ? special[j] : x;
        }
    attn__st_meta_t meta[1] = {{"model", "interop-test"}};
    int rc = attn__ckpt_save(out32, &ps, NULL, meta, 1) == ATTN_STATUS_OK &&
                     attn__ckpt_save_weights(out16, &ps, dt, meta, 1) == ATTN_STATUS_OK
                 ? 0
                 : fail("ckpt-save16");
    attn__params_free(&ps);
    return rc;
}

static int ckpt_load(const char *path) {
    attn__params_t ps;
    fixed_store(&ps);
    attn__ckpt_meta_t meta;
    if (attn__params_alloc(&ps) != ATTN_STATUS_OK ||
        attn__ckpt_load(path, &ps, NULL, &meta) != ATTN_STATUS_OK)
        return fail("ckpt-load");
    attn__jbuf_t b;
    attn__jbuf_init(&b);
    attn__jbuf_cstr(&b, "{\"tensors\": {");
    for (int32_t t = 0; t < ps.count; t++) {
        const attn__param_t *p = &ps.list[t];
        if (t) attn__jbuf_cstr(&b, ", ");
        dump_tensor(&b, p->name, ATTN__ST_F32, p->ndim, p->shape, ps.w + p->offset,
                    sizeof(float) * (size_t)p->numel);
    }
    attn__jbuf_cstr(&b, "}, \"metadata\": {");
    for (int64_t i = 0; i < meta.count; i++) {
        if (i) attn__jbuf_cstr(&b, ", ");
        attn__jbuf_string(&b, meta.items[i].key, strlen(meta.items[i].key));
        attn__jbuf_cstr(&b, ": ");
        attn__jbuf_string(&b, meta.items[i].value, strlen(meta.items[i].value));
    }
    attn__jbuf_cstr(&b, "}}\n");
    fwrite(b.data, 1, b.len, stdout);
    attn__jbuf_free(&b);
    attn__ckpt_meta_free(&meta);
    attn__params_free(&ps);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "write") == 0) return write_spec(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "dump") == 0) return dump(argv[2]);
    if (argc == 3 && strcmp(argv[1], "ckpt-save") == 0) return ckpt_save(argv[2]);
    if (argc == 3 && strcmp(argv[1], "ckpt-load") == 0) return ckpt_load(argv[2]);
    if (argc == 5 && strcmp(argv[1], "ckpt-save16") == 0)
        return ckpt_save16(argv[2], argv[3], argv[4]);
    if (argc >= 2 && strcmp(argv[1], "check") == 0) {
        for (int i = 2; i < argc; i++) {
            attn__st_file_t *f;
            if (attn__st_open(&f, argv[i]) == ATTN_STATUS_OK) printf("ok\n");
            else printf("bad %s\n", attn_last_error());
            attn__st_close(f);
        }
        return 0;
    }
    fprintf(stderr, "usage: st_tool write <out> <spec.json> | dump <file> | check <file>... | "
                    "ckpt-save <out> | ckpt-save16 <out32> <out16> F16|BF16 | "
                    "ckpt-load <file>\n");
    return 2;
}
