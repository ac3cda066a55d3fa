/* Internal: gradient clipping by the global L2 norm, like torch.nn.utils.clip_grad_norm_
 * (norm_type 2, error_if_nonfinite False):
 *
 *     norm = sqrt(sum over tensors i of sum over elements of g^2)
 *     coef = max_norm / (norm + 1e-6);   when coef < 1, every gradient is multiplied by coef
 *
 * The squares are summed in double, each tensor in element order and the tensors in id order
 * (tensors may go to different threads; the order never changes). coef is computed in double
 * and rounded to float once. Padding floats between tensors are neither read nor written.
 * A non-finite norm (an inf or NaN gradient) is returned as it is and the gradients are left
 * alone, so the caller can skip the step (PyTorch would multiply them by NaN or 0). */
#ifndef ATTN_TRAIN_CLIP_H
#define ATTN_TRAIN_CLIP_H

#include "train/params.h"

/* The global L2 norm of ps->g, in double. */
attn_status_t attn__grad_norm(const attn__params_t *ps, double *norm);
/* Clips ps->g in place to max_norm (> 0); *norm (may be NULL) receives the norm before
 * clipping. */
attn_status_t attn__clip_grad_norm(attn__params_t *ps, double max_norm, double *norm);

#endif
