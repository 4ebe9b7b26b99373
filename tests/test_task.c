/* Tasks: spawn, join, detach, yield order, cancellation, deadlines. */
#include "test_util.h"
#include "core_util.h"

#include <errno.h>
#include <unistd.h>

static intptr_t add_ten(void *arg)
{
    return (intptr_t)arg + 10;
}

static intptr_t spawn_join_body(void *arg)
{
    uco_task *t[16];
    for (intptr_t i = 0; i < 16; i++)
        T_CHECK_EQ(uco_spawn(&t[i], add_ten, (void *)i), 0);
    for (intptr_t i = 0; i < 16; i++) {
        intptr_t r = -1;
        T_CHECK_EQ(uco_task_join(t[i], &r), 0);
        T_CHECK_EQ(r, i + 10);
    }
    return 7;
}

static void spawn_join_returns_results(void **state)
{
    assert_int_equal(t_run(spawn_join_body, NULL, NULL), 7);
}

static int order[16], norder;

static intptr_t yielder(void *arg)
{
    for (int i = 0; i < 2; i++) {
        order[norder++] = (int)(intptr_t)arg;
        uco_yield();
    }
    return 0;
}

static intptr_t yield_body(void *arg)
{
    norder = 0;
    uco_task *a, *b;
    uco_spawn(&a, yielder, (void *)1);
    uco_spawn(&b, yielder, (void *)2);
    T_CHECK_EQ(uco_task_join(a, NULL), 0);
    T_CHECK_EQ(uco_task_join(b, NULL), 0);
    return 0;
}

static void yield_interleaves_in_spawn_order(void **state)
{
    t_run(yield_body, NULL, NULL);
    assert_int_equal(norder, 4);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 1);
    assert_int_equal(order[3], 2);
}

static intptr_t long_sleep(void *arg)
{
    return uco_sleep(60 * UCO_SEC);
}

static intptr_t cancel_sleep_body(void *arg)
{
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, long_sleep, NULL), 0);
    T_CHECK_EQ(uco_sleep(UCO_MSEC), 0); /* let it park */
    int64_t t0 = uco_now();
    T_CHECK_EQ(uco_task_cancel(t), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, -ECANCELED);
    T_CHECK(uco_now() - t0 < 10 * UCO_SEC); /* not the 60 s sleep (loose: a busy machine) */
    return 0;
}

static void cancel_wakes_a_sleeping_task(void **state)
{
    t_run(cancel_sleep_body, NULL, NULL);
}

struct pipe_read {
    int fd;
    char buf[32];
};

static intptr_t read_pipe(void *arg)
{
    struct pipe_read *p = arg;
    return uco_read(p->fd, p->buf, sizeof p->buf, -1);
}

static intptr_t cancel_inflight_body(void *arg)
{
    int fds[2];
    T_CHECK_EQ(pipe(fds), 0);
    struct pipe_read p = {.fd = fds[0]};
    memset(p.buf, 'x', sizeof p.buf);
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, read_pipe, &p), 0);
    T_CHECK_EQ(uco_sleep(UCO_MSEC), 0); /* the read is now in the kernel */
    uco_loop_stats st;
    uco_loop_stats_get(uco_loop_current(), &st);
    T_CHECK_EQ(st.ops_inflight, 1);
    T_CHECK_EQ(uco_task_cancel(t), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, -ECANCELED);
    /* The read's own CQE was consumed before the task ended ... */
    uco_loop_stats_get(uco_loop_current(), &st);
    T_CHECK_EQ(st.ops_inflight, 0);
    /* ... and data written now is not taken by a read that outlived its task. */
    T_CHECK_EQ(write(fds[1], "hello", 5), 5);
    for (size_t i = 0; i < sizeof p.buf; i++)
        T_CHECK_EQ(p.buf[i], 'x');
    char check[8];
    T_CHECK_EQ(read(fds[0], check, sizeof check), 5);
    close(fds[0]);
    close(fds[1]);
    return 0;
}

static void cancel_with_read_in_flight_waits_for_its_cqe(void **state)
{
    t_run(cancel_inflight_body, NULL, NULL);
}

static intptr_t deadline_body(void *arg)
{
    int fds[2];
    T_CHECK_EQ(pipe(fds), 0);
    char buf[8];
    int64_t t0 = uco_now(); /* before the deadline is set: a slow machine (valgrind) may
                               take more than a millisecond between the two */
    int64_t old = uco_deadline_set(t0 + 20 * UCO_MSEC);
    T_CHECK_EQ(old, UCO_FOREVER);
    ssize_t n = uco_read(fds[0], buf, sizeof buf, -1);
    int64_t took = uco_now() - t0;
    T_CHECK_EQ(n, -ETIMEDOUT);
    T_CHECK(took >= 20 * UCO_MSEC);
    T_CHECK(took < 2 * UCO_SEC);
    /* Still past the deadline: every await fails at once until it is restored. */
    T_CHECK_EQ(uco_nop(), -ETIMEDOUT);
    uco_deadline_set(old);
    T_CHECK_EQ(uco_nop(), 0);
    /* A deadline that does not fire changes nothing. */
    old = uco_deadline_set(uco_now() + 10 * UCO_SEC);
    T_CHECK_EQ(write(fds[1], "ab", 2), 2);
    T_CHECK_EQ(uco_read(fds[0], buf, sizeof buf, -1), 2);
    uco_deadline_set(old);
    close(fds[0]);
    close(fds[1]);
    return 0;
}

static void deadline_on_one_read(void **state)
{
    t_run(deadline_body, NULL, NULL);
}

static intptr_t join_errors_body(void *arg)
{
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, add_ten, (void *)1), 0);
    T_CHECK_EQ(uco_task_join(uco_task_self(), NULL), -EDEADLK);
    T_CHECK_EQ(uco_task_join(NULL, NULL), -EINVAL);
    T_CHECK_EQ(uco_task_join(t, NULL), 0);
    T_CHECK_EQ(uco_task_join(t, NULL), -EINVAL); /* joined twice */
    T_CHECK_EQ(uco_task_cancel(NULL), -EINVAL);
    uco_task *d;
    T_CHECK_EQ(uco_spawn(&d, long_sleep, NULL), 0);
    T_CHECK_EQ(uco_task_detach(d), 0);
    T_CHECK_EQ(uco_task_join(d, NULL), -EINVAL); /* detached */
    T_CHECK_EQ(uco_task_detach(d), -EINVAL);
    T_CHECK_EQ(uco_task_cancel(d), 0);
    uco_task *f;
    T_CHECK_EQ(uco_spawn(&f, add_ten, NULL), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_task_cancel(f), -ESRCH); /* finished */
    T_CHECK_EQ(uco_task_join(f, NULL), 0);
    return 0;
}

static void join_and_cancel_bad_handles(void **state)
{
    t_run(join_errors_body, NULL, NULL);
}

static void awaitables_outside_a_task_return_eperm(void **state)
{
    assert_int_equal(uco_nop(), -EPERM);
    assert_int_equal(uco_sleep(1), -EPERM);
    assert_int_equal(uco_yield(), -EPERM);
    char b[1];
    assert_int_equal(uco_read(0, b, 1, -1), -EPERM);
    assert_int_equal(uco_spawn(NULL, add_ten, NULL), -EPERM);
    assert_null(uco_task_self());
    assert_null(uco_loop_current());
}

/* ---- spawning ----------------------------------------------------------------------------- */

static int ran_count;

static intptr_t count_run(void *arg)
{
    ran_count++;
    T_CHECK_EQ(uco_yield(), 0);
    return 0;
}

static intptr_t spawn_runs_later_body(void *arg)
{
    ran_count = 0;
    uco_loop_stats s0 = t_stats();
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, count_run, NULL), 0);
    T_CHECK_EQ(ran_count, 0); /* runs when the spawner next awaits */
    T_CHECK_EQ(t_stats().tasks_alive, 2);
    T_CHECK_EQ(t_stats().tasks_spawned, s0.tasks_spawned + 1);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(ran_count, 1);
    T_CHECK_EQ(uco_task_join(t, NULL), 0);
    T_CHECK_EQ(t_stats().tasks_alive, 1);
    return 0;
}

static void spawned_task_runs_when_the_spawner_awaits(void **state)
{
    t_run(spawn_runs_later_body, NULL, NULL);
}

static intptr_t detached_body(void *arg)
{
    ran_count = 0;
    uco_task_opts o = {.detached = true, .name = "bg"};
    uco_task *t = (uco_task *)&o; /* overwritten with NULL for a detached task */
    T_CHECK_EQ(uco_spawn_opts(&t, count_run, NULL, &o), 0);
    T_CHECK(t == NULL);
    T_CHECK_EQ(uco_spawn(NULL, count_run, NULL), 0);
    T_CHECK_EQ(uco_spawn_opts(NULL, count_run, NULL, NULL), 0);
    T_CHECK_EQ(t_stats().tasks_alive, 4);
    for (int i = 0; i < 3 && t_stats().tasks_alive > 1; i++)
        T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(ran_count, 3);
    T_CHECK_EQ(t_stats().tasks_alive, 1);
    /* Detaching a joinable task, before and after its end. */
    uco_task *a, *b;
    T_CHECK_EQ(uco_spawn(&a, count_run, NULL), 0);
    T_CHECK_EQ(uco_spawn(&b, add_ten, NULL), 0);
    T_CHECK_EQ(uco_task_detach(a), 0);
    T_CHECK_EQ(uco_yield(), 0); /* b has ended, a is halfway */
    T_CHECK_EQ(uco_task_detach(b), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(t_stats().tasks_alive, 1);
    return 0;
}

static void detached_tasks_run_and_release_themselves(void **state)
{
    assert_int_equal(t_run(detached_body, NULL, NULL), 0);
    assert_int_equal(ran_count, 4);
}

static intptr_t who_am_i(void *arg)
{
    uint64_t *id = arg;
    *id = uco_task_id(NULL);
    T_CHECK_EQ(*id, uco_task_id(uco_task_self()));
    T_CHECK(strcmp(uco_task_name(NULL), "worker-with-a-rather-long-name-") == 0);
    return 0;
}

static intptr_t names_body(void *arg)
{
    uint64_t id = 0;
    uco_task_opts o = {.name = "worker-with-a-rather-long-name-that-is-cut"};
    uco_task *t;
    T_CHECK_EQ(uco_spawn_opts(&t, who_am_i, &id, &o), 0);
    uint64_t tid = uco_task_id(t);
    T_CHECK(tid != 0);
    T_CHECK(tid != uco_task_id(NULL));
    T_CHECK_EQ(strlen(uco_task_name(t)), 31);
    T_CHECK_EQ(uco_task_join(t, NULL), 0);
    T_CHECK_EQ(id, tid);
    T_CHECK_EQ(uco_task_name(NULL)[0], 0); /* no name */
    return 0;
}

static void task_ids_are_unique_and_names_are_copied(void **state)
{
    t_run(names_body, NULL, NULL);
    assert_int_equal(uco_task_id(NULL), 0);
    assert_string_equal(uco_task_name(NULL), "");
}

static intptr_t negative(void *arg)
{
    return -EXDEV;
}

static intptr_t join_done_body(void *arg)
{
    uco_task *t;
    for (int round = 0; round < 300; round++) { /* slots are reused */
        T_CHECK_EQ(uco_spawn(&t, round % 2 ? negative : add_ten, (void *)(intptr_t)round), 0);
        if (round % 3) T_CHECK_EQ(uco_yield(), 0); /* sometimes it has ended already */
        intptr_t r = 0;
        T_CHECK_EQ(uco_task_join(t, &r), 0);
        T_CHECK_EQ(r, round % 2 ? -EXDEV : round + 10);
    }
    T_CHECK_EQ(t_stats().tasks_alive, 1);
    return 0;
}

static void join_returns_results_of_ended_and_running_tasks(void **state)
{
    t_run(join_done_body, NULL, NULL);
}

/* ---- sleep ------------------------------------------------------------------------------- */

static int wake_order[3], nwake;
static int64_t sleep_start;

/* Sleeps until sleep_start + ms: deadlines from one start, so that the order does not depend
 * on when each task began (under Valgrind a task's first run can take more than 10 ms), 100 ms
 * apart: a deadline passed before its task first ran would be a yield, not a timer, and tasks
 * that only yield wake in the order they were spawned. */
static intptr_t sleep_then_note(void *arg)
{
    int ms = (int)(intptr_t)arg;
    int64_t until = sleep_start + ms * UCO_MSEC;
    T_CHECK_EQ(uco_sleep_until(until), 0);
    int64_t now = uco_now();
    T_CHECK(now >= until);
    T_CHECK(now < until + 5 * UCO_SEC); /* loose: a busy 2-core machine */
    wake_order[nwake++] = ms;
    return 0;
}

static intptr_t sleep_body(void *arg)
{
    nwake = 0;
    sleep_start = uco_now();
    uco_task *t[3];
    T_CHECK_EQ(uco_spawn(&t[0], sleep_then_note, (void *)300), 0);
    T_CHECK_EQ(uco_spawn(&t[1], sleep_then_note, (void *)100), 0);
    T_CHECK_EQ(uco_spawn(&t[2], sleep_then_note, (void *)200), 0);
    for (int i = 0; i < 3; i++)
        T_CHECK_EQ(uco_task_join(t[i], NULL), 0);
    T_CHECK_EQ(nwake, 3);
    T_CHECK_EQ(wake_order[0], 100);
    T_CHECK_EQ(wake_order[1], 200);
    T_CHECK_EQ(wake_order[2], 300);
    /* sleep_until, and sleeps that only yield. */
    int64_t until = uco_now() + 15 * UCO_MSEC;
    T_CHECK_EQ(uco_sleep_until(until), 0);
    T_CHECK(uco_now() >= until);
    uint64_t sw = t_stats().switches;
    T_CHECK_EQ(uco_sleep(0), 0);
    T_CHECK_EQ(uco_sleep(-5), 0);
    T_CHECK_EQ(uco_sleep_until(until), 0); /* in the past */
    T_CHECK_EQ(t_stats().switches, sw + 3);
    T_CHECK(t_stats().timers_fired >= 4);
    return 0;
}

static void sleeps_wake_in_deadline_order_within_loose_bounds(void **state)
{
    t_run_modes(sleep_body, NULL, 0);
}

static intptr_t yielder3(void *arg)
{
    for (int i = 0; i < 3; i++) {
        order[norder++] = (int)(intptr_t)arg;
        T_CHECK_EQ(uco_yield(), 0);
    }
    return 0;
}

static intptr_t yield3_body(void *arg)
{
    norder = 0;
    uco_task *t[3];
    for (intptr_t i = 0; i < 3; i++)
        T_CHECK_EQ(uco_spawn(&t[i], yielder3, (void *)(i + 1)), 0);
    T_CHECK_EQ(uco_task_join(t[0], NULL), 0);
    T_CHECK_EQ(uco_task_join(t[1], NULL), 0);
    T_CHECK_EQ(uco_task_join(t[2], NULL), 0);
    return 0;
}

static void yield_is_round_robin(void **state)
{
    t_run(yield3_body, NULL, NULL);
    int want[9] = {1, 2, 3, 1, 2, 3, 1, 2, 3};
    assert_int_equal(norder, 9);
    for (int i = 0; i < 9; i++)
        assert_int_equal(order[i], want[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spawn_join_returns_results),
        cmocka_unit_test(yield_interleaves_in_spawn_order),
        cmocka_unit_test(cancel_wakes_a_sleeping_task),
        cmocka_unit_test(cancel_with_read_in_flight_waits_for_its_cqe),
        cmocka_unit_test(deadline_on_one_read),
        cmocka_unit_test(join_and_cancel_bad_handles),
        cmocka_unit_test(awaitables_outside_a_task_return_eperm),
        cmocka_unit_test(spawned_task_runs_when_the_spawner_awaits),
        cmocka_unit_test(detached_tasks_run_and_release_themselves),
        cmocka_unit_test(task_ids_are_unique_and_names_are_copied),
        cmocka_unit_test(join_returns_results_of_ended_and_running_tasks),
        cmocka_unit_test(sleeps_wake_in_deadline_order_within_loose_bounds),
        cmocka_unit_test(yield_is_round_robin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
