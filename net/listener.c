/* Listeners: one multishot accept per listening socket, an accept queue, and a back-off when
 * descriptors run out.
 *
 * The multishot accept belongs to the listener (counted in flight while armed). Every error
 * ends it; on EMFILE, ENFILE, ENOMEM (any error that is not about one connection only) the
 * listener reports the error to the accepting task once, then re-arms only when a timer of its own
 * fires (10 ms, doubling up to 1 s, reset by a success), so running out of descriptors never turns
 * into a busy loop. Closing cancels the accept; the listener's memory goes at its final completion.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "net/internal.h"

struct uco_listener {
    struct uco__comp comp;
    struct uco_loop *loop;
    int fd;
    bool direct;  /* accepted sockets go to the fixed-file table */
    bool armed;   /* the multishot accept is in flight */
    bool closing; /* freed at the accept's final completion */
    bool backing_off;
    int32_t pending_err; /* reported by the next uco_listener_accept */
    int *q;              /* accepted sockets, a ring of qcap */
    unsigned qcap, qhead, qlen;
    int64_t backoff_ns;
    struct uco__timer backoff_timer;
    struct uco_task *waiter;
    uco_conn_opts copts;
    uco_addr addr;
    uco_listener_stats stats;
};

#define BACKOFF_MIN (10 * UCO_MSEC)
#define BACKOFF_MAX UCO_SEC

static void listener_free(struct uco_listener *l)
{
    if (l->copts.pool) uco__bufpool_unref(l->copts.pool);
    free(l->q);
    free(l);
}

static void wake_waiter(struct uco_listener *l, int res)
{
    struct uco_task *t = l->waiter;
    if (!t) return;
    l->waiter = NULL;
    t->wake_res = res;
    uco__ready(t);
}

static bool queue_push(struct uco_listener *l, int fd)
{
    if (l->qlen == l->qcap) {
        unsigned cap = l->qcap ? l->qcap * 2 : 64;
        int *q = malloc(cap * sizeof *q);
        if (!q) return false;
        for (unsigned i = 0; i < l->qlen; i++)
            q[i] = l->q[(l->qhead + i) % l->qcap];
        free(l->q);
        l->q = q;
        l->qcap = cap;
        l->qhead = 0;
    }
    l->q[(l->qhead + l->qlen) % l->qcap] = fd;
    l->qlen++;
    return true;
}

/* Errors that concern one connection (accept(2) says: treat like EAGAIN): re-arm at once.
 * Every other error (out of descriptors or memory above all) waits before trying again. */
static bool transient(int err)
{
    switch (-err) {
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EAGAIN:
    case EINTR:
        return true;
    default:
        return false;
    }
}

static void accept_complete(struct uco__comp *comp, int32_t res, uint32_t flags)
{
    struct uco_listener *l = UCO__CONTAINER_OF(comp, struct uco_listener, comp);
    if (res >= 0) {
        if (l->closing || !queue_push(l, res)) {
            uco__close_async(l->loop, res, l->direct);
        } else {
            l->stats.accepted++;
            l->backoff_ns = 0;
        }
    } else if (res != -ECANCELED) {
        l->stats.errors++;
        if (!transient(res) && !l->closing) {
            /* Report the first error of an exhaustion; keep quiet while it lasts. */
            if (!l->backoff_ns) l->pending_err = res;
            l->backoff_ns = l->backoff_ns ? l->backoff_ns * 2 : BACKOFF_MIN;
            if (l->backoff_ns > BACKOFF_MAX) l->backoff_ns = BACKOFF_MAX;
            l->backing_off = true;
            l->stats.backoffs++;
            if (uco__timer_arm(&l->loop->timers, &l->backoff_timer, uco__clock() + l->backoff_ns) <
                0)
                l->backing_off = false;
        }
    }
    if (!(flags & IORING_CQE_F_MORE)) {
        uco__inflight_add(l->loop, -1);
        l->armed = false;
        if (l->closing) {
            listener_free(l);
            return;
        }
    }
    if (l->qlen || l->pending_err || !l->armed) wake_waiter(l, 0);
}

static int arm(struct uco_listener *l)
{
    struct io_uring_sqe *sqe = uco__sqe(l->loop);
    if (!sqe) return -EBUSY;
    if (l->direct)
        io_uring_prep_multishot_accept_direct(sqe, l->fd, NULL, NULL, SOCK_NONBLOCK);
    else
        io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    io_uring_sqe_set_data(sqe, &l->comp);
    l->armed = true;
    l->stats.arms++;
    uco__inflight_add(l->loop, 1);
    return 0;
}

static void backoff_fire(struct uco__timer *tm)
{
    struct uco_listener *l = UCO__CONTAINER_OF(tm, struct uco_listener, backoff_timer);
    l->backing_off = false;
    if (!l->armed && !l->closing && l->waiter) arm(l);
}

/* Size of the fixed-file table: the descriptor limit (the kernel's own cap for the table),
 * at most the io_uring maximum. */
static unsigned table_size(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return 1024;
    rlim_t n = rl.rlim_cur;
    if (n > (1u << 20)) n = 1u << 20;
    return (unsigned)n;
}

int uco_listener_open(uco_listener **out, const uco_addr *addr, const uco_listen_opts *opts)
{
    if (!out) return -EINVAL;
    *out = NULL;
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_listener_open");
    if (!addr || !addr->len) return -EINVAL;
    uco_listen_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    for (size_t i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i++)
        if (o.reserved[i]) return -EINVAL;
    for (size_t i = 0; i < sizeof o.conn.reserved / sizeof o.conn.reserved[0]; i++)
        if (o.conn.reserved[i]) return -EINVAL;
    unsigned known = UCO_LISTEN_REUSEPORT | UCO_LISTEN_V6ONLY | UCO_LISTEN_NODELAY |
                     UCO_LISTEN_FDS | UCO_LISTEN_NAGLE;
    if (o.flags & ~known) return -EINVAL;
    if (o.conn.pool && o.conn.pool->loop != t->loop) return -EINVAL;
    unsigned sflags = o.flags & (UCO_SOCK_REUSEPORT | UCO_SOCK_V6ONLY);
    if (!(o.flags & UCO_LISTEN_NAGLE)) sflags |= UCO_SOCK_NODELAY;
    int fd = uco_bind_socket(addr, SOCK_STREAM, o.backlog, sflags);
    if (fd < 0) return fd;
    struct uco_listener *l = calloc(1, sizeof *l);
    if (!l) {
        close(fd);
        return -ENOMEM;
    }
    l->comp.fn = accept_complete;
    l->loop = t->loop;
    l->fd = fd;
    l->copts = o.conn;
    if (l->copts.pool) uco__bufpool_ref(l->copts.pool);
    uco__timer_init(&l->backoff_timer, backoff_fire);
    uco_sock_addr(fd, &l->addr);
    l->direct =
        !(o.flags & UCO_LISTEN_FDS) && uco__ring_files_init(&t->loop->ring, table_size()) == 0;
    int r = arm(l);
    if (r < 0) {
        close(fd);
        listener_free(l);
        return r;
    }
    *out = l;
    return 0;
}

static void accept_interrupt(struct uco_task *t)
{
    struct uco_listener *l = t->park_obj;
    if (l->waiter == t) l->waiter = NULL;
    uco__ready(t);
}

int uco_listener_accept(uco_listener *l, uco_conn **out)
{
    if (!l || !out) return -EINVAL;
    *out = NULL;
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_listener_accept");
    if (t->loop != l->loop) return -EXDEV;
    for (;;) {
        int r = uco__await_check(t);
        if (r) return r;
        if (l->closing) return -EBADF;
        if (l->qlen) {
            int fd = l->q[l->qhead];
            l->qhead = (l->qhead + 1) % l->qcap;
            l->qlen--;
            struct uco_conn *c = uco__conn_new(l->loop, fd, l->direct, &l->copts);
            if (!c) {
                uco__close_async(l->loop, fd, l->direct);
                return -ENOMEM;
            }
            *out = c;
            return 0;
        }
        if (l->pending_err) {
            r = l->pending_err;
            l->pending_err = 0;
            return r;
        }
        if (!l->armed && !l->backing_off) {
            r = arm(l);
            if (r) return r;
        }
        if (l->waiter) return -EBUSY;
        l->waiter = t;
        /* After a wake-up the listener may be gone only if it said so (-EBADF). */
        r = uco__park_user(t, accept_interrupt, l, "accept");
        if (r) return r;
    }
}

int uco_listener_addr(const uco_listener *l, uco_addr *out)
{
    if (!l || !out) return -EINVAL;
    *out = l->addr;
    return 0;
}

int uco_listener_fd(const uco_listener *l)
{
    return l ? l->fd : -EINVAL;
}

int uco_listener_stats_get(const uco_listener *l, uco_listener_stats *out)
{
    if (!l || !out) return -EINVAL;
    *out = l->stats;
    out->queued = l->qlen;
    return 0;
}

void uco_listener_close(uco_listener *l)
{
    if (!l || l->closing) return;
    l->closing = true;
    uco__timer_disarm(&l->loop->timers, &l->backoff_timer);
    for (; l->qlen; l->qlen--) {
        uco__close_async(l->loop, l->q[l->qhead], l->direct);
        l->qhead = (l->qhead + 1) % l->qcap;
    }
    wake_waiter(l, -EBADF);
    uco__close_async(l->loop, l->fd, false);
    if (l->armed) {
        struct io_uring_sqe *sqe = uco__sqe(l->loop);
        if (sqe) {
            l->loop->internal++;
            io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&l->comp, 0);
            io_uring_sqe_set_data(sqe, &l->loop->ignore_comp);
        }
        return; /* freed by accept_complete */
    }
    listener_free(l);
}
