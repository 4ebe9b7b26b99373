/* The copy engine through its library API (uco_copy): counters, the error report, progress,
 * sources that grow or shrink while being copied, cancellation, options. */
#pragma GCC diagnostic ignored "-Wformat-truncation" /* short temporary paths */

#include "test_util.h"
#include "tree_util.h"

#include "fs/copy_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

static char base[PATH_MAX];

static int setup(void **state)
{
    /* Now, before any thread: mounts made by the tests (FUSE) go away with the process. */
    (void)private_mounts();
    snprintf(base, sizeof base, "/tmp/uco-test-copy-XXXXXX");
    return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
    remove_tree(base);
    return 0;
}

static void at(char *buf, const char *name)
{
    snprintf(buf, PATH_MAX, "%s/%s", base, name);
}

/* A file of size bytes whose byte i is pattern(i). */
static unsigned char pattern(uint64_t i)
{
    return (unsigned char)((i * 131) ^ (i >> 12));
}

static void make_file(const char *p, size_t size)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    static unsigned char buf[1 << 16];
    for (size_t off = 0; off < size;) {
        size_t n = size - off < sizeof buf ? size - off : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(off + i);
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        off += n;
    }
    close(fd);
}

/* Whether p holds exactly pattern(0..size). */
static bool holds_pattern(const char *p, size_t size)
{
    struct stat st;
    if (stat(p, &st) < 0 || (size_t)st.st_size != size) return false;
    int fd = open(p, O_RDONLY);
    static unsigned char buf[1 << 16];
    for (size_t off = 0; off < size;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            close(fd);
            return false;
        }
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(off + (size_t)i)) {
                close(fd);
                return false;
            }
        off += (size_t)n;
    }
    close(fd);
    return true;
}

/* 1 when files a and b have the same size and bytes, else 0. */
static int same_content(const char *a, const char *b)
{
    int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
    static unsigned char ba[1 << 16], bb[1 << 16];
    int same = fa >= 0 && fb >= 0;
    while (same) {
        ssize_t na = read(fa, ba, sizeof ba), nb = read(fb, bb, sizeof bb);
        same = na == nb && na >= 0 && memcmp(ba, bb, (size_t)na) == 0;
        if (na <= 0) break;
    }
    if (fa >= 0) close(fa);
    if (fb >= 0) close(fb);
    return same;
}

struct run {
    const char *src, *dst;
    uco_copy_opts o;
    uco_copy_stats st;
    int result;
    /* error report */
    int nerr;
    char errpath[8][PATH_MAX];
    int errs[8];
    bool removed[8], incomplete[8];
    char ops[8][64];
    int stop_after; /* > 0: the error callback stops the copy at that error */
    /* progress */
    int progress_calls, done_calls;
    uint64_t last_bytes;
    /* a change made to the source from the progress callback */
    const char *grow, *shrink;
    bool grow_dir; /* grow whichever of src/f0, src/f1 is not in dst yet */
    uint64_t change_at;
    bool changed;
    uco_task *cancel_me;
    /* a destination file looked at from each progress report while it is being written */
    const char *watch;
    int watch_seen;
    mode_t watch_worst; /* set-id, sticky, group or other bits it was seen with (0: none) */
};

static int on_error(const uco_copy_error *e, void *arg)
{
    struct run *r = arg;
    if (r->nerr < 8) {
        snprintf(r->errpath[r->nerr], PATH_MAX, "%s", e->path);
        r->errs[r->nerr] = e->err;
        r->removed[r->nerr] = e->removed;
        r->incomplete[r->nerr] = e->incomplete;
        snprintf(r->ops[r->nerr], sizeof r->ops[0], "%s", e->op);
    }
    r->nerr++;
    return r->stop_after && r->nerr >= r->stop_after;
}

static void append_pattern(const char *p)
{
    int fd = open(p, O_WRONLY | O_APPEND);
    static unsigned char more[1 << 20];
    struct stat s;
    fstat(fd, &s);
    for (size_t i = 0; i < sizeof more; i++)
        more[i] = pattern((uint64_t)s.st_size + i);
    /* Called from inside the copy's tasks: no cmocka assert here (see test_util.h). */
    if (write(fd, more, sizeof more) != (ssize_t)sizeof more) t_fail(__FILE__, __LINE__, "append");
    close(fd);
}

static void on_progress(const uco_copy_stats *st, bool done, void *arg)
{
    struct run *r = arg;
    r->progress_calls++;
    r->done_calls += done;
    r->last_bytes = st->bytes;
    struct stat ws;
    if (r->watch && lstat(r->watch, &ws) == 0 && ws.st_uid == 0) {
        r->watch_seen++;
        r->watch_worst |= ws.st_mode & 07077;
    }
    if (!r->changed && st->bytes >= r->change_at) {
        if (r->grow_dir) {
            for (int i = 0; i < 2 && !r->changed; i++) {
                char s[PATH_MAX], d[PATH_MAX];
                snprintf(s, sizeof s, "%s/f%d", r->src, i);
                snprintf(d, sizeof d, "%s/f%d", r->dst, i);
                if (access(d, F_OK) < 0) {
                    append_pattern(s);
                    r->changed = true;
                }
            }
        } else if (r->grow) {
            r->changed = true;
            append_pattern(r->grow);
        } else if (r->shrink) {
            r->changed = true;
            if (truncate(r->shrink, 2 << 20) < 0) t_fail(__FILE__, __LINE__, "truncate");
        } else if (r->cancel_me) {
            r->changed = true;
            uco_task_cancel(r->cancel_me);
        }
    }
}

static intptr_t copy_body(void *arg)
{
    struct run *r = arg;
    r->o.on_error = on_error;
    r->o.error_arg = r;
    r->o.on_progress = on_progress;
    r->o.progress_arg = r;
    r->o.progress_ns = 1;
    r->result = uco_copy(AT_FDCWD, r->src, AT_FDCWD, r->dst, &r->o, &r->st);
    return 0;
}

static void run_copy(struct run *r)
{
    t_run(copy_body, r, NULL);
}

/* build_tree copied with UCO_COPY_ARCHIVE | flags: the same tree, and counters that add up. */
static void counted_tree_case(const char *name, unsigned flags)
{
    char src[PATH_MAX], dst[PATH_MAX];
    at(src, name);
    snprintf(dst, sizeof dst, "%s-copy", src);
    assert_int_equal(build_tree(src, geteuid() == 0 ? TREE_OWNERS | TREE_DEVICES : 0), 0);
    struct run r = {.src = src, .dst = dst};
    r.o.flags = UCO_COPY_ARCHIVE | flags;
    run_copy(&r);
    assert_int_equal(r.result, 0);
    assert_int_equal(r.nerr, 0);
    assert_int_equal(r.st.errors, 0);
    assert_int_equal(compare_trees(src, dst, CMP_ALL & ~CMP_ATIME), 0);
    /* From build_tree: symlinks (9 in syms/, links/sym, owners/link-owned), hard links made
     * as links (h2, h3, big-linked-2, sym-hard), specials (fifo, socket, [char, block],
     * [owners/fifo-owned]). */
    bool root = geteuid() == 0;
    assert_int_equal(r.st.symlinks, 9 + 1 + (root ? 1 : 0));
    assert_int_equal(r.st.hardlinks, 4);
    assert_int_equal(r.st.specials, 2 + (root ? 3 : 0));
    assert_int_equal(r.st.dirs, 1 + 1 + 2 + 1 + 64 + 1 + 2 + 1 + 1 + 1 + 4 + (root ? 2 : 0));
    assert_true(r.st.files > 20);
    assert_true(r.st.bytes > (6u << 20));
    assert_int_equal(r.st.files_total,
                     r.st.files + r.st.dirs + r.st.symlinks + r.st.hardlinks + r.st.specials);
    assert_int_equal(r.done_calls, 1);
    assert_true(r.progress_calls > 1);
    assert_int_equal(r.last_bytes, r.st.bytes);
}

static void counters_match_the_tree(void **state)
{
    counted_tree_case("counted", 0);
}

/* Writes that fail (injected EIO) remove their file and report it; the rest is copied. */
static intptr_t inject_body(void *arg)
{
    struct run *r = arg;
    uco_fault f = {.op = UCO_OP_WRITE, .fd = -1, .skip = 3, .count = 2, .error = EIO};
    T_CHECK(uco_fault_add(uco_loop_current(), &f) >= 0);
    return copy_body(r);
}

static intptr_t inject_first_write_body(void *arg)
{
    uco_fault f = {.op = UCO_OP_WRITE, .fd = -1, .count = 1, .error = EIO};
    T_CHECK(uco_fault_add(uco_loop_current(), &f) >= 0);
    return copy_body(arg);
}

static void failed_writes_case(const char *name, unsigned flags)
{
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
    at(src, name);
    snprintf(dst, sizeof dst, "%s-copy", src);
    mkdir(src, 0755);
    for (int i = 0; i < 10; i++) {
        snprintf(p, sizeof p, "%s/f%d", src, i);
        make_file(p, 1000 + (size_t)i);
    }
    struct run r = {.src = src, .dst = dst};
    r.o.flags = UCO_COPY_ARCHIVE | flags;
    r.o.jobs = 1; /* one file at a time: the 4th and 5th writes are two files */
    t_run(inject_body, &r, NULL);
    assert_int_equal(r.result, -EIO);
    assert_int_equal(r.nerr, 2);
    assert_int_equal(r.st.errors, 2);
    assert_int_equal(r.st.files, 8);
    int present = 0;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(r.errs[k], -EIO);
        assert_true(r.removed[k]);
        assert_true(strncmp(r.errpath[k], dst, strlen(dst)) == 0); /* a write: dst side */
        assert_int_equal(access(r.errpath[k], F_OK), -1);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(p, sizeof p, "%s/f%d", dst, i);
        if (access(p, F_OK) == 0) {
            present++;
            assert_true(holds_pattern(p, 1000 + (size_t)i));
        }
    }
    assert_int_equal(present, 8);
}

static void failed_writes_are_reported_removed_and_the_rest_copied(void **state)
{
    failed_writes_case("eio", 0);
}

/* The same with the writes made from the loop's thread: the fault rules apply to them too. */
static void failed_inline_writes_are_reported_removed_and_the_rest_copied(void **state)
{
    failed_writes_case("eio-inline", UCO_COPY_OWN_LOOP);
}

/* A counter of the calling thread's write system calls from /proc/thread-self/io ("wchar: ",
 * bytes; "syscw: ", calls), or -1. */
static long long thread_io(const char *key)
{
    FILE *f = fopen("/proc/thread-self/io", "re");
    if (!f) return -1;
    char line[128];
    long long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0) {
            v = strtoll(line + klen, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* Whether the tests' directory is on a file system where the engine writes small files from
 * the loop's thread with UCO_COPY_OWN_LOOP (some of its local ones; not overlayfs, NFS...). */
static bool inline_fs(void)
{
    struct statfs sf;
    assert_int_equal(statfs(base, &sf), 0);
    return sf.f_type == 0xEF53 || sf.f_type == 0x01021994 || sf.f_type == 0x58465342 ||
           sf.f_type == 0x9123683E;
}

/* The bytes written by this process's worker-pool threads ("uco-worker"; none yet: 0), or -1
 * without /proc. (Without task I/O accounting the loop thread's count is -1 first.) */
static long long pool_wchar(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    long long sum = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char p[96], comm[32] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", de->d_name);
        FILE *f = fopen(p, "re");
        if (!f) continue;
        bool worker = fgets(comm, sizeof comm, f) && strncmp(comm, "uco-worker", 10) == 0;
        fclose(f);
        if (!worker) continue;
        snprintf(p, sizeof p, "/proc/self/task/%s/io", de->d_name);
        if (!(f = fopen(p, "re"))) continue;
        char line[128];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "wchar: ", 7) == 0) sum += strtoll(line + 7, NULL, 10);
        fclose(f);
    }
    closedir(d);
    return sum;
}

struct own_loop_run {
    struct run r;
    size_t max_len;         /* > 0: every write is cut to this many bytes (fault rule) */
    long long wchar, syscw; /* the loop thread's write bytes and calls during the copy */
    long long pool_w;       /* the worker pool's write bytes during the copy (-1: unknown) */
};

static intptr_t own_loop_body(void *arg)
{
    struct own_loop_run *o = arg;
    if (o->max_len) {
        uco_fault f = {.op = UCO_OP_WRITE, .fd = -1, .max_len = o->max_len};
        T_CHECK(uco_fault_add(uco_loop_current(), &f) >= 0);
    }
    long long w0 = thread_io("wchar: "), c0 = thread_io("syscw: "), p0 = pool_wchar();
    copy_body(&o->r);
    o->wchar = w0 < 0 ? -1 : thread_io("wchar: ") - w0;
    o->syscw = c0 < 0 ? -1 : thread_io("syscw: ") - c0;
    long long p1 = pool_wchar();
    o->pool_w = p0 < 0 || p1 < 0 ? -1 : p1 - p0;
    return 0;
}

/* Makes directory src with 40 files f0..f39 of size0 + i bytes. */
static void make_40(const char *src, size_t size0)
{
    char p[PATH_MAX];
    assert_int_equal(mkdir(src, 0755), 0);
    for (int i = 0; i < 40; i++) {
        snprintf(p, sizeof p, "%s/f%d", src, i);
        make_file(p, size0 + (size_t)i);
    }
}

/* Copies make_40's src to dst with UCO_COPY_ARCHIVE | flags (and writes cut to max_len bytes
 * when > 0), checks every copy, and returns the run (who wrote how much). */
static struct own_loop_run copy_40(const char *src, const char *dst, size_t size0, unsigned flags,
                                   size_t max_len)
{
    char p[PATH_MAX];
    struct own_loop_run o = {.r = {.src = src, .dst = dst}, .max_len = max_len};
    o.r.o.flags = UCO_COPY_ARCHIVE | flags;
    t_run(own_loop_body, &o, NULL);
    assert_int_equal(o.r.result, 0);
    assert_int_equal(o.r.nerr, 0);
    assert_int_equal(o.r.st.files, 40);
    for (int i = 0; i < 40; i++) {
        snprintf(p, sizeof p, "%s/f%d", dst, i);
        assert_true(holds_pattern(p, size0 + (size_t)i));
    }
    assert_int_equal(compare_trees(src, dst, CMP_ALL & ~CMP_ATIME), 0);
    return o;
}

/* Copies 40 files of 1000..1039 bytes with flags (and writes cut to max_len bytes when > 0);
 * returns the bytes the loop's thread wrote with write system calls (-1: not counted here),
 * *calls (may be NULL) the number of those calls, *pool_w (may be NULL) the bytes the worker
 * pool's threads wrote (-1: not counted). */
static long long small_files_case(const char *name, unsigned flags, size_t max_len,
                                  long long *calls, long long *pool_w)
{
    char src[PATH_MAX], dst[PATH_MAX];
    at(src, name);
    snprintf(dst, sizeof dst, "%s-copy", src);
    make_40(src, 1000);
    struct own_loop_run o = copy_40(src, dst, 1000, flags, max_len);
    if (calls) *calls = o.syscw;
    if (pool_w) *pool_w = o.pool_w;
    return o.wchar;
}

/* UCO_COPY_OWN_LOOP: a tree's small files on a local file system are copied in batches by the
 * worker pool's threads (their write count grows by the files' bytes, the loop thread's does
 * not), and without the flag through the ring (the pool writes none of them: the ring's writes
 * run on the kernel's io_uring workers, or inline without a write system call). */
static void own_loop_copies_small_files_in_batches_on_the_pool(void **state)
{
    const long long bytes = 40 * 1000 + 39 * 40 / 2;
    long long pool_w, ring_pool_w;
    long long loop_w = small_files_case("own-loop", UCO_COPY_OWN_LOOP, 0, NULL, &pool_w);
    small_files_case("ring-writes", 0, 0, NULL, &ring_pool_w);
    if (loop_w < 0 || pool_w < 0) {
        printf("SKIP: no /proc/*/task/*/io (task I/O accounting) to tell who wrote\n");
        skip();
    }
    if (!inline_fs()) {
        printf("SKIP: %s is not on ext4, tmpfs, xfs or btrfs, where the engine uses batches\n",
               base);
        skip();
    }
    assert_true(pool_w >= bytes);
    assert_true(loop_w < bytes / 2);
    assert_true(ring_pool_w < bytes / 2);
}

/* Drops path's pages from the page cache (written back first, a few tries: pages under
 * writeback stay); true when none is left (mincore, which reads nothing back in). */
static bool drop_cached(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    bool gone = false;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && fsync(fd) == 0) {
        size_t len = (size_t)st.st_size;
        void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        unsigned char vec[64]; /* files of up to 64 pages */
        long page = sysconf(_SC_PAGESIZE);
        size_t pages = (len + (size_t)page - 1) / (size_t)page;
        for (int i = 0; i < 5 && m != MAP_FAILED && pages <= sizeof vec && !gone; i++) {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            gone = mincore(m, len, vec) == 0;
            for (size_t k = 0; gone && k < pages; k++)
                gone = !(vec[k] & 1);
        }
        if (m != MAP_FAILED) munmap(m, len);
    }
    close(fd);
    return gone;
}

/* Small files whose data is not in the page cache are not copied by the batches (a worker
 * would wait for each read in turn) but through the ring, many reads at once; whole. */
static void own_loop_cold_small_files_go_through_the_ring(void **state)
{
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
    at(src, "batch-cold");
    at(dst, "batch-cold-copy");
    make_40(src, 5000);
    /* Does this file system let go of its pages (not tmpfs), and all of them? */
    bool drops = true;
    for (int i = 0; i < 40 && drops; i++) {
        snprintf(p, sizeof p, "%s/f%d", src, i);
        drops = drop_cached(p);
    }
    if (!drops || !inline_fs()) {
        printf("SKIP: %s keeps file data in memory (tmpfs?) or is not where batches run\n", base);
        skip();
    }
    struct own_loop_run o = copy_40(src, dst, 5000, UCO_COPY_OWN_LOOP, 0);
    if (o.pool_w >= 40 * 5000 / 2) printf("the pool wrote %lld bytes of 200,780\n", o.pool_w);
    if (o.pool_w >= 0) assert_true(o.pool_w < 40 * 5000 / 2);
}

/* With a fault rule for writes (tests of error paths), small files are not batched: they are
 * written from the loop's thread, where the rule applies, and short writes (each cut to 100
 * bytes) are continued: each file takes at least 10 write calls of the loop's thread. */
static void own_loop_short_writes_still_copy_whole_files(void **state)
{
    long long calls;
    long long w = small_files_case("own-loop-short", UCO_COPY_OWN_LOOP, 100, &calls, NULL);
    if (w >= 0 && inline_fs()) {
        assert_true(w >= 40 * 1000);
        assert_true(calls >= 40 * 10);
    }
}

static bool holds(const char *p, const char *text);

/* Batched files whose destination exists go on in their task as cp would: overwritten by
 * default (their other names keep the old content with -a), kept with -n. */
static void own_loop_batches_handle_existing_destinations_like_cp(void **state)
{
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
    at(src, "batch-exist");
    at(dst, "batch-exist-copy");
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(mkdir(dst, 0755), 0);
    for (int i = 0; i < 40; i++) {
        snprintf(p, sizeof p, "%s/f%02d", src, i);
        make_file(p, 2000 + (size_t)i);
        if (i % 4) continue;
        snprintf(p, sizeof p, "%s/f%02d", dst, i);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs("old", f);
        assert_int_equal(fclose(f), 0);
    }
    /* One existing destination has another name: replaced, not written through. */
    snprintf(p, sizeof p, "%s/f00", dst);
    snprintf(q, sizeof q, "%s/other", base);
    unlink(q);
    assert_int_equal(link(p, q), 0);
    for (int pass = 0; pass < 2; pass++) {
        struct run r = {.src = src, .dst = dst};
        r.o.flags = UCO_COPY_ARCHIVE | UCO_COPY_OWN_LOOP | (pass == 0 ? UCO_COPY_NO_CLOBBER : 0);
        run_copy(&r);
        assert_int_equal(r.result, 0);
        assert_int_equal(r.nerr, 0);
        assert_int_equal(r.st.skipped, pass == 0 ? 10 : 0);
        assert_int_equal(r.st.files, pass == 0 ? 30 : 40);
        for (int i = 0; i < 40; i++) {
            snprintf(p, sizeof p, "%s/f%02d", dst, i);
            if (pass == 0 && i % 4 == 0)
                assert_true(holds(p, "old"));
            else
                assert_true(holds_pattern(p, 2000 + (size_t)i));
        }
    }
    assert_true(holds(q, "old"));
    assert_int_equal(compare_trees(src, dst, CMP_ALL & ~CMP_ATIME), 0);
    unlink(q);
}

/* The error callback stops a copy whose small files go in batches: the copy ends with
 * -ECANCELED, and every file it left is whole. */
static void own_loop_stopping_during_batches_leaves_only_whole_files(void **state)
{
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
    at(src, "batch-stop");
    at(dst, "batch-stop-copy");
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(mkdir(dst, 0755), 0);
    /* Files in directories of 20; each directory's first 5 names are directories in the
     * destination (an error each: creating a file there fails with EISDIR). */
    for (int d = 0; d < 10; d++) {
        snprintf(p, sizeof p, "%s/d%d", src, d);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof p, "%s/d%d", dst, d);
        assert_int_equal(mkdir(p, 0755), 0);
        for (int i = 0; i < 20; i++) {
            snprintf(p, sizeof p, "%s/d%d/f%02d", src, d, i);
            make_file(p, 3000 + (size_t)i);
            if (i >= 5) continue;
            snprintf(p, sizeof p, "%s/d%d/f%02d", dst, d, i);
            assert_int_equal(mkdir(p, 0755), 0);
        }
    }
    struct run r = {.src = src, .dst = dst, .stop_after = 8};
    r.o.flags = UCO_COPY_ARCHIVE | UCO_COPY_OWN_LOOP;
    r.o.jobs = 2; /* two batches at a time: the stop comes before most were started */
    run_copy(&r);
    assert_int_equal(r.result, -ECANCELED);
    assert_true(r.nerr >= 8 && r.nerr < 50);
    assert_int_equal(r.errs[0], -EISDIR);
    int whole = 0;
    for (int d = 0; d < 10; d++)
        for (int i = 5; i < 20; i++) {
            snprintf(p, sizeof p, "%s/d%d/f%02d", dst, d, i);
            if (access(p, F_OK) != 0) continue;
            assert_true(holds_pattern(p, 3000 + (size_t)i));
            whole++;
        }
    assert_true(whole < 150);
}

/* A whole tree of every kind, small files in batches: the same tree, the same counters (test_ucp
 * compares ucp, which sets the flag, with cp -a). */
static void own_loop_copies_every_kind_of_tree_the_same(void **state)
{
    counted_tree_case("own-loop-tree", UCO_COPY_OWN_LOOP);
}

/* The destination's close fails (injected EIO: the NOP'd close leaves the descriptor open). */
static intptr_t close_fault_body(void *arg)
{
    struct run *r = arg;
    /* A single file's closes: the source's, then the destination's. */
    uco_fault f = {.op = UCO_OP_CLOSE, .fd = -1, .skip = 1, .count = 1, .error = EIO};
    T_CHECK(uco_fault_add(uco_loop_current(), &f) >= 0);
    return copy_body(r);
}

/* Closes this process's descriptors still open on a file whose path starts with prefix. */
static void close_fds_on(const char *prefix)
{
    for (int fd = 3; fd < 1024; fd++) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = 0;
        if (strncmp(target, prefix, strlen(prefix)) == 0) close(fd);
    }
}

/* A destination whose close failed was counted as copied and left in place: on NFS or FUSE
 * that close is where a late write-back error shows. It is a failed, incomplete file. */
static void a_failed_destination_close_is_reported_and_the_file_removed(void **state)
{
    char src[PATH_MAX], dst[PATH_MAX];
    size_t sizes[] = {1000, 3 << 20}; /* one read and write; the big-file path */
    for (int i = 0; i < 2; i++) {
        at(src, i ? "close-big" : "close-small");
        snprintf(dst, sizeof dst, "%s-copy", src);
        make_file(src, sizes[i]);
        struct run r = {.src = src, .dst = dst};
        r.o.flags = UCO_COPY_ARCHIVE;
        t_run(close_fault_body, &r, NULL);
        close_fds_on(dst);
        assert_int_equal(r.result, -EIO);
        assert_int_equal(r.nerr, 1);
        assert_int_equal(r.st.errors, 1);
        assert_int_equal(r.st.files, 0);
        assert_int_equal(r.errs[0], -EIO);
        assert_string_equal(r.ops[0], "close");
        assert_string_equal(r.errpath[0], dst);
        assert_true(r.removed[0]);
        assert_int_equal(access(dst, F_OK), -1);
    }
}

/* A file whose metadata failed (an xattr the destination cannot hold) and whose destination
 * close failed too (injected EIO) was reported twice and counted as two errors: it is one failed
 * file, reported once with its first failure and the removal. */
static void a_file_whose_metadata_and_close_both_fail_is_one_error(void **state)
{
    char mnt[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], probe[PATH_MAX];
    static char big[8000]; /* more than an ext4 block holds, fine for tmpfs */
    memset(big, 'x', sizeof big);
    /* The destination side (/tmp) must refuse the value. */
    at(probe, "xattr-probe");
    make_file(probe, 0);
    int pr = setxattr(probe, "user.big", big, sizeof big, 0);
    int pe = errno;
    unlink(probe);
    if (pr == 0 || (pe != ENOSPC && pe != E2BIG)) {
        printf("SKIP: %s holds an 8000-byte xattr value (or refused it with %s), nothing to "
               "make the metadata fail\n",
               base, pr == 0 ? "nothing" : strerror(pe));
        skip();
    }
    /* The source side: a tmpfs, which holds it. */
    at(mnt, "xattr-mnt");
    mkdir(mnt, 0755);
    mount_tmpfs_or_skip(mnt, 1 << 20);
    snprintf(src, sizeof src, "%s/f", mnt);
    make_file(src, 1000);
    if (setxattr(src, "user.big", big, sizeof big, 0) < 0) {
        int e = errno;
        umount2(mnt, MNT_DETACH);
        printf("SKIP: no user xattrs on tmpfs: %s\n", strerror(e));
        skip();
    }
    at(dst, "xattr-copy");
    struct run r = {.src = src, .dst = dst};
    r.o.flags = UCO_COPY_ARCHIVE;
    t_run(close_fault_body, &r, NULL);
    close_fds_on(dst);
    umount2(mnt, MNT_DETACH);
    assert_int_equal(r.result, r.errs[0]);
    assert_int_equal(r.nerr, 1);
    assert_int_equal(r.st.errors, 1);
    assert_int_equal(r.st.files, 0);
    assert_true(r.errs[0] == -ENOSPC || r.errs[0] == -E2BIG);
    assert_string_equal(r.ops[0], "set xattr");
    assert_string_equal(r.errpath[0], dst);
    assert_true(r.removed[0]);
    assert_false(r.incomplete[0]);
    assert_int_equal(access(dst, F_OK), -1);
}

static void make_owned(const char *p, size_t size, mode_t mode, uid_t uid)
{
    make_file(p, size);
    assert_int_equal(chown(p, uid, uid), 0);
    assert_int_equal(chmod(p, mode), 0); /* after chown, which clears set-id bits */
}

/* With the owner preserved, a set-user-id file was created set-user-id and root's, and stayed
 * so until its chown: a window in which anyone could run it as root. Watched from the progress
 * reports while its data is written (O_DIRECT: the read/write path, a report per 64 KiB). */
static void a_set_id_copy_is_never_set_id_or_open_to_others_before_its_owner_is_final(void **state)
{
    if (geteuid() != 0) {
        printf("SKIP: needs root (to give files away)\n");
        skip();
    }
    char src[PATH_MAX], dst[PATH_MAX];
    at(src, "setid-window");
    at(dst, "setid-window-copy");
    make_owned(src, 1 << 20, 06755, 65534);
    struct run r = {.src = src, .dst = dst, .watch = dst};
    r.o.flags = UCO_COPY_ARCHIVE | UCO_COPY_DIRECT;
    r.o.chunk_size = 64 << 10;
    r.o.queue_depth = 1;
    run_copy(&r);
    assert_int_equal(r.result, 0);
    assert_true(r.watch_seen > 1);
    assert_int_equal(r.watch_worst, 0); /* owner-only, no set-id bits, until given away */
    struct stat st;
    assert_int_equal(stat(dst, &st), 0);
    assert_int_equal(st.st_mode & 07777, 06755);
    assert_int_equal(st.st_uid, 65534);
    assert_int_equal(st.st_gid, 65534);
    assert_true(holds_pattern(dst, 1 << 20));
}

/* The final modes, set-id and sticky bits included, with owners kept (ours and another's):
 * files, directories and special files. */
static void set_id_and_sticky_modes_are_exact_with_owners_kept(void **state)
{
    if (geteuid() != 0) {
        printf("SKIP: needs root (to give files away)\n");
        skip();
    }
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
    at(src, "setid-modes");
    at(dst, "setid-modes-copy");
    assert_int_equal(mkdir(src, 0755), 0);
    static const struct {
        const char *name;
        mode_t type, mode;
        uid_t uid;
    } e[] = {
        {"suid", S_IFREG, 04755, 65534},    {"sgid", S_IFREG, 02750, 65534},
        {"both", S_IFREG, 06777, 65534},    {"sticky", S_IFREG, 01644, 65534},
        {"rootsuid", S_IFREG, 04711, 0},    {"private", S_IFREG, 0600, 65534},
        {"sgiddir", S_IFDIR, 02775, 65534}, {"tmpdir", S_IFDIR, 01777, 65534},
        {"rootsgid", S_IFDIR, 02700, 0},    {"fifo", S_IFIFO, 04640, 65534},
        {"fifo2", S_IFIFO, 01666, 0},
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", src, e[i].name);
        if (e[i].type == S_IFREG) make_file(p, 100 + i);
        if (e[i].type == S_IFDIR) assert_int_equal(mkdir(p, 0700), 0);
        if (e[i].type == S_IFIFO) assert_int_equal(mkfifo(p, 0600), 0);
        assert_int_equal(chown(p, e[i].uid, e[i].uid), 0);
        assert_int_equal(chmod(p, e[i].mode), 0);
    }
    struct run r = {.src = src, .dst = dst};
    r.o.flags = UCO_COPY_ARCHIVE;
    run_copy(&r);
    assert_int_equal(r.result, 0);
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dst, e[i].name);
        assert_int_equal(lstat(p, &st), 0);
        if ((st.st_mode & S_IFMT) != e[i].type || (st.st_mode & 07777) != e[i].mode ||
            st.st_uid != e[i].uid || st.st_gid != e[i].uid)
            fail_msg("%s: mode %o owner %u:%u, want %o %u:%u", e[i].name, st.st_mode, st.st_uid,
                     st.st_gid, e[i].type | e[i].mode, e[i].uid, e[i].uid);
    }
}

/* Makes src/f and a destination dst/f that is: 's' a symlink to other, 'h' a hard link of
 * other, 'p' a plain file; other (or dst/f) holds "old". */
static void link_case(const char *src, const char *dst, const char *other, char kind)
{
    char p[PATH_MAX];
    remove_tree(src);
    remove_tree(dst);
    unlink(other);
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(mkdir(dst, 0755), 0);
    snprintf(p, sizeof p, "%s/f", src);
    make_file(p, 5000);
    snprintf(p, sizeof p, "%s/f", dst);
    FILE *f = fopen(kind == 'p' ? p : other, "w");
    fputs("old", f);
    fclose(f);
    if (kind == 's') assert_int_equal(symlink(other, p), 0);
    if (kind == 'h') assert_int_equal(link(other, p), 0);
}

static bool holds(const char *p, const char *text)
{
    char buf[64] = {0};
    FILE *f = fopen(p, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(text) && memcmp(buf, text, n) == 0;
}

/* Copies src onto dst with a failed write (injected EIO) or none; returns the run. */
static struct run link_copy(const char *src, const char *dst, unsigned flags, bool fail)
{
    struct run r = {.src = src, .dst = dst};
    r.o.flags = flags;
    t_run(fail ? inject_first_write_body : copy_body, &r, NULL);
    return r;
}

/* A failed copy onto an existing destination was "removed" by unlinking its name: when that
 * name was a symlink or one of several hard links, the write through it stayed, and the report
 * said the copy was removed. Now: written through a symlink (as cp), replaced when keeping hard
 * links (as cp -a), written in place otherwise (as cp -r); on failure a file that is not the
 * name's alone is left, and reported incomplete. */
static void a_failed_copy_through_a_link_is_reported_incomplete_not_removed(void **state)
{
    char src[PATH_MAX], dst[PATH_MAX], other[PATH_MAX], d[PATH_MAX];
    at(src, "link-src");
    at(dst, "link-dst");
    at(other, "link-other");
    snprintf(d, sizeof d, "%s/f", dst);
    struct stat st;
    /* Symlink (-a or -r alike): written through; a failure leaves both names. */
    link_case(src, dst, other, 's');
    struct run r = link_copy(src, dst, UCO_COPY_ARCHIVE, true);
    assert_int_equal(r.result, -EIO);
    assert_int_equal(r.nerr, 1);
    assert_false(r.removed[0]);
    assert_true(r.incomplete[0]);
    assert_int_equal(lstat(d, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(access(other, F_OK), 0);
    link_case(src, dst, other, 's');
    r = link_copy(src, dst, UCO_COPY_ARCHIVE, false);
    assert_int_equal(r.result, 0);
    assert_true(holds_pattern(other, 5000)); /* through the link, as cp */
    /* Hard link, not keeping links (cp -r): written in place; a failure leaves it. */
    link_case(src, dst, other, 'h');
    r = link_copy(src, dst, UCO_COPY_RECURSIVE | UCO_COPY_NO_DEREF, true);
    assert_int_equal(r.result, -EIO);
    assert_false(r.removed[0]);
    assert_true(r.incomplete[0]);
    assert_int_equal(stat(other, &st), 0);
    assert_int_equal(st.st_nlink, 2);
    /* Hard link, keeping links (cp -a): this name is replaced, the other keeps its content,
     * and a failed copy is removed. */
    link_case(src, dst, other, 'h');
    r = link_copy(src, dst, UCO_COPY_ARCHIVE, false);
    assert_int_equal(r.result, 0);
    assert_true(holds(other, "old"));
    assert_true(holds_pattern(d, 5000));
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_nlink, 1);
    link_case(src, dst, other, 'h');
    r = link_copy(src, dst, UCO_COPY_ARCHIVE, true);
    assert_int_equal(r.result, -EIO);
    assert_true(r.removed[0]);
    assert_false(r.incomplete[0]);
    assert_int_equal(access(d, F_OK), -1);
    assert_true(holds(other, "old"));
    /* A plain file of its own: removed, as before. */
    link_case(src, dst, other, 'p');
    r = link_copy(src, dst, UCO_COPY_ARCHIVE, true);
    assert_int_equal(r.result, -EIO);
    assert_true(r.removed[0]);
    assert_false(r.incomplete[0]);
    assert_int_equal(access(d, F_OK), -1);
}

static void error_callback_can_stop_the_copy(void **state)
{
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
    at(src, "stop");
    at(dst, "stop-copy");
    mkdir(src, 0755);
    mkdir(dst, 0755);
    /* Directories in the destination where the source has files: each one is an error. */
    for (int i = 0; i < 20; i++) {
        snprintf(p, sizeof p, "%s/f%02d", src, i);
        make_file(p, 10);
        snprintf(p, sizeof p, "%s/f%02d", dst, i);
        mkdir(p, 0755);
    }
    struct run r = {.src = src, .dst = dst, .stop_after = 3};
    r.o.flags = UCO_COPY_ARCHIVE;
    r.o.jobs = 2;
    run_copy(&r);
    assert_int_equal(r.result, -ECANCELED);
    assert_true(r.nerr >= 3 && r.nerr < 20);
    assert_int_equal(r.errs[0], -EISDIR);
}

/* Copies a file of size bytes one 64 KiB chunk at a time, growing it by 1 MiB or cutting it
 * to 2 MiB once 1 MiB was copied, and checks the copy holds `expect` bytes of the pattern. */
static void change_during_copy(const char *name, size_t size, bool grow, size_t expect)
{
    char src[PATH_MAX], dst[PATH_MAX];
    at(src, name);
    snprintf(dst, sizeof dst, "%s-copy", src);
    make_file(src, size);
    struct run r = {.src = src, .dst = dst, .change_at = 1 << 20};
    if (grow)
        r.grow = src;
    else
        r.shrink = src;
    r.o.flags = UCO_COPY_ARCHIVE;
    r.o.chunk_size = 64 << 10;
    r.o.queue_depth = 1;
    run_copy(&r);
    assert_int_equal(r.result, 0);
    assert_true(r.changed);
    assert_true(holds_pattern(dst, expect));
}

static void a_source_that_grows_is_copied_to_its_new_end(void **state)
{
    change_during_copy("grows", 4 << 20, true, 5 << 20);
}

static void a_source_that_shrinks_is_not_padded(void **state)
{
    change_during_copy("shrinks", 8 << 20, false, 2 << 20);
}

/* Small files stat'ed in the listing, one of which grows before its turn (one job at a time:
 * the first file's progress report grows whichever has not been copied yet). */
static void a_small_source_that_grew_since_stat_is_copied_whole(void **state)
{
    char src[PATH_MAX], dst[PATH_MAX], f[PATH_MAX];
    at(src, "small-grow");
    at(dst, "small-grow-copy");
    mkdir(src, 0755);
    for (int i = 0; i < 2; i++) {
        snprintf(f, sizeof f, "%s/f%d", src, i);
        make_file(f, 100);
    }
    struct run r = {.src = src, .dst = dst, .grow_dir = true, .change_at = 1};
    r.o.flags = UCO_COPY_ARCHIVE;
    r.o.jobs = 1;
    run_copy(&r);
    assert_int_equal(r.result, 0);
    assert_true(r.changed);
    int grown = 0;
    for (int i = 0; i < 2; i++) {
        snprintf(f, sizeof f, "%s/f%d", dst, i);
        grown += holds_pattern(f, 100 + (1 << 20));
        if (!holds_pattern(f, 100)) assert_true(holds_pattern(f, 100 + (1 << 20)));
    }
    assert_int_equal(grown, 1);
}

static intptr_t cancel_body(void *arg)
{
    struct run *r = arg;
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, copy_body, r), 0);
    r->cancel_me = t;
    intptr_t res;
    T_CHECK_EQ(uco_task_join(t, &res), 0);
    return 0;
}

static void cancelling_the_copy_removes_the_file_in_progress(void **state)
{
    char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
    at(src, "cancel");
    at(dst, "cancel-copy");
    mkdir(src, 0755);
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/big%d", src, i);
        make_file(p, 3 << 20);
    }
    struct run r = {.src = src, .dst = dst, .change_at = 5 << 20};
    r.o.flags = UCO_COPY_ARCHIVE;
    r.o.chunk_size = 64 << 10;
    /* One file at a time: the cancel (at 5 MiB, in the second file) comes before the third
     * starts. With all six in flight, a loaded machine could finish them all in the turn
     * whose progress call cancels. */
    r.o.jobs = 1;
    t_run(cancel_body, &r, NULL);
    assert_int_equal(r.result, -ECANCELED);
    assert_true(r.changed);
    /* Every file there is complete; at least one was not copied. */
    int present = 0;
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/big%d", dst, i);
        if (access(p, F_OK) == 0) {
            present++;
            assert_true(holds_pattern(p, 3 << 20));
        }
    }
    assert_true(present < 6);
}

static intptr_t bad_args_body(void *arg)
{
    uco_copy_opts o = {0};
    o.chunk_size = 3 << 20;
    T_CHECK_EQ(uco_copy(AT_FDCWD, "a", AT_FDCWD, "b", &o, NULL), -EINVAL);
    o.chunk_size = 0;
    o.reserved[0] = 1;
    T_CHECK_EQ(uco_copy(AT_FDCWD, "a", AT_FDCWD, "b", &o, NULL), -EINVAL);
    o.reserved[0] = 0;
    o.queue_depth = 65;
    T_CHECK_EQ(uco_copy(AT_FDCWD, "a", AT_FDCWD, "b", &o, NULL), -EINVAL);
    o.queue_depth = 0;
    o.flags = UCO_COPY_OWN_LOOP << 1; /* a flag this library does not know */
    T_CHECK_EQ(uco_copy(AT_FDCWD, "a", AT_FDCWD, "b", &o, NULL), -EINVAL);
    o.flags = 0;
    T_CHECK_EQ(uco_copy(AT_FDCWD, NULL, AT_FDCWD, "b", NULL, NULL), -EFAULT);
    T_CHECK_EQ(uco_copy(AT_FDCWD, "", AT_FDCWD, "b", NULL, NULL), -ENOENT);
    char missing[PATH_MAX];
    at(missing, "does-not-exist");
    uco_copy_stats st;
    T_CHECK_EQ(uco_copy(AT_FDCWD, missing, AT_FDCWD, "b", NULL, &st), -ENOENT);
    T_CHECK_EQ(st.errors, 1);
    /* A directory without RECURSIVE. */
    T_CHECK_EQ(uco_copy(AT_FDCWD, base, AT_FDCWD, "b", NULL, NULL), -EISDIR);
    return 0;
}

static void bad_arguments_are_refused(void **state)
{
    t_run(bad_args_body, NULL, NULL);
    assert_int_equal(uco_copy(AT_FDCWD, "a", AT_FDCWD, "b", NULL, NULL), -EPERM);
}

static void one_job_one_walker_gives_the_same_tree(void **state)
{
    char src[PATH_MAX], dst[PATH_MAX];
    at(src, "serial");
    at(dst, "serial-copy");
    assert_int_equal(build_tree(src, TREE_MODES), 0);
    struct run r = {.src = src, .dst = dst};
    r.o.flags = UCO_COPY_ARCHIVE;
    r.o.jobs = 1;
    r.o.walkers = 1;
    r.o.queue_depth = 1;
    r.o.chunk_size = 64 << 10;
    run_copy(&r);
    assert_int_equal(r.result, 0);
    assert_int_equal(compare_trees(src, dst, CMP_ALL & ~CMP_ATIME), 0);
}

/* O_DIRECT wants aligned offsets, lengths and buffers: a file between 64 KiB and the chunk size
 * was read in one unaligned chunk (size + 1 bytes) and failed with EINVAL; a sparse file's last
 * segment (to an unaligned end) too. Every size, aligned or not, must come out whole. */
/* Makes dir (a "/var/tmp/...-XXXXXX" template) on a file system with O_DIRECT (tmpfs has none):
 * skips the test, saying why, when /var/tmp has none either. */
static void direct_dir(char *dir)
{
    char probe[PATH_MAX];
    assert_non_null(mkdtemp(dir));
    snprintf(probe, sizeof probe, "%s/probe", dir);
    int fd = open(probe, O_RDWR | O_CREAT | O_DIRECT, 0600);
    if (fd < 0) {
        int e = errno;
        remove_tree(dir);
        if (e != EINVAL) fail_msg("open O_DIRECT in %s: %s", dir, strerror(e));
        printf("SKIP: no O_DIRECT on the file system of /var/tmp\n");
        skip();
    }
    close(fd);
    unlink(probe);
}

static void direct_copies_files_of_every_size_whole(void **state)
{
    char dir[PATH_MAX] = "/var/tmp/uco-test-direct-XXXXXX", src[PATH_MAX], dst[PATH_MAX];
    direct_dir(dir);
    const size_t chunk = (size_t)1 << 20;
    const size_t sizes[] = {0,     1,         4095,         4096,         65535,
                            65536, 65537,     100000,       200000,       chunk - 1,
                            chunk, chunk + 1, chunk + 4096, 3 * chunk + 7};
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(dst, sizeof dst, "%s/dst", dir);
    mkdir(src, 0755);
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        snprintf(p, sizeof p, "%s/f%zu", src, sizes[i]);
        make_file(p, sizes[i]);
    }
    /* Sparse: a hole, then data to an unaligned end. */
    snprintf(p, sizeof p, "%s/sparse", src);
    make_file(p, 300007);
    int fd = open(p, O_WRONLY);
    assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 196608), 0);
    close(fd);
    for (int pass = 0; pass < 2; pass++) {
        struct run r = {.src = src, .dst = dst};
        r.o.flags = UCO_COPY_ARCHIVE | UCO_COPY_DIRECT;
        r.o.chunk_size = pass ? (64 << 10) : chunk; /* the default, then the smallest */
        run_copy(&r);
        for (int k = 0; k < r.nerr && k < 8; k++)
            printf("error: %s: %s\n", r.errpath[k], strerror(-r.errs[k]));
        assert_int_equal(r.nerr, 0);
        assert_int_equal(r.result, 0);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            snprintf(p, sizeof p, "%s/f%zu", dst, sizes[i]);
            if (!holds_pattern(p, sizes[i])) fail_msg("%s: not a whole copy", p);
        }
        char a[PATH_MAX];
        snprintf(a, sizeof a, "%s/sparse", src);
        snprintf(p, sizeof p, "%s/sparse", dst);
        assert_int_equal(same_content(a, p), 1);
        remove_tree(dst);
    }
    remove_tree(dir);
}

static intptr_t direct_einval_body(void *arg)
{
    /* With UCO_COPY_DIRECT and cfr off, every write of a file of whole chunks is whole
     * aligned blocks from an aligned buffer: through the O_DIRECT descriptor, whichever of
     * the chunks in flight comes first. (With an unaligned tail, the tail's read could finish
     * first and its write, through the page cache, take the fault.) */
    uco_fault f = {.op = UCO_OP_WRITE, .fd = -1, .count = 1, .error = EINVAL};
    T_CHECK(uco_fault_add(uco_loop_current(), &f) >= 0);
    return copy_body(arg);
}

/* A direct read that fails with EINVAL (the device wants another alignment) falls back to the
 * page cache; a direct write failed the file instead. It falls back too: the copy is whole. */
static void a_direct_write_refused_with_einval_goes_through_the_page_cache(void **state)
{
    char dir[PATH_MAX] = "/var/tmp/uco-test-direct-XXXXXX", src[PATH_MAX], dst[PATH_MAX];
    direct_dir(dir);
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(dst, sizeof dst, "%s/dst", dir);
    const size_t size = 3 << 20; /* several chunks, no tail: every write goes direct */
    make_file(src, size);
    struct run r = {.src = src, .dst = dst};
    r.o.flags = UCO_COPY_ARCHIVE | UCO_COPY_DIRECT;
    t_run(direct_einval_body, &r, NULL);
    for (int k = 0; k < r.nerr && k < 8; k++)
        printf("error: %s %s: %s\n", r.ops[k], r.errpath[k], strerror(-r.errs[k]));
    assert_int_equal(r.nerr, 0);
    assert_int_equal(r.result, 0);
    assert_int_equal(r.st.errors, 0);
    assert_int_equal(r.st.files, 1);
    assert_int_equal(r.st.bytes, size);
    assert_true(holds_pattern(dst, size));
    assert_int_equal(same_content(src, dst), 1);
    remove_tree(dir);
}

static intptr_t dio_align_body(void *arg)
{
    uco__cp_dio_align(arg);
    return 0;
}

/* What statx says of path: O_DIRECT offset and memory alignment (false: not said). Read with
 * the header's names here, the engine reads the kernel's layout: each checks the other. */
static bool statx_dio(const char *path, size_t *off, size_t *mem)
{
#ifdef STATX_DIOALIGN
    struct statx stx;
    if (statx(AT_FDCWD, path, 0, STATX_DIOALIGN, &stx) < 0 || !(stx.stx_mask & STATX_DIOALIGN))
        return false;
    *off = stx.stx_dio_offset_align;
    *mem = stx.stx_dio_mem_align;
    return *off && *mem;
#else
    (void)path, (void)off, (void)mem;
    return false;
#endif
}

/* O_DIRECT's alignment was 4096 whatever the device: it is what statx reports for the files
 * (the larger of the two sides), 4096 only where the kernel says nothing. */
static void direct_alignment_is_what_statx_reports(void **state)
{
    char dir[PATH_MAX] = "/var/tmp/uco-test-direct-XXXXXX", a[PATH_MAX], b[PATH_MAX];
    direct_dir(dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    make_file(a, 1 << 20);
    make_file(b, 0);
    size_t ao, am, bo, bm;
    if (!statx_dio(a, &ao, &am) || !statx_dio(b, &bo, &bm)) {
        remove_tree(dir);
        printf("SKIP: statx reports no STATX_DIOALIGN for files in /var/tmp\n");
        skip();
    }
    int fa = open(a, O_RDONLY | O_DIRECT), fb = open(b, O_WRONLY | O_DIRECT);
    assert_true(fa >= 0 && fb >= 0);
    struct cp_fds f = {.src = -1, .src_direct = fa, .dst = -1, .dst_direct = fb};
    t_run(dio_align_body, &f, NULL);
    assert_int_equal(f.src_direct, fa); /* both kept */
    assert_int_equal(f.dst_direct, fb);
    assert_int_equal(f.align, ao > bo ? ao : bo);
    assert_int_equal(f.mem_align, am > bm ? am : bm);
    /* One side alone: its own. */
    struct cp_fds g = {.src = -1, .src_direct = -1, .dst = -1, .dst_direct = fb};
    t_run(dio_align_body, &g, NULL);
    assert_int_equal(g.dst_direct, fb);
    assert_int_equal(g.align, bo);
    assert_int_equal(g.mem_align, bm);
    close(fa);
    close(fb);
    remove_tree(dir);
}

/* ---- a file system that lists a name longer than NAME_MAX (FUSE allows 1024 bytes) ---- */

#define LONG_NAME_LEN 300

struct fuse_fs {
    int fd;
    char name[LONG_NAME_LEN + 1];
    pthread_t thread;
};

static void fuse_reply(int fd, uint64_t unique, int err, const void *body, size_t len)
{
    struct fuse_out_header h = {.len = (uint32_t)(sizeof h + len), .error = -err, .unique = unique};
    struct iovec iov[2] = {{&h, sizeof h}, {(void *)body, len}};
    (void)!writev(fd, iov, body ? 2 : 1);
}

static void fuse_attr_of(uint64_t node, struct fuse_attr *a)
{
    memset(a, 0, sizeof *a);
    a->ino = node;
    a->mode = node == FUSE_ROOT_ID ? S_IFDIR | 0755 : S_IFREG | 0644;
    a->nlink = node == FUSE_ROOT_ID ? 2 : 1;
    a->size = node == FUSE_ROOT_ID ? 0 : 5;
    a->blocks = 1;
    a->blksize = 4096;
}

/* Serves a root directory holding one 5-byte file of name fs->name, until unmounted. */
static void *fuse_serve(void *arg)
{
    struct fuse_fs *fs = arg;
    static char buf[(1 << 20) + 4096];
    for (;;) {
        ssize_t n = read(fs->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < (ssize_t)sizeof(struct fuse_in_header)) return NULL; /* ENODEV: unmounted */
        struct fuse_in_header *in = (void *)buf;
        void *body = in + 1;
        switch (in->opcode) {
        case FUSE_INIT: {
            struct fuse_init_in *ii = body;
            struct fuse_init_out o = {.major = FUSE_KERNEL_VERSION,
                                      .minor = FUSE_KERNEL_MINOR_VERSION,
                                      .max_readahead = ii->max_readahead,
                                      .max_write = 65536};
            fuse_reply(fs->fd, in->unique, 0, &o, sizeof o);
            break;
        }
        case FUSE_LOOKUP: {
            struct fuse_entry_out o = {.nodeid = 2};
            fuse_attr_of(2, &o.attr);
            bool ours = in->nodeid == FUSE_ROOT_ID && strcmp(body, fs->name) == 0;
            fuse_reply(fs->fd, in->unique, ours ? 0 : ENOENT, ours ? &o : NULL, sizeof o);
            break;
        }
        case FUSE_GETATTR: {
            struct fuse_attr_out o = {0};
            fuse_attr_of(in->nodeid, &o.attr);
            fuse_reply(fs->fd, in->unique, 0, &o, sizeof o);
            break;
        }
        case FUSE_OPEN:
        case FUSE_OPENDIR: {
            struct fuse_open_out o = {0};
            fuse_reply(fs->fd, in->unique, 0, &o, sizeof o);
            break;
        }
        case FUSE_READDIR: {
            struct fuse_read_in *ri = body;
            static char d[FUSE_DIRENT_ALIGN(sizeof(struct fuse_dirent) + LONG_NAME_LEN)];
            struct fuse_dirent *de = (void *)d;
            memset(d, 0, sizeof d);
            de->ino = 2;
            de->off = 1;
            de->namelen = LONG_NAME_LEN;
            de->type = DT_REG;
            memcpy(de->name, fs->name, LONG_NAME_LEN);
            fuse_reply(fs->fd, in->unique, 0, d, ri->offset ? 0 : FUSE_DIRENT_SIZE(de));
            break;
        }
        case FUSE_READ: {
            struct fuse_read_in *ri = body;
            const char *data = "hello";
            size_t off = ri->offset < 5 ? ri->offset : 5;
            fuse_reply(fs->fd, in->unique, 0, data + off, 5 - off);
            break;
        }
        case FUSE_STATFS: {
            struct fuse_statfs_out o = {.st = {.bsize = 4096, .namelen = 1024, .frsize = 4096}};
            fuse_reply(fs->fd, in->unique, 0, &o, sizeof o);
            break;
        }
        case FUSE_FLUSH:
        case FUSE_RELEASE:
        case FUSE_RELEASEDIR:
            fuse_reply(fs->fd, in->unique, 0, NULL, 0);
            break;
        case FUSE_FORGET:
        case FUSE_BATCH_FORGET:
            break; /* no reply */
        default:
            fuse_reply(fs->fd, in->unique, ENOSYS, NULL, 0);
        }
    }
}

/* A 300-byte name from the listing went into an entry job's fixed 256-byte name: a heap
 * overflow (seen by ASan). Now the job has room for it, and the copy reports the destination
 * that cannot take such a name, naming the whole path. */
static void a_listed_name_longer_than_name_max_is_reported_not_overflowed(void **state)
{
    struct fuse_fs fs;
    memset(fs.name, 'n', LONG_NAME_LEN);
    fs.name[LONG_NAME_LEN] = 0;
    char mnt[PATH_MAX], dst[PATH_MAX], opts[128], want[PATH_MAX];
    at(mnt, "fuse");
    at(dst, "fuse-copy");
    mkdir(mnt, 0755);
    fs.fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0", fs.fd);
    if (fs.fd < 0 || mount("uco-test", mnt, "fuse.uco-test", MS_NOSUID | MS_NODEV, opts) < 0) {
        printf("SKIP: cannot mount a FUSE file system: %s\n", strerror(errno));
        if (fs.fd >= 0) close(fs.fd);
        skip();
    }
    assert_int_equal(pthread_create(&fs.thread, NULL, fuse_serve, &fs), 0);
    struct run r = {.src = mnt, .dst = dst};
    r.o.flags = UCO_COPY_RECURSIVE;
    run_copy(&r);
    umount2(mnt, MNT_DETACH);
    pthread_join(fs.thread, NULL);
    close(fs.fd);
    assert_int_equal(r.result, -ENAMETOOLONG);
    assert_int_equal(r.nerr, 1);
    assert_int_equal(r.errs[0], -ENAMETOOLONG);
    snprintf(want, sizeof want, "%s/%s", dst, fs.name);
    assert_string_equal(r.errpath[0], want);
    assert_int_equal(r.st.dirs, 1);
    assert_int_equal(r.st.files_total, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_match_the_tree),
        cmocka_unit_test(a_listed_name_longer_than_name_max_is_reported_not_overflowed),
        cmocka_unit_test(failed_writes_are_reported_removed_and_the_rest_copied),
        cmocka_unit_test(failed_inline_writes_are_reported_removed_and_the_rest_copied),
        cmocka_unit_test(own_loop_copies_small_files_in_batches_on_the_pool),
        cmocka_unit_test(own_loop_short_writes_still_copy_whole_files),
        cmocka_unit_test(own_loop_batches_handle_existing_destinations_like_cp),
        cmocka_unit_test(own_loop_cold_small_files_go_through_the_ring),
        cmocka_unit_test(own_loop_stopping_during_batches_leaves_only_whole_files),
        cmocka_unit_test(own_loop_copies_every_kind_of_tree_the_same),
        cmocka_unit_test(a_failed_destination_close_is_reported_and_the_file_removed),
        cmocka_unit_test(a_file_whose_metadata_and_close_both_fail_is_one_error),
        cmocka_unit_test(a_failed_copy_through_a_link_is_reported_incomplete_not_removed),
        cmocka_unit_test(error_callback_can_stop_the_copy),
        cmocka_unit_test(a_set_id_copy_is_never_set_id_or_open_to_others_before_its_owner_is_final),
        cmocka_unit_test(set_id_and_sticky_modes_are_exact_with_owners_kept),
        cmocka_unit_test(a_source_that_grows_is_copied_to_its_new_end),
        cmocka_unit_test(a_source_that_shrinks_is_not_padded),
        cmocka_unit_test(a_small_source_that_grew_since_stat_is_copied_whole),
        cmocka_unit_test(cancelling_the_copy_removes_the_file_in_progress),
        cmocka_unit_test(bad_arguments_are_refused),
        cmocka_unit_test(one_job_one_walker_gives_the_same_tree),
        cmocka_unit_test(direct_copies_files_of_every_size_whole),
        cmocka_unit_test(a_direct_write_refused_with_einval_goes_through_the_page_cache),
        cmocka_unit_test(direct_alignment_is_what_statx_reports),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
