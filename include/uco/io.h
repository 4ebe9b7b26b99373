/* uco — basic awaitables on file descriptors.
 *
 * Each call submits one io_uring operation, suspends the calling task and returns the
 * operation's result: >= 0, or -errno exactly as the kernel reports it (-EBADF, -EFAULT, ...),
 * plus -ECANCELED / -ETIMEDOUT / -EPERM as described in <uco/async.h>. All of them await, so
 * they may only be called from a task. Buffers must stay valid until the call returns (which
 * is always after the kernel is done with them).
 *
 * Offsets: off >= 0 is a file position (pread/pwrite semantics); off == -1 uses and advances
 * the file's current position (and is what pipes and sockets need).
 * Lengths above UCO_IO_MAX (just under 2 GiB, the kernel's own per-call limit) are clamped,
 * so such a call transfers less than asked, as read(2) does.
 */
#ifndef UCO_IO_H
#define UCO_IO_H

#include <sys/uio.h>
#include <uco/async.h>

UCO_BEGIN_DECLS

#define UCO_IO_MAX ((size_t)0x7ffff000)

/* An operation that does nothing: completes with 0. For tests and benchmarks. */
UCO_API int uco_nop(void);

/* pread(2)/read(2) and pwrite(2)/write(2): the bytes moved, possibly fewer than len (0 from
 * uco_read at end of file), or -errno. */
UCO_API ssize_t uco_read(int fd, void *buf, size_t len, int64_t off);
UCO_API ssize_t uco_write(int fd, const void *buf, size_t len, int64_t off);
/* iovcnt 1..IOV_MAX; the iovec array must stay valid until the call returns. */
UCO_API ssize_t uco_readv(int fd, const struct iovec *iov, int iovcnt, int64_t off);
UCO_API ssize_t uco_writev(int fd, const struct iovec *iov, int iovcnt, int64_t off);

/* Reads/writes using registered buffer number buf_index (see uco_buf_register); [buf, buf+len)
 * must lie inside that buffer, else -EFAULT. */
UCO_API ssize_t uco_read_fixed(int fd, void *buf, size_t len, int64_t off, unsigned buf_index);
UCO_API ssize_t uco_write_fixed(int fd, const void *buf, size_t len, int64_t off,
                                unsigned buf_index);

/* Write everything (looping on short writes) / read exactly len bytes (looping on short
 * reads; returns fewer only at end of file). Return the bytes moved, or -errno with nothing
 * said about how much was moved before the error. off == -1 for streams. */
UCO_API ssize_t uco_write_all(int fd, const void *buf, size_t len, int64_t off);
UCO_API ssize_t uco_read_full(int fd, void *buf, size_t len, int64_t off);

#define UCO_FSYNC_DATASYNC 1u
/* fsync(2), or fdatasync(2) with UCO_FSYNC_DATASYNC. */
UCO_API int uco_fsync(int fd, unsigned flags);

/* Awaits readiness: events are POLLIN/POLLOUT/...; returns the revents that fired. */
UCO_API int uco_poll(int fd, unsigned events);

/* Closes fd. Not interruptible: a cancelled task's close still closes. */
UCO_API int uco_close(int fd);

/* A kernel timer (IORING_OP_TIMEOUT): returns 0 after ns nanoseconds. uco_sleep() does the
 * same with the loop's own timers and no kernel operation; this is for composing with
 * uco_op_* in wait_any, and for tests of the kernel path. */
UCO_API int uco_timeout(int64_t ns);

/* Cancels every operation in flight on fd (of any task of this loop); awaits and returns how
 * many were cancelled (>= 0), or -errno. */
UCO_API int uco_cancel_fd(int fd);

/* Starters (see <uco/async.h>) for the same operations. */
UCO_API int uco_op_read(uco_op *op, int fd, void *buf, size_t len, int64_t off);
UCO_API int uco_op_write(uco_op *op, int fd, const void *buf, size_t len, int64_t off);
UCO_API int uco_op_readv(uco_op *op, int fd, const struct iovec *iov, int iovcnt, int64_t off);
UCO_API int uco_op_writev(uco_op *op, int fd, const struct iovec *iov, int iovcnt, int64_t off);
UCO_API int uco_op_poll(uco_op *op, int fd, unsigned events);

UCO_END_DECLS

#endif
