/* Writes the seed corpus of fuzz_safetensors into a directory: valid files of every kind the
 * writer produces (each dtype, scalars, empty tensors, metadata with escapes, no tensors) and
 * damaged variants (truncated, a gap, an overlap, a duplicate name, bad numbers, bad JSON).
 *
 *   io_fuzz_seeds <dir> */
#include "io/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;
static int count;

static void put(const void *data, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%03d", dir, count++);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, n, fp) != n || fclose(fp) != 0) {
        fprintf(stderr, "io_fuzz_seeds: cannot write %s\n", path);
        exit(1);
    }
}

/* A file with this header text and data_len bytes of data. */
static void raw(const char *header, size_t data_len) {
    size_t n = strlen(header), size = 8 + n + data_len;
    unsigned char *b = calloc(size, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, header, n);
    put(b, size);
    free(b);
}

static void valid(const attn__st_entry_t *e, int64_t n, const attn__st_meta_t *m, int64_t nm,
                  int damage) {
    void *mem;
    size_t size;
    if (attn__st_serialize(&mem, &size, e, n, m, nm) != ATTN_STATUS_OK) {
        fprintf(stderr, "io_fuzz_seeds: %s\n", attn_last_error());
        exit(1);
    }
    put(mem, size);
    if (damage && size > 12) {
        put(mem, size - 1);       /* last data byte missing */
        put(mem, 8 + (size - 8) / 2); /* cut in the header */
    }
    free(mem);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: io_fuzz_seeds <dir>\n");
        return 2;
    }
    dir = argv[1];
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++) bytes[i] = (unsigned char)(i * 37 + 5);
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s04[2] = {0, 4}, s1111[4] = {1, 1, 1, 2};
    attn__st_entry_t all[] = {
        {"w", ATTN__ST_F32, 2, s23, bytes}, {"h", ATTN__ST_F16, 1, s4, bytes},
        {"b", ATTN__ST_BF16, 1, s4, bytes}, {"d", ATTN__ST_F64, 1, s4, bytes},
        {"i", ATTN__ST_I64, 0, NULL, bytes}, {"n", ATTN__ST_I32, 4, s1111, bytes},
        {"u", ATTN__ST_U8, 1, s4, bytes},    {"q", ATTN__ST_BOOL, 1, s4, bytes},
        {"e", ATTN__ST_F32, 2, s04, bytes},  {"caf\xc3\xa9", ATTN__ST_F8_E4M3, 1, s4, bytes},
    };
    attn__st_meta_t meta[] = {{"config", "{\"d\": 4}"}, {"esc", "a\n\"\\\x01 \xe2\x82\xac"}};
    valid(all, 10, meta, 2, 1);
    valid(all, 1, NULL, 0, 1);
    valid(all + 4, 1, meta, 1, 0);
    valid(all + 8, 1, NULL, 0, 0);
    valid(NULL, 0, NULL, 0, 0);
    valid(NULL, 0, meta, 2, 0);
    for (int i = 0; i < 10; i++) valid(all + i, 1, NULL, 0, 0);

#define E(b, e) "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" #b "," #e "]}"
    raw("{\"a\":" E(0, 4) ",\"b\":" E(8, 12) "}", 12);  /* gap */
    raw("{\"a\":" E(0, 4) ",\"b\":" E(2, 6) "}", 6);    /* overlap */
    raw("{\"a\":" E(0, 4) ",\"a\":" E(4, 8) "}", 8);    /* duplicate */
    raw("{\"a\":" E(4, 0) "}", 4);                      /* reversed */
    raw("{\"a\":" E(0, 4) "}", 5);                      /* trailing byte */
    raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
    raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0);
    raw("{\"a\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,1]}}", 1);
    raw("{\"__metadata__\":{\"k\":1}}", 0);
    raw("{\"a\":" E(0, 4) ",}", 4);
    raw("[{\"a\":1}]", 0);
    raw("{\"\\ud83d\\ude00\\u0041\":" E(0, 4) "}   ", 4);
    printf("io_fuzz_seeds: %d seeds in %s\n", count, dir);
    return 0;
}
