/* Connections, the send side: one send in flight per connection (a lock with a FIFO of
 * waiting tasks), the lock holder's send completing into the connection, and the queue of
 * buffers sent out with no task waiting (uco_conn_send_buf). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "net/internal.h"

/* ---- the send side: one send in flight, in call order ------------------------------------ */

static void send_interrupt(struct uco_task *t)
{
    struct uco_conn *c = t->park_obj;
    struct uco__send_waiter **pp = &c->send_head, *prev = NULL;
    while (*pp && (*pp)->task != t) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        if (c->send_tail == *pp) c->send_tail = prev;
        *pp = (*pp)->next;
    }
    uco__ready(t);
}

static void send_unlock(struct uco_conn *c);

static int send_lock(struct uco_conn *c)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_conn_send");
    int r = uco__await_check(t);
    if (r) return r;
    if (c->send_err) return c->send_err;
    if (!c->sending) {
        c->sending = true;
        return 0;
    }
    struct uco__send_waiter w = {.task = t, .next = NULL};
    if (c->send_tail)
        c->send_tail->next = &w;
    else
        c->send_head = &w;
    c->send_tail = &w;
    r = uco__park_user(t, send_interrupt, c, "conn send turn"); /* 0: the lock is ours */
    if (r == 0 && c->send_err) {
        r = c->send_err;
        send_unlock(c);
    }
    return r;
}

static void out_start(struct uco_conn *c);

static void send_unlock(struct uco_conn *c)
{
    /* Buffers queued out while a task held the lock go next. */
    if (c->out_head != UCO__NOBUF && !c->send_err) {
        c->out_active = true;
        out_start(c);
        return;
    }
    struct uco__send_waiter *w = c->send_head;
    if (!w) {
        c->sending = false;
        return;
    }
    c->send_head = w->next;
    if (!c->send_head) c->send_tail = NULL;
    w->task->wake_res = 0;
    uco__ready(w->task); /* hands the lock over */
}

/* The send of the lock holder completes into the connection, not into an op record on the
 * task's stack: the task parks on the connection and the completion wakes it directly. An
 * interrupted task asks the kernel to cancel and still waits for the completion, so the
 * buffer is never used after the call returned (rule 1 of DESIGN.md). */
static void out_sent(struct uco_conn *c, int32_t res);

void uco__conn_send_complete(struct uco__comp *comp, int32_t res, uint32_t flags)
{
    struct uco_conn *c = UCO__CONTAINER_OF(comp, struct uco_conn, send_comp);
    uco__inflight_add(c->loop, -1);
    if (c->out_active) {
        out_sent(c, res);
        return;
    }
    c->send_res = res;
    struct uco_task *t = c->send_task;
    c->send_task = NULL;
    t->wake_res = 0;
    uco__ready(t);
}

static void send_wait_interrupt(struct uco_task *t)
{
    struct uco_conn *c = t->park_obj;
    if (c->send_cancelled) return;
    c->send_cancelled = true;
    struct io_uring_sqe *sqe = uco__internal_sqe(c->loop);
    if (!sqe) return; /* the send still completes; we just wait longer */
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&c->send_comp, 0);
    io_uring_sqe_set_data(sqe, &c->loop->ignore_comp);
}

/* Submits the prepared send SQE on c and waits for it. The caller holds the send lock and
 * checked the task (uco__await_check) before taking the SQE. */
static ssize_t conn_await_send(struct uco_conn *c, struct uco_task *t, struct io_uring_sqe *sqe)
{
    if (c->fixed) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data(sqe, &c->send_comp);
    uco__inflight_add(c->loop, 1);
    c->send_task = t;
    c->send_cancelled = false;
    int r = uco__park_user(t, send_wait_interrupt, c, "conn send");
    ssize_t res = c->send_res;
    if (r < 0 && uco__res_interrupted(res)) res = r;
    return res;
}

static ssize_t conn_send_once(struct uco_conn *c, const void *buf, size_t len, int flags)
{
    struct uco_task *t = uco__self();
    int err = uco__await_check(t);
    if (UCO__UNLIKELY(err)) return err;
    /* Fault rules apply to operation records: let the generic path take them. */
    if (UCO__UNLIKELY(c->loop->faults.n)) return uco__send(c->fd, c->fixed, buf, len, flags, false);
    struct io_uring_sqe *sqe = uco__sqe(c->loop);
    if (UCO__UNLIKELY(!sqe)) return -EBUSY;
    io_uring_prep_send(sqe, c->fd, buf, len > UCO_IO_MAX ? UCO_IO_MAX : len, MSG_NOSIGNAL | flags);
    return conn_await_send(c, t, sqe);
}

/* ---- buffers queued out (uco_conn_send_buf): sent in order with no task waiting -------- */

/* Starts the send of the out queue's head. Inlined into uco_conn_send_buf, which runs it for
 * every buffer sent to an idle connection (the call cost a register save of its own); out_start
 * below for the other callers, whose common paths it would only make heavier. */
static inline __attribute__((always_inline)) void out_start_inline(struct uco_conn *c)
{
    struct uco_bufpool *p = c->pool;
    uint16_t bid = c->out_head;
    struct io_uring_sqe *sqe = uco__sqe(c->loop);
    if (!sqe) {
        out_sent(c, -EBUSY);
        return;
    }
    io_uring_prep_send(sqe, c->fd, p->mem + (size_t)bid * p->size + p->off[bid], p->len[bid],
                       MSG_NOSIGNAL);
    if (c->fixed) sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data(sqe, &c->send_comp);
    uco__inflight_add(c->loop, 1);
}

static __attribute__((noinline)) void out_start(struct uco_conn *c)
{
    out_start_inline(c);
}

/* Gives the buffers queued out from bid on back to the pool. */
static void out_drop(struct uco_conn *c, uint16_t bid)
{
    struct uco_bufpool *p = c->pool;
    for (uint16_t next; bid != UCO__NOBUF; bid = next) {
        next = p->next[bid];
        c->nbufs--;
        uco__bufpool_put(p, bid);
    }
}

static void out_sent(struct uco_conn *c, int32_t res)
{
    struct uco_bufpool *p = c->pool;
    uint16_t bid = c->out_head;
    if (res > 0) {
        c->stats.bytes_out += (uint64_t)res;
        p->off[bid] += (uint32_t)res;
        p->len[bid] -= (uint32_t)res;
        if (p->len[bid] == 0) {
            c->out_head = p->next[bid];
            if (c->out_head == UCO__NOBUF) c->out_tail = UCO__NOBUF;
            c->nbufs--;
            uco__bufpool_put(p, bid);
        }
    }
    if (res <= 0 || c->out_abort) {
        /* The rest cannot go out, or is given up (even if this send made it before its
         * cancel): drop it; the next send call reports why. */
        if (!c->send_err) c->send_err = res < 0 ? res : -EIO;
        out_drop(c, c->out_head);
        c->out_head = c->out_tail = UCO__NOBUF;
    }
    if (c->out_head != UCO__NOBUF) {
        out_start(c);
        return;
    }
    c->out_active = false;
    if (c->closing) {
        uco__conn_finish_close(c);
        return;
    }
    send_unlock(c);
    uco__conn_maybe_arm(c); /* fewer buffers held: a throttled receive may go on */
}

void uco__conn_out_abort(struct uco_conn *c, int32_t err)
{
    if (!c->out_active) return;
    c->out_abort = true;
    if (!c->send_err) c->send_err = err;
    struct uco_bufpool *p = c->pool;
    uint16_t rest = p->next[c->out_head]; /* behind the send in flight */
    p->next[c->out_head] = UCO__NOBUF;
    c->out_tail = c->out_head;
    out_drop(c, rest);
    struct io_uring_sqe *sqe = uco__internal_sqe(c->loop);
    if (!sqe) {
        /* No SQE for the cancel now: try again shortly (the linger timer is free). */
        uco__timer_arm(&c->loop->timers, &c->linger, uco__clock() + 10 * UCO_MSEC);
        return;
    }
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&c->send_comp, 0);
    io_uring_sqe_set_data(sqe, &c->loop->ignore_comp);
}

ssize_t uco_conn_send_buf(uco_conn *c, uco_buf *b)
{
    if (!c || !b || !b->data || c->closing) return -EINVAL;
    struct uco_bufpool *p = c->pool;
    uint16_t bid = (uint16_t)b->priv;
    char *base = p->mem + (size_t)bid * p->size;
    if (bid >= p->count || b->data < base || b->len > p->size ||
        (size_t)(b->data - base) > p->size - b->len || !uco__conn_unhold(c, b))
        return -EINVAL;
    size_t len = b->len;
    uint32_t off = (uint32_t)(b->data - base);
    memset(b, 0, sizeof *b);
    if (c->send_err || len == 0) {
        ssize_t err = c->send_err;
        c->nbufs--;
        uco__bufpool_put(p, bid);
        uco__conn_maybe_arm(c);
        return err;
    }
    p->off[bid] = off;
    p->len[bid] = (uint32_t)len;
    uco__chain_push(p, &c->out_head, &c->out_tail, bid);
    if (!c->sending) {
        c->sending = true;
        c->out_active = true;
        out_start_inline(c);
    }
    /* else: the queue's own send chain or the task holding the lock starts it */
    return (ssize_t)len;
}

static ssize_t send_loop(struct uco_conn *c, const void *buf, size_t len, bool all, bool zc,
                         int flags)
{
    if (!c || (!buf && len) || c->closing) return -EINVAL;
    int r = send_lock(c);
    if (r) return r;
    const char *p = buf;
    size_t done = 0;
    ssize_t err = 0;
    do {
        ssize_t n = zc ? uco__send(c->fd, c->fixed, p + done, len - done, 0, true)
                       : conn_send_once(c, p + done, len - done, flags);
        if (n < 0) {
            err = n;
            break;
        }
        if (n == 0 && len) {
            err = -EIO;
            break;
        }
        done += (size_t)n;
        c->stats.bytes_out += (uint64_t)n; /* as it goes: progress a watcher can see */
    } while (all && done < len);
    send_unlock(c);
    return err ? err : (ssize_t)done;
}

ssize_t uco_conn_send(uco_conn *c, const void *buf, size_t len)
{
    return send_loop(c, buf, len, false, false, 0);
}

ssize_t uco_conn_send_all(uco_conn *c, const void *buf, size_t len)
{
    return send_loop(c, buf, len, true, false, 0);
}

ssize_t uco_conn_send_more(uco_conn *c, const void *buf, size_t len)
{
    return send_loop(c, buf, len, true, false, MSG_MORE);
}

ssize_t uco_conn_send_zc(uco_conn *c, const void *buf, size_t len)
{
    return send_loop(c, buf, len, true, true, 0);
}

static ssize_t sendmsg_await(struct uco_conn *c, struct msghdr *msg)
{
    struct uco_task *t = uco__self();
    int err = uco__await_check(t);
    if (err) return err;
    struct io_uring_sqe *sqe = uco__sqe(c->loop);
    if (!sqe) return -EBUSY;
    io_uring_prep_sendmsg(sqe, c->fd, msg, MSG_NOSIGNAL);
    if (UCO__UNLIKELY(c->loop->faults.n)) {
        if (c->fixed) sqe->flags |= IOSQE_FIXED_FILE;
        return uco__await_sqe(t, sqe, UCO_OP_SENDMSG, c->fd, NULL);
    }
    return conn_await_send(c, t, sqe);
}

ssize_t uco_conn_sendv_all(uco_conn *c, struct iovec *iov, int n)
{
    if (!c || n < 0 || n > IOV_MAX || (!iov && n) || c->closing) return -EINVAL;
    int r = send_lock(c);
    if (r) return r;
    size_t done = 0;
    ssize_t err = 0;
    for (;;) {
        while (n > 0 && iov->iov_len == 0) {
            iov++;
            n--;
        }
        if (n == 0) break;
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t m = sendmsg_await(c, &msg);
        if (m <= 0) {
            err = m ? m : -EIO;
            break;
        }
        done += (size_t)m;
        c->stats.bytes_out += (uint64_t)m;
        for (size_t left = (size_t)m; left;) {
            size_t k = left < iov->iov_len ? left : iov->iov_len;
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= k;
            left -= k;
            if (iov->iov_len == 0 && left) {
                iov++;
                n--;
            }
        }
    }
    send_unlock(c);
    return err ? err : (ssize_t)done;
}

ssize_t uco_conn_sendfile(uco_conn *c, int file_fd, int64_t off, size_t len)
{
    if (!c || c->closing) return -EINVAL;
    /* A large transfer from a cached file goes with sendfile(2), which needs a regular
     * descriptor: one is installed for a fixed connection (kept until it closes; it shares the
     * connection's O_NONBLOCK, which uco_conn_open and the listener's accept set). Without
     * one (an old kernel, a full descriptor table) the pipe way still works. */
    int direct = -1;
    if (len > UCO__DIRECT_MIN) {
        direct = c->real_fd >= 0 ? c->real_fd : uco_conn_fd(c);
        if (direct == -ECANCELED || direct == -ETIMEDOUT) return direct;
        if (direct < 0) direct = -1;
    }
    int r = send_lock(c);
    if (r) return r;
    ssize_t n = uco__sendfile(c->fd, c->fixed, direct, file_fd, off, len, &c->stats.bytes_out);
    send_unlock(c);
    return n;
}
