/* File-system awaitables: open, statx, space, attributes, names, splice, xattrs, the directory
 * iterator and the whole-file helpers, on real files in a temporary directory. */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static char tmp[256];
static int tmpfd = -1;

static int setup(void **state)
{
    snprintf(tmp, sizeof tmp, "/tmp/uco-test-fs-XXXXXX");
    if (!mkdtemp(tmp)) return -1;
    tmpfd = open(tmp, O_RDONLY | O_DIRECTORY);
    return tmpfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[300];
    close(tmpfd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static intptr_t open_write_read_statx_body(void *arg)
{
    int fd = uco_openat(tmpfd, "a.txt", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    T_CHECK(fd >= 0);
    T_CHECK_EQ(uco_write(fd, "hello world", 11, 0), 11);
    char buf[32] = {0};
    T_CHECK_EQ(uco_read(fd, buf, sizeof buf, 6), 5);
    T_CHECK(memcmp(buf, "world", 5) == 0);
    struct statx stx;
    T_CHECK_EQ(uco_statx(tmpfd, "a.txt", 0, STATX_BASIC_STATS, &stx), 0);
    T_CHECK_EQ(stx.stx_size, 11);
    T_CHECK_EQ(stx.stx_mode & 07777, 0640 & ~umask(umask(0)));
    T_CHECK_EQ(uco_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx), 0);
    T_CHECK_EQ(stx.stx_size, 11);
    T_CHECK_EQ(uco_close(fd), 0);
    T_CHECK_EQ(uco_openat(tmpfd, "missing", O_RDONLY, 0), -ENOENT);
    T_CHECK_EQ(uco_statx(tmpfd, "missing", 0, STATX_BASIC_STATS, &stx), -ENOENT);
    T_CHECK_EQ(uco_openat(tmpfd, NULL, O_RDONLY, 0), -EFAULT);
    return 0;
}

static void open_write_read_statx_round_trip(void **state)
{
    t_run(open_write_read_statx_body, NULL, NULL);
}

static intptr_t openat2_body(void *arg)
{
    T_CHECK_EQ(symlinkat("a.txt", tmpfd, "via-link"), 0);
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS};
    T_CHECK_EQ(uco_openat2(tmpfd, "via-link", &how, sizeof how), -ELOOP);
    how.resolve = 0;
    int fd = uco_openat2(tmpfd, "via-link", &how, sizeof how);
    T_CHECK(fd >= 0);
    T_CHECK_EQ(uco_close(fd), 0);
    T_CHECK_EQ(uco_openat2(tmpfd, "via-link", &how, 8), -EINVAL); /* smaller than the ABI */
    return 0;
}

static void openat2_applies_resolve_flags(void **state)
{
    int fd = openat(tmpfd, "a.txt", O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    t_run(openat2_body, NULL, NULL);
}

static intptr_t space_body(void *arg)
{
    int fd = uco_openat(tmpfd, "space", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    T_CHECK(fd >= 0);
    T_CHECK_EQ(uco_fallocate(fd, 0, 0, 1 << 20), 0);
    struct statx stx;
    T_CHECK_EQ(uco_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE | STATX_BLOCKS, &stx), 0);
    T_CHECK_EQ(stx.stx_size, 1 << 20);
    T_CHECK(stx.stx_blocks * 512 >= (1 << 20));
    T_CHECK_EQ(uco_ftruncate(fd, 4096), 0);
    T_CHECK_EQ(uco_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx), 0);
    T_CHECK_EQ(stx.stx_size, 4096);
    T_CHECK_EQ(uco_ftruncate(fd, (int64_t)5 << 32), 0); /* 20 GiB, sparse */
    T_CHECK_EQ(uco_statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx), 0);
    T_CHECK_EQ(stx.stx_size, (int64_t)5 << 32);
    T_CHECK_EQ(uco_ftruncate(fd, -1), -EINVAL);
    T_CHECK_EQ(uco_fadvise(fd, 0, 4096, POSIX_FADV_WILLNEED), 0);
    T_CHECK_EQ(uco_fadvise(fd, 0, (int64_t)8 << 30, POSIX_FADV_DONTNEED), 0); /* pool path */
    T_CHECK_EQ(uco_sync_file_range(fd, 0, 4096, SYNC_FILE_RANGE_WRITE), 0);
    T_CHECK_EQ(uco_fsync(fd, UCO_FSYNC_DATASYNC), 0);
    T_CHECK_EQ(uco_close(fd), 0);
    T_CHECK_EQ(uco_ftruncate(fd, 0), -EBADF);
    return 0;
}

static void fallocate_ftruncate_fadvise_change_the_file(void **state)
{
    t_run(space_body, NULL, NULL);
}

static intptr_t attrs_body(void *arg)
{
    int fd = uco_openat(tmpfd, "attrs", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    T_CHECK(fd >= 0);
    struct timespec ts[2] = {{1000000000, 123456789}, {1200000000, 987654321}};
    T_CHECK_EQ(uco_futimens(fd, ts), 0);
    T_CHECK_EQ(uco_fchmod(fd, 04751), 0);
    T_CHECK_EQ(uco_fchown(fd, 1234, 5678), 0);
    struct statx stx;
    T_CHECK_EQ(uco_statx(tmpfd, "attrs", 0, STATX_BASIC_STATS, &stx), 0);
    T_CHECK_EQ(stx.stx_mtime.tv_sec, 1200000000);
    T_CHECK_EQ(stx.stx_mtime.tv_nsec, 987654321);
    T_CHECK_EQ(stx.stx_atime.tv_nsec, 123456789);
    T_CHECK_EQ(stx.stx_uid, 1234);
    T_CHECK_EQ(stx.stx_gid, 5678);
    T_CHECK_EQ(uco_fchmodat(tmpfd, "attrs", 0640, 0), 0);
    T_CHECK_EQ(uco_fchownat(tmpfd, "attrs", 0, 0, AT_SYMLINK_NOFOLLOW), 0);
    ts[1].tv_nsec = 5;
    T_CHECK_EQ(uco_utimensat(tmpfd, "attrs", ts, 0), 0);
    T_CHECK_EQ(uco_statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx), 0);
    T_CHECK_EQ(stx.stx_mode & 07777, 0640);
    T_CHECK_EQ(stx.stx_uid, 0);
    T_CHECK_EQ(stx.stx_mtime.tv_nsec, 5);
    /* A symlink's own times, not its target's. */
    T_CHECK_EQ(uco_symlinkat("attrs", tmpfd, "attrs-link"), 0);
    ts[1].tv_sec = 1300000000;
    T_CHECK_EQ(uco_utimensat(tmpfd, "attrs-link", ts, AT_SYMLINK_NOFOLLOW), 0);
    T_CHECK_EQ(uco_statx(tmpfd, "attrs-link", AT_SYMLINK_NOFOLLOW, STATX_MTIME, &stx), 0);
    T_CHECK_EQ(stx.stx_mtime.tv_sec, 1300000000);
    T_CHECK_EQ(uco_statx(tmpfd, "attrs", 0, STATX_MTIME, &stx), 0);
    T_CHECK_EQ(stx.stx_mtime.tv_sec, 1200000000);
    T_CHECK_EQ(uco_fchmodat(tmpfd, "missing", 0600, 0), -ENOENT);
    T_CHECK_EQ(uco_close(fd), 0);
    return 0;
}

static void attribute_setters_change_mode_owner_and_ns_times(void **state)
{
    if (geteuid() != 0) {
        printf("SKIP: chown to other users needs root\n");
        skip();
    }
    t_run(attrs_body, NULL, NULL);
}

static intptr_t names_body(void *arg)
{
    T_CHECK_EQ(uco_mkdirat(tmpfd, "d", 0750), 0);
    T_CHECK_EQ(uco_mkdirat(tmpfd, "d", 0750), -EEXIST);
    T_CHECK_EQ(uco_file_write(tmpfd, "d/f", "data", 4, 0, 0644), 0);
    T_CHECK_EQ(uco_linkat(tmpfd, "d/f", tmpfd, "d/f2", 0), 0);
    struct statx stx;
    T_CHECK_EQ(uco_statx(tmpfd, "d/f", 0, STATX_NLINK, &stx), 0);
    T_CHECK_EQ(stx.stx_nlink, 2);
    T_CHECK_EQ(uco_symlinkat("f", tmpfd, "d/l"), 0);
    char target[16];
    T_CHECK_EQ(uco_readlinkat(tmpfd, "d/l", target, sizeof target), 1);
    T_CHECK_EQ(target[0], 'f');
    T_CHECK_EQ(uco_readlinkat(tmpfd, "d/f", target, sizeof target), -EINVAL);
    T_CHECK_EQ(uco_renameat(tmpfd, "d/f2", tmpfd, "d/f", RENAME_NOREPLACE), -EEXIST);
    T_CHECK_EQ(uco_renameat(tmpfd, "d/f2", tmpfd, "d/g", 0), 0);
    T_CHECK_EQ(uco_renameat(tmpfd, "d/g", tmpfd, "d/l", RENAME_EXCHANGE), 0);
    T_CHECK_EQ(uco_statx(tmpfd, "d/g", AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx), 0);
    T_CHECK(S_ISLNK(stx.stx_mode));
    T_CHECK_EQ(uco_mknodat(tmpfd, "d/fifo", S_IFIFO | 0600, 0), 0);
    T_CHECK_EQ(uco_statx(tmpfd, "d/fifo", 0, STATX_TYPE, &stx), 0);
    T_CHECK(S_ISFIFO(stx.stx_mode));
    T_CHECK_EQ(uco_unlinkat(tmpfd, "d", 0), -EISDIR);
    T_CHECK_EQ(uco_unlinkat(tmpfd, "d", AT_REMOVEDIR), -ENOTEMPTY);
    const char *names[] = {"d/f", "d/g", "d/l", "d/fifo"};
    for (int i = 0; i < 4; i++)
        T_CHECK_EQ(uco_unlinkat(tmpfd, names[i], 0), 0);
    T_CHECK_EQ(uco_unlinkat(tmpfd, "d", AT_REMOVEDIR), 0);
    return 0;
}

static void name_operations_create_link_rename_and_remove(void **state)
{
    t_run(names_body, NULL, NULL);
}

static intptr_t splice_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    static char data[10000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7);
    T_CHECK_EQ(uco_file_write(tmpfd, "splice-in", data, sizeof data, 0, 0600), 0);
    int in = uco_openat(tmpfd, "splice-in", O_RDONLY | O_CLOEXEC, 0);
    int out = uco_openat(tmpfd, "splice-out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    T_CHECK(in >= 0 && out >= 0);
    int64_t off = 0;
    while (off < (int64_t)sizeof data) {
        ssize_t n = uco_splice(in, off, p[1], -1, sizeof data - (size_t)off, 0);
        T_CHECK(n > 0);
        ssize_t m = uco_splice(p[0], -1, out, off, (size_t)n, 0);
        T_CHECK_EQ(m, n);
        off += n;
    }
    void *back;
    size_t len;
    T_CHECK_EQ(uco_file_read(tmpfd, "splice-out", &back, &len, 0), 0);
    T_CHECK_EQ(len, sizeof data);
    T_CHECK(memcmp(back, data, len) == 0);
    free(back);
    uco_close(in);
    uco_close(out);
    close(p[0]);
    close(p[1]);
    T_CHECK_EQ(uco_splice(-1, 0, -1, 0, 1, 0), -EBADF);
    return 0;
}

static void splice_moves_a_file_through_a_pipe(void **state)
{
    t_run(splice_body, NULL, NULL);
}

static intptr_t xattr_body(void *arg)
{
    T_CHECK_EQ(uco_file_write(tmpfd, "x", "", 0, 0, 0600), 0);
    char path[300];
    snprintf(path, sizeof path, "%s/x", tmp);
    int r = uco_setxattr(path, "user.one", "1", 1, 0, 0);
    if (r == -ENOTSUP || r == -EOPNOTSUPP) return 77;
    T_CHECK_EQ(r, 0);
    int fd = uco_openat(tmpfd, "x", O_RDWR | O_CLOEXEC, 0);
    T_CHECK(fd >= 0);
    T_CHECK_EQ(uco_fsetxattr(fd, "user.two", "22", 2, XATTR_CREATE), 0);
    T_CHECK_EQ(uco_fsetxattr(fd, "user.two", "22", 2, XATTR_CREATE), -EEXIST);
    char v[8] = {0};
    T_CHECK_EQ(uco_fgetxattr(fd, "user.one", v, sizeof v), 1);
    T_CHECK_EQ(v[0], '1');
    T_CHECK_EQ(uco_getxattr(path, "user.two", NULL, 0, 0), 2); /* size query */
    T_CHECK_EQ(uco_getxattr(path, "user.two", v, sizeof v, AT_SYMLINK_NOFOLLOW), 2);
    T_CHECK(memcmp(v, "22", 2) == 0);
    T_CHECK_EQ(uco_fgetxattr(fd, "user.none", v, sizeof v), -ENODATA);
    char list[64];
    ssize_t n = uco_flistxattr(fd, list, sizeof list);
    T_CHECK_EQ(n, (ssize_t)sizeof "user.one" + (ssize_t)sizeof "user.two");
    T_CHECK_EQ(uco_listxattr(path, list, sizeof list, 0), n);
    T_CHECK_EQ(uco_setxattr(path, "user.three", "3", 1, 0, AT_SYMLINK_NOFOLLOW), 0);
    T_CHECK_EQ(uco_listxattr(path, NULL, 0, AT_SYMLINK_NOFOLLOW), n + (ssize_t)sizeof "user.three");
    T_CHECK_EQ(uco_getxattr(path, "user.one", v, sizeof v, 42), -EINVAL);
    uco_close(fd);
    return 0;
}

static void xattrs_set_get_and_list_by_descriptor_and_path(void **state)
{
    if (t_run(xattr_body, NULL, NULL) == 77) {
        printf("SKIP: %s has no user xattrs\n", tmp);
        skip();
    }
}

/* ---- directory iterator ---------------------------------------------------------------- */

#define NFILES 700

static intptr_t dir_body(void *arg)
{
    unsigned flags = (unsigned)(uintptr_t)arg;
    uco_dir *d;
    /* A small buffer: many getdents batches and stat windows. */
    T_CHECK_EQ(uco_dir_open(&d, tmpfd, "many", flags, 1024), 0);
    static unsigned char seen[NFILES];
    memset(seen, 0, sizeof seen);
    uco_dirent ent;
    int r, count = 0, dirs = 0;
    while ((r = uco_dir_next(d, &ent)) == 1) {
        T_CHECK(strcmp(ent.name, ".") && strcmp(ent.name, ".."));
        T_CHECK_EQ(ent.namelen, strlen(ent.name));
        if (ent.type == DT_DIR) {
            dirs++;
            T_CHECK(!strcmp(ent.name, "sub"));
            continue;
        }
        int i = atoi(ent.name + 1);
        T_CHECK(i >= 0 && i < NFILES && !seen[i]);
        seen[i] = 1;
        T_CHECK_EQ(ent.type, DT_REG);
        if (flags & UCO_DIR_STAT) {
            T_CHECK(ent.stx != NULL);
            T_CHECK_EQ(ent.stat_err, 0);
            T_CHECK_EQ(ent.stx->stx_size, (uint64_t)(i % 13));
            T_CHECK(S_ISREG(ent.stx->stx_mode));
        } else {
            T_CHECK(ent.stx == NULL);
        }
        count++;
    }
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(count, NFILES);
    T_CHECK_EQ(dirs, 1);
    T_CHECK_EQ(uco_dir_next(d, &ent), 0); /* stays at the end */
    T_CHECK(uco_dir_fd(d) >= 0);
    T_CHECK_EQ(uco_dir_close(d), 0);
    T_CHECK_EQ(uco_dir_open(&d, tmpfd, "many/f1-with-a-longer-name-odd", 0, 0), -ENOTDIR);
    T_CHECK_EQ(uco_dir_open(&d, tmpfd, "many", 0, 100), -EINVAL);
    T_CHECK_EQ(uco_dir_open(&d, tmpfd, "many", 0x80, 0), -EINVAL);
    return 0;
}

static void make_many(void)
{
    if (mkdirat(tmpfd, "many", 0755) < 0) return; /* made by the other test */
    int dfd = openat(tmpfd, "many", O_RDONLY | O_DIRECTORY);
    char name[32], data[16] = {0};
    for (int i = 0; i < NFILES; i++) {
        snprintf(name, sizeof name, "f%d-with-a-longer-name-%s", i, i % 2 ? "odd" : "even");
        int fd = openat(dfd, name, O_WRONLY | O_CREAT, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, (size_t)(i % 13)), i % 13);
        close(fd);
    }
    mkdirat(dfd, "sub", 0755);
    close(dfd);
}

static void dir_iterator_lists_every_entry_once_in_batches(void **state)
{
    make_many();
    t_run(dir_body, (void *)(uintptr_t)0, NULL);
}

static void dir_iterator_with_stat_gives_each_entry_its_statx(void **state)
{
    make_many();
    t_run(dir_body, (void *)(uintptr_t)UCO_DIR_STAT, NULL);
}

/* ---- helpers -------------------------------------------------------------------------- */

static intptr_t helpers_body(void *arg)
{
    static char big[100000]; /* task stacks are 64 KiB */
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i % 251);
    T_CHECK_EQ(uco_file_write(tmpfd, "h", big, sizeof big, 0, 0600), 0);
    void *buf;
    size_t len;
    T_CHECK_EQ(uco_file_read(tmpfd, "h", &buf, &len, 0), 0);
    T_CHECK_EQ(len, sizeof big);
    T_CHECK(memcmp(buf, big, len) == 0);
    T_CHECK_EQ(((char *)buf)[len], 0);
    free(buf);
    T_CHECK_EQ(uco_file_read(tmpfd, "h", &buf, &len, sizeof big - 1), -EFBIG);
    T_CHECK(buf == NULL);
    T_CHECK_EQ(uco_file_read(tmpfd, "h", &buf, &len, sizeof big), 0);
    free(buf);
    /* A file whose stat says 0: read to the end anyway. */
    T_CHECK_EQ(uco_file_read(AT_FDCWD, "/proc/self/status", &buf, &len, 0), 0);
    T_CHECK(len > 0 && strstr(buf, "Name:") != NULL);
    free(buf);
    T_CHECK_EQ(uco_file_write(tmpfd, "h", "x", 1, O_EXCL, 0600), -EEXIST);
    T_CHECK_EQ(uco_file_read(tmpfd, "nope", &buf, &len, 0), -ENOENT);

    /* copy_range: same file system (copy_file_range), then to tmpfs (EXDEV: read/write). */
    int in = uco_openat(tmpfd, "h", O_RDONLY | O_CLOEXEC, 0);
    int out = uco_openat(tmpfd, "h2", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    T_CHECK(in >= 0 && out >= 0);
    T_CHECK_EQ(uco_copy_range(in, 1000, out, 0, 50000), 50000);
    T_CHECK_EQ(uco_copy_range(in, 90000, out, 50000, 1 << 20), 10000); /* stops at EOF */
    static char back[60000];
    T_CHECK_EQ(uco_read(out, back, sizeof back, 0), 60000);
    T_CHECK(memcmp(back, big + 1000, 50000) == 0);
    T_CHECK(memcmp(back + 50000, big + 90000, 10000) == 0);
    uco_close(out);
    char shm[64];
    snprintf(shm, sizeof shm, "/dev/shm/uco-test-fs-%d", (int)getpid());
    out = uco_openat(AT_FDCWD, shm, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out >= 0) {
        T_CHECK_EQ(uco_copy_range(in, 0, out, 0, sizeof big), (int64_t)sizeof big);
        T_CHECK_EQ(uco_read(out, back, 5000, 0), 5000);
        T_CHECK(memcmp(back, big, 5000) == 0);
        uco_close(out);
        unlink(shm);
    }
    T_CHECK_EQ(uco_copy_range(in, -1, out, 0, 1), -EINVAL);
    uco_close(in);
    return 0;
}

static void whole_file_helpers_read_write_and_copy_ranges(void **state)
{
    t_run(helpers_body, NULL, NULL);
}

/* max + 1 wrapped to 0: the whole file was read as empty. */
static intptr_t read_max_body(void *arg)
{
    static char big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i % 241);
    T_CHECK_EQ(uco_file_write(tmpfd, "max", big, sizeof big, 0, 0600), 0);
    size_t maxes[] = {SIZE_MAX, SIZE_MAX - 1};
    for (size_t i = 0; i < 2; i++) {
        void *buf = NULL;
        size_t len = 0;
        T_CHECK_EQ(uco_file_read(tmpfd, "max", &buf, &len, maxes[i]), 0);
        T_CHECK_EQ(len, sizeof big);
        T_CHECK(buf && memcmp(buf, big, sizeof big) == 0);
        free(buf);
    }
    return 0;
}

static void file_read_with_size_max_reads_the_whole_file(void **state)
{
    t_run(read_max_body, NULL, NULL);
}

static void awaitables_outside_a_task_return_eperm(void **state)
{
    struct statx stx;
    assert_int_equal(uco_openat(tmpfd, "x", O_RDONLY, 0), -EPERM);
    assert_int_equal(uco_statx(tmpfd, "x", 0, 0, &stx), -EPERM);
    assert_int_equal(uco_mknodat(tmpfd, "x", S_IFIFO, 0), -EPERM);
    assert_int_equal(uco_readlinkat(tmpfd, "x", NULL, 0), -EPERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_write_read_statx_round_trip),
        cmocka_unit_test(openat2_applies_resolve_flags),
        cmocka_unit_test(fallocate_ftruncate_fadvise_change_the_file),
        cmocka_unit_test(attribute_setters_change_mode_owner_and_ns_times),
        cmocka_unit_test(name_operations_create_link_rename_and_remove),
        cmocka_unit_test(splice_moves_a_file_through_a_pipe),
        cmocka_unit_test(xattrs_set_get_and_list_by_descriptor_and_path),
        cmocka_unit_test(dir_iterator_lists_every_entry_once_in_batches),
        cmocka_unit_test(dir_iterator_with_stat_gives_each_entry_its_statx),
        cmocka_unit_test(whole_file_helpers_read_write_and_copy_ranges),
        cmocka_unit_test(file_read_with_size_max_reads_the_whole_file),
        cmocka_unit_test(awaitables_outside_a_task_return_eperm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
