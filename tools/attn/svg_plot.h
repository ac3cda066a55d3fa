/* A small SVG plot writer: lines (or grouped bars) of a few series over categories on the x
 * axis, with axes, grid, ticks, a title and a legend. Used by `attn g2p eval --plot` for WER by
 * word length, one line per model, and for the learning curves of `attn g2p train`. Past 12
 * categories only every k-th is labelled, and past 40 the lines have no markers.
 *
 * The file is written to a temporary file beside it and renamed over the path when complete,
 * so a reader never sees half a plot. */
#ifndef ATTN_CLI_SVG_PLOT_H
#define ATTN_CLI_SVG_PLOT_H

#include <stddef.h>

typedef struct svg_series {
    const char *name; /* legend text */
    const double *y;  /* [n_x] values; NaN: no point there (the line is broken) */
} svg_series_t;

typedef struct svg_plot {
    const char *title, *x_label, *y_label;
    int n_x;                     /* categories */
    const char *const *x_ticks;  /* [n_x] their labels */
    int n_series;
    const svg_series_t *series;  /* [n_series] */
    int bars;                    /* 0: lines with markers; 1: grouped bars */
    double y_min, y_max;         /* the y range; y_max <= y_min: from the data, starting at 0 */
    const char *y_unit;          /* appended to the y tick labels ("%"), may be NULL */
    int width, height;           /* pixels; 0: 760 x 440 */
} svg_plot_t;

/* Writes the plot to path; returns 0, or -1 with the reason in err. */
int svg_plot_write(const char *path, const svg_plot_t *plot, char *err, size_t err_cap);

#endif
