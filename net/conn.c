/* Connections: a stream socket receiving through a multishot recv over a provided-buffer
 * ring, with per-connection back-pressure, one send in flight at a time, and a queue of
 * received buffers sent back out without a task waiting.
 *
 * The multishot receive belongs to the connection, not to a task: it stays armed while the
 * task does other things, its CQEs queue buffers on the connection, and it is counted in the
 * loop's in-flight operations while armed. It stops (final CQE without IORING_CQE_F_MORE) at
 * end of stream, on an error, when the pool is empty (-ENOBUFS: the connection then waits on
 * the pool's starved list), when the connection holds max_bufs buffers (its byte limit, or our
 * cancel: back-pressure), or on close. The send in flight completes into the connection too
 * (send_comp): it wakes the task that waits for it, or moves the out queue on. A closed
 * connection is freed once neither is in flight (maybe_free). */
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/internal.h"

/* ---- the receive side ------------------------------------------------------------------ */

static void conn_free(struct uco_conn *c)
{
    uco__bufpool_unref(c->pool);
    free(c);
}

/* A closed connection's memory goes once neither its receive nor a send is in flight. */
static bool maybe_free(struct uco_conn *c)
{
    if (!c->fd_closed || c->recv_state != UCO__RECV_IDLE || c->out_active) return false;
    conn_free(c);
    return true;
}

/* Queues an SQE nobody waits for, accounted as the loop's internal work. */
struct io_uring_sqe *uco__internal_sqe(struct uco_loop *l)
{
    struct io_uring_sqe *sqe = uco__sqe(l);
    if (!sqe) return NULL;
    l->internal++;
    return sqe;
}

static void cancel_recv(struct uco_conn *c)
{
    struct io_uring_sqe *sqe = uco__internal_sqe(c->loop);
    if (!sqe) return; /* the receive still ends at close or end of stream */
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&c->recv_comp, 0);
    io_uring_sqe_set_data(sqe, &c->loop->ignore_comp);
    c->recv_state = UCO__RECV_CANCELLING;
}

void uco__close_async(struct uco_loop *l, int fd, bool fixed)
{
    struct io_uring_sqe *sqe = uco__internal_sqe(l);
    if (!sqe) {
        if (!fixed) close(fd);
        return;
    }
    if (fixed)
        io_uring_prep_close_direct(sqe, (unsigned)fd);
    else
        io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data(sqe, &l->ignore_comp);
}

static void spawn_receiver(struct uco_conn *c)
{
    uco_task_opts o = {.stack_size = c->spawn_stack, .name = c->spawn_name, .detached = true};
    if (uco_loop_spawn(c->loop, NULL, c->spawn_fn, c->spawn_arg, &o) == 0) {
        c->spawn_fn = NULL;
        c->spawn_backoff = 0;
        return;
    }
    /* Out of memory for a task: keep the request and try again after a back-off (10 ms
     * doubling to 1 s), as the listener does when descriptors run out. The connection stays
     * its owner's: closing it here would leave the owner holding a dangling pointer. */
    c->spawn_backoff = c->spawn_backoff ? c->spawn_backoff * 2 : 10 * UCO_MSEC;
    if (c->spawn_backoff > UCO_SEC) c->spawn_backoff = UCO_SEC;
    uco__timer_arm(&c->loop->timers, &c->spawn_retry, uco__clock() + c->spawn_backoff);
}

static void spawn_retry_fire(struct uco__timer *tm)
{
    struct uco_conn *c = UCO__CONTAINER_OF(tm, struct uco_conn, spawn_retry);
    if (c->spawn_fn && !c->closing) spawn_receiver(c);
}

/* Input (or its end) arrived: wake the task waiting for it, or start the one asked for. */
static void wake_receiver(struct uco_conn *c)
{
    if (UCO__UNLIKELY(c->spawn_fn != NULL)) {
        spawn_receiver(c);
        return;
    }
    struct uco_task *t = c->recv_waiter;
    if (!t) return;
    c->recv_waiter = NULL;
    t->wake_res = 0;
    /* Nothing is read from t: with a task per connection its cache line is likely cold, and
     * stores to it do not stall. A task that receives in a loop parks where it did last time. */
    uco__ready_in(c->loop, t, c->recv_sp);
}

static uint16_t queue_pop(struct uco_conn *c)
{
    uint16_t bid = c->q_head;
    c->q_head = c->pool->next[bid];
    if (c->q_head == UCO__NOBUF) c->q_tail = UCO__NOBUF;
    c->head_off = 0;
    return bid;
}

static void recv_complete(struct uco__comp *comp, int32_t res, uint32_t flags)
{
    struct uco_conn *c = UCO__CONTAINER_OF(comp, struct uco_conn, recv_comp);
    struct uco_bufpool *p = c->pool;
    if (UCO__UNLIKELY(c->recv_forced)) { /* a fault rule made the receive a NOP */
        res = c->recv_forced;
        flags = 0;
        c->recv_forced = 0;
    }
    if (flags & IORING_CQE_F_BUFFER) {
        uint16_t bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
        p->in_ring--;
        if (res > 0 && !c->closing) {
            p->len[bid] = (uint32_t)res;
            uco__chain_push(p, &c->q_head, &c->q_tail, bid);
            c->nbufs++;
            c->stats.bytes_in += (uint64_t)res;
        } else {
            uco__bufpool_put(p, bid);
        }
    } else if (res == 0) {
        c->eof = true;
    } else if (res == -ENOBUFS) {
        c->stats.nobufs++;
        p->nobufs++;
    } else if (res < 0 && res != -ECANCELED && !c->recv_err) {
        c->recv_err = res;
    }
    if (!(flags & IORING_CQE_F_MORE)) {
        uco__inflight_add(c->loop, -1);
        c->recv_state = UCO__RECV_IDLE;
        if (c->closing) {
            maybe_free(c);
            return;
        }
        if (res == -ENOBUFS) {
            /* Buffers given back since the kernel found the ring empty would never wake
             * us: re-arm at once if there are some, else wait for the next one back. */
            if (p->in_ring)
                uco__conn_arm(c);
            else
                uco__bufpool_starve(p, c);
        } else {
            if (res > 0 && c->nbufs >= c->max_bufs) c->stats.throttles++; /* limit reached */
            /* Stopped by our cancel (back-pressure), its byte limit or the kernel (CQ
             * overflow): go on receiving if the connection is below its cap again, whether
             * or not its task is waiting right now. */
            uco__conn_maybe_arm(c);
        }
    } else if (c->nbufs >= c->max_bufs && c->recv_state == UCO__RECV_ARMED) {
        c->stats.throttles++;
        cancel_recv(c); /* back-pressure: the socket buffer and the peer's window fill up */
    }
    if (c->q_head != UCO__NOBUF || c->eof || c->recv_err) wake_receiver(c);
}

void uco__conn_arm(struct uco_conn *c)
{
    if (c->recv_state != UCO__RECV_IDLE || c->closing || c->eof || c->recv_err) return;
    struct io_uring_sqe *sqe = uco__sqe(c->loop);
    if (!sqe) {
        c->recv_err = -EBUSY;
        wake_receiver(c);
        return;
    }
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT | (c->fixed ? IOSQE_FIXED_FILE : 0);
    sqe->buf_group = c->pool->ring.bgid;
    /* Where the kernel has it, a byte limit ends the receive after max_bufs full buffers,
     * so one burst cannot empty the pool: the cap is then hard for floods. The receive is
     * armed again as the task consumes. Whether the kernel has it was asked once, when the
     * ring was set up: older kernels refuse the field (-EINVAL), and a receive must never
     * find that out for itself, as connections racing through such a probe would take each
     * other's answer (or a receive's own -EINVAL) for the kernel's. */
    if (c->loop->ring.recv_limit) {
        uint64_t lim = (uint64_t)c->max_bufs * c->pool->size;
        sqe->file_index = lim > UINT32_MAX ? UINT32_MAX : (uint32_t)lim;
    }
    io_uring_sqe_set_data(sqe, &c->recv_comp);
    if (UCO__UNLIKELY(c->loop->faults.n)) {
        /* Fault rules for UCO_OP_RECV apply to the multishot receive too: a failed one ends at
         * once with the rule's error (its only CQE, without F_MORE). No rule makes a copy of
         * a receive's SQE, so there is no memory to free later. */
        int32_t forced = 0;
        void *mem = NULL;
        if (uco__fault_apply(&c->loop->faults, UCO_OP_RECV, c->fd, sqe, &forced, &mem) ==
            UCO__FAULT_FAIL)
            c->recv_forced = forced;
        free(mem);
    }
    c->recv_state = UCO__RECV_ARMED;
    c->stats.recv_arms++;
    uco__inflight_add(c->loop, 1);
}

static void recv_interrupt(struct uco_task *t)
{
    struct uco_conn *c = t->park_obj;
    if (c->recv_waiter == t) c->recv_waiter = NULL;
    uco__ready(t);
}

/* Waits until c has a queued buffer: 1, or 0 at end of stream, or -errno. Inlined into its two
 * callers: every receive runs it, and the call cost them both a second register save. */
static inline __attribute__((always_inline)) int wait_data(struct uco_conn *c, const char *name)
{
    struct uco_task *t = uco__self();
    if (UCO__UNLIKELY(!t)) return uco__not_in_task(name);
    for (;;) {
        int r = uco__await_check(t);
        if (UCO__UNLIKELY(r)) return r;
        if (c->q_head != UCO__NOBUF) return 1;
        if (c->recv_err) return c->recv_err;
        if (c->eof) return 0;
        if (c->nheld >= c->max_bufs) return -ENOBUFS; /* all held as views: release some */
        if (c->recv_waiter) return -EBUSY;            /* another task is receiving */
        uco__conn_maybe_arm(c);
        c->recv_waiter = t;
        r = uco__park_user(t, recv_interrupt, c, "conn recv");
        c->recv_sp = uco__ctx_sp(&t->ctx);
        if (c->recv_waiter == t) c->recv_waiter = NULL;
        if (r < 0) return r;
    }
}

ssize_t uco_conn_recv_buf(uco_conn *c, uco_buf *b)
{
    if (!c || !b || c->closing) return -EINVAL;
    int r = wait_data(c, "uco_conn_recv_buf");
    if (r <= 0) {
        memset(b, 0, sizeof *b);
        return r;
    }
    struct uco_bufpool *p = c->pool;
    uint32_t off = c->head_off;
    uint16_t bid = queue_pop(c);
    p->next[bid] = c->held;
    c->held = bid;
    c->nheld++;
    b->data = p->mem + (size_t)bid * p->size + off;
    b->len = p->len[bid] - off;
    b->cap = p->size - off;
    b->priv = bid;
    uco__conn_maybe_arm(c); /* keeps the receive armed while the task works */
    return (ssize_t)b->len;
}

bool uco__conn_unhold_walk(struct uco_conn *c, uint16_t bid)
{
    struct uco_bufpool *p = c->pool;
    uint16_t *pp = &c->held;
    while (*pp != UCO__NOBUF && *pp != bid)
        pp = &p->next[*pp];
    if (*pp == UCO__NOBUF) return false;
    *pp = p->next[bid];
    c->nheld--;
    return true;
}

void uco_conn_buf_release(uco_conn *c, uco_buf *b)
{
    if (!c || !b || !b->data || c->closing) return;
    uint16_t bid = (uint16_t)b->priv;
    bool mine = uco__conn_unhold(c, b);
    memset(b, 0, sizeof *b);
    if (!mine) return;
    c->nbufs--;
    uco__bufpool_put(c->pool, bid);
    uco__conn_maybe_arm(c);
}

int uco_conn_recv_spawn(uco_conn *c, uco_task_fn *fn, void *arg, const uco_task_opts *opts)
{
    if (!c || !fn || c->closing || (opts && opts->stack_size > ((size_t)1 << 30))) return -EINVAL;
    if (c->recv_waiter || c->spawn_fn) return -EBUSY;
    if (uco__tls_loop != c->loop) return -EXDEV;
    c->spawn_fn = fn;
    c->spawn_arg = arg;
    c->spawn_stack = opts ? opts->stack_size : 0;
    /* Copied: the task may start long after this returns. */
    uco__name_copy(c->spawn_name, opts ? opts->name : NULL);
    if (c->q_head != UCO__NOBUF || c->eof || c->recv_err) {
        uco_task_opts o = {.stack_size = c->spawn_stack, .name = c->spawn_name, .detached = true};
        c->spawn_fn = NULL;
        return uco_loop_spawn(c->loop, NULL, fn, arg, &o);
    }
    uco__conn_maybe_arm(c);
    return 0;
}

ssize_t uco_conn_recv(uco_conn *c, void *buf, size_t len)
{
    if (!c || (!buf && len) || c->closing) return -EINVAL;
    if (len == 0) return 0;
    int r = wait_data(c, "uco_conn_recv");
    if (r <= 0) return r;
    struct uco_bufpool *p = c->pool;
    char *out = buf;
    size_t done = 0;
    /* Copy from every queued buffer, not just the first: no need to wait once bytes are in. */
    while (done < len && c->q_head != UCO__NOBUF) {
        uint16_t bid = c->q_head;
        size_t avail = p->len[bid] - c->head_off;
        size_t n = len - done < avail ? len - done : avail;
        memcpy(out + done, p->mem + (size_t)bid * p->size + c->head_off, n);
        done += n;
        c->head_off += (uint32_t)n;
        if (c->head_off == p->len[bid]) {
            queue_pop(c);
            c->nbufs--;
            uco__bufpool_put(p, bid);
        }
    }
    uco__conn_maybe_arm(c);
    return (ssize_t)done;
}

ssize_t uco_conn_recv_exact(uco_conn *c, void *buf, size_t len)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = uco_conn_recv(c, p + done, len - done);
        if (n < 0) return n;
        if (n == 0) break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int uco_conn_shutdown(uco_conn *c, int how)
{
    if (!c || c->closing) return -EINVAL;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return -EINVAL;
    UCO__AWAIT_BEGIN("uco_conn_shutdown");
    io_uring_prep_shutdown(sqe, c->fd, how);
    if (c->fixed) sqe->flags |= IOSQE_FIXED_FILE;
    return (int)uco__await_sqe(t, sqe, UCO_OP_SHUTDOWN, c->fd, NULL);
}

/* ---- life ---------------------------------------------------------------------------------- */

struct uco_conn *uco__conn_new(struct uco_loop *l, int fd, bool fixed, const uco_conn_opts *o)
{
    struct uco_bufpool *pool = o ? o->pool : NULL;
    if (!pool) {
        struct uco__net *n = uco__net_get(l);
        if (!n) return NULL;
        if (!n->default_pool && uco_bufpool_new(&n->default_pool, l, UCO_BUFPOOL_DEFAULT_COUNT,
                                                UCO_BUFPOOL_DEFAULT_SIZE) < 0)
            return NULL;
        pool = n->default_pool;
    }
    struct uco_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->recv_comp.fn = recv_complete;
    c->send_comp.fn = uco__conn_send_complete;
    uco__timer_init(&c->linger, uco__conn_linger_fire);
    uco__timer_init(&c->spawn_retry, spawn_retry_fire);
    c->loop = l;
    c->pool = pool;
    uco__bufpool_ref(pool);
    c->fd = fd;
    c->real_fd = fixed ? -1 : fd;
    c->fixed = fixed;
    c->max_bufs = o && o->max_bufs ? o->max_bufs : UCO_CONN_MAX_BUFS;
    if (c->max_bufs > pool->count / 2) c->max_bufs = pool->count / 2 ? pool->count / 2 : 1;
    c->q_head = c->q_tail = c->held = c->out_head = c->out_tail = UCO__NOBUF;
    return c;
}

static bool opts_ok(const uco_conn_opts *o)
{
    if (!o) return true;
    for (size_t i = 0; i < sizeof o->reserved / sizeof o->reserved[0]; i++)
        if (o->reserved[i]) return false;
    return !o->pool || o->pool->loop == uco__tls_loop;
}

int uco_conn_open(uco_conn **out, int fd, const uco_conn_opts *opts)
{
    if (!out) return -EINVAL;
    *out = NULL;
    struct uco_task *t = uco__self();
    int r = 0;
    if (!t)
        r = uco__not_in_task("uco_conn_open");
    else if (fd < 0)
        r = -EBADF;
    else if (!opts_ok(opts))
        r = -EINVAL;
    /* Non-blocking, as accepted connections are: a splice into the socket (uco_conn_sendfile)
     * then never holds an io_uring worker while the peer does not read. io_uring's own
     * sends and receives never block the loop either way. */
    int fl = r ? 0 : fcntl(fd, F_GETFL);
    if (!r && fl < 0) r = -errno;
    if (!r && !(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) r = -errno;
    if (!r) {
        *out = uco__conn_new(t->loop, fd, false, opts);
        if (!*out) r = -ENOMEM;
    }
    if (r && fd >= 0) close(fd);
    return r;
}

int uco_conn_dial(uco_conn **out, const uco_addr *addr, int64_t deadline, const uco_conn_opts *opts)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (!opts_ok(opts)) return -EINVAL;
    int fd = uco_dial(addr, SOCK_STREAM, deadline);
    if (fd < 0) return fd;
    return uco_conn_open(out, fd, opts);
}

/* Closes the socket once no output is queued, and frees the connection once nothing is in
 * flight. Idempotent: the socket is closed once, whoever calls it again (a second close would
 * hit whatever reused the descriptor's number or fixed slot). */
void uco__conn_finish_close(struct uco_conn *c)
{
    if (!c->fd_closed) {
        uco__timer_disarm(&c->loop->timers, &c->linger);
        c->fd_closed = true;
        uco__close_async(c->loop, c->fd, c->fixed);
        if (c->recv_state == UCO__RECV_ARMED) cancel_recv(c);
    }
    maybe_free(c);
}

/* Queued output that did not drain in time (a peer that does not read): give it up. */
void uco__conn_linger_fire(struct uco__timer *tm)
{
    uco__conn_out_abort(UCO__CONTAINER_OF(tm, struct uco_conn, linger), -ETIMEDOUT);
}

void uco_conn_close(uco_conn *c)
{
    if (!c || c->closing) return;
    uco__bufpool_unstarve(c->pool, c);
    c->closing = true; /* before giving buffers back: the pool must not re-arm us */
    c->spawn_fn = NULL;
    uco__timer_disarm(&c->loop->timers, &c->spawn_retry);
    unsigned dropped = 0;
    for (uint16_t *chain[2] = {&c->q_head, &c->held}, i = 0; i < 2; i++) {
        for (uint16_t b = *chain[i], next; b != UCO__NOBUF; b = next, dropped++) {
            next = c->pool->next[b];
            uco__bufpool_put(c->pool, b);
        }
        *chain[i] = UCO__NOBUF;
    }
    c->q_tail = UCO__NOBUF;
    c->nbufs -= dropped;
    c->nheld = 0;
    if (c->fixed && c->real_fd >= 0) close(c->real_fd);
    if (c->recv_state == UCO__RECV_ARMED) cancel_recv(c); /* no more input wanted */
    if (c->out_active) {
        /* Output queued with uco_conn_send_buf still goes out before the socket closes, for at
         * most UCO_CONN_LINGER; a cancelled task's close (or one whose linger cannot be timed)
         * cancels it now. Either way the send in flight completes into out_sent, and that
         * completion alone finishes the close. */
        struct uco_task *t = uco__self();
        if (t && t->cancel_res)
            uco__conn_out_abort(c, t->cancel_res);
        else if (uco__timer_arm(&c->loop->timers, &c->linger, uco__clock() + UCO_CONN_LINGER) < 0)
            uco__conn_out_abort(c, -ENOMEM);
        return;
    }
    uco__conn_finish_close(c);
}

int uco_conn_fd(uco_conn *c)
{
    if (!c || c->closing) return -EINVAL;
    if (c->real_fd >= 0) return c->real_fd;
    struct uco_loop *l = uco__tls_loop;
    if (!l || !uco__ring_has_op(&l->ring, UCO__IORING_OP_FIXED_FD_INSTALL)) return -EOPNOTSUPP;
    UCO__AWAIT_BEGIN("uco_conn_fd");
    io_uring_prep_rw(UCO__IORING_OP_FIXED_FD_INSTALL, sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    int r = (int)uco__await_sqe(t, sqe, UCO_OP_OTHER, c->fd, NULL);
    if (r >= 0) c->real_fd = r;
    return r;
}

int uco_conn_stats_get(const uco_conn *c, uco_conn_stats *out)
{
    if (!c || !out) return -EINVAL;
    *out = c->stats;
    out->bufs_held = c->nbufs;
    return 0;
}
