/* Internal: conventions of the layer library (src/nn/), which the models are built from.
 *
 * - fp32, row-major, contiguous. A batch of sequences is [B, T, C] with T the padded length
 *   and lens[B] (int64_t) the true lengths; rows past a sequence's length are padding: layers
 *   may compute anything there, but never let padding reach a real position (attention uses
 *   key_lens; recurrent layers carry the state through unchanged) and losses ignore it.
 * - A layer is a struct of sizes and parameter ids (train/params.h) that it registers in
 *   attn__X_init(layer, ps, "prefix", sizes...), using PyTorch's names ("prefix.weight"), so
 *   that weights move to and from PyTorch state_dicts by name. attn__X_reset(layer, ps, rng)
 *   sets the initial values (PyTorch's default initialisation unless stated).
 * - attn__X_forward(...) writes its outputs and whatever its backward needs into memory the
 *   caller provides (usually from an attn__arena_t), documented per layer as "cache".
 * - attn__X_backward(...) ACCUMULATES (+=) into the parameter gradients (ps->g) and into the
 *   input gradients, so residual branches and reused inputs need no extra code; callers zero
 *   gradient buffers once.
 * - Every function returns attn_status_t and reports errors through attn__fail; none aborts.
 * - Results are deterministic: fixed summation orders, counter-based random numbers
 *   (core/rng.h) for dropout, products (attn__gemm) cut into tiles by their shape alone, so
 *   the same seed gives the same bits on any thread count. */
#ifndef ATTN_NN_NN_H
#define ATTN_NN_NN_H

#include "attn.h"
#include "core/rng.h"
#include "core/status.h"
#include "train/arena.h"
#include "train/params.h"

#include <stdint.h>
#include <string.h>

/* C[M x N] = alpha * op(A) op(B) + beta * C, row-major, op = transpose when trans_* != 0
 * (A is M x K, or K x M when transposed; B is K x N, or N x K). Tiles of C on attn's thread
 * pool, each a single-threaded OpenBLAS sgemm (attn sets OpenBLAS to one thread). */
void attn__gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc);

/* m ? v : x for a mask m of all ones or all zeros, as bit operations: a loop of these the
 * compiler vectorises, where a conditional on floats (or a branch on a coin flip) it does not
 * (dropout's masks, ReLU's backward) */
static inline float attn__select_f32(uint32_t m, float v, float x) {
    uint32_t vb, xb;
    memcpy(&vb, &v, sizeof vb);
    memcpy(&xb, &x, sizeof xb);
    const uint32_t r = (vb & m) | (xb & ~m);
    float f;
    memcpy(&f, &r, sizeof f);
    return f;
}

#endif
