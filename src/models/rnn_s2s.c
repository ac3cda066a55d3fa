/* The RNN encoder-decoder, with and without attention: not built yet. */
#include "models/config.h"
#include "core/status.h"

attn_status_t attn__rnn_s2s_create(const attn__s2s_config_t *c, uint64_t seed,
                                   attn__s2s_t **out) {
    (void)seed;
    *out = NULL;
    return attn__fail(ATTN_STATUS_UNSUPPORTED, "the %s model is not built into this version "
                      "yet; use --model transformer", c->kind);
}
