/* Operations started now and awaited later: uco_op_* starters, wait, wait_all (WhenAll),
 * wait_any (WhenAny), result, done, cancel, join, work, timeout; interrupted waits drain. */
#include "test_util.h"
#include "core_util.h"

#include <poll.h>
#include <stdatomic.h>

static intptr_t late_writer(void *arg)
{
    int fd = *(int *)arg;
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_write(fd, "data", 4, -1), 4);
    return 0;
}

static intptr_t times_two(void *arg)
{
    return (intptr_t)arg * 2;
}

static intptr_t start_then_wait_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    char buf[8] = {0};
    uco_op rd, nop;
    T_CHECK_EQ(uco_op_read(&rd, p[0], buf, sizeof buf, -1), 0);
    T_CHECK_EQ(uco_op_nop(&nop), 0);
    T_CHECK(!uco_op_done(&rd));
    /* The task goes on while both are in flight. */
    T_CHECK_EQ(write(p[1], "abc", 3), 3);
    T_CHECK_EQ(uco_op_wait(&nop), 0);
    T_CHECK_EQ(uco_op_wait(&rd), 3);
    T_CHECK(memcmp(buf, "abc", 3) == 0);
    /* Waited: released. */
    T_CHECK_EQ(uco_op_wait(&rd), -EINVAL);
    T_CHECK_EQ(uco_op_result(&rd), -EINVAL);
    T_CHECK(!uco_op_done(&rd));
    /* The same memory can start another op. */
    T_CHECK_EQ(uco_op_write(&rd, p[1], "z", 1, -1), 0);
    T_CHECK_EQ(uco_op_wait(&rd), 1);
    struct iovec iov = {buf, 1};
    T_CHECK_EQ(uco_op_readv(&rd, p[0], &iov, 1, -1), 0);
    T_CHECK_EQ(uco_op_wait(&rd), 1);
    T_CHECK_EQ(buf[0], 'z');
    T_CHECK_EQ(uco_op_writev(&rd, p[1], &iov, 1, -1), 0);
    T_CHECK_EQ(uco_op_wait(&rd), 1);
    T_CHECK_EQ(uco_op_poll(&rd, p[0], POLLIN), 0);
    T_CHECK_EQ(uco_op_wait(&rd), POLLIN);
    t_close2(p);
    return 0;
}

static void started_ops_run_while_the_task_goes_on(void **state)
{
    t_run_modes(start_then_wait_body, NULL, 0);
}

static intptr_t wait_all_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    char buf[8] = {0};
    uco_task *w;
    T_CHECK_EQ(uco_spawn(&w, late_writer, &p[1]), 0);
    uco_op a, b, c, d, e;
    int64_t t0 = uco_now();
    T_CHECK_EQ(uco_op_read(&a, p[0], buf, sizeof buf, -1), 0);
    T_CHECK_EQ(uco_op_timeout(&b, 20 * UCO_MSEC), 0);
    T_CHECK_EQ(uco_op_nop(&c), 0);
    T_CHECK_EQ(uco_op_work(&d, times_two, (void *)21), 0);
    T_CHECK_EQ(uco_op_join(&e, w), 0);
    uco_op *ops[5] = {&a, &b, &c, &d, &e};
    T_CHECK_EQ(uco_op_wait_all(ops, 5), 0);
    T_CHECK(uco_now() - t0 >= 20 * UCO_MSEC);
    for (int i = 0; i < 5; i++)
        T_CHECK(uco_op_done(ops[i]));
    T_CHECK_EQ(uco_op_result(&a), 4);
    T_CHECK(memcmp(buf, "data", 4) == 0);
    T_CHECK_EQ(uco_op_result(&b), 0);
    T_CHECK_EQ(uco_op_result(&c), 0);
    T_CHECK_EQ(uco_op_result(&d), 42);
    T_CHECK_EQ(uco_op_result(&e), 0);
    T_CHECK_EQ(uco_op_result(&e), -EINVAL); /* taken */
    /* wait_all of ops that are all done already returns at once. */
    T_CHECK_EQ(uco_op_nop(&a), 0);
    T_CHECK_EQ(uco_op_wait(&a), 0);
    T_CHECK_EQ(uco_op_nop(&a), 0);
    T_CHECK_EQ(uco_op_nop(&b), 0);
    T_CHECK_EQ(uco_op_wait_all(ops, 2), 0);
    T_CHECK_EQ(uco_op_wait_all(ops, 2), 0);
    T_CHECK_EQ(uco_op_result(&a), 0);
    T_CHECK_EQ(uco_op_result(&b), 0);
    t_close2(p);
    return 0;
}

static void wait_all_waits_for_every_kind_of_op(void **state)
{
    t_run_modes(wait_all_body, NULL, 0);
}

static intptr_t wait_any_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    char buf[8];
    uco_op rd, tmo, nop;
    T_CHECK_EQ(uco_op_read(&rd, p[0], buf, sizeof buf, -1), 0);
    T_CHECK_EQ(uco_op_timeout(&tmo, 10 * UCO_MSEC), 0);
    uco_op *ops[2] = {&rd, &tmo};
    int64_t t0 = uco_now();
    T_CHECK_EQ(uco_op_wait_any(ops, 2), 1); /* the timeout wins */
    T_CHECK(uco_now() - t0 >= 10 * UCO_MSEC);
    T_CHECK_EQ(uco_op_result(&tmo), 0);
    T_CHECK(!uco_op_done(&rd)); /* the read keeps going */
    T_CHECK_EQ(t_stats().ops_inflight, 1);
    /* Another round: the read wins now. */
    T_CHECK_EQ(uco_op_timeout(&tmo, 60 * UCO_SEC), 0);
    T_CHECK_EQ(write(p[1], "r", 1), 1);
    T_CHECK_EQ(uco_op_wait_any(ops, 2), 0);
    T_CHECK_EQ(uco_op_result(&rd), 1);
    T_CHECK_EQ(uco_op_cancel(&tmo), 0);
    T_CHECK_EQ(uco_op_wait(&tmo), -ECANCELED);
    /* An op already done is reported at once, without suspending. */
    T_CHECK_EQ(uco_op_read(&rd, p[0], buf, sizeof buf, -1), 0);
    T_CHECK_EQ(uco_op_nop(&nop), 0);
    uco_op *ops2[2] = {&rd, &nop};
    T_CHECK_EQ(uco_op_wait_any(ops2, 2), 1);
    uint64_t sw = t_stats().switches;
    T_CHECK_EQ(uco_op_wait_any(ops2, 2), 1); /* still done, not yet taken */
    T_CHECK_EQ(t_stats().switches, sw);
    T_CHECK_EQ(uco_op_result(&nop), 0);
    T_CHECK_EQ(uco_op_cancel(&rd), 0);
    T_CHECK_EQ(uco_op_wait(&rd), -ECANCELED);
    T_CHECK_EQ(t_stats().ops_inflight, 0);
    t_close2(p);
    return 0;
}

static void wait_any_returns_the_first_and_leaves_the_rest(void **state)
{
    t_run_modes(wait_any_body, NULL, 0);
}

/* ---- uco_op_cancel -------------------------------------------------------------------- */

static atomic_int gate; /* 0: a blocking job waits; 1: it may end */

static intptr_t gated_job(void *arg)
{
    atomic_store((atomic_int *)arg, 1); /* it runs */
    while (!atomic_load(&gate))
        usleep(100); /* a worker thread's blocking work (not a task) */
    return 7;
}

static intptr_t op_cancel_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    char buf[4];
    uco_op rd, nop;
    /* In flight: cancelled. */
    T_CHECK_EQ(uco_op_read(&rd, p[0], buf, sizeof buf, -1), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_op_cancel(&rd), 0);
    T_CHECK_EQ(uco_op_wait(&rd), -ECANCELED);
    T_CHECK_EQ(uco_op_cancel(&rd), -EINVAL); /* released */
    /* Completed, not yet waited: nothing to cancel. */
    T_CHECK_EQ(uco_op_nop(&nop), 0);
    uco_op *ops[1] = {&nop};
    T_CHECK_EQ(uco_op_wait_any(ops, 1), 0);
    T_CHECK_EQ(uco_op_cancel(&nop), -ENOENT);
    T_CHECK_EQ(uco_op_wait(&nop), 0);
    /* A worker job already running: -EALREADY, it runs to its end. */
    atomic_int running = 0;
    atomic_store(&gate, 0);
    uco_op job;
    T_CHECK_EQ(uco_op_work(&job, gated_job, &running), 0);
    while (!atomic_load(&running))
        T_CHECK_EQ(uco_op_nop(&nop) == 0 && uco_op_wait(&nop) == 0, 1);
    T_CHECK_EQ(uco_op_cancel(&job), -EALREADY);
    atomic_store(&gate, 1);
    T_CHECK_EQ(uco_op_wait(&job), 7);
    t_close2(p);
    return 0;
}

static void op_cancel_reports_cancelled_not_found_and_already(void **state)
{
    t_run_modes(op_cancel_body, NULL, 0);
}

/* ---- join, timeout as ops --------------------------------------------------------------- */

static intptr_t sleepy(void *arg)
{
    T_CHECK_EQ(uco_sleep(5 * UCO_MSEC), 0);
    return (intptr_t)arg;
}

static intptr_t join_op_body(void *arg)
{
    uco_task *a, *b;
    T_CHECK_EQ(uco_spawn(&a, sleepy, (void *)11), 0);
    T_CHECK_EQ(uco_spawn(&b, sleepy, (void *)12), 0);
    uco_op ja, jb;
    T_CHECK_EQ(uco_op_join(&ja, a), 0);
    T_CHECK_EQ(uco_op_join(&jb, a), -EINVAL); /* handle given to ja */
    T_CHECK_EQ(uco_task_join(a, NULL), -EINVAL);
    T_CHECK_EQ(uco_op_join(&jb, b), 0);
    /* Cancelling a join op: the task goes on and stays joinable. */
    T_CHECK_EQ(uco_op_cancel(&jb), 0);
    T_CHECK_EQ(uco_op_wait(&jb), -ECANCELED);
    T_CHECK_EQ(uco_op_wait(&ja), 11);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(b, &r), 0);
    T_CHECK_EQ(r, 12);
    /* Joining a task that has already ended completes at once. */
    T_CHECK_EQ(uco_spawn(&a, times_two, (void *)4), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_op_join(&ja, a), 0);
    T_CHECK(uco_op_done(&ja));
    T_CHECK_EQ(uco_op_wait(&ja), 8);
    T_CHECK_EQ(uco_op_join(&ja, uco_task_self()), -EDEADLK);
    T_CHECK_EQ(uco_op_join(&ja, NULL), -EINVAL);
    return 0;
}

static void join_as_an_op(void **state)
{
    t_run(join_op_body, NULL, NULL);
}

static intptr_t timeout_op_body(void *arg)
{
    uco_op a, b;
    int64_t t0 = uco_now();
    T_CHECK_EQ(uco_op_timeout(&a, 30 * UCO_MSEC), 0);
    T_CHECK_EQ(uco_op_timeout(&b, 10 * UCO_MSEC), 0);
    T_CHECK_EQ(uco_op_wait(&b), 0);
    int64_t mid = uco_now() - t0;
    T_CHECK_EQ(uco_op_wait(&a), 0);
    int64_t end = uco_now() - t0;
    T_CHECK(mid >= 10 * UCO_MSEC);
    T_CHECK(end >= 30 * UCO_MSEC);
    T_CHECK(end < 5 * UCO_SEC);
    T_CHECK_EQ(uco_op_timeout(&a, -1), 0); /* negative: expires at once */
    T_CHECK_EQ(uco_op_wait(&a), 0);
    return 0;
}

static void timeout_ops_expire_in_order(void **state)
{
    t_run_modes(timeout_op_body, NULL, 0);
}

/* ---- interrupted waits drain every op ----------------------------------------------------- */

/* Opens the gate of the running job once the interrupted wait has drained its kernel ops: the
 * job is still running when the wait is interrupted, whatever the machine's load. */
static intptr_t releaser(void *arg)
{
    int64_t deadline = *(int64_t *)arg;
    int64_t t0 = uco_now();
    while ((uco_now() < deadline || t_stats().ops_inflight != 0) && uco_now() - t0 < 10 * UCO_SEC)
        T_CHECK_EQ(uco_yield(), 0);
    atomic_store(&gate, 1);
    return 0;
}

static intptr_t interrupted_wait_body(void *arg)
{
    bool any = arg != NULL;
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    char b1[8], b2[8];
    memset(b1, 'q', sizeof b1);
    memset(b2, 'q', sizeof b2);
    atomic_int running = 0;
    atomic_store(&gate, 0);
    uco_op r1, r2, tm, job, nop;
    T_CHECK_EQ(uco_op_read(&r1, p[0], b1, sizeof b1, -1), 0);
    T_CHECK_EQ(uco_op_read(&r2, p[0], b2, sizeof b2, -1), 0);
    T_CHECK_EQ(uco_op_timeout(&tm, 60 * UCO_SEC), 0);
    T_CHECK_EQ(uco_op_work(&job, gated_job, &running), 0);
    while (!atomic_load(&running))
        T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_op_nop(&nop), 0);
    uco_op *ops[5] = {&r1, &r2, &tm, &job, &nop};
    int64_t deadline = uco_now() + 20 * UCO_MSEC;
    uco_task *rel;
    T_CHECK_EQ(uco_spawn(&rel, releaser, &deadline), 0);
    int64_t old = uco_deadline_set(deadline);
    int64_t r = 0;
    if (any) {
        /* The nop completes first: wait on the others only. */
        T_CHECK_EQ(uco_op_wait(&nop), 0);
        r = uco_op_wait_any(ops, 4);
    } else {
        r = uco_op_wait_all(ops, 5);
    }
    uco_deadline_set(old);
    T_CHECK_EQ(uco_task_join(rel, NULL), 0);
    T_CHECK_EQ(r, -ETIMEDOUT);
    T_CHECK_EQ(t_stats().ops_inflight, 0);
    for (int i = 0; i < 4; i++)
        T_CHECK(uco_op_done(ops[i]));
    T_CHECK_EQ(uco_op_result(&r1), -ECANCELED);
    T_CHECK_EQ(uco_op_result(&r2), -ECANCELED);
    T_CHECK_EQ(uco_op_result(&tm), -ECANCELED);
    T_CHECK_EQ(uco_op_result(&job), 7); /* it ran to its end, after the interruption */
    if (!any) T_CHECK_EQ(uco_op_result(&nop), 0);
    T_CHECK_EQ(write(p[1], "x", 1), 1);
    T_CHECK(b1[0] == 'q' && b2[0] == 'q');
    t_close2(p);
    return 0;
}

static void deadline_in_wait_all_cancels_and_drains_every_op(void **state)
{
    t_run_modes(interrupted_wait_body, NULL, 0);
}

static void deadline_in_wait_any_cancels_and_drains_every_op(void **state)
{
    t_run_modes(interrupted_wait_body, (void *)1, 0);
}

/* ---- whose op ------------------------------------------------------------------------- */

static uco_op shared_op;

static intptr_t stranger(void *arg)
{
    T_CHECK_EQ(uco_op_wait(&shared_op), -EPERM);
    T_CHECK_EQ(uco_op_result(&shared_op), -EPERM);
    T_CHECK_EQ(uco_op_cancel(&shared_op), -EPERM);
    uco_op *ops[1] = {&shared_op};
    T_CHECK_EQ(uco_op_wait_all(ops, 1), -EPERM);
    T_CHECK_EQ(uco_op_wait_any(ops, 1), -EPERM);
    return 0;
}

static intptr_t not_yours_body(void *arg)
{
    T_CHECK_EQ(uco_op_timeout(&shared_op, UCO_MSEC), 0);
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, stranger, NULL), 0);
    intptr_t r = -1;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(uco_op_wait(&shared_op), 0); /* still the owner's to wait for */
    uco_op never;
    memset(&never, 0, sizeof never);
    T_CHECK_EQ(uco_op_wait(&never), -EINVAL);
    T_CHECK_EQ(uco_op_result(&never), -EINVAL);
    T_CHECK_EQ(uco_op_cancel(&never), -EINVAL);
    T_CHECK(!uco_op_done(&never));
    uco_op *ops[2] = {&shared_op, NULL};
    T_CHECK_EQ(uco_op_wait_all(ops, 0), -EINVAL);
    T_CHECK_EQ(uco_op_wait_all(NULL, 1), -EINVAL);
    T_CHECK_EQ(uco_op_wait_any(ops, 2), -EINVAL);
    return 0;
}

/* Regression: another task's op gave -EINVAL where async.h documents -EPERM. */
static void waiting_for_another_tasks_op_is_eperm(void **state)
{
    t_run(not_yours_body, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(started_ops_run_while_the_task_goes_on),
        cmocka_unit_test(wait_all_waits_for_every_kind_of_op),
        cmocka_unit_test(wait_any_returns_the_first_and_leaves_the_rest),
        cmocka_unit_test(op_cancel_reports_cancelled_not_found_and_already),
        cmocka_unit_test(join_as_an_op),
        cmocka_unit_test(timeout_ops_expire_in_order),
        cmocka_unit_test(deadline_in_wait_all_cancels_and_drains_every_op),
        cmocka_unit_test(deadline_in_wait_any_cancels_and_drains_every_op),
        cmocka_unit_test(waiting_for_another_tasks_op_is_eperm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
