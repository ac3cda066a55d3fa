#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double progress_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void progress_format_time(double s, char *buf, int cap) {
    if (!(s >= 0) || s > 359999) { snprintf(buf, (size_t)cap, "--:--"); return; }
    long t = (long)(s + 0.5), h = t / 3600, m = t / 60 % 60, sec = t % 60;
    if (h) snprintf(buf, (size_t)cap, "%ld:%02ld:%02ld", h, m, sec);
    else snprintf(buf, (size_t)cap, "%02ld:%02ld", m, sec);
}

void progress_begin(progress_t *p, const char *label, const char *unit, int64_t total) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->start = progress_now();
    p->log_every = 30.0;
    p->tty = isatty(STDERR_FILENO);
}

static void human(double x, char *buf, int cap) {
    if (x >= 1e9) snprintf(buf, (size_t)cap, "%.2fG", x / 1e9);
    else if (x >= 1e6) snprintf(buf, (size_t)cap, "%.2fM", x / 1e6);
    else if (x >= 1e4) snprintf(buf, (size_t)cap, "%.1fk", x / 1e3);
    else if (x >= 100) snprintf(buf, (size_t)cap, "%.0f", x);
    else if (x >= 10) snprintf(buf, (size_t)cap, "%.1f", x);
    else snprintf(buf, (size_t)cap, "%.2f", x);
}

static void draw(progress_t *p, int64_t done, const char *note, int final) {
    double now = progress_now(), el = now - p->start;
    double rate = el > 0 ? (double)done / el : 0.0;
    char r[32], eta[32], elapsed[32], bar[32];
    human(rate, r, sizeof r);
    progress_format_time(el, elapsed, sizeof elapsed);
    if (p->total > 0 && rate > 0 && !final)
        progress_format_time((double)(p->total - done) / rate, eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "%s", final ? "done" : "--:--");
    const int width = 24;
    int fill = p->total > 0 ? (int)((double)width * (double)done / (double)p->total) : 0;
    if (fill > width) fill = width;
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double pct = p->total > 0 ? 100.0 * (double)done / (double)p->total : 0.0;
    fprintf(stderr, "%s%s [%s] %5.1f%% %lld/%lld %s %s/s elapsed %s eta %s%s%s%s",
            p->tty ? "\r\033[K" : "", p->label, bar, pct, (long long)done,
            (long long)p->total, p->unit, r, elapsed, eta, note ? "  " : "", note ? note : "",
            p->tty && !final ? "" : "\n");
    fflush(stderr);
    p->last_draw = now;
    p->drawn = 1;
}

void progress_update(progress_t *p, int64_t done, const char *note) {
    double now = progress_now();
    if (p->drawn && now - p->last_draw < (p->tty ? 0.1 : p->log_every)) return;
    draw(p, done, note, 0);
}

void progress_end(progress_t *p, int64_t done, const char *note) { draw(p, done, note, 1); }
