/* Every error path of attn_forward, attn_backward and attn_probs: the right status code, a
 * non-empty attn_last_error() that names the offending argument (as a whole word: "o.data"
 * does not match inside "d_o.data"), and no crash (the suite also runs under ASan/UBSan).
 *
 * Each expectation starts from a valid call (B=2, Hq=4, Hkv=2, Nq=7, Nk=5, D=3, Dv=2, a float
 * bias [B, Hq, Nq, Nk], key_lens, contiguous tensors), changes one thing, and runs it through
 * the chosen entry points. Before each call a different error is provoked, so a stale message
 * cannot pass for the new one. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, HQ = 4, HKV = 2, NQ = 7, NK = 5, D = 3, DV = 2 };

static float qbuf[B * HQ * NQ * D], kbuf[B * HKV * NK * D], vbuf[B * HKV * NK * DV];
static float obuf[B * HQ * NQ * DV], dobuf[B * HQ * NQ * DV], lsebuf[B * HQ * NQ];
static float dqbuf[B * HQ * NQ * D], dkbuf[B * HKV * NK * D], dvbuf[B * HKV * NK * DV];
static float biasbuf[B * HQ * NQ * NK], dbiasbuf[B * HQ * NQ * NK], pbuf[NQ * (NK + 4)];
static uint8_t boolbuf[B * HQ * NQ * NK];
static int64_t klens[B] = {NK, 2};

typedef struct {
    attn_shape_t shape;
    const attn_shape_t *shp;
    attn_params_t params;
    attn_src_t q, k, v, o_in, d_o;
    attn_dst_t o, dq, dk, dv, dbias;
    float *lse;
    int64_t b, h, q_start, q_count, ld_out;
    float *out;
} call_t;

static attn_src_t src(const float *p, int64_t sb, int64_t sh, int64_t sn) {
    return attn_src_f32(p, sb, sh, sn);
}

static void base_call(call_t *c) {
    attn_shape_t s = {B, HQ, HKV, NQ, NK, D, DV};
    c->shape = s;
    c->shp = &c->shape;
    c->params = attn_default_params();
    c->params.kernel = ATTN_KERNEL_FUSED;
    c->params.key_lens = klens;
    c->params.mask.kind = ATTN_MASK_BIAS;
    c->params.mask.data = biasbuf;
    const int64_t ms[4] = {B, HQ, NQ, NK}, mst[4] = {HQ * NQ * NK, NQ * NK, NK, 1};
    for (int d = 0; d < 4; d++) {
        c->params.mask.shape[d] = ms[d];
        c->params.mask.stride[d] = mst[d];
    }
    c->q = src(qbuf, HQ * NQ * D, NQ * D, D);
    c->k = src(kbuf, HKV * NK * D, NK * D, D);
    c->v = src(vbuf, HKV * NK * DV, NK * DV, DV);
    c->o_in = src(obuf, HQ * NQ * DV, NQ * DV, DV);
    c->d_o = src(dobuf, HQ * NQ * DV, NQ * DV, DV);
    c->o = attn_dst_f32(obuf, HQ * NQ * DV, NQ * DV, DV);
    c->dq = attn_dst_f32(dqbuf, HQ * NQ * D, NQ * D, D);
    c->dk = attn_dst_f32(dkbuf, HKV * NK * D, NK * D, D);
    c->dv = attn_dst_f32(dvbuf, HKV * NK * DV, NK * DV, DV);
    c->dbias = attn_dst_f32(dbiasbuf, HQ * NQ * NK, NQ * NK, NK);
    c->lse = lsebuf;
    c->b = 1; c->h = 3; c->q_start = 2; c->q_count = 4; c->ld_out = NK + 4;
    c->out = pbuf;
}

static attn_status_t run(int which, call_t *c) {
    switch (which) {
    case 0: return attn_forward(c->shp, &c->params, c->q, c->k, c->v, c->o, c->lse);
    case 1: return attn_backward(c->shp, &c->params, c->q, c->k, c->v, c->o_in, c->lse, c->d_o,
                                 c->dq, c->dk, c->dv, c->dbias);
    default: return attn_probs(c->shp, &c->params, c->q, c->k, c->lse, c->b, c->h, c->q_start,
                               c->q_count, c->out, c->ld_out);
    }
}

/* name occurs in msg as a whole word (neighbours are not letters, digits or '_') */
static int mentions(const char *msg, const char *name) {
    size_t n = strlen(name);
    for (const char *s = strstr(msg, name); s; s = strstr(s + 1, name)) {
        int before = s > msg && (isalnum((unsigned char)s[-1]) || s[-1] == '_');
        int after = isalnum((unsigned char)s[n]) || s[n] == '_';
        if (!before && !after) return 1;
    }
    return 0;
}

/* names: '|'-separated; the message must mention at least one */
static int mentions_any(const char *msg, const char *names) {
    char buf[200];
    snprintf(buf, sizeof buf, "%s", names);
    for (char *tok = strtok(buf, "|"); tok; tok = strtok(NULL, "|"))
        if (mentions(msg, tok)) return 1;
    return 0;
}

static const char *const entry[3] = {"attn_forward", "attn_backward", "attn_probs"};
enum { FWD = 1, BWD = 2, PRB = 4, ALL = 7 };

/* Provokes an error unrelated to `names` so that a message left over cannot pass. */
static void provoke_other(const char *names) {
    call_t c;
    base_call(&c);
    if (strstr(names, "causal")) c.params.kernel = (attn_kernel_t)88;
    else c.params.causal = (attn_causal_t)77;
    (void)run(0, &c);
}

static void expect(int which, call_t *c, attn_status_t want, const char *names,
                   const char *what) {
    for (int e = 0; e < 3; e++) {
        if (!(which & (1 << e))) continue;
        provoke_other(names);
        char before[1100];
        snprintf(before, sizeof before, "%s", attn_last_error());
        attn_status_t got = run(e, c);
        const char *msg = attn_last_error();
        tu_begin("%s: %s", entry[e], what);
        CHECK(got == want, "status %d (%s), want %d (%s); message: %s", (int)got,
              attn_status_string(got), (int)want, attn_status_string(want), msg);
        if (want == ATTN_STATUS_OK) continue;
        CHECK(msg && msg[0] != '\0', "attn_last_error() is empty");
        CHECK(strcmp(msg, before) != 0, "attn_last_error() still holds the previous message");
        CHECK(mentions_any(msg, names), "message does not name '%s': \"%s\"", names, msg);
    }
}

/* EXPECT(entry points, status, names, statements changing the valid call `c`) */
#define EXPECT(which, want, names, ...)                                                       \
    do {                                                                                      \
        call_t c;                                                                             \
        base_call(&c);                                                                        \
        { __VA_ARGS__; }                                                                      \
        expect(which, &c, want, names, #__VA_ARGS__);                                         \
    } while (0)

static void valid_calls(void) {
    EXPECT(ALL, ATTN_STATUS_OK, "", (void)c);
    EXPECT(ALL, ATTN_STATUS_OK, "", c.params.kernel = ATTN_KERNEL_REFERENCE);
    EXPECT(ALL, ATTN_STATUS_OK, "", c.params.scale = NAN);
    EXPECT(ALL, ATTN_STATUS_OK, "", c.params.scale = 0.0f);
    EXPECT(FWD | PRB, ATTN_STATUS_OK, "", c.lse = NULL);
    EXPECT(ALL, ATTN_STATUS_OK, "", c.params.key_lens = NULL);
    EXPECT(ALL, ATTN_STATUS_OK, "", klens[1] = 0);
    klens[1] = 2;
    EXPECT(FWD | PRB, ATTN_STATUS_OK, "", c.params.mask.kind = ATTN_MASK_NONE;
           c.params.mask.data = NULL);
    EXPECT(BWD, ATTN_STATUS_OK, "", c.params.mask.kind = ATTN_MASK_BOOL;
           c.params.mask.data = boolbuf; c.dbias.data = NULL);
    EXPECT(BWD, ATTN_STATUS_OK, "", c.dbias.data = NULL); /* bias without its gradient */
    /* zero input strides broadcast; an output's size-1 dimension takes any stride */
    EXPECT(ALL, ATTN_STATUS_OK, "", c.k.stride[0] = 0; c.v.stride[1] = 0; c.q.stride[3] = 0);
    EXPECT(FWD, ATTN_STATUS_OK, "", c.shape.batch = 1; c.params.mask.shape[0] = 1;
           c.o.stride[0] = 0);
    EXPECT(ALL, ATTN_STATUS_OK, "", c.params.mask.shape[0] = 1; c.params.mask.stride[0] = -9;
           c.dbias.stride[0] = 0); /* the stride of a size-1 mask dimension is ignored */
    /* attn.h: output strides are "all > 0 (or anything for a dimension of size 1)" */
    EXPECT(FWD, ATTN_STATUS_OK, "", c.shape.batch = 1; c.params.mask.shape[0] = 1;
           c.o.stride[0] = -1);
    EXPECT(BWD, ATTN_STATUS_OK, "", c.params.mask.shape[1] = 1; c.dbias.stride[1] = -5);
    EXPECT(PRB, ATTN_STATUS_OK, "", c.q_start = 0; c.q_count = NQ; c.ld_out = NK);
}

static void null_pointers(void) {
    EXPECT(ALL, ATTN_STATUS_NULL_POINTER, "shape", c.shp = NULL);
    EXPECT(ALL, ATTN_STATUS_NULL_POINTER, "q.data|q", c.q.data = NULL);
    EXPECT(ALL, ATTN_STATUS_NULL_POINTER, "k.data|k", c.k.data = NULL);
    EXPECT(FWD | BWD, ATTN_STATUS_NULL_POINTER, "v.data|v", c.v.data = NULL);
    EXPECT(FWD, ATTN_STATUS_NULL_POINTER, "o.data|o", c.o.data = NULL);
    EXPECT(BWD, ATTN_STATUS_NULL_POINTER, "o.data|o", c.o_in.data = NULL);
    EXPECT(BWD, ATTN_STATUS_NULL_POINTER, "d_o.data|d_o", c.d_o.data = NULL);
    EXPECT(BWD, ATTN_STATUS_NULL_POINTER, "dq.data|dq", c.dq.data = NULL);
    EXPECT(BWD, ATTN_STATUS_NULL_POINTER, "dk.data|dk", c.dk.data = NULL);
    EXPECT(BWD, ATTN_STATUS_NULL_POINTER, "dv.data|dv", c.dv.data = NULL);
    EXPECT(BWD, ATTN_STATUS_NULL_POINTER, "lse", c.lse = NULL);
    EXPECT(PRB, ATTN_STATUS_NULL_POINTER, "out", c.out = NULL);
    EXPECT(ALL, ATTN_STATUS_NULL_POINTER, "params.mask.data", c.params.mask.data = NULL);
    EXPECT(ALL, ATTN_STATUS_NULL_POINTER, "params.mask.data",
           c.params.mask.kind = ATTN_MASK_BOOL; c.params.mask.data = NULL);
}

static int64_t *shape_field(attn_shape_t *s, int f) {
    switch (f) {
    case 0: return &s->batch;
    case 1: return &s->heads_q;
    case 2: return &s->heads_kv;
    case 3: return &s->len_q;
    case 4: return &s->len_k;
    case 5: return &s->dim_qk;
    default: return &s->dim_v;
    }
}

static void bad_shapes(void) {
    static const char *const field[7] = {"batch", "heads_q", "heads_kv", "len_q",
                                         "len_k", "dim_qk", "dim_v"};
    char names[64];
    for (int f = 0; f < 7; f++)
        for (int v = 0; v < 3; v++) {
            const int64_t bad[3] = {0, -1, INT64_MIN};
            snprintf(names, sizeof names, "shape.%s|%s", field[f], field[f]);
            EXPECT(ALL, ATTN_STATUS_BAD_SHAPE, names, *shape_field(&c.shape, f) = bad[v]);
        }
    EXPECT(ALL, ATTN_STATUS_BAD_SHAPE, "heads_q|heads_kv|shape.heads_q|shape.heads_kv",
           c.shape.heads_kv = 3);
    EXPECT(ALL, ATTN_STATUS_BAD_SHAPE, "heads_q|heads_kv|shape.heads_q|shape.heads_kv",
           c.shape.heads_q = 3; c.shape.heads_kv = 4);
}

static void overflows(void) {
    /* sizes beyond 2^40, or whose products overflow */
    EXPECT(ALL, ATTN_STATUS_OVERFLOW, "len_q|shape.len_q", c.shape.len_q = ((int64_t)1 << 40) + 1);
    EXPECT(ALL, ATTN_STATUS_OVERFLOW, "batch|shape.batch", c.shape.batch = INT64_MAX);
    EXPECT(ALL, ATTN_STATUS_OVERFLOW, "len_k|shape.len_k", c.shape.len_k = INT64_MAX);
    EXPECT(ALL, ATTN_STATUS_OVERFLOW, "shape|len_q|dim_qk|Nq|D",
           c.shape.len_q = (int64_t)1 << 40; c.shape.dim_qk = (int64_t)1 << 30);
    EXPECT(ALL, ATTN_STATUS_OVERFLOW, "shape|heads_q|batch|len_k|dim_v|Hq|B|Nk|Dv",
           c.shape.batch = (int64_t)1 << 30; c.shape.heads_q = (int64_t)1 << 30;
           c.shape.heads_kv = 1; c.shape.len_k = (int64_t)1 << 20);
    /* strides whose offsets overflow int64 (elements, or bytes) */
    EXPECT(ALL, ATTN_STATUS_OVERFLOW, "q|q.stride", c.q.stride[2] = INT64_MAX / 3);
    EXPECT(ALL, ATTN_STATUS_OVERFLOW, "k|k.stride", c.k.stride[0] = (int64_t)1 << 62);
    EXPECT(FWD | BWD, ATTN_STATUS_OVERFLOW, "v|v.stride", c.v.stride[1] = INT64_MAX);
    EXPECT(FWD | BWD, ATTN_STATUS_OVERFLOW, "v|v.stride",
           c.v.stride[0] = (int64_t)1 << 61; c.v.stride[1] = (int64_t)1 << 61);
    EXPECT(FWD, ATTN_STATUS_OVERFLOW, "o|o.stride", c.o.stride[3] = (int64_t)1 << 61);
    EXPECT(BWD, ATTN_STATUS_OVERFLOW, "o|o.stride", c.o_in.stride[2] = INT64_MAX / 2);
    EXPECT(BWD, ATTN_STATUS_OVERFLOW, "d_o|d_o.stride", c.d_o.stride[2] = INT64_MAX / 2);
    EXPECT(BWD, ATTN_STATUS_OVERFLOW, "dq|dq.stride", c.dq.stride[1] = INT64_MAX / 2);
    EXPECT(BWD, ATTN_STATUS_OVERFLOW, "dk|dk.stride", c.dk.stride[2] = INT64_MAX / 2);
    EXPECT(BWD, ATTN_STATUS_OVERFLOW, "dv|dv.stride", c.dv.stride[0] = INT64_MAX);
    EXPECT(BWD, ATTN_STATUS_OVERFLOW, "dbias|dbias.stride", c.dbias.stride[3] = INT64_MAX / 3);
    EXPECT(ALL, ATTN_STATUS_OVERFLOW, "params.mask|params.mask.stride",
           c.params.mask.stride[2] = INT64_MAX / 4);
    EXPECT(PRB, ATTN_STATUS_OVERFLOW, "ld_out|q_count", c.ld_out = INT64_MAX / 2);
}

static void bad_strides(void) {
    EXPECT(ALL, ATTN_STATUS_BAD_STRIDE, "q.stride|q", c.q.stride[2] = -3);
    EXPECT(ALL, ATTN_STATUS_BAD_STRIDE, "k.stride|k", c.k.stride[0] = -1);
    EXPECT(FWD | BWD, ATTN_STATUS_BAD_STRIDE, "v.stride|v", c.v.stride[3] = -1);
    EXPECT(FWD, ATTN_STATUS_BAD_STRIDE, "o.stride|o", c.o.stride[1] = -2);
    EXPECT(BWD, ATTN_STATUS_BAD_STRIDE, "o.stride|o", c.o_in.stride[1] = -2);
    EXPECT(BWD, ATTN_STATUS_BAD_STRIDE, "d_o.stride|d_o", c.d_o.stride[2] = -2);
    EXPECT(BWD, ATTN_STATUS_BAD_STRIDE, "dq.stride|dq", c.dq.stride[3] = -1);
    EXPECT(BWD, ATTN_STATUS_BAD_STRIDE, "dk.stride|dk", c.dk.stride[1] = -1);
    EXPECT(BWD, ATTN_STATUS_BAD_STRIDE, "dv.stride|dv", c.dv.stride[0] = -1);
    EXPECT(BWD, ATTN_STATUS_BAD_STRIDE, "dbias.stride|dbias", c.dbias.stride[2] = -1);
    EXPECT(ALL, ATTN_STATUS_BAD_STRIDE, "params.mask.stride|params.mask",
           c.params.mask.stride[3] = -1);
    /* outputs cannot broadcast */
    EXPECT(FWD, ATTN_STATUS_BAD_STRIDE, "o.stride|o", c.o.stride[2] = 0);
    EXPECT(FWD, ATTN_STATUS_BAD_STRIDE, "o.stride|o", c.o.stride[0] = 0);
    EXPECT(BWD, ATTN_STATUS_BAD_STRIDE, "dq.stride|dq", c.dq.stride[3] = 0);
    EXPECT(BWD, ATTN_STATUS_BAD_STRIDE, "dk.stride|dk", c.dk.stride[1] = 0);
    EXPECT(BWD, ATTN_STATUS_BAD_STRIDE, "dv.stride|dv", c.dv.stride[0] = 0);
    EXPECT(BWD, ATTN_STATUS_BAD_STRIDE, "dbias.stride|dbias", c.dbias.stride[2] = 0);
    EXPECT(PRB, ATTN_STATUS_BAD_STRIDE, "ld_out", c.ld_out = NK - 1);
    EXPECT(PRB, ATTN_STATUS_BAD_STRIDE, "ld_out", c.ld_out = 0);
    EXPECT(PRB, ATTN_STATUS_BAD_STRIDE, "ld_out", c.ld_out = -NK);
}

static void bad_masks(void) {
    EXPECT(ALL, ATTN_STATUS_BAD_MASK, "params.mask.shape", c.params.mask.shape[2] = 5);
    EXPECT(ALL, ATTN_STATUS_BAD_MASK, "params.mask.shape", c.params.mask.shape[0] = 3);
    EXPECT(ALL, ATTN_STATUS_BAD_MASK, "params.mask.shape", c.params.mask.shape[1] = HKV);
    EXPECT(ALL, ATTN_STATUS_BAD_MASK, "params.mask.shape", c.params.mask.shape[3] = NK + 1);
    EXPECT(ALL, ATTN_STATUS_BAD_MASK, "params.mask.shape", c.params.mask.shape[3] = 0);
    EXPECT(ALL, ATTN_STATUS_BAD_MASK, "params.mask.shape", c.params.mask.shape[2] = -1);
    EXPECT(ALL, ATTN_STATUS_BAD_MASK, "params.mask.shape", c.params.mask.kind = ATTN_MASK_BOOL;
           c.params.mask.data = boolbuf; c.params.mask.shape[2] = 5; c.dbias.data = NULL);
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "params.mask.kind",
           c.params.mask.kind = (attn_mask_kind_t)3);
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "params.mask.kind",
           c.params.mask.kind = (attn_mask_kind_t)99);
    /* dbias needs a float bias */
    EXPECT(BWD, ATTN_STATUS_BAD_ARGUMENT, "dbias|dbias.data",
           c.params.mask.kind = ATTN_MASK_NONE);
    EXPECT(BWD, ATTN_STATUS_BAD_ARGUMENT, "dbias|dbias.data",
           c.params.mask.kind = ATTN_MASK_BOOL; c.params.mask.data = boolbuf);
}

static void bad_arguments(void) {
    /* one bad entry at a time (klens is {NK, 2} otherwise) */
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "params.key_lens|key_lens", klens[1] = -1);
    klens[1] = 2;
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "params.key_lens|key_lens", klens[0] = NK + 1);
    klens[0] = NK;
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "params.key_lens|key_lens", klens[1] = INT64_MIN);
    klens[1] = 2;
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "params.key_lens|key_lens", klens[1] = INT64_MAX);
    klens[1] = 2;
    EXPECT(ALL, ATTN_STATUS_OK, "", klens[1] = NK);
    klens[1] = 2;
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "params.causal", c.params.causal = (attn_causal_t)3);
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "params.causal", c.params.causal = (attn_causal_t)40);
    EXPECT(FWD | BWD, ATTN_STATUS_BAD_ARGUMENT, "params.kernel",
           c.params.kernel = (attn_kernel_t)3);
    EXPECT(FWD | BWD, ATTN_STATUS_BAD_ARGUMENT, "params.kernel",
           c.params.kernel = (attn_kernel_t)1000);
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "params.scale", c.params.scale = INFINITY);
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "params.scale", c.params.scale = -INFINITY);
    /* dtypes: q, k, v may be fp16 / bf16; O and dO must be fp32 (a valid request this build
     * cannot serve) */
    EXPECT(BWD, ATTN_STATUS_UNSUPPORTED, "d_o.dtype|d_o", c.d_o.dtype = ATTN_DTYPE_F16);
    EXPECT(BWD, ATTN_STATUS_UNSUPPORTED, "d_o.dtype|d_o", c.d_o.dtype = ATTN_DTYPE_BF16);
    EXPECT(BWD, ATTN_STATUS_UNSUPPORTED, "o.dtype|o", c.o_in.dtype = ATTN_DTYPE_F16);
    EXPECT(BWD, ATTN_STATUS_UNSUPPORTED, "o.dtype|o", c.o_in.dtype = ATTN_DTYPE_BF16);
    EXPECT(ALL, ATTN_STATUS_OK, "", c.q.dtype = ATTN_DTYPE_F16; c.k.dtype = ATTN_DTYPE_BF16;
           c.v.dtype = ATTN_DTYPE_F16);
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "q.dtype|q", c.q.dtype = (attn_dtype_t)9);
    EXPECT(ALL, ATTN_STATUS_BAD_ARGUMENT, "k.dtype|k", c.k.dtype = (attn_dtype_t)3);
    EXPECT(FWD | BWD, ATTN_STATUS_BAD_ARGUMENT, "v.dtype|v", c.v.dtype = (attn_dtype_t)-1);
    EXPECT(BWD, ATTN_STATUS_BAD_ARGUMENT, "d_o.dtype|d_o",
           c.d_o.dtype = (attn_dtype_t)7);
    /* attn_probs ranges */
    EXPECT(PRB, ATTN_STATUS_BAD_ARGUMENT, "b", c.b = -1);
    EXPECT(PRB, ATTN_STATUS_BAD_ARGUMENT, "b", c.b = B);
    EXPECT(PRB, ATTN_STATUS_BAD_ARGUMENT, "h", c.h = -1);
    EXPECT(PRB, ATTN_STATUS_BAD_ARGUMENT, "h", c.h = HQ);
    EXPECT(PRB, ATTN_STATUS_BAD_ARGUMENT, "q_start|q_count", c.q_start = -1);
    EXPECT(PRB, ATTN_STATUS_BAD_ARGUMENT, "q_start|q_count", c.q_start = NQ; c.q_count = 1);
    EXPECT(PRB, ATTN_STATUS_BAD_ARGUMENT, "q_start|q_count", c.q_count = 0);
    EXPECT(PRB, ATTN_STATUS_BAD_ARGUMENT, "q_start|q_count", c.q_count = -3);
    EXPECT(PRB, ATTN_STATUS_BAD_ARGUMENT, "q_start|q_count", c.q_start = 5; c.q_count = 3);
    EXPECT(PRB, ATTN_STATUS_BAD_ARGUMENT, "q_start|q_count",
           c.q_start = 2; c.q_count = INT64_MAX);
}

/* ATTN_KERNEL in the environment: only AUTO reads it. */
static void kernel_env(void) {
    setenv("ATTN_KERNEL", "turbo", 1);
    EXPECT(FWD | BWD, ATTN_STATUS_BAD_ARGUMENT, "ATTN_KERNEL",
           c.params.kernel = ATTN_KERNEL_AUTO);
    EXPECT(FWD | BWD, ATTN_STATUS_OK, "", c.params.kernel = ATTN_KERNEL_REFERENCE);
    EXPECT(FWD | BWD, ATTN_STATUS_OK, "", c.params.kernel = ATTN_KERNEL_FUSED);
    setenv("ATTN_KERNEL", "reference", 1);
    tu_begin("attn_kernel_name");
    CHECK(strcmp(attn_kernel_name(ATTN_KERNEL_AUTO), "reference") == 0, "AUTO with "
          "ATTN_KERNEL=reference resolves to %s", attn_kernel_name(ATTN_KERNEL_AUTO));
    EXPECT(FWD | BWD, ATTN_STATUS_OK, "", c.params.kernel = ATTN_KERNEL_AUTO);
    setenv("ATTN_KERNEL", "fused", 1);
    CHECK(strcmp(attn_kernel_name(ATTN_KERNEL_AUTO), "fused") == 0, "AUTO with "
          "ATTN_KERNEL=fused resolves to %s", attn_kernel_name(ATTN_KERNEL_AUTO));
    unsetenv("ATTN_KERNEL");
    CHECK(strcmp(attn_kernel_name(ATTN_KERNEL_AUTO), "fused") == 0, "AUTO without "
          "ATTN_KERNEL resolves to %s", attn_kernel_name(ATTN_KERNEL_AUTO));
    CHECK(strcmp(attn_kernel_name(ATTN_KERNEL_REFERENCE), "reference") == 0, "REFERENCE: %s",
          attn_kernel_name(ATTN_KERNEL_REFERENCE));
    CHECK(strcmp(attn_kernel_name(ATTN_KERNEL_FUSED), "fused") == 0, "FUSED: %s",
          attn_kernel_name(ATTN_KERNEL_FUSED));
    EXPECT(FWD | BWD, ATTN_STATUS_OK, "", c.params.kernel = ATTN_KERNEL_AUTO);
}

/* A workspace that cannot be allocated: the reference backward materialises Nq x Nk doubles
 * (2^62 bytes here) before it reads any tensor, so it must say so instead of crashing. The
 * test runs with ASAN_OPTIONS=allocator_may_return_null=1 (see CMakeLists.txt). */
static void out_of_memory(void) {
    EXPECT(BWD, ATTN_STATUS_OUT_OF_MEMORY, "reference|Nq|Nk|len_q|len_k",
           c.params.kernel = ATTN_KERNEL_REFERENCE; c.params.mask.kind = ATTN_MASK_NONE;
           c.dbias.data = NULL; c.params.key_lens = NULL;
           c.shape.batch = 1; c.shape.heads_q = 1; c.shape.heads_kv = 1; c.shape.dim_qk = 1;
           c.shape.dim_v = 1; c.shape.len_q = (int64_t)1 << 40; c.shape.len_k = 1 << 19;
           c.q = src(qbuf, 1, 1, 1); c.k = src(kbuf, 1, 1, 1); c.v = src(vbuf, 1, 1, 1);
           c.o_in = src(obuf, 1, 1, 1); c.d_o = src(dobuf, 1, 1, 1);
           c.dq = attn_dst_f32(dqbuf, 1, 1, 1); c.dk = attn_dst_f32(dkbuf, 1, 1, 1);
           c.dv = attn_dst_f32(dvbuf, 1, 1, 1));
}

/* attn_last_error() is per thread and "" on a thread that has not failed. */
static char thread_msg[1100];
static int thread_started_empty;

static void *thread_main(void *arg) {
    (void)arg;
    thread_started_empty = attn_last_error()[0] == '\0';
    attn_params_t prm = attn_default_params();
    prm.scale = INFINITY;
    attn_shape_t s = {1, 1, 1, 1, 1, 1, 1};
    float x[1] = {0}, lse[1];
    (void)attn_forward(&s, &prm, attn_src_f32(x, 1, 1, 1), attn_src_f32(x, 1, 1, 1),
                       attn_src_f32(x, 1, 1, 1), attn_dst_f32(x, 1, 1, 1), lse);
    snprintf(thread_msg, sizeof thread_msg, "%s", attn_last_error());
    return NULL;
}

static void per_thread_errors(void) {
    call_t c;
    base_call(&c);
    c.shp = NULL;
    (void)run(0, &c);
    char mine[1100];
    snprintf(mine, sizeof mine, "%s", attn_last_error());
    pthread_t t;
    tu_begin("attn_last_error is per thread");
    CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0, "pthread_create failed");
    pthread_join(t, NULL);
    CHECK(thread_started_empty, "a new thread sees a non-empty attn_last_error()");
    CHECK(mentions(thread_msg, "params.scale"), "the thread's message: %s", thread_msg);
    CHECK(strcmp(mine, attn_last_error()) == 0, "another thread's failure changed this "
          "thread's message to: %s", attn_last_error());
}

static void status_strings(void) {
    tu_begin("attn_status_string");
    for (int a = 0; a <= 8; a++) {
        const char *s = attn_status_string((attn_status_t)a);
        CHECK(s && s[0], "attn_status_string(%d) is empty", a);
        for (int b2 = 0; b2 < a && s; b2++)
            CHECK(strcmp(s, attn_status_string((attn_status_t)b2)) != 0, "statuses %d and %d "
                  "share the name %s", a, b2, s);
    }
    CHECK(attn_status_string((attn_status_t)99) != NULL, "NULL for an unknown status");
    CHECK(attn_version() && strlen(attn_version()) > 0, "empty attn_version()");
}

int main(void) {
    tu_begin("attn_last_error before any failure");
    CHECK(attn_last_error() != NULL && attn_last_error()[0] == '\0',
          "attn_last_error() is \"%s\" before any call failed", attn_last_error());
    unsetenv("ATTN_KERNEL");
    valid_calls();
    null_pointers();
    bad_shapes();
    overflows();
    bad_strides();
    bad_masks();
    bad_arguments();
    kernel_env();
    out_of_memory();
    per_thread_errors();
    status_strings();
    return tu_finish("test_sdpa_errors");
}
