/* Terminal output of small matrices: numeric tables and heatmaps with shared column layout. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_use_color(cli_color_t mode, FILE *out) {
    if (mode == CLI_COLOR_ALWAYS) return 1;
    if (mode == CLI_COLOR_NEVER) return 0;
    const char *no_color = getenv("NO_COLOR");
    if (no_color && *no_color) return 0;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0) return 0;
    return isatty(fileno(out));
}

/* Layout shared by the table and the heatmap, so that their columns line up. */
typedef struct layout {
    int label_w; /* width of the first column (row labels) */
    int cell_w;  /* width of every other column, including the gap before it */
} layout_t;

static layout_t make_layout(const cli_matrix_t *m, int decimals) {
    layout_t l = {0, decimals + 5}; /* room for "-1.234" plus a gap */
    for (int i = 0; i < m->rows; i++) {
        int n = (int)strlen(m->row_labels[i]);
        if (n > l.label_w) l.label_w = n;
    }
    for (int j = 0; j < m->cols; j++) {
        int n = (int)strlen(m->col_labels[j]) + 2;
        if (n > l.cell_w) l.cell_w = n;
    }
    return l;
}

static void print_header(FILE *out, const cli_matrix_t *m, const layout_t *l, int indent) {
    fprintf(out, "%*s%*s", indent, "", l->label_w, "");
    for (int j = 0; j < m->cols; j++) fprintf(out, "%*s", l->cell_w, m->col_labels[j]);
    fputc('\n', out);
}

static int is_hidden(const cli_matrix_t *m, int i, int j) {
    return m->hidden && m->hidden[i * m->cols + j];
}

/* A cell shown as a dot, right-aligned like the numbers ("·" is one column, two bytes). */
static void print_dot(FILE *out, int width) {
    fprintf(out, "%*s\xc2\xb7", width - 1, "");
}

void cli_print_table(FILE *out, const cli_matrix_t *m, int indent, int decimals) {
    layout_t l = make_layout(m, decimals);
    print_header(out, m, &l, indent);
    for (int i = 0; i < m->rows; i++) {
        fprintf(out, "%*s%-*s", indent, "", l.label_w, m->row_labels[i]);
        for (int j = 0; j < m->cols; j++) {
            if (is_hidden(m, i, j))
                print_dot(out, l.cell_w);
            else
                fprintf(out, "%*.*f", l.cell_w, decimals, (double)m->data[i * m->ld + j]);
        }
        fputc('\n', out);
    }
}

/* Shade blocks for 0, 1/4, 1/2, 3/4 and 1 (a value shows as the nearest). */
static const char *const shades[5] = {" ", "\xe2\x96\x91", "\xe2\x96\x92", "\xe2\x96\x93",
                                      "\xe2\x96\x88"};

/* ANSI 256-colour background ramp from near-black through purple and teal to yellow. */
static const int ramp[] = {234, 53, 54, 55, 61, 67, 31, 37, 36, 35, 71, 113, 149, 185, 220, 226};
enum { RAMP_N = sizeof ramp / sizeof ramp[0] };

static int level(float v, int levels) {
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 1.0f) return levels - 1;
    return (int)lrintf(v * (float)(levels - 1));
}

static void print_cell(FILE *out, float v, int width, int color) {
    /* Two spaces of gap, then the cell itself. */
    int inner = width - 2;
    fputs("  ", out);
    if (color) {
        fprintf(out, "\x1b[48;5;%dm%*s\x1b[0m", ramp[level(v, RAMP_N)], inner, "");
    } else {
        const char *s = shades[level(v, 5)];
        for (int k = 0; k < inner; k++) fputs(s, out);
    }
}

void cli_print_heatmap(FILE *out, const cli_matrix_t *m, int indent, int color) {
    layout_t l = make_layout(m, 3);
    fprintf(out, "%*s", indent, "");
    if (color) {
        fputs("colour scale: 0 ", out);
        for (int k = 0; k < RAMP_N; k++) fprintf(out, "\x1b[48;5;%dm  \x1b[0m", ramp[k]);
        fputs(" 1", out);
    } else {
        fprintf(out, "shades: '%s' 0   '%s' 1/4   '%s' 1/2   '%s' 3/4   '%s' 1 (nearest)",
                shades[0], shades[1], shades[2], shades[3], shades[4]);
    }
    if (m->hidden) fputs("   \xc2\xb7 hidden", out);
    fputc('\n', out);
    print_header(out, m, &l, indent);
    for (int i = 0; i < m->rows; i++) {
        fprintf(out, "%*s%-*s", indent, "", l.label_w, m->row_labels[i]);
        for (int j = 0; j < m->cols; j++) {
            if (is_hidden(m, i, j))
                print_dot(out, l.cell_w);
            else
                print_cell(out, m->data[i * m->ld + j], l.cell_w, color);
        }
        fputc('\n', out);
    }
}
