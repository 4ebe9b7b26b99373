/* Awaitables on socket descriptors: connect, accept, send and receive, messages, zero-copy
 * send, shutdown, splice from a file; plus the synchronous socket set-up helpers. */
#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "net/internal.h"

static inline unsigned clamp_len(size_t len)
{
    return len > UCO_IO_MAX ? (unsigned)UCO_IO_MAX : (unsigned)len;
}

int uco_socket(int family, int type, int protocol)
{
    int fd = socket(family, type | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

static int set_int(int fd, int level, int name, int v)
{
    return setsockopt(fd, level, name, &v, sizeof v) < 0 ? -errno : 0;
}

int uco_bind_socket(const uco_addr *addr, int type, int backlog, unsigned flags)
{
    if (!addr || !addr->len || (type != SOCK_STREAM && type != SOCK_DGRAM)) return -EINVAL;
    if (flags & ~(UCO_SOCK_REUSEPORT | UCO_SOCK_V6ONLY | UCO_SOCK_NODELAY)) return -EINVAL;
    int family = addr->u.sa.sa_family;
    bool ip = family == AF_INET || family == AF_INET6;
    int fd = uco_socket(family, type, 0);
    if (fd < 0) return fd;
    int r = 0;
    if (ip) r = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (!r && ip && (flags & UCO_SOCK_REUSEPORT)) r = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (!r && family == AF_INET6 && (flags & UCO_SOCK_V6ONLY))
        r = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    if (!r && ip && type == SOCK_STREAM && (flags & UCO_SOCK_NODELAY))
        r = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (!r && bind(fd, &addr->u.sa, addr->len) < 0) r = -errno;
    if (!r && type == SOCK_STREAM && listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) r = -errno;
    if (r) {
        close(fd);
        return r;
    }
    return fd;
}

int uco_connect(int fd, const uco_addr *addr)
{
    if (!addr || !addr->len) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_connect");
    io_uring_prep_connect(sqe, fd, &addr->u.sa, addr->len);
    return (int)uco__await_sqe(t, sqe, UCO_OP_CONNECT, fd, NULL);
}

int uco_dial(const uco_addr *addr, int type, int64_t deadline)
{
    if (!addr || !addr->len || (type != SOCK_STREAM && type != SOCK_DGRAM)) return -EINVAL;
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_dial");
    int family = addr->u.sa.sa_family;
    int fd = uco_socket(family, type, 0);
    if (fd < 0) return fd;
    if (type == SOCK_STREAM && family != AF_UNIX) set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    bool scoped = deadline > 0 && deadline != UCO_FOREVER;
    int64_t prev = UCO_FOREVER;
    if (scoped) {
        prev = uco_deadline_set(deadline);
        if (prev < deadline) uco_deadline_set(prev); /* an earlier deadline still rules */
    }
    int r = uco_connect(fd, addr);
    if (scoped) uco_deadline_set(prev);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

int uco_accept(int fd, uco_addr *peer)
{
    UCO__AWAIT_BEGIN("uco_accept");
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    io_uring_prep_accept(sqe, fd, peer ? (struct sockaddr *)&ss : NULL, peer ? &len : NULL,
                         SOCK_CLOEXEC);
    int r = (int)uco__await_sqe(t, sqe, UCO_OP_ACCEPT, fd, NULL);
    if (r >= 0 && peer && uco_addr_from_sockaddr(peer, (struct sockaddr *)&ss, len) < 0)
        memset(peer, 0, sizeof *peer);
    return r;
}

ssize_t uco_recv(int fd, void *buf, size_t len, int flags)
{
    UCO__AWAIT_BEGIN("uco_recv");
    io_uring_prep_recv(sqe, fd, buf, clamp_len(len), flags);
    return uco__await_sqe(t, sqe, UCO_OP_RECV, fd, NULL);
}

ssize_t uco_send(int fd, const void *buf, size_t len, int flags)
{
    return uco__send(fd, false, buf, len, flags, false);
}

ssize_t uco_send_all(int fd, const void *buf, size_t len, int flags)
{
    const char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = uco_send(fd, p + done, len - done, flags);
        if (n < 0) return n;
        if (n == 0) return -EIO; /* a stream send never sends nothing of a non-empty buffer */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t uco_recv_exact(int fd, void *buf, size_t len, int flags)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = uco_recv(fd, p + done, len - done, flags);
        if (n < 0) return n;
        if (n == 0) break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t uco_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (!msg) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_recvmsg");
    io_uring_prep_recvmsg(sqe, fd, msg, (unsigned)flags);
    return uco__await_sqe(t, sqe, UCO_OP_RECVMSG, fd, NULL);
}

ssize_t uco_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!msg) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_sendmsg");
    io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags | MSG_NOSIGNAL);
    return uco__await_sqe(t, sqe, UCO_OP_SENDMSG, fd, NULL);
}

ssize_t uco_recvfrom(int fd, void *buf, size_t len, int flags, uco_addr *from)
{
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct sockaddr_storage ss;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (from) {
        msg.msg_name = &ss;
        msg.msg_namelen = sizeof ss;
    }
    ssize_t n = uco_recvmsg(fd, &msg, flags);
    if (n >= 0 && from && uco_addr_from_sockaddr(from, (struct sockaddr *)&ss, msg.msg_namelen) < 0)
        memset(from, 0, sizeof *from);
    return n;
}

ssize_t uco_sendto(int fd, const void *buf, size_t len, int flags, const uco_addr *to)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (to && to->len) {
        msg.msg_name = (void *)&to->u;
        msg.msg_namelen = to->len;
    }
    return uco_sendmsg(fd, &msg, flags);
}

/* ---- send, plain and zero-copy ------------------------------------------------------- */

/* A zero-copy send completes twice: its result (with IORING_CQE_F_MORE), then a notification
 * (IORING_CQE_F_NOTIF) once the kernel has let go of the buffer. The op is done at the second. */
struct zc_op {
    struct uco__op op;
    int32_t res;
};

static void zc_complete(struct uco__comp *c, int32_t res, uint32_t flags)
{
    struct uco__op *op = UCO__CONTAINER_OF(c, struct uco__op, comp);
    struct zc_op *z = UCO__CONTAINER_OF(op, struct zc_op, op);
    if (flags & IORING_CQE_F_NOTIF) {
        uco__op_complete(c, z->res, flags);
        return;
    }
    z->res = res;
    if (!(flags & IORING_CQE_F_MORE)) uco__op_complete(c, res, flags); /* no notification */
}

static int64_t await_zc(struct uco_task *t, struct io_uring_sqe *sqe, int fd)
{
    struct zc_op z;
    z.op.flags = 0;
    z.op.task = t;
    z.res = 0;
    uco__op_arm(t->loop, &z.op, sqe, UCO_OP_SEND_ZC, fd);
    z.op.comp.fn = zc_complete;
    struct uco__op *p = &z.op;
    int r = uco__wait(t, &p, 1, false);
    int64_t res = z.op.result;
    if (r < 0 && uco__res_interrupted(res)) res = r;
    return res;
}

ssize_t uco__send(int fd, bool fixed, const void *buf, size_t len, int flags, bool zc)
{
    struct uco_loop *l = uco__tls_loop;
    if (zc && l && !uco__ring_has_op(&l->ring, IORING_OP_SEND_ZC)) return -EOPNOTSUPP;
    UCO__AWAIT_BEGIN("uco_send");
    if (zc)
        io_uring_prep_send_zc(sqe, fd, buf, clamp_len(len), flags | MSG_NOSIGNAL, 0);
    else
        io_uring_prep_send(sqe, fd, buf, clamp_len(len), flags | MSG_NOSIGNAL);
    if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
    if (zc) return await_zc(t, sqe, fd);
    return uco__await_sqe(t, sqe, UCO_OP_SEND, fd, NULL);
}

ssize_t uco_send_zc(int fd, const void *buf, size_t len, int flags)
{
    return uco__send(fd, false, buf, len, flags, true);
}

int uco_shutdown(int fd, int how)
{
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_shutdown");
    io_uring_prep_shutdown(sqe, fd, how);
    return (int)uco__await_sqe(t, sqe, UCO_OP_SHUTDOWN, fd, NULL);
}

/* ---- sendfile: a cached range sent directly, the rest copied or spliced ------------------
 *
 * When the whole range is in the page cache (cachestat(2), Linux 6.5+) and the out
 * descriptor is non-blocking, sendfile(2) on the loop's thread cannot block: it moves what the
 * socket takes, page references and no copy, and a poll waits for room. Above UCO__DIRECT_MIN
 * that is the cheapest way (docs/BENCHMARKS.md, "Static files"). Otherwise (a cold file, a
 * blocking descriptor, no cachestat), a disk read must not stall the loop: up to UCO__COPY_BUF
 * bytes are read into a buffer, on the ring, and sent from there; more are spliced through a
 * pipe. io_uring never runs a splice inline: each one goes to a kernel worker thread
 * (io_splice returns -EAGAIN to a non-blocking issue), so a file -> pipe -> socket chunk is two
 * hand-offs to a worker, and copying 64 KiB twice costs less than that. A splice into a
 * blocking socket whose peer does not read holds its worker thread until the peer reads or the
 * call is cancelled; uco_conn sockets are non-blocking, so there it returns and a poll waits
 * instead. */

static ssize_t splice_await(int in, int64_t in_off, int out, bool out_fixed, size_t len)
{
    UCO__AWAIT_BEGIN("uco_sendfile");
    io_uring_prep_splice(sqe, in, in_off, out, -1, clamp_len(len), 0);
    if (out_fixed) sqe->flags |= IOSQE_FIXED_FILE;
    return uco__await_sqe(t, sqe, UCO_OP_SPLICE, out, NULL);
}

/* Waits until fd (a fixed slot if fixed) can take bytes. */
static int poll_out(int fd, bool fixed)
{
    UCO__AWAIT_BEGIN("uco_sendfile");
    io_uring_prep_poll_add(sqe, fd, POLLOUT);
    if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
    int64_t r = uco__await_sqe(t, sqe, UCO_OP_POLL, fd, NULL);
    return r < 0 ? (int)r : 0;
}

#define PIPE_BYTES (1u << 20)

static int pipe_get(struct uco__net *n, struct uco__pipe *p)
{
    if (n && n->npipes) {
        *p = n->pipes[--n->npipes];
        return 0;
    }
    if (pipe2(p->fd, O_CLOEXEC) < 0) return -errno;
    /* Best effort (the per-user pipe quota may refuse): else the default 64 KiB. */
    p->size = fcntl(p->fd[1], F_SETPIPE_SZ, PIPE_BYTES);
    if (p->size <= 0) p->size = fcntl(p->fd[1], F_GETPIPE_SZ);
    if (p->size <= 0) p->size = 65536;
    return 0;
}

/* An empty pipe goes back to the cache; one with bytes left in it (an error mid-way) is
 * closed, since its contents belong to no one. */
static void pipe_put(struct uco__net *n, const struct uco__pipe *p, bool empty)
{
    if (empty && n && n->npipes < sizeof n->pipes / sizeof n->pipes[0]) {
        n->pipes[n->npipes++] = *p;
        return;
    }
    close(p->fd[0]);
    close(p->fd[1]);
}

static ssize_t sendfile_splice(struct uco__net *n, int out_fd, bool fixed, int file_fd, int64_t off,
                               size_t len, uint64_t *sent)
{
    struct uco__pipe p;
    int r = pipe_get(n, &p);
    if (r) return r;
    size_t done = 0;
    ssize_t err = 0;
    bool empty = true;
    while (done < len && !err) {
        size_t chunk = len - done < (size_t)p.size ? len - done : (size_t)p.size;
        ssize_t in = splice_await(file_fd, off + (int64_t)done, p.fd[1], false, chunk);
        if (in <= 0) {
            err = in;
            break;
        }
        size_t left = (size_t)in;
        while (left) {
            /* Into a non-blocking socket (every uco_conn's) the splice takes what fits and
             * answers -EAGAIN when nothing does, instead of holding its worker until the
             * peer reads: then a poll waits, holding no thread. */
            ssize_t m = splice_await(p.fd[0], -1, out_fd, fixed, left);
            if (m == -EAGAIN) {
                int pr = poll_out(out_fd, fixed);
                if (pr == 0) continue;
                m = pr;
            }
            if (m <= 0) {
                err = m ? m : -EIO;
                empty = false;
                break;
            }
            left -= (size_t)m;
            if (sent) *sent += (uint64_t)m;
        }
        if (!left) done += (size_t)in;
    }
    pipe_put(n, &p, empty);
    if (err < 0) return err;
    return (ssize_t)done;
}

/* cachestat(2) (Linux 6.5): glibc 2.36 has neither the call nor its structures. */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct uco__cachestat_range {
    uint64_t off, len;
};
struct uco__cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

static bool nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

static bool cachestat_missing; /* ENOSYS or filtered: every process's answer is the same */

/* Whether every page of [off, off + len) of fd is in the page cache (false when unknown). At
 * most DIRECT_PIECE at a time: the kernel walks the range's pages. */
static bool range_cached(int fd, int64_t off, size_t len)
{
    if (cachestat_missing || !len) return false;
    struct uco__cachestat_range r = {.off = (uint64_t)off, .len = len};
    struct uco__cachestat cs;
    if (syscall(__NR_cachestat, fd, &r, &cs, 0) < 0) {
        if (errno == ENOSYS || errno == EPERM) cachestat_missing = true;
        return false;
    }
    static uint64_t page; /* cachestat counts pages of the page size, not always 4 KiB */
    if (!page) page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t pages = ((uint64_t)off + len - 1) / page - (uint64_t)off / page + 1;
    return cs.nr_cache >= pages;
}

/* At most this much per sendfile(2) call, then the other ready tasks run: a fast reader
 * (loopback) can keep taking bytes, and the loop must not stay in one call for long. */
#define DIRECT_PIECE (1u << 20)

/* sendfile(2) from the loop's thread into the non-blocking out_fd, a piece at a time while the
 * pieces are in the page cache. Returns what uco_sendfile returns; or, with *rest set, the
 * bytes it sent (maybe 0) before a piece that is not all cached, or a pair of descriptors
 * sendfile(2) cannot take: the caller sends the rest another way. */
static ssize_t sendfile_direct(int out_fd, int file_fd, int64_t off, size_t len, uint64_t *sent,
                               bool *rest)
{
    *rest = false;
    /* An O_DIRECT file is read from the disk whatever the cache holds. */
    int fl = fcntl(file_fd, F_GETFL);
    if (fl < 0 || (fl & O_DIRECT)) {
        *rest = true;
        return 0;
    }
    size_t done = 0;
    while (done < len) {
        size_t piece = len - done < DIRECT_PIECE ? len - done : DIRECT_PIECE;
        off_t o = (off_t)(off + (int64_t)done);
        if (!range_cached(file_fd, o, piece)) {
            *rest = true; /* a cold piece: never a disk read on the loop's thread */
            break;
        }
        ssize_t m = sendfile(out_fd, file_fd, &o, piece);
        if (m < 0 && errno == EINTR) continue;
        if (m < 0 && errno == EAGAIN) { /* the socket is full: wait for room, holding no thread */
            int r = poll_out(out_fd, false);
            if (r) return r;
            continue;
        }
        if (m < 0) {
            int e = errno;
            if (!done && (e == EINVAL || e == ENOSYS || e == EOPNOTSUPP || e == EPERM)) {
                *rest = true; /* e.g. a file system without splice_read: the pipe way */
                break;
            }
            return -e;
        }
        if (m == 0) break; /* the file's end */
        done += (size_t)m;
        if (sent) *sent += (uint64_t)m;
        if ((size_t)m == piece && done < len) {
            int r = uco_yield();
            if (r) return r;
        }
    }
    return (ssize_t)done;
}

/* Reads [off, off + len) (len <= UCO__COPY_BUF) into a cached buffer and sends it; returns
 * what uco_sendfile returns. Sets *unreadable, sending nothing, when the file cannot be read
 * into our buffer (-EINVAL: an O_DIRECT file whose offset or length does not suit it); the
 * caller splices instead. */
static ssize_t sendfile_copy(struct uco__net *n, int out_fd, bool fixed, int file_fd, int64_t off,
                             size_t len, uint64_t *sent, bool *unreadable)
{
    /* Page-aligned, so that an O_DIRECT file can be read into it where its length suits. */
    char *buf =
        n && n->ncopybufs ? n->copybufs[--n->ncopybufs] : aligned_alloc(4096, UCO__COPY_BUF);
    if (!buf) return -ENOMEM;
    ssize_t got = uco_read_full(file_fd, buf, len, off), res = got; /* short: the file's end */
    *unreadable = got == -EINVAL;
    bool sock = true;
    for (size_t k = 0; got > 0 && k < (size_t)got;) {
        /* A send (MSG_NOSIGNAL: a reset peer must not raise SIGPIPE); a pipe gets a write. */
        ssize_t m = sock ? uco__send(out_fd, fixed, buf + k, (size_t)got - k, 0, false)
                         : uco_write(out_fd, buf + k, (size_t)got - k, -1);
        if (m == -ENOTSOCK && sock && !fixed) {
            sock = false;
            continue;
        }
        if (m <= 0) {
            res = m ? m : -EIO;
            break;
        }
        k += (size_t)m;
        if (sent) *sent += (uint64_t)m;
    }
    if (n && n->ncopybufs < sizeof n->copybufs / sizeof n->copybufs[0])
        n->copybufs[n->ncopybufs++] = buf;
    else
        free(buf);
    return res;
}

ssize_t uco__sendfile(int out_fd, bool fixed, int direct_fd, int file_fd, int64_t off, size_t len,
                      uint64_t *sent)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_sendfile");
    if (off < 0) return -EINVAL;
    int r = uco__await_check(t);
    if (r) return r;
    struct uco__net *n = uco__net_get(t->loop);
    size_t done = 0;
    if (len > UCO__DIRECT_MIN && direct_fd >= 0) {
        bool rest;
        ssize_t c = sendfile_direct(direct_fd, file_fd, off, len, sent, &rest);
        if (!rest) return c;
        done = (size_t)c; /* the cached part went; the rest is read or spliced */
        off += (int64_t)done;
        len -= done;
    }
    ssize_t c = 0;
    bool unreadable = false;
    if (len <= UCO__COPY_BUF)
        c = sendfile_copy(n, out_fd, fixed, file_fd, off, len, sent, &unreadable);
    if (len > UCO__COPY_BUF || unreadable)
        c = sendfile_splice(n, out_fd, fixed, file_fd, off, len, sent);
    return c < 0 ? c : (ssize_t)done + c;
}

ssize_t uco_sendfile(int out_fd, int file_fd, int64_t off, size_t len)
{
    /* sendfile(2) on the loop's thread only where it cannot wait for the reader. */
    int direct = len > UCO__DIRECT_MIN && nonblocking(out_fd) ? out_fd : -1;
    return uco__sendfile(out_fd, false, direct, file_fd, off, len, NULL);
}

/* ---- process set-up ------------------------------------------------------------------ */

long uco_nofile_raise(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return -errno;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) return -errno;
    }
    return rl.rlim_cur > LONG_MAX ? LONG_MAX : (long)rl.rlim_cur;
}
