#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

const char *attn_status_string(attn_status_t status) {
    switch (status) {
    case ATTN_STATUS_OK: return "ok";
    case ATTN_STATUS_NULL_POINTER: return "null pointer";
    case ATTN_STATUS_BAD_SHAPE: return "bad shape";
    case ATTN_STATUS_BAD_STRIDE: return "bad stride";
    case ATTN_STATUS_OVERFLOW: return "size overflow";
    case ATTN_STATUS_BAD_MASK: return "bad mask";
    case ATTN_STATUS_BAD_ARGUMENT: return "bad argument";
    case ATTN_STATUS_UNSUPPORTED: return "unsupported";
    case ATTN_STATUS_OUT_OF_MEMORY: return "out of memory";
    }
    return "unknown status";
}

const char *attn_last_error(void) { return last_error; }

const char *attn_version(void) { return "0.1.0"; }

attn_status_t attn__fail(attn_status_t status, const char *fmt, ...) {
    int n = snprintf(last_error, sizeof last_error, "%s: ", attn_status_string(status));
    if (n < 0 || (size_t)n >= sizeof last_error) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
    va_end(ap);
    return status;
}
