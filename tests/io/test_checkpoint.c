/* Checkpoints of the parameter store (src/io/checkpoint.c): weights and AdamW state round trip
 * bit for bit (NaN payloads, infinities, denormals, -0), metadata round trips, loading and
 * saving again reproduces the file byte for byte, and every mismatch between file and model
 * fails with a message naming the tensor, both shapes and the model the file belongs to,
 * leaving the store unchanged. Weights saved as F16 or BF16 load as the rounded values, by
 * conversions (core/half.h) checked here on their edge cases and exhaustively. */
#include "core/half.h"
#include "io/checkpoint.h"
#include "iotest.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

typedef struct {
    const char *name;
    int32_t ndim;
    int64_t shape[4];
} spec_t;

static const spec_t model_a[] = {
    {"encoder.embed.weight", 2, {10, 8}},
    {"encoder.layers.0.self_attn.in_proj_weight", 2, {24, 8}},
    {"encoder.layers.0.self_attn.in_proj_bias", 1, {24}},
    {"decoder.norm.weight", 1, {8}},
    {"conv.weight", 4, {2, 3, 4, 5}},
    {"gate", 1, {1}},
};
enum { NA = sizeof model_a / sizeof *model_a };

static const char *config_a = "{\"kind\": \"transformer\", \"d_model\": \"8\", \"layers\": \"1\"}";

/* Builds and allocates a store from specs; fills w with random bit patterns from seed. */
static void build(attn__params_t *ps, const spec_t *specs, int n, uint64_t seed) {
    attn__params_init(ps);
    for (int i = 0; i < n; i++)
        CHECK(attn__params_add(ps, specs[i].name, specs[i].ndim, specs[i].shape) == i, "%s",
              attn_last_error());
    CHECK_OK(attn__params_alloc(ps));
    io_rng r = {seed};
    uint32_t *bits = (uint32_t *)ps->w;
    for (int64_t i = 0; i < ps->total; i++) bits[i] = (uint32_t)io_next(&r);
}

static float *random_buffer(int64_t n, uint64_t seed) {
    float *b = malloc(sizeof(float) * (size_t)n);
    io_rng r = {seed};
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)io_next(&r);
        memcpy(&b[i], &u, 4);
    }
    /* special values at the start */
    static const uint32_t special[] = {0x7fc00001u, 0xffbfffffu, 0x7f800000u, 0xff800000u,
                                       0x00000001u, 0x80000000u, 0x007fffffu};
    for (size_t k = 0; k < sizeof special / sizeof *special && (int64_t)k < n; k++)
        memcpy(&b[k], &special[k], 4);
    return b;
}

/* Whether tensor data (not the alignment padding) of a and b are the same bits. */
static int same_bits(const attn__params_t *ps, const float *a, const float *b) {
    for (int32_t i = 0; i < ps->count; i++) {
        const attn__param_t *p = &ps->list[i];
        if (memcmp(a + p->offset, b + p->offset, sizeof(float) * (size_t)p->numel) != 0)
            return 0;
    }
    return 1;
}

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

static const attn__st_meta_t meta_a[] = {
    {"model", "test-model"},
    {"step", "1200"},
    {"epoch", "3"},
    {"rng", "18446744073709551615"},
    {"best_dev", "0.123456789"},
    {"note", "caf\xc3\xa9 \"quoted\" \\ \n"},
};
enum { NM = sizeof meta_a / sizeof *meta_a };

static void round_trip(void) {
    io_begin("round trip with optimizer state");
    attn__params_t a, b;
    build(&a, model_a, NA, 1);
    attn__ckpt_optim_t opt = {random_buffer(a.total, 2), random_buffer(a.total, 3),
                              123456789012345ll};
    attn__st_meta_t meta[NM + 1];
    memcpy(meta, meta_a, sizeof meta_a);
    meta[NM] = (attn__st_meta_t){"config", config_a};
    char p1[128], p2[128];
    path_in(p1, sizeof p1, "a.safetensors");
    path_in(p2, sizeof p2, "a2.safetensors");
    CHECK_OK(attn__ckpt_save(p1, &a, &opt, meta, NM + 1));

    build(&b, model_a, NA, 99); /* different weights, same tensors */
    attn__ckpt_optim_t got = {calloc((size_t)b.total, 4), calloc((size_t)b.total, 4), 0};
    attn__ckpt_meta_t m;
    CHECK_OK(attn__ckpt_load(p1, &b, &got, &m));
    CHECK(same_bits(&a, a.w, b.w), "weights differ");
    CHECK(same_bits(&a, opt.m, got.m) && same_bits(&a, opt.v, got.v), "moments differ");
    CHECK(got.step == opt.step, "step %lld", (long long)got.step);

    io_begin("metadata round trip");
    CHECK(m.has_optimizer, "has_optimizer");
    CHECK(m.count == NM + 1, "count %lld", (long long)m.count);
    for (int i = 0; i < NM + 1; i++) {
        const char *v = attn__ckpt_meta_get(&m, meta[i].key);
        CHECK(v && strcmp(v, meta[i].value) == 0, "'%s' is '%s'", meta[i].key, v ? v : "-");
    }
    CHECK(attn__ckpt_meta_get(&m, "attn.format") == NULL, "format key handed out");
    for (int64_t i = 1; i < m.count; i++)
        CHECK(strcmp(m.items[i - 1].key, m.items[i].key) < 0, "not sorted");

    io_begin("load then save gives the same bytes");
    CHECK_OK(attn__ckpt_save(p2, &b, &got, m.items, m.count));
    size_t n1 = 0, n2 = 0;
    unsigned char *f1 = io_slurp(p1, &n1), *f2 = io_slurp(p2, &n2);
    CHECK(f1 && f2 && n1 == n2 && memcmp(f1, f2, n1) == 0, "files differ (%zu, %zu bytes)",
          n1, n2);
    free(f1);
    free(f2);

    io_begin("file layout");
    attn__st_file_t *f = NULL;
    CHECK_OK(attn__st_open(&f, p1));
    if (f) {
        CHECK(attn__st_count(f) == 3 * NA + 1, "%lld tensors", (long long)attn__st_count(f));
        const char *fmt = attn__st_meta_get(f, "attn.format");
        CHECK(fmt && strcmp(fmt, "checkpoint-1") == 0, "format");
        const attn__st_tensor_t *t = attn__st_find(f, "optimizer.m.conv.weight");
        CHECK(t && t->dtype == ATTN__ST_F32 && t->ndim == 4 && t->shape[3] == 5, "moment");
        t = attn__st_find(f, "optimizer.step");
        CHECK(t && t->dtype == ATTN__ST_I64 && t->ndim == 0, "step");
        t = attn__st_find(f, "gate");
        CHECK(t && t->ndim == 1 && memcmp(t->data, a.w + a.list[5].offset, 4) == 0, "gate");
        attn__st_close(f);
    }

    io_begin("optimizer state ignored when not asked for");
    float *before = malloc(sizeof(float) * (size_t)b.total);
    memset(b.w, 0, sizeof(float) * (size_t)b.total);
    attn__ckpt_meta_t m2;
    CHECK_OK(attn__ckpt_load(p1, &b, NULL, &m2));
    CHECK(same_bits(&a, a.w, b.w) && m2.has_optimizer, "weights-only load");
    attn__ckpt_meta_free(&m2);
    CHECK_OK(attn__ckpt_load(p1, &b, NULL, NULL));

    io_begin("weights only");
    CHECK_OK(attn__ckpt_save(p2, &a, NULL, meta, NM + 1));
    memcpy(before, got.m, sizeof(float) * (size_t)b.total);
    CHECK_FAIL(attn__ckpt_load(p2, &b, &got, &m2), ATTN_STATUS_BAD_ARGUMENT,
               "holds no optimizer state", "opt = NULL");
    CHECK(memcmp(before, got.m, sizeof(float) * (size_t)b.total) == 0, "m changed");
    attn__ckpt_meta_free(&m2);
    CHECK_OK(attn__ckpt_load(p2, &b, NULL, &m2));
    CHECK(!m2.has_optimizer && same_bits(&a, a.w, b.w), "weights-only file");
    attn__ckpt_meta_free(&m2);

    io_begin("no metadata");
    CHECK_OK(attn__ckpt_save(p2, &a, NULL, NULL, 0));
    CHECK_OK(attn__ckpt_load(p2, &b, NULL, &m2));
    CHECK(m2.count == 0, "metadata appeared");
    attn__ckpt_meta_free(&m2);

    free(before);
    attn__ckpt_meta_free(&m);
    free(opt.m);
    free(opt.v);
    free(got.m);
    free(got.v);
    attn__params_free(&a);
    attn__params_free(&b);
    unlink(p1);
    unlink(p2);
}

/* Loads path into a store built from specs; must fail with the given message parts; the
 * store's weights must not change. */
static void load_must_fail(const char *path, const spec_t *specs, int n, attn_status_t want,
                           const char *w1, const char *w2, const char *w3) {
    attn__params_t s;
    build(&s, specs, n, 7);
    float *before = malloc(sizeof(float) * (size_t)s.total);
    memcpy(before, s.w, sizeof(float) * (size_t)s.total);
    attn__ckpt_meta_t m;
    CHECK_FAIL(attn__ckpt_load(path, &s, NULL, &m), want, w1, w2, w3);
    CHECK(memcmp(before, s.w, sizeof(float) * (size_t)s.total) == 0, "store changed");
    attn__ckpt_meta_free(&m);
    free(before);
    attn__params_free(&s);
}

static void mismatches(void) {
    attn__params_t a;
    build(&a, model_a, NA, 1);
    char path[128];
    path_in(path, sizeof path, "m.safetensors");
    attn__st_meta_t meta[2] = {{"model", "test-model"}, {"config", config_a}};
    CHECK_OK(attn__ckpt_save(path, &a, NULL, meta, 2));

    io_begin("shape mismatch");
    spec_t other[NA];
    memcpy(other, model_a, sizeof other);
    other[0].shape[0] = 12;
    load_must_fail(path, other, NA, ATTN_STATUS_BAD_ARGUMENT, "'encoder.embed.weight' has "
                   "shape [10, 8] in the file but the model expects [12, 8]",
                   "model 'test-model'", "\"d_model\": \"8\"");
    io_begin("rank mismatch");
    memcpy(other, model_a, sizeof other);
    other[3] = (spec_t){"decoder.norm.weight", 2, {1, 8}};
    load_must_fail(path, other, NA, ATTN_STATUS_BAD_ARGUMENT, "'decoder.norm.weight'",
                   "[8] in the file", "expects [1, 8]");
    io_begin("missing tensor");
    spec_t more[NA + 1];
    memcpy(more, model_a, sizeof model_a);
    more[NA] = (spec_t){"extra.weight", 1, {3}};
    load_must_fail(path, more, NA + 1, ATTN_STATUS_BAD_ARGUMENT,
                   "checkpoint 'dir", "tensor 'extra.weight' [3] is missing",
                   "belongs to model 'test-model'");
    io_begin("tensor not in the model");
    load_must_fail(path, model_a, NA - 2, ATTN_STATUS_BAD_ARGUMENT,
                   "tensor 'conv.weight' [2, 3, 4, 5] is not in the model", "has 4 tensors",
                   "test-model");

    io_begin("dtype mismatch, no metadata");
    int32_t h[8] = {0};
    float g = 1;
    int64_t s8[1] = {8}, s1[1] = {1};
    attn__st_entry_t e[2] = {{"decoder.norm.weight", ATTN__ST_I32, 1, s8, h},
                             {"gate", ATTN__ST_F32, 1, s1, &g}};
    spec_t two[2] = {model_a[3], model_a[5]};
    CHECK_OK(attn__st_write(path, e, 2, NULL, 0));
    load_must_fail(path, two, 2, ATTN_STATUS_BAD_ARGUMENT, "'decoder.norm.weight' is I32",
                   "weights are F32, F16 or BF16", "");
    io_begin("shape mismatch, no metadata");
    two[1].shape[0] = 2;
    e[0].dtype = ATTN__ST_F32;
    float w8[8] = {0};
    e[0].data = w8;
    CHECK_OK(attn__st_write(path, e, 2, NULL, 0));
    load_must_fail(path, two, 2, ATTN_STATUS_BAD_ARGUMENT, "'gate' has shape [1]",
                   "no 'model' or 'config' metadata; 2 tensors",
                   "e.g. 'decoder.norm.weight' [8]");

    io_begin("a plain safetensors file with the right tensors loads");
    two[1].shape[0] = 1;
    attn__params_t s;
    build(&s, two, 2, 5);
    CHECK_OK(attn__ckpt_load(path, &s, NULL, NULL));
    CHECK(s.w[s.list[1].offset] == 1.0f, "gate not loaded");
    attn__params_free(&s);

    io_begin("newer format");
    attn__st_meta_t fm = {"attn.format", "checkpoint-9"};
    CHECK_OK(attn__st_write(path, e, 2, &fm, 1));
    load_must_fail(path, two, 2, ATTN_STATUS_UNSUPPORTED, "format 'checkpoint-9'",
                   "newer attn", "");

    io_begin("bad optimizer tensors");
    attn__params_t t;
    build(&t, two, 2, 5);
    attn__ckpt_optim_t opt = {calloc((size_t)t.total, 4), calloc((size_t)t.total, 4), 3};
    CHECK_OK(attn__ckpt_save(path, &t, &opt, NULL, 0));
    attn__st_file_t *f = NULL;
    CHECK_OK(attn__st_open(&f, path));
    /* rewrite the file with the step as F64 */
    attn__st_entry_t all[8];
    int n = 0;
    for (int64_t i = 0; f && i < attn__st_count(f); i++) {
        const attn__st_tensor_t *x = attn__st_tensor(f, i);
        all[n++] = (attn__st_entry_t){x->name, x->dtype, x->ndim, x->shape, x->data};
        if (strcmp(x->name, "optimizer.step") == 0) all[n - 1].dtype = ATTN__ST_F64;
    }
    char path2[128];
    path_in(path2, sizeof path2, "m2.safetensors");
    CHECK_OK(attn__st_write(path2, all, n, NULL, 0));
    CHECK_FAIL(attn__ckpt_load(path2, &t, &opt, NULL), ATTN_STATUS_BAD_ARGUMENT,
               "'optimizer.step' must be an I64 scalar, not F64");
    /* an unknown optimizer tensor, and moments of a tensor the model lacks */
    float z = 0;
    all[n] = (attn__st_entry_t){"optimizer.w.gate", ATTN__ST_F32, 1, s1, &z};
    for (int k = 0; k < n; k++)
        if (strcmp(all[k].name, "optimizer.step") == 0) all[k].dtype = ATTN__ST_I64;
    CHECK_OK(attn__st_write(path2, all, n + 1, NULL, 0));
    CHECK_FAIL(attn__ckpt_load(path2, &t, &opt, NULL), ATTN_STATUS_BAD_ARGUMENT,
               "unknown optimizer tensor 'optimizer.w.gate'");
    CHECK_OK(attn__ckpt_load(path2, &t, NULL, NULL)); /* ignored without opt */
    all[n] = (attn__st_entry_t){"optimizer.m.ghost", ATTN__ST_F32, 1, s1, &z};
    CHECK_OK(attn__st_write(path2, all, n + 1, NULL, 0));
    CHECK_FAIL(attn__ckpt_load(path2, &t, &opt, NULL), ATTN_STATUS_BAD_ARGUMENT,
               "'optimizer.m.ghost' [1] is not in the model");
    /* a moment missing */
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(all[i].name, "optimizer.v.gate") != 0) all[k++] = all[i];
    CHECK_OK(attn__st_write(path2, all, k, NULL, 0));
    CHECK_FAIL(attn__ckpt_load(path2, &t, &opt, NULL), ATTN_STATUS_BAD_ARGUMENT,
               "tensor 'optimizer.v.gate' [1] is missing");
    attn__st_close(f);
    free(opt.m);
    free(opt.v);
    attn__params_free(&t);
    unlink(path2);

    io_begin("truncated checkpoint");
    CHECK_OK(attn__ckpt_save(path, &a, NULL, meta, 2));
    size_t size = 0;
    unsigned char *bytes = io_slurp(path, &size);
    CHECK(bytes && io_spit(path, bytes, size - 5) == 0, "cannot truncate");
    load_must_fail(path, model_a, NA, ATTN_STATUS_BAD_ARGUMENT, "safetensors file '",
                   "reach past the data buffer", "truncated");
    free(bytes);
    unlink(path);
    attn__params_free(&a);
}

static void argument_errors(void) {
    char path[128];
    path_in(path, sizeof path, "e.safetensors");
    attn__params_t a, unalloc;
    build(&a, model_a, NA, 1);
    attn__params_init(&unalloc);
    int64_t s1[1] = {1};
    attn__params_add(&unalloc, "x", 1, s1);

    io_begin("argument errors");
    attn__st_meta_t bad = {"attn.format", "x"};
    CHECK_FAIL(attn__ckpt_save(path, &a, NULL, &bad, 1), ATTN_STATUS_BAD_ARGUMENT,
               "'attn.format' is reserved");
    CHECK_FAIL(attn__ckpt_save(path, &unalloc, NULL, NULL, 0), ATTN_STATUS_BAD_ARGUMENT,
               "attn__params_alloc");
    CHECK_FAIL(attn__ckpt_load(path, &unalloc, NULL, NULL), ATTN_STATUS_BAD_ARGUMENT,
               "attn__params_alloc");
    attn__ckpt_optim_t half = {a.w, NULL, 0};
    CHECK_FAIL(attn__ckpt_save(path, &a, &half, NULL, 0), ATTN_STATUS_NULL_POINTER,
               "without its m or v");
    CHECK_FAIL(attn__ckpt_save(NULL, &a, NULL, NULL, 0), ATTN_STATUS_NULL_POINTER, "NULL");
    CHECK_FAIL(attn__ckpt_load(path, &a, NULL, NULL), ATTN_STATUS_BAD_ARGUMENT,
               "cannot open it");
    attn__st_meta_t dup[2] = {{"k", "1"}, {"k", "2"}};
    CHECK_FAIL(attn__ckpt_save(path, &a, NULL, dup, 2), ATTN_STATUS_BAD_ARGUMENT,
               "'k' given twice");
    CHECK(access(path, F_OK) != 0, "a failed save left a file");

    attn__params_t o;
    attn__params_init(&o);
    attn__params_add(&o, "optimizer.m", 1, s1);
    CHECK_OK(attn__params_alloc(&o));
    CHECK_FAIL(attn__ckpt_save(path, &o, NULL, NULL, 0), ATTN_STATUS_BAD_ARGUMENT,
               "'optimizer.m' is in the 'optimizer.' namespace");
    attn__params_free(&o);
    attn__params_free(&a);
    attn__params_free(&unalloc);
}

/* ---- 16-bit weights ------------------------------------------------------------------------ */

static float from_bits(uint32_t u) { return attn__bits_f32(u); }

/* float -> fp16 / bf16 on the cases where rounding is decided: ties to even, the carry into
 * the next exponent, overflow, subnormals, signed zero, NaN; then every 16-bit pattern round
 * trips, and random floats land on the nearer neighbour (ties to even) in double arithmetic. */
static void conversions(void) {
    io_begin("float -> fp16 edge cases");
    static const struct { float x; uint16_t want; } f16[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff}, {65519.99f, 0x7bff},
        {65520.0f, 0x7c00}, {-1e6f, 0xfc00}, {0.333333343f, 0x3555},
        {1.0f + 0x1p-11f, 0x3c00},          /* tie: stays even */
        {1.0f + 3 * 0x1p-11f, 0x3c02},      /* tie: up to even */
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3c01}, /* just past the tie */
        {2047.0f / 1024.0f + 0x1p-11f, 0x4000}, /* 1.9995 + tie carries into 2.0 */
        {0x1p-14f, 0x0400}, {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {1.5f * 0x1p-25f, 0x0001},
        {3 * 0x1p-25f, 0x0002}, {0x1p-14f - 0x1p-25f, 0x0400}, {-0x1p-26f, 0x8000},
        {-0.0f, 0x8000}, {INFINITY, 0x7c00}, {-INFINITY, 0xfc00},
    };
    for (size_t i = 0; i < sizeof f16 / sizeof *f16; i++) {
        uint16_t got = attn__f32_to_f16(f16[i].x);
        CHECK(got == f16[i].want, "%a -> 0x%04x, want 0x%04x", (double)f16[i].x, got,
              f16[i].want);
    }
    uint16_t qn = attn__f32_to_f16(from_bits(0xff800001u)); /* signalling NaN, sign set */
    CHECK((qn & 0x7c00u) == 0x7c00u && (qn & 0x3ffu) && (qn & 0x8000u), "NaN -> 0x%04x", qn);

    io_begin("float -> bf16 edge cases");
    static const struct { uint32_t x; uint16_t want; } bf[] = {
        {0x3f800000u, 0x3f80}, {0x3f808000u, 0x3f80}, /* 1 + 2^-8: tie, stays even */
        {0x3f818000u, 0x3f82}, /* tie, up to even */  {0x3f808001u, 0x3f81},
        {0x7f7fffffu, 0x7f80}, /* the largest float rounds to infinity */
        {0x00000001u, 0x0000}, {0x80000000u, 0x8000}, {0x7f800000u, 0x7f80}, {0xff800000u, 0xff80},
    };
    for (size_t i = 0; i < sizeof bf / sizeof *bf; i++) {
        uint16_t got = attn__f32_to_bf16(from_bits(bf[i].x));
        CHECK(got == bf[i].want, "0x%08x -> 0x%04x, want 0x%04x", bf[i].x, got, bf[i].want);
    }
    CHECK(attn__f32_to_bf16(from_bits(0x7f800001u)) == 0x7fc0, "signalling NaN not quieted");

    io_begin("every 16-bit pattern round trips");
    long bad16 = 0, badbf = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float a = attn__f16_to_f32((uint16_t)h), b = attn__bf16_to_f32((uint16_t)h);
        bool nan16 = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
        bool nanbf = (h & 0x7f80u) == 0x7f80u && (h & 0x7fu);
        if (nan16 ? !isnan(a) : attn__f32_to_f16(a) != h) bad16++;
        if (nanbf ? !isnan(b) : attn__f32_to_bf16(b) != h) badbf++;
    }
    CHECK(bad16 == 0 && badbf == 0, "%ld fp16 and %ld bf16 patterns do not", bad16, badbf);

    io_begin("random floats round to the nearer neighbour");
    io_rng r = {77};
    long wrong = 0;
    for (int i = 0; i < 200000; i++) {
        /* magnitudes 2^-27 .. 2^17: subnormal, normal and overflowing fp16 */
        uint32_t u = (uint32_t)io_next(&r);
        uint32_t e = 100u + (u >> 8) % 45u;
        float x = from_bits((u & 0x807fffffu) | (e << 23));
        for (int kind = 0; kind < 2; kind++) {
            uint16_t h = kind ? attn__f32_to_bf16(x) : attn__f32_to_f16(x);
            double got = kind ? attn__bf16_to_f32(h) : attn__f16_to_f32(h);
            uint16_t mag = h & 0x7fffu, inf = kind ? 0x7f80u : 0x7c00u;
            double lo = mag == 0 ? 0.0 : (kind ? attn__bf16_to_f32 : attn__f16_to_f32)(
                                             (uint16_t)((h & 0x8000u) | (mag - 1u)));
            double hi = mag == inf ? INFINITY : (kind ? attn__bf16_to_f32 : attn__f16_to_f32)(
                                                   (uint16_t)((h & 0x8000u) | (mag + 1u)));
            double dx = fabs((double)x - got), dlo = fabs((double)x - lo);
            double dhi = fabs((double)x - hi);
            if (mag == inf) { /* overflow: x is at least half an ulp past the largest value */
                double big = kind ? 0x1.fep127 : 65504.0, ulp = kind ? 0x1p120 : 32.0;
                if (fabs((double)x) < big + ulp / 2) wrong++;
                continue;
            }
            if (dx > dlo || dx > dhi || ((dx == dlo || dx == dhi) && (mag & 1u))) wrong++;
        }
    }
    CHECK(wrong == 0, "%ld of 400000 conversions not rounded to nearest even", wrong);
}

/* Weights saved as F16 / BF16 load as exactly the rounded values; the file is about half. */
static void half_weights(void) {
    static const attn__st_dtype_t kinds[] = {ATTN__ST_F16, ATTN__ST_BF16, ATTN__ST_F32};
    attn__params_t a, b;
    build(&a, model_a, NA, 5);
    char p32[128], p[128];
    path_in(p32, sizeof p32, "w32.safetensors");
    path_in(p, sizeof p, "w16.safetensors");
    CHECK_OK(attn__ckpt_save(p32, &a, NULL, meta_a, NM));
    struct stat s32, s16;
    CHECK(stat(p32, &s32) == 0, "stat %s", p32);
    for (int k = 0; k < 3; k++) {
        io_begin("weights saved as %s", attn__st_dtype_name(kinds[k]));
        build(&b, model_a, NA, 6);
        CHECK_OK(attn__ckpt_save_weights(p, &a, kinds[k], meta_a, NM));
        attn__ckpt_meta_t m;
        CHECK_OK(attn__ckpt_load(p, &b, NULL, &m));
        CHECK(!m.has_optimizer, "optimizer state in a weights-only file");
        const char *v = attn__ckpt_meta_get(&m, "step");
        CHECK(v && !strcmp(v, "1200"), "metadata 'step' is %s", v ? v : "-");
        attn__ckpt_meta_free(&m);
        long diff = 0, numel = 0;
        for (int32_t t = 0; t < a.count; t++) { /* tensor data, not the alignment padding */
            const attn__param_t *q = &a.list[t];
            numel += q->numel;
            for (int64_t j = q->offset; j < q->offset + q->numel; j++) {
                float x = a.w[j], want = x;
                if (kinds[k] == ATTN__ST_F16) want = attn__f16_to_f32(attn__f32_to_f16(x));
                if (kinds[k] == ATTN__ST_BF16) want = attn__bf16_to_f32(attn__f32_to_bf16(x));
                diff += attn__f32_bits(want) != attn__f32_bits(b.w[j]);
            }
        }
        CHECK(diff == 0, "%ld weights differ from their rounded values", diff);
        CHECK(stat(p, &s16) == 0, "stat %s", p);
        if (kinds[k] != ATTN__ST_F32) /* 2 bytes a weight fewer; the header about the same */
            CHECK(s32.st_size - s16.st_size >= 2 * numel - 64, "%lld bytes against %lld in "
                  "F32, for %ld weights", (long long)s16.st_size, (long long)s32.st_size, numel);
        attn__ckpt_optim_t opt = {calloc((size_t)b.total, 4), calloc((size_t)b.total, 4), 0};
        CHECK_FAIL(attn__ckpt_load(p, &b, &opt, NULL), ATTN_STATUS_BAD_ARGUMENT,
                   "no optimizer state");
        free(opt.m);
        free(opt.v);
        attn__params_free(&b);
    }
    io_begin("weights as another dtype");
    CHECK_FAIL(attn__ckpt_save_weights(p, &a, ATTN__ST_I64, NULL, 0), ATTN_STATUS_BAD_ARGUMENT,
               "I64 weights", "F32, F16 or BF16");
    unlink(p);
    unlink(p32);
    attn__params_free(&a);
}

int main(void) {
    double t0 = io_seconds();
    snprintf(dir, sizeof dir, "dir-ckpt-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    round_trip();
    mismatches();
    argument_errors();
    conversions();
    half_weights();
    rmdir(dir);
    return io_finish("test_checkpoint", t0);
}
