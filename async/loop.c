/* The loop: creation, the turn (run ready tasks, one io_uring_enter, reap, fire timers),
 * stop, teardown, statistics and the task dump. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <uco/version.h>

#include "async/internal.h"

__thread struct uco_loop *uco__tls_loop __attribute__((tls_model("initial-exec")));

const char *uco_version(void)
{
    return UCO_VERSION_STRING;
}

int64_t uco__clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * UCO_SEC + ts.tv_nsec;
}

int64_t uco_now(void)
{
    return uco__clock();
}

int uco__not_in_task(const char *fn)
{
#ifndef NDEBUG
    fprintf(stderr, "uco: %s called outside a task: it can only be awaited from a task (-EPERM)\n",
            fn);
#else
    (void)fn;
#endif
    return -EPERM;
}

static void inbox_complete(struct uco__comp *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct uco_loop *l = UCO__CONTAINER_OF(c, struct uco_loop, inbox_comp);
    l->inbox_armed = false;
    l->internal--;
    uco__inbox_drain(l);
    uco__posts_drain(l);
    if (l->running) uco__inbox_arm(l);
}

void uco__inbox_arm(struct uco_loop *l)
{
    if (l->inbox_armed) return;
    struct io_uring_sqe *sqe = uco__sqe(l);
    if (!sqe) return;
    io_uring_prep_read(sqe, l->inbox_fd, &l->inbox_val, sizeof l->inbox_val, 0);
    io_uring_sqe_set_data(sqe, &l->inbox_comp);
    l->inbox_armed = true;
    l->internal++;
}

int uco_loop_new(uco_loop **out, const uco_loop_opts *opts)
{
    if (!out) return -EINVAL;
    *out = NULL;
    uco_loop_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    for (size_t i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i++)
        if (o.reserved[i]) return -EINVAL;
    if (o.ring_mode > UCO_RING_PLAIN || o.sq_entries > 32768 || o.cq_entries > 1048576 ||
        o.stack_size > ((size_t)1 << 30) || o.stall_ns < 0)
        return -EINVAL;
    if (!o.sq_entries) o.sq_entries = 256;
    if (!o.cq_entries) o.cq_entries = o.sq_entries * 16; /* ring.h, docs/DESIGN.md */
    if (o.cq_entries < o.sq_entries) return -EINVAL;
    if (!o.stack_size) o.stack_size = UCO_STACK_DEFAULT;
    if (o.stack_size < UCO_STACK_MIN) o.stack_size = UCO_STACK_MIN;
    if (!o.stack_cache) o.stack_cache = 256;

    struct uco_loop *l = calloc(1, sizeof *l);
    if (!l) return -ENOMEM;
    int r = uco__ring_init(&l->ring, o.sq_entries, o.cq_entries, o.ring_mode);
    if (r < 0) {
        free(l);
        return r;
    }
    l->inbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->inbox_fd < 0) {
        r = -errno;
        uco__ring_exit(&l->ring);
        free(l);
        return r;
    }
    l->opts = o;
    l->stack_size = o.stack_size;
    l->thread = pthread_self();
    l->inbox_comp.fn = inbox_complete;
    uco__loop_init_ignore(l);
    uco__stacks_init(&l->stacks, o.stack_cache, o.guarded_stacks);
    l->now = uco__clock();
    if (o.stall_ns > 0) {
        r = uco__stall_start(l);
        if (r < 0) {
            close(l->inbox_fd);
            uco__ring_exit(&l->ring);
            free(l);
            return r;
        }
    }
    *out = l;
    return 0;
}

/* Submits, waits and reaps until none of the loop's own SQEs is in flight (teardown). */
static void drain_internal(struct uco_loop *l)
{
    for (int i = 0; i < 1000 && (l->internal || l->inflight); i++) {
        uco__ring_enter(&l->ring, true, 10 * UCO_MSEC);
        uco__ring_reap(&l->ring);
    }
}

int uco_loop_free(uco_loop *l)
{
    if (!l) return 0;
    if (!pthread_equal(l->thread, pthread_self())) return -EINVAL;
    if (l->running || l->tasks_alive) return -EBUSY;
    uco__stall_stop(l);
    if (l->inbox_armed) {
        struct io_uring_sqe *sqe = uco__sqe(l);
        if (sqe) {
            io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&l->inbox_comp, 0);
            io_uring_sqe_set_data(sqe, &l->ignore_comp);
            l->internal++;
        }
    }
    drain_internal(l);
    /* A worker may still be writing the wake-up for a job we already took (see
     * uco__inbox_post): a few instructions away, so wait for it. */
    while (atomic_load_explicit(&l->inbox_posting, memory_order_acquire))
        sched_yield();
    uco__posts_free(l); /* posted, never started: their functions do not run */
    for (size_t i = 0; i < sizeof l->layer / sizeof l->layer[0]; i++)
        if (l->layer_fini[i]) l->layer_fini[i](l);
    uco__task_slots_free(l);
    uco__stacks_fini(&l->stacks);
    uco__timers_free(&l->timers);
    close(l->inbox_fd);
    uco__ring_exit(&l->ring);
    if (uco__tls_loop == l) uco__tls_loop = NULL;
    free(l);
    return 0;
}

static void sanitizer_begin(struct uco_loop *l)
{
#ifdef UCO_ASAN
    /* A loop always runs on the same thread: find its stack once (pthread_getattr_np parses
     * /proc/self/maps for the main thread, far too slow for every run). */
    if (!l->sched_stack_lo) {
        pthread_attr_t attr;
        void *addr = NULL;
        size_t size = 0;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            pthread_attr_getstack(&attr, &addr, &size);
            pthread_attr_destroy(&attr);
        }
        l->sched_stack_lo = addr;
        l->sched_stack_size = size;
    }
#endif
#ifdef UCO_TSAN
    l->sched_tsan_fiber = __tsan_get_current_fiber();
#endif
    (void)l;
}

/* Whether a turn that will not wait must still enter the kernel: to submit queued SQEs, or to
 * collect completions that may wake a task (with DEFER_TASKRUN the kernel posts them only when
 * the ring is entered). With nothing queued and nothing in flight that could wake anyone, the
 * enter would be a system call for nothing, and a yield or a spawn + join would pay for it. */
static bool turn_needs_enter(const struct uco_loop *l)
{
    return uco__ring_sq_pending(&l->ring) || l->inflight || l->jobs_pending || l->user_waits;
}

/* Held (uco_loop_hold): posts are expected, tasks or not; or some are here, not yet taken
 * (the inbox's read will bring them) or started. A poster pushes before it releases its hold,
 * so a hold seen gone leaves its posts to be seen on the list. */
static bool held(struct uco_loop *l)
{
    return atomic_load_explicit(&l->holds, memory_order_acquire) != 0 ||
           atomic_load_explicit(&l->posts, memory_order_acquire) || l->posts_left;
}

int uco_loop_run(uco_loop *l)
{
    if (!l || !pthread_equal(l->thread, pthread_self())) return -EINVAL;
    if (l->running) return -EBUSY;
    struct uco_loop *outer = uco__tls_loop;
    if (outer && outer->running) return -EBUSY; /* another loop runs on this thread */
    l->running = true;
    uco__tls_loop = l;
    sanitizer_begin(l);
    uco__inbox_arm(l);   /* so uco_loop_stop() from another thread can wake us */
    uco__posts_drain(l); /* posted while it was not running */
    l->now = uco__clock();
    int ret;
    for (;;) {
        if (UCO__UNLIKELY(l->posts_left != NULL)) uco__posts_spawn(l);
        if (l->runq.head) uco__run_batch(l);
        if (atomic_exchange(&l->stop, false)) {
            ret = l->tasks_alive ? 1 : 0;
            break;
        }
        if (!l->tasks_alive && !held(l)) {
            ret = 0;
            break;
        }
        bool wait = l->runq.head == NULL && !l->posts_left; /* (posts: started next turn) */
        int64_t timeout = -1;
        if (wait) {
            int64_t next = uco__timers_next(&l->timers);
            if (next == INT64_MAX && !l->inflight && !l->jobs_pending && !held(l)) {
                /* Every task waits on another task, and nothing else can wake any of them. */
                ret = -EDEADLK;
                break;
            }
            if (next != INT64_MAX) {
                timeout = next - uco__clock();
                if (timeout <= 0) {
                    timeout = 0;
                    wait = false;
                }
            }
        }
        if (wait || turn_needs_enter(l)) {
            uco__ring_enter(&l->ring, wait, timeout);
            uco__ring_reap(&l->ring);
        }
        /* The clock is read for the timers alone (l->now is for their functions): a turn with
         * none armed skips both the clock and the call. */
        if (l->timers.n) {
            l->now = uco__clock();
            l->stats.timers_fired += uco__timers_fire(&l->timers, l->now);
        }
        l->stats.turns++;
    }
    /* Push out what the last turn queued (e.g. cancels) so nothing sits in the SQ. */
    uco__ring_submit(&l->ring);
    l->running = false;
    uco__tls_loop = outer;
    return ret;
}

void uco_loop_stop(uco_loop *l)
{
    if (!l) return;
    atomic_store(&l->stop, true);
    /* Off the loop's tasks (another thread, a signal handler) the loop may be asleep in
     * io_uring_enter: the inbox eventfd wakes it. write(2) is async-signal-safe. */
    if (uco__tls_loop != l || !l->current) uco__inbox_wake(l);
}

void uco__inbox_wake(struct uco_loop *l)
{
    uint64_t one = 1;
    ssize_t n = write(l->inbox_fd, &one, sizeof one);
    (void)n; /* EAGAIN only when the counter is full: the loop is awake anyway */
}

uco_loop *uco_loop_current(void)
{
    struct uco_loop *l = uco__tls_loop;
    return l && l->running ? l : NULL;
}

const char *uco_ring_mode_name(unsigned mode)
{
    switch (mode) {
    case UCO_RING_DEFER_TASKRUN:
        return "defer_taskrun";
    case UCO_RING_COOP_TASKRUN:
        return "coop_taskrun";
    case UCO_RING_PLAIN:
        return "plain";
    case UCO_RING_AUTO:
        return "auto";
    default:
        return "?";
    }
}

bool uco_loop_has_op(uco_loop *l, unsigned opcode)
{
    return l && uco__ring_has_op(&l->ring, opcode);
}

int uco_loop_stats_get(uco_loop *l, uco_loop_stats *out)
{
    if (!l || !out) return -EINVAL;
    *out = l->stats;
    out->ring_mode = l->ring.mode;
    out->setup_flags = l->ring.setup_flags;
    out->sq_entries = l->ring.sq_entries;
    out->cq_entries = l->ring.cq_entries;
    out->enters = l->ring.enters;
    out->sqes = l->ring.sqes;
    out->cqes = l->ring.cqes;
    out->cq_overflows = l->ring.overflows;
    out->tasks_alive = l->tasks_alive;
    out->ops_inflight = l->inflight;
    out->stacks_guarded = l->stacks.guarded;
    out->stacks_unguarded = l->stacks.unguarded;
    out->stall_reports = atomic_load(&l->stall_reports);
    return 0;
}

static const char *state_name(const struct uco_task *t)
{
    switch (t->state) {
    case UCO__TS_READY:
        return "ready";
    case UCO__TS_RUNNING:
        return "running";
    case UCO__TS_PARKED:
        return "waiting";
    case UCO__TS_DONE:
        return "done";
    default:
        return "free";
    }
}

static void dump_op(FILE *out, const struct uco__op *op)
{
    if (op->kind == UCO_OP_JOIN)
        fprintf(out, " join(task %llu)", (unsigned long long)op->u.join_target->id);
    else if (op->fd >= 0)
        fprintf(out, " %s(fd %d)", uco_op_kind_name(op->kind), op->fd);
    else
        fprintf(out, " %s", uco_op_kind_name(op->kind));
}

void uco_loop_dump(uco_loop *l, FILE *out)
{
    if (!l || !out) return;
    int64_t now = uco__clock();
    fprintf(out, "uco loop %p: %llu tasks alive, %llu ops in flight, %llu worker jobs, ring %s\n",
            (void *)l, (unsigned long long)l->tasks_alive, (unsigned long long)l->inflight,
            (unsigned long long)l->jobs_pending, uco_ring_mode_name(l->ring.mode));
    for (struct uco_task *t = l->all; t; t = t->all_next) {
        fprintf(out, "  task %llu '%s' %s", (unsigned long long)t->id, t->name, state_name(t));
        if (t->state == UCO__TS_PARKED) {
            switch (t->park) {
            case UCO__PK_OP:
                fputs(" on", out);
                dump_op(out, t->park_obj);
                break;
            case UCO__PK_OPS: {
                struct uco__waitset *ws = t->park_obj;
                fprintf(out, " on%s", ws->any ? " any of" : "");
                for (size_t i = 0; i < ws->n && i < 8; i++)
                    if (ws->ops[i]->state == UCO__OS_INFLIGHT) dump_op(out, ws->ops[i]);
                if (ws->n > 8) fprintf(out, " ... (%zu ops)", ws->n);
                break;
            }
            case UCO__PK_SLEEP:
                fprintf(out, " sleeping, %lld ms left",
                        (long long)((t->sleep_timer.when - now) / UCO_MSEC));
                break;
            case UCO__PK_USER:
                fprintf(out, " on %s", t->park_what ? t->park_what : "?");
                break;
            default:
                break;
            }
        }
        if (t->cancel_res)
            fprintf(out, " [%s]", t->cancel_res == -ECANCELED ? "cancelled" : "timed out");
        fputc('\n', out);
    }
}

int uco_buf_register(uco_loop *l, const struct iovec *iovs, unsigned n)
{
    if (!l || !iovs || n == 0 || n > 16384) return -EINVAL;
    if (!pthread_equal(l->thread, pthread_self())) return -EINVAL;
    if (l->ring.buffers_registered) return -EBUSY;
    int r = io_uring_register_buffers(&l->ring.ring, iovs, n);
    if (r == 0) l->ring.buffers_registered = true;
    return r;
}

int uco_buf_unregister(uco_loop *l)
{
    if (!l) return -EINVAL;
    if (!l->ring.buffers_registered) return -ENXIO;
    int r = io_uring_unregister_buffers(&l->ring.ring);
    if (r == 0) l->ring.buffers_registered = false;
    return r;
}

int uco_fault_add(uco_loop *l, const uco_fault *rule)
{
    if (!l) return -EINVAL;
    return uco__fault_add(&l->faults, rule);
}

void uco_fault_clear(uco_loop *l)
{
    if (l) l->faults.n = 0;
}

intptr_t uco_run(uco_task_fn *fn, void *arg, const uco_loop_opts *opts)
{
    if (!fn) return -EINVAL;
    uco_loop *l;
    int r = uco_loop_new(&l, opts);
    if (r < 0) return r;
    uco_task *t;
    r = uco_loop_spawn(l, &t, fn, arg, NULL);
    if (r < 0) {
        uco_loop_free(l);
        return r;
    }
    r = uco_loop_run(l);
    if (r != 0) {
        /* Deadlocked (or stopped): cancel what is left and let it unwind. */
        uco__cancel_all(l);
        int again = uco_loop_run(l);
        if (r > 0) r = again;
    }
    int done;
    intptr_t res = uco__task_take_result(t, &done);
    uco_loop_free(l);
    if (r < 0) return r;
    return done ? res : -ECANCELED;
}
