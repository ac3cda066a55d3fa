/* The learning curve of `attn g2p train`: one point per dev evaluation (step, training time,
 * learning rate, smoothed training loss, dev loss, dev WER and PER).
 *
 * The curve travels in the checkpoints' metadata ("state.curve"), so a resumed run continues
 * the curve of the state it resumes from, and after every evaluation the trainer writes it out
 * beside the model as PATH.curve.tsv (a table, for scripts and spreadsheets) and
 * PATH.curve.svg (dev WER and PER by step), each through a temporary file renamed over the
 * old one. */
#ifndef ATTN_CLI_G2P_CURVE_H
#define ATTN_CLI_G2P_CURVE_H

#include <stddef.h>
#include <stdint.h>

typedef struct g2p_curve_point {
    int64_t step;
    double seconds;    /* training time so far (the trainer's count, across --resume) */
    double lr;         /* the learning rate of the step */
    double train_loss; /* the training loss, smoothed (NaN before the first step) */
    double dev_loss, dev_wer, dev_per; /* wer and per as fractions */
} g2p_curve_point_t;

typedef struct g2p_curve {
    g2p_curve_point_t *points; /* by step, ascending */
    int64_t n, cap;
} g2p_curve_t;

/* Appends p, first dropping any points at or after its step (steps redone after a resume from
 * an earlier state). Returns 0, or -1 when out of memory (the curve unchanged). */
int g2p_curve_add(g2p_curve_t *c, const g2p_curve_point_t *p);

/* The curve as one metadata string, "step,seconds,lr,train_loss,dev_loss,wer,per;..." with
 * every number printed exactly (%.17g); NULL when out of memory. The caller frees it. */
char *g2p_curve_encode(const g2p_curve_t *c);

/* Parses what g2p_curve_encode wrote into c (emptied first). Returns 0, or -1 when the text
 * is malformed (c left empty). */
int g2p_curve_decode(const char *text, g2p_curve_t *c);

void g2p_curve_free(g2p_curve_t *c);

/* Writes PATH.curve.tsv and PATH.curve.svg for the model at path; title names the run in the
 * plot. Returns 0, or -1 with the reason in err. */
int g2p_curve_write(const char *path, const g2p_curve_t *c, const char *title, char *err,
                    size_t err_cap);

#endif
