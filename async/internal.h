/* async/ — the loop, tasks and operations. Private to the library; fs/ and net/ use the
 * "for other layers" part at the end to build their awaitables. */
#ifndef UCO_ASYNC_INTERNAL_H
#define UCO_ASYNC_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <uco/async.h>
#include <uco/ring.h>

#include "async/ctx.h"
#include "async/sanitizer.h"
#include "async/stack.h"
#include "async/timer.h"
#include "uring/fault.h"
#include "uring/ring.h"

#define UCO__CONTAINER_OF(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define UCO__LIKELY(x)                     __builtin_expect(!!(x), 1)
#define UCO__UNLIKELY(x)                   __builtin_expect(!!(x), 0)

/* Whether an op's result only says that it was interrupted (cancelled by us): -ECANCELED or
 * -EINTR. (The kernel's restart codes, which io_uring passes on for some ops interrupted in
 * io-wq, reach the loop as -EINTR: the reaper in uring/ring.c maps them.) */
static inline bool uco__res_interrupted(int64_t res)
{
    return res == -ECANCELED || res == -EINTR;
}

/* A task's name: at most UCO__NAME_SIZE - 1 characters, kept in the task (and in a connection
 * that starts tasks later). */
#define UCO__NAME_SIZE 32

/* Copies name (NULL: "") into dst[UCO__NAME_SIZE], cut to fit; only the name's bytes are
 * written (strncpy would pad all of dst). */
static inline void uco__name_copy(char *dst, const char *name)
{
    size_t n = name ? strnlen(name, UCO__NAME_SIZE - 1) : 0;
    memcpy(dst, name ? name : "", n);
    dst[n] = 0;
}

struct uco__op;
struct uco__waitset;

/* ---- tasks ---------------------------------------------------------------------------- */

enum uco__task_state {
    UCO__TS_FREE = 0, /* slot unused (a released handle points here) */
    UCO__TS_READY,    /* in a run queue */
    UCO__TS_RUNNING,  /* the loop's current task */
    UCO__TS_PARKED,   /* waiting; interrupt_fn says how to wake it early */
    UCO__TS_DONE,     /* function returned; handle not yet released */
};

enum uco__park {
    UCO__PK_NONE = 0,
    UCO__PK_OPS,   /* several ops (park_obj: a struct uco__waitset) */
    UCO__PK_OP,    /* one op waited for alone (park_obj: the struct uco__op) */
    UCO__PK_SLEEP, /* its sleep timer */
    UCO__PK_USER,  /* a wait queue of another layer (sync primitives) */
};

enum {
    UCO__TF_DETACHED = 1u << 0,    /* nobody will join */
    UCO__TF_RELEASED = 1u << 1,    /* handle given to a join op, or detached after the end */
    UCO__TF_INTERRUPTED = 1u << 2, /* the current park was interrupted (interrupt_fn ran) */
    UCO__TF_EXITING = 1u << 3,     /* function returned; draining started ops */
};

/* The fields every park and wake-up touches come first and fill the first cache line (with the
 * assembly switch, whose context is one pointer); slots are 64-byte aligned, so a switch
 * between tasks costs one line of each task struct. */
struct uco_task {
    uco__ctx ctx;
    struct uco_loop *loop;
    struct uco__stack *stack;
    struct uco_task *runq_next;
    /* park, park_obj, park_what and interrupt_fn describe the current park: each park sets
     * those it uses, and they are read only while state is PARKED (interrupts, dumps), so
     * nothing clears them after the wake-up. */
    void (*interrupt_fn)(struct uco_task *t); /* wakes the current park early; NULL: can't */
    void *park_obj;                           /* waitset, or another layer's object */
    int32_t cancel_res; /* sticky: -ECANCELED (cancelled) or -ETIMEDOUT (task deadline) */
    int32_t intr_res;   /* reason delivered to the interrupted park */
    int32_t wake_res;   /* result handed to a PK_SLEEP/PK_USER park by its waker */
    uint8_t state, park, flags;
    bool scope_expired; /* the deadline set by uco_deadline_set has passed */
    /* end of the first cache line */
    uco_task_fn *fn;
    void *arg;
    intptr_t result;
    struct uco_task *all_next, *all_prev; /* the loop's live tasks (for dump and cancel-all) */
    struct uco_task *free_next;           /* slot free list */
    struct uco__op *joiner;               /* join op waiting for our end */
    struct uco__op *started;              /* ops started by us, not yet waited for */
    const char *park_what;                /* for PK_USER: what it waits on, for dumps */
    int64_t task_deadline, scope_deadline;
    struct uco__timer deadline_timer, sleep_timer;
    uint64_t id;
    int64_t run_start;              /* when it was last switched in (stall detector) */
    struct uco__stack *spare_stack; /* its own stack while it drains on an exit stack */
    char name[UCO__NAME_SIZE];
#ifdef UCO_ASAN
    void *asan_fake_stack;
#endif
#ifdef UCO_TSAN
    void *tsan_fiber;
#endif
} __attribute__((aligned(64)));

/* ---- operations ----------------------------------------------------------------------- */

enum uco__op_state { UCO__OS_IDLE = 0, UCO__OS_INFLIGHT, UCO__OS_DONE, UCO__OS_CONSUMED };

enum {
    UCO__OF_STARTED = 1u << 0,     /* started with uco_op_*: on the owner's started list */
    UCO__OF_NOCANCEL = 1u << 1,    /* never cancelled (close) */
    UCO__OF_FORCED = 1u << 2,      /* fault injection: result forced */
    UCO__OF_CANCEL_SENT = 1u << 3, /* an ASYNC_CANCEL (or equivalent) was issued */
    UCO__OF_QUEUED = 1u << 4,      /* worker job sitting in the pool's queue */
    UCO__OF_FAULT_MEM = 1u << 5,   /* fault injection: fault_mem to free at completion */
    UCO__OF_ETIME = 1u << 6,       /* a kernel timeout: -ETIME is its success */
};

/* The caller's record of one operation in flight: the memory behind a uco_op, or a local of
 * an awaitable. Outlives its completion by construction (rule 1 of docs/DESIGN.md). */
/* A FIFO of waiters on another task's doing (uco/sync.h, the copy engine's slots): each a
 * record on its parked task's stack, or in a started op (a channel op, waited for later). */
struct uco__waiter {
    struct uco_task *task;
    struct uco__op *op; /* the op to complete, or NULL: wake the parked task */
    struct uco__waiter *prev, *next;
    struct uco__waitq *q; /* NULL once unlinked */
    void *data;           /* for the queue's owner (a channel's value) */
};

struct uco__waitq {
    struct uco__waiter *head, *tail;
};

struct uco__post;

struct uco__op {
    struct uco__comp comp; /* SQE user_data target */
    struct uco_task *task; /* owner */
    int64_t result;
    struct uco__waitset *ws; /* the wait currently waiting for it, if any, or WAITED_ALONE */
    void *fault_mem;
    uint32_t cqe_flags;
    int32_t fd;
    uint8_t kind, state, flags;
    struct uco__op *tnext, *tprev; /* owner's started list (uco_op_* only) */
    union {
        struct __kernel_timespec ts; /* IORING_OP_TIMEOUT */
        struct {
            uco_work_fn *fn;
            void *arg;
            struct uco__op *qnext, *qprev; /* pool queue, or its group's */
            struct uco__op *done_next;     /* loop inbox */
            struct uco__pool_group *group; /* NULL, or the group it counts in */
            bool queued;                   /* in the pool's queue (guarded by its mutex) */
            bool waiting;                  /* in its group's queue (guarded by the same) */
        } work;
        struct uco_task *join_target;
        struct {
            struct uco__waiter w; /* in the channel's queue while in flight */
        } chan;
    } u;
};

_Static_assert(sizeof(struct uco__op) <= sizeof(uco_op), "uco_op too small for struct uco__op");

static inline struct uco__op *uco__op_of(uco_op *op)
{
    return (struct uco__op *)(void *)op;
}

/* op->ws of an op its owner waits for alone (every plain await): its completion wakes
 * op->task directly, with no waitset to count down. Never dereferenced. */
#define UCO__WAITED_ALONE ((struct uco__waitset *)(uintptr_t)1)

/* A task waiting for several ops. */
struct uco__waitset {
    struct uco_task *task;
    struct uco__op **ops;
    size_t n;
    size_t remaining; /* completions still needed before the task wakes */
    bool any;         /* wake at the first completion */
};

/* ---- the loop ------------------------------------------------------------------------- */

struct uco__runq {
    struct uco_task *head, *tail;
};

struct uco__task_chunk {
    struct uco__task_chunk *next;
    struct uco_task tasks[];
};

struct uco_loop {
    struct uco__ring ring;
    struct uco__runq runq;  /* ready for the next batch */
    struct uco__runq batch; /* being run in this turn */
    struct uco_task *current;
    uco__ctx sched_ctx;            /* the scheduler's context (uco_loop_run's stack) */
    struct uco_task *exiting;      /* finished task to reclaim once off its stack */
    struct uco_task *exit_request; /* a task to restart on an exit stack (task.c) */
    struct uco__timers timers;
    struct uco__stacks stacks;
    struct uco_task *all;                   /* live tasks */
    struct uco_task *free_head, *free_tail; /* free task slots, FIFO to delay reuse */
    struct uco__task_chunk *chunks;
    pthread_t thread;
    int64_t now; /* when the timers were last fired (read only by timer functions) */
    uint64_t tasks_alive;
    uint64_t inflight;     /* ops and object-owned multishots that can wake a task */
    uint64_t internal;     /* our own SQEs in flight (cancels, inbox read) */
    uint64_t jobs_pending; /* worker jobs not yet completed */
    uint64_t user_waits;   /* PK_USER parks that can be woken from another thread */
    bool running;
    _Atomic bool stop;
    struct uco_loop_opts opts;
    size_t stack_size;
    struct uco__faults faults;
    /* inbox: completed worker jobs and wake-ups from other threads */
    int inbox_fd; /* eventfd */
    bool inbox_armed;
    uint64_t inbox_val;
    struct uco__comp inbox_comp;
    _Atomic(struct uco__op *) inbox_head;      /* completed jobs, LIFO */
    _Atomic unsigned inbox_posting;            /* workers between pushing a job and the wake-up */
    _Atomic(struct uco__post *) posts;         /* uco_loop_post's nodes, LIFO */
    struct uco__post *posts_left, *posts_tail; /* taken, not started yet, FIFO */
    _Atomic uint64_t holds;                    /* uco_loop_hold - uco_loop_release */
    struct uco__comp ignore_comp;              /* completions nobody waits for */
    /* per-loop state of the layers above async/ (enum uco__layer), released by its fini in
     * uco_loop_free once no task and no operation is left, before the ring goes */
    void *layer[2];
    void (*layer_fini[2])(struct uco_loop *l);
    /* stall detector */
    struct uco__stall *stall;
    _Atomic uint64_t stall_reports;
    /* sanitizers */
#ifdef UCO_ASAN
    void *sched_asan_fake;
    const void *sched_stack_lo;
    size_t sched_stack_size;
#endif
#ifdef UCO_TSAN
    void *sched_tsan_fiber;
#endif
    uco_loop_stats stats;
};

extern __thread struct uco_loop *uco__tls_loop __attribute__((tls_model("initial-exec")));

static inline struct uco_task *uco__self(void)
{
    struct uco_loop *l = uco__tls_loop;
    return l ? l->current : NULL;
}

static inline void uco__runq_push(struct uco__runq *q, struct uco_task *t)
{
    t->runq_next = NULL;
    if (q->tail)
        q->tail->runq_next = t;
    else
        q->head = t;
    q->tail = t;
}

static inline struct uco_task *uco__runq_pop(struct uco__runq *q)
{
    struct uco_task *t = q->head;
    if (t) {
        q->head = t->runq_next;
        if (!q->head) q->tail = NULL;
    }
    return t;
}

/* Makes parked task t of loop l runnable (next batch), without reading t: a waker that knows
 * the loop and where t's stack will be (sp, or NULL) leaves t's cache line to the stores, which
 * do not stall. sp is prefetched: t runs later in this turn, after the other completions are
 * reaped, and its stack's top arrives in the cache meanwhile. With hundreds of tasks, each
 * resumed once per request, that first touch of a cold stack was the largest user-space cost
 * of an echo server (perf, 500 connections: the switch's first pop held 2-3 % of the server's
 * CPU samples; 0.2 % with the prefetch). */
static inline void uco__ready_in(struct uco_loop *l, struct uco_task *t, const void *sp)
{
    uco__stack_prefetch(sp);
    t->state = UCO__TS_READY;
    uco__runq_push(&l->runq, t);
}

/* Makes a parked task runnable (next batch). */
static inline void uco__ready(struct uco_task *t)
{
    uco__ready_in(t->loop, t, uco__ctx_sp(&t->ctx));
}

int64_t uco__clock(void);

/* ---- scheduling (task.c) -------------------------------------------------------------- */

/* Suspends the running task until something calls uco__ready on it. The caller has set
 * t->state = PARKED (or READY and queued it, for yield), t->park and t->interrupt_fn. */
void uco__park(struct uco_task *t);

/* Runs the tasks that were ready when the turn began (the scheduler's half of a turn). */
void uco__run_batch(struct uco_loop *l);
/* Frees the loop's task slots (loop teardown). */
void uco__task_slots_free(struct uco_loop *l);
/* Cancels every live task. */
void uco__cancel_all(struct uco_loop *l);
/* Result of a task the caller holds, releasing the handle; *done = whether it had ended. */
intptr_t uco__task_take_result(struct uco_task *t, int *done);
/* Join as an op: start (0 or -errno, nothing started) and cancel. */
int uco__join_start(struct uco_task *self, struct uco__op *op, struct uco_task *t);
void uco__join_cancel(struct uco__op *op);

/* Delivers an interrupt (cancel, deadline) to t: if it is parked interruptibly, its
 * interrupt_fn runs. sticky: t->cancel_res = res for the rest of its life. */
void uco__task_interrupt(struct uco_task *t, int32_t res, bool sticky);

/* Check at the start of every awaitable: 0 to go on, or the -errno to return at once. */
static inline int uco__await_check(struct uco_task *t)
{
    if (UCO__UNLIKELY(!t)) return -EPERM;
    if (UCO__UNLIKELY(t->cancel_res)) return t->cancel_res;
    if (UCO__UNLIKELY(t->scope_expired)) return -ETIMEDOUT;
    return 0;
}

/* -EPERM for an awaitable called outside a task, said on stderr in debug builds. */
int uco__not_in_task(const char *fn);

/* ---- ops (op.c) ----------------------------------------------------------------------- */

/* Fills an op record for a kernel operation whose SQE is prepared in sqe: sets user_data,
 * applies fault rules, counts it in flight. */
void uco__op_arm(struct uco_loop *l, struct uco__op *op, struct io_uring_sqe *sqe, unsigned kind,
                 int fd);
/* Completion function of kernel ops. */
void uco__op_complete(struct uco__comp *c, int32_t res, uint32_t flags);
/* Marks op done with res and wakes whoever waits for it. */
void uco__op_finish(struct uco__op *op, int64_t res);
/* Issues the cancellation suited to the op's kind (once). */
void uco__op_cancel_issue(struct uco__op *op);
/* Waits for ops[0..n) (all, or the first with any); interruptible. */
int uco__wait(struct uco_task *t, struct uco__op **ops, size_t n, bool any);
/* Cancels and waits for every started op of t that is still pending (task end). */
void uco__drain_started(struct uco_task *t);

/* ---- worker pool (pool.c) ------------------------------------------------------------- */
int uco__pool_submit(struct uco_loop *l, struct uco__op *op);

/* A group of jobs of which at most max run at once (the others wait in its queue, in order):
 * many jobs queued ahead, so a worker that finishes one starts the next without waiting for
 * the loop, and no more threads running them than the cores can serve. Zeroed, then max set;
 * it must outlive its jobs. Guarded by the pool's mutex. */
struct uco__pool_group {
    unsigned max, running;
    struct uco__op *head, *tail;
};
/* uco_work for a job of group g. */
intptr_t uco__work_group(uco_work_fn *fn, void *arg, struct uco__pool_group *g);
/* Takes a queued job back; true if it had not started (the caller completes it). */
bool uco__pool_cancel(struct uco__op *op);
/* Completed jobs posted to l's inbox by workers: finish them. */
void uco__inbox_drain(struct uco_loop *l);
/* Posted functions (uco_loop_post): take them from the list and start the first as tasks;
 * start more of those taken (each turn while any is left); free those never started. */
void uco__posts_drain(struct uco_loop *l);
void uco__posts_spawn(struct uco_loop *l);
void uco__posts_free(struct uco_loop *l);
/* Arms the inbox eventfd read if it is not armed. */
void uco__inbox_arm(struct uco_loop *l);
/* From any thread (and signal handlers): wakes l if it sleeps in io_uring_enter (a write to
 * its inbox eventfd, whose read is armed while it runs). */
void uco__inbox_wake(struct uco_loop *l);
/* From any thread: push a completed job to l and wake it. */
void uco__inbox_post(struct uco_loop *l, struct uco__op *op);

/* ---- stall detector (stall.c) --------------------------------------------------------- */
struct uco__stall;
int uco__stall_start(struct uco_loop *l);
void uco__stall_stop(struct uco_loop *l);
void uco__stall_enter(struct uco_loop *l, struct uco_task *t); /* task switched in */
void uco__stall_leave(struct uco_loop *l, struct uco_task *t); /* task switched out */

/* ---- for other layers (fs/, net/) ----------------------------------------------------- */

/* Slots for per-loop state of other layers: l->layer[i], freed by l->layer_fini[i]. */
enum uco__layer { UCO__LAYER_NET = 0, UCO__LAYER_FS = 1 };

/* An SQE of the current task's loop, or NULL (then return -EBUSY). */
static inline struct io_uring_sqe *uco__sqe(struct uco_loop *l)
{
    return uco__ring_sqe(&l->ring);
}

/* The prologue of an awaitable: declares t (the running task; else returns -EPERM) and sqe,
 * after checking the task was not interrupted (else returns its -errno). Validate arguments
 * before it: a taken SQE is always submitted. */
#define UCO__AWAIT_BEGIN(name)                                                                     \
    struct uco_task *t = uco__self();                                                              \
    if (UCO__UNLIKELY(!t)) return uco__not_in_task(name);                                          \
    int err_ = uco__await_check(t);                                                                \
    if (UCO__UNLIKELY(err_)) return err_;                                                          \
    struct io_uring_sqe *sqe = uco__sqe(t->loop);                                                  \
    if (UCO__UNLIKELY(!sqe)) return -EBUSY

/* The common awaitable: takes the prepared sqe, parks the task until its CQE, returns the
 * result (with cancellation and deadlines applied). t must be uco__self(), already checked
 * with uco__await_check. cqe_flags (may be NULL) receives the CQE flags. */
int64_t uco__await_sqe(struct uco_task *t, struct io_uring_sqe *sqe, unsigned kind, int fd,
                       uint32_t *cqe_flags);

/* As uco__await_sqe for an op that must not be cancelled (close): it always runs. */
int64_t uco__await_sqe_nocancel(struct uco_task *t, struct io_uring_sqe *sqe, unsigned kind,
                                int fd);

/* Common start of a uco_op_* starter: checks the caller and op, returns an SQE and the task,
 * or NULL with *err set (nothing started). */
struct io_uring_sqe *uco__start_begin(const char *fn, uco_op *op, struct uco_task **tp, int *err);

/* Puts an op prepared by the caller (join, work) on t's started list. */
void uco__op_start_other(struct uco_task *t, struct uco__op *op);

/* Sets up the loop's completion for SQEs nobody waits for. */
void uco__loop_init_ignore(struct uco_loop *l);

/* Starts a kernel op for the uco_op_* API: arms it and puts it on t's started list. */
void uco__op_start_sqe(struct uco_task *t, struct uco__op *op, struct io_uring_sqe *sqe,
                       unsigned kind, int fd);

/* For objects that own a multishot operation (listeners, connections): count it in flight
 * so the loop knows it can still be woken. */
static inline void uco__inflight_add(struct uco_loop *l, int n)
{
    l->inflight += (uint64_t)(int64_t)n;
}

/* Parks the running task on another layer's wait queue. interrupt_fn must unlink t and call
 * uco__ready(t) with t->wake_res set; the waker does the same. what names the wait in dumps.
 * Returns t->wake_res (or the interrupt's -errno). The caller has checked t with
 * uco__await_check, with nothing in between that can interrupt t (an interrupt that comes
 * while t is not parked only marks it, and would never wake this park). */
int uco__park_user(struct uco_task *t, void (*interrupt_fn)(struct uco_task *), void *obj,
                   const char *what);

/* ---- wait queues (sync.c) ------------------------------------------------------------- */

/* Parks the running task t on q with record w until woken (the waker's res) or interrupted
 * (-ECANCELED / -ETIMEDOUT: unlinked, nothing handed). t was checked with uco__await_check. */
int uco__wq_wait(struct uco__waitq *q, struct uco__waiter *w, struct uco_task *t, const char *what);
/* The same, not interruptible (a task that must see something end, whatever happens). */
void uco__wq_wait_uninterruptible(struct uco__waitq *q, struct uco__waiter *w, struct uco_task *t,
                                  const char *what);
/* Wakes q's first waiter with res and returns it, or NULL when none waits. */
struct uco__waiter *uco__wq_wake(struct uco__waitq *q, int res);
/* Wakes every waiter of q with res. */
void uco__wq_wake_all(struct uco__waitq *q, int res);
/* Cancels a channel op in flight: it completes with -ECANCELED, having moved no value. */
void uco__chan_op_cancel(struct uco__op *op);

#endif
