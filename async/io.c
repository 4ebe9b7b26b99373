/* Basic awaitables on file descriptors: one io_uring operation each. */
#include <limits.h>
#include <uco/io.h>

#include "async/internal.h"

#define START_BEGIN(name)                                                                          \
    struct uco_task *t;                                                                            \
    int err_;                                                                                      \
    struct io_uring_sqe *sqe = uco__start_begin(name, op, &t, &err_);                              \
    if (!sqe) return err_

static inline unsigned clamp_len(size_t len)
{
    return len > UCO_IO_MAX ? (unsigned)UCO_IO_MAX : (unsigned)len;
}

/* -1 means "current position"; anything else below 0 is an error. */
#define BAD_OFF(off)  ((off) < -1)
/* io.h: iovcnt 1..IOV_MAX. */
#define BAD_IOVCNT(n) ((n) < 1 || (n) > IOV_MAX)

int uco_nop(void)
{
    UCO__AWAIT_BEGIN("uco_nop");
    io_uring_prep_nop(sqe);
    return (int)uco__await_sqe(t, sqe, UCO_OP_NOP, -1, NULL);
}

ssize_t uco_read(int fd, void *buf, size_t len, int64_t off)
{
    if (BAD_OFF(off)) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_read");
    io_uring_prep_read(sqe, fd, buf, clamp_len(len), (uint64_t)off);
    return uco__await_sqe(t, sqe, UCO_OP_READ, fd, NULL);
}

ssize_t uco_write(int fd, const void *buf, size_t len, int64_t off)
{
    if (BAD_OFF(off)) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_write");
    io_uring_prep_write(sqe, fd, buf, clamp_len(len), (uint64_t)off);
    return uco__await_sqe(t, sqe, UCO_OP_WRITE, fd, NULL);
}

ssize_t uco_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (BAD_OFF(off) || BAD_IOVCNT(iovcnt)) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_readv");
    io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
    return uco__await_sqe(t, sqe, UCO_OP_READV, fd, NULL);
}

ssize_t uco_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (BAD_OFF(off) || BAD_IOVCNT(iovcnt)) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_writev");
    io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
    return uco__await_sqe(t, sqe, UCO_OP_WRITEV, fd, NULL);
}

ssize_t uco_read_fixed(int fd, void *buf, size_t len, int64_t off, unsigned buf_index)
{
    if (BAD_OFF(off) || buf_index > 16383) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_read_fixed");
    io_uring_prep_read_fixed(sqe, fd, buf, clamp_len(len), (uint64_t)off, (int)buf_index);
    return uco__await_sqe(t, sqe, UCO_OP_READ_FIXED, fd, NULL);
}

ssize_t uco_write_fixed(int fd, const void *buf, size_t len, int64_t off, unsigned buf_index)
{
    if (BAD_OFF(off) || buf_index > 16383) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_write_fixed");
    io_uring_prep_write_fixed(sqe, fd, buf, clamp_len(len), (uint64_t)off, (int)buf_index);
    return uco__await_sqe(t, sqe, UCO_OP_WRITE_FIXED, fd, NULL);
}

ssize_t uco_write_all(int fd, const void *buf, size_t len, int64_t off)
{
    if (BAD_OFF(off)) return -EINVAL; /* not "any negative is -1" below */
    const char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = uco_write(fd, p + done, len - done, off < 0 ? -1 : off + (int64_t)done);
        if (n < 0) return n;
        if (n == 0) return -EIO; /* a regular write never returns 0 for a non-empty buffer */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t uco_read_full(int fd, void *buf, size_t len, int64_t off)
{
    if (BAD_OFF(off)) return -EINVAL;
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = uco_read(fd, p + done, len - done, off < 0 ? -1 : off + (int64_t)done);
        if (n < 0) return n;
        if (n == 0) break; /* end of file */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int uco_fsync(int fd, unsigned flags)
{
    if (flags & ~UCO_FSYNC_DATASYNC) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_fsync");
    io_uring_prep_fsync(sqe, fd, flags & UCO_FSYNC_DATASYNC ? IORING_FSYNC_DATASYNC : 0);
    return (int)uco__await_sqe(t, sqe, UCO_OP_FSYNC, fd, NULL);
}

int uco_poll(int fd, unsigned events)
{
    UCO__AWAIT_BEGIN("uco_poll");
    io_uring_prep_poll_add(sqe, fd, events);
    return (int)uco__await_sqe(t, sqe, UCO_OP_POLL, fd, NULL);
}

int uco_close(int fd)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_close");
    /* No interruption check: a cancelled task's close must still close. */
    struct io_uring_sqe *sqe = uco__sqe(t->loop);
    if (!sqe) return -EBUSY;
    io_uring_prep_close(sqe, fd);
    return (int)uco__await_sqe_nocancel(t, sqe, UCO_OP_CLOSE, fd);
}

int uco_timeout(int64_t ns)
{
    if (ns < 0) ns = 0;
    UCO__AWAIT_BEGIN("uco_timeout");
    struct __kernel_timespec ts = {.tv_sec = ns / UCO_SEC, .tv_nsec = ns % UCO_SEC};
    io_uring_prep_timeout(sqe, &ts, 0, 0);
    int64_t r = uco__await_sqe(t, sqe, UCO_OP_TIMEOUT, -1, NULL);
    return (int)r;
}

int uco_cancel_fd(int fd)
{
    if (fd < 0) return -EBADF;
    UCO__AWAIT_BEGIN("uco_cancel_fd");
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    int64_t r = uco__await_sqe(t, sqe, UCO_OP_CANCEL, fd, NULL);
    return r == -ENOENT ? 0 : (int)r;
}

int uco_op_read(uco_op *op, int fd, void *buf, size_t len, int64_t off)
{
    if (BAD_OFF(off)) return -EINVAL;
    START_BEGIN("uco_op_read");
    io_uring_prep_read(sqe, fd, buf, clamp_len(len), (uint64_t)off);
    uco__op_start_sqe(t, uco__op_of(op), sqe, UCO_OP_READ, fd);
    return 0;
}

int uco_op_write(uco_op *op, int fd, const void *buf, size_t len, int64_t off)
{
    if (BAD_OFF(off)) return -EINVAL;
    START_BEGIN("uco_op_write");
    io_uring_prep_write(sqe, fd, buf, clamp_len(len), (uint64_t)off);
    uco__op_start_sqe(t, uco__op_of(op), sqe, UCO_OP_WRITE, fd);
    return 0;
}

int uco_op_readv(uco_op *op, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (BAD_OFF(off) || BAD_IOVCNT(iovcnt)) return -EINVAL;
    START_BEGIN("uco_op_readv");
    io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
    uco__op_start_sqe(t, uco__op_of(op), sqe, UCO_OP_READV, fd);
    return 0;
}

int uco_op_writev(uco_op *op, int fd, const struct iovec *iov, int iovcnt, int64_t off)
{
    if (BAD_OFF(off) || BAD_IOVCNT(iovcnt)) return -EINVAL;
    START_BEGIN("uco_op_writev");
    io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, (uint64_t)off);
    uco__op_start_sqe(t, uco__op_of(op), sqe, UCO_OP_WRITEV, fd);
    return 0;
}

int uco_op_poll(uco_op *op, int fd, unsigned events)
{
    START_BEGIN("uco_op_poll");
    io_uring_prep_poll_add(sqe, fd, events);
    uco__op_start_sqe(t, uco__op_of(op), sqe, UCO_OP_POLL, fd);
    return 0;
}
