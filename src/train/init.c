/* Initialisation helpers (torch.nn.init's definitions) over attn__rng_t. */
#include "train/init.h"
#include "core/status.h"

#include <math.h>

double attn__init_gain(attn__nonlin_t nonlin, double a) {
    switch (nonlin) {
    case ATTN__NONLIN_LINEAR:
    case ATTN__NONLIN_SIGMOID: return 1.0;
    case ATTN__NONLIN_TANH: return 5.0 / 3.0;
    case ATTN__NONLIN_RELU: return sqrt(2.0);
    case ATTN__NONLIN_LEAKY_RELU: return sqrt(2.0 / (1.0 + a * a));
    case ATTN__NONLIN_SELU: return 3.0 / 4.0;
    }
    return NAN;
}

attn_status_t attn__init_fans(int32_t ndim, const int64_t *shape, int64_t *fan_in,
                              int64_t *fan_out) {
    if (!shape || !fan_in || !fan_out)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "init fans: shape, fan_in and fan_out are "
                          "required");
    if (ndim < 2 || ndim > 4)
        return attn__fail(ATTN_STATUS_BAD_SHAPE, "init fans: a tensor of %d dimensions has no "
                          "fan in and fan out; use 2 to 4 dimensions", (int)ndim);
    int64_t receptive = 1;
    for (int32_t d = 0; d < ndim; d++)
        if (shape[d] < 1)
            return attn__fail(ATTN_STATUS_BAD_SHAPE, "init fans: dimension %d is %lld", (int)d,
                              (long long)shape[d]);
    for (int32_t d = 2; d < ndim; d++) receptive *= shape[d];
    *fan_in = shape[1] * receptive;
    *fan_out = shape[0] * receptive;
    return ATTN_STATUS_OK;
}

attn_status_t attn__init_uniform(float *w, int64_t n, double a, double b, attn__rng_t *rng) {
    if ((n > 0 && !w) || !rng)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "init uniform: w and rng are required");
    if (n < 0 || !(a <= b) || !isfinite(a) || !isfinite(b))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "init uniform: n = %lld, [a, b) = [%g, %g); "
                          "n must be >= 0 and a <= b, both finite", (long long)n, a, b);
    const double width = b - a;
    for (int64_t i = 0; i < n; i++) {
        float x = (float)(a + width * (double)attn__rng_uniform(rng));
        /* rounding to float may land on b itself; keep the interval half-open */
        w[i] = (x >= (float)b && b > a) ? nextafterf((float)b, (float)a) : x;
    }
    return ATTN_STATUS_OK;
}

attn_status_t attn__init_normal(float *w, int64_t n, double mean, double std, attn__rng_t *rng) {
    if ((n > 0 && !w) || !rng)
        return attn__fail(ATTN_STATUS_NULL_POINTER, "init normal: w and rng are required");
    if (n < 0 || !(std >= 0.0) || !isfinite(std) || !isfinite(mean))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "init normal: n = %lld, mean %g, std %g; n "
                          "must be >= 0 and std finite and >= 0", (long long)n, mean, std);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(mean + std * (double)attn__rng_normal(rng));
    return ATTN_STATUS_OK;
}

double attn__init_xavier_bound(int64_t fan_in, int64_t fan_out, double gain) {
    return gain * sqrt(6.0 / (double)(fan_in + fan_out));
}

double attn__init_kaiming_bound(int64_t fan, double a, attn__nonlin_t nonlin) {
    return sqrt(3.0) * attn__init_gain(nonlin, a) / sqrt((double)fan);
}

static int64_t numel_of(int32_t ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int32_t d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

attn_status_t attn__init_xavier_uniform(float *w, int32_t ndim, const int64_t *shape,
                                        double gain, attn__rng_t *rng) {
    int64_t fi = 0, fo = 0;
    attn_status_t st = attn__init_fans(ndim, shape, &fi, &fo);
    if (st != ATTN_STATUS_OK) return st;
    if (!(gain >= 0.0) || !isfinite(gain))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "xavier_uniform: gain %g must be finite and "
                          ">= 0", gain);
    const double bound = attn__init_xavier_bound(fi, fo, gain);
    return attn__init_uniform(w, numel_of(ndim, shape), -bound, bound, rng);
}

attn_status_t attn__init_kaiming_uniform(float *w, int32_t ndim, const int64_t *shape, double a,
                                         attn__fan_mode_t mode, attn__nonlin_t nonlin,
                                         attn__rng_t *rng) {
    int64_t fi = 0, fo = 0;
    attn_status_t st = attn__init_fans(ndim, shape, &fi, &fo);
    if (st != ATTN_STATUS_OK) return st;
    if (mode != ATTN__FAN_IN && mode != ATTN__FAN_OUT)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "kaiming_uniform: mode %d is neither "
                          "ATTN__FAN_IN nor ATTN__FAN_OUT", (int)mode);
    const double bound = attn__init_kaiming_bound(mode == ATTN__FAN_IN ? fi : fo, a, nonlin);
    if (!isfinite(bound))
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "kaiming_uniform: nonlinearity %d with a = "
                          "%g gives no gain", (int)nonlin, a);
    return attn__init_uniform(w, numel_of(ndim, shape), -bound, bound, rng);
}
