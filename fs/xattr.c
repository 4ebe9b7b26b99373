/* Extended attributes: IORING_OP_[F]GETXATTR / [F]SETXATTR (Linux 5.19) where the kernel has
 * them and the call follows symlinks; the worker pool for listing, for the l*xattr forms and on
 * older kernels. */
#include <fcntl.h>
#include <sys/xattr.h>

#include "fs/internal.h"

/* The opcodes carry the value's length in 32 bits; XATTR_SIZE_MAX is 64 KiB anyway. */
#define XATTR_LEN_OK(size) ((size) <= UINT32_MAX)

static int64_t sys_fgetxattr(const int64_t *a)
{
    ssize_t n =
        fgetxattr((int)a[0], UCO__PTR(const char *, a[1]), UCO__PTR(void *, a[2]), (size_t)a[3]);
    return n < 0 ? -(int64_t)errno : n;
}

static int64_t sys_fsetxattr(const int64_t *a)
{
    return UCO__SYSRET(fsetxattr((int)a[0], UCO__PTR(const char *, a[1]),
                                 UCO__PTR(const void *, a[2]), (size_t)a[3], (int)a[4]));
}

static int64_t sys_flistxattr(const int64_t *a)
{
    ssize_t n = flistxattr((int)a[0], UCO__PTR(char *, a[1]), (size_t)a[2]);
    return n < 0 ? -(int64_t)errno : n;
}

/* a[5]: follow symlinks. */
static int64_t sys_getxattr(const int64_t *a)
{
    const char *path = UCO__PTR(const char *, a[0]), *name = UCO__PTR(const char *, a[1]);
    void *value = UCO__PTR(void *, a[2]);
    ssize_t n = a[5] ? getxattr(path, name, value, (size_t)a[3])
                     : lgetxattr(path, name, value, (size_t)a[3]);
    return n < 0 ? -(int64_t)errno : n;
}

static int64_t sys_setxattr(const int64_t *a)
{
    const char *path = UCO__PTR(const char *, a[0]), *name = UCO__PTR(const char *, a[1]);
    const void *value = UCO__PTR(const void *, a[2]);
    int r = a[5] ? setxattr(path, name, value, (size_t)a[3], (int)a[4])
                 : lsetxattr(path, name, value, (size_t)a[3], (int)a[4]);
    return UCO__SYSRET(r);
}

static int64_t sys_listxattr(const int64_t *a)
{
    const char *path = UCO__PTR(const char *, a[0]);
    char *list = UCO__PTR(char *, a[1]);
    ssize_t n = a[3] ? listxattr(path, list, (size_t)a[2]) : llistxattr(path, list, (size_t)a[2]);
    return n < 0 ? -(int64_t)errno : n;
}

ssize_t uco_fgetxattr(int fd, const char *name, void *value, size_t size)
{
    if (!name || (!value && size)) return -EFAULT;
    if (!XATTR_LEN_OK(size) || !uco__fs_has_op(IORING_OP_FGETXATTR))
        return (ssize_t)uco__fs_blocking("uco_fgetxattr", sys_fgetxattr, fd, UCO__P(name),
                                         UCO__P(value), (int64_t)size, 0, 0);
    UCO__AWAIT_BEGIN("uco_fgetxattr");
    io_uring_prep_fgetxattr(sqe, fd, name, value, (unsigned)size);
    return (ssize_t)uco__await_sqe(t, sqe, UCO_OP_XATTR, fd, NULL);
}

int uco_fsetxattr(int fd, const char *name, const void *value, size_t size, int xflags)
{
    if (!name || (!value && size)) return -EFAULT;
    if (!XATTR_LEN_OK(size) || !uco__fs_has_op(IORING_OP_FSETXATTR))
        return (int)uco__fs_blocking("uco_fsetxattr", sys_fsetxattr, fd, UCO__P(name),
                                     UCO__P(value), (int64_t)size, xflags, 0);
    UCO__AWAIT_BEGIN("uco_fsetxattr");
    io_uring_prep_fsetxattr(sqe, fd, name, value, xflags, (unsigned)size);
    return (int)uco__await_sqe(t, sqe, UCO_OP_XATTR, fd, NULL);
}

ssize_t uco_flistxattr(int fd, char *list, size_t size)
{
    if (!list && size) return -EFAULT;
    return (ssize_t)uco__fs_blocking("uco_flistxattr", sys_flistxattr, fd, UCO__P(list),
                                     (int64_t)size, 0, 0, 0);
}

ssize_t uco_getxattr(const char *path, const char *name, void *value, size_t size, int flags)
{
    if (!path || !name || (!value && size)) return -EFAULT;
    if (flags & ~AT_SYMLINK_NOFOLLOW) return -EINVAL;
    bool follow = !(flags & AT_SYMLINK_NOFOLLOW);
    if (!follow || !XATTR_LEN_OK(size) || !uco__fs_has_op(IORING_OP_GETXATTR))
        return (ssize_t)uco__fs_blocking("uco_getxattr", sys_getxattr, UCO__P(path), UCO__P(name),
                                         UCO__P(value), (int64_t)size, 0, follow);
    UCO__AWAIT_BEGIN("uco_getxattr");
    io_uring_prep_getxattr(sqe, name, value, path, (unsigned)size);
    return (ssize_t)uco__await_sqe(t, sqe, UCO_OP_XATTR, -1, NULL);
}

int uco_setxattr(const char *path, const char *name, const void *value, size_t size, int xflags,
                 int flags)
{
    if (!path || !name || (!value && size)) return -EFAULT;
    if (flags & ~AT_SYMLINK_NOFOLLOW) return -EINVAL;
    bool follow = !(flags & AT_SYMLINK_NOFOLLOW);
    if (!follow || !XATTR_LEN_OK(size) || !uco__fs_has_op(IORING_OP_SETXATTR))
        return (int)uco__fs_blocking("uco_setxattr", sys_setxattr, UCO__P(path), UCO__P(name),
                                     UCO__P(value), (int64_t)size, xflags, follow);
    UCO__AWAIT_BEGIN("uco_setxattr");
    io_uring_prep_setxattr(sqe, name, value, path, xflags, (unsigned)size);
    return (int)uco__await_sqe(t, sqe, UCO_OP_XATTR, -1, NULL);
}

ssize_t uco_listxattr(const char *path, char *list, size_t size, int flags)
{
    if (!path || (!list && size)) return -EFAULT;
    if (flags & ~AT_SYMLINK_NOFOLLOW) return -EINVAL;
    return (ssize_t)uco__fs_blocking("uco_listxattr", sys_listxattr, UCO__P(path), UCO__P(list),
                                     (int64_t)size, !(flags & AT_SYMLINK_NOFOLLOW), 0, 0);
}
