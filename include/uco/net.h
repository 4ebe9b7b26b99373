/* uco — networking: addresses, sockets, listeners and connections, name resolution.
 *
 * Two levels:
 *   - awaitables on plain socket descriptors (uco_connect, uco_recv, uco_send, uco_sendmsg,
 *     ...), for UDP, Unix sockets and anything the objects below do not cover;
 *   - two objects for stream servers and clients:
 *       uco_listener  a listening socket with one multishot accept armed in the kernel;
 *       uco_conn      a connected stream socket that receives through a shared ring of
 *                     provided buffers (multishot recv): the task is handed a view of the
 *                     received bytes and gives the buffer back when done, so an idle
 *                     connection holds no receive buffer at all.
 *
 * Every call marked "awaits" may only be called from a task (else -EPERM) and returns >= 0 or
 * -errno, with -ECANCELED / -ETIMEDOUT when the task is cancelled or its deadline passes (see
 * <uco/async.h>); deadlines set with uco_deadline_set() apply to every await here.
 * Synchronous calls (marked "does not await") never suspend and work outside tasks too.
 */
#ifndef UCO_NET_H
#define UCO_NET_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <uco/async.h>
#include <uco/io.h>

struct addrinfo;

UCO_BEGIN_DECLS

/* --- Addresses --------------------------------------------------------------------------- */

/* An IPv4, IPv6 or Unix socket address. len == 0 means "no address". */
typedef struct uco_addr {
    socklen_t len;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
        struct sockaddr_storage ss;
    } u;
} uco_addr;

/* Enough for any address uco_addr_format writes, with its NUL. */
#define UCO_ADDR_STRLEN 128

/* Parses a numeric address (no name lookup; see uco_resolve). Accepted forms:
 *   "127.0.0.1:80"  "127.0.0.1" (port = default_port)
 *   "[::1]:80"  "[fe80::1%eth0]:80"  "::1" (bare IPv6, port = default_port)
 *   "unix:/run/x.sock"  "/run/x.sock" (any string starting with '/')
 *   "unix:@name"  "@name" (Linux abstract socket)
 * Returns 0, or -EINVAL (malformed, port beyond 65535, path too long) leaving *a zeroed. */
UCO_API int uco_addr_parse(uco_addr *a, const char *s, uint16_t default_port);

/* Writes "1.2.3.4:80", "[::1]:80", "[fe80::1%2]:80", "unix:/path" or "unix:@name" into buf
 * (NUL-terminated; UCO_ADDR_STRLEN bytes always suffice). uco_addr_parse reads it back to an
 * equal address. Returns the length written, -EAFNOSUPPORT (unknown family or len == 0) or
 * -ENOSPC (buf too small: buf then holds an empty string). */
UCO_API int uco_addr_format(const uco_addr *a, char *buf, size_t len);

/* Copies a sockaddr of len bytes (from getsockname, accept, recvmsg ...). -EINVAL if too long
 * or of an unknown family. */
UCO_API int uco_addr_from_sockaddr(uco_addr *a, const struct sockaddr *sa, socklen_t len);

/* Builds an address from an IPv4 or IPv6 literal (no brackets) and a port; -EINVAL if bad. */
UCO_API int uco_addr_ip(uco_addr *a, const char *ip, uint16_t port);

/* Port of an IPv4/IPv6 address (0 for Unix or empty); sets it (-EAFNOSUPPORT for Unix). */
UCO_API uint16_t uco_addr_port(const uco_addr *a);
UCO_API int uco_addr_set_port(uco_addr *a, uint16_t port);

/* AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC when len == 0. */
UCO_API int uco_addr_family(const uco_addr *a);

/* Same family, address, port (and scope id), or the same Unix path. */
UCO_API bool uco_addr_equal(const uco_addr *a, const uco_addr *b);

/* Local / peer address of a socket descriptor (getsockname / getpeername). Does not await. */
UCO_API int uco_sock_addr(int fd, uco_addr *out);
UCO_API int uco_sock_peer(int fd, uco_addr *out);

/* --- Name resolution (getaddrinfo on the worker pool) ----------------------------------- */

/* Resolves host (a name or a numeric address; NULL = the wildcard address) for port, into up to max
 * addresses in getaddrinfo's order. family is AF_UNSPEC, AF_INET or AF_INET6; socktype SOCK_STREAM
 * or SOCK_DGRAM (0: stream). Awaits (the lookup runs on the worker pool, so the loop keeps
 * running). Returns the number of addresses (>= 1), or: -ENXIO (no such host), -EAGAIN (temporary
 * failure), -EIO (lookup failed), -ENOMEM, -EINVAL (bad arguments), -ECANCELED, -ETIMEDOUT. */
UCO_API int uco_resolve(const char *host, uint16_t port, int family, int socktype, uco_addr *out,
                        size_t max);

/* getaddrinfo(3) run on the worker pool. Returns 0 with *res to be released by freeaddrinfo,
 * or the -errno uco_resolve documents (EAI_* codes mapped to errno). Awaits. */
UCO_API int uco_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res);

/* --- Sockets (descriptor level) --------------------------------------------------------- */

/* socket(2) with SOCK_CLOEXEC. Returns the descriptor or -errno. Does not await. */
UCO_API int uco_socket(int family, int type, int protocol);

/* Socket flags for uco_bind_socket. */
#define UCO_SOCK_REUSEPORT 0x1u /* SO_REUSEPORT: several sockets share the address */
#define UCO_SOCK_V6ONLY    0x2u /* IPv6 socket refuses IPv4-mapped peers */
#define UCO_SOCK_NODELAY   0x4u /* TCP_NODELAY (inherited by accepted sockets) */

/* Creates a socket of type (SOCK_STREAM or SOCK_DGRAM) for addr's family, sets SO_REUSEADDR
 * (IP families) and the flags, binds it to addr, and for SOCK_STREAM listens with backlog
 * (<= 0: SOMAXCONN). A Unix path that exists as a stale socket is NOT removed: unlink it
 * first. Returns the descriptor or -errno. Does not await. */
UCO_API int uco_bind_socket(const uco_addr *addr, int type, int backlog, unsigned flags);

/* Connects fd to addr. Awaits; bounded by the task's deadline (uco_deadline_set).
 * Returns 0 or -errno (-ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH, ...). */
UCO_API int uco_connect(int fd, const uco_addr *addr);

/* Creates a socket of type for addr's family and connects it, giving up at deadline
 * (absolute, uco_now() clock; 0 or UCO_FOREVER: none) with -ETIMEDOUT. TCP sockets get
 * TCP_NODELAY. Returns the connected descriptor (owned by the caller) or -errno; on failure
 * nothing is left open. Awaits. */
UCO_API int uco_dial(const uco_addr *addr, int type, int64_t deadline);

/* One accept (not multishot; see uco_listener for servers). peer may be NULL. Returns the
 * new descriptor (SOCK_CLOEXEC) or -errno. Awaits. */
UCO_API int uco_accept(int fd, uco_addr *peer);

/* recv(2) / send(2). flags as for the system calls (MSG_PEEK, MSG_WAITALL, MSG_MORE...);
 * send adds MSG_NOSIGNAL: a closed peer gives -EPIPE, never SIGPIPE. Return bytes moved
 * (recv: 0 at end of stream), or -errno. Await. */
UCO_API ssize_t uco_recv(int fd, void *buf, size_t len, int flags);
UCO_API ssize_t uco_send(int fd, const void *buf, size_t len, int flags);

/* Sends all len bytes (looping over partial sends) / receives exactly len bytes (looping over
 * partial receives). Return len, or for recv_exact fewer bytes when the peer ended the stream
 * first, or -errno (bytes already moved are then lost to the caller). Await. */
UCO_API ssize_t uco_send_all(int fd, const void *buf, size_t len, int flags);
UCO_API ssize_t uco_recv_exact(int fd, void *buf, size_t len, int flags);

/* recvmsg(2) / sendmsg(2) (sendmsg adds MSG_NOSIGNAL). msg and everything it points to must
 * stay valid until the call returns. Await. */
UCO_API ssize_t uco_recvmsg(int fd, struct msghdr *msg, int flags);
UCO_API ssize_t uco_sendmsg(int fd, const struct msghdr *msg, int flags);

/* Datagram helpers over recvmsg/sendmsg: from may be NULL. Await. */
UCO_API ssize_t uco_recvfrom(int fd, void *buf, size_t len, int flags, uco_addr *from);
UCO_API ssize_t uco_sendto(int fd, const void *buf, size_t len, int flags, const uco_addr *to);

/* Zero-copy send (IORING_OP_SEND_ZC, Linux 6.0+): the kernel sends straight from buf and
 * the call returns once it no longer needs buf (both completions arrived). Worth it only
 * for large buffers on real NICs; on loopback the data is copied anyway (see
 * docs/BENCHMARKS.md). Returns bytes sent or -errno; -EOPNOTSUPP if the kernel lacks it.
 * Awaits. */
UCO_API ssize_t uco_send_zc(int fd, const void *buf, size_t len, int flags);

/* shutdown(2): how is SHUT_RD, SHUT_WR or SHUT_RDWR. Awaits. */
UCO_API int uco_shutdown(int fd, int how);

/* Sends len bytes of file file_fd from offset off to socket (or pipe) out_fd, without a disk
 * read ever stalling the loop. More than 32 KiB, when the whole range is in the page cache and
 * out_fd is non-blocking, go with sendfile(2) on the loop's thread, which then cannot block (a
 * poll waits for room in the socket; cachestat(2) sees no pages of overlayfs files, so those
 * never go this way). Otherwise up to 64 KiB are read into a buffer the loop
 * keeps and sent from there, and more go with splice(2) through a pipe the loop keeps (each
 * splice runs on an io_uring kernel worker; into a blocking out_fd whose reader stalls, that
 * worker waits with it, so make sockets non-blocking: uco_conn's are). Returns the bytes sent
 * (fewer than len only at the file's end) or -errno. Awaits. */
UCO_API ssize_t uco_sendfile(int out_fd, int file_fd, int64_t off, size_t len);

/* --- Buffer pools ----------------------------------------------------------------------- */

/* A ring of equally sized receive buffers that the kernel picks from for every uco_conn
 * receive (provided buffers, one buffer group). Each loop has a default pool, made on first
 * use (UCO_BUFPOOL_DEFAULT_COUNT x UCO_BUFPOOL_DEFAULT_SIZE); make one of your own for other
 * sizes. A pool belongs to the loop that made it. */
typedef struct uco_bufpool uco_bufpool;

#define UCO_BUFPOOL_DEFAULT_COUNT 1024u
#define UCO_BUFPOOL_DEFAULT_SIZE  16384u

/* count: power of two, 1..32768; size: 64 bytes .. 1 MiB. Must be called on the loop's thread
 * (inside a task, or with loop given). Returns 0 or -errno (-EINVAL, -ENOMEM, -EOPNOTSUPP
 * when the kernel lacks buffer rings). Does not await. */
UCO_API int uco_bufpool_new(uco_bufpool **out, uco_loop *loop, unsigned count, unsigned size);
/* Releases the pool once every connection using it is closed (it lingers until then).
 * NULL is a no-op. Does not await. */
UCO_API void uco_bufpool_free(uco_bufpool *p);

/* How full a pool is now, for a server that sheds load before its receive buffers run out
 * (a pool is shared: peers that send but never read can hold every buffer, and then nobody's
 * receive gets one). */
typedef struct uco_bufpool_stats {
    unsigned count;   /* buffers in the pool */
    unsigned free;    /* in the ring now: the kernel can receive into them */
    unsigned starved; /* connections whose receive waits for a buffer (the pool ran dry) */
    uint64_t nobufs;  /* times a receive found the pool empty, since it was made */
} uco_bufpool_stats;
/* Fills *out. Returns 0, or -EINVAL (p or out NULL). Does not await. */
UCO_API int uco_bufpool_stats_get(const uco_bufpool *p, uco_bufpool_stats *out);

/* --- Connections --------------------------------------------------------------------------
 * A uco_conn is a connected stream socket (TCP or Unix) owned by one loop. Rules:
 *   - one task receives at a time; sends from several tasks are queued, one send in flight
 *     per connection, so each task's output goes out whole and in its call order;
 *   - received data arrives in pool buffers. uco_conn_recv_buf hands out a view that stays
 *     valid until uco_conn_buf_release (or close). While a connection holds max_bufs
 *     buffers (received, viewed or queued out), it stops receiving and the peer's TCP window
 *     closes: back-pressure, not memory growth. Kernels that take a byte limit for a
 *     multishot receive (6.18 has it) stop it exactly there; on older ones a burst the kernel
 *     receives before the connection sees it may take more (at most what the socket held).
 *     When the pool runs dry (ENOBUFS) the connection waits for buffers given back by
 *     others. So release views promptly: a task that needs to keep bytes while waiting for
 *     more should copy them (uco_conn_recv);
 *   - uco_conn_close is the last call on c, made when no other task is inside a call on c
 *     (use uco_conn_shutdown to wake a task blocked in a receive). */
typedef struct uco_conn uco_conn;

#define UCO_CONN_MAX_BUFS 8u

/* A view of received bytes inside a pool buffer. The bytes are the caller's until the view
 * is released or sent: they may be rewritten in place, e.g. into a reply, using up to cap
 * bytes from data (and data may move forward within them) before uco_conn_send_buf. */
typedef struct uco_buf {
    char *data;
    size_t len;
    size_t cap;    /* writable bytes from data to the end of the buffer */
    uint32_t priv; /* which buffer: for uco_conn_buf_release */
} uco_buf;

/* How long uco_conn_close lets output queued with uco_conn_send_buf drain before dropping it. */
#define UCO_CONN_LINGER (5 * UCO_SEC)

typedef struct uco_conn_opts {
    uco_bufpool *pool;    /* NULL: the loop's default pool */
    unsigned max_bufs;    /* 0: UCO_CONN_MAX_BUFS */
    uint64_t reserved[4]; /* must be zero */
} uco_conn_opts;

/* Wraps connected stream socket fd (ownership passes to c, also on failure: fd is then
 * closed) and makes it non-blocking (O_NONBLOCK), as accepted connections are. opts may be
 * NULL. Returns 0 or -errno. Does not await; must run on the loop's thread inside a task. */
UCO_API int uco_conn_open(uco_conn **out, int fd, const uco_conn_opts *opts);

/* uco_dial (stream) + uco_conn_open. Awaits. */
UCO_API int uco_conn_dial(uco_conn **out, const uco_addr *addr, int64_t deadline,
                          const uco_conn_opts *opts);

/* Waits for received bytes and puts a view of them in *b: returns b->len (> 0), 0 at end of
 * stream (the peer shut down its side), or -errno (-ECONNRESET ...). Bytes come in order.
 * The view must be given back with uco_conn_buf_release. Awaits. */
UCO_API ssize_t uco_conn_recv_buf(uco_conn *c, uco_buf *b);
/* Gives a view's buffer back to the pool. b is cleared. Does not await. */
UCO_API void uco_conn_buf_release(uco_conn *c, uco_buf *b);

/* Queues view b (as received, or rewritten in place) to be sent after everything sent on c
 * before, and takes its buffer: it goes back to the pool once sent. Does not await: the task
 * goes on at once (an echo or a proxy then needs one task switch per message, not two).
 * Queued buffers count against max_bufs, so a peer that does not read stops our receiving.
 * Returns b's length, or -errno: -EINVAL (not a view of c), or the error of an earlier queued
 * send (-EPIPE, -ECONNRESET...), reported once queued data could not be sent (the buffer is
 * then released). uco_conn_close sends what is queued first (at most UCO_CONN_LINGER). */
UCO_API ssize_t uco_conn_send_buf(uco_conn *c, uco_buf *b);

/* Instead of a task waiting in a receive: starts fn(arg) as a new detached task (opts may
 * be NULL; its deadline and detached fields are ignored) once c has received bytes, reached
 * end of stream or failed, then forgets fn. Until then the connection holds no task and no
 * stack: a server that calls this and returns when a connection goes idle keeps 100,000 idle
 * connections in a few tens of MiB, for the price of a task start per wake-up. If input is
 * already queued, the task starts now. If it cannot be started (out of memory) when input
 * comes, it is tried again after a back-off (10 ms doubling to 1 s); the connection stays
 * open and its owner's. opts is read during the call (its name copied, 31 bytes), not kept.
 * Does not await. Returns 0, -EBUSY (a task is receiving
 * or a start is already asked), -EXDEV (another loop), -EINVAL, -ENOMEM. */
UCO_API int uco_conn_recv_spawn(uco_conn *c, uco_task_fn *fn, void *arg, const uco_task_opts *opts);

/* Copies up to len received bytes into buf (waiting if none are there): > 0 bytes, 0 at end
 * of stream, -errno. Awaits. */
UCO_API ssize_t uco_conn_recv(uco_conn *c, void *buf, size_t len);
/* Copies exactly len bytes, fewer only if the stream ends first. Awaits. */
UCO_API ssize_t uco_conn_recv_exact(uco_conn *c, void *buf, size_t len);

/* One send (may be partial) / all of it / all of iov[0..n) (iov is advanced in place as
 * bytes go out, n <= IOV_MAX). Return bytes sent or -errno (-EPIPE, -ECONNRESET). Await. */
UCO_API ssize_t uco_conn_send(uco_conn *c, const void *buf, size_t len);
UCO_API ssize_t uco_conn_send_all(uco_conn *c, const void *buf, size_t len);
UCO_API ssize_t uco_conn_sendv_all(uco_conn *c, struct iovec *iov, int n);
/* Zero-copy variant of send_all (see uco_send_zc). Awaits. */
UCO_API ssize_t uco_conn_send_zc(uco_conn *c, const void *buf, size_t len);
/* uco_conn_send_all with MSG_MORE: TCP may keep the bytes until the next send on c instead
 * of sending them in a segment of their own. For a head before its body (a response head
 * before a uco_conn_sendfile): a head sent on its own costs the receiver more than its size
 * (see docs/BENCHMARKS.md, "Static files"). Send the rest at once: the bytes wait until then
 * (or until c closes). Awaits. */
UCO_API ssize_t uco_conn_send_more(uco_conn *c, const void *buf, size_t len);
/* Sends len bytes of a file from off (see uco_sendfile; over 32 KiB, sendfile(2) needs a
 * regular descriptor, which a fixed connection is given as by uco_conn_fd). Awaits. */
UCO_API ssize_t uco_conn_sendfile(uco_conn *c, int file_fd, int64_t off, size_t len);

/* shutdown(2) on the connection (SHUT_WR: half-close, the peer sees end of stream). Awaits. */
UCO_API int uco_conn_shutdown(uco_conn *c, int how);

/* Closes the connection: stops receiving, gives every received and viewed buffer back, and
 * closes the socket once what uco_conn_send_buf queued has gone out (at most
 * UCO_CONN_LINGER; called from a cancelled task, the queued output is dropped: the send in
 * flight is cancelled and the socket closed as soon as it ends). Does not await; the
 * memory goes once the kernel has finished with the connection's operations (the loop waits
 * for them before it is freed). NULL is a no-op. */
UCO_API void uco_conn_close(uco_conn *c);

/* A regular descriptor for c, for setsockopt, getpeername and the like. Connections accepted
 * by a listener live in io_uring's fixed-file table (no descriptor of their own); for them
 * one is installed on first call (Linux 6.8+, else -EOPNOTSUPP), and closed with c. Awaits
 * only in that case. Leave it non-blocking: uco_conn_sendfile relies on that. */
UCO_API int uco_conn_fd(uco_conn *c);

/* Connection counters, for tests and tuning. */
typedef struct uco_conn_stats {
    uint64_t bytes_in;
    /* Counted as each send completes, also inside a uco_conn_send_all or uco_conn_sendfile
     * still going on: a watcher can tell a slow reader (it grows) from one that reads nothing. */
    uint64_t bytes_out;
    uint64_t recv_arms; /* multishot receives armed */
    uint64_t nobufs;    /* times the pool was empty */
    uint64_t throttles; /* times max_bufs stopped receiving */
    unsigned bufs_held; /* buffers queued or viewed now */
} uco_conn_stats;
/* Copies c's counters into *out. Returns 0, or -EINVAL (NULL). Does not await; call it on
 * c's loop thread. */
UCO_API int uco_conn_stats_get(const uco_conn *c, uco_conn_stats *out);

/* --- Listeners ----------------------------------------------------------------------------
 * A listening stream socket with one multishot accept armed. Accepted connections queue in
 * the listener until taken with uco_listener_accept. When the process (EMFILE), the system
 * (ENFILE) or the fixed-file table runs out of descriptors, uco_listener_accept reports the
 * error once, then stops accepting for a back-off delay (10 ms doubling up to 1 s, reset by
 * the next success): pending clients wait in the kernel's backlog, nothing spins. */
typedef struct uco_listener uco_listener;

#define UCO_LISTEN_REUSEPORT UCO_SOCK_REUSEPORT
#define UCO_LISTEN_V6ONLY    UCO_SOCK_V6ONLY
#define UCO_LISTEN_NODELAY   UCO_SOCK_NODELAY
/* Accept into regular descriptors instead of io_uring's fixed-file table. Direct (fixed)
 * descriptors save a file lookup per operation and do not count against RLIMIT_NOFILE;
 * regular ones can be handed to other code. The table has RLIMIT_NOFILE slots (as raised
 * before the loop's first listener); when it is full the kernel closes the connection it
 * has just accepted (its client sees the stream end) and the listener backs off, whereas
 * with regular descriptors (EMFILE) clients wait in the backlog. */
#define UCO_LISTEN_FDS       0x100u
/* Keep Nagle's algorithm on accepted TCP connections (TCP_NODELAY is set by default). */
#define UCO_LISTEN_NAGLE     0x200u

typedef struct uco_listen_opts {
    int backlog;          /* <= 0: SOMAXCONN */
    unsigned flags;       /* UCO_LISTEN_* */
    uco_conn_opts conn;   /* options of accepted connections */
    uint64_t reserved[4]; /* must be zero */
} uco_listen_opts;

/* Binds and listens on addr (TCP for IP addresses, stream socket for Unix ones) and arms the
 * accept. opts may be NULL. Must run inside a task. Returns 0 or -errno (-EADDRINUSE ...).
 * Does not await. */
UCO_API int uco_listener_open(uco_listener **out, const uco_addr *addr,
                              const uco_listen_opts *opts);

/* Waits for the next connection. Returns 0 with *out (close it with uco_conn_close), or
 * -errno: -EMFILE / -ENFILE once per exhaustion (then the next call waits out the back-off),
 * -ECANCELED, -ETIMEDOUT, -EBADF if the listener is being closed. Awaits. */
UCO_API int uco_listener_accept(uco_listener *l, uco_conn **out);

/* The bound address (with the real port when bound to port 0). Does not await. */
UCO_API int uco_listener_addr(const uco_listener *l, uco_addr *out);
/* The listening descriptor (to set options). */
UCO_API int uco_listener_fd(const uco_listener *l);

/* Listener counters. */
typedef struct uco_listener_stats {
    uint64_t accepted; /* connections accepted */
    uint64_t arms;     /* multishot accepts armed (1 + re-arms) */
    uint64_t errors;   /* accept errors (EMFILE, ENFILE, ...) */
    uint64_t backoffs; /* back-off pauses */
    unsigned queued;   /* accepted, not yet taken */
} uco_listener_stats;
/* Copies l's counters into *out. Returns 0, or -EINVAL (NULL). Does not await; call it on
 * l's loop thread. */
UCO_API int uco_listener_stats_get(const uco_listener *l, uco_listener_stats *out);

/* Stops accepting, closes queued connections and the socket. A task waiting in accept gets
 * -EBADF. Unix socket paths are not unlinked. Does not await. NULL is a no-op. */
UCO_API void uco_listener_close(uco_listener *l);

/* --- Process set-up ---------------------------------------------------------------------- */

/* Raises RLIMIT_NOFILE's soft limit to its hard limit (servers call it at start, before
 * their first listener, which sizes its fixed-file table from it). Returns the new soft
 * limit, or -errno. */
UCO_API long uco_nofile_raise(void);

UCO_END_DECLS

#endif
