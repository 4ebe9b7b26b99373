/* net/ — private types shared by the net layer's files. */
#ifndef UCO_NET_INTERNAL_H
#define UCO_NET_INTERNAL_H

#include <uco/net.h>

#include "async/internal.h"

#define UCO__NOBUF 0xffffu /* "no buffer" in the per-buffer links below */

/* A pool of provided receive buffers: one buffer ring (group) of count buffers of size bytes.
 * Buffers a connection holds (queued or viewed) are chained through next[], so a connection
 * needs no memory of its own per buffer. */
struct uco_bufpool {
    struct uco_loop *loop;
    struct uco__bufring ring;
    char *mem;
    unsigned count, size;
    uint16_t *next;   /* next buffer in a connection's chain */
    uint32_t *len;    /* bytes received into each buffer (left to send, when queued out) */
    uint32_t *off;    /* where the bytes to send start, in a buffer queued out */
    unsigned refs;    /* 1 for the owner (until uco_bufpool_free) + 1 per connection */
    bool freed;       /* uco_bufpool_free was called */
    unsigned in_ring; /* buffers the kernel can take now */
    /* connections whose receive stopped for lack of buffers, re-armed as buffers come back */
    struct uco_conn *starved_head, *starved_tail;
    unsigned nstarved; /* connections on that list */
    uint64_t nobufs;   /* receives that found the ring empty */
};

/* A task waiting for its turn to send on a connection. */
struct uco__send_waiter {
    struct uco_task *task;
    struct uco__send_waiter *next;
};

enum { UCO__RECV_IDLE = 0, UCO__RECV_ARMED, UCO__RECV_CANCELLING };

struct uco_conn {
    struct uco__comp recv_comp; /* the multishot recv's completion */
    struct uco__comp send_comp; /* the send in flight (one at a time, by the lock holder) */
    struct uco_task *send_task; /* the task waiting for send_comp */
    int32_t send_res;
    bool send_cancelled;
    bool out_active;             /* the buffers queued out hold the send lock; one is in flight */
    bool out_abort;              /* queued output given up for good (sticky): drop, send no more */
    bool fd_closed;              /* the socket's close was issued (it waits for queued output) */
    uint16_t out_head, out_tail; /* buffers queued by uco_conn_send_buf, through pool->next */
    uint16_t nheld;              /* views the task holds */
    int32_t send_err;            /* a queued send failed: reported by the next send call */
    struct uco__timer linger;    /* close with output queued: how long it may take */
    struct uco_loop *loop;
    struct uco_bufpool *pool;
    int fd;      /* regular descriptor, or fixed-file slot when fixed */
    int real_fd; /* installed regular descriptor for a fixed one, or -1 */
    bool fixed;
    bool closing; /* uco_conn_close called: free on the receive's final CQE */
    bool eof;     /* the stream ended (after the queued bytes) */
    bool starved; /* on the pool's starved list */
    uint8_t recv_state;
    int32_t recv_err;    /* error that ended the stream, reported after the queued bytes */
    int32_t recv_forced; /* fault injection: the armed receive is a NOP reporting this */
    unsigned max_bufs;
    unsigned nbufs;          /* buffers queued + viewed */
    uint16_t q_head, q_tail; /* received, not yet handed out */
    uint16_t held;           /* viewed (handed out), chained through pool->next */
    uint32_t head_off;       /* bytes of q_head already copied out by uco_conn_recv */
    struct uco_task *recv_waiter;
    void *recv_sp; /* where the receiving task's stack stood when it last parked (prefetch) */
    uco_task_fn *spawn_fn; /* uco_conn_recv_spawn: start this task when input comes */
    void *spawn_arg;
    size_t spawn_stack;
    /* copied: the caller's string may be gone when the task starts */
    char spawn_name[UCO__NAME_SIZE];
    struct uco__timer spawn_retry; /* the task could not be started: try again after back-off */
    int64_t spawn_backoff;
    bool sending;
    struct uco__send_waiter *send_head, *send_tail;
    struct uco_conn *starved_next;
    uco_conn_stats stats;
};

/* The net layer's per-loop state. */
struct uco__net {
    struct uco_bufpool *default_pool;
    struct uco__pipe {
        int fd[2];
        int size; /* its capacity in bytes */
    } pipes[32];  /* cached pipes for uco_sendfile's splices */
    unsigned npipes;
    void *copybufs[64]; /* cached UCO__COPY_BUF buffers for uco_sendfile's copies */
    unsigned ncopybufs;
};

/* uco_sendfile copies transfers up to this size (read, then send) instead of splicing. */
#define UCO__COPY_BUF   (64u << 10)
/* ... and sends larger ones from a range all in the page cache with sendfile(2). */
#define UCO__DIRECT_MIN (32u << 10)

/* The loop's net state (created on first use), or NULL when out of memory. */
struct uco__net *uco__net_get(struct uco_loop *l);

/* Takes / drops a reference to a pool (freeing it on the last one). */
void uco__bufpool_ref(struct uco_bufpool *p);
void uco__bufpool_unref(struct uco_bufpool *p);
/* Re-arms the first starved connection (a buffer just came back). */
void uco__bufpool_rearm_starved(struct uco_bufpool *p);
/* Gives buffer bid back to the kernel and re-arms a starved connection if one waits. Inline:
 * every buffer received comes back through here. */
static inline void uco__bufpool_put(struct uco_bufpool *p, uint16_t bid)
{
    uco__bufring_put(&p->ring, p->mem + (size_t)bid * p->size, p->size, bid);
    p->in_ring++;
    if (UCO__UNLIKELY(p->starved_head != NULL)) uco__bufpool_rearm_starved(p);
}
/* Puts c on / takes it off the pool's starved list. */
void uco__bufpool_starve(struct uco_bufpool *p, struct uco_conn *c);
void uco__bufpool_unstarve(struct uco_bufpool *p, struct uco_conn *c);

/* Arms c's multishot receive (used by the pool when buffers come back). */
void uco__conn_arm(struct uco_conn *c);
/* Makes a connection object for an accepted socket (fixed slot or regular descriptor).
 * Returns NULL when out of memory (the caller closes the socket). */
struct uco_conn *uco__conn_new(struct uco_loop *l, int fd, bool fixed, const uco_conn_opts *o);

/* Appends buffer bid to a chain (a connection's receive or out queue) linked through
 * p->next. */
static inline void uco__chain_push(struct uco_bufpool *p, uint16_t *head, uint16_t *tail,
                                   uint16_t bid)
{
    p->next[bid] = UCO__NOBUF;
    if (*tail != UCO__NOBUF)
        p->next[*tail] = bid;
    else
        *head = bid;
    *tail = bid;
}

/* Shared by the receive (conn.c) and send (conn_send.c) sides of a connection: */
/* An SQE nobody waits for, counted as the loop's internal work (NULL: none to be had). */
struct io_uring_sqe *uco__internal_sqe(struct uco_loop *l);
/* Arms the receive if it is stopped for a reason that no longer holds. Inline: called after
 * every receive and every send completion, and it is almost always still armed. */
static inline void uco__conn_maybe_arm(struct uco_conn *c)
{
    if (c->recv_state == UCO__RECV_IDLE && !c->starved && c->nbufs < c->max_bufs) uco__conn_arm(c);
}
/* Takes buffer bid off c's held list; false if it is not on it. */
bool uco__conn_unhold_walk(struct uco_conn *c, uint16_t bid);
/* Takes view b's buffer off c's held list; false if b is not a view of c. Inline for the
 * common case, the buffer received last (the head of the list): a task that echoes or
 * forwards each buffer as it comes holds only that one. */
static inline bool uco__conn_unhold(struct uco_conn *c, const uco_buf *b)
{
    uint16_t bid = (uint16_t)b->priv;
    if (UCO__LIKELY(bid != UCO__NOBUF && c->held == bid)) {
        c->held = c->pool->next[bid];
        c->nheld--;
        return true;
    }
    return uco__conn_unhold_walk(c, bid);
}
/* Closes the socket (output has drained) and frees c once nothing is in flight. */
void uco__conn_finish_close(struct uco_conn *c);
/* The send completion (send_comp) and the close linger timer. */
void uco__conn_send_complete(struct uco__comp *comp, int32_t res, uint32_t flags);
void uco__conn_linger_fire(struct uco__timer *tm);
/* Gives up the output queued with uco_conn_send_buf for good (the linger ran out, a cancelled
 * task closes): what waits behind the send in flight goes back to the pool now, that send is
 * cancelled, and its completion drops whatever is left whatever it reports. err is what the
 * next send call on c reports. */
void uco__conn_out_abort(struct uco_conn *c, int32_t err);

/* Queues an SQE that closes fd (a fixed slot when fixed) with nobody waiting for it. */
void uco__close_async(struct uco_loop *l, int fd, bool fixed);

/* Parks t until something calls uco__ready on it; not interruptible (close paths). */
void uco__park_nointr(struct uco_task *t, void *obj, const char *what);

/* Send with the fixed-file flag when fixed; zero-copy when zc. Awaits. */
ssize_t uco__send(int fd, bool fixed, const void *buf, size_t len, int flags, bool zc);
/* uco_sendfile's work; fixed: out_fd is a fixed slot; direct_fd: a regular, non-blocking
 * descriptor for the same socket, for sendfile(2) on the loop's thread, or -1; sent
 * (may be NULL) counts the bytes as each piece goes into the socket. Awaits. */
ssize_t uco__sendfile(int out_fd, bool fixed, int direct_fd, int file_fd, int64_t off, size_t len,
                      uint64_t *sent);

#endif
