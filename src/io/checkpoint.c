#include "io/checkpoint.h"
#include "core/half.h"
#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_KEY "attn.format"
#define FORMAT_VALUE "checkpoint-1"
#define OPT_PREFIX "optimizer."
#define OPT_M "optimizer.m."
#define OPT_V "optimizer.v."
#define OPT_STEP "optimizer.step"

enum { NAME_CAP = ATTN__PARAM_NAME + 16 };

static void shape_str(int32_t ndim, const int64_t *shape, char *out, size_t cap) {
    size_t o = (size_t)snprintf(out, cap, "[");
    for (int32_t d = 0; d < ndim && o < cap; d++)
        o += (size_t)snprintf(out + o, cap - o, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (o < cap) snprintf(out + o, cap - o, "]");
}

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- saving -------------------------------------------------------------------------------- */

static attn_status_t save(const char *path, const attn__params_t *ps,
                          const attn__ckpt_optim_t *opt, attn__st_dtype_t dtype,
                          const attn__st_meta_t *meta, int64_t meta_count) {
    if (!path || !ps)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "attn__ckpt_save: path or ps is NULL");
    if (dtype != ATTN__ST_F32 && dtype != ATTN__ST_F16 && dtype != ATTN__ST_BF16)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot save '%s' with %s weights; a "
                          "checkpoint's weights are F32, F16 or BF16", path,
                          attn__st_dtype_name(dtype) ? attn__st_dtype_name(dtype) : "unknown");
    if (!ps->w)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot save '%s': the parameter store has "
                          "no weights yet; call attn__params_alloc first", path);
    if (opt && (!opt->m || !opt->v))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "cannot save '%s': optimizer state given "
                          "without its m or v buffer; pass both, or opt = NULL", path);
    if (meta_count < 0 || (meta_count > 0 && !meta))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot save '%s': %lld metadata pairs "
                          "without an array", path, (long long)meta_count);
    for (int64_t i = 0; i < meta_count; i++)
        if (meta[i].key && strcmp(meta[i].key, FORMAT_KEY) == 0)
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot save '%s': metadata key '"
                              FORMAT_KEY "' is reserved for the checkpoint writer", path);
    for (int32_t i = 0; i < ps->count; i++)
        if (starts_with(ps->list[i].name, OPT_PREFIX))
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot save '%s': parameter '%s' is "
                              "in the '" OPT_PREFIX "' namespace that holds optimizer state; "
                              "rename it", path, ps->list[i].name);

    int64_t per = opt ? 3 : 1;
    int64_t count = ps->count * per + (opt ? 1 : 0);
    attn__st_entry_t *e = malloc(sizeof *e * (size_t)(count > 0 ? count : 1));
    attn__st_meta_t *m = malloc(sizeof *m * (size_t)(meta_count + 1));
    char *names = opt ? malloc((size_t)ps->count * 2 * NAME_CAP + 1) : NULL;
    uint16_t *half = dtype != ATTN__ST_F32 ? malloc(sizeof *half * (size_t)(ps->total + 1))
                                           : NULL;
    if (!e || !m || (opt && !names) || (dtype != ATTN__ST_F32 && !half)) {
        free(e);
        free(m);
        free(names);
        free(half);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "cannot save '%s': out of memory", path);
    }
    for (int64_t j = 0; half && j < ps->total; j++)
        half[j] = dtype == ATTN__ST_F16 ? attn__f32_to_f16(ps->w[j]) : attn__f32_to_bf16(ps->w[j]);
    int64_t n = 0;
    for (int32_t i = 0; i < ps->count; i++) {
        const attn__param_t *p = &ps->list[i];
        for (int64_t k = 0; k < per; k++) {
            attn__st_entry_t *x = &e[n++];
            x->dtype = ATTN__ST_F32;
            x->ndim = p->ndim;
            x->shape = p->shape;
            if (k == 0) {
                x->name = p->name;
                x->dtype = dtype;
                x->data = half ? (const void *)(half + p->offset)
                               : (const void *)(ps->w + p->offset);
            } else {
                char *name = names + ((size_t)i * 2 + (size_t)(k - 1)) * NAME_CAP;
                snprintf(name, NAME_CAP, "%s%s", k == 1 ? OPT_M : OPT_V, p->name);
                x->name = name;
                x->data = (k == 1 ? opt->m : opt->v) + p->offset;
            }
        }
    }
    if (opt) {
        e[n].name = OPT_STEP;
        e[n].dtype = ATTN__ST_I64;
        e[n].ndim = 0;
        e[n].shape = NULL;
        e[n].data = &opt->step;
        n++;
    }
    for (int64_t i = 0; i < meta_count; i++) m[i] = meta[i];
    m[meta_count].key = FORMAT_KEY;
    m[meta_count].value = FORMAT_VALUE;
    attn_status_t st = attn__st_write(path, e, n, m, meta_count + 1);
    free(e);
    free(m);
    free(names);
    free(half);
    return st;
}

attn_status_t attn__ckpt_save(const char *path, const attn__params_t *ps,
                              const attn__ckpt_optim_t *opt, const attn__st_meta_t *meta,
                              int64_t meta_count) {
    return save(path, ps, opt, ATTN__ST_F32, meta, meta_count);
}

attn_status_t attn__ckpt_save_weights(const char *path, const attn__params_t *ps,
                                      attn__st_dtype_t dtype, const attn__st_meta_t *meta,
                                      int64_t meta_count) {
    return save(path, ps, NULL, dtype, meta, meta_count);
}

/* ---- loading ------------------------------------------------------------------------------- */

/* Which model the file seems to be for, from its metadata, for mismatch messages. */
static void origin(const attn__st_file_t *f, char *out, size_t cap) {
    const char *model = attn__st_meta_get(f, "model"), *config = attn__st_meta_get(f, "config");
    if (model || config) {
        snprintf(out, cap, "%s%s%s%s%.240s%s", model ? "model '" : "", model ? model : "",
                 model ? "'" : "", model && config ? ", config " : config ? "config " : "",
                 config ? config : "", config && strlen(config) > 240 ? "..." : "");
        return;
    }
    const attn__st_tensor_t *t = attn__st_count(f) > 0 ? attn__st_tensor(f, 0) : NULL;
    char shape[160] = "";
    if (t) shape_str(t->ndim, t->shape, shape, sizeof shape);
    snprintf(out, cap, "a model this file does not describe (no 'model' or 'config' metadata; "
             "%lld tensors%s%.100s%s%s)", (long long)attn__st_count(f), t ? ", e.g. '" : "",
             t ? t->name : "", t ? "' " : "", shape);
}

/* The tensor called name must exist with p's shape, as F32 (or F16 / BF16 when half_ok). */
static attn_status_t check_one(const attn__st_file_t *f, const char *name,
                               const attn__param_t *p, bool half_ok,
                               const attn__st_tensor_t **out) {
    const char *path = attn__st_label(f);
    char want[160], got[160], from[480];
    shape_str(p->ndim, p->shape, want, sizeof want);
    const attn__st_tensor_t *t = attn__st_find(f, name);
    if (!t) {
        origin(f, from, sizeof from);
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "checkpoint '%s': tensor '%s' %s is "
                          "missing; the file looks like it belongs to %s", path, name, want,
                          from);
    }
    bool half = t->dtype == ATTN__ST_F16 || t->dtype == ATTN__ST_BF16;
    if (t->dtype != ATTN__ST_F32 && !(half && half_ok))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "checkpoint '%s': tensor '%s' is %s; "
                          "%s (convert the file to float32)", path, name,
                          attn__st_dtype_name(t->dtype),
                          half_ok ? "weights are F32, F16 or BF16"
                                  : "optimizer state is F32");
    bool same = t->ndim == p->ndim;
    for (int32_t d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
    if (!same) {
        shape_str(t->ndim, t->shape, got, sizeof got);
        origin(f, from, sizeof from);
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "checkpoint '%s': tensor '%s' has shape %s "
                          "in the file but the model expects %s; the file looks like it "
                          "belongs to %s: build the model with that configuration, or load a "
                          "checkpoint of this one", path, name, got, want, from);
    }
    *out = t;
    return ATTN_STATUS_OK;
}

/* Every tensor of the file must be one the load will use (optimizer state only when wanted). */
static attn_status_t check_extra(const attn__st_file_t *f, const attn__params_t *ps,
                                 bool want_opt) {
    for (int64_t i = 0; i < attn__st_count(f); i++) {
        const attn__st_tensor_t *t = attn__st_tensor(f, i);
        const char *base = t->name;
        if (starts_with(base, OPT_PREFIX)) {
            if (!want_opt || strcmp(base, OPT_STEP) == 0) continue;
            if (starts_with(base, OPT_M)) base += strlen(OPT_M);
            else if (starts_with(base, OPT_V)) base += strlen(OPT_V);
            else
                return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "checkpoint '%s': unknown optimizer "
                                  "tensor '%s'; expected " OPT_M "<name>, " OPT_V "<name> and "
                                  OPT_STEP, attn__st_label(f), t->name);
        }
        if (attn__params_find(ps, base) < 0) {
            char shape[160], from[480];
            shape_str(t->ndim, t->shape, shape, sizeof shape);
            origin(f, from, sizeof from);
            return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "checkpoint '%s': tensor '%s' %s is not "
                              "in the model (which has %d tensors); the file looks like it "
                              "belongs to %s", attn__st_label(f), t->name, shape,
                              (int)ps->count, from);
        }
    }
    return ATTN_STATUS_OK;
}

static attn_status_t copy_meta(const attn__st_file_t *f, attn__ckpt_meta_t *meta) {
    size_t bytes = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < attn__st_meta_count(f); i++) {
        const attn__st_meta_t *kv = attn__st_meta_at(f, i);
        if (strcmp(kv->key, FORMAT_KEY) == 0) continue;
        bytes += strlen(kv->key) + strlen(kv->value) + 2;
        count++;
    }
    meta->items = malloc(sizeof *meta->items * (size_t)(count > 0 ? count : 1));
    meta->storage = malloc(bytes > 0 ? bytes : 1);
    if (!meta->items || !meta->storage)
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "checkpoint '%s': out of memory for its "
                          "metadata", attn__st_label(f));
    char *s = meta->storage;
    for (int64_t i = 0; i < attn__st_meta_count(f); i++) {
        const attn__st_meta_t *kv = attn__st_meta_at(f, i);
        if (strcmp(kv->key, FORMAT_KEY) == 0) continue;
        size_t nk = strlen(kv->key) + 1, nv = strlen(kv->value) + 1;
        memcpy(s, kv->key, nk);
        memcpy(s + nk, kv->value, nv);
        meta->items[meta->count].key = s;
        meta->items[meta->count].value = s + nk;
        meta->count++;
        s += nk + nv;
    }
    return ATTN_STATUS_OK;
}

static attn_status_t load_checked(const attn__st_file_t *f, attn__params_t *ps,
                                  attn__ckpt_optim_t *opt, attn__ckpt_meta_t *meta) {
    const char *path = attn__st_label(f);
    const char *format = attn__st_meta_get(f, FORMAT_KEY);
    if (format && strcmp(format, FORMAT_VALUE) != 0)
        return attn__fail(ATTN_STATUS_UNSUPPORTED, "checkpoint '%s' has format '%.80s'; this "
                          "build reads '" FORMAT_VALUE "' (was it written by a newer attn?)",
                          path, format);
    const attn__st_tensor_t *step = attn__st_find(f, OPT_STEP);
    if (meta) meta->has_optimizer = step != NULL;
    if (meta && copy_meta(f, meta) != ATTN_STATUS_OK) return ATTN_STATUS_OUT_OF_MEMORY;
    if (opt && !step)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "checkpoint '%s' holds no optimizer state "
                          "(no '" OPT_STEP "'; it was saved with weights only); load it with "
                          "opt = NULL and start the optimizer afresh", path);
    if (opt && (!opt->m || !opt->v))
        return attn__fail(ATTN_STATUS_NULL_POINTER, "loading '%s': opt->m or opt->v is NULL; "
                          "give buffers of ps->total floats, or opt = NULL", path);
    if (opt && (step->dtype != ATTN__ST_I64 || step->ndim != 0))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "checkpoint '%s': '" OPT_STEP "' must be "
                          "an I64 scalar, not %s with %d dimensions", path,
                          attn__st_dtype_name(step->dtype), (int)step->ndim);
    attn_status_t st = check_extra(f, ps, opt != NULL);
    if (st != ATTN_STATUS_OK) return st;
    /* check everything, then copy: a failed load changes nothing */
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t i = 0; i < ps->count; i++) {
            const attn__param_t *p = &ps->list[i];
            for (int k = 0; k < (opt ? 3 : 1); k++) {
                char name[NAME_CAP];
                snprintf(name, sizeof name, "%s%s", k == 0 ? "" : k == 1 ? OPT_M : OPT_V,
                         p->name);
                const attn__st_tensor_t *t = NULL;
                st = check_one(f, name, p, k == 0, &t);
                if (st != ATTN_STATUS_OK) return st;
                float *dst = (k == 0 ? ps->w : k == 1 ? opt->m : opt->v) + p->offset;
                if (pass == 0) continue;
                if (t->dtype == ATTN__ST_F32) {
                    memcpy(dst, t->data, sizeof(float) * (size_t)p->numel);
                    continue;
                }
                const unsigned char *h = t->data; /* little-endian, maybe unaligned */
                for (int64_t j = 0; j < p->numel; j++) {
                    uint16_t u;
                    memcpy(&u, h + 2 * j, sizeof u);
                    dst[j] = t->dtype == ATTN__ST_F16 ? attn__f16_to_f32(u) : attn__bf16_to_f32(u);
                }
            }
        }
    }
    if (opt) memcpy(&opt->step, step->data, sizeof opt->step);
    return ATTN_STATUS_OK;
}

attn_status_t attn__ckpt_load(const char *path, attn__params_t *ps, attn__ckpt_optim_t *opt,
                              attn__ckpt_meta_t *meta) {
    if (meta) memset(meta, 0, sizeof *meta);
    if (!path || !ps)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "attn__ckpt_load: path or ps is NULL");
    if (!ps->w)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot load '%s': the parameter store has "
                          "no weights yet; register its tensors and call attn__params_alloc "
                          "first", path);
    attn__st_file_t *f;
    attn_status_t st = attn__st_open(&f, path);
    if (st != ATTN_STATUS_OK) return st;
    st = load_checked(f, ps, opt, meta);
    attn__st_close(f);
    return st;
}

void attn__ckpt_meta_free(attn__ckpt_meta_t *meta) {
    if (!meta) return;
    free(meta->items);
    free(meta->storage);
    memset(meta, 0, sizeof *meta);
}

const char *attn__ckpt_meta_get(const attn__ckpt_meta_t *meta, const char *key) {
    for (int64_t i = 0; i < meta->count; i++)
        if (strcmp(meta->items[i].key, key) == 0) return meta->items[i].value;
    return NULL;
}
