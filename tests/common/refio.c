#include "refio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ref_load(ref_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "refio: cannot open %s (did the PyTorch generator run?)\n", path);
        return -1;
    }
    char magic[8];
    if (fread(magic, 1, 8, fp) != 8 || memcmp(magic, "ATTNREF1", 8) != 0) {
        fprintf(stderr, "refio: %s is not a reference file\n", path);
        fclose(fp);
        return -1;
    }
    for (;;) {
        ref_tensor t;
        memset(&t, 0, sizeof t);
        size_t got = fread(t.name, 1, 64, fp);
        if (got == 0) break;
        if (got != 64 || fread(&t.ndim, 4, 1, fp) != 1 || fread(t.shape, 8, 4, fp) != 4 ||
            t.ndim < 0 || t.ndim > 4) {
            fprintf(stderr, "refio: %s is truncated or malformed\n", path);
            goto fail;
        }
        t.name[63] = '\0';
        t.numel = 1;
        for (int d = 0; d < t.ndim; d++) t.numel *= t.shape[d];
        t.data = malloc(sizeof(float) * (size_t)(t.numel > 0 ? t.numel : 1));
        if (!t.data || fread(t.data, 4, (size_t)t.numel, fp) != (size_t)t.numel) {
            fprintf(stderr, "refio: %s: tensor %s is truncated\n", path, t.name);
            free(t.data);
            goto fail;
        }
        ref_tensor *grown = realloc(f->t, sizeof *grown * (size_t)(f->count + 1));
        if (!grown) { free(t.data); goto fail; }
        f->t = grown;
        f->t[f->count++] = t;
    }
    fclose(fp);
    return 0;
fail:
    fclose(fp);
    ref_free(f);
    return -1;
}

const ref_tensor *ref_get(const ref_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    fprintf(stderr, "refio: no tensor named '%s' in the reference file\n", name);
    return NULL;
}

void ref_free(ref_file *f) {
    for (int i = 0; i < f->count; i++) free(f->t[i].data);
    free(f->t);
    memset(f, 0, sizeof *f);
}
