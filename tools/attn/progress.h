/* A progress line for long work: done/total, a bar, the rate, the ETA and a caller's note
 * ("loss 2.31"). On a terminal it redraws one line in place (at most 10 times a second); when
 * stderr is not a terminal (CI logs, pipes) it writes a plain line every `log_every` seconds
 * so logs stay short. */
#ifndef ATTN_CLI_PROGRESS_H
#define ATTN_CLI_PROGRESS_H

#include <stdint.h>

typedef struct progress {
    const char *label; /* "train", "eval" */
    const char *unit;  /* "tok", "words" */
    int64_t total;     /* 0 when unknown */
    double start, last_draw, log_every;
    int tty, drawn;
} progress_t;

void progress_begin(progress_t *p, const char *label, const char *unit, int64_t total);
/* done: units so far; note may be NULL */
void progress_update(progress_t *p, int64_t done, const char *note);
/* final line, ending the redraws */
void progress_end(progress_t *p, int64_t done, const char *note);
/* seconds since an arbitrary start, monotonic */
double progress_now(void);
/* "1:02:03" or "02:03" into buf */
void progress_format_time(double seconds, char *buf, int cap);

#endif
