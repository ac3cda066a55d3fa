/*
 * attn.h - scaled dot-product attention for the CPU, forward and backward.
 *
 * This header is the manual. Everything public in libattn is declared here.
 *
 * Example (compiles as C11 and as C++; link with -lattn):
 *
 *     #include <attn.h>
 *     #include <stdio.h>
 *
 *     int main(void) {
 *         // one sequence, one head, 2 queries, 3 keys, head size 2
 *         float q[2 * 2] = {1, 0,   0, 1};
 *         float k[3 * 2] = {1, 0,   0, 1,   1, 1};
 *         float v[3 * 2] = {1, 2,   3, 4,   5, 6};
 *         float o[2 * 2], lse[2];
 *         attn_shape_t s = {1, 1, 1, 2, 3, 2, 2};  // B Hq Hkv Nq Nk D Dv
 *         attn_params_t p = attn_default_params();  // scale 1/sqrt(D), no mask
 *         attn_status_t st = attn_forward(&s, &p,
 *             attn_src_f32(q, s.len_q * s.dim_qk, s.len_q * s.dim_qk, s.dim_qk),
 *             attn_src_f32(k, s.len_k * s.dim_qk, s.len_k * s.dim_qk, s.dim_qk),
 *             attn_src_f32(v, s.len_k * s.dim_v, s.len_k * s.dim_v, s.dim_v),
 *             attn_dst_f32(o, s.len_q * s.dim_v, s.len_q * s.dim_v, s.dim_v), lse);
 *         if (st != ATTN_STATUS_OK) { fprintf(stderr, "%s\n", attn_last_error()); return 1; }
 *         printf("%f %f\n", o[0], o[1]);
 *         return 0;
 *     }
 *
 * Conventions
 *   - Tensors are fp32 unless a dtype says otherwise (Q, K, V may be fp16 or bf16). Every tensor is passed as a pointer plus
 *     four element strides (not bytes) for the logical layout [B, H, N, D]; any strides work,
 *     so [B, N, H, D] storage is used without a copy by passing its strides in [B, H, N, D] order.
 *   - Sizes and strides are int64_t. Strides may be zero (broadcast) for inputs, not for outputs.
 *   - Every entry point returns attn_status_t. On failure attn_last_error() gives a sentence saying
 *     what was wrong and how to fix it (per thread). The library never aborts or exits.
 *   - Results are bitwise deterministic: the same inputs give the same bits for any thread count.
 *
 * Semantics of attention (the public contract)
 *   For batch b, query head h (key/value head h / (Hq / Hkv)), query i and key j:
 *       s[i,j] = scale * dot(Q[b,h,i,:], K[b,hk,j,:]) + bias[b,h,i,j]      (bias: float mask)
 *       s[i,j] = -inf  where the boolean mask is false, the causal rule hides j from i,
 *                      or j >= key_lens[b]
 *       LSE[i] = log(sum_j exp(s[i,j]))               (natural log; -inf when every key is hidden)
 *       O[i,:] = sum_j exp(s[i,j] - LSE[i]) * V[b,hk,j,:]        (0 when every key is hidden)
 *   Causal rules (PyTorch is_causal is ATTN_CAUSAL_TOP_LEFT; FlashAttention's is BOTTOM_RIGHT):
 *       TOP_LEFT:     j <= i
 *       BOTTOM_RIGHT: j <= i + (L - Nq), with L = key_lens[b] if given, else Nk
 *   Keys past key_lens[b] or past every query's causal limit are never read (a padded
 *   key/value cache may hold anything there). Keys hidden only by the mask are read, as in
 *   PyTorch: a NaN in V there still reaches O.
 */
#ifndef ATTN_H
#define ATTN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(ATTN_SHARED)
#  ifdef ATTN_BUILD
#    define ATTN_API __declspec(dllexport)
#  else
#    define ATTN_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define ATTN_API __attribute__((visibility("default")))
#else
#  define ATTN_API
#endif

#define ATTN_VERSION_MAJOR 0
#define ATTN_VERSION_MINOR 1
#define ATTN_VERSION_PATCH 0

/* ---------------------------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------------------------- */
typedef enum attn_status {
    ATTN_STATUS_OK = 0,
    ATTN_STATUS_NULL_POINTER = 1,   /* a required pointer was NULL */
    ATTN_STATUS_BAD_SHAPE = 2,      /* a size is non-positive or sizes do not fit together */
    ATTN_STATUS_BAD_STRIDE = 3,     /* a stride is impossible (negative, or zero for an output) */
    ATTN_STATUS_OVERFLOW = 4,       /* sizes or strides overflow 64-bit element offsets */
    ATTN_STATUS_BAD_MASK = 5,       /* the mask does not broadcast to [B, Hq, Nq, Nk] */
    ATTN_STATUS_BAD_ARGUMENT = 6,   /* any other invalid argument (enum value, index range) */
    ATTN_STATUS_UNSUPPORTED = 7,    /* valid request this build cannot serve (e.g. a dtype) */
    ATTN_STATUS_OUT_OF_MEMORY = 8   /* a workspace allocation failed */
} attn_status_t;

/* Short fixed name of a status ("bad shape"). Never NULL. */
ATTN_API const char *attn_status_string(attn_status_t status);
/* The message of the last failing call on this thread: what was wrong and how to fix it.
 * "" when no call has failed. Valid until the next failing call on the same thread. */
ATTN_API const char *attn_last_error(void);
ATTN_API const char *attn_version(void);

/* ---------------------------------------------------------------------------------------------
 * Runtime configuration
 * ------------------------------------------------------------------------------------------- */
typedef enum attn_kernel {
    ATTN_KERNEL_AUTO = 0,      /* the environment variable ATTN_KERNEL, else fused */
    ATTN_KERNEL_REFERENCE = 1, /* materialises the scores, accumulates in double */
    ATTN_KERNEL_FUSED = 2      /* tiled, online softmax, extra memory linear in N */
} attn_kernel_t;

/* Threads used by every kernel. n <= 0 restores the default: the environment variable
 * ATTN_NUM_THREADS when set, else the number of online cores. Results do not depend on it. */
ATTN_API attn_status_t attn_set_num_threads(int32_t n);
ATTN_API int32_t attn_get_num_threads(void);
/* The kernel `kernel` resolves to right now: "reference" or "fused" (ATTN_KERNEL_AUTO reads
 * the ATTN_KERNEL environment variable), or "invalid" when that variable or the value is not
 * one of them. */
ATTN_API const char *attn_kernel_name(attn_kernel_t kernel);
/* The instruction set the optimised kernels run with in this process: "avx512" (16-float
 * vectors), "avx2" (AVX2 + FMA, 8) or "generic" (portable C), the widest this CPU and build
 * have unless the ATTN_ISA environment variable names a narrower one. */
ATTN_API const char *attn_simd_isa(void);

/* The precision of the layers' dense products (linear layers, RNN cells, the attention
 * layers' projections; not the attention kernels), for the whole process, as PyTorch's
 * torch.set_float32_matmul_precision sets it:
 *   HIGHEST  fp32 operands and sums (OpenBLAS sgemm): the default;
 *   MEDIUM   operands rounded to bfloat16, products and sums in fp32, on CPUs with bf16
 *            units: Intel AMX (Sapphire Rapids and later), several times the speed, or
 *            AVX512_BF16 (Zen 4 and later, Cooper Lake), up to twice; elsewhere the same as
 *            HIGHEST.
 * Either way results do not depend on the thread count. */
typedef enum attn_matmul_precision {
    ATTN_MATMUL_HIGHEST = 0,
    ATTN_MATMUL_MEDIUM = 1
} attn_matmul_precision_t;
ATTN_API attn_status_t attn_set_matmul_precision(attn_matmul_precision_t precision);
ATTN_API attn_matmul_precision_t attn_get_matmul_precision(void);
/* What the layers' products run on now: "amx-bf16", "avx512-bf16" or "sgemm". */
ATTN_API const char *attn_matmul_engine(void);

/* ---------------------------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------------------------- */
typedef enum attn_dtype {
    ATTN_DTYPE_F32 = 0,
    ATTN_DTYPE_F16 = 1,   /* IEEE binary16 (uint16_t storage); accepted for Q, K and V */
    ATTN_DTYPE_BF16 = 2   /* bfloat16 (uint16_t storage); accepted for Q, K and V */
} attn_dtype_t;

/* A read-only 4-d tensor in logical order [B, H, N, D]; strides in elements. Q, K and V may
 * be fp32, fp16 or bf16 (converted to fp32 as tiles are loaded; all arithmetic is fp32);
 * O and dO are fp32. */
typedef struct attn_src {
    const void *data;
    attn_dtype_t dtype;
    int64_t stride[4];
} attn_src_t;

/* A writable fp32 4-d tensor in logical order [B, H, N, D]; strides in elements, all > 0
 * (or anything for a dimension of size 1). */
typedef struct attn_dst {
    float *data;
    int64_t stride[4];
} attn_dst_t;

/* Convenience constructors: strides for B, H, N; the last dimension is contiguous. */
static inline attn_src_t attn_src_f32(const float *data, int64_t sb, int64_t sh, int64_t sn) {
    attn_src_t t;
    t.data = data; t.dtype = ATTN_DTYPE_F32;
    t.stride[0] = sb; t.stride[1] = sh; t.stride[2] = sn; t.stride[3] = 1;
    return t;
}
static inline attn_src_t attn_src_typed(const void *data, attn_dtype_t dtype, int64_t sb,
                                        int64_t sh, int64_t sn) {
    attn_src_t t;
    t.data = data; t.dtype = dtype;
    t.stride[0] = sb; t.stride[1] = sh; t.stride[2] = sn; t.stride[3] = 1;
    return t;
}
static inline attn_dst_t attn_dst_f32(float *data, int64_t sb, int64_t sh, int64_t sn) {
    attn_dst_t t;
    t.data = data;
    t.stride[0] = sb; t.stride[1] = sh; t.stride[2] = sn; t.stride[3] = 1;
    return t;
}

/* Problem sizes. Q [B, Hq, Nq, D], K [B, Hkv, Nk, D], V [B, Hkv, Nk, Dv], O [B, Hq, Nq, Dv],
 * LSE [B, Hq, Nq]. Hq must be a multiple of Hkv: query head h reads key/value head
 * h / (Hq / Hkv) (multi-head when equal, grouped-query, multi-query when Hkv = 1). */
typedef struct attn_shape {
    int64_t batch;     /* B */
    int64_t heads_q;   /* Hq */
    int64_t heads_kv;  /* Hkv */
    int64_t len_q;     /* Nq */
    int64_t len_k;     /* Nk */
    int64_t dim_qk;    /* D  */
    int64_t dim_v;     /* Dv */
} attn_shape_t;

/* ---------------------------------------------------------------------------------------------
 * Masks and parameters
 * ------------------------------------------------------------------------------------------- */
typedef enum attn_causal {
    ATTN_CAUSAL_NONE = 0,
    ATTN_CAUSAL_TOP_LEFT = 1,     /* key j visible to query i when j <= i (PyTorch is_causal) */
    ATTN_CAUSAL_BOTTOM_RIGHT = 2  /* j <= i + L - Nq (FlashAttention; for decoding, Nq < Nk) */
} attn_causal_t;

typedef enum attn_mask_kind {
    ATTN_MASK_NONE = 0,
    ATTN_MASK_BOOL = 1,  /* uint8_t, nonzero = the key takes part (PyTorch's boolean attn_mask) */
    ATTN_MASK_BIAS = 2   /* float added to the scaled scores (-inf hides a key) */
} attn_mask_kind_t;

/* An optional mask of shape [Bm, Hm, Mq, Mk] broadcast to [B, Hq, Nq, Nk] like PyTorch's
 * attn_mask: each of Bm, Hm, Mq, Mk is either 1 or the full size. Strides in elements; the
 * stride of a dimension of size 1 is ignored. */
typedef struct attn_mask {
    attn_mask_kind_t kind;
    const void *data;
    int64_t shape[4];
    int64_t stride[4];
} attn_mask_t;

typedef struct attn_params {
    float scale;                 /* multiplies Q.K; NAN (the default) means 1/sqrt(D) */
    attn_causal_t causal;        /* default ATTN_CAUSAL_NONE */
    const int64_t *key_lens;     /* [B] valid keys per sequence (0..Nk), or NULL for all Nk */
    attn_mask_t mask;            /* default kind ATTN_MASK_NONE */
    attn_kernel_t kernel;        /* default ATTN_KERNEL_AUTO */
    /* Attention dropout, as torch's dropout_p: each weight P[b, h, i, j] is zeroed with
     * probability dropout_p (0 <= p <= 1; default 0: none) and the kept ones are scaled by
     * 1 / (1 - p), after the softmax and before the product with V; LSE is that of the
     * softmax, without dropout. The mask is a pure function of (dropout_seed, b, h, i, j): the
     * same seed in attn_backward gives the forward's mask (pass the same params), no memory
     * holds it, and it does not depend on the kernel or the thread count. */
    float dropout_p;
    uint64_t dropout_seed;
} attn_params_t;

ATTN_API attn_params_t attn_default_params(void);

/* ---------------------------------------------------------------------------------------------
 * Kernels
 * ------------------------------------------------------------------------------------------- */

/* Forward. q, k, v as in attn_shape_t; o receives O [B, Hq, Nq, Dv]; lse receives the row
 * log-sum-exp, contiguous [B, Hq, Nq] (may be NULL when not needed; the backward needs it).
 * Extra memory of the fused kernel: O((Nq + Nk) * (D + Dv)) per thread, never Nq x Nk. */
ATTN_API attn_status_t attn_forward(const attn_shape_t *shape, const attn_params_t *params,
                                    attn_src_t q, attn_src_t k, attn_src_t v,
                                    attn_dst_t o, float *lse);

/* Backward. Given dO [B, Hq, Nq, Dv] and the forward's O and LSE, writes (overwrites)
 * dq [B, Hq, Nq, D], dk [B, Hkv, Nk, D] and dv [B, Hkv, Nk, Dv]; dk and dv sum over the query
 * heads that share a key/value head. When params->mask is a float bias and dbias.data is not
 * NULL, dbias receives the bias gradient reduced to the mask's own shape [Bm, Hm, Mq, Mk]
 * (strides in dbias.stride). Hidden keys and fully hidden rows contribute exactly 0. */
ATTN_API attn_status_t attn_backward(const attn_shape_t *shape, const attn_params_t *params,
                                     attn_src_t q, attn_src_t k, attn_src_t v,
                                     attn_src_t o, const float *lse, attn_src_t d_o,
                                     attn_dst_t dq, attn_dst_t dk, attn_dst_t dv,
                                     attn_dst_t dbias);

/* Exact attention probabilities P[i, j] = exp(s[i,j] - LSE[i]) (before any dropout) for batch b, query head h and
 * queries q_start .. q_start + q_count - 1, recomputed from Q and K without ever storing the
 * Nq x Nk matrix. lse is the forward's [B, Hq, Nq] output, or NULL to recompute it. out is
 * [q_count, Nk] with row stride ld_out (>= Nk). Hidden keys and fully hidden rows give 0. */
ATTN_API attn_status_t attn_probs(const attn_shape_t *shape, const attn_params_t *params,
                                  attn_src_t q, attn_src_t k, const float *lse,
                                  int64_t b, int64_t h, int64_t q_start, int64_t q_count,
                                  float *out, int64_t ld_out);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_H */
