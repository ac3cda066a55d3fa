/* What the SVG writers share: escaping text for SVG, and writing a file so that a reader never
 * sees half of it (a temporary file beside the path, flushed, synced, then renamed over it). */
#ifndef ATTN_CLI_SVG_FILE_H
#define ATTN_CLI_SVG_FILE_H

#include <stddef.h>
#include <stdio.h>

/* Writes s with &, <, > and " escaped. */
void svg_put_text(FILE *f, const char *s);

/* Calls body(f, ctx) on a temporary file beside path and renames it over path; returns 0, or
 * -1 with the reason in err (and no file left behind). The file gets the usual 0666 & ~umask
 * permissions. */
int svg_write_file(const char *path, void (*body)(FILE *f, const void *ctx), const void *ctx,
                   char *err, size_t err_cap);

#endif
