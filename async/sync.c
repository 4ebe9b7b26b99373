/* Mutex, condition variable, semaphore and channel for the tasks of a thread's loop
 * (uco/sync.h), and the wait queues under them (the copy engine's too).
 *
 * One shape for all four: a FIFO of waiters, each a record on its task's stack, parked with
 * uco__park_user, or in a started channel op, which a hand-off completes. A waker hands the waiter
 * what it waits for (the lock, a unit, a value) before making it runnable, so a task woken is never
 * robbed by one that runs first, and an interrupt (cancel, deadline) that comes after the hand-off
 * finds the task no longer parked: it only marks it, and what was handed stays handed. An interrupt
 * that comes first unlinks the waiter, which then took nothing. No lock is needed: all of it runs
 * on the loop's thread. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "async/internal.h"
#include "uco/sync.h"

static void wq_push(struct uco__waitq *q, struct uco__waiter *w)
{
    w->q = q;
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

static void wq_unlink(struct uco__waiter *w)
{
    struct uco__waitq *q = w->q;
    if (!q) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->q = NULL;
}

static void wq_interrupt(struct uco_task *t)
{
    wq_unlink(t->park_obj);
    uco__ready(t);
}

int uco__wq_wait(struct uco__waitq *q, struct uco__waiter *w, struct uco_task *t, const char *what)
{
    w->task = t;
    w->op = NULL;
    wq_push(q, w);
    return uco__park_user(t, wq_interrupt, w, what);
}

void uco__wq_wait_uninterruptible(struct uco__waitq *q, struct uco__waiter *w, struct uco_task *t,
                                  const char *what)
{
    w->task = t;
    w->op = NULL;
    wq_push(q, w);
    t->wake_res = 0;
    t->park = UCO__PK_USER;
    t->park_obj = w;
    t->park_what = what;
    t->interrupt_fn = NULL; /* interrupts only mark the task */
    t->state = UCO__TS_PARKED;
    uco__park(t);
}

struct uco__waiter *uco__wq_wake(struct uco__waitq *q, int res)
{
    struct uco__waiter *w = q->head;
    if (!w) return NULL;
    wq_unlink(w);
    if (w->op) {
        uco__op_finish(w->op, res);
    } else {
        w->task->wake_res = res;
        uco__ready(w->task);
    }
    return w;
}

void uco__wq_wake_all(struct uco__waitq *q, int res)
{
    while (uco__wq_wake(q, res)) {
    }
}

/* The thread an object belongs to: bound by the first task that uses it (its loop's thread).
 * Tasks of loops of one thread may share it: they never run at once (a thread runs one loop
 * at a time). No loop pointer is kept: an object may outlive the loop (uco_run's) that first
 * used it, and be freed or used again afterwards on that thread. */
struct owner {
    pthread_t thread;
    bool bound;
};

static int owner_check(struct owner *o, struct uco_task *self)
{
    /* A task runs on its loop's thread: its loop says which, without a call. */
    pthread_t me = self ? self->loop->thread : pthread_self();
    if (!o->bound) {
        if (self) {
            o->thread = me;
            o->bound = true;
        }
        return 0;
    }
    return pthread_equal(o->thread, me) ? 0 : -EXDEV;
}

/* For awaiting calls: 0 with *self set, or the -errno to return. */
static int await_enter(struct owner *o, struct uco_task **self, const char *fn)
{
    struct uco_task *t = *self = uco__self();
    if (!t) return uco__not_in_task(fn);
    int r = owner_check(o, t);
    return r ? r : uco__await_check(t);
}

/* ---- mutex ----------------------------------------------------------------------------- */

struct uco_mutex {
    struct owner own;
    struct uco_task *holder;
    struct uco__waitq q;
};

int uco_mutex_new(uco_mutex **out)
{
    if (!out) return -EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

int uco_mutex_free(uco_mutex *m)
{
    if (!m) return 0;
    int r = owner_check(&m->own, uco__self());
    if (r) return r;
    if (m->holder || m->q.head) return -EBUSY;
    free(m);
    return 0;
}

int uco_mutex_lock(uco_mutex *m)
{
    if (!m) return -EINVAL;
    struct uco_task *t;
    int r = await_enter(&m->own, &t, "uco_mutex_lock");
    if (r) return r;
    if (m->holder == t) return -EDEADLK;
    if (!m->holder) {
        m->holder = t;
        return 0;
    }
    struct uco__waiter w;
    return uco__wq_wait(&m->q, &w, t, "mutex"); /* 0: unlock made us the holder */
}

int uco_mutex_trylock(uco_mutex *m)
{
    if (!m) return -EINVAL;
    struct uco_task *t = uco__self();
    if (!t) return -EPERM; /* only a task holds a lock (no message: trylock does not await) */
    int r = owner_check(&m->own, t);
    if (r) return r;
    if (m->holder) return -EBUSY;
    m->holder = t;
    return 0;
}

/* Passes the lock on to the first waiter, or frees it. */
static void mutex_release(uco_mutex *m)
{
    struct uco__waiter *w = uco__wq_wake(&m->q, 0);
    m->holder = w ? w->task : NULL;
}

int uco_mutex_unlock(uco_mutex *m)
{
    if (!m) return -EINVAL;
    struct uco_task *t = uco__self();
    int r = owner_check(&m->own, t);
    if (r) return r;
    if (!t || m->holder != t) return -EPERM;
    mutex_release(m);
    return 0;
}

/* ---- condition variable ---------------------------------------------------------------- */

struct uco_cond {
    struct owner own;
    struct uco__waitq q;
};

int uco_cond_new(uco_cond **out)
{
    if (!out) return -EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

int uco_cond_free(uco_cond *c)
{
    if (!c) return 0;
    int r = owner_check(&c->own, uco__self());
    if (r) return r;
    if (c->q.head) return -EBUSY;
    free(c);
    return 0;
}

/* Takes m back after a wait on a condition, whatever happened meanwhile: an interrupted task
 * must still return holding it (its caller will unlock it). */
static void mutex_relock(uco_mutex *m, struct uco_task *t)
{
    if (!m->holder) {
        m->holder = t;
        return;
    }
    struct uco__waiter w; /* the holder will hand it over */
    uco__wq_wait_uninterruptible(&m->q, &w, t, "mutex (after a condition)");
}

int uco_cond_wait(uco_cond *c, uco_mutex *m)
{
    if (!c || !m) return -EINVAL;
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_cond_wait");
    int r = owner_check(&c->own, t);
    if (!r) r = owner_check(&m->own, t);
    if (r) return r;
    if (m->holder != t) return -EPERM;
    r = uco__await_check(t);
    if (r) return r; /* (still holding m) */
    mutex_release(m);
    struct uco__waiter w;
    r = uco__wq_wait(&c->q, &w, t, "condition");
    mutex_relock(m, t);
    return r;
}

int uco_cond_signal(uco_cond *c)
{
    if (!c) return -EINVAL;
    int r = owner_check(&c->own, uco__self());
    if (r) return r;
    uco__wq_wake(&c->q, 0);
    return 0;
}

int uco_cond_broadcast(uco_cond *c)
{
    if (!c) return -EINVAL;
    int r = owner_check(&c->own, uco__self());
    if (r) return r;
    uco__wq_wake_all(&c->q, 0);
    return 0;
}

/* ---- semaphore ------------------------------------------------------------------------- */

struct uco_sem {
    struct owner own;
    unsigned units;
    struct uco__waitq q;
};

int uco_sem_new(uco_sem **out, unsigned units)
{
    if (!out) return -EINVAL;
    *out = calloc(1, sizeof **out);
    if (!*out) return -ENOMEM;
    (*out)->units = units;
    return 0;
}

int uco_sem_free(uco_sem *s)
{
    if (!s) return 0;
    int r = owner_check(&s->own, uco__self());
    if (r) return r;
    if (s->q.head) return -EBUSY;
    free(s);
    return 0;
}

int uco_sem_acquire(uco_sem *s)
{
    if (!s) return -EINVAL;
    struct uco_task *t;
    int r = await_enter(&s->own, &t, "uco_sem_acquire");
    if (r) return r;
    if (s->units) { /* (never while tasks wait: release hands units to them) */
        s->units--;
        return 0;
    }
    struct uco__waiter w;
    return uco__wq_wait(&s->q, &w, t, "semaphore"); /* 0: release handed us its unit */
}

int uco_sem_try_acquire(uco_sem *s)
{
    if (!s) return -EINVAL;
    int r = owner_check(&s->own, uco__self());
    if (r) return r;
    if (!s->units) return -EAGAIN;
    s->units--;
    return 0;
}

int uco_sem_release(uco_sem *s)
{
    if (!s) return -EINVAL;
    int r = owner_check(&s->own, uco__self());
    if (r) return r;
    if (uco__wq_wake(&s->q, 0)) return 0;
    if (s->units == UINT_MAX) return -EOVERFLOW;
    s->units++;
    return 0;
}

unsigned uco_sem_units(const uco_sem *s)
{
    return s ? s->units : 0;
}

/* ---- channel --------------------------------------------------------------------------- */

#define CHAN_ELEM_MAX 65536
#define CHAN_CAP_MAX  (1u << 24)

struct uco_chan {
    struct owner own;
    size_t esize, cap;
    size_t head, n; /* the values in buf: n of them from slot head on, wrapping */
    bool closed;
    struct uco__waitq sendq, recvq; /* never both non-empty */
    unsigned char *buf;             /* cap slots of esize bytes */
};

int uco_chan_new(uco_chan **out, size_t elem_size, size_t capacity)
{
    if (!out) return -EINVAL;
    *out = NULL;
    if (elem_size == 0 || elem_size > CHAN_ELEM_MAX || capacity > CHAN_CAP_MAX) return -EINVAL;
    struct uco_chan *ch = calloc(1, sizeof *ch);
    if (!ch) return -ENOMEM;
    if (capacity && !(ch->buf = malloc(elem_size * capacity))) {
        free(ch);
        return -ENOMEM;
    }
    ch->esize = elem_size;
    ch->cap = capacity;
    *out = ch;
    return 0;
}

int uco_chan_free(uco_chan *ch)
{
    if (!ch) return 0;
    int r = owner_check(&ch->own, uco__self());
    if (r) return r;
    if (ch->sendq.head || ch->recvq.head) return -EBUSY;
    free(ch->buf);
    free(ch);
    return 0;
}

/* The i-th value from head, i < cap (without a division's latency). */
static void *slot(uco_chan *ch, size_t i)
{
    size_t k = ch->head + i;
    if (k >= ch->cap) k -= ch->cap;
    return ch->buf + k * ch->esize;
}

/* Sends without waiting: 0, or -EAGAIN (it would wait), -EPIPE. */
static int chan_put(uco_chan *ch, const void *elem)
{
    if (ch->closed) return -EPIPE;
    struct uco__waiter *w = ch->recvq.head; /* receivers wait only on an empty channel */
    if (w) {
        memcpy(w->data, elem, ch->esize);
        uco__wq_wake(&ch->recvq, 0);
        return 0;
    }
    if (ch->n == ch->cap) return -EAGAIN;
    memcpy(slot(ch, ch->n), elem, ch->esize);
    ch->n++;
    return 0;
}

/* Receives without waiting: 0, or -EAGAIN, -EPIPE (closed and empty). */
static int chan_take(uco_chan *ch, void *out)
{
    struct uco__waiter *w = ch->sendq.head;
    if (ch->n) {
        memcpy(out, slot(ch, 0), ch->esize);
        if (++ch->head == ch->cap) ch->head = 0;
        ch->n--;
        if (w) { /* the longest-waiting sender's value takes the freed slot */
            memcpy(slot(ch, ch->n), w->data, ch->esize);
            ch->n++;
            uco__wq_wake(&ch->sendq, 0);
        }
        return 0;
    }
    if (w) { /* capacity 0: straight from the sender */
        memcpy(out, w->data, ch->esize);
        uco__wq_wake(&ch->sendq, 0);
        return 0;
    }
    return ch->closed ? -EPIPE : -EAGAIN;
}

int uco_chan_send(uco_chan *ch, const void *elem)
{
    if (!ch || !elem) return -EINVAL;
    struct uco_task *t;
    int r = await_enter(&ch->own, &t, "uco_chan_send");
    if (r) return r;
    r = chan_put(ch, elem);
    if (r != -EAGAIN) return r;
    struct uco__waiter w = {.data = (void *)elem};
    return uco__wq_wait(&ch->sendq, &w, t, "channel send"); /* 0: taken; -EPIPE: closed */
}

int uco_chan_recv(uco_chan *ch, void *out)
{
    if (!ch || !out) return -EINVAL;
    struct uco_task *t;
    int r = await_enter(&ch->own, &t, "uco_chan_recv");
    if (r) return r;
    r = chan_take(ch, out);
    if (r != -EAGAIN) return r;
    struct uco__waiter w = {.data = out};
    return uco__wq_wait(&ch->recvq, &w, t, "channel receive"); /* 0: a sender wrote out */
}

int uco_chan_try_send(uco_chan *ch, const void *elem)
{
    if (!ch || !elem) return -EINVAL;
    int r = owner_check(&ch->own, uco__self());
    return r ? r : chan_put(ch, elem);
}

int uco_chan_try_recv(uco_chan *ch, void *out)
{
    if (!ch || !out) return -EINVAL;
    int r = owner_check(&ch->own, uco__self());
    return r ? r : chan_take(ch, out);
}

int uco_chan_close(uco_chan *ch)
{
    if (!ch) return -EINVAL;
    int r = owner_check(&ch->own, uco__self());
    if (r) return r;
    if (ch->closed) return -EPIPE;
    ch->closed = true;
    uco__wq_wake_all(&ch->sendq, -EPIPE);
    uco__wq_wake_all(&ch->recvq, -EPIPE);
    return 0;
}

/* ---- channel ops: a send or receive started now and waited for later ------------------- */

/* Starts op (kind) on ch for the calling task: done at once when a send or receive would not
 * wait, else queued with data (the value, or where it goes) until a partner, a close or a
 * cancel ends it. */
static int chan_op_start(uco_op *uop, uco_chan *ch, void *data, unsigned kind)
{
    if (!uop || !ch || !data) return -EINVAL;
    struct uco_task *t;
    int r = await_enter(&ch->own, &t,
                        kind == UCO_OP_CHAN_SEND ? "uco_op_chan_send" : "uco_op_chan_recv");
    if (r) return r;
    struct uco__op *op = uco__op_of(uop);
    memset(op, 0, sizeof *op);
    op->task = t;
    op->kind = (uint8_t)kind;
    op->fd = -1;
    r = kind == UCO_OP_CHAN_SEND ? chan_put(ch, data) : chan_take(ch, data);
    if (r != -EAGAIN) {
        op->state = UCO__OS_DONE;
        op->result = r;
    } else {
        op->state = UCO__OS_INFLIGHT;
        struct uco__waiter *w = &op->u.chan.w;
        w->task = t;
        w->op = op;
        w->data = data;
        wq_push(kind == UCO_OP_CHAN_SEND ? &ch->sendq : &ch->recvq, w);
    }
    uco__op_start_other(t, op);
    return 0;
}

int uco_op_chan_send(uco_op *op, uco_chan *ch, const void *elem)
{
    return chan_op_start(op, ch, (void *)elem, UCO_OP_CHAN_SEND);
}

int uco_op_chan_recv(uco_op *op, uco_chan *ch, void *out)
{
    return chan_op_start(op, ch, out, UCO_OP_CHAN_RECV);
}

void uco__chan_op_cancel(struct uco__op *op)
{
    struct uco__waiter *w = &op->u.chan.w;
    if (op->state != UCO__OS_INFLIGHT || !w->q) return; /* done: what it moved stays moved */
    wq_unlink(w);
    uco__op_finish(op, -ECANCELED);
}

size_t uco_chan_len(const uco_chan *ch)
{
    return ch ? ch->n : 0;
}
