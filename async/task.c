/* Tasks: spawn, the switch between tasks and the scheduler, park and wake, join, cancel,
 * deadlines, sleep and yield. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "async/internal.h"

static _Atomic uint64_t next_task_id = 1;

/* ---- the switch ----------------------------------------------------------------------- */

/* Switches from `from` (NULL: the scheduler) to `to` (NULL: the scheduler), telling the
 * sanitizers. `dying`: from will never run again (its ASan fake stack can go).
 *
 * Called from one place per kind of switch (task to task or to the scheduler: uco__park;
 * scheduler to task: uco__run_batch), for the CPU's return-stack predictor. uco__ctx_jump
 * returns on the other context's stack, into the other context's call of switch_ctx; when
 * both contexts switched from the same place (the tasks of a turn all park in uco__park) the
 * return goes where the predictor expects, and so do the returns further up when the tasks
 * parked through the same call chain. An x86-64 jump that leaves by pop + jmp instead of ret
 * (as boost.context does) wins a ping-pong between two different call sites, but leaves the
 * return stack one entry off, and every return of the resumed task then mispredicts. */
static __attribute__((noinline)) void switch_ctx(struct uco_loop *l, struct uco_task *from,
                                                 struct uco_task *to, bool dying)
{
    uco__ctx *fctx = from ? &from->ctx : &l->sched_ctx;
    uco__ctx *tctx = to ? &to->ctx : &l->sched_ctx;
#ifdef UCO_ASAN
    void **fake = dying ? NULL : (from ? &from->asan_fake_stack : &l->sched_asan_fake);
    const void *bottom = to ? (const void *)uco__stack_base(to->stack) : l->sched_stack_lo;
    size_t size = to ? uco__stack_usable(to->stack) : l->sched_stack_size;
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)dying;
#endif
#ifdef UCO_TSAN
    __tsan_switch_to_fiber(to ? to->tsan_fiber : l->sched_tsan_fiber, 0);
#endif
    uco__ctx_switch(fctx, tctx);
#ifdef UCO_ASAN
    __sanitizer_finish_switch_fiber(from ? from->asan_fake_stack : l->sched_asan_fake, NULL, NULL);
#endif
}

/* Bookkeeping of a task about to be switched in, without the stall detector's. */
static inline void switching_in(struct uco_loop *l, struct uco_task *to)
{
    l->current = to;
    to->state = UCO__TS_RUNNING;
    l->stats.switches++;
}

/* Bookkeeping of a task about to be switched in. */
static inline void entering(struct uco_loop *l, struct uco_task *to)
{
    switching_in(l, to);
    if (l->stall) uco__stall_enter(l, to);
}

static void stack_overflow(struct uco_task *t)
{
    char msg[160];
    int n = snprintf(msg, sizeof msg,
                     "uco: stack overflow in task %llu '%s' (%zu-byte stack without guard page): "
                     "memory below it is corrupt; aborting\n",
                     (unsigned long long)t->id, t->name, t->stack->size);
    if (write(2, msg, (size_t)n) < 0) { /* nothing more to do */
    }
    abort();
}

/* uco__park with the checks the common case does without: a stack with no guard page to
 * check for overflow, the stall detector to tell. Both hold for a loop's whole life (stacks
 * fall back to unguarded only when mmap fails), so a loop switches tasks from here or from
 * uco__park, not from both. */
static __attribute__((noinline)) void park_checked(struct uco_loop *l, struct uco_task *t)
{
    if (!t->stack->guarded && !uco__stack_intact(&l->stacks, t->stack)) stack_overflow(t);
    if (l->stall) uco__stall_leave(l, t);
    struct uco_task *next = uco__runq_pop(&l->batch);
    if (next)
        entering(l, next);
    else
        l->current = NULL;
    switch_ctx(l, t, next, false);
}

/* Never inlined (its callers in this file would take it in): every task-to-task switch must
 * go through its one call of switch_ctx. Its common path makes no call that returns, so it
 * saves no registers: only the tail jump to switch_ctx. */
__attribute__((noinline)) void uco__park(struct uco_task *t)
{
    struct uco_loop *l = t->loop;
    if (UCO__UNLIKELY(!t->stack->guarded || l->stall)) {
        park_checked(l, t);
        return;
    }
    /* Hand the thread straight to the next task of this turn; back to the scheduler (which
     * enters the kernel) only when the turn's batch is exhausted. */
    struct uco_task *next = uco__runq_pop(&l->batch);
    if (next)
        switching_in(l, next); /* no stall detector here (checked above) */
    else
        l->current = NULL;
    switch_ctx(l, t, next, false); /* one call for both: see switch_ctx */
}

static void reclaim(struct uco_loop *l);
static void move_to_exit_stack(struct uco_loop *l);

/* Runs the tasks that were ready at the start of this turn. Tasks made ready meanwhile wait
 * for the next turn, so I/O is polled between turns even if tasks keep yielding. */
void uco__run_batch(struct uco_loop *l)
{
    l->batch = l->runq;
    l->runq.head = l->runq.tail = NULL;
    struct uco_task *t;
    while ((t = uco__runq_pop(&l->batch))) {
        entering(l, t);
        switch_ctx(l, NULL, t, false);
        if (l->exiting) reclaim(l);
        if (UCO__UNLIKELY(l->exit_request != NULL)) move_to_exit_stack(l);
    }
    l->current = NULL;
}

/* ---- task slots ----------------------------------------------------------------------- */

#define TASKS_PER_CHUNK 64

static struct uco_task *slot_alloc(struct uco_loop *l)
{
    if (!l->free_head) {
        size_t size = sizeof(struct uco__task_chunk) + TASKS_PER_CHUNK * sizeof(struct uco_task);
        struct uco__task_chunk *c = aligned_alloc(_Alignof(struct uco__task_chunk), size);
        if (!c) return NULL;
        memset(c, 0, size); /* every slot reads UCO__TS_FREE */
        c->next = l->chunks;
        l->chunks = c;
        for (int i = 0; i < TASKS_PER_CHUNK; i++) {
            struct uco_task *t = &c->tasks[i];
            if (l->free_tail)
                l->free_tail->free_next = t;
            else
                l->free_head = t;
            l->free_tail = t;
        }
    }
    struct uco_task *t = l->free_head;
    l->free_head = t->free_next;
    if (!l->free_head) l->free_tail = NULL;
    return t;
}

/* Slots are reused oldest-first, so a stale handle is likely to still read FREE. */
static void slot_free(struct uco_loop *l, struct uco_task *t)
{
    t->state = UCO__TS_FREE;
    t->flags = 0;
    t->free_next = NULL;
    if (l->free_tail)
        l->free_tail->free_next = t;
    else
        l->free_head = t;
    l->free_tail = t;
}

void uco__task_slots_free(struct uco_loop *l)
{
    for (struct uco__task_chunk *c = l->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    l->chunks = NULL;
    l->free_head = l->free_tail = NULL;
}

/* ---- timers of a task ----------------------------------------------------------------- */

static void deadline_rearm(struct uco_task *t)
{
    int64_t d = t->task_deadline < t->scope_deadline ? t->task_deadline : t->scope_deadline;
    if (d == UCO_FOREVER)
        uco__timer_disarm(&t->loop->timers, &t->deadline_timer);
    else
        uco__timer_arm(&t->loop->timers, &t->deadline_timer, d);
}

static void deadline_fire(struct uco__timer *tm)
{
    struct uco_task *t = UCO__CONTAINER_OF(tm, struct uco_task, deadline_timer);
    int64_t now = t->loop->now;
    if (t->task_deadline <= now) {
        uco__task_interrupt(t, -ETIMEDOUT, true);
    } else {
        uco__task_interrupt(t, -ETIMEDOUT, false);
        if (t->task_deadline != UCO_FOREVER)
            uco__timer_arm(&t->loop->timers, &t->deadline_timer, t->task_deadline);
    }
}

static void sleep_fire(struct uco__timer *tm)
{
    uco__ready(UCO__CONTAINER_OF(tm, struct uco_task, sleep_timer));
}

/* ---- life of a task ------------------------------------------------------------------- */

static void task_exit(struct uco_task *t) __attribute__((noreturn));

/* A task may return with started ops it never waited for (async.h promises that this is
 * safe): their records, and the buffers the kernel may still write into, lie anywhere in the
 * function's dead frames, and task_exit parks while they are cancelled and drained. So the
 * exit path must not run over those frames: the task asks the scheduler, from a small reserve
 * kept above the function's frames, to restart it on a small stack of its own (the scheduler
 * allocates it on its own stack); its own stack stays untouched until the drain is over, and
 * both go back when the task is reclaimed. The reserve only holds that one switch. */
#if defined(UCO_ASAN) || defined(UCO_TSAN) || !defined(__OPTIMIZE__)
#define EXIT_RESERVE 2048 /* instrumented or unoptimised frames are several times larger */
#else
#define EXIT_RESERVE 256
#endif

static __attribute__((noinline)) void run_fn(struct uco_task *t)
{
    void *reserve = __builtin_alloca(EXIT_RESERVE);
    __asm__ volatile("" : : "r"(reserve) : "memory");
    t->result = t->fn(t->arg);
}

static void exit_entry(void *arg)
{
    struct uco_task *t = arg;
#ifdef UCO_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    /* To Valgrind the function's frame died when it returned: its started ops are about to be
     * read and completed, so they are live memory again. */
    for (struct uco__op *op = t->started; op; op = op->tnext)
        UCO_VG_MAKE_DEFINED(op, sizeof *op);
    task_exit(t);
}

static void task_entry(void *arg)
{
    struct uco_task *t = arg;
#ifdef UCO_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    run_fn(t);
    if (UCO__UNLIKELY(t->started != NULL)) {
        struct uco_loop *l = t->loop;
        l->exit_request = t; /* the scheduler also does the stall detector's bookkeeping */
        l->current = NULL;
        switch_ctx(l, t, NULL, false);
        /* Resumed here only if no exit stack could be had (a failed mmap): drain from here,
         * the best that is left. */
    }
    task_exit(t);
}

/* The scheduler's half of the above, on its own stack: restart the task on an exit stack, at
 * the head of the batch. */
static void move_to_exit_stack(struct uco_loop *l)
{
    struct uco_task *t = l->exit_request;
    l->exit_request = NULL;
    if (l->stall) uco__stall_leave(l, t); /* its report may call back: not from the reserve */
    struct uco__stack *ex = uco__stack_get(&l->stacks, UCO_STACK_MIN);
    if (ex) {
        t->spare_stack = t->stack;
        t->stack = ex;
        uco__ctx_init(&t->ctx, uco__stack_base(ex), uco__stack_usable(ex), exit_entry, t);
    }
    t->state = UCO__TS_READY;
    t->runq_next = l->batch.head;
    l->batch.head = t;
    if (!l->batch.tail) l->batch.tail = t;
}

static void unlink_all(struct uco_loop *l, struct uco_task *t)
{
    if (t->all_prev)
        t->all_prev->all_next = t->all_next;
    else
        l->all = t->all_next;
    if (t->all_next) t->all_next->all_prev = t->all_prev;
    t->all_next = t->all_prev = NULL;
}

static void task_exit(struct uco_task *t)
{
    struct uco_loop *l = t->loop;
    t->flags |= UCO__TF_EXITING;
    if (t->started) uco__drain_started(t);
    uco__timer_disarm(&l->timers, &t->deadline_timer);
    unlink_all(l, t);
    t->state = UCO__TS_DONE;
    l->tasks_alive--;
    if (t->joiner) {
        struct uco__op *op = t->joiner;
        t->joiner = NULL;
        t->flags |= UCO__TF_RELEASED;
        op->cqe_flags = 1; /* "the task ended" (not a cancelled join) */
        uco__op_finish(op, t->result);
    }
    if (l->stall) uco__stall_leave(l, t);
    if (UCO__UNLIKELY(!uco__stack_intact(&l->stacks, t->stack))) stack_overflow(t);
    l->exiting = t;
    l->current = NULL;
    switch_ctx(l, t, NULL, true); /* the scheduler reclaims the stack: we are still on it */
    __builtin_unreachable();
}

/* Called by the scheduler after a task's last switch. */
static void reclaim(struct uco_loop *l)
{
    struct uco_task *t = l->exiting;
    l->exiting = NULL;
    if (t->spare_stack) {
        uco__stack_put(&l->stacks, t->spare_stack);
        t->spare_stack = NULL;
    }
    uco__stack_put(&l->stacks, t->stack);
    t->stack = NULL;
#ifdef UCO_TSAN
    __tsan_destroy_fiber(t->tsan_fiber);
    t->tsan_fiber = NULL;
#endif
    if (t->flags & (UCO__TF_DETACHED | UCO__TF_RELEASED)) slot_free(l, t);
}

int uco_loop_spawn(uco_loop *l, uco_task **out, uco_task_fn *fn, void *arg,
                   const uco_task_opts *opts)
{
    if (!l || !fn) return -EINVAL;
    if (!pthread_equal(l->thread, pthread_self())) return -EXDEV;
    if (opts)
        for (size_t i = 0; i < sizeof opts->reserved / sizeof opts->reserved[0]; i++)
            if (opts->reserved[i]) return -EINVAL; /* room to grow: refuse what we don't know */
    size_t size = opts && opts->stack_size ? opts->stack_size : l->stack_size;
    if (size > ((size_t)1 << 30)) return -EINVAL;
    if (size < UCO_STACK_MIN) size = UCO_STACK_MIN;
    bool detached = !out || (opts && opts->detached);

    struct uco_task *t = slot_alloc(l);
    if (!t) return -ENOMEM;
    struct uco__stack *st = uco__stack_get(&l->stacks, size);
    if (!st) {
        slot_free(l, t);
        return -ENOMEM;
    }
    memset(t, 0, offsetof(struct uco_task, name));
    t->loop = l;
    t->stack = st;
    t->fn = fn;
    t->arg = arg;
    t->id = atomic_fetch_add(&next_task_id, 1);
    t->task_deadline = t->scope_deadline = UCO_FOREVER;
    uco__timer_init(&t->deadline_timer, deadline_fire);
    uco__timer_init(&t->sleep_timer, sleep_fire);
    uco__name_copy(t->name, opts ? opts->name : NULL);
    if (detached) t->flags |= UCO__TF_DETACHED;
#ifdef UCO_ASAN
    t->asan_fake_stack = NULL;
#endif
#ifdef UCO_TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    uco__ctx_init(&t->ctx, uco__stack_base(st), uco__stack_usable(st), task_entry, t);
    t->all_next = l->all;
    if (l->all) l->all->all_prev = t;
    l->all = t;
    l->tasks_alive++;
    l->stats.tasks_spawned++;
    if (opts && opts->deadline > 0 && opts->deadline != UCO_FOREVER) {
        t->task_deadline = opts->deadline;
        if (opts->deadline <= uco__clock())
            t->cancel_res = -ETIMEDOUT;
        else
            deadline_rearm(t);
    }
    uco__ready(t);
    if (out) *out = detached ? NULL : t;
    return 0;
}

int uco_spawn_opts(uco_task **out, uco_task_fn *fn, void *arg, const uco_task_opts *opts)
{
    struct uco_loop *l = uco__tls_loop;
    if (!l || !l->current) return uco__not_in_task("uco_spawn");
    return uco_loop_spawn(l, out, fn, arg, opts);
}

int uco_spawn(uco_task **out, uco_task_fn *fn, void *arg)
{
    return uco_spawn_opts(out, fn, arg, NULL);
}

/* A handle the caller may still use: allocated, not released, on the calling thread. */
static bool handle_ok(const struct uco_task *t)
{
    return t && t->state != UCO__TS_FREE && !(t->flags & UCO__TF_RELEASED);
}

/* ---- join ----------------------------------------------------------------------------- */

/* Starts a join op on t (not on any started list). 0, or -errno with nothing started. */
int uco__join_start(struct uco_task *self, struct uco__op *op, struct uco_task *t)
{
    if (!handle_ok(t) || (t->flags & UCO__TF_DETACHED)) return -EINVAL;
    if (t == self) return -EDEADLK;
    if (t->loop != self->loop) return -EXDEV;
    if (t->joiner) return -EBUSY;
    memset(op, 0, sizeof *op);
    op->task = self;
    op->kind = UCO_OP_JOIN;
    op->fd = -1;
    op->u.join_target = t;
    if (t->state == UCO__TS_DONE) {
        op->state = UCO__OS_DONE;
        op->result = t->result;
        op->cqe_flags = 1;
        t->flags |= UCO__TF_RELEASED;
        if (!t->stack) slot_free(t->loop, t); /* already reclaimed */
        return 0;
    }
    op->state = UCO__OS_INFLIGHT;
    t->joiner = op;
    t->flags |= UCO__TF_RELEASED; /* the op holds the handle now */
    return 0;
}

/* Cancels a join op: t keeps running and is joinable again (or detached, if the joiner is
 * ending and nobody could join it any more). */
void uco__join_cancel(struct uco__op *op)
{
    struct uco_task *t = op->u.join_target;
    if (op->state != UCO__OS_INFLIGHT || t->joiner != op) return;
    t->joiner = NULL;
    t->flags &= (uint8_t)~UCO__TF_RELEASED;
    if (op->task->flags & UCO__TF_EXITING) t->flags |= UCO__TF_DETACHED;
    op->cqe_flags = 0;
    uco__op_finish(op, -ECANCELED);
}

int uco_task_join(uco_task *t, intptr_t *result)
{
    struct uco_task *self = uco__self();
    if (!self) return uco__not_in_task("uco_task_join");
    int r = uco__await_check(self);
    if (r) return r;
    struct uco__op op;
    r = uco__join_start(self, &op, t);
    if (r) return r;
    if (op.state == UCO__OS_INFLIGHT) {
        struct uco__op *p = &op;
        r = uco__wait(self, &p, 1, false);
    }
    if (op.cqe_flags != 1) return r ? r : -ECANCELED; /* interrupted: t stays joinable */
    if (result) *result = (intptr_t)op.result;
    return 0;
}

int uco_op_join(uco_op *uop, uco_task *t)
{
    struct uco_task *self = uco__self();
    if (!self) return uco__not_in_task("uco_op_join");
    if (!uop) return -EINVAL;
    int r = uco__await_check(self);
    if (r) return r;
    struct uco__op *op = uco__op_of(uop);
    r = uco__join_start(self, op, t);
    if (r) return r;
    uco__op_start_other(self, op);
    return 0;
}

int uco_task_detach(uco_task *t)
{
    if (!handle_ok(t) || (t->flags & UCO__TF_DETACHED)) return -EINVAL;
    if (t->joiner) return -EINVAL;
    t->flags |= UCO__TF_DETACHED;
    if (t->state == UCO__TS_DONE && !t->stack) slot_free(t->loop, t);
    return 0;
}

/* ---- cancellation and deadlines ------------------------------------------------------- */

void uco__task_interrupt(struct uco_task *t, int32_t res, bool sticky)
{
    if (t->state == UCO__TS_FREE || t->state == UCO__TS_DONE) return;
    if (sticky) {
        if (t->cancel_res) return; /* already interrupted for good */
        t->cancel_res = res;
    } else {
        t->scope_expired = true;
    }
    if (t->state == UCO__TS_PARKED && t->interrupt_fn && !(t->flags & UCO__TF_INTERRUPTED)) {
        t->flags |= UCO__TF_INTERRUPTED;
        t->intr_res = res;
        t->interrupt_fn(t);
    }
}

int uco_task_cancel(uco_task *t)
{
    if (!t || t->state == UCO__TS_FREE) return -EINVAL;
    if (!pthread_equal(t->loop->thread, pthread_self())) return -EXDEV;
    if (t->state == UCO__TS_DONE) return -ESRCH;
    uco__task_interrupt(t, -ECANCELED, true);
    return 0;
}

int uco_task_set_deadline(uco_task *t, int64_t deadline)
{
    if (!t || t->state == UCO__TS_FREE) return -EINVAL;
    if (!pthread_equal(t->loop->thread, pthread_self())) return -EXDEV;
    if (t->state == UCO__TS_DONE) return -ESRCH;
    if (deadline <= 0) deadline = UCO_FOREVER;
    t->task_deadline = deadline;
    if (deadline != UCO_FOREVER && deadline <= uco__clock())
        uco__task_interrupt(t, -ETIMEDOUT, true);
    else
        deadline_rearm(t);
    return 0;
}

int64_t uco_deadline_set(int64_t deadline)
{
    struct uco_task *t = uco__self();
    if (!t) return UCO_FOREVER;
    if (deadline <= 0) deadline = UCO_FOREVER;
    int64_t old = t->scope_deadline;
    t->scope_deadline = deadline;
    t->scope_expired = deadline != UCO_FOREVER && deadline <= uco__clock();
    deadline_rearm(t);
    return old;
}

int uco_interrupted(void)
{
    struct uco_task *t = uco__self();
    if (!t) return 0;
    if (t->cancel_res) return t->cancel_res;
    if (t->scope_expired) return -ETIMEDOUT;
    /* Deadlines are noticed by the loop's timers between turns; a task that computes without
     * awaiting asks the clock itself. */
    int64_t d = t->task_deadline < t->scope_deadline ? t->task_deadline : t->scope_deadline;
    if (d != UCO_FOREVER && uco__clock() >= d) {
        if (t->task_deadline <= d)
            t->cancel_res = -ETIMEDOUT;
        else
            t->scope_expired = true;
        return -ETIMEDOUT;
    }
    return 0;
}

/* ---- yield, sleep, generic parks ------------------------------------------------------ */

int uco_yield(void)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_yield");
    int r = uco__await_check(t);
    if (r) return r;
    t->state = UCO__TS_READY;
    uco__runq_push(&t->loop->runq, t);
    uco__park(t);
    return uco__await_check(t);
}

static void sleep_interrupt(struct uco_task *t)
{
    uco__timer_disarm(&t->loop->timers, &t->sleep_timer);
    uco__ready(t);
}

int uco_sleep_until(int64_t deadline)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_sleep");
    int r = uco__await_check(t);
    if (r) return r;
    if (deadline <= uco__clock()) return uco_yield();
    r = uco__timer_arm(&t->loop->timers, &t->sleep_timer, deadline);
    if (r) return r;
    t->park = UCO__PK_SLEEP;
    t->interrupt_fn = sleep_interrupt;
    t->state = UCO__TS_PARKED;
    uco__park(t);
    if (t->flags & UCO__TF_INTERRUPTED) {
        t->flags &= (uint8_t)~UCO__TF_INTERRUPTED;
        return t->intr_res;
    }
    return 0;
}

int uco_sleep(int64_t ns)
{
    if (ns <= 0) return uco_yield();
    int64_t now = uco__clock();
    return uco_sleep_until(ns > INT64_MAX - now ? INT64_MAX : now + ns);
}

int uco__park_user(struct uco_task *t, void (*interrupt_fn)(struct uco_task *), void *obj,
                   const char *what)
{
    t->wake_res = 0;
    t->park = UCO__PK_USER;
    t->park_obj = obj;
    t->park_what = what;
    t->interrupt_fn = interrupt_fn;
    t->state = UCO__TS_PARKED;
    uco__park(t);
    if (t->flags & UCO__TF_INTERRUPTED) {
        t->flags &= (uint8_t)~UCO__TF_INTERRUPTED;
        return t->intr_res;
    }
    return t->wake_res;
}

/* ---- queries -------------------------------------------------------------------------- */

uco_task *uco_task_self(void)
{
    return uco__self();
}

uint64_t uco_task_id(const uco_task *t)
{
    if (!t) t = uco__self();
    return t && t->state != UCO__TS_FREE ? t->id : 0;
}

const char *uco_task_name(const uco_task *t)
{
    if (!t) t = uco__self();
    return t && t->state != UCO__TS_FREE ? t->name : "";
}

/* Cancels every live task (uco_run's way out of a deadlock or a stop). */
void uco__cancel_all(struct uco_loop *l)
{
    for (struct uco_task *t = l->all, *next; t; t = next) {
        next = t->all_next;
        uco__task_interrupt(t, -ECANCELED, true);
    }
}

/* The result of a finished task the caller holds (uco_run), releasing it. */
intptr_t uco__task_take_result(struct uco_task *t, int *done)
{
    *done = t->state == UCO__TS_DONE;
    intptr_t r = t->result;
    if (*done) {
        t->flags |= UCO__TF_RELEASED;
        if (!t->stack) slot_free(t->loop, t);
    } else {
        t->flags |= UCO__TF_DETACHED;
    }
    return r;
}
