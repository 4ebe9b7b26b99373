/* File-system awaitables: open, statx, space and cache control, attribute setters, names,
 * splice. One io_uring operation each where the kernel has one, the worker pool otherwise. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/internal.h"

struct blocking_call {
    uco__fs_fn *fn;
    int64_t a[6];
};

static intptr_t blocking_thunk(void *arg)
{
    struct blocking_call *c = arg;
    return (intptr_t)c->fn(c->a);
}

int64_t uco__fs_blocking(const char *name, uco__fs_fn *fn, int64_t a0, int64_t a1, int64_t a2,
                         int64_t a3, int64_t a4, int64_t a5)
{
    if (!uco__self()) return uco__not_in_task(name);
    struct blocking_call c = {fn, {a0, a1, a2, a3, a4, a5}};
    return (int64_t)uco_work(blocking_thunk, &c);
}

/* ---- opening -------------------------------------------------------------------------- */

int uco_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    if (!path) return -EFAULT;
    UCO__AWAIT_BEGIN("uco_openat");
    io_uring_prep_openat(sqe, dirfd, path, flags, mode);
    return (int)uco__await_sqe(t, sqe, UCO_OP_OPENAT, dirfd, NULL);
}

int uco_open(const char *path, int flags, mode_t mode)
{
    return uco_openat(AT_FDCWD, path, flags, mode);
}

int uco_openat2(int dirfd, const char *path, const struct open_how *how, size_t size)
{
    if (!path || !how) return -EFAULT;
    if (size < sizeof(struct open_how)) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_openat2");
    /* The ring takes struct open_how as the kernel defines it: a bigger caller struct is fine
     * only if its tail is zero, which openat2 itself would check; we pass the size through. */
    io_uring_prep_openat2(sqe, dirfd, path, (struct open_how *)how);
    sqe->len = (unsigned)size;
    return (int)uco__await_sqe(t, sqe, UCO_OP_OPENAT, dirfd, NULL);
}

int uco_op_openat(uco_op *op, int dirfd, const char *path, int flags, mode_t mode)
{
    if (!path) return -EFAULT;
    struct uco_task *t;
    int err;
    struct io_uring_sqe *sqe = uco__start_begin("uco_op_openat", op, &t, &err);
    if (!sqe) return err;
    io_uring_prep_openat(sqe, dirfd, path, flags, mode);
    uco__op_start_sqe(t, uco__op_of(op), sqe, UCO_OP_OPENAT, dirfd);
    return 0;
}

int uco_op_close(uco_op *op, int fd)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_op_close");
    if (!op) return -EINVAL;
    /* No interruption check: a cancelled task's close must still close. */
    struct io_uring_sqe *sqe = uco__sqe(t->loop);
    if (!sqe) return -EBUSY;
    io_uring_prep_close(sqe, fd);
    struct uco__op *o = uco__op_of(op);
    uco__op_start_sqe(t, o, sqe, UCO_OP_CLOSE, fd);
    o->flags |= UCO__OF_NOCANCEL;
    return 0;
}

/* ---- metadata ------------------------------------------------------------------------- */

int uco_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *out)
{
    if (!path || !out) return -EFAULT;
    UCO__AWAIT_BEGIN("uco_statx");
    io_uring_prep_statx(sqe, dirfd, path, flags, mask, out);
    return (int)uco__await_sqe(t, sqe, UCO_OP_STATX, dirfd, NULL);
}

int uco_fallocate(int fd, int mode, int64_t off, int64_t len)
{
    if (off < 0 || len <= 0) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_fallocate");
    io_uring_prep_fallocate(sqe, fd, mode, (uint64_t)off, (uint64_t)len);
    return (int)uco__await_sqe(t, sqe, UCO_OP_FALLOCATE, fd, NULL);
}

static int64_t sys_ftruncate(const int64_t *a)
{
    return UCO__SYSRET(ftruncate((int)a[0], (off_t)a[1]));
}

int uco_ftruncate(int fd, int64_t len)
{
    if (len < 0) return -EINVAL;
    if (!uco__fs_has_op(UCO__IORING_OP_FTRUNCATE))
        return (int)uco__fs_blocking("uco_ftruncate", sys_ftruncate, fd, len, 0, 0, 0, 0);
    UCO__AWAIT_BEGIN("uco_ftruncate");
    io_uring_prep_rw(UCO__IORING_OP_FTRUNCATE, sqe, fd, NULL, 0, (uint64_t)len);
    return (int)uco__await_sqe(t, sqe, UCO_OP_FTRUNCATE, fd, NULL);
}

static int64_t sys_fadvise(const int64_t *a)
{
    return -(int64_t)posix_fadvise((int)a[0], (off_t)a[1], (off_t)a[2], (int)a[3]);
}

int uco_fadvise(int fd, int64_t off, int64_t len, int advice)
{
    if (off < 0 || len < 0) return -EINVAL;
    /* The opcode carries the length in 32 bits. */
    if (len > (int64_t)UINT32_MAX)
        return (int)uco__fs_blocking("uco_fadvise", sys_fadvise, fd, off, len, advice, 0, 0);
    UCO__AWAIT_BEGIN("uco_fadvise");
    io_uring_prep_fadvise(sqe, fd, (uint64_t)off, (off_t)len, advice);
    return (int)uco__await_sqe(t, sqe, UCO_OP_FADVISE, fd, NULL);
}

static int64_t sys_sync_file_range(const int64_t *a)
{
    return UCO__SYSRET(sync_file_range((int)a[0], a[1], a[2], (unsigned)a[3]));
}

int uco_sync_file_range(int fd, int64_t off, int64_t len, unsigned flags)
{
    if (off < 0 || len < 0) return -EINVAL;
    if (len > (int64_t)UINT32_MAX)
        return (int)uco__fs_blocking("uco_sync_file_range", sys_sync_file_range, fd, off, len,
                                     flags, 0, 0);
    UCO__AWAIT_BEGIN("uco_sync_file_range");
    io_uring_prep_sync_file_range(sqe, fd, (unsigned)len, (uint64_t)off, (int)flags);
    return (int)uco__await_sqe(t, sqe, UCO_OP_SYNC_FILE_RANGE, fd, NULL);
}

/* Attribute setters: no opcode, so the worker pool. */
static int64_t sys_fchmodat(const int64_t *a)
{
    return UCO__SYSRET(fchmodat((int)a[0], UCO__PTR(const char *, a[1]), (mode_t)a[2], (int)a[3]));
}

static int64_t sys_fchownat(const int64_t *a)
{
    return UCO__SYSRET(
        fchownat((int)a[0], UCO__PTR(const char *, a[1]), (uid_t)a[2], (gid_t)a[3], (int)a[4]));
}

static int64_t sys_utimensat(const int64_t *a)
{
    return UCO__SYSRET(utimensat((int)a[0], UCO__PTR(const char *, a[1]),
                                 UCO__PTR(const struct timespec *, a[2]), (int)a[3]));
}

int uco_fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
    if (!path) return -EFAULT;
    return (int)uco__fs_blocking("uco_fchmodat", sys_fchmodat, dirfd, UCO__P(path), mode, flags, 0,
                                 0);
}

int uco_fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
    if (!path) return -EFAULT;
    return (int)uco__fs_blocking("uco_fchownat", sys_fchownat, dirfd, UCO__P(path), uid, gid, flags,
                                 0);
}

int uco_utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
    if (!path) return -EFAULT;
    return (int)uco__fs_blocking("uco_utimensat", sys_utimensat, dirfd, UCO__P(path), UCO__P(times),
                                 flags, 0, 0);
}

static int64_t sys_futimens(const int64_t *a)
{
    return UCO__SYSRET(futimens((int)a[0], UCO__PTR(const struct timespec *, a[1])));
}

static int64_t sys_fchmod(const int64_t *a)
{
    return UCO__SYSRET(fchmod((int)a[0], (mode_t)a[1]));
}

int uco_fchmod(int fd, mode_t mode)
{
    return (int)uco__fs_blocking("uco_fchmod", sys_fchmod, fd, mode, 0, 0, 0, 0);
}

int uco_fchown(int fd, uid_t uid, gid_t gid)
{
    return uco_fchownat(fd, "", uid, gid, AT_EMPTY_PATH);
}

int uco_futimens(int fd, const struct timespec times[2])
{
    return (int)uco__fs_blocking("uco_futimens", sys_futimens, fd, UCO__P(times), 0, 0, 0, 0);
}

/* ---- names ---------------------------------------------------------------------------- */

int uco_unlinkat(int dirfd, const char *path, int flags)
{
    if (!path) return -EFAULT;
    UCO__AWAIT_BEGIN("uco_unlinkat");
    io_uring_prep_unlinkat(sqe, dirfd, path, flags);
    return (int)uco__await_sqe(t, sqe, UCO_OP_UNLINKAT, dirfd, NULL);
}

int uco_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                 unsigned flags)
{
    if (!oldpath || !newpath) return -EFAULT;
    UCO__AWAIT_BEGIN("uco_renameat");
    io_uring_prep_renameat(sqe, olddirfd, oldpath, newdirfd, newpath, (int)flags);
    return (int)uco__await_sqe(t, sqe, UCO_OP_RENAMEAT, olddirfd, NULL);
}

int uco_mkdirat(int dirfd, const char *path, mode_t mode)
{
    if (!path) return -EFAULT;
    UCO__AWAIT_BEGIN("uco_mkdirat");
    io_uring_prep_mkdirat(sqe, dirfd, path, mode);
    return (int)uco__await_sqe(t, sqe, UCO_OP_MKDIRAT, dirfd, NULL);
}

int uco_symlinkat(const char *target, int newdirfd, const char *linkpath)
{
    if (!target || !linkpath) return -EFAULT;
    UCO__AWAIT_BEGIN("uco_symlinkat");
    io_uring_prep_symlinkat(sqe, target, newdirfd, linkpath);
    return (int)uco__await_sqe(t, sqe, UCO_OP_SYMLINKAT, newdirfd, NULL);
}

int uco_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
    if (!oldpath || !newpath) return -EFAULT;
    UCO__AWAIT_BEGIN("uco_linkat");
    io_uring_prep_linkat(sqe, olddirfd, oldpath, newdirfd, newpath, flags);
    return (int)uco__await_sqe(t, sqe, UCO_OP_LINKAT, olddirfd, NULL);
}

static int64_t sys_mknodat(const int64_t *a)
{
    return UCO__SYSRET(mknodat((int)a[0], UCO__PTR(const char *, a[1]), (mode_t)a[2], (dev_t)a[3]));
}

int uco_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
    if (!path) return -EFAULT;
    return (int)uco__fs_blocking("uco_mknodat", sys_mknodat, dirfd, UCO__P(path), mode,
                                 (int64_t)dev, 0, 0);
}

static int64_t sys_readlinkat(const int64_t *a)
{
    ssize_t n =
        readlinkat((int)a[0], UCO__PTR(const char *, a[1]), UCO__PTR(char *, a[2]), (size_t)a[3]);
    return n < 0 ? -(int64_t)errno : (int64_t)n;
}

ssize_t uco_readlinkat(int dirfd, const char *path, char *buf, size_t len)
{
    if (!path || (!buf && len)) return -EFAULT;
    return (ssize_t)uco__fs_blocking("uco_readlinkat", sys_readlinkat, dirfd, UCO__P(path),
                                     UCO__P(buf), (int64_t)len, 0, 0);
}

/* ---- splice --------------------------------------------------------------------------- */

ssize_t uco_splice(int fd_in, int64_t off_in, int fd_out, int64_t off_out, size_t len,
                   unsigned flags)
{
    if (off_in < -1 || off_out < -1) return -EINVAL;
    if (len > UCO_IO_MAX) len = UCO_IO_MAX;
    UCO__AWAIT_BEGIN("uco_splice");
    io_uring_prep_splice(sqe, fd_in, off_in, fd_out, off_out, (unsigned)len, flags);
    return (ssize_t)uco__await_sqe(t, sqe, UCO_OP_SPLICE, fd_out, NULL);
}
