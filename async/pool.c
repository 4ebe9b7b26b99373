/* The worker pool (Task.Run): threads shared by every loop of the process run blocking or
 * CPU-heavy functions. A finished job goes back to its loop through the loop's inbox: a
 * lock-free list plus an eventfd that the loop keeps a read armed on, written only when the
 * list was empty, so a burst of completions costs one wake-up. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "async/internal.h"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct uco__op *head, *tail; /* queued jobs (u.work.qnext / qprev) */
    size_t queued;               /* jobs in that queue */
    unsigned threads, idle, max;
    bool atfork;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0, 0, false};

#define POOL_DEFAULT_MAX 8
#define POOL_LIMIT       1024

/* In a forked child the workers are gone: start afresh. */
static void pool_atfork_child(void)
{
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.cv, NULL);
    pool.head = pool.tail = NULL;
    pool.queued = 0;
    pool.threads = pool.idle = 0;
}

static unsigned default_max(void)
{
    const char *env = getenv("UCO_WORKERS");
    if (env) {
        long v = strtol(env, NULL, 10);
        if (v >= 1 && v <= POOL_LIMIT) return (unsigned)v;
    }
    return POOL_DEFAULT_MAX;
}

int uco_pool_set_max(unsigned threads)
{
    if (threads < 1 || threads > POOL_LIMIT) return -EINVAL;
    pthread_mutex_lock(&pool.mu);
    pool.max = threads;
    pthread_mutex_unlock(&pool.mu);
    return 0;
}

/* The pool's queue and each group's are lists of ops through u.work.qnext / qprev. */
static void list_push(struct uco__op **head, struct uco__op **tail, struct uco__op *op)
{
    op->u.work.qnext = NULL;
    op->u.work.qprev = *tail;
    if (*tail)
        (*tail)->u.work.qnext = op;
    else
        *head = op;
    *tail = op;
}

static void list_remove(struct uco__op **head, struct uco__op **tail, struct uco__op *op)
{
    if (op->u.work.qprev)
        op->u.work.qprev->u.work.qnext = op->u.work.qnext;
    else
        *head = op->u.work.qnext;
    if (op->u.work.qnext)
        op->u.work.qnext->u.work.qprev = op->u.work.qprev;
    else
        *tail = op->u.work.qprev;
    op->u.work.qnext = op->u.work.qprev = NULL;
}

/* Caller holds pool.mu. */
static void unqueue(struct uco__op *op)
{
    list_remove(&pool.head, &pool.tail, op);
    op->u.work.queued = false;
    pool.queued--;
}

/* Caller holds pool.mu. */
static void enqueue(struct uco__op *op)
{
    list_push(&pool.head, &pool.tail, op);
    pool.queued++;
    op->u.work.queued = true;
}

/* A job of group g ended or was taken back: the next one waiting in g goes to the pool's
 * queue (the worker that ran the ended one takes it without sleeping). Caller holds pool.mu. */
static void group_done(struct uco__pool_group *g)
{
    struct uco__op *op = g->head;
    if (!op) {
        g->running--;
        return;
    }
    list_remove(&g->head, &g->tail, op); /* takes the ended one's place: running stays */
    op->u.work.waiting = false;
    enqueue(op);
}

static void *worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (!pool.head) {
            pool.idle++;
            pthread_cond_wait(&pool.cv, &pool.mu);
            pool.idle--;
        }
        struct uco__op *op = pool.head;
        unqueue(op);
        pthread_mutex_unlock(&pool.mu);
        op->result = op->u.work.fn(op->u.work.arg);
        /* Before the post: once posted, the op (and the group's owner) may be gone. */
        struct uco__pool_group *g = op->u.work.group;
        if (g) {
            pthread_mutex_lock(&pool.mu);
            group_done(g);
            pthread_mutex_unlock(&pool.mu);
        }
        uco__inbox_post(op->task->loop, op);
        pthread_mutex_lock(&pool.mu);
    }
    return NULL;
}

/* Caller holds pool.mu. */
static int spawn_worker(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Workers take no signals: they belong to the application's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int r = pthread_create(&th, &attr, worker_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r) return -r;
    pthread_setname_np(th, "uco-worker");
    pool.threads++;
    return 0;
}

static int pool_submit(struct uco_loop *l, struct uco__op *op, struct uco__pool_group *g)
{
    op->u.work.group = g;
    op->u.work.waiting = false;
    pthread_mutex_lock(&pool.mu);
    if (!pool.atfork) {
        pthread_atfork(NULL, NULL, pool_atfork_child);
        pool.atfork = true;
    }
    if (!pool.max) pool.max = default_max();
    bool wait = g && g->running >= g->max;
    /* A thread counts as idle until it wakes and takes a job, so idle threads cover only as
     * many queued jobs as there are of them: start another one for the rest. */
    if (!wait && pool.idle <= pool.queued && pool.threads < pool.max) {
        int r = spawn_worker();
        if (r < 0 && pool.threads == 0) {
            pthread_mutex_unlock(&pool.mu);
            return r; /* no thread at all: the job could never run */
        }
    }
    bool wake = false;
    if (wait) {
        /* Waits in the group's queue until one of its running jobs ends. */
        op->u.work.queued = false;
        op->u.work.waiting = true;
        list_push(&g->head, &g->tail, op);
    } else {
        if (g) g->running++;
        enqueue(op);
        wake = pool.idle > 0;
    }
    pthread_mutex_unlock(&pool.mu);
    /* After unlocking: a worker woken while we hold the lock would only block on it again. */
    if (wake) pthread_cond_signal(&pool.cv);
    l->jobs_pending++;
    uco__inbox_arm(l);
    return 0;
}

int uco__pool_submit(struct uco_loop *l, struct uco__op *op)
{
    return pool_submit(l, op, NULL);
}

bool uco__pool_cancel(struct uco__op *op)
{
    pthread_mutex_lock(&pool.mu);
    struct uco__pool_group *g = op->u.work.group;
    bool queued = op->u.work.queued, waiting = op->u.work.waiting;
    if (queued) {
        unqueue(op);
        if (g) {
            group_done(g); /* the next of the group takes its place */
            pthread_cond_signal(&pool.cv);
        }
    } else if (waiting) {
        list_remove(&g->head, &g->tail, op);
        op->u.work.waiting = false;
    }
    pthread_mutex_unlock(&pool.mu);
    return queued || waiting;
}

void uco__inbox_post(struct uco_loop *l, struct uco__op *op)
{
    /* Once op is on the list the loop may take it (a uco_loop_stop also writes the eventfd),
     * let its task end and free itself before we wrote the wake-up below: uco_loop_free
     * waits until no worker is between these two lines. */
    atomic_fetch_add_explicit(&l->inbox_posting, 1, memory_order_relaxed);
    struct uco__op *old = atomic_load_explicit(&l->inbox_head, memory_order_relaxed);
    do {
        op->u.work.done_next = old;
    } while (!atomic_compare_exchange_weak_explicit(&l->inbox_head, &old, op, memory_order_release,
                                                    memory_order_relaxed));
    if (!old) uco__inbox_wake(l);
    atomic_fetch_sub_explicit(&l->inbox_posting, 1, memory_order_release);
}

void uco__inbox_drain(struct uco_loop *l)
{
    struct uco__op *list = atomic_exchange_explicit(&l->inbox_head, NULL, memory_order_acquire);
    /* The list is newest-first; finish jobs in the order they completed. */
    struct uco__op *fifo = NULL;
    while (list) {
        struct uco__op *next = list->u.work.done_next;
        list->u.work.done_next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        struct uco__op *next = fifo->u.work.done_next;
        l->jobs_pending--;
        uco__op_finish(fifo, fifo->result);
        fifo = next;
    }
}

static int work_start(struct uco_task *t, struct uco__op *op, uco_work_fn *fn, void *arg,
                      struct uco__pool_group *g)
{
    op->flags = 0;
    op->task = t;
    op->kind = UCO_OP_WORK;
    op->fd = -1;
    op->state = UCO__OS_INFLIGHT;
    op->ws = NULL;
    op->fault_mem = NULL;
    op->cqe_flags = 0;
    op->u.work.fn = fn;
    op->u.work.arg = arg;
    op->u.work.done_next = NULL;
    int r = pool_submit(t->loop, op, g);
    if (r < 0) op->state = UCO__OS_IDLE;
    return r;
}

static intptr_t work(uco_work_fn *fn, void *arg, struct uco__pool_group *g)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_work");
    if (!fn) return -EINVAL;
    int r = uco__await_check(t);
    if (r) return r;
    struct uco__op op;
    r = work_start(t, &op, fn, arg, g);
    if (r) return r;
    struct uco__op *p = &op;
    r = uco__wait(t, &p, 1, false);
    if (r < 0 && op.result == -ECANCELED) return r;
    return (intptr_t)op.result;
}

intptr_t uco_work(uco_work_fn *fn, void *arg)
{
    return work(fn, arg, NULL);
}

intptr_t uco__work_group(uco_work_fn *fn, void *arg, struct uco__pool_group *g)
{
    return work(fn, arg, g);
}

int uco_op_work(uco_op *uop, uco_work_fn *fn, void *arg)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_op_work");
    if (!uop || !fn) return -EINVAL;
    int r = uco__await_check(t);
    if (r) return r;
    struct uco__op *op = uco__op_of(uop);
    r = work_start(t, op, fn, arg, NULL);
    if (r) return r;
    uco__op_start_other(t, op);
    return 0;
}
