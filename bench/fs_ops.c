/* bench_fs_ops — the fs/ awaitables against the blocking system calls, in the same run.
 *
 *   bench_fs_ops [DIR] [N]     (default: a new directory under /tmp, N = 20000)
 *
 * For each operation: N blocking calls in a loop (the baseline), N awaitables one at a time
 * (what the ring adds to one call), and N awaitables with 64 in flight from 64 tasks (what a
 * program like ucp does). Prints ns per operation and the ratio to the baseline. Warm caches;
 * take the median of a few runs on a quiet machine. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uco.h>

static char dir[512];
static int dirfd_ = -1;
static int n_ops = 20000;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void name_of(char *buf, size_t len, const char *prefix, int i)
{
    snprintf(buf, len, "%s%06d", prefix, i);
}

/* ---- the operations, blocking and awaited ----------------------------------------------- */

enum op { OP_STATX, OP_OPEN_CLOSE, OP_CREATE_WRITE_CLOSE, OP_UNLINK, OP__N };
static const char *op_names[] = {"statx", "open+close", "create+write+close", "unlink"};

static int blocking(enum op op, int i)
{
    char name[32];
    struct statx stx;
    switch (op) {
    case OP_STATX:
        name_of(name, sizeof name, "f", i % 1000);
        return statx(dirfd_, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx);
    case OP_OPEN_CLOSE: {
        name_of(name, sizeof name, "f", i % 1000);
        int fd = openat(dirfd_, name, O_RDONLY | O_CLOEXEC);
        return fd < 0 ? fd : close(fd);
    }
    case OP_CREATE_WRITE_CLOSE: {
        name_of(name, sizeof name, "b", i);
        int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) return fd;
        ssize_t w = write(fd, name, 4096 < sizeof name ? 4096 : sizeof name);
        close(fd);
        return w < 0 ? -1 : 0;
    }
    case OP_UNLINK:
        name_of(name, sizeof name, "b", i);
        return unlinkat(dirfd_, name, 0);
    default:
        return -1;
    }
}

static int awaited(enum op op, int i, const char *prefix)
{
    char name[32];
    struct statx stx;
    switch (op) {
    case OP_STATX:
        name_of(name, sizeof name, "f", i % 1000);
        return uco_statx(dirfd_, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx);
    case OP_OPEN_CLOSE: {
        name_of(name, sizeof name, "f", i % 1000);
        int fd = uco_openat(dirfd_, name, O_RDONLY | O_CLOEXEC, 0);
        return fd < 0 ? fd : uco_close(fd);
    }
    case OP_CREATE_WRITE_CLOSE: {
        name_of(name, sizeof name, prefix, i);
        int fd = uco_openat(dirfd_, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) return fd;
        ssize_t w = uco_write(fd, name, sizeof name, 0);
        uco_close(fd);
        return w < 0 ? (int)w : 0;
    }
    case OP_UNLINK:
        name_of(name, sizeof name, prefix, i);
        return uco_unlinkat(dirfd_, name, 0);
    default:
        return -EINVAL;
    }
}

/* ---- runners ---------------------------------------------------------------------------- */

struct worker {
    enum op op;
    const char *prefix;
    int from, to, failed;
};

static intptr_t worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = w->from; i < w->to; i++)
        if (awaited(w->op, i, w->prefix) < 0) w->failed++;
    return 0;
}

struct run {
    enum op op;
    const char *prefix; /* names of the files it creates and removes */
    int tasks;
    int64_t ns;
    int failed;
};

static intptr_t run_main(void *arg)
{
    struct run *r = arg;
    struct worker w[64];
    uco_task *t[64];
    int per = n_ops / r->tasks;
    int64_t t0 = now_ns();
    for (int k = 0; k < r->tasks; k++) {
        w[k] = (struct worker){r->op, r->prefix, k * per, k == r->tasks - 1 ? n_ops : (k + 1) * per,
                               0};
        if (uco_spawn(&t[k], worker_main, &w[k]) < 0) return -1;
    }
    for (int k = 0; k < r->tasks; k++) {
        uco_task_join(t[k], NULL);
        r->failed += w[k].failed;
    }
    r->ns = now_ns() - t0;
    return 0;
}

/* uco_dir against readdir over the same directory. */
static intptr_t list_main(void *arg)
{
    int64_t *ns = arg;
    int64_t t0 = now_ns();
    uco_dir *d;
    if (uco_dir_open(&d, dirfd_, ".", 0, 0) < 0) return -1;
    uco_dirent e;
    long n = 0;
    while (uco_dir_next(d, &e) == 1)
        n++;
    uco_dir_close(d);
    *ns = now_ns() - t0;
    return n;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        snprintf(dir, sizeof dir, "%s", argv[1]);
    else
        snprintf(dir, sizeof dir, "/tmp/uco-bench-fs-%d", (int)getpid());
    if (argc > 2) n_ops = atoi(argv[2]);
    if (n_ops < 64) n_ops = 64;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "bench_fs_ops: mkdir '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd_ < 0) {
        fprintf(stderr, "bench_fs_ops: open '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    for (int i = 0; i < 1000; i++) {
        char name[32];
        name_of(name, sizeof name, "f", i);
        int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
    }
    printf("bench_fs_ops: %d operations each in %s (ns per operation)\n", n_ops, dir);
    printf("%-20s %12s %12s %12s %10s\n", "operation", "blocking", "uco x1", "uco x64",
           "x64/block");
    for (int op = 0; op < OP__N; op++) {
        int64_t t0 = now_ns();
        int bfail = 0;
        for (int i = 0; i < n_ops; i++)
            if (blocking((enum op)op, i) < 0) bfail++;
        int64_t block = now_ns() - t0;
        /* Each run creates (then removes) files of its own. */
        struct run one = {(enum op)op, "u", 1, 0, 0}, many = {(enum op)op, "v", 64, 0, 0};
        uco_run(run_main, &one, NULL);
        uco_run(run_main, &many, NULL);
        printf("%-20s %12.0f %12.0f %12.0f %9.2fx%s\n", op_names[op], (double)block / n_ops,
               (double)one.ns / n_ops, (double)many.ns / n_ops, (double)block / (double)many.ns,
               bfail || one.failed || many.failed ? "  (some failed)" : "");
    }
    int64_t lns = 0;
    intptr_t listed = uco_run(list_main, &lns, NULL);
    int64_t t0 = now_ns();
    DIR *d = opendir(dir);
    long n = 0;
    while (d && readdir(d))
        n++;
    if (d) closedir(d);
    int64_t rns = now_ns() - t0;
    printf("%-20s %12.0f %12.0f %12s %9.2fx  (%ld entries)\n", "list directory",
           (double)rns / (double)(n ? n : 1), (double)lns / (double)(listed > 0 ? listed : 1), "-",
           (double)rns / (double)(lns ? lns : 1), (long)listed);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (argc <= 1 && system(cmd) != 0) fprintf(stderr, "bench_fs_ops: could not remove %s\n", dir);
    return 0;
}
