/* ucp against cp: the same trees copied by both, compared entry by entry (content, type, mode,
 * owner, ns times, link targets, hard-link groups, sparseness, user xattrs) on ext4 and on
 * tmpfs; and every bad input, where ucp must name the path, exit non-zero, and lose nothing.
 * Runs the built ucp and /bin/cp as real processes. Needs root (chown, device nodes, mounts). */
/* Paths here are short temporary ones: no truncation to warn about. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "test_util.h"
#include "tree_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CP      "/bin/cp"
#define NOBODY  65534
#define ERR_LEN 16384

static char base[PATH_MAX];     /* on ext4 */
static char ucp_path[PATH_MAX]; /* a copy of ucp that other users can run */
static char err[ERR_LEN], out[ERR_LEN];
static bool have_tmpfs;
static char tmpfs_dir[PATH_MAX];

/* base/name */
static void path(char *buf, const char *name)
{
    snprintf(buf, PATH_MAX, "%s/%s", base, name);
}

/* A fresh, empty directory for one tool's run ("<stem>-u" for ucp, k = 0; "<stem>-c" for cp),
 * made the working directory; its path in where. */
static void enter_fresh(char *where, const char *stem, int k)
{
    char name[64];
    snprintf(name, sizeof name, "%s-%c", stem, k ? 'c' : 'u');
    path(where, name);
    remove_tree(where);
    assert_int_equal(mkdir(where, 0755), 0);
    assert_int_equal(chdir(where), 0);
}

/* Runs ucp with the given arguments (NULL-terminated), as uid (-1: root). */
static int ucp_as(uid_t uid, const char *a0, ...)
{
    char *argv[32] = {ucp_path};
    int n = 1;
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && n < 31; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    int r = run_prog(argv, uid, err, sizeof err, out, sizeof out);
    /* A sanitizer report must not hide behind an expected failure. */
    if (strstr(err, "Sanitizer") || strstr(err, "runtime error:")) fail_msg("ucp: %s", err);
    return r;
}

static int cp_as(uid_t uid, const char *a0, ...)
{
    char *argv[32] = {CP};
    int n = 1;
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && n < 31; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return run_prog(argv, uid, NULL, 0, NULL, 0);
}

#define UCP(...) ucp_as((uid_t)-1, __VA_ARGS__, (const char *)NULL)
#define CPA(...) cp_as((uid_t)-1, __VA_ARGS__, (const char *)NULL)

static void check_err_has(const char *what)
{
    if (!strstr(err, what)) fail_msg("ucp's stderr lacks \"%s\":\n%s", what, err);
}

/* Copies a file byte for byte (following symlinks) with mode. */
static int copy_bin(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int outfd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int ok = in >= 0 && outfd >= 0;
    char buf[65536];
    ssize_t n;
    while (ok && (n = read(in, buf, sizeof buf)) > 0)
        ok = write(outfd, buf, (size_t)n) == n;
    if (in >= 0) close(in);
    if (outfd >= 0) close(outfd);
    return ok ? 0 : -1;
}

/* The runs as nobody must be able to execute ucp, and the build tree may be out of their
 * reach (on a fresh Debian, /root is 0700): run a copy from base, with libuco beside it. */
static void install_ucp_copy(void)
{
    char dir[PATH_MAX], lib[PATH_MAX];
    path(dir, "bin");
    mkdir(dir, 0755);
    const char *soname = strrchr(UCO_LIB_PATH, '/');
    snprintf(ucp_path, sizeof ucp_path, "%s/ucp", dir);
    snprintf(lib, sizeof lib, "%s%s", dir, soname ? soname : "/libuco.so");
    if (copy_bin(UCP_PATH, ucp_path, 0755) < 0 || copy_bin(UCO_LIB_PATH, lib, 0755) < 0)
        t_skip_all("cannot copy ucp for the runs as another user");
    setenv("LD_LIBRARY_PATH", dir, 1); /* ucp's RUNPATH points into the build tree */
}

/* An ext4 directory for the tests: /tmp when it is ext4, else a loop-mounted image. */
static int setup(void **state)
{
    if (geteuid() != 0) t_skip_all("needs root (chown, device nodes, mounts, other users)");
    if (access(UCP_PATH, X_OK) < 0) t_skip_all("ucp not built");
    snprintf(base, sizeof base, "/tmp/uco-test-ucp-XXXXXX");
    if (!mkdtemp(base)) return -1;
    chmod(base, 0755); /* the unprivileged runs must reach it */
    if (!is_fs(base, EXT4_SUPER_MAGIC)) {
        char img[PATH_MAX], mnt[PATH_MAX];
        path(img, "ext4.img");
        path(mnt, "ext4");
        mkdir(mnt, 0755);
        int fd = open(img, O_CREAT | O_WRONLY, 0600);
        if (fd < 0 || ftruncate(fd, 512 << 20) < 0) t_skip_all("cannot make an ext4 image");
        close(fd);
        if (private_mounts() < 0) t_skip_all("/tmp is not ext4 and mounting is not allowed");
        char *mk[] = {"/sbin/mkfs.ext4", "-q", "-F", img, NULL};
        char *mo[] = {"/bin/mount", "-o", "loop", img, mnt, NULL};
        if (run_prog(mk, (uid_t)-1, NULL, 0, NULL, 0) || run_prog(mo, (uid_t)-1, NULL, 0, NULL, 0))
            t_skip_all("/tmp is not ext4 and a loop-mounted ext4 image could not be made");
        snprintf(base, sizeof base, "%s", mnt);
        chmod(base, 0755);
    }
    install_ucp_copy();
    path(tmpfs_dir, "tmpfs");
    mkdir(tmpfs_dir, 0755);
    int r = mount_tmpfs(tmpfs_dir, 512 << 20);
    have_tmpfs = r == 0;
    if (!have_tmpfs) printf("note: no tmpfs (%s): the tmpfs tests skip\n", strerror(-r));
    return 0;
}

static int teardown(void **state)
{
    if (have_tmpfs) umount2(tmpfs_dir, MNT_DETACH);
    char *p = strstr(base, "/ext4");
    if (p && !p[5]) {
        umount2(base, MNT_DETACH);
        *p = 0;
    }
    remove_tree(base);
    return 0;
}

/* base/name, emptied and writable by everyone (for the runs as nobody). */
static void scratch_for_all(char *where, const char *name)
{
    path(where, name);
    remove_tree(where);
    mkdir(where, 0777);
    chmod(where, 0777);
}

/* Copies src with ucp and cp (same options) to <where>/u and <where>/c and compares. */
static void same_as_cp(const char *src, const char *where, const char *opt, unsigned what)
{
    char u[PATH_MAX], c[PATH_MAX];
    snprintf(u, sizeof u, "%s/u", where);
    snprintf(c, sizeof c, "%s/c", where);
    remove_tree(u);
    remove_tree(c);
    int ru = UCP(opt, src, u);
    if (ru != 0) fail_msg("ucp %s exited %d:\n%s", opt, ru, err);
    assert_int_equal(CPA(opt, src, c), 0);
    assert_int_equal(compare_trees(c, u, what), 0);
}

static void make_src(const char *name, unsigned what)
{
    char src[PATH_MAX];
    path(src, name);
    struct stat st;
    if (stat(src, &st) == 0) return;
    if (build_tree(src, what) < 0) fail_msg("could not build the tree");
    settle_atimes(src);
}

#define FULL_TREE (TREE_OWNERS | TREE_DEVICES | TREE_XATTRS | TREE_MODES)

static void archive_copy_matches_cp_on_ext4(void **state)
{
    char src[PATH_MAX];
    make_src("src", FULL_TREE);
    path(src, "src");
    same_as_cp(src, base, "-a", CMP_ALL);
}

static void archive_copy_matches_cp_on_tmpfs(void **state)
{
    if (!have_tmpfs) {
        printf("SKIP: tmpfs could not be mounted\n");
        skip();
    }
    char src[PATH_MAX], tsrc[PATH_MAX];
    make_src("src", FULL_TREE);
    path(src, "src");
    /* ext4 -> tmpfs, and tmpfs -> tmpfs. */
    same_as_cp(src, tmpfs_dir, "-a", CMP_ALL);
    snprintf(tsrc, sizeof tsrc, "%s/src", tmpfs_dir);
    remove_tree(tsrc);
    assert_int_equal(CPA("-a", src, tsrc), 0);
    settle_atimes(tsrc);
    char where[PATH_MAX];
    snprintf(where, sizeof where, "%s/t2", tmpfs_dir);
    mkdir(where, 0755);
    same_as_cp(tsrc, where, "-a", CMP_ALL);
    remove_tree(where);
    remove_tree(tsrc);
}

static void recursive_and_preserve_copies_match_cp(void **state)
{
    char src[PATH_MAX];
    make_src("src", FULL_TREE);
    path(src, "src");
    /* -r: symlinks stay symlinks (never followed), modes minus umask, new times. */
    same_as_cp(src, base, "-r", CMP_MODE | CMP_OWNER | CMP_SPARSE | CMP_LINKS);
    same_as_cp(src, base, "-rp", CMP_ALL & ~(CMP_XATTR | CMP_LINKS));
}

/* Regression (test_ucp failed once on tmpfs: "'./links/sym': atime ... vs ..." 4 ms apart): the
 * comparison read a hard-linked symlink's target at its first name, which moves the access time
 * of a copied symlink (relatime: it is older than the ctime the copy gave it), then compared
 * the access time again at its second name; the two trees' updates fell on either side of a
 * clock tick. Here one tree's read moves it and the other's cannot: still no difference. */
static void compare_trees_checks_an_atime_before_reading_the_inode(void **state)
{
    char a[PATH_MAX], b[PATH_MAX], p[PATH_MAX];
    path(a, "cmp-a");
    path(b, "cmp-b");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (int k = 0; k < 2; k++) {
        char *root = k ? b : a;
        remove_tree(root);
        assert_int_equal(mkdir(root, 0755), 0);
        snprintf(p, sizeof p, "%s/s", root);
        assert_int_equal(symlink("target", p), 0);
        char p2[PATH_MAX];
        snprintf(p2, sizeof p2, "%s/s2", root);
        assert_int_equal(link(p, p2), 0);
        /* Same atime in both; in b the mtime is later, so a read moves b's atime. */
        struct timespec ts[2] = {{now.tv_sec + 3600, 0}, {k ? now.tv_sec + 7200 : 1000, 0}};
        assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
    }
    assert_int_equal(compare_trees(a, b, CMP_ATIME | CMP_LINKS), 0);
    struct stat st;
    snprintf(p, sizeof p, "%s/s", b);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(st.st_atime != now.tv_sec + 3600); /* the comparison's read did move it */
    remove_tree(a);
    remove_tree(b);
}

/* (helpers) */
static void write_file(const char *p, const char *content, time_t mtime)
{
    FILE *f = fopen(p, "w");
    fputs(content, f);
    fclose(f);
    struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
    utimensat(AT_FDCWD, p, ts, 0);
}

/* The same changes made to both copies before copying onto them again. */
static void disturb(const char *root)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/files/size-4096", root);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("other content", f);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/files/size-1", root);
    chmod(p, 0600);
    snprintf(p, sizeof p, "%s/extra-file", root);
    write_file(p, "", 1000000000);
    snprintf(p, sizeof p, "%s/syms/relative", root);
    unlink(p); /* comes back */
    snprintf(p, sizeof p, "%s/syms/dangling", root);
    unlink(p);
    symlink("elsewhere", p); /* replaced */
    snprintf(p, sizeof p, "%s/special/fifo", root);
    unlink(p);
    f = fopen(p, "w"); /* a file where the source has a FIFO: replaced */
    if (f) fclose(f);
}

static void direct_io_copy_matches_cp(void **state)
{
    char src[PATH_MAX], u[PATH_MAX], c[PATH_MAX];
    make_src("src", FULL_TREE);
    path(src, "src");
    path(u, "direct-u");
    path(c, "direct-c");
    remove_tree(u);
    remove_tree(c);
    /* O_DIRECT reads and writes through the read/write pipeline, small chunks: many of them. */
    int r = UCP("-a", "--direct", "--chunk-size=64K", "--queue-depth=8", src, u);
    if (r != 0) fail_msg("ucp exited %d:\n%s", r, err);
    assert_int_equal(CPA("-a", src, c), 0);
    assert_int_equal(compare_trees(c, u, CMP_ALL), 0);
    remove_tree(u);
    remove_tree(c);
}

static void copying_onto_an_existing_tree_matches_cp(void **state)
{
    char src[PATH_MAX], u[PATH_MAX], c[PATH_MAX], s2[PATH_MAX], u2[PATH_MAX], c2[PATH_MAX];
    make_src("src", FULL_TREE);
    path(src, "src");
    path(u, "onto-u");
    path(c, "onto-c");
    remove_tree(u);
    remove_tree(c);
    assert_int_equal(CPA("-a", src, u), 0);
    assert_int_equal(CPA("-a", src, c), 0);
    disturb(u);
    disturb(c);
    snprintf(s2, sizeof s2, "%s/.", src);
    snprintf(u2, sizeof u2, "%s/", u);
    snprintf(c2, sizeof c2, "%s/", c);
    int ru = UCP("-a", s2, u2);
    if (ru != 0) fail_msg("ucp exited %d:\n%s", ru, err);
    assert_int_equal(CPA("-a", s2, c2), 0);
    assert_int_equal(compare_trees(c, u, CMP_ALL & ~CMP_ATIME), 0);
    /* And once more with nothing to change. */
    assert_int_equal(UCP("-a", s2, u2), 0);
    assert_int_equal(CPA("-a", s2, c2), 0);
    assert_int_equal(compare_trees(c, u, CMP_ALL & ~CMP_ATIME), 0);
    remove_tree(u);
    remove_tree(c);
}

/* cp stops at PATH_MAX ("File name too long"); ucp works relative to open directories and
 * copies the tree whole, and an error down there still names the whole path. */
static void paths_longer_than_path_max_are_copied_and_named(void **state)
{
    char src[PATH_MAX], u[PATH_MAX];
    path(src, "long");
    path(u, "long-copy");
    remove_tree(src);
    remove_tree(u);
    assert_int_equal(mkdir(src, 0755), 0);
    int fd = open(src, O_RDONLY | O_DIRECTORY);
    char name[201];
    memset(name, 'p', 200);
    name[200] = 0;
    /* 30 levels of 200 characters: 6,000 bytes of path, past PATH_MAX (4,096). */
    for (int i = 0; i < 30; i++) {
        assert_int_equal(mkdirat(fd, name, 0755), 0);
        int next = openat(fd, name, O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = next;
    }
    int f = openat(fd, "leaf", O_CREAT | O_WRONLY, 0600);
    assert_int_equal(write(f, "deep", 4), 4);
    close(f);
    settle_atimes(src);
    int r = UCP("-a", src, u);
    if (r != 0) fail_msg("ucp exited %d:\n%s", r, err);
    /* (cp could not settle the access times down there, so those are left out) */
    assert_int_equal(compare_trees(src, u, CMP_ALL & ~CMP_ATIME), 0);
    /* Unreadable for nobody: the message has the full path. */
    remove_tree(u);
    char where[PATH_MAX];
    scratch_for_all(where, "long-nobody");
    snprintf(u, sizeof u, "%s/u", where);
    assert_int_equal(ucp_as(NOBODY, "-r", src, u, (const char *)NULL), 1);
    check_err_has("/leaf': Permission denied");
    const char *q = strstr(err, "'");
    assert_true(q && strstr(q, "/leaf'") - q > PATH_MAX);
    close(fd);
    remove_tree(where);
    remove_tree(src);
}

/* ---- refusals and errors ---------------------------------------------------------------- */

static void missing_source_is_named_and_fails(void **state)
{
    char src[PATH_MAX], dst[PATH_MAX];
    path(src, "no-such-source");
    path(dst, "dst-missing");
    assert_int_equal(UCP("-a", src, dst), 1);
    check_err_has("no-such-source");
    check_err_has("No such file or directory");
    assert_int_equal(CPA("-a", src, dst), 1);
    assert_int_equal(access(dst, F_OK), -1);
}

/* An operand the copy refuses before it starts printed nothing (and ucp read stats that were
 * never written): every such failure says "ucp: <operation> '<path>': <reason>". */
static void early_failures_are_named_and_fail(void **state)
{
    char f[PATH_MAX], missing[PATH_MAX], nodir[PATH_MAX], want[PATH_MAX + 64];
    path(f, "early-src");
    path(missing, "early-missing");
    path(nodir, "early-no-dir/x");
    FILE *fp = fopen(f, "w");
    fputs("x", fp);
    fclose(fp);
    assert_int_equal(UCP("", f), 1);
    check_err_has("ucp: stat '': No such file or directory\n");
    assert_int_equal(UCP(f, ""), 1);
    check_err_has("ucp: create '': No such file or directory\n");
    assert_int_equal(UCP("-a", missing, nodir), 1);
    snprintf(want, sizeof want, "ucp: stat '%s': No such file or directory\n", missing);
    check_err_has(want);
    assert_int_equal(UCP("-a", f, nodir), 1);
    snprintf(want, sizeof want, "ucp: create '%s': No such file or directory\n", nodir);
    check_err_has(want);
    /* Regression: a file onto "name/" said "Is a directory" where there is none (cp: "Not a
     * directory"), missing or a file. */
    char slash[PATH_MAX];
    snprintf(slash, sizeof slash, "%s/", missing);
    assert_int_equal(UCP(f, slash), 1);
    snprintf(want, sizeof want, "ucp: create '%s': Not a directory\n", slash);
    check_err_has(want);
    snprintf(slash, sizeof slash, "%s/", f);
    assert_int_equal(UCP(f, slash), 1);
    snprintf(want, sizeof want, "ucp: create '%s': Not a directory\n", slash);
    check_err_has(want);
    assert_int_equal(CPA(f, slash), 1);
    /* Several sources, "" among them: the others are still copied. */
    char dir[PATH_MAX], copied[PATH_MAX];
    path(dir, "early-dir");
    mkdir(dir, 0755);
    assert_int_equal(UCP("", f, dir), 1);
    check_err_has("ucp: stat '': No such file or directory\n");
    snprintf(copied, sizeof copied, "%s/early-src", dir);
    assert_int_equal(access(copied, F_OK), 0);
}

static void directory_onto_a_file_is_refused(void **state)
{
    char d[PATH_MAX], f[PATH_MAX];
    path(d, "dir-src");
    path(f, "a-file");
    mkdir(d, 0755);
    FILE *fp = fopen(f, "w");
    fputs("keep me", fp);
    fclose(fp);
    assert_int_equal(UCP("-r", d, f), 1);
    check_err_has("cannot overwrite non-directory");
    check_err_has("a-file");
    assert_int_equal(CPA("-r", d, f), 1);
    struct stat st;
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_size, 7); /* untouched */
    /* Without -r a directory is omitted, as cp does. */
    assert_int_equal(UCP(d, f), 1);
    check_err_has("omitting directory");
    /* Several sources need a directory; the message says why this one is not (as cp). */
    char want[PATH_MAX + 64], missing[PATH_MAX];
    assert_int_equal(UCP(f, f, d, f), 1);
    snprintf(want, sizeof want, "ucp: target '%s': Not a directory\n", f);
    check_err_has(want);
    path(missing, "no-such-target");
    assert_int_equal(UCP(f, d, missing), 1);
    snprintf(want, sizeof want, "ucp: target '%s': No such file or directory\n", missing);
    check_err_has(want);
    assert_int_equal(CPA(f, d, missing), 1);
}

/* Regression: a directory copied onto a symlink to a directory (as the copy itself, or inside
 * the tree) was merged into the symlink's target, exit 0; cp refuses: "cannot overwrite
 * non-directory ... with directory ...", and writes nothing there. */
static void directory_onto_a_symlink_to_a_directory_is_refused_like_cp(void **state)
{
    char src[PATH_MAX], p[PATH_MAX], want[PATH_MAX * 2 + 64];
    path(src, "dsym-src");
    remove_tree(src);
    snprintf(p, sizeof p, "%s/sub", src);
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/sub/f", src);
    write_file(p, "f", 1000000000);
    for (int k = 0; k < 2; k++) {
        char where[PATH_MAX], aside[PATH_MAX], link[PATH_MAX], s2[PATH_MAX], w2[PATH_MAX];
        path(where, k ? "dsym-c" : "dsym-u");
        remove_tree(where);
        snprintf(aside, sizeof aside, "%s/aside", where);
        assert_int_equal(mkdir(where, 0755), 0);
        assert_int_equal(mkdir(aside, 0755), 0);
        /* where/dsym-src -> aside: the copy itself (ucp -r src where). */
        snprintf(link, sizeof link, "%s/dsym-src", where);
        assert_int_equal(symlink("aside", link), 0);
        int r = k ? CPA("-r", src, where) : UCP("-r", src, where);
        assert_int_equal(r, 1);
        if (!k) {
            snprintf(want, sizeof want, "cannot overwrite non-directory '%s' with directory '%s'",
                     link, src);
            check_err_has(want);
        }
        /* where/in/sub -> ../aside: inside the tree (-a: src/. onto where/in/). */
        snprintf(p, sizeof p, "%s/in", where);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(link, sizeof link, "%s/in/sub", where);
        assert_int_equal(symlink("../aside", link), 0);
        snprintf(s2, sizeof s2, "%s/.", src);
        snprintf(w2, sizeof w2, "%s/in/", where);
        r = k ? CPA("-a", s2, w2) : UCP("-a", s2, w2);
        assert_int_equal(r, 1);
        if (!k) {
            snprintf(want, sizeof want, "cannot overwrite non-directory '%s./sub' with directory",
                     w2);
            check_err_has(want);
        }
        /* Nothing went through either link. */
        snprintf(p, sizeof p, "%s/f", aside);
        assert_int_equal(access(p, F_OK), -1);
    }
    char u[PATH_MAX], c[PATH_MAX];
    path(u, "dsym-u");
    path(c, "dsym-c");
    assert_int_equal(compare_trees(c, u, CMP_MODE | CMP_OWNER), 0);
    remove_tree(u);
    remove_tree(c);
    remove_tree(src);
}

/* Regression: `ucp -r a/b/.. dir` copied a into dir/.. (beside dir, outside the destination);
 * cp copies it into dir itself (dir/.). */
static void a_source_ending_in_dotdot_is_copied_into_the_directory_like_cp(void **state)
{
    char where[PATH_MAX], p[PATH_MAX];
    for (int k = 0; k < 2; k++) {
        enter_fresh(where, "dotdot", k);
        assert_int_equal(mkdir("in", 0755), 0);
        assert_int_equal(mkdir("a", 0755), 0);
        assert_int_equal(mkdir("a/b", 0755), 0);
        write_file("a/x", "x", 1000000000);
        int r = k ? CPA("-r", "a/b/..", "in") : UCP("-r", "a/b/..", "in");
        assert_int_equal(r, 0);
        assert_int_equal(access("in/x", F_OK), 0);
        assert_int_equal(access("in/b", F_OK), 0);
        assert_int_equal(access("x", F_OK), -1);
        assert_int_equal(access("b", F_OK), -1);
        assert_int_equal(chdir("/"), 0);
    }
    path(where, "dotdot-u");
    path(p, "dotdot-c");
    assert_int_equal(compare_trees(p, where, CMP_MODE | CMP_OWNER), 0);
    remove_tree(where);
    remove_tree(p);
}

static void directory_into_itself_is_refused_and_creates_nothing(void **state)
{
    char d[PATH_MAX], inside[PATH_MAX];
    path(d, "self");
    path(inside, "self/sub/copy");
    mkdir(d, 0755);
    char sub[PATH_MAX];
    path(sub, "self/sub");
    mkdir(sub, 0755);
    assert_int_equal(UCP("-a", d, inside), 1);
    check_err_has("into itself");
    assert_int_equal(access(inside, F_OK), -1);
    assert_int_equal(CPA("-a", d, inside), 1);
    /* Into its own directory: the target is self/self. */
    assert_int_equal(UCP("-a", d, d), 1);
    check_err_has("into itself");
    assert_int_equal(CPA("-a", d, d), 1);
}

static void same_file_is_refused_and_left_intact(void **state)
{
    char f[PATH_MAX], hl[PATH_MAX], d[PATH_MAX];
    path(f, "same");
    path(hl, "same-hardlink");
    FILE *fp = fopen(f, "w");
    fputs("content", fp);
    fclose(fp);
    unlink(hl);
    assert_int_equal(link(f, hl), 0);
    assert_int_equal(UCP(f, f), 1);
    check_err_has("are the same file");
    assert_int_equal(UCP("-a", f, hl), 1);
    check_err_has("are the same file");
    assert_int_equal(CPA("-a", f, hl), 1);
    struct stat st;
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_size, 7);
    /* A directory onto itself through its parent ("cp -r d ." from inside its parent). */
    path(d, "samedir");
    mkdir(d, 0755);
    assert_int_equal(UCP("-r", d, base), 1);
    check_err_has("are the same file");
    assert_int_equal(CPA("-r", d, base), 1);
}

/* Regression: `ucp -a lf f` (lf -> f) replaced f by a symlink to itself, exit 0 (cp -a: "'lf'
 * and 'f' are the same file"); ucp -n refused the source itself where cp -n skips it, exit 0;
 * two hard links of one symlink were "the same file" where cp has nothing to do; -u and -n
 * refused a directory destination that cp skips (it is as new / exists). Each command runs with
 * ucp and cp on twin setups: the same exit status and the same result. */
static void same_file_no_clobber_and_update_decide_in_cps_order(void **state)
{
    static const struct {
        const char *opt, *src, *dst;
        int status;
    } cases[] = {
        {"-a", "lf", "f", 1},       {"-d", "lf", "f", 1},       {"-r", "lf", "f", 1},
        {"-a", "fifo", "lfifo", 1}, {"-a", "lf", "./lf", 1},    {"-a", "lf", "lf2", 0},
        {"-n", "f", "f", 0},        {"-n", "f", "h", 0},        {"-an", "lf", "f", 0},
        {"-n", "f", "d", 0},        {"-ua", "ld", "dir/ld", 0},
    };
    char where[PATH_MAX], p[PATH_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int k = 0; k < 2; k++) {
            enter_fresh(where, "samefile", k);
            write_file("f", "content", 1000000000);
            assert_int_equal(link("f", "h"), 0);
            assert_int_equal(symlink("f", "lf"), 0);
            assert_int_equal(link("lf", "lf2"), 0);
            assert_int_equal(mkfifo("fifo", 0644), 0);
            assert_int_equal(symlink("fifo", "lfifo"), 0);
            assert_int_equal(mkdir("d", 0755), 0);
            assert_int_equal(mkdir("d/f", 0755), 0);
            assert_int_equal(symlink("d", "ld"), 0);
            assert_int_equal(mkdir("dir", 0755), 0);
            assert_int_equal(mkdir("dir/ld", 0755), 0);
            struct timespec ts[2] = {{2000000000, 0}, {2000000000, 0}};
            assert_int_equal(utimensat(AT_FDCWD, "dir/ld", ts, 0), 0);
            assert_int_equal(utimensat(AT_FDCWD, "ld", ts, AT_SYMLINK_NOFOLLOW), 0);
            const char *o = cases[i].opt, *sp = cases[i].src, *dp = cases[i].dst;
            int r = k ? CPA(o, sp, dp) : UCP(o, sp, dp);
            if (r != cases[i].status)
                fail_msg("%s %s %s %s: exit %d, want %d\n%s", k ? "cp" : "ucp", o, sp, dp, r,
                         cases[i].status, k ? "" : err);
            if (!k && r) check_err_has("are the same file");
            assert_int_equal(chdir("/"), 0);
        }
        char u[PATH_MAX], c[PATH_MAX];
        path(u, "samefile-u");
        path(c, "samefile-c");
        assert_int_equal(compare_trees(c, u, CMP_MODE | CMP_OWNER | CMP_LINKS), 0);
        snprintf(p, sizeof p, "%s/f", u);
        struct stat st;
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
    }
    remove_tree(where);
    path(where, "samefile-u");
    remove_tree(where);
}

/* Regression: several sources with one last name copied into a directory. ucp copied a source
 * given twice twice, silently, and let a later source overwrite what an earlier one had just
 * written, exit 0; cp copies it once with a warning, and refuses the overwrite ("will not
 * overwrite just-created"), exit 1, keeping the first. Each command runs with ucp and with cp on
 * twin setups: the same exit status, the same words, the same result. */
static void several_sources_with_one_name_are_copied_once_and_kept_like_cp(void **state)
{
    static const struct {
        const char *args[4];
        int status;
        const char *says;
    } cases[] = {
        {{"f", "f", "to"}, 0, "ucp: warning: source file 'f' specified more than once\n"},
        {{"-r", "d", "./d", "to"},
         0,
         "ucp: warning: source directory './d' specified more than once\n"},
        {{"f", "o/f", "to"}, 1, "ucp: will not overwrite just-created 'to/f' with 'o/f'\n"},
        {{"-a", "lf", "o/lf", "to"},
         1,
         "ucp: will not overwrite just-created 'to/lf' with 'o/lf'\n"},
        {{"-u", "f", "o/f", "to"}, 0, NULL}, /* the copy of f is newer than o/f: skipped */
        {{"-n", "f", "o/f", "to"}, 0, NULL}, /* -n: skipped */
        {{"-r", "d", "o/d", "to"}, 0, NULL}, /* directories merge; inside, the later one wins */
    };
    char where[PATH_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int k = 0; k < 2; k++) {
            enter_fresh(where, "onename", k);
            assert_int_equal(mkdir("to", 0755), 0);
            assert_int_equal(mkdir("o", 0755), 0);
            assert_int_equal(mkdir("d", 0755), 0);
            assert_int_equal(mkdir("o/d", 0755), 0);
            write_file("f", "first", 1500000000);
            write_file("o/f", "second", 1400000000);
            write_file("d/x", "first x", 1500000000);
            write_file("o/d/x", "second x", 1500000000);
            assert_int_equal(symlink("f", "lf"), 0);
            assert_int_equal(symlink("elsewhere", "o/lf"), 0);
            const char *const *a = cases[i].args;
            int r = k ? CPA(a[0], a[1], a[2], a[3]) : UCP(a[0], a[1], a[2], a[3]);
            if (r != cases[i].status)
                fail_msg("%s %s %s %s: exit %d, want %d\n%s", k ? "cp" : "ucp", a[0], a[1], a[2], r,
                         cases[i].status, k ? "" : err);
            if (!k && cases[i].says) check_err_has(cases[i].says);
            if (!k && !cases[i].says && err[0]) fail_msg("ucp said:\n%s", err);
            assert_int_equal(chdir("/"), 0);
        }
        char u[PATH_MAX], c[PATH_MAX];
        path(u, "onename-u");
        path(c, "onename-c");
        assert_int_equal(compare_trees(c, u, CMP_MODE | CMP_OWNER | CMP_LINKS), 0);
    }
    remove_tree(where);
    path(where, "onename-u");
    remove_tree(where);
}

/* Regression: `ucp -a a b f g dir` made separate files of names that a, b, f and g share as hard
 * links (each source was a copy of its own); cp -a keeps them hard links in dir, across the
 * sources as inside each. */
static void hard_links_between_sources_are_kept_like_cp(void **state)
{
    char where[PATH_MAX];
    for (int k = 0; k < 2; k++) {
        enter_fresh(where, "xlinks", k);
        assert_int_equal(mkdir("to", 0755), 0);
        assert_int_equal(mkdir("a", 0755), 0);
        assert_int_equal(mkdir("b", 0755), 0);
        write_file("a/x", "x", 1000000000);
        write_file("a/y", "y", 1000000000);
        write_file("f", "f", 1000000000);
        assert_int_equal(link("a/x", "b/x2"), 0);
        assert_int_equal(link("a/y", "a/y2"), 0);
        assert_int_equal(link("a/y", "b/y3"), 0);
        assert_int_equal(link("f", "g"), 0);
        assert_int_equal(link("f", "b/f2"), 0);
        int r = k ? CPA("-a", "a", "f", "b", "g", "to") : UCP("-a", "a", "f", "b", "g", "to");
        if (r != 0) fail_msg("%s exited %d:\n%s", k ? "cp" : "ucp", r, k ? "" : err);
        struct stat x, x2, f, g;
        assert_int_equal(lstat("to/a/x", &x), 0);
        assert_int_equal(lstat("to/b/x2", &x2), 0);
        assert_int_equal(lstat("to/f", &f), 0);
        assert_int_equal(lstat("to/g", &g), 0);
        assert_true(x.st_ino == x2.st_ino);
        assert_true(f.st_ino == g.st_ino);
        assert_int_equal(f.st_nlink, 3);
        assert_int_equal(chdir("/"), 0);
    }
    char u[PATH_MAX], c[PATH_MAX];
    path(u, "xlinks-u/to");
    path(c, "xlinks-c/to");
    assert_int_equal(compare_trees(c, u, CMP_ALL & ~(CMP_ATIME | CMP_MTIME)), 0);
    path(u, "xlinks-u");
    path(c, "xlinks-c");
    remove_tree(u);
    remove_tree(c);
}

static void full_disk_reports_enospc_and_leaves_no_incomplete_file(void **state)
{
    char mnt[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
    path(mnt, "small-tmpfs");
    mkdir(mnt, 0755);
    mount_tmpfs_or_skip(mnt, 3 << 20);
    path(src, "enospc-src");
    remove_tree(src);
    mkdir(src, 0755);
    int sfd = open(src, O_RDONLY | O_DIRECTORY);
    static char buf[1 << 20];
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        int fd = openat(sfd, name, O_CREAT | O_WRONLY, 0644);
        memset(buf, 'a' + i, sizeof buf);
        assert_int_equal(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
        close(fd);
    }
    close(sfd);
    snprintf(dst, sizeof dst, "%s/d", mnt);
    assert_int_equal(UCP("-a", src, dst), 1);
    check_err_has("No space left on device");
    check_err_has("removed");
    /* Whatever is there is complete: each file has the source's full content or is absent. */
    int kept = 0;
    for (int i = 0; i < 8; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/f%d", dst, i);
        struct stat st;
        if (stat(p, &st) < 0) continue;
        kept++;
        assert_int_equal(st.st_size, sizeof buf);
        FILE *fp = fopen(p, "r");
        assert_int_equal(fread(buf, 1, sizeof buf, fp), sizeof buf);
        fclose(fp);
        for (size_t k = 0; k < sizeof buf; k++)
            if (buf[k] != 'a' + i) fail_msg("'%s' is incomplete at %zu", p, k);
    }
    /* How many fit depends on how the concurrent allocations interleave: not all of them. */
    assert_true(kept < 8);
    umount2(mnt, MNT_DETACH);
    remove_tree(src);
}

/* Files and directories the (unprivileged) user cannot read, at several depths. */
static void unreadable_entries_are_reported_and_the_rest_copied(void **state)
{
    char src[PATH_MAX], u[PATH_MAX], c[PATH_MAX];
    path(src, "unreadable");
    path(u, "unreadable-u");
    path(c, "unreadable-c");
    remove_tree(src);
    remove_tree(u);
    remove_tree(c);
    char p[PATH_MAX];
    mkdir(src, 0755);
    snprintf(p, sizeof p, "%s/a", src);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/a/b", src);
    mkdir(p, 0755);
    const char *files[] = {
        "ok1", "secret", "a/ok2", "a/b/secret-deep", "a/b/ok3", "a/b/\xff\xfe-secret"};
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/%s", src, files[i]);
        FILE *fp = fopen(p, "w");
        fputs(files[i], fp);
        fclose(fp);
        chmod(p, strstr(files[i], "secret") ? 0600 : 0644);
    }
    snprintf(p, sizeof p, "%s/a/closed", src);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/a/closed/inside", src);
    fclose(fopen(p, "w"));
    chown(base, 0, 0);
    /* The destinations' parent must be writable by nobody. */
    char where[PATH_MAX];
    scratch_for_all(where, "nobody");
    snprintf(u, sizeof u, "%s/u", where);
    snprintf(c, sizeof c, "%s/c", where);
    assert_int_equal(ucp_as(NOBODY, "-r", src, u, (const char *)NULL), 1);
    check_err_has("secret': Permission denied");
    check_err_has("a/b/secret-deep': Permission denied");
    check_err_has("a/b/\xff\xfe-secret");
    check_err_has("a/closed': Permission denied");
    assert_int_equal(cp_as(NOBODY, "-r", src, c, (const char *)NULL), 1);
    assert_int_equal(compare_trees(c, u, CMP_MODE | CMP_OWNER), 0);
    snprintf(p, sizeof p, "%s/a/b/ok3", u);
    assert_int_equal(access(p, F_OK), 0);
    remove_tree(where);
    remove_tree(src);
}

/* Regression: copied with -p or -a by a user who cannot give the copy the source's owner, a
 * setuid file of root's became a setuid file of that user's (and a setgid directory stayed
 * setgid); cp drops the set-id bits when the owner is not preserved (and a file's sticky bit;
 * a directory keeps its). */
static void set_id_bits_are_dropped_when_the_owner_cannot_be_kept(void **state)
{
    char src[PATH_MAX], where[PATH_MAX], u[PATH_MAX], c[PATH_MAX], p[PATH_MAX];
    path(src, "setid-src");
    remove_tree(src);
    assert_int_equal(mkdir(src, 0755), 0);
    snprintf(p, sizeof p, "%s/suid", src);
    write_file(p, "#!/bin/sh\n", 1000000000);
    assert_int_equal(chmod(p, 04755), 0);
    snprintf(p, sizeof p, "%s/sgid-dir", src);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(chmod(p, 02755), 0);
    snprintf(p, sizeof p, "%s/sticky-dir", src);
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(chmod(p, 03777), 0);
    snprintf(p, sizeof p, "%s/sticky", src);
    write_file(p, "", 1000000000);
    assert_int_equal(chmod(p, 01755), 0);
    scratch_for_all(where, "setid");
    snprintf(u, sizeof u, "%s/u", where);
    snprintf(c, sizeof c, "%s/c", where);
    int r = ucp_as(NOBODY, "-a", src, u, (const char *)NULL);
    if (r != 0) fail_msg("ucp -a exited %d:\n%s", r, err);
    assert_int_equal(cp_as(NOBODY, "-a", src, c, (const char *)NULL), 0);
    assert_int_equal(compare_trees(c, u, CMP_MODE | CMP_OWNER | CMP_MTIME), 0);
    struct stat st;
    const char *names[] = {"suid", "sgid-dir", "sticky-dir", "sticky"};
    const mode_t want[] = {0755, 0755, 01777, 0755};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", u, names[i]);
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_uid, NOBODY);
        assert_int_equal(st.st_mode & 07777, want[i]);
    }
    /* -p of the file alone. */
    snprintf(p, sizeof p, "%s/suid", src);
    snprintf(u, sizeof u, "%s/suid-u", where);
    snprintf(c, sizeof c, "%s/suid-c", where);
    assert_int_equal(ucp_as(NOBODY, "-p", p, u, (const char *)NULL), 0);
    assert_int_equal(cp_as(NOBODY, "-p", p, c, (const char *)NULL), 0);
    assert_int_equal(lstat(u, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(compare_trees(c, u, CMP_MODE | CMP_OWNER | CMP_MTIME), 0);
    remove_tree(where);
    remove_tree(src);
}

static void permission_denied_deep_in_the_destination_spares_the_rest(void **state)
{
    char src[PATH_MAX], where[PATH_MAX], u[PATH_MAX], c[PATH_MAX], p[PATH_MAX];
    path(src, "deny-src");
    remove_tree(src);
    scratch_for_all(where, "deny");
    snprintf(p, sizeof p, "%s/x/y/z", src);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
    assert_int_equal(system(cmd), 0);
    const char *files[] = {"top", "x/in-x", "x/y/in-y", "x/y/z/in-z"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", src, files[i]);
        fclose(fopen(p, "w"));
    }
    /* Each destination has x/y already, owned by root and not writable by nobody. */
    for (int k = 0; k < 2; k++) {
        char *d = k ? c : u;
        snprintf(d, PATH_MAX, "%s/%s", where, k ? "c" : "u");
        snprintf(p, sizeof p, "%s/x/y", d);
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && chmod 0777 '%s' '%s/x' && chmod 0555 '%s'", p,
                 d, d, p);
        assert_int_equal(system(cmd), 0);
    }
    char s2[PATH_MAX], u2[PATH_MAX], c2[PATH_MAX];
    snprintf(s2, sizeof s2, "%s/.", src);
    snprintf(u2, sizeof u2, "%s/", u);
    snprintf(c2, sizeof c2, "%s/", c);
    assert_int_equal(ucp_as(NOBODY, "-r", s2, u2, (const char *)NULL), 1);
    check_err_has("x/y/in-y': Permission denied");
    check_err_has("x/y/z': Permission denied");
    assert_int_equal(cp_as(NOBODY, "-r", s2, c2, (const char *)NULL), 1);
    assert_int_equal(compare_trees(c, u, CMP_MODE | CMP_OWNER), 0);
    snprintf(p, sizeof p, "%s/x/in-x", u);
    assert_int_equal(access(p, F_OK), 0);
    remove_tree(where);
    remove_tree(src);
}

/* ---- options ---------------------------------------------------------------------------- */

static void read_file(const char *p, char *buf, size_t len)
{
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

/* Regression: `ucp -n secret existing` (or -u onto a newer file) failed with "open 'secret':
 * Permission denied", exit 1: the source was opened before the destination was looked at; cp
 * skips it without opening it, exit 0. Onto a directory the refusal comes first, as with cp. */
static void an_unreadable_source_that_is_skipped_is_no_error_like_cp(void **state)
{
    char where[PATH_MAX], s[PATH_MAX], d[PATH_MAX], dir[PATH_MAX], p[PATH_MAX], buf[32];
    scratch_for_all(where, "skip-unreadable");
    snprintf(s, sizeof s, "%s/secret", where);
    snprintf(d, sizeof d, "%s/existing", where);
    snprintf(dir, sizeof dir, "%s/dir", where);
    write_file(s, "secret", 1000000000);
    chmod(s, 0600);
    write_file(d, "kept", 2000000000);
    chmod(d, 0666);
    snprintf(p, sizeof p, "%s/secret", dir);
    assert_int_equal(mkdir(dir, 0777), 0);
    assert_int_equal(mkdir(p, 0777), 0);
    const char *opts[] = {"-n", "-u"};
    for (int i = 0; i < 2; i++) {
        int r = ucp_as(NOBODY, opts[i], s, d, (const char *)NULL);
        if (r != 0) fail_msg("ucp %s exited %d:\n%s", opts[i], r, err);
        assert_int_equal(cp_as(NOBODY, opts[i], s, d, (const char *)NULL), 0);
        read_file(d, buf, sizeof buf);
        assert_string_equal(buf, "kept");
    }
    /* Not skipped: the source cannot be read, said as before. */
    assert_int_equal(ucp_as(NOBODY, s, d, (const char *)NULL), 1);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "ucp: open '%s': Permission denied\n", s);
    check_err_has(want);
    /* A directory there is refused before the source is opened. */
    assert_int_equal(ucp_as(NOBODY, s, dir, (const char *)NULL), 1);
    check_err_has("cannot overwrite directory");
    assert_int_equal(cp_as(NOBODY, s, dir, (const char *)NULL), 1);
    remove_tree(where);
}

static void no_clobber_update_force_and_verbose_behave_like_cp(void **state)
{
    char s[PATH_MAX], d[PATH_MAX], buf[64];
    path(s, "opt-src");
    path(d, "opt-dst");
    write_file(s, "new", 2000000000);
    write_file(d, "old", 1000000000);
    assert_int_equal(UCP("-n", s, d), 0);
    read_file(d, buf, sizeof buf);
    assert_string_equal(buf, "old");
    write_file(d, "newer", 2100000000);
    assert_int_equal(UCP("-u", s, d), 0);
    read_file(d, buf, sizeof buf);
    assert_string_equal(buf, "newer");
    write_file(d, "older", 1000000000);
    assert_int_equal(UCP("-u", s, d), 0);
    read_file(d, buf, sizeof buf);
    assert_string_equal(buf, "new");
    /* -f: a destination that cannot be opened (a non-writable file, for nobody) is replaced. */
    char where[PATH_MAX], s2[PATH_MAX], d2[PATH_MAX];
    scratch_for_all(where, "force");
    snprintf(s2, sizeof s2, "%s/s", where);
    snprintf(d2, sizeof d2, "%s/d", where);
    write_file(s2, "fresh", 2000000000);
    write_file(d2, "stale", 1000000000);
    chmod(s2, 0644);
    chmod(d2, 0444);
    chown(d2, NOBODY, NOBODY);
    assert_int_equal(ucp_as(NOBODY, s2, d2, (const char *)NULL), 1);
    check_err_has("Permission denied");
    assert_int_equal(ucp_as(NOBODY, "-f", s2, d2, (const char *)NULL), 0);
    read_file(d2, buf, sizeof buf);
    assert_string_equal(buf, "fresh");
    /* -v says what it copies, in cp's words. */
    char vd[PATH_MAX], line[PATH_MAX * 2];
    path(vd, "verbose-dst");
    unlink(vd);
    assert_int_equal(UCP("-v", s, vd), 0);
    snprintf(line, sizeof line, "'%s' -> '%s'\n", s, vd);
    assert_string_equal(out, line);
    /* Regression: -v named a directory that was only merged into (cp -v names what it makes). */
    char vs[PATH_MAX], vf[PATH_MAX];
    path(vs, "verbose-src");
    remove_tree(vs);
    remove_tree(vd);
    assert_int_equal(mkdir(vs, 0755), 0);
    assert_int_equal(mkdir(vd, 0755), 0);
    snprintf(vf, sizeof vf, "%s/f", vs);
    write_file(vf, "f", 1000000000);
    snprintf(line, sizeof line, "%s/.", vs);
    assert_int_equal(UCP("-rv", line, vd), 0);
    snprintf(line, sizeof line, "'%s/./f' -> '%s/./f'\n", vs, vd);
    assert_string_equal(out, line);
    remove_tree(vs);
    remove_tree(vd);
    remove_tree(where);
}

/* Regression: without -r, ucp recreated a FIFO, a device node or a socket given as the source
 * (`ucp /dev/null f` made a character device, `ucp <(cmd) f` a FIFO), where cp reads what it
 * gives into a regular file, and cannot open a socket. */
static void special_files_without_r_are_read_into_regular_files_like_cp(void **state)
{
    char fifo[PATH_MAX], sock[PATH_MAX], u[PATH_MAX], c[PATH_MAX], want[PATH_MAX + 64];
    path(u, "special-u");
    path(c, "special-c");
    unlink(u);
    unlink(c);
    assert_int_equal(UCP("/dev/null", u), 0);
    assert_int_equal(CPA("/dev/null", c), 0);
    struct stat st;
    assert_int_equal(lstat(u, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 0);
    assert_int_equal(compare_trees(c, u, CMP_MODE | CMP_OWNER), 0);
    unlink(u);
    /* A FIFO: what its writer writes (more than one read's worth) becomes the file. */
    path(fifo, "special-fifo");
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    static char buf[300000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)('a' + i % 26);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(fifo, O_WRONLY);
        size_t done = 0;
        while (fd >= 0 && done < sizeof buf) {
            ssize_t n = write(fd, buf + done, sizeof buf - done);
            if (n <= 0) _exit(1);
            done += (size_t)n;
        }
        _exit(fd < 0);
    }
    int ru = UCP(fifo, u);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    if (ru != 0) fail_msg("ucp fifo exited %d:\n%s", ru, err);
    assert_int_equal(lstat(u, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, sizeof buf);
    static char got[sizeof buf + 1];
    FILE *fp = fopen(u, "r");
    assert_int_equal(fread(got, 1, sizeof got, fp), sizeof buf);
    fclose(fp);
    assert_memory_equal(got, buf, sizeof buf);
    unlink(u);
    /* -r keeps copying a FIFO as a FIFO. */
    assert_int_equal(UCP("-r", fifo, u), 0);
    assert_int_equal(lstat(u, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    unlink(u);
    /* A socket cannot be opened: named, the reason given, nothing made, as cp. */
    path(sock, "special-sock");
    unlink(sock);
    int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(sfd);
    assert_int_equal(UCP(sock, u), 1);
    snprintf(want, sizeof want, "'%s': No such device or address", sock);
    check_err_has(want);
    assert_int_equal(access(u, F_OK), -1);
    assert_int_equal(CPA(sock, c), 1);
    unlink(c);
    unlink(fifo);
    unlink(sock);
}

static void one_file_system_stops_at_mount_points_like_cp(void **state)
{
    char src[PATH_MAX], mnt[PATH_MAX], p[PATH_MAX];
    path(src, "xdev");
    remove_tree(src);
    mkdir(src, 0755);
    snprintf(mnt, sizeof mnt, "%s/mounted", src);
    mkdir(mnt, 0755);
    snprintf(p, sizeof p, "%s/here", src);
    fclose(fopen(p, "w"));
    mount_tmpfs_or_skip(mnt, 1 << 20);
    snprintf(p, sizeof p, "%s/on-other-fs", mnt);
    fclose(fopen(p, "w"));
    char where[PATH_MAX];
    path(where, "xdev-out");
    mkdir(where, 0755);
    same_as_cp(src, where, "-ax", CMP_ALL & ~CMP_ATIME);
    snprintf(p, sizeof p, "%s/u/mounted/on-other-fs", where);
    assert_int_equal(access(p, F_OK), -1);
    umount2(mnt, MNT_DETACH);
    remove_tree(where);
    remove_tree(src);
}

static void help_version_and_bad_options(void **state)
{
    assert_int_equal(UCP("--help"), 0);
    if (!strstr(out, "Usage: ucp")) fail_msg("--help: %s", out);
    assert_int_equal(UCP("--version"), 0);
    if (!strstr(out, "ucp (uco) ")) fail_msg("--version: %s", out);
    assert_int_equal(UCP("--no-such-option", "a", "b"), 1);
    assert_int_equal(UCP("--jobs=0", "a", "b"), 1);
    check_err_has("--jobs");
    assert_int_equal(UCP("--chunk-size=3M", "a", "b"), 1);
    assert_int_equal(UCP("only-one"), 1);
    check_err_has("missing destination");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(archive_copy_matches_cp_on_ext4),
        cmocka_unit_test(archive_copy_matches_cp_on_tmpfs),
        cmocka_unit_test(recursive_and_preserve_copies_match_cp),
        cmocka_unit_test(direct_io_copy_matches_cp),
        cmocka_unit_test(copying_onto_an_existing_tree_matches_cp),
        cmocka_unit_test(paths_longer_than_path_max_are_copied_and_named),
        cmocka_unit_test(missing_source_is_named_and_fails),
        cmocka_unit_test(early_failures_are_named_and_fail),
        cmocka_unit_test(directory_onto_a_file_is_refused),
        cmocka_unit_test(directory_onto_a_symlink_to_a_directory_is_refused_like_cp),
        cmocka_unit_test(a_source_ending_in_dotdot_is_copied_into_the_directory_like_cp),
        cmocka_unit_test(directory_into_itself_is_refused_and_creates_nothing),
        cmocka_unit_test(same_file_is_refused_and_left_intact),
        cmocka_unit_test(same_file_no_clobber_and_update_decide_in_cps_order),
        cmocka_unit_test(several_sources_with_one_name_are_copied_once_and_kept_like_cp),
        cmocka_unit_test(hard_links_between_sources_are_kept_like_cp),
        cmocka_unit_test(full_disk_reports_enospc_and_leaves_no_incomplete_file),
        cmocka_unit_test(unreadable_entries_are_reported_and_the_rest_copied),
        cmocka_unit_test(set_id_bits_are_dropped_when_the_owner_cannot_be_kept),
        cmocka_unit_test(an_unreadable_source_that_is_skipped_is_no_error_like_cp),
        cmocka_unit_test(permission_denied_deep_in_the_destination_spares_the_rest),
        cmocka_unit_test(no_clobber_update_force_and_verbose_behave_like_cp),
        cmocka_unit_test(special_files_without_r_are_read_into_regular_files_like_cp),
        cmocka_unit_test(one_file_system_stops_at_mount_points_like_cp),
        cmocka_unit_test(help_version_and_bad_options),
        cmocka_unit_test(compare_trees_checks_an_atime_before_reading_the_inode),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
