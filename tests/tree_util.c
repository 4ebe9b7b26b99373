/* Test trees for the copy tests: see tree_util.h. */
#pragma GCC diagnostic ignored "-Wformat-truncation" /* short temporary paths */

#include "tree_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- building ------------------------------------------------------------------------- */

static int fail(const char *what, const char *path)
{
    printf("build_tree: %s '%s': %s\n", what, path, strerror(errno));
    return -1;
}

/* Writes size bytes of a pattern that depends on the offset and a seed. */
static int put_file(int dirfd, const char *name, size_t size, unsigned seed, mode_t mode)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return fail("create", name);
    static char buf[65536];
    for (size_t off = 0; off < size;) {
        size_t n = size - off < sizeof buf ? size - off : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (char)(((off + i) * 2654435761u + seed) >> 13);
        if (write(fd, buf, n) != (ssize_t)n) {
            close(fd);
            return fail("write", name);
        }
        off += n;
    }
    if (fchmod(fd, mode) < 0) return fail("chmod", name);
    close(fd);
    return 0;
}

/* A sparse file: data at the given offsets (1 MiB apart units), total size. */
static int put_sparse(int dirfd, const char *name, const long *data_at, int n, off_t size)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fail("create", name);
    char block[8192];
    memset(block, 'S', sizeof block);
    for (int i = 0; i < n; i++)
        if (pwrite(fd, block, sizeof block, data_at[i]) != (ssize_t)sizeof block) {
            close(fd);
            return fail("pwrite", name);
        }
    if (ftruncate(fd, size) < 0) return fail("ftruncate", name);
    close(fd);
    return 0;
}

static int set_times(int dirfd, const char *name, time_t a, long ans, time_t m, long mns)
{
    struct timespec ts[2] = {{a, ans}, {m, mns}};
    if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0) return fail("utimensat", name);
    return 0;
}

static int mkdirs_deep(int dirfd, int depth, const char *name)
{
    int fd = dup(dirfd);
    for (int i = 0; i < depth; i++) {
        if (mkdirat(fd, name, 0755) < 0) return fail("mkdir", name);
        int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        if (next < 0) return fail("open", name);
        fd = next;
    }
    int r = put_file(fd, "bottom", 100, (unsigned)depth, 0644);
    close(fd);
    return r;
}

static int make_socket(int dirfd, const char *name)
{
    /* bind() takes a path: go through /proc to stay relative to dirfd. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dirfd, name);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return fail("socket", name);
    int r = bind(s, (struct sockaddr *)&sa, sizeof sa);
    close(s);
    return r < 0 ? fail("bind", name) : 0;
}

int build_tree(const char *root, unsigned what)
{
    if (mkdir(root, 0755) < 0) return fail("mkdir", root);
    int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) return fail("open", root);
    int r = 0;
#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((r = (x)) < 0) goto out;                                                               \
    } while (0)
#define SYS(x, what, name)                                                                         \
    do {                                                                                           \
        if ((x) < 0) {                                                                             \
            r = fail(what, name);                                                                  \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)
    /* Regular files around the engine's thresholds (one read; chunks; several chunks). */
    static const size_t sizes[] = {0,      1,      4095,   4096,   4097,    65536,
                                   131071, 131072, 131073, 300000, 1500000, 3 << 20};
    SYS(mkdirat(rfd, "files", 0755), "mkdir", "files");
    int ffd = openat(rfd, "files", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "size-%zu", sizes[i]);
        TRY(put_file(ffd, name, sizes[i], (unsigned)i, 0644));
    }
    /* Awkward names. */
    TRY(put_file(ffd, "name with spaces", 10, 1, 0644));
    TRY(put_file(ffd, "new\nline", 11, 2, 0644));
    TRY(put_file(ffd, "latin1-\xe9t\xe9-\xff\xfe", 12, 3, 0644));
    TRY(put_file(ffd, "-starts-with-dash", 13, 4, 0644));
    TRY(put_file(ffd, "\xe6\x97\xa5\xe6\x9c\xac", 14, 5, 0644));
    char longname[256];
    memset(longname, 'n', 255);
    longname[255] = 0;
    TRY(put_file(ffd, longname, 15, 6, 0644));
    close(ffd);
    /* Empty things. */
    SYS(mkdirat(rfd, "empty-dir", 0700), "mkdir", "empty-dir");
    SYS(mkdirat(rfd, "empty-dir/nested-empty", 0755), "mkdir", "nested-empty");
    TRY(put_file(rfd, "empty-file", 0, 0, 0600));
    /* Depth 64. */
    SYS(mkdirat(rfd, "deep", 0755), "mkdir", "deep");
    int dfd = openat(rfd, "deep", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    TRY(mkdirs_deep(dfd, 64, "d"));
    close(dfd);
    /* Sparse files: hole first, holes between, trailing hole, all hole. */
    SYS(mkdirat(rfd, "sparse", 0755), "mkdir", "sparse");
    int sfd = openat(rfd, "sparse", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    static const long at1[] = {4 << 20}, at2[] = {0, 3 << 20, 7 << 20}, at3[] = {0};
    TRY(put_sparse(sfd, "hole-first", at1, 1, (4 << 20) + 8192));
    TRY(put_sparse(sfd, "holes-between", at2, 3, (7 << 20) + 8192));
    TRY(put_sparse(sfd, "hole-last", at3, 1, 16 << 20));
    TRY(put_sparse(sfd, "all-hole", NULL, 0, 5 << 20));
    TRY(put_sparse(sfd, "small-sparse", at3, 1, 100000)); /* below the chunk size */
    close(sfd);
    /* Hard links: a group of three across directories, a linked symlink. */
    SYS(mkdirat(rfd, "links", 0755), "mkdir", "links");
    SYS(mkdirat(rfd, "links/sub", 0755), "mkdir", "links/sub");
    TRY(put_file(rfd, "links/h1", 5000, 7, 0640));
    SYS(linkat(rfd, "links/h1", rfd, "links/sub/h2", 0), "link", "h2");
    SYS(linkat(rfd, "links/h1", rfd, "h3-at-top", 0), "link", "h3");
    TRY(put_file(rfd, "links/big-linked", 2000000, 8, 0644));
    SYS(linkat(rfd, "links/big-linked", rfd, "links/sub/big-linked-2", 0), "link", "big2");
    SYS(symlinkat("h1", rfd, "links/sym"), "symlink", "sym");
    SYS(linkat(rfd, "links/sym", rfd, "links/sym-hard", 0), "link", "sym-hard");
    /* Symlinks: relative, absolute, dangling, looping, to a directory, long target. */
    SYS(mkdirat(rfd, "syms", 0755), "mkdir", "syms");
    SYS(symlinkat("../files/size-1", rfd, "syms/relative"), "symlink", "relative");
    SYS(symlinkat("/etc/hostname", rfd, "syms/absolute"), "symlink", "absolute");
    SYS(symlinkat("no/such/target", rfd, "syms/dangling"), "symlink", "dangling");
    SYS(symlinkat("loop-b", rfd, "syms/loop-a"), "symlink", "loop-a");
    SYS(symlinkat("loop-a", rfd, "syms/loop-b"), "symlink", "loop-b");
    SYS(symlinkat("self", rfd, "syms/self"), "symlink", "self");
    SYS(symlinkat("../deep", rfd, "syms/to-dir"), "symlink", "to-dir");
    SYS(symlinkat("..", rfd, "syms/to-parent"), "symlink", "to-parent"); /* never followed */
    char target[1024];
    memset(target, 't', sizeof target - 1);
    target[sizeof target - 1] = 0;
    SYS(symlinkat(target, rfd, "syms/long-target"), "symlink", "long-target");
    /* Special files. */
    SYS(mkdirat(rfd, "special", 0755), "mkdir", "special");
    SYS(mknodat(rfd, "special/fifo", S_IFIFO | 0640, 0), "mkfifo", "fifo");
    int spfd = openat(rfd, "special", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    TRY(make_socket(spfd, "socket"));
    close(spfd);
    if (what & TREE_DEVICES) {
        SYS(mknodat(rfd, "special/char", S_IFCHR | 0666, makedev(1, 3)), "mknod", "char");
        SYS(mknodat(rfd, "special/block", S_IFBLK | 0600, makedev(7, 200)), "mknod", "block");
    }
    /* Modes. */
    SYS(mkdirat(rfd, "modes", 0755), "mkdir", "modes");
    int mfd = openat(rfd, "modes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (what & TREE_MODES) {
        for (int m = 0; m <= 0777; m++) {
            char name[16];
            snprintf(name, sizeof name, "m%04o", m);
            TRY(put_file(mfd, name, (size_t)m % 7, (unsigned)m, (mode_t)m));
        }
    }
    static const mode_t special_modes[] = {04755, 02755, 06711, 01644, 07777, 04000};
    for (size_t i = 0; i < sizeof special_modes / sizeof special_modes[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%04o", special_modes[i]);
        TRY(put_file(mfd, name, 100, (unsigned)i, special_modes[i]));
    }
    SYS(mkdirat(mfd, "sticky-dir", 0755), "mkdir", "sticky");
    SYS(fchmodat(mfd, "sticky-dir", 01777, 0), "chmod", "sticky");
    SYS(mkdirat(mfd, "setgid-dir", 0755), "mkdir", "setgid");
    SYS(fchmodat(mfd, "setgid-dir", 02775, 0), "chmod", "setgid");
    TRY(put_file(mfd, "setgid-dir/inside", 10, 9, 0644));
    SYS(mkdirat(mfd, "readonly-dir", 0755), "mkdir", "readonly");
    TRY(put_file(mfd, "readonly-dir/inside", 10, 10, 0444));
    SYS(fchmodat(mfd, "readonly-dir", 0555, 0), "chmod", "readonly");
    SYS(mkdirat(mfd, "no-access-dir", 0755), "mkdir", "no-access");
    TRY(put_file(mfd, "no-access-dir/inside", 10, 11, 0600));
    SYS(fchmodat(mfd, "no-access-dir", 0, 0), "chmod", "no-access");
    close(mfd);
    /* Owners. */
    if (what & TREE_OWNERS) {
        SYS(mkdirat(rfd, "owners", 0755), "mkdir", "owners");
        TRY(put_file(rfd, "owners/u1000", 10, 12, 0644));
        SYS(fchownat(rfd, "owners/u1000", 1000, 1000, 0), "chown", "u1000");
        TRY(put_file(rfd, "owners/u12345-g54321", 10, 13, 04755));
        SYS(fchownat(rfd, "owners/u12345-g54321", 12345, 54321, 0), "chown", "u12345");
        SYS(fchmodat(rfd, "owners/u12345-g54321", 04755, 0), "chmod", "u12345");
        SYS(symlinkat("u1000", rfd, "owners/link-owned"), "symlink", "link-owned");
        SYS(fchownat(rfd, "owners/link-owned", 4321, 4321, AT_SYMLINK_NOFOLLOW), "lchown", "link");
        SYS(mkdirat(rfd, "owners/dir-owned", 0750), "mkdir", "dir-owned");
        SYS(fchownat(rfd, "owners/dir-owned", 65534, 65534, 0), "chown", "dir-owned");
        SYS(mknodat(rfd, "owners/fifo-owned", S_IFIFO | 0600, 0), "mkfifo", "fifo-owned");
        SYS(fchownat(rfd, "owners/fifo-owned", 777, 888, 0), "chown", "fifo-owned");
    }
    /* Extended attributes (a file system without them makes this a no-op). */
    if (what & TREE_XATTRS) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/files/size-1", root);
        if (setxattr(path, "user.a", "1", 1, 0) == 0) {
            setxattr(path, "user.empty", "", 0, 0);
            char big[3000];
            memset(big, 'x', sizeof big);
            snprintf(path, sizeof path, "%s/files/size-4096", root);
            setxattr(path, "user.big", big, sizeof big, 0);
            snprintf(path, sizeof path, "%s/empty-dir", root);
            setxattr(path, "user.on-dir", "d", 1, 0);
            snprintf(path, sizeof path, "%s/files/size-3145728", root);
            setxattr(path, "user.on-big", "b", 1, 0);
        }
    }
    /* Timestamps with nanoseconds, old and pre-1970, on files, links, dirs. */
    TRY(set_times(rfd, "files/size-1", 1000000000, 1, 1100000000, 999999999));
    TRY(set_times(rfd, "files/size-0", 1, 0, 2, 500));
    TRY(set_times(rfd, "syms/relative", 1234567890, 123456789, 1234567891, 987654321));
    TRY(set_times(rfd, "special/fifo", 1500000000, 5, 1500000001, 6));
    TRY(set_times(rfd, "files/size-4095", 1600000000, 7, -100000, 8));
    /* Directory times last: creating entries above moved them. */
    TRY(set_times(rfd, "empty-dir", 1300000000, 11, 1300000001, 12));
    TRY(set_times(rfd, "links/sub", 1400000000, 13, 1400000001, 14));
out:
    close(rfd);
    return r;
#undef TRY
#undef SYS
}

/* ---- comparing ------------------------------------------------------------------------ */

struct cmp {
    int diffs;
    unsigned what;
    /* hard links: inode in a -> relative path of its first name, and its inode in b */
    struct link {
        dev_t dev;
        ino_t ino;
        dev_t bdev;
        ino_t bino;
        char *path;
    } * links;
    size_t nlinks, cap;
};

static void diff(struct cmp *c, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void diff(struct cmp *c, const char *rel, const char *fmt, ...)
{
    if (c->diffs++ < 30) {
        va_list ap;
        va_start(ap, fmt);
        size_t n = strlen(rel);
        printf("  differs: '%s%s': ", n > 120 ? "..." : "", n > 120 ? rel + n - 120 : rel);
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
    }
}

static bool same_content(int afd, int bfd, off_t size)
{
    static char x[65536], y[65536];
    for (off_t off = 0; off < size;) {
        ssize_t n = pread(afd, x, sizeof x, off), m = pread(bfd, y, sizeof y, off);
        if (n != m || n <= 0 || memcmp(x, y, (size_t)n)) return n == 0 && m == 0;
        off += n;
    }
    char one;
    return pread(bfd, &one, 1, size) == 0;
}

static void compare_xattrs(struct cmp *c, int adir, int bdir, const char *name, const char *rel)
{
    char ap[PATH_MAX], bp[PATH_MAX];
    snprintf(ap, sizeof ap, "/proc/self/fd/%d/%s", adir, name);
    snprintf(bp, sizeof bp, "/proc/self/fd/%d/%s", bdir, name);
    char al[4096], bl[4096];
    ssize_t an = llistxattr(ap, al, sizeof al), bn = llistxattr(bp, bl, sizeof bl);
    if (an < 0) an = 0;
    if (bn < 0) bn = 0;
    /* Only user.* (security.* labels are the system's business). */
    for (ssize_t off = 0; off < an; off += (ssize_t)strlen(al + off) + 1) {
        const char *n = al + off;
        if (strncmp(n, "user.", 5)) continue;
        char av[4096], bv[4096];
        ssize_t x = lgetxattr(ap, n, av, sizeof av), y = lgetxattr(bp, n, bv, sizeof bv);
        if (x != y || (x > 0 && memcmp(av, bv, (size_t)x)))
            diff(c, rel, "xattr %s: %zd vs %zd bytes", n, x, y);
    }
    int ua = 0, ub = 0;
    for (ssize_t off = 0; off < an; off += (ssize_t)strlen(al + off) + 1)
        ua += !strncmp(al + off, "user.", 5);
    for (ssize_t off = 0; off < bn; off += (ssize_t)strlen(bl + off) + 1)
        ub += !strncmp(bl + off, "user.", 5);
    if (ua != ub) diff(c, rel, "user xattrs: %d vs %d", ua, ub);
}

/* Hard links: whether a's inode (or b's) was met under an earlier name; otherwise it is noted
 * with its first name. With CMP_LINKS, a's names must be names of one inode in b too. */
static bool link_seen(struct cmp *c, const struct stat *a, const struct stat *b, const char *rel)
{
    for (size_t i = 0; i < c->nlinks; i++) {
        struct link *l = &c->links[i];
        bool in_a = l->dev == a->st_dev && l->ino == a->st_ino;
        bool in_b = l->bdev == b->st_dev && l->bino == b->st_ino;
        if (!in_a && !in_b) continue;
        if ((c->what & CMP_LINKS) && in_a != in_b)
            diff(c, rel, "not a hard link of '%s' in %s", l->path, in_a ? "b" : "a");
        return true;
    }
    if (c->nlinks == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct link *t = realloc(c->links, cap * sizeof *t);
        if (!t) return false;
        c->links = t;
        c->cap = cap;
    }
    c->links[c->nlinks++] = (struct link){a->st_dev, a->st_ino, b->st_dev, b->st_ino, strdup(rel)};
    return false;
}

static void compare_dir(struct cmp *c, int afd, int bfd, const char *rel);

static void compare_entry(struct cmp *c, int adir, int bdir, const char *name, const char *rel)
{
    struct stat a, b;
    if (fstatat(adir, name, &a, AT_SYMLINK_NOFOLLOW) < 0) {
        diff(c, rel, "lstat a: %s", strerror(errno));
        return;
    }
    if (fstatat(bdir, name, &b, AT_SYMLINK_NOFOLLOW) < 0) {
        diff(c, rel, "missing in b (%s)", strerror(errno));
        return;
    }
    if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT)) {
        diff(c, rel, "type %o vs %o", a.st_mode & S_IFMT, b.st_mode & S_IFMT);
        return;
    }
    unsigned w = c->what;
    /* A later name of an inode seen before: comparing it again is comparing the same inodes,
     * except for the access time, which reading the symlink at its first name moved (a copied
     * symlink's preserved atime is older than its ctime, so relatime updates it at the first
     * readlink; the two trees' updates can fall on either side of a clock tick). */
    bool later =
        !S_ISDIR(a.st_mode) && (a.st_nlink > 1 || b.st_nlink > 1) && link_seen(c, &a, &b, rel);
    if ((w & CMP_MODE) && !S_ISLNK(a.st_mode) && (a.st_mode & 07777) != (b.st_mode & 07777))
        diff(c, rel, "mode %04o vs %04o", a.st_mode & 07777, b.st_mode & 07777);
    if ((w & CMP_OWNER) && (a.st_uid != b.st_uid || a.st_gid != b.st_gid))
        diff(c, rel, "owner %u:%u vs %u:%u", a.st_uid, a.st_gid, b.st_uid, b.st_gid);
    if ((w & CMP_MTIME) &&
        (a.st_mtim.tv_sec != b.st_mtim.tv_sec || a.st_mtim.tv_nsec != b.st_mtim.tv_nsec))
        diff(c, rel, "mtime %ld.%09ld vs %ld.%09ld", (long)a.st_mtim.tv_sec, a.st_mtim.tv_nsec,
             (long)b.st_mtim.tv_sec, b.st_mtim.tv_nsec);
    if ((w & CMP_ATIME) && !later &&
        (a.st_atim.tv_sec != b.st_atim.tv_sec || a.st_atim.tv_nsec != b.st_atim.tv_nsec))
        diff(c, rel, "atime %ld.%09ld vs %ld.%09ld", (long)a.st_atim.tv_sec, a.st_atim.tv_nsec,
             (long)b.st_atim.tv_sec, b.st_atim.tv_nsec);
    if ((w & CMP_LINKS) && a.st_nlink != b.st_nlink && !S_ISDIR(a.st_mode))
        diff(c, rel, "nlink %lu vs %lu", (unsigned long)a.st_nlink, (unsigned long)b.st_nlink);
    if (w & CMP_XATTR) compare_xattrs(c, adir, bdir, name, rel);
    if (S_ISREG(a.st_mode)) {
        if (a.st_size != b.st_size) {
            diff(c, rel, "size %lld vs %lld", (long long)a.st_size, (long long)b.st_size);
            return;
        }
        /* Sparseness: allocated blocks (holes stay holes). */
        if ((w & CMP_SPARSE) && a.st_blocks != b.st_blocks)
            diff(c, rel, "blocks %lld vs %lld", (long long)a.st_blocks, (long long)b.st_blocks);
        int x = openat(adir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        int y = openat(bdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        if (x < 0 || y < 0)
            diff(c, rel, "open: %s", strerror(errno));
        else if (!same_content(x, y, a.st_size))
            diff(c, rel, "content");
        if (x >= 0) close(x);
        if (y >= 0) close(y);
    } else if (S_ISLNK(a.st_mode)) {
        char ta[PATH_MAX], tb[PATH_MAX];
        ssize_t n = readlinkat(adir, name, ta, sizeof ta),
                m = readlinkat(bdir, name, tb, sizeof tb);
        if (n != m || n < 0 || memcmp(ta, tb, (size_t)n)) diff(c, rel, "symlink target");
    } else if (S_ISCHR(a.st_mode) || S_ISBLK(a.st_mode)) {
        if (a.st_rdev != b.st_rdev) diff(c, rel, "device number");
    } else if (S_ISDIR(a.st_mode)) {
        int x = openat(adir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int y = openat(bdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (x < 0 || y < 0)
            diff(c, rel, "open dir: %s", strerror(errno));
        else
            compare_dir(c, x, y, rel);
        if (x >= 0) close(x);
        if (y >= 0) close(y);
    }
}

static int count_entries(int fd)
{
    int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdopendir(dup_fd);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* The names in directory d (without "." and ".."), malloc'd; closes d (NULL: none). */
static char **names_of(DIR *d, size_t *n)
{
    char **names = NULL;
    *n = 0;
    if (!d) return NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char **t = realloc(names, (*n + 1) * sizeof *names);
        char *name = strdup(e->d_name);
        if (!t || !name) {
            free(name);
            names = t ? t : names;
            break;
        }
        names = t;
        names[(*n)++] = name;
    }
    closedir(d);
    return names;
}

static void compare_dir(struct cmp *c, int afd, int bfd, const char *rel)
{
    int na = count_entries(afd), nb = count_entries(bfd);
    if (na != nb) diff(c, rel, "%d vs %d entries", na, nb);
    /* Names first: recursing while reading would change the directory's access time midway. */
    size_t n;
    char **names = names_of(fdopendir(openat(afd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)), &n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(rel) + strlen(names[i]) + 2;
        char *sub = malloc(len);
        snprintf(sub, len, "%s/%s", rel, names[i]);
        compare_entry(c, afd, bfd, names[i], sub);
        free(sub);
        free(names[i]);
    }
    free(names);
}

int compare_trees(const char *a, const char *b, unsigned what)
{
    struct cmp c = {.what = what};
    struct stat x, y;
    if (lstat(a, &x) < 0 || lstat(b, &y) < 0) {
        printf("compare_trees: cannot stat '%s' or '%s'\n", a, b);
        return 1;
    }
    /* The roots' own mode, owner and times, then what they hold. */
    if ((what & CMP_MODE) && (x.st_mode & 07777) != (y.st_mode & 07777))
        diff(&c, ".", "root mode %04o vs %04o", x.st_mode & 07777, y.st_mode & 07777);
    if ((what & CMP_OWNER) && (x.st_uid != y.st_uid || x.st_gid != y.st_gid))
        diff(&c, ".", "root owner");
    if ((what & CMP_MTIME) &&
        (x.st_mtim.tv_sec != y.st_mtim.tv_sec || x.st_mtim.tv_nsec != y.st_mtim.tv_nsec))
        diff(&c, ".", "root mtime");
    int afd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int bfd = open(b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (afd >= 0 && bfd >= 0) compare_dir(&c, afd, bfd, ".");
    if (afd >= 0) close(afd);
    if (bfd >= 0) close(bfd);
    for (size_t i = 0; i < c.nlinks; i++)
        free(c.links[i].path);
    free(c.links);
    if (c.diffs > 30) printf("  ... %d differences in all\n", c.diffs);
    return c.diffs;
}

/* ---- processes ------------------------------------------------------------------------ */

static void drain(int fd, char *buf, size_t len)
{
    size_t n = 0;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r <= 0) break;
        size_t take = (size_t)r;
        if (buf && len && n + take > len - 1) take = len - 1 - n;
        if (buf && take) memcpy(buf + n, tmp, take);
        n += take;
    }
    if (buf && len) buf[n < len ? n : len - 1] = 0;
}

int run_prog(char *const argv[], uid_t uid, char *err, size_t errlen, char *out, size_t outlen)
{
    int pe[2], po[2];
    if (pipe2(pe, O_CLOEXEC) < 0 || pipe2(po, O_CLOEXEC) < 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pe[1], 2);
        dup2(po[1], 1);
        if (uid != (uid_t)-1) {
            if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0) _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    close(pe[1]);
    close(po[1]);
    /* stdout is small in these tests; read stderr to the end, then stdout. */
    drain(pe[0], err, errlen);
    drain(po[0], out, outlen);
    close(pe[0]);
    close(po[0]);
    int st;
    if (waitpid(pid, &st, 0) < 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void remove_tree(const char *path)
{
    char *argv[] = {"/bin/rm", "-rf", (char *)path, NULL};
    run_prog(argv, (uid_t)-1, NULL, 0, NULL, 0);
}

int private_mounts(void)
{
    static bool unshared;
    if (unshared) return 0;
    if (unshare(CLONE_NEWNS) < 0) return -errno;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return -errno;
    unshared = true;
    return 0;
}

int mount_tmpfs(const char *dir, size_t size)
{
    int r = private_mounts();
    if (r < 0) return r;
    char opts[64];
    snprintf(opts, sizeof opts, "size=%zu,mode=0755", size);
    if (mount("uco-test", dir, "tmpfs", 0, opts) < 0) return -errno;
    return 0;
}

bool is_fs(const char *path, long magic)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

static bool later_than(struct timespec a, struct timespec b)
{
    return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

/* Whether reading path (a regular file, symlink or directory) and what is below it would move no
 * access time any more: relatime updates one that is not later than the entry's mtime or ctime.
 * Entries cp cannot reach (paths from PATH_MAX on) are left out, as it cannot read them. */
static bool atimes_settled(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0) return true;
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode)) return true;
    if (!later_than(st.st_atim, st.st_mtim) || !later_than(st.st_atim, st.st_ctim)) return false;
    if (!S_ISDIR(st.st_mode)) return true;
    size_t n;
    char **names = names_of(opendir(path), &n);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        char sub[PATH_MAX];
        if (ok && snprintf(sub, sizeof sub, "%s/%s", path, names[i]) < (int)sizeof sub)
            ok = atimes_settled(sub);
        free(names[i]);
    }
    free(names);
    return ok;
}

void settle_atimes(const char *root)
{
    char dst[PATH_MAX];
    snprintf(dst, sizeof dst, "%s.settle", root);
    char *argv[] = {"/bin/cp", "-a", (char *)root, dst, NULL};
    /* A read in the same clock tick as the entry's last change leaves its atime equal to its
     * ctime, so the next read moves it again: read once more until none is left like that
     * (each round starts a process, so the clock has moved on; bounded all the same). */
    for (int round = 0; round < 20; round++) {
        run_prog(argv, (uid_t)-1, NULL, 0, NULL, 0);
        remove_tree(dst);
        if (atimes_settled(root)) return;
    }
    printf("settle_atimes: '%s' still has access times a read would move\n", root);
}
