/* Internal: recording errors. Every public entry point returns through attn__fail() on a
 * caller's mistake, so that attn_last_error() says what was wrong and how to fix it. */
#ifndef ATTN_CORE_STATUS_H
#define ATTN_CORE_STATUS_H

#include "attn.h"

#if defined(__GNUC__)
#  define ATTN__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#  define ATTN__PRINTF(a, b)
#endif

/* Records the message for this thread and returns status. */
attn_status_t attn__fail(attn_status_t status, const char *fmt, ...) ATTN__PRINTF(2, 3);

#endif
