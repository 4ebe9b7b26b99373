/* copy-floor: the least a tree copy can cost on this machine, as a baseline for ucp.
 *
 *   copy-floor [--threads N] [--chunk K] SRC DST
 *
 * Copies a tree of directories and regular files the plainest parallel way: the main thread
 * walks SRC (nftw) and makes every directory; then N threads (default: the online CPUs) take
 * the files K at a time (default 16, consecutive in walk order, so a thread mostly stays in one
 * directory) and copy each with plain system calls: open, create, pread, pwrite, owner (when it
 * is not already ours), xattrs, times, two closes; last the directories get their mode, owner
 * and times, deepest first. That is what `ucp -a` does per file, without its error handling,
 * hard links, special files, bounded memory or overlap of the walk with the copy. No error
 * recovery: the first failure is printed (operation, path, reason) and the program exits 1.
 * Other file kinds are counted and skipped.
 *
 * Run it next to ucp and cp in bench/copy-ab.sh:
 *   bench/copy-ab.sh "ucp=build/examples/ucp -a" "floor=build/bench/copy-floor" "cp=cp -a"
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

struct node {
    char *rel; /* path below SRC and DST, starting with '/' (empty for the root) */
    struct stat st;
};

static struct node *files, *dirs;
static size_t nfiles, ndirs, capfiles, capdirs, skipped;
static const char *src_root, *dst_root;
static size_t src_len;
static size_t chunk = 16;
static atomic_size_t next_file;
static atomic_ullong bytes_copied;
static uid_t my_uid;
static gid_t my_gid;

static void die(const char *op, const char *path, int err)
{
    fprintf(stderr, "copy-floor: %s %s: %s\n", op, path, strerror(err));
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) die("malloc", "", ENOMEM);
    return p;
}

static void path_of(char *out, const char *root, const char *rel)
{
    if ((size_t)snprintf(out, PATH_MAX, "%s%s", root, rel) >= PATH_MAX)
        die("path", rel, ENAMETOOLONG);
}

static void push(struct node **v, size_t *n, size_t *cap, const char *rel, const struct stat *st)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        struct node *nv = realloc(*v, *cap * sizeof **v);
        if (!nv) die("realloc", "", ENOMEM);
        *v = nv;
    }
    (*v)[*n].rel = strdup(rel);
    if (!(*v)[*n].rel) die("strdup", rel, ENOMEM);
    (*v)[*n].st = *st;
    (*n)++;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    const char *rel = path + src_len;
    if (type == FTW_D) {
        char dst[PATH_MAX];
        path_of(dst, dst_root, rel);
        if (mkdir(dst, 0700) < 0 && !(errno == EEXIST && !*rel)) die("mkdir", dst, errno);
        push(&dirs, &ndirs, &capdirs, rel, st);
    } else if (type == FTW_F && S_ISREG(st->st_mode)) {
        push(&files, &nfiles, &capfiles, rel, st);
    } else if (type == FTW_DNR || type == FTW_NS) {
        die("read", path, EACCES);
    } else {
        skipped++;
    }
    return 0;
}

static void copy_xattrs(int src, int dst, const char *path)
{
    char list[4096], val[4096];
    ssize_t n = flistxattr(src, list, sizeof list);
    if (n < 0) {
        if (errno == ENOTSUP) return;
        die("flistxattr", path, errno);
    }
    for (ssize_t off = 0; off < n; off += (ssize_t)strlen(list + off) + 1) {
        ssize_t v = fgetxattr(src, list + off, val, sizeof val);
        if (v < 0) die("fgetxattr", path, errno);
        if (fsetxattr(dst, list + off, val, (size_t)v, 0) < 0) die("fsetxattr", path, errno);
    }
}

static void copy_file(const struct node *f, char *buf, size_t cap)
{
    char sp[PATH_MAX], dp[PATH_MAX];
    path_of(sp, src_root, f->rel);
    path_of(dp, dst_root, f->rel);
    int s = open(sp, O_RDONLY | O_NOATIME | O_CLOEXEC);
    if (s < 0) die("open", sp, errno);
    int d = open(dp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, f->st.st_mode & 0777);
    if (d < 0) die("create", dp, errno);
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(s, buf, cap, off);
        if (n < 0) die("read", sp, errno);
        if (n == 0) break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = pwrite(d, buf + done, (size_t)(n - done), off + done);
            if (w <= 0) die("write", dp, w < 0 ? errno : EIO);
            done += w;
        }
        off += n;
    }
    atomic_fetch_add_explicit(&bytes_copied, (unsigned long long)off, memory_order_relaxed);
    if ((f->st.st_uid != my_uid || f->st.st_gid != my_gid) &&
        fchown(d, f->st.st_uid, f->st.st_gid) < 0)
        die("chown", dp, errno);
    copy_xattrs(s, d, dp);
    if ((f->st.st_mode & 07000) && fchmod(d, f->st.st_mode & 07777) < 0) die("chmod", dp, errno);
    struct timespec ts[2] = {f->st.st_atim, f->st.st_mtim};
    if (futimens(d, ts) < 0) die("set times", dp, errno);
    close(s);
    if (close(d) < 0) die("close", dp, errno);
}

static void *copier(void *arg)
{
    (void)arg;
    size_t cap = (size_t)1 << 20;
    char *buf = xmalloc(cap);
    for (;;) {
        size_t i = atomic_fetch_add(&next_file, chunk);
        if (i >= nfiles) break;
        size_t end = i + chunk < nfiles ? i + chunk : nfiles;
        for (; i < end; i++)
            copy_file(&files[i], buf, cap);
    }
    free(buf);
    return NULL;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    int a = 1;
    for (; a < argc && argv[a][0] == '-'; a += 2) {
        if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
            printf("usage: copy-floor [--threads N] [--chunk K] SRC DST\n");
            return 0;
        }
        if (a + 1 >= argc) break;
        if (!strcmp(argv[a], "--threads")) {
            threads = strtol(argv[a + 1], NULL, 10);
        } else if (!strcmp(argv[a], "--chunk")) {
            chunk = (size_t)strtoul(argv[a + 1], NULL, 10);
        } else {
            fprintf(stderr, "copy-floor: unknown option %s\n", argv[a]);
            return 2;
        }
    }
    if (argc - a != 2 || threads < 1 || threads > 256 || chunk < 1) {
        fprintf(stderr, "usage: copy-floor [--threads N (1-256)] [--chunk K] SRC DST\n");
        return 2;
    }
    src_root = argv[a];
    dst_root = argv[a + 1];
    src_len = strlen(src_root);
    my_uid = geteuid();
    my_gid = getegid();
    umask(0); /* files are created with their final permission bits */
    struct stat rst;
    if (stat(src_root, &rst) < 0) die("stat", src_root, errno);
    if (!S_ISDIR(rst.st_mode)) die("copy", src_root, ENOTDIR);

    double t0 = now_s();
    if (nftw(src_root, visit, 64, FTW_PHYS) < 0) die("walk", src_root, errno);
    double t1 = now_s();
    pthread_t th[256];
    for (long i = 0; i < threads; i++) {
        int r = pthread_create(&th[i], NULL, copier, NULL);
        if (r) die("pthread_create", "", r);
    }
    for (long i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double t2 = now_s();
    /* Deepest first: nftw lists a directory before what it contains. */
    for (size_t i = ndirs; i-- > 0;) {
        char dp[PATH_MAX];
        path_of(dp, dst_root, dirs[i].rel);
        const struct stat *st = &dirs[i].st;
        if ((st->st_uid != my_uid || st->st_gid != my_gid) && chown(dp, st->st_uid, st->st_gid))
            die("chown", dp, errno);
        if (chmod(dp, st->st_mode & 07777) < 0) die("chmod", dp, errno);
        struct timespec ts[2] = {st->st_atim, st->st_mtim};
        if (utimensat(AT_FDCWD, dp, ts, AT_SYMLINK_NOFOLLOW) < 0) die("set times", dp, errno);
    }
    double t3 = now_s();
    fprintf(stderr,
            "copy-floor: %zu files, %zu dirs, %llu bytes, %zu skipped; %ld threads: walk+mkdir "
            "%.3f s, files %.3f s, dir metadata %.3f s, total %.3f s\n",
            nfiles, ndirs, (unsigned long long)atomic_load(&bytes_copied), skipped, threads,
            t1 - t0, t2 - t1, t3 - t2, t3 - t0);
    return 0;
}
