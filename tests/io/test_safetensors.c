/* safetensors reading and writing (src/io/safetensors*.c): round trips bit for bit, known
 * bytes, and every malformed file rejected with a message naming the file, the tensor and the
 * problem: a table of bad headers, every truncation of a small file, byte flips, bad header
 * lengths, bad writer arguments, unreadable paths. Every buffer handed to the parser is
 * allocated at its exact size, so AddressSanitizer sees any read past the end. */
#include "io/safetensors.h"
#include "iotest.h"

#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

/* A file: 8-byte length, header, data_len bytes i & 0xFF. */
static unsigned char *raw(const char *header, size_t data_len, size_t *size) {
    size_t n = strlen(header);
    *size = 8 + n + data_len;
    unsigned char *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, header, n);
    for (size_t i = 0; i < data_len; i++) b[8 + n + i] = (unsigned char)i;
    return b;
}

/* Parses a private copy of exactly size bytes. With out, a successful parse hands the file
 * and the copy (*copy, to free after closing) to the caller. */
static attn_status_t parse_copy(const unsigned char *bytes, size_t size, const char *label,
                                attn__st_file_t **out, unsigned char **copy) {
    unsigned char *c = malloc(size ? size : 1);
    memcpy(c, bytes, size);
    attn__st_file_t *f = NULL;
    attn_status_t st = attn__st_parse(&f, c, size, label);
    if (out && st == ATTN_STATUS_OK) {
        *out = f;
        *copy = c;
    } else {
        attn__st_close(f);
        free(c);
    }
    return st;
}

/* ---- round trip ---------------------------------------------------------------------------- */

static void round_trip(void) {
    io_begin("round trip");
    float f32[6] = {1.5f, -0.0f, 3.25e-39f /* denormal */, 1e30f, -7.0f, 0.1f};
    uint32_t nan_bits = 0x7fc12345u; /* a NaN with a payload must survive */
    memcpy(&f32[5], &nan_bits, 4);
    uint16_t f16[4] = {0x3c00, 0x7bff, 0x8001, 0x7e00};
    uint16_t bf16[3] = {0x3f80, 0xc000, 0x0001};
    int32_t i32[2] = {-2147483647 - 1, 2147483647};
    int64_t i64 = -1234567890123456789ll;
    uint8_t u8[5] = {0, 1, 127, 128, 255};
    uint8_t flags[3] = {1, 0, 1};
    double f64[2] = {3.141592653589793, -2.5e-300};
    int8_t i8 = -128;
    float uni = 42.0f;
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s31[2] = {3, 1}, s2[1] = {2}, s5[1] = {5},
            s3[1] = {3}, s04[2] = {0, 4}, s1[1] = {1};
    attn__st_entry_t e[] = {
        {"layer.weight", ATTN__ST_F32, 2, s23, f32},
        {"half", ATTN__ST_F16, 1, s4, f16},
        {"brain", ATTN__ST_BF16, 2, s31, bf16},
        {"ints", ATTN__ST_I32, 1, s2, i32},
        {"scalar", ATTN__ST_I64, 0, NULL, &i64},
        {"bytes", ATTN__ST_U8, 1, s5, u8},
        {"mask", ATTN__ST_BOOL, 1, s3, flags},
        {"doubles", ATTN__ST_F64, 1, s2, f64},
        {"empty", ATTN__ST_F32, 2, s04, NULL},
        {"tiny", ATTN__ST_I8, 1, s1, &i8},
        {"caf\xc3\xa9 \xe2\x82\xac \"q\"", ATTN__ST_F32, 1, s1, &uni},
    };
    int64_t n = (int64_t)(sizeof e / sizeof *e);
    attn__st_meta_t meta[] = {
        {"config", "{\"d_model\": 64, \"heads\": 4}"},
        {"step", "100"},
        {"unicode", "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"control", "a\nb\t\"c\\ \x01"},
        {"", "empty key"},
    };
    int64_t nm = (int64_t)(sizeof meta / sizeof *meta);

    void *mem = NULL;
    size_t size = 0;
    CHECK_OK(attn__st_serialize(&mem, &size, e, n, meta, nm));
    char path[128];
    path_in(path, sizeof path, "round.safetensors");
    CHECK_OK(attn__st_write(path, e, n, meta, nm));
    size_t fsize = 0;
    unsigned char *fbytes = io_slurp(path, &fsize);
    CHECK(fbytes && fsize == size && memcmp(fbytes, mem, size) == 0,
          "file and memory serialisations differ");
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | ((unsigned char *)mem)[i];
    CHECK(hlen % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)hlen);

    attn__st_file_t *f = NULL;
    CHECK_OK(attn__st_open(&f, path));
    if (!f) return;
    CHECK(attn__st_count(f) == n, "count %lld", (long long)attn__st_count(f));
    for (int64_t i = 0; i < n; i++) {
        io_begin("round trip: tensor %s", e[i].name);
        const attn__st_tensor_t *t = attn__st_find(f, e[i].name);
        CHECK(t != NULL, "not found");
        if (!t) continue;
        CHECK(strcmp(t->name, e[i].name) == 0 && t->dtype == e[i].dtype &&
                  t->ndim == e[i].ndim, "name, dtype or rank changed");
        int64_t numel = 1;
        for (int32_t d = 0; d < e[i].ndim; d++) {
            CHECK(t->shape[d] == e[i].shape[d], "dim %d", (int)d);
            numel *= e[i].shape[d];
        }
        size_t bytes = (size_t)numel * attn__st_dtype_size(e[i].dtype);
        CHECK(t->numel == numel && t->end - t->begin == bytes, "size");
        CHECK(bytes == 0 || memcmp(t->data, e[i].data, bytes) == 0, "data differ");
        CHECK((uintptr_t)t->data % attn__st_dtype_size(t->dtype) == 0, "data unaligned");
    }
    io_begin("round trip: order and metadata");
    for (int64_t i = 1; i < n; i++) {
        const attn__st_tensor_t *a = attn__st_tensor(f, i - 1), *b = attn__st_tensor(f, i);
        CHECK(a->end == b->begin, "not contiguous");
        CHECK(a->dtype > b->dtype || (a->dtype == b->dtype && strcmp(a->name, b->name) < 0),
              "order: %s before %s", a->name, b->name);
    }
    CHECK(attn__st_tensor(f, n) == NULL && attn__st_tensor(f, -1) == NULL, "index checks");
    CHECK(attn__st_find(f, "nope") == NULL && attn__st_find(f, "") == NULL, "found nothing");
    CHECK(attn__st_meta_count(f) == nm, "meta count %lld", (long long)attn__st_meta_count(f));
    for (int64_t i = 0; i < nm; i++) {
        const char *v = attn__st_meta_get(f, meta[i].key);
        CHECK(v && strcmp(v, meta[i].value) == 0, "meta '%s' is '%s'", meta[i].key,
              v ? v : "(missing)");
    }
    CHECK(attn__st_meta_get(f, "missing") == NULL, "missing key found");
    CHECK(strcmp(attn__st_label(f), path) == 0, "label");

    /* writing what was read gives the same bytes */
    io_begin("round trip: rewrite");
    attn__st_entry_t *again = malloc(sizeof *again * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        const attn__st_tensor_t *t = attn__st_tensor(f, n - 1 - i); /* order must not matter */
        again[i] = (attn__st_entry_t){t->name, t->dtype, t->ndim, t->shape, t->data};
    }
    attn__st_meta_t *meta2 = malloc(sizeof *meta2 * (size_t)nm);
    for (int64_t i = 0; i < nm; i++) meta2[i] = *attn__st_meta_at(f, i);
    void *mem2 = NULL;
    size_t size2 = 0;
    CHECK_OK(attn__st_serialize(&mem2, &size2, again, n, meta2, nm));
    CHECK(size2 == size && memcmp(mem2, mem, size) == 0, "rewritten bytes differ");
    free(mem2);
    free(again);
    free(meta2);
    attn__st_close(f);
    free(fbytes);
    free(mem);
    unlink(path);
}

/* Bytes fixed by the format (the same as the reference writer's output). */
static void known_bytes(void) {
    io_begin("known bytes: one tensor");
    float v[6] = {0, 1, 2, 3, 4, 5};
    int64_t shape[3] = {1, 2, 3};
    attn__st_entry_t e = {"attn.0", ATTN__ST_F32, 3, shape, v};
    void *mem;
    size_t size;
    CHECK_OK(attn__st_serialize(&mem, &size, &e, 1, NULL, 0));
    const char *h = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}  ";
    CHECK(size == 8 + 64 + 24 && ((unsigned char *)mem)[0] == 64 &&
              memcmp((char *)mem + 8, h, 64) == 0 && memcmp((char *)mem + 72, v, 24) == 0,
          "bytes differ");
    free(mem);

    io_begin("known bytes: empty");
    CHECK_OK(attn__st_serialize(&mem, &size, NULL, 0, NULL, 0));
    CHECK(size == 16 && memcmp(mem, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0, "bytes differ");
    free(mem);

    io_begin("known bytes: metadata only");
    attn__st_meta_t m = {"framework", "pt"};
    CHECK_OK(attn__st_serialize(&mem, &size, NULL, 0, &m, 1));
    CHECK(size == 48 && memcmp(mem, "\x28\0\0\0\0\0\0\0{\"__metadata__\":{\"framework\":"
                                    "\"pt\"}}     ", 48) == 0, "bytes differ");
    free(mem);
}

/* ---- malformed files ----------------------------------------------------------------------- */

#define T(name, dtype, shape, offsets) "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape \
                                       ",\"data_offsets\":" offsets "}"

static void bad_headers(void) {
    static const struct {
        const char *header;
        size_t data;
        const char *why1, *why2;
    } cases[] = {
        {"[]", 0, "must be a JSON object", NULL},
        {"\"x\"", 0, "must be a JSON object", NULL},
        {"  ", 0, "not valid JSON", "end of the text"},
        {"{\"a\":", 0, "tensor 'a': invalid header JSON", "found the end of the text"},
        {"{" T("a", "F32", "[2]", "[0,8]") "", 8, "not valid JSON", NULL},
        {"{" T("a", "F32", "[2]", "[0,8]") ",}", 8, "trailing ','", NULL},
        {"{\"a\":1}", 0, "tensor 'a'", "expected an object, found a number"},
        {"{\"a\":{\"dtype\":5,\"shape\":[],\"data_offsets\":[0,0]}}", 0, "tensor 'a'",
         "expected a string"},
        {"{" T("w", "F31", "[2]", "[0,8]") "}", 8, "tensor 'w'", "unknown dtype \"F31\""},
        {"{" T("w", "F4", "[2]", "[0,1]") "}", 1, "tensor 'w'", "unknown dtype \"F4\""},
        {"{" T("w", "f32", "[2]", "[0,8]") "}", 8, "tensor 'w'", "unknown dtype"},
        {"{" T("w", "F32", "2", "[0,8]") "}", 8, "tensor 'w'", "expected an array"},
        {"{" T("w", "F32", "[-2]", "[0,8]") "}", 8, "tensor 'w'", "non-negative"},
        {"{" T("w", "F32", "[2.0]", "[0,8]") "}", 8, "tensor 'w'", "without fraction"},
        {"{" T("w", "F32", "[\"2\"]", "[0,8]") "}", 8, "tensor 'w'", "found a string"},
        {"{" T("w", "F32", "[4294967296,4294967296]", "[0,8]") "}", 8, "tensor 'w'",
         "overflows"},
        {"{" T("w", "U8", "[4294967296,4294967296]", "[0,8]") "}", 8, "tensor 'w'",
         "overflows"},
        {"{" T("w", "U8", "[9223372036854775808]", "[0,8]") "}", 8, "tensor 'w'",
         "more than 2^63"},
        {"{" T("w", "U8", "[18446744073709551616]", "[0,8]") "}", 8, "tensor 'w'",
         "does not fit in 64 bits"},
        {"{" T("w", "U8", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 1,
         "tensor 'w'", "more than 16 dimensions"},
        {"{" T("w", "F32", "[3]", "[0,8]") "}", 8, "tensor 'w'", "needs 12 bytes"},
        {"{" T("w", "F32", "[0]", "[0,8]") "}", 8, "tensor 'w'", "needs 0 bytes"},
        {"{" T("w", "F32", "[]", "[0,8]") "}", 8, "tensor 'w'", "needs 4 bytes"},
        {"{" T("w", "F32", "[4]", "[0,16]") "}", 8, "tensor 'w'", "past the data buffer"},
        {"{" T("w", "F32", "[2]", "[8,0]") "}", 8, "tensor 'w'", "reversed"},
        {"{" T("w", "F32", "[2]", "[18446744073709551615,7]") "}", 8, "tensor 'w'",
         "reversed"},
        {"{" T("w", "U8", "[0]", "[18446744073709551615,18446744073709551615]") "}", 0,
         "tensor 'w'", "past the data buffer"},
        {"{" T("w", "F32", "[2]", "[0,8,8]") "}", 8, "tensor 'w'", "more than 2"},
        {"{" T("w", "F32", "[2]", "[8]") "}", 8, "tensor 'w'", "has 1 number"},
        {"{" T("w", "F32", "[2]", "[]") "}", 8, "tensor 'w'", "has 0 numbers"},
        {"{" T("w", "F32", "[2]", "\"0,8\"") "}", 8, "tensor 'w'", "expected an array"},
        {"{" T("w", "F32", "[2]", "[0,-8]") "}", 8, "tensor 'w'", "non-negative"},
        {"{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[4,12]") "}", 12,
         "'a' and 'b' overlap", NULL},
        {"{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[0,8]") "}", 8,
         "'a' and 'b' overlap", NULL},
        {"{" T("a", "U8", "[0]", "[4,4]") "," T("b", "F32", "[2]", "[0,8]") "}", 8,
         "'b' and 'a' overlap", NULL},
        {"{" T("a", "F32", "[1]", "[0,4]") "," T("b", "F32", "[1]", "[8,12]") "}", 12,
         "bytes 4 to 8", "gap before tensor 'b'"},
        {"{" T("a", "F32", "[2]", "[4,12]") "}", 12, "bytes 0 to 4", "tensor 'a'"},
        {"{" T("a", "F32", "[2]", "[0,8]") "}", 12, "holds 12 bytes", "cover only 8"},
        {"{}", 1, "holds 1 bytes", "cover only 0"},
        {"{" T("a", "F32", "[1]", "[0,4]") "," T("a", "F32", "[1]", "[4,8]") "}", 8,
         "tensor name 'a' appears twice", NULL},
        {"{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, "tensor 'w'", "\"dtype\" appears twice"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"offsets\":[0,4]}}", 4, "tensor 'w'",
         "unknown key \"offsets\""},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, "tensor 'w'",
         "\"data_offsets\" is missing"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
         "tensor 'w'", "unknown key \"x\""},
        {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ key 'k'", "expected a string"},
        {"{\"__metadata__\":{\"k\":null}}", 0, "__metadata__ key 'k'", "expected a string"},
        {"{\"__metadata__\":[]}", 0, "__metadata__", "expected an object"},
        {"{\"__metadata__\":null}", 0, "__metadata__", "expected an object"},
        {"{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "key 'k' appears twice", NULL},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "\"__metadata__\" appears twice",
         NULL},
        {"{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0, "key 'k'", "NUL"},
        {"{" T("a\\u0000b", "F32", "[1]", "[0,4]") "}", 4, "tensor 'a\\x00b'", "NUL"},
        {"{" T("a\xff", "F32", "[1]", "[0,4]") "}", 4, "not valid JSON", "invalid UTF-8"},
        {"{" T("a\t", "F32", "[1]", "[0,4]") "}", 4, "not valid JSON", "control byte 0x09"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        io_begin("bad header %zu: %s", i, cases[i].header);
        size_t size;
        unsigned char *b = raw(cases[i].header, cases[i].data, &size);
        CHECK_FAIL(parse_copy(b, size, "case.safetensors", NULL, NULL), ATTN_STATUS_BAD_ARGUMENT,
                   "safetensors file 'case.safetensors'", cases[i].why1,
                   cases[i].why2 ? cases[i].why2 : "");
        free(b);
    }
    io_begin("bad header: NUL padding");
    const char *h = "{" T("a", "F32", "[2]", "[0,8]") "}";
    size_t hl = strlen(h), size = 8 + hl + 6 + 8;
    unsigned char *b = calloc(size, 1);
    b[0] = (unsigned char)(hl + 6);
    memcpy(b + 8, h, hl);
    CHECK_FAIL(parse_copy(b, size, "nul", NULL, NULL), ATTN_STATUS_BAD_ARGUMENT,
               "header is not valid JSON", "unexpected byte 0x00 after the end");
    free(b);
}

/* The small valid file used for truncation and flips. */
static unsigned char *small_file(size_t *size) {
    float w[3] = {1, 2, 3};
    uint16_t h[2] = {0x3c00, 0xc000};
    int64_t s3[1] = {3}, s21[2] = {2, 1};
    attn__st_entry_t e[2] = {{"w", ATTN__ST_F32, 1, s3, w}, {"h", ATTN__ST_F16, 2, s21, h}};
    attn__st_meta_t m = {"k", "v"};
    void *mem = NULL;
    CHECK_OK(attn__st_serialize(&mem, size, e, 2, &m, 1));
    return mem;
}

static void truncations(void) {
    size_t size;
    unsigned char *b = small_file(&size);
    CHECK_OK(parse_copy(b, size, "small", NULL, NULL));
    for (size_t len = 0; len < size; len++) {
        io_begin("truncated to %zu of %zu bytes", len, size);
        CHECK_FAIL(parse_copy(b, len, "small", NULL, NULL), ATTN_STATUS_BAD_ARGUMENT,
                   "safetensors file 'small'", len < 8 ? "fewer than the 8" : "");
    }
    io_begin("one byte appended");
    unsigned char *longer = malloc(size + 1);
    memcpy(longer, b, size);
    longer[size] = 0;
    CHECK_FAIL(parse_copy(longer, size + 1, "small", NULL, NULL), ATTN_STATUS_BAD_ARGUMENT,
               "belong to no tensor");
    free(longer);
    free(b);
}

/* Flipping bits anywhere must never crash; flips inside the data keep the file valid. */
static void flips(void) {
    size_t size;
    unsigned char *b = small_file(&size);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | b[k];
    static const unsigned char masks[] = {0x01, 0x02, 0x10, 0x20, 0x40, 0x80, 0xFF};
    long accepted = 0, header_accepted = 0;
    for (size_t i = 0; i < size; i++)
        for (size_t m = 0; m < sizeof masks; m++) {
            io_begin("flip 0x%02X at byte %zu", masks[m], i);
            b[i] ^= masks[m];
            attn__st_file_t *f = NULL;
            unsigned char *copy = NULL;
            attn_status_t st = parse_copy(b, size, "flipped", &f, &copy);
            CHECK(st == ATTN_STATUS_OK || st == ATTN_STATUS_BAD_ARGUMENT, "status %s",
                  attn_status_string(st));
            if (st == ATTN_STATUS_OK) {
                accepted++;
                if (i < 8 + hlen) header_accepted++;
                for (int64_t k = 0; k < attn__st_count(f); k++) {
                    const attn__st_tensor_t *t = attn__st_tensor(f, k);
                    CHECK(t->end <= size - 8 - hlen, "tensor past the end");
                }
                attn__st_close(f);
                free(copy);
            } else {
                CHECK(attn_last_error()[0] != '\0', "no message");
            }
            b[i] ^= masks[m];
        }
    io_begin("flips");
    size_t data_bytes = size - 8 - hlen;
    CHECK(accepted >= (long)(data_bytes * sizeof masks), "only %ld flips accepted", accepted);
    printf("flips: %ld of %zu accepted (%ld in the length or header, e.g. spaces and letters "
           "of names)\n", accepted, size * sizeof masks, header_accepted);
    free(b);
}

static void header_lengths(void) {
    size_t size;
    unsigned char *b = small_file(&size);
    static const uint64_t lens[] = {UINT64_MAX, (uint64_t)1 << 63, 100000001ull, 0};
    for (size_t i = 0; i < sizeof lens / sizeof *lens + 1; i++) {
        uint64_t n = i < sizeof lens / sizeof *lens ? lens[i] : size - 8 + 1;
        io_begin("header length %llu", (unsigned long long)n);
        for (int k = 0; k < 8; k++) b[k] = (unsigned char)(n >> (8 * k));
        CHECK_FAIL(parse_copy(b, size, "len", NULL, NULL), ATTN_STATUS_BAD_ARGUMENT,
                   n == 0 ? "header is empty" : "header length field says");
    }
    free(b);
}

/* ---- writer arguments and files ------------------------------------------------------------ */

static void writer_errors(void) {
    float x[2] = {1, 2};
    int64_t s2[1] = {2}, neg[1] = {-1}, big[2] = {INT64_MAX, 2};
    int64_t s17[17];
    for (int i = 0; i < 17; i++) s17[i] = 1;
    void *mem = NULL;
    size_t size = 0;
    struct {
        attn__st_entry_t e[2];
        int n;
        attn__st_meta_t m[2];
        int nm;
        attn_status_t st;
        const char *why;
    } cases[] = {
        {{{"a", ATTN__ST_F32, 1, s2, x}, {"a", ATTN__ST_F16, 1, s2, x}}, 2, {{0}}, 0,
         ATTN_STATUS_BAD_ARGUMENT, "'a' given twice"},
        {{{"__metadata__", ATTN__ST_F32, 1, s2, x}}, 1, {{0}}, 0, ATTN_STATUS_BAD_ARGUMENT,
         "reserved"},
        {{{"bad\xc3", ATTN__ST_F32, 1, s2, x}}, 1, {{0}}, 0, ATTN_STATUS_BAD_ARGUMENT,
         "not valid UTF-8"},
        {{{NULL, ATTN__ST_F32, 1, s2, x}}, 1, {{0}}, 0, ATTN_STATUS_NULL_POINTER, "no name"},
        {{{"a", ATTN__ST_F32, 1, neg, x}}, 1, {{0}}, 0, ATTN_STATUS_BAD_SHAPE, "is -1"},
        {{{"a", ATTN__ST_F32, 17, s17, x}}, 1, {{0}}, 0, ATTN_STATUS_BAD_SHAPE, "17 dim"},
        {{{"a", ATTN__ST_F32, 1, NULL, x}}, 1, {{0}}, 0, ATTN_STATUS_BAD_SHAPE, "no shape"},
        {{{"a", ATTN__ST_F32, 2, big, x}}, 1, {{0}}, 0, ATTN_STATUS_OVERFLOW, "overflows"},
        {{{"a", ATTN__ST_F32, 1, s2, NULL}}, 1, {{0}}, 0, ATTN_STATUS_NULL_POINTER, "no data"},
        {{{"a", (attn__st_dtype_t)99, 1, s2, x}}, 1, {{0}}, 0, ATTN_STATUS_BAD_ARGUMENT,
         "invalid dtype"},
        {{{0}}, 0, {{"k", "v"}, {"k", "w"}}, 2, ATTN_STATUS_BAD_ARGUMENT, "'k' given twice"},
        {{{0}}, 0, {{"k", "\xff"}}, 1, ATTN_STATUS_BAD_ARGUMENT, "not valid UTF-8"},
        {{{0}}, 0, {{NULL, "v"}}, 1, ATTN_STATUS_NULL_POINTER, "NULL key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        io_begin("writer error %zu: %s", i, cases[i].why);
        CHECK_FAIL(attn__st_serialize(&mem, &size, cases[i].e, cases[i].n, cases[i].m,
                                      cases[i].nm), cases[i].st, cases[i].why);
        CHECK(mem == NULL, "output left behind");
    }
    io_begin("writer: negative count");
    CHECK_FAIL(attn__st_serialize(&mem, &size, NULL, -1, NULL, 0), ATTN_STATUS_BAD_ARGUMENT,
               "counts must be >= 0");
}

static int count_temporaries(void) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));) n += strstr(de->d_name, ".tmp-") != NULL;
    if (d) closedir(d);
    return n;
}

static void files(void) {
    char path[128], missing[160];
    path_in(path, sizeof path, "over.safetensors");
    float a = 1, b = 2;
    int64_t s1[1] = {1};
    attn__st_entry_t ea = {"x", ATTN__ST_F32, 1, s1, &a}, eb = {"x", ATTN__ST_F32, 1, s1, &b};

    io_begin("overwrite");
    CHECK_OK(attn__st_write(path, &ea, 1, NULL, 0));
    CHECK_OK(attn__st_write(path, &eb, 1, NULL, 0));
    attn__st_file_t *f = NULL;
    CHECK_OK(attn__st_open(&f, path));
    CHECK(f && memcmp(attn__st_find(f, "x")->data, &b, 4) == 0, "old content");
    attn__st_close(f);
    CHECK(count_temporaries() == 0, "temporary files left behind");

    /* what killed writers left: a file of a dead process untouched for an hour goes at the
     * next save; a recent one, or one of a live process, stays */
    io_begin("stale temporaries");
    pid_t child = fork();
    if (child == 0) _exit(0);
    waitpid(child, NULL, 0);
    char stale[200], recent[200], alive[200];
    snprintf(stale, sizeof stale, "%s.tmp-%ld-0", path, (long)child);
    snprintf(recent, sizeof recent, "%s.tmp-%ld-1", path, (long)child);
    snprintf(alive, sizeof alive, "%s.tmp-%ld-0", path, (long)getppid());
    CHECK(io_spit(stale, "x", 1) == 0 && io_spit(recent, "x", 1) == 0 &&
          io_spit(alive, "x", 1) == 0, "cannot write the temporaries");
    struct timespec old[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
    CHECK(utimensat(AT_FDCWD, stale, old, 0) == 0 && utimensat(AT_FDCWD, alive, old, 0) == 0,
          "cannot age the temporaries");
    CHECK_OK(attn__st_write(path, &ea, 1, NULL, 0));
    CHECK(access(stale, F_OK) != 0, "the stale temporary is still there");
    CHECK(access(recent, F_OK) == 0 && access(alive, F_OK) == 0, "a temporary that may be in "
          "use was removed");
    unlink(recent);
    unlink(alive);
    CHECK(count_temporaries() == 0, "temporary files left behind");
    unlink(path);

    io_begin("missing directory");
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.safetensors", dir);
    CHECK_FAIL(attn__st_write(missing, &ea, 1, NULL, 0), ATTN_STATUS_BAD_ARGUMENT,
               "cannot create the temporary file", "x.safetensors");
    CHECK(access(missing, F_OK) != 0, "file created");

    io_begin("unreadable paths");
    CHECK_FAIL(attn__st_open(&f, missing), ATTN_STATUS_BAD_ARGUMENT, "cannot open it",
               "No such file");
    CHECK(f == NULL, "handle left");
    CHECK_FAIL(attn__st_open(&f, dir), ATTN_STATUS_BAD_ARGUMENT, "not a regular file");
    path_in(path, sizeof path, "empty.safetensors");
    CHECK(io_spit(path, "", 0) == 0, "cannot write");
    CHECK_FAIL(attn__st_open(&f, path), ATTN_STATUS_BAD_ARGUMENT, "has 0 bytes");
    unlink(path);
    CHECK_FAIL(attn__st_write("", &ea, 1, NULL, 0), ATTN_STATUS_BAD_ARGUMENT, "no file name");
    CHECK_FAIL(attn__st_write("somedir/", &ea, 1, NULL, 0), ATTN_STATUS_BAD_ARGUMENT,
               "names a directory");
    CHECK_FAIL(attn__st_parse(&f, NULL, 5, "x"), ATTN_STATUS_NULL_POINTER, "bytes is NULL");
    CHECK_FAIL(attn__st_parse(&f, NULL, 0, "x"), ATTN_STATUS_BAD_ARGUMENT, "has 0 bytes");
}

int main(void) {
    double t0 = io_seconds();
    snprintf(dir, sizeof dir, "st-test-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    round_trip();
    known_bytes();
    bad_headers();
    truncations();
    flips();
    header_lengths();
    writer_errors();
    files();
    rmdir(dir);
    return io_finish("test_safetensors", t0);
}
