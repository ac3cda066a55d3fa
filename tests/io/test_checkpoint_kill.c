/* Saving is atomic: a child process saves a large checkpoint (weights and AdamW state) over and
 * over, each time a new version; the parent SIGKILLs it at random moments, then checks that the
 * file on disk loads and holds exactly one of the versions that may be there (the last save
 * the child reported finished, or the one after it when the kill came between the rename and
 * the report). Temporary files left by the kills are counted (they show that kills landed in
 * the middle of saves) and removed.
 *
 * The seed of the kill times is printed; IO_KILL_SEED=<n> repeats a run, IO_KILL_ROUNDS=<n>
 * changes the number of kills (default 30). */
#include "io/checkpoint.h"
#include "iotest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64], path[128];

enum { ROWS = 512, COLS = 640 }; /* ~330k floats per tensor, 4 tensors: 15 MB per save */

static uint32_t pattern(int64_t version, int64_t i, uint32_t which) {
    uint64_t x = (uint64_t)version * 0x9E3779B97F4A7C15ull ^ (uint64_t)i * 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(x >> 32) ^ which;
}

static void fill(attn__params_t *ps, attn__ckpt_optim_t *opt, int64_t version) {
    uint32_t *w = (uint32_t *)ps->w, *m = (uint32_t *)opt->m, *v = (uint32_t *)opt->v;
    for (int64_t i = 0; i < ps->total; i++) {
        w[i] = pattern(version, i, 0);
        m[i] = pattern(version, i, 1);
        v[i] = pattern(version, i, 2);
    }
    opt->step = version * 10;
}

static int matches(const attn__params_t *ps, const attn__ckpt_optim_t *opt, int64_t version) {
    const uint32_t *w = (uint32_t *)ps->w, *m = (uint32_t *)opt->m, *v = (uint32_t *)opt->v;
    for (int32_t t = 0; t < ps->count; t++) {
        const attn__param_t *p = &ps->list[t];
        for (int64_t i = p->offset; i < p->offset + p->numel; i++)
            if (w[i] != pattern(version, i, 0) || m[i] != pattern(version, i, 1) ||
                v[i] != pattern(version, i, 2))
                return 0;
    }
    return opt->step == version * 10;
}

static attn_status_t save(attn__params_t *ps, attn__ckpt_optim_t *opt, int64_t version) {
    char ver[32];
    snprintf(ver, sizeof ver, "%lld", (long long)version);
    attn__st_meta_t meta[2] = {{"version", ver}, {"config", "{\"kind\": \"kill-test\"}"}};
    fill(ps, opt, version);
    return attn__ckpt_save(path, ps, opt, meta, 2);
}

/* The child: saves versions start, start+1, ... and writes each finished one to fd. */
static void child(attn__params_t *ps, attn__ckpt_optim_t *opt, int64_t start, int fd) {
    for (int64_t v = start;; v++) {
        if (save(ps, opt, v) != ATTN_STATUS_OK) {
            fprintf(stderr, "child: save failed: %s\n", attn_last_error());
            _exit(3);
        }
        if (write(fd, &v, sizeof v) != (ssize_t)sizeof v) _exit(4);
    }
}

static int remove_temporaries(void) {
    DIR *d = opendir(dir);
    int n = 0;
    char p[400];
    for (struct dirent *de; d && (de = readdir(d));)
        if (strstr(de->d_name, ".tmp-")) {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
            n++;
        }
    if (d) closedir(d);
    return n;
}

int main(void) {
    double t0 = io_seconds();
    snprintf(dir, sizeof dir, "dir-kill-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    uint64_t seed = getenv("IO_KILL_SEED") ? strtoull(getenv("IO_KILL_SEED"), NULL, 10)
                                           : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
    int rounds = getenv("IO_KILL_ROUNDS") ? atoi(getenv("IO_KILL_ROUNDS")) : 30;
    printf("kill test: seed %llu (IO_KILL_SEED=%llu repeats it), %d rounds\n",
           (unsigned long long)seed, (unsigned long long)seed, rounds);
    io_rng rng = {seed};

    attn__params_t ps;
    attn__params_init(&ps);
    int64_t shape[2] = {ROWS, COLS}, bias[1] = {COLS};
    attn__params_add(&ps, "a.weight", 2, shape);
    attn__params_add(&ps, "a.bias", 1, bias);
    attn__params_add(&ps, "b.weight", 2, shape);
    attn__params_add(&ps, "c.weight", 2, shape);
    CHECK_OK(attn__params_alloc(&ps));
    attn__ckpt_optim_t opt = {malloc(sizeof(float) * (size_t)ps.total),
                              malloc(sizeof(float) * (size_t)ps.total), 0};
    attn__ckpt_optim_t got = {malloc(sizeof(float) * (size_t)ps.total),
                              malloc(sizeof(float) * (size_t)ps.total), 0};

    /* version 0, and the time one save takes */
    double ts = io_seconds();
    CHECK_OK(save(&ps, &opt, 0));
    double one = io_seconds() - ts;
    printf("one save of %.1f MB takes %.1f ms\n", 3.0 * 4 * (double)ps.total / 1e6, 1e3 * one);

    int64_t done = 0; /* the last version known to be completely saved */
    int interrupted = 0, landed_late = 0;
    for (int round = 0; round < rounds && !io_failures; round++) {
        io_begin("round %d", round);
        int fds[2];
        if (pipe(fds) != 0) { perror("pipe"); return 1; }
        int64_t start = done + 2; /* never reuse a number: the file's version is unambiguous */
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            close(fds[0]);
            child(&ps, &opt, start, fds[1]);
        }
        close(fds[1]);
        /* kill somewhere within the first three saves */
        long delay = (long)(io_next(&rng) % (uint64_t)(3e6 * one + 1000)); /* microseconds */
        struct timespec nap = {delay / 1000000, (delay % 1000000) * 1000};
        while (nanosleep(&nap, &nap) != 0 && errno == EINTR) {}
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child ended otherwise "
              "(status %d): did a save fail?", status);
        int64_t v, last = -1;
        while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) last = v;
        close(fds[0]);
        int64_t low = last >= 0 ? last : done, high = last >= 0 ? last + 1 : start;

        interrupted += remove_temporaries() > 0;
        attn__ckpt_meta_t meta;
        attn_status_t st = attn__ckpt_load(path, &ps, &got, &meta);
        CHECK(st == ATTN_STATUS_OK, "the file does not load after a kill %ld us in: %s", delay,
              attn_last_error());
        if (st == ATTN_STATUS_OK) {
            const char *vs = attn__ckpt_meta_get(&meta, "version");
            int64_t found = vs ? strtoll(vs, NULL, 10) : -1;
            CHECK(found == low || found == high, "file holds version %lld; expected %lld or "
                  "%lld", (long long)found, (long long)low, (long long)high);
            CHECK(matches(&ps, &got, found), "content is not version %lld", (long long)found);
            landed_late += found == high && last >= 0;
            done = found > low ? found : low;
        }
        attn__ckpt_meta_free(&meta);
    }
    printf("kills that interrupted a save (a temporary file was left): %d of %d; kills "
           "between a rename and its report: %d\n", interrupted, rounds, landed_late);
    CHECK(interrupted > 0, "no kill landed during a save: the test proved nothing");

    unlink(path);
    remove_temporaries();
    rmdir(dir);
    free(opt.m);
    free(opt.v);
    free(got.m);
    free(got.v);
    attn__params_free(&ps);
    return io_finish("test_checkpoint_kill", t0);
}
