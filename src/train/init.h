/* Internal: initialisation of parameter tensors as torch.nn.init defines it, drawing from the
 * seeded attn__rng_t (so the same seed gives the same weights; PyTorch's generator is another
 * one, so the values themselves differ from PyTorch's, the distributions do not).
 *
 * Fans follow torch.nn.init._calculate_fan_in_and_fan_out for a tensor of shape
 * [out, in, k...] (at least 2 dimensions): receptive = product of the dimensions after the
 * second, fan_in = in * receptive, fan_out = out * receptive. A Linear weight [out, in] has
 * fan_in = in. Gains are torch.nn.init.calculate_gain's.
 *
 *   uniform(a, b)                     U[a, b)
 *   normal(mean, std)                 mean + std * N(0, 1)
 *   xavier_uniform(gain)              U(-B, B), B = gain * sqrt(6 / (fan_in + fan_out))
 *   kaiming_uniform(a, mode, nonlin)  U(-B, B), B = sqrt(3) * gain(nonlin, a) / sqrt(fan)
 *                                     fan = fan_in or fan_out by mode
 * nn.Linear's default weight is kaiming_uniform(a = sqrt(5), fan_in, leaky_relu), which is
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)); its bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
#ifndef ATTN_TRAIN_INIT_H
#define ATTN_TRAIN_INIT_H

#include "core/rng.h"
#include "train/params.h"

typedef enum attn__nonlin {
    ATTN__NONLIN_LINEAR = 0,     /* gain 1 (also conv and sigmoid) */
    ATTN__NONLIN_SIGMOID = 1,    /* 1 */
    ATTN__NONLIN_TANH = 2,       /* 5/3 */
    ATTN__NONLIN_RELU = 3,       /* sqrt(2) */
    ATTN__NONLIN_LEAKY_RELU = 4, /* sqrt(2 / (1 + a^2)), a the negative slope */
    ATTN__NONLIN_SELU = 5        /* 3/4 */
} attn__nonlin_t;

typedef enum attn__fan_mode { ATTN__FAN_IN = 0, ATTN__FAN_OUT = 1 } attn__fan_mode_t;

/* calculate_gain(nonlin, a); NaN for an unknown nonlin. */
double attn__init_gain(attn__nonlin_t nonlin, double a);
/* Fans of a tensor with ndim >= 2 dimensions; BAD_SHAPE otherwise. */
attn_status_t attn__init_fans(int32_t ndim, const int64_t *shape, int64_t *fan_in,
                              int64_t *fan_out);

/* w [n]: every value drawn in order from rng. */
attn_status_t attn__init_uniform(float *w, int64_t n, double a, double b, attn__rng_t *rng);
attn_status_t attn__init_normal(float *w, int64_t n, double mean, double std, attn__rng_t *rng);
/* w of the given shape (numel = the product). */
attn_status_t attn__init_xavier_uniform(float *w, int32_t ndim, const int64_t *shape,
                                        double gain, attn__rng_t *rng);
attn_status_t attn__init_kaiming_uniform(float *w, int32_t ndim, const int64_t *shape, double a,
                                         attn__fan_mode_t mode, attn__nonlin_t nonlin,
                                         attn__rng_t *rng);
/* The bound B of xavier_uniform and kaiming_uniform (for tests and documentation). */
double attn__init_xavier_bound(int64_t fan_in, int64_t fan_out, double gain);
double attn__init_kaiming_bound(int64_t fan, double a, attn__nonlin_t nonlin);

#endif
