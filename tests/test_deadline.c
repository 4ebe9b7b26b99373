/* Deadlines: on a scope of awaits (uco_deadline_set) and on a whole task
 * (uco_task_set_deadline, uco_task_opts.deadline); ones that fire and ones that don't. */
#include "test_util.h"
#include "core_util.h"

#include <stdatomic.h>

#define MS UCO_MSEC

/* Checks that r is -ETIMEDOUT and that it took about `ms` (loosely: a busy machine). */
#define T_CHECK_TIMED_OUT(r, t0, ms)                                                               \
    do {                                                                                           \
        int64_t r_ = (r);                                                                          \
        int64_t took_ = uco_now() - (t0);                                                          \
        T_CHECK_EQ(r_, -ETIMEDOUT);                                                                \
        T_CHECK(took_ >= (ms)*MS);                                                                 \
        T_CHECK(took_ < (ms)*MS + 10 * UCO_SEC);                                                   \
    } while (0)

static intptr_t sleeper(void *arg)
{
    return uco_sleep(60 * UCO_SEC);
}

static intptr_t slow_job(void *arg)
{
    atomic_store((atomic_int *)arg, 1);
    int64_t t0 = uco_now();
    while (uco_now() - t0 < 40 * MS)
        usleep(1000);
    return 3;
}

/* A scope deadline interrupts every kind of wait, then is restored. */
static intptr_t scope_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    char buf[4];
    uco_task *s;
    T_CHECK_EQ(uco_spawn(&s, sleeper, NULL), 0);
    for (int kind = 0; kind < 6; kind++) {
        int64_t t0 = uco_now();
        int64_t old = uco_deadline_set(t0 + 15 * MS);
        T_CHECK_EQ(old, UCO_FOREVER);
        int64_t r = 0;
        switch (kind) {
        case 0:
            r = uco_read(p[0], buf, sizeof buf, -1);
            break;
        case 1:
            r = uco_sleep(60 * UCO_SEC);
            break;
        case 2:
            r = uco_timeout(60 * UCO_SEC);
            break;
        case 3:
            r = uco_task_join(s, NULL); /* s stays joinable */
            break;
        case 4: {
            uco_op a, b;
            T_CHECK_EQ(uco_op_read(&a, p[0], buf, sizeof buf, -1), 0);
            T_CHECK_EQ(uco_op_timeout(&b, 60 * UCO_SEC), 0);
            uco_op *ops[2] = {&a, &b};
            r = uco_op_wait_any(ops, 2);
            T_CHECK_EQ(uco_op_result(&a), -ECANCELED);
            T_CHECK_EQ(uco_op_result(&b), -ECANCELED);
            break;
        }
        case 5:
            r = uco_poll(p[0], 1 /* POLLIN */);
            break;
        }
        T_CHECK_TIMED_OUT(r, t0, 15);
        /* Until restored, every await fails at once. */
        T_CHECK_EQ(uco_nop(), -ETIMEDOUT);
        T_CHECK_EQ(uco_yield(), -ETIMEDOUT);
        T_CHECK_EQ(uco_interrupted(), -ETIMEDOUT);
        T_CHECK_EQ(uco_deadline_set(old), t0 + 15 * MS);
        T_CHECK_EQ(uco_interrupted(), 0);
        T_CHECK_EQ(uco_nop(), 0);
        T_CHECK_EQ(t_stats().ops_inflight, 0);
    }
    T_CHECK_EQ(uco_task_cancel(s), 0);
    intptr_t r;
    T_CHECK_EQ(uco_task_join(s, &r), 0);
    T_CHECK_EQ(r, -ECANCELED);
    t_close2(p);
    return 0;
}

static void scope_deadline_interrupts_each_kind_of_wait(void **state)
{
    t_run_modes(scope_body, NULL, 0);
}

static intptr_t no_fire_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    int64_t old = uco_deadline_set(uco_now() + 10 * UCO_SEC);
    T_CHECK_EQ(uco_sleep(5 * MS), 0);
    T_CHECK_EQ(uco_timeout(MS), 0);
    T_CHECK_EQ(write(p[1], "ab", 2), 2);
    char buf[4];
    T_CHECK_EQ(uco_read(p[0], buf, sizeof buf, -1), 2);
    uco_deadline_set(old);
    /* A deadline restored before it passes never fires later. */
    old = uco_deadline_set(uco_now() + 10 * MS);
    uco_deadline_set(old);
    T_CHECK_EQ(uco_sleep(30 * MS), 0);
    T_CHECK_EQ(uco_nop(), 0);
    t_close2(p);
    return 0;
}

static void deadlines_that_do_not_pass_change_nothing(void **state)
{
    t_run_modes(no_fire_body, NULL, 0);
}

static intptr_t nested_body(void *arg)
{
    int64_t t0 = uco_now();
    int64_t outer = uco_deadline_set(t0 + 10 * UCO_SEC);
    T_CHECK_EQ(outer, UCO_FOREVER);
    int64_t inner = uco_deadline_set(t0 + 15 * MS);
    T_CHECK_EQ(inner, t0 + 10 * UCO_SEC);
    T_CHECK_TIMED_OUT(uco_sleep(60 * UCO_SEC), t0, 15);
    T_CHECK_EQ(uco_deadline_set(inner), t0 + 15 * MS);
    T_CHECK_EQ(uco_sleep(MS), 0); /* back under the outer one */
    T_CHECK_EQ(uco_deadline_set(outer), t0 + 10 * UCO_SEC);
    /* 0 and negative values mean "none", like UCO_FOREVER. */
    T_CHECK_EQ(uco_deadline_set(0), UCO_FOREVER);
    T_CHECK_EQ(uco_deadline_set(-1), UCO_FOREVER);
    T_CHECK_EQ(uco_nop(), 0);
    /* A deadline already past fails the next await without submitting anything. */
    uint64_t sqes = t_stats().sqes;
    uco_deadline_set(uco_now() - 1);
    T_CHECK_EQ(uco_nop(), -ETIMEDOUT);
    T_CHECK_EQ(t_stats().sqes, sqes);
    uco_deadline_set(UCO_FOREVER);
    return 0;
}

static void scope_deadlines_nest_and_restore(void **state)
{
    t_run(nested_body, NULL, NULL);
    assert_int_equal(uco_deadline_set(uco_now()), UCO_FOREVER); /* outside a task: no-op */
    assert_int_equal(uco_interrupted(), 0);
}

static intptr_t work_deadline_body(void *arg)
{
    /* A running job is not interrupted: the await returns its result after it ends. */
    atomic_int running = 0;
    uco_op job;
    T_CHECK_EQ(uco_op_work(&job, slow_job, &running), 0);
    while (!atomic_load(&running))
        T_CHECK_EQ(uco_yield(), 0);
    int64_t old = uco_deadline_set(uco_now() + 5 * MS);
    T_CHECK_EQ(uco_op_wait(&job), 3);
    uco_deadline_set(old);
    return 0;
}

static void deadline_waits_for_a_running_worker_job(void **state)
{
    t_run(work_deadline_body, NULL, NULL);
}

/* ---- deadline of a whole task ------------------------------------------------------------- */

static intptr_t late_task(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    char buf[4];
    int64_t t0 = uco_now();
    ssize_t r = uco_read(p[0], buf, sizeof buf, -1);
    T_CHECK_EQ(r, -ETIMEDOUT);
    /* Sticky: restoring a scope does not help. */
    uco_deadline_set(UCO_FOREVER);
    T_CHECK_EQ(uco_nop(), -ETIMEDOUT);
    T_CHECK_EQ(uco_sleep(MS), -ETIMEDOUT);
    T_CHECK_EQ(uco_interrupted(), -ETIMEDOUT);
    T_CHECK_EQ(uco_close(p[0]), 0); /* close still runs */
    T_CHECK_EQ(uco_close(p[1]), 0);
    return (intptr_t)((uco_now() - t0) / MS);
}

static intptr_t task_deadline_body(void *arg)
{
    /* Through the spawn options ... */
    /* (Checked against the deadline, not the task's own start, which may come later.) */
    uco_task_opts o = {.deadline = uco_now() + 20 * MS};
    uco_task *t;
    T_CHECK_EQ(uco_spawn_opts(&t, late_task, NULL, &o), 0);
    intptr_t ms = 0;
    T_CHECK_EQ(uco_task_join(t, &ms), 0);
    T_CHECK(uco_now() >= o.deadline && ms < 2000);
    /* ... and set on a running task. */
    T_CHECK_EQ(uco_spawn(&t, late_task, NULL), 0);
    T_CHECK_EQ(uco_yield(), 0);
    int64_t d = uco_now() + 20 * MS;
    T_CHECK_EQ(uco_task_set_deadline(t, d), 0);
    T_CHECK_EQ(uco_task_join(t, &ms), 0);
    T_CHECK(uco_now() >= d && ms < 2000);
    /* A deadline already past: the first await fails. */
    o.deadline = uco_now() - MS;
    T_CHECK_EQ(uco_spawn_opts(&t, late_task, NULL, &o), 0);
    T_CHECK_EQ(uco_task_join(t, &ms), 0);
    T_CHECK(ms < 1000);
    T_CHECK_EQ(uco_spawn(&t, late_task, NULL), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_task_set_deadline(t, uco_now() - MS), 0);
    T_CHECK_EQ(uco_task_join(t, &ms), 0);
    T_CHECK(ms < 1000);
    T_CHECK_EQ(uco_task_set_deadline(t, uco_now()), -EINVAL); /* released handle */
    return 0;
}

static void task_deadline_interrupts_and_sticks(void **state)
{
    t_run_modes(task_deadline_body, NULL, 0);
}

static intptr_t sleep_100(void *arg)
{
    return uco_sleep(100 * MS);
}

static intptr_t add_one(void *arg)
{
    return 1;
}

static intptr_t cleared_body(void *arg)
{
    uco_task *t;
    /* (50 ms: would pass during sleep_100's 100 ms; not while being spawned on a busy
     * machine, which makes the deadline sticky at once.) */
    uco_task_opts o = {.deadline = uco_now() + 50 * MS};
    T_CHECK_EQ(uco_spawn_opts(&t, sleep_100, NULL, &o), 0);
    T_CHECK_EQ(uco_task_set_deadline(t, UCO_FOREVER), 0); /* cleared before it passes */
    intptr_t r = -1;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, 0);
    o.deadline = uco_now() + 50 * MS;
    T_CHECK_EQ(uco_spawn_opts(&t, sleep_100, NULL, &o), 0);
    T_CHECK_EQ(uco_task_set_deadline(t, 0), 0); /* 0 clears too */
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, 0);
    /* Moved later: does not fire; finished: -ESRCH. */
    T_CHECK_EQ(uco_spawn(&t, sleep_100, NULL), 0);
    T_CHECK_EQ(uco_task_set_deadline(t, uco_now() + 50 * MS), 0);
    T_CHECK_EQ(uco_task_set_deadline(t, uco_now() + 10 * UCO_SEC), 0);
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(uco_spawn(&t, add_one, NULL), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_task_set_deadline(t, uco_now() + MS), -ESRCH);
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(uco_task_set_deadline(NULL, 0), -EINVAL);
    return 0;
}

static void task_deadline_cleared_or_moved_does_not_fire(void **state)
{
    t_run(cleared_body, NULL, NULL);
}

/* The effective deadline is the earlier of the task's and the scope's. Each task gets its
 * own (task) deadline as argument. */
static intptr_t earlier_task(void *arg)
{
    int64_t task_deadline = *(int64_t *)arg;
    uco_deadline_set(uco_now() + 10 * UCO_SEC);
    T_CHECK_EQ(uco_sleep(60 * UCO_SEC), -ETIMEDOUT);
    T_CHECK(uco_now() >= task_deadline);
    uco_deadline_set(UCO_FOREVER);
    T_CHECK_EQ(uco_nop(), -ETIMEDOUT); /* it was the task's: sticky */
    return 0;
}

static intptr_t earlier_scope(void *arg)
{
    int64_t task_deadline = *(int64_t *)arg;
    int64_t t0 = uco_now();
    uco_deadline_set(t0 + 15 * MS);
    T_CHECK_TIMED_OUT(uco_sleep(60 * UCO_SEC), t0, 15);
    uco_deadline_set(UCO_FOREVER);
    T_CHECK_EQ(uco_nop(), 0); /* it was the scope's */
    /* The task's own deadline still comes. */
    T_CHECK_EQ(uco_sleep(60 * UCO_SEC), -ETIMEDOUT);
    T_CHECK(uco_now() >= task_deadline);
    return 0;
}

static intptr_t earlier_body(void *arg)
{
    uco_task *a, *b;
    int64_t da = uco_now() + 15 * MS, db = uco_now() + 200 * MS;
    uco_task_opts oa = {.deadline = da};
    uco_task_opts ob = {.deadline = db};
    T_CHECK_EQ(uco_spawn_opts(&a, earlier_task, &da, &oa), 0);
    T_CHECK_EQ(uco_spawn_opts(&b, earlier_scope, &db, &ob), 0);
    intptr_t r = -1;
    T_CHECK_EQ(uco_task_join(a, &r), 0);
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(uco_task_join(b, &r), 0);
    T_CHECK_EQ(r, 0);
    return 0;
}

static void effective_deadline_is_the_earlier_one(void **state)
{
    t_run(earlier_body, NULL, NULL);
}

/* A task computing without awaiting notices its deadline through uco_interrupted(). */
static intptr_t computing(void *arg)
{
    long spins = 0;
    while (uco_interrupted() == 0 && spins < 2000000000L)
        spins++;
    T_CHECK_EQ(uco_interrupted(), -ETIMEDOUT);
    T_CHECK_EQ(uco_nop(), -ETIMEDOUT);
    return 0;
}

static intptr_t computing_body(void *arg)
{
    uco_task_opts o = {.deadline = uco_now() + 10 * MS};
    uco_task *t;
    T_CHECK_EQ(uco_spawn_opts(&t, computing, NULL, &o), 0);
    int64_t t0 = uco_now();
    T_CHECK_EQ(uco_task_join(t, NULL), 0);
    T_CHECK(uco_now() - t0 < 2 * UCO_SEC);
    return 0;
}

static void computing_task_sees_its_deadline_in_uco_interrupted(void **state)
{
    t_run(computing_body, NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scope_deadline_interrupts_each_kind_of_wait),
        cmocka_unit_test(deadlines_that_do_not_pass_change_nothing),
        cmocka_unit_test(scope_deadlines_nest_and_restore),
        cmocka_unit_test(deadline_waits_for_a_running_worker_job),
        cmocka_unit_test(task_deadline_interrupts_and_sticks),
        cmocka_unit_test(task_deadline_cleared_or_moved_does_not_fire),
        cmocka_unit_test(effective_deadline_is_the_earlier_one),
        cmocka_unit_test(computing_task_sees_its_deadline_in_uco_interrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
