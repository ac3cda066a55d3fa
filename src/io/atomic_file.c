#include "io/atomic_file.h"
#include "core/status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *errstr(int e, char buf[160]) {
    if (strerror_r(e, buf, 160) != 0) snprintf(buf, 160, "error %d", e);
    return buf;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void release(attn__afile_t *f) {
    if (f->fd >= 0) close(f->fd);
    free(f->path);
    free(f->tmp);
    f->fd = -1;
    f->path = f->tmp = NULL;
}

void attn__afile_abort(attn__afile_t *f) {
    if (f->tmp) {
        if (f->fd >= 0) close(f->fd);
        f->fd = -1;
        unlink(f->tmp);
    }
    release(f);
}

attn_status_t attn__afile_open(attn__afile_t *f, const char *path) {
    static atomic_uint counter;
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (!path || !*path)
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "no file name given to write to");
    size_t n = strlen(path);
    if (path[n - 1] == '/')
        return attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot write '%s': it names a directory; "
                          "give a file name", path);
    f->path = dup_str(path);
    f->tmp = malloc(n + 64);
    if (!f->path || !f->tmp) {
        release(f);
        return attn__fail(ATTN_STATUS_OUT_OF_MEMORY, "out of memory naming a file");
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned k = atomic_fetch_add(&counter, 1u);
        snprintf(f->tmp, n + 64, "%s.tmp-%ld-%u", path, (long)getpid(), k);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0) return ATTN_STATUS_OK;
        if (errno != EEXIST) break;
    }
    int e = errno;
    char buf[160];
    attn_status_t st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot create the temporary file "
                                  "'%s' to write '%s': %s; check that the directory exists and "
                                  "is writable", f->tmp, path, errstr(e, buf));
    free(f->tmp);
    f->tmp = NULL;
    release(f);
    return st;
}

attn_status_t attn__afile_write(attn__afile_t *f, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t w = write(f->fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            char buf[160];
            attn_status_t st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot write '%s' (after "
                                          "%llu bytes): %s; '%s' is left as it was",
                                          f->tmp, (unsigned long long)f->written,
                                          errstr(e, buf), f->path);
            attn__afile_abort(f);
            return st;
        }
        p += w;
        n -= (size_t)w;
        f->written += (uint64_t)w;
    }
    return ATTN_STATUS_OK;
}

/* fsync of the directory holding path, so that a rename in it survives a power cut. */
static int sync_dir(const char *path) {
    char *dir = dup_str(path);
    if (!dir) return ENOMEM;
    char *slash = strrchr(dir, '/');
    const char *name = ".";
    if (slash == dir) name = "/";
    else if (slash) { *slash = '\0'; name = dir; }
    int fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = 0;
    if (fd < 0) e = errno;
    else {
        /* some file systems cannot sync a directory; the rename is then as durable as it gets */
        if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) e = errno;
        close(fd);
    }
    free(dir);
    return e;
}

/* Removes what earlier writers of path left behind when they were killed mid-save:
 * "<name>.tmp-<pid>-<n>" beside it, whose process no longer exists and which has not been
 * touched for STALE seconds (so a live writer on another machine sharing the directory keeps
 * its file). Best effort: failures are ignored. */
enum { STALE = 600 };

static void remove_stale(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0, nlen = strlen(name);
    char dir[4096], full[4096];
    if (dlen >= sizeof dir || nlen == 0) return;
    if (dlen) memcpy(dir, path, dlen);
    else dir[dlen++] = '.';
    dir[dlen] = '\0';
    DIR *d = opendir(dir);
    if (!d) return;
    const time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, name, nlen) != 0 || strncmp(n + nlen, ".tmp-", 5) != 0) continue;
        char *end = NULL;
        long pid = strtol(n + nlen + 5, &end, 10);
        if (pid <= 0 || !end || *end != '-' || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or cannot tell */
        if (snprintf(full, sizeof full, "%s/%s", dir, n) >= (int)sizeof full) continue;
        struct stat st;
        if (lstat(full, &st) != 0 || !S_ISREG(st.st_mode) || now - st.st_mtime < STALE) continue;
        unlink(full);
    }
    closedir(d);
}

attn_status_t attn__afile_commit(attn__afile_t *f) {
    char buf[160];
    int rc;
    do rc = fsync(f->fd); while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        attn_status_t st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot flush '%s' to disk: %s; "
                                      "'%s' is left as it was", f->tmp, errstr(e, buf), f->path);
        attn__afile_abort(f);
        return st;
    }
    rc = close(f->fd);
    f->fd = -1;
    if (rc != 0 && errno != EINTR) {
        int e = errno;
        attn_status_t st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot close '%s': %s; '%s' is "
                                      "left as it was", f->tmp, errstr(e, buf), f->path);
        attn__afile_abort(f);
        return st;
    }
    if (rename(f->tmp, f->path) != 0) {
        int e = errno;
        attn_status_t st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "cannot rename '%s' to '%s': %s; "
                                      "'%s' is left as it was", f->tmp, f->path,
                                      errstr(e, buf), f->path);
        attn__afile_abort(f);
        return st;
    }
    int e = sync_dir(f->path);
    remove_stale(f->path);
    attn_status_t st = ATTN_STATUS_OK;
    if (e != 0)
        st = attn__fail(ATTN_STATUS_BAD_ARGUMENT, "wrote '%s' but could not flush its directory "
                        "to disk (%s): the new file may not survive a power cut", f->path,
                        errstr(e, buf));
    release(f);
    return st;
}

attn_status_t attn__afile_write_all(const char *path, const void *data, size_t n) {
    attn__afile_t f;
    attn_status_t st = attn__afile_open(&f, path);
    if (st != ATTN_STATUS_OK) return st;
    st = attn__afile_write(&f, data, n);
    if (st != ATTN_STATUS_OK) return st; /* already aborted */
    return attn__afile_commit(&f);
}
