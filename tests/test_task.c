/* Tasks: spawn, join, detach, yield order, cancellation, deadlines. */
#include "test_util.h"

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

static int order[8], norder;

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
    T_CHECK(uco_now() - t0 < UCO_SEC);
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
    int64_t old = uco_deadline_set(uco_now() + 20 * UCO_MSEC);
    T_CHECK_EQ(old, UCO_FOREVER);
    int64_t t0 = uco_now();
    ssize_t n = uco_read(fds[0], buf, sizeof buf, -1);
    int64_t took = uco_now() - t0;
    T_CHECK_EQ(n, -ETIMEDOUT);
    T_CHECK(took >= 19 * UCO_MSEC);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
