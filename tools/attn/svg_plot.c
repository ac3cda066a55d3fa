#include "svg_plot.h"
#include "svg_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Colour-blind-friendly colours (Okabe and Ito). */
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                      "#E69F00", "#56B4E9", "#F0E442", "#000000"};
enum { PALETTE_N = sizeof palette / sizeof palette[0] };

/* A round tick step giving about `want` intervals over range. */
static double nice_step(double range, int want) {
    double raw = range / want, mag = pow(10.0, floor(log10(raw))), r = raw / mag;
    double step = r <= 1.0 ? 1.0 : r <= 2.0 ? 2.0 : r <= 2.5 ? 2.5 : r <= 5.0 ? 5.0 : 10.0;
    return step * mag;
}

static void write_svg(FILE *f, const svg_plot_t *p) {
    const int W = p->width > 0 ? p->width : 760, H = p->height > 0 ? p->height : 440;
    const double left = 70, right = 180, top = 48, bottom = 62;
    const double pw = W - left - right, ph = H - top - bottom;
    double lo = p->y_min, hi = p->y_max;
    if (!(hi > lo)) {
        lo = 0.0;
        hi = 0.0;
        for (int s = 0; s < p->n_series; s++)
            for (int i = 0; i < p->n_x; i++)
                if (isfinite(p->series[s].y[i]) && p->series[s].y[i] > hi) hi = p->series[s].y[i];
        if (!(hi > lo)) hi = 1.0;
    }
    double step = nice_step(hi - lo, 6);
    hi = lo + ceil((hi - lo) / step - 1e-9) * step;
    const int nx = p->n_x > 0 ? p->n_x : 1;
    const double slot = pw / nx;
#define X(i) (left + slot * ((double)(i) + 0.5))
#define Y(v) (top + ph * (1.0 - ((v) - lo) / (hi - lo)))

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Arial, sans-serif\" "
               "font-size=\"13\">\n", W, H, W, H);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    if (p->title) {
        fprintf(f, "<text x=\"%.1f\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" "
                   "font-weight=\"bold\">", left + pw / 2);
        svg_put_text(f, p->title);
        fputs("</text>\n", f);
    }
    /* grid and y ticks */
    fputs("<g stroke=\"#dddddd\" stroke-width=\"1\">\n", f);
    for (double v = lo; v <= hi + step * 1e-6; v += step)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", left, Y(v),
                left + pw, Y(v));
    fputs("</g>\n<g text-anchor=\"end\" fill=\"#333333\">\n", f);
    int decimals = step >= 1.0 ? 0 : step >= 0.1 ? 1 : step >= 0.01 ? 2 : 3;
    for (double v = lo; v <= hi + step * 1e-6; v += step) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%.*f", left - 8, Y(v) + 4, decimals,
                fabs(v) < step * 1e-6 ? 0.0 : v);
        svg_put_text(f, p->y_unit);
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
    /* axes */
    fprintf(f, "<g stroke=\"#333333\" stroke-width=\"1.2\">\n"
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n"
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n</g>\n",
            left, top, left, top + ph, left, top + ph, left + pw, top + ph);
    /* x ticks */
    fputs("<g text-anchor=\"middle\" fill=\"#333333\">\n", f);
    const int every = p->n_x > 12 ? (p->n_x + 11) / 12 : 1; /* at most 12 labels */
    for (int i = 0; i < p->n_x; i += every) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", X(i), top + ph + 18);
        svg_put_text(f, p->x_ticks ? p->x_ticks[i] : "");
        fputs("</text>\n", f);
    }
    fputs("</g>\n", f);
    if (p->x_label) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", left + pw / 2,
                (double)H - 16);
        svg_put_text(f, p->x_label);
        fputs("</text>\n", f);
    }
    if (p->y_label) {
        fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">",
                top + ph / 2);
        svg_put_text(f, p->y_label);
        fputs("</text>\n", f);
    }
    /* the series */
    for (int s = 0; s < p->n_series; s++) {
        const char *c = palette[s % PALETTE_N];
        const double *y = p->series[s].y;
        fprintf(f, "<g class=\"series\" data-name=\"");
        svg_put_text(f, p->series[s].name);
        fputs("\">\n", f);
        if (p->bars) {
            double bw = slot * 0.8 / (p->n_series > 0 ? p->n_series : 1);
            for (int i = 0; i < p->n_x; i++) {
                if (!isfinite(y[i])) continue;
                double v = y[i] < lo ? lo : y[i] > hi ? hi : y[i];
                double x = left + slot * i + slot * 0.1 + bw * s;
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                           "fill=\"%s\"/>\n", x, Y(v), bw, Y(lo) - Y(v), c);
            }
        } else {
            /* a polyline per run of finite values */
            int open = 0;
            for (int i = 0; i <= p->n_x; i++) {
                int ok = i < p->n_x && isfinite(y[i]);
                if (ok && !open) {
                    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.2\" "
                               "points=\"", c);
                    open = 1;
                } else if (!ok && open) {
                    fputs("\"/>\n", f);
                    open = 0;
                }
                if (ok) fprintf(f, "%.1f,%.1f ", X(i), Y(y[i]));
            }
            for (int i = 0; i < p->n_x && p->n_x <= 40; i++) /* markers while they fit */
                if (isfinite(y[i]))
                    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", X(i),
                            Y(y[i]), c);
        }
        fputs("</g>\n", f);
        /* legend entry */
        double ly = top + 10 + 22.0 * s, lx = left + pw + 18;
        if (p->bars)
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"22\" height=\"10\" fill=\"%s\"/>\n",
                    lx, ly - 5, c);
        else
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-width=\"2.2\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" "
                       "fill=\"%s\"/>\n", lx, ly, lx + 22, ly, c, lx + 11, ly, c);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", lx + 28, ly + 4);
        svg_put_text(f, p->series[s].name);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
#undef X
#undef Y
}

static void write_plot(FILE *f, const void *plot) { write_svg(f, plot); }

int svg_plot_write(const char *path, const svg_plot_t *plot, char *err, size_t err_cap) {
    return svg_write_file(path, write_plot, plot, err, err_cap);
}
