/* Internal: replacing a file atomically. The new content goes to a temporary file in the same
 * directory ("<path>.tmp-<pid>-<n>"), which is flushed to disk (fsync), renamed over path, and
 * then the directory itself is flushed so the rename is durable. A crash or kill at any moment
 * leaves path holding either its old content or the complete new content, never a mix; at
 * worst a stray temporary file remains beside it.
 *
 *     attn__afile_t f;
 *     if ((st = attn__afile_open(&f, path)) != ATTN_STATUS_OK) return st;
 *     st = attn__afile_write(&f, a, na);          // as many writes as needed
 *     if (st == ATTN_STATUS_OK) st = attn__afile_commit(&f);
 *     else attn__afile_abort(&f);
 *
 * The file gets mode 0666 minus the umask (not the old file's mode). A symbolic link at path is
 * replaced by a regular file. Every failure (cannot create, disk full, ...) returns
 * ATTN_STATUS_BAD_ARGUMENT with the path and the system's reason in attn_last_error(), and
 * removes the temporary file. POSIX only. */
#ifndef ATTN_IO_ATOMIC_FILE_H
#define ATTN_IO_ATOMIC_FILE_H

#include "attn.h"

#include <stddef.h>
#include <stdint.h>

typedef struct attn__afile {
    int fd;
    char *path; /* the final name */
    char *tmp;  /* the temporary name */
    uint64_t written;
} attn__afile_t;

attn_status_t attn__afile_open(attn__afile_t *f, const char *path);
/* Appends n bytes (retrying short writes). On failure the file is aborted. */
attn_status_t attn__afile_write(attn__afile_t *f, const void *data, size_t n);
/* fsync, close, rename over the final name, fsync the directory. Always releases f; on failure
 * the old file (if any) is untouched. */
attn_status_t attn__afile_commit(attn__afile_t *f);
/* Closes and removes the temporary file; the old file is untouched. Safe after a failure. */
void attn__afile_abort(attn__afile_t *f);

/* The whole sequence for content already in memory. */
attn_status_t attn__afile_write_all(const char *path, const void *data, size_t n);

#endif
