/* An SVG figure of attention maps: a grid of heatmap panels sharing their row and column labels
 * (for G2P: the phonemes being produced as rows, the word's letters as columns, one panel per
 * decoder layer and head, and the heads' mean). A cell's shade is its weight, from white (0) to
 * dark blue (1), with the exact value as the cell's tooltip; a colour bar gives the scale.
 * Written atomically (svg_file.h). */
#ifndef ATTN_CLI_SVG_HEATMAP_H
#define ATTN_CLI_SVG_HEATMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct svg_heatmap {
    const char *title, *subtitle;          /* either may be NULL */
    int64_t rows, cols;                    /* of every panel */
    const char *const *row_labels;         /* [rows] */
    const char *const *col_labels;         /* [cols] */
    int n_panels, per_line;                /* panels, and panels per line of the grid (> 0) */
    const float *const *maps;              /* [n_panels] row-major rows x cols weights */
    const char *const *panel_titles;       /* [n_panels] */
} svg_heatmap_t;

/* Writes the figure to path; returns 0, or -1 with the reason in err. */
int svg_heatmap_write(const char *path, const svg_heatmap_t *h, char *err, size_t err_cap);

#endif
