/* Cancellation: safe with operations in flight (the buffer is never written afterwards, the
 * op's own CQE is consumed), of tasks parked in every kind of wait, and the draining of started
 * ops a task never waited for. */
#include "test_util.h"
#include "core_util.h"

#include <poll.h>
#include <stdatomic.h>

#define PATTERN 'x'

/* 0 if buf[0..n) still holds PATTERN everywhere. */
static int untouched(const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (buf[i] != PATTERN) return -1;
    return 0;
}

/* 0 if data written into pipe p now is still there to read: no read outlived its task. */
static int pipe_keeps_late_data(int p[2])
{
    char check[8];
    if (write(p[1], "late", 4) != 4) return -1;
    return read(p[0], check, sizeof check) == 4 ? 0 : -1;
}

/* What a victim task does on an empty pipe until it is cancelled. */
enum victim_kind { V_READ, V_READV, V_POLL, V_TIMEOUT, V_SLEEP, V_WAIT_ANY, V_WAIT_ALL, V_N };

static const char *const victim_names[V_N] = {"read",  "readv",    "poll",    "timeout",
                                              "sleep", "wait_any", "wait_all"};

struct victim {
    enum victim_kind kind;
    int fd, fd2;
    char buf[64];
    char buf2[64];
    bool started;
};

static intptr_t victim_main(void *arg)
{
    struct victim *v = arg;
    v->started = true;
    switch (v->kind) {
    case V_READ:
        return uco_read(v->fd, v->buf, sizeof v->buf, -1);
    case V_READV: {
        struct iovec iov[2] = {{v->buf, 32}, {v->buf + 32, 32}};
        return uco_readv(v->fd, iov, 2, -1);
    }
    case V_POLL:
        return uco_poll(v->fd, POLLIN);
    case V_TIMEOUT:
        return uco_timeout(60 * UCO_SEC);
    case V_SLEEP:
        return uco_sleep(60 * UCO_SEC);
    case V_WAIT_ANY:
    case V_WAIT_ALL: {
        uco_op a, b, c;
        T_CHECK_EQ(uco_op_read(&a, v->fd, v->buf, sizeof v->buf, -1), 0);
        T_CHECK_EQ(uco_op_read(&b, v->fd2, v->buf2, sizeof v->buf2, -1), 0);
        T_CHECK_EQ(uco_op_timeout(&c, 60 * UCO_SEC), 0);
        uco_op *ops[3] = {&a, &b, &c};
        int64_t r = v->kind == V_WAIT_ANY ? uco_op_wait_any(ops, 3) : uco_op_wait_all(ops, 3);
        /* Every op has completed (cancelled) by now. */
        for (int i = 0; i < 3; i++) {
            T_CHECK(uco_op_done(ops[i]));
            T_CHECK_EQ(uco_op_result(ops[i]), -ECANCELED);
        }
        return r;
    }
    default:
        return -1;
    }
}

static intptr_t cancel_each_body(void *arg)
{
    for (int k = 0; k < V_N; k++) {
        struct victim v = {.kind = (enum victim_kind)k};
        int p[2], q[2];
        T_CHECK_EQ(pipe(p), 0);
        T_CHECK_EQ(pipe(q), 0);
        v.fd = p[0];
        v.fd2 = q[0];
        memset(v.buf, PATTERN, sizeof v.buf);
        memset(v.buf2, PATTERN, sizeof v.buf2);
        uco_task *t;
        T_CHECK_EQ(uco_spawn(&t, victim_main, &v), 0);
        T_CHECK_EQ(uco_yield(), 0); /* it starts and parks */
        T_CHECK(v.started);
        int64_t t0 = uco_now();
        T_CHECK_EQ(uco_task_cancel(t), 0);
        T_CHECK_EQ(uco_task_cancel(t), 0); /* twice is harmless */
        intptr_t r = 0;
        T_CHECK_EQ(uco_task_join(t, &r), 0);
        if (r != -ECANCELED) {
            t_fail(__FILE__, __LINE__, "%s: cancelled task returned %ld", victim_names[k], (long)r);
            return -1;
        }
        T_CHECK(uco_now() - t0 < 5 * UCO_SEC);
        T_CHECK_EQ(t_stats().ops_inflight, 0); /* every CQE consumed */
        T_CHECK_EQ(pipe_keeps_late_data(p), 0);
        T_CHECK_EQ(pipe_keeps_late_data(q), 0);
        T_CHECK_EQ(untouched(v.buf, sizeof v.buf), 0);
        T_CHECK_EQ(untouched(v.buf2, sizeof v.buf2), 0);
        t_close2(p);
        t_close2(q);
    }
    return 0;
}

static void cancel_with_op_in_flight_leaves_the_buffer_alone(void **state)
{
    t_run_modes(cancel_each_body, NULL, 0);
}

/* Cancel racing with the completion: whatever wins, nothing is lost or duplicated. */
static intptr_t race_body(void *arg)
{
    int moved = 0, cancelled = 0;
    for (int i = 0; i < 200; i++) {
        struct victim v = {.kind = V_READ};
        int p[2];
        T_CHECK_EQ(pipe(p), 0);
        v.fd = p[0];
        memset(v.buf, PATTERN, sizeof v.buf);
        uco_task *t;
        T_CHECK_EQ(uco_spawn(&t, victim_main, &v), 0);
        for (int y = 0; y < i % 3; y++)
            T_CHECK_EQ(uco_yield(), 0);
        T_CHECK_EQ(write(p[1], "D", 1), 1);
        T_CHECK_EQ(uco_task_cancel(t), 0);
        intptr_t r = 0;
        T_CHECK_EQ(uco_task_join(t, &r), 0);
        char c = 0;
        if (r == 1) {
            T_CHECK_EQ(v.buf[0], 'D');
            T_CHECK_EQ(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
            T_CHECK_EQ(read(p[0], &c, 1), -1); /* taken once, not twice */
            moved++;
        } else {
            T_CHECK_EQ(r, -ECANCELED);
            T_CHECK_EQ(v.buf[0], PATTERN);
            T_CHECK_EQ(read(p[0], &c, 1), 1);
            T_CHECK_EQ(c, 'D');
            cancelled++;
        }
        t_close2(p);
    }
    T_CHECK_EQ(moved + cancelled, 200);
    T_CHECK_EQ(t_stats().ops_inflight, 0);
    return 0;
}

static void cancel_racing_a_completion_loses_nothing(void **state)
{
    t_run_modes(race_body, NULL, 0);
}

/* ---- tasks parked on other tasks -------------------------------------------------------- */

static intptr_t sleeper(void *arg)
{
    int r = uco_sleep(60 * UCO_SEC);
    return r == -ECANCELED ? 42 : r;
}

static intptr_t joiner(void *arg)
{
    return uco_task_join(arg, NULL);
}

static intptr_t cancel_join_body(void *arg)
{
    uco_task *s, *j;
    T_CHECK_EQ(uco_spawn(&s, sleeper, NULL), 0);
    T_CHECK_EQ(uco_spawn(&j, joiner, s), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_task_cancel(j), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(j, &r), 0);
    T_CHECK_EQ(r, -ECANCELED); /* the joiner was interrupted ... */
    /* ... and the sleeper goes on, still joinable. */
    T_CHECK_EQ(t_stats().tasks_alive, 2);
    T_CHECK_EQ(uco_task_cancel(s), 0);
    T_CHECK_EQ(uco_task_join(s, &r), 0);
    T_CHECK_EQ(r, 42);
    return 0;
}

static void cancel_a_task_blocked_in_join(void **state)
{
    t_run(cancel_join_body, NULL, NULL);
}

/* A task cancelled before it ever ran: its function still runs, every await fails. */
static intptr_t doomed(void *arg)
{
    int *ran = arg;
    *ran = 1;
    T_CHECK_EQ(uco_interrupted(), -ECANCELED);
    T_CHECK_EQ(uco_nop(), -ECANCELED);
    T_CHECK_EQ(uco_yield(), -ECANCELED);
    T_CHECK_EQ(uco_sleep(UCO_MSEC), -ECANCELED);
    T_CHECK_EQ(uco_timeout(UCO_MSEC), -ECANCELED);
    char c;
    T_CHECK_EQ(uco_read(0, &c, 1, -1), -ECANCELED);
    uco_op op;
    T_CHECK_EQ(uco_op_nop(&op), -ECANCELED);
    T_CHECK_EQ(uco_work(doomed, NULL), -ECANCELED);
    *ran = 2;
    return 5;
}

static intptr_t cancel_before_start_body(void *arg)
{
    int ran = 0;
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, doomed, &ran), 0);
    T_CHECK_EQ(uco_task_cancel(t), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(ran, 2);
    T_CHECK_EQ(r, 5);
    return 0;
}

static void cancelled_before_start_still_runs_and_every_await_fails(void **state)
{
    t_run(cancel_before_start_body, NULL, NULL);
}

/* ---- started ops a task never waited for ------------------------------------------------- */

struct forgetful {
    int fd;
    char buf[16];
    char vbuf[16];
};

static intptr_t forgets_its_ops(void *arg)
{
    struct forgetful *f = arg;
    static uco_op ops[4]; /* in static memory, to show the drain does not need the frame */
    uco_op local[3];
    T_CHECK_EQ(uco_op_read(&local[0], f->fd, f->buf, sizeof f->buf, -1), 0);
    T_CHECK_EQ(uco_op_timeout(&local[1], 60 * UCO_SEC), 0);
    T_CHECK_EQ(uco_op_nop(&local[2]), 0);
    struct iovec iov = {f->vbuf, sizeof f->vbuf};
    T_CHECK_EQ(uco_op_readv(&ops[0], f->fd, &iov, 1, -1), 0);
    T_CHECK_EQ(uco_op_poll(&ops[1], f->fd, POLLIN), 0);
    return 9; /* returns with five ops started, none waited for */
}

/* A pipe, and f reading its empty end into buffers full of PATTERN. */
static int forgetful_init(struct forgetful *f, int p[2])
{
    if (pipe(p) != 0) return -1;
    f->fd = p[0];
    memset(f->buf, PATTERN, sizeof f->buf);
    memset(f->vbuf, PATTERN, sizeof f->vbuf);
    return 0;
}

static intptr_t forget_body(void *arg)
{
    struct forgetful f;
    int p[2];
    T_CHECK_EQ(forgetful_init(&f, p), 0);
    int64_t t0 = uco_now();
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, forgets_its_ops, &f), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, 9);
    T_CHECK(uco_now() - t0 < 5 * UCO_SEC); /* the 60 s timeout was cancelled */
    T_CHECK_EQ(t_stats().ops_inflight, 0);
    T_CHECK_EQ(pipe_keeps_late_data(p), 0);
    T_CHECK_EQ(untouched(f.buf, sizeof f.buf), 0);
    T_CHECK_EQ(untouched(f.vbuf, sizeof f.vbuf), 0);
    t_close2(p);
    return 0;
}

static void started_ops_left_in_the_task_frame_survive_the_end_drain(void **state)
{
    t_run_modes(forget_body, NULL, 0);
}

/* The exit path can go deep: a stall report of the ending task calls the user's callback on
 * the task's own stack while its forgotten ops are still being drained. */
static void deep_stall_callback(const uco_stall_report *r, void *arg)
{
    volatile char scratch[4096];
    for (size_t i = 0; i < sizeof scratch; i++)
        scratch[i] = (char)i;
    (void)r;
    atomic_fetch_add((atomic_int *)arg, scratch[100] != 0); /* called from two threads */
}

static intptr_t computes_then_forgets(void *arg)
{
    struct forgetful *f = arg;
    int64_t t0 = uco_now();
    while (uco_now() - t0 < 3 * UCO_MSEC) { /* over the 1 ms stall threshold */
    }
    uco_op a, b;
    T_CHECK_EQ(uco_op_read(&a, f->fd, f->buf, sizeof f->buf, -1), 0);
    T_CHECK_EQ(uco_op_timeout(&b, 60 * UCO_SEC), 0);
    return 4;
}

static intptr_t deep_exit_body(void *arg)
{
    struct forgetful f;
    int p[2];
    T_CHECK_EQ(forgetful_init(&f, p), 0);
    for (int i = 0; i < 20; i++) {
        uco_task *t;
        T_CHECK_EQ(uco_spawn(&t, computes_then_forgets, &f), 0);
        intptr_t r = 0;
        T_CHECK_EQ(uco_task_join(t, &r), 0);
        T_CHECK_EQ(r, 4);
        T_CHECK_EQ(t_stats().ops_inflight, 0);
    }
    T_CHECK_EQ(pipe_keeps_late_data(p), 0);
    T_CHECK_EQ(untouched(f.buf, sizeof f.buf), 0);
    t_close2(p);
    return 0;
}

/* Regression: the end-of-task drain used to run on the bottom 16 KiB of the task's own
 * stack, where a deep frame may have left a started op and its buffer: the drain's frames
 * overwrote the op record the kernel was about to complete. The drain now runs on a stack of
 * its own. */
struct deep_read {
    int fd;
    size_t depth;   /* bytes of stack used above the op */
    char *buf_seen; /* where the deep buffer was */
};

/* Below the caller's d->depth bytes: across the depths tried, this frame, its op record and
 * buffer land all over the bottom 24 KiB of a 64 KiB stack. */
static __attribute__((noinline)) int start_read_here(struct deep_read *d)
{
    uco_op op;
    char buf[16];
    d->buf_seen = buf;
    return uco_op_read(&op, d->fd, buf, sizeof buf, -1); /* never waited for */
}

static __attribute__((noinline)) int start_read_deep(struct deep_read *d)
{
    char *frame = __builtin_alloca(d->depth);
    memset(frame, PATTERN, d->depth);
    __asm__ volatile("" : : "r"(frame) : "memory");
    return start_read_here(d);
}

static intptr_t forgets_a_deep_op(void *arg)
{
    return start_read_deep(arg);
}

static intptr_t deep_op_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    struct deep_read d = {.fd = p[0]};
    for (size_t depth = 40 * 1024; depth <= 56 * 1024; depth += 64) {
        d.depth = depth;
        uco_task *t;
        T_CHECK_EQ(uco_spawn(&t, forgets_a_deep_op, &d), 0);
        intptr_t r = -1;
        T_CHECK_EQ(uco_task_join(t, &r), 0);
        T_CHECK_EQ(r, 0);
        T_CHECK_EQ(t_stats().ops_inflight, 0);
    }
    T_CHECK_EQ(pipe_keeps_late_data(p), 0);
    t_close2(p);
    return 0;
}

static void started_op_deep_in_the_stack_survives_the_end_drain(void **state)
{
    assert_int_equal(t_run(deep_op_body, NULL, NULL), 0);
}

static void started_ops_survive_a_deep_exit_path(void **state)
{
    atomic_int reports = 0;
    uco_loop_opts o = {
        .stall_ns = UCO_MSEC, .stall_fn = deep_stall_callback, .stall_arg = &reports};
    t_run(deep_exit_body, NULL, &o);
    assert_true(atomic_load(&reports) > 0);
}

/* A detached task ending with ops in flight drains them too; the loop ends. */
static intptr_t detached_forget_body(void *arg)
{
    struct forgetful *f = arg;
    T_CHECK_EQ(uco_spawn(NULL, forgets_its_ops, f), 0);
    return 0;
}

static void detached_task_end_drains_started_ops(void **state)
{
    struct forgetful f;
    int p[2];
    assert_int_equal(forgetful_init(&f, p), 0);
    assert_int_equal(t_run(detached_forget_body, &f, NULL), 0);
    assert_int_equal(pipe_keeps_late_data(p), 0);
    assert_int_equal(untouched(f.buf, sizeof f.buf), 0);
    t_close2(p);
}

/* Cancelling a task that is itself draining its ops at its end. */
static intptr_t cancel_while_draining_body(void *arg)
{
    struct forgetful f;
    int p[2];
    T_CHECK_EQ(forgetful_init(&f, p), 0);
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, forgets_its_ops, &f), 0);
    T_CHECK_EQ(uco_yield(), 0); /* it returned and parks waiting for its cancellations */
    int c = uco_task_cancel(t);
    T_CHECK(c == 0 || c == -ESRCH);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, 9);
    T_CHECK_EQ(t_stats().ops_inflight, 0);
    t_close2(p);
    return 0;
}

static void cancel_during_the_end_drain(void **state)
{
    t_run_modes(cancel_while_draining_body, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cancel_with_op_in_flight_leaves_the_buffer_alone),
        cmocka_unit_test(cancel_racing_a_completion_loses_nothing),
        cmocka_unit_test(cancel_a_task_blocked_in_join),
        cmocka_unit_test(cancelled_before_start_still_runs_and_every_await_fails),
        cmocka_unit_test(started_ops_left_in_the_task_frame_survive_the_end_drain),
        cmocka_unit_test(started_ops_survive_a_deep_exit_path),
        cmocka_unit_test(started_op_deep_in_the_stack_survives_the_end_drain),
        cmocka_unit_test(detached_task_end_drains_started_ops),
        cmocka_unit_test(cancel_during_the_end_drain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
