#include "svg_heatmap.h"
#include "svg_file.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { CELL = 22, PTITLE_H = 20, GAP = 26, MARGIN = 20 };

static size_t longest(const char *const *labels, int64_t n) {
    size_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] && strlen(labels[i]) > m) m = strlen(labels[i]);
    return m;
}

/* white -> #08306b (the darkest of ColorBrewer's "Blues"), linear in the weight */
static void shade(double w, char out[8]) {
    if (!(w > 0)) w = 0; /* NaN and negatives as 0 */
    if (w > 1) w = 1;
    int r = (int)lround(255 + (8 - 255) * w), g = (int)lround(255 + (48 - 255) * w),
        b = (int)lround(255 + (107 - 255) * w);
    snprintf(out, 8, "#%02x%02x%02x", r, g, b);
}

static void write_heatmap(FILE *f, const void *ctx) {
    const svg_heatmap_t *h = ctx;
    const int per = h->per_line > 0 ? h->per_line : 1;
    const int lines = (h->n_panels + per - 1) / per;
    /* about 7.5 px a character at 12 px; column labels longer than two characters are
     * written upwards at 60 degrees so that they do not run into each other */
    const size_t rmax = longest(h->row_labels, h->rows), cmax = longest(h->col_labels, h->cols);
    const int slanted = cmax > 2;
    const double LABEL_W = 12 + 7.5 * (double)(rmax > 4 ? rmax : 4);
    const double LABEL_H = slanted ? 12 + 6.5 * (double)cmax : 18;
    const double pw = LABEL_W + (double)h->cols * CELL, ph = PTITLE_H + LABEL_H +
                                                              (double)h->rows * CELL;
    const double head = MARGIN + (h->title ? 24 : 0) + (h->subtitle ? 20 : 0);
    double W = 2 * MARGIN + per * pw + (per - 1) * GAP;
    if (h->title && W < 2 * MARGIN + 10.0 * (double)strlen(h->title))
        W = 2 * MARGIN + 10.0 * (double)strlen(h->title);
    if (h->subtitle && W < 2 * MARGIN + 7.0 * (double)strlen(h->subtitle))
        W = 2 * MARGIN + 7.0 * (double)strlen(h->subtitle);
    const double H = head + lines * ph + (lines - 1) * GAP + 56 + MARGIN;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\" "
               "font-size=\"12\">\n", W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", W, H);
    double y = MARGIN;
    if (h->title) {
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"16\" font-weight=\"bold\">", MARGIN,
                y + 14);
        svg_put_text(f, h->title);
        fputs("</text>\n", f);
        y += 24;
    }
    if (h->subtitle) {
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" fill=\"#444444\">", MARGIN, y + 12);
        svg_put_text(f, h->subtitle);
        fputs("</text>\n", f);
    }
    for (int p = 0; p < h->n_panels; p++) {
        const double x0 = MARGIN + (p % per) * (pw + GAP), y0 = head + (p / per) * (ph + GAP);
        const double gx = x0 + LABEL_W, gy = y0 + PTITLE_H + LABEL_H;
        fprintf(f, "<g>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                   "font-weight=\"bold\">", gx + (double)h->cols * CELL / 2, y0 + 13);
        svg_put_text(f, h->panel_titles ? h->panel_titles[p] : "");
        fputs("</text>\n", f);
        for (int64_t j = 0; j < h->cols; j++) {
            const double x = gx + (j + 0.5) * CELL, y = gy - 5;
            if (slanted)
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" transform=\"rotate(-60 %.1f %.1f)\">",
                        x + 4, y, x + 4, y);
            else
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, y);
            svg_put_text(f, h->col_labels[j]);
            fputs("</text>\n", f);
        }
        for (int64_t i = 0; i < h->rows; i++) {
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", gx - 5,
                    gy + (i + 0.5) * CELL + 4);
            svg_put_text(f, h->row_labels[i]);
            fputs("</text>\n", f);
            for (int64_t j = 0; j < h->cols; j++) {
                const float w = h->maps[p][i * h->cols + j];
                char c[8];
                shade(w, c);
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\">"
                           "<title>", gx + (double)j * CELL, gy + (double)i * CELL, CELL, CELL, c);
                svg_put_text(f, h->row_labels[i]);
                fputs(" &lt;- ", f);
                svg_put_text(f, h->col_labels[j]);
                fprintf(f, ": %.4f</title></rect>\n", (double)w);
            }
        }
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                   "stroke=\"#888888\"/>\n</g>\n", gx, gy, (double)h->cols * CELL,
                (double)h->rows * CELL);
    }
    /* the colour bar: 0 .. 1 in ten steps */
    const double by = H - MARGIN - 30;
    fprintf(f, "<text x=\"%d\" y=\"%.1f\">attention weight</text>\n", MARGIN, by - 6);
    for (int k = 0; k < 10; k++) {
        char c[8];
        shade((k + 0.5) / 10.0, c);
        fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"20\" height=\"12\" fill=\"%s\"/>\n",
                MARGIN + 20 * k, by, c);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"200\" height=\"12\" fill=\"none\" "
               "stroke=\"#888888\"/>\n", MARGIN, by);
    for (int k = 0; k <= 2; k++)
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                MARGIN + 100 * k, by + 26, k == 0 ? "0" : k == 1 ? "0.5" : "1");
    fputs("</svg>\n", f);
}

int svg_heatmap_write(const char *path, const svg_heatmap_t *h, char *err, size_t err_cap) {
    return svg_write_file(path, write_heatmap, h, err, err_cap);
}
