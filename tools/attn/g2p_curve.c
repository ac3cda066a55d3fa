/* The learning curve of `attn g2p train` (see g2p_curve.h). */
#include "g2p_curve.h"

#include "svg_file.h"
#include "svg_plot.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FIELDS = 7 };

int g2p_curve_add(g2p_curve_t *c, const g2p_curve_point_t *p) {
    int64_t n = c->n;
    while (n > 0 && c->points[n - 1].step >= p->step) n--;
    if (n == c->cap) {
        int64_t cap = c->cap ? 2 * c->cap : 64;
        g2p_curve_point_t *t = realloc(c->points, (size_t)cap * sizeof *t);
        if (!t) return -1;
        c->points = t;
        c->cap = cap;
    }
    c->points[n] = *p;
    c->n = n + 1;
    return 0;
}

static void fields_of(const g2p_curve_point_t *p, double v[FIELDS]) {
    v[0] = (double)p->step;
    v[1] = p->seconds;
    v[2] = p->lr;
    v[3] = p->train_loss;
    v[4] = p->dev_loss;
    v[5] = p->dev_wer;
    v[6] = p->dev_per;
}

char *g2p_curve_encode(const g2p_curve_t *c) {
    /* at most 24 characters a number ("-1.2345678901234567e-308") and a separator */
    size_t cap = (size_t)c->n * FIELDS * 26 + 1, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = '\0';
    for (int64_t i = 0; i < c->n; i++) {
        double v[FIELDS];
        fields_of(&c->points[i], v);
        len += (size_t)snprintf(s + len, cap - len, "%s%lld", i ? ";" : "",
                                (long long)c->points[i].step);
        for (int k = 1; k < FIELDS; k++)
            len += (size_t)snprintf(s + len, cap - len, ",%.17g", v[k]);
    }
    return s;
}

int g2p_curve_decode(const char *text, g2p_curve_t *c) {
    c->n = 0;
    const char *s = text;
    while (*s) {
        g2p_curve_point_t p;
        char *end;
        errno = 0;
        long long step = strtoll(s, &end, 10);
        if (end == s || errno || step < 0 || *end != ',') goto bad;
        p.step = step;
        double v[FIELDS];
        s = end;
        for (int k = 1; k < FIELDS; k++) {
            if (*s != ',') goto bad;
            s++;
            v[k] = strtod(s, &end);
            if (end == s) goto bad;
            s = end;
        }
        p.seconds = v[1];
        p.lr = v[2];
        p.train_loss = v[3];
        p.dev_loss = v[4];
        p.dev_wer = v[5];
        p.dev_per = v[6];
        if (*s == ';') s++;
        else if (*s) goto bad;
        if ((c->n > 0 && c->points[c->n - 1].step >= p.step) || g2p_curve_add(c, &p) != 0)
            goto bad;
    }
    return 0;
bad:
    c->n = 0;
    return -1;
}

void g2p_curve_free(g2p_curve_t *c) {
    free(c->points);
    c->points = NULL;
    c->n = c->cap = 0;
}

static void put_number(FILE *f, const char *fmt, double v) {
    if (isfinite(v)) fprintf(f, fmt, v);
    else fputs("nan", f);
}

static void write_tsv(FILE *f, const void *ctx) {
    const g2p_curve_t *c = ctx;
    fputs("step\ttrain_seconds\tlr\ttrain_loss\tdev_loss\tdev_wer\tdev_per\n", f);
    for (int64_t i = 0; i < c->n; i++) {
        const g2p_curve_point_t *p = &c->points[i];
        fprintf(f, "%lld\t%.3f\t", (long long)p->step, p->seconds);
        put_number(f, "%.6g", p->lr);
        fputc('\t', f);
        put_number(f, "%.6f", p->train_loss);
        fputc('\t', f);
        put_number(f, "%.6f", p->dev_loss);
        fputc('\t', f);
        put_number(f, "%.6f", p->dev_wer);
        fputc('\t', f);
        put_number(f, "%.6f", p->dev_per);
        fputc('\n', f);
    }
}

int g2p_curve_write(const char *path, const g2p_curve_t *c, const char *title, char *err,
                    size_t err_cap) {
    char name[PATH_MAX + 16];
    snprintf(name, sizeof name, "%s.curve.tsv", path);
    if (svg_write_file(name, write_tsv, c, err, err_cap) != 0) return -1;
    if (c->n == 0) return 0;
    int rc = -1;
    char (*ticks)[24] = malloc((size_t)c->n * sizeof *ticks);
    const char **tick_ptrs = malloc((size_t)c->n * sizeof *tick_ptrs);
    double *wer = malloc((size_t)c->n * sizeof *wer), *per = malloc((size_t)c->n * sizeof *per);
    if (!ticks || !tick_ptrs || !wer || !per) {
        snprintf(err, err_cap, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < c->n; i++) {
        snprintf(ticks[i], sizeof ticks[i], "%lld", (long long)c->points[i].step);
        tick_ptrs[i] = ticks[i];
        wer[i] = 100.0 * c->points[i].dev_wer;
        per[i] = 100.0 * c->points[i].dev_per;
    }
    svg_series_t series[2] = {{"dev WER", wer}, {"dev PER", per}};
    svg_plot_t plot = {
        .title = title, .x_label = "training step", .y_label = "error rate on the dev words",
        .n_x = (int)(c->n < INT_MAX ? c->n : INT_MAX), .x_ticks = tick_ptrs, .n_series = 2,
        .series = series, .y_unit = "%",
    };
    snprintf(name, sizeof name, "%s.curve.svg", path);
    rc = svg_plot_write(name, &plot, err, err_cap);
done:
    free(ticks);
    free(tick_ptrs);
    free(wer);
    free(per);
    return rc;
}
