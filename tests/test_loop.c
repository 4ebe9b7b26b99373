/* The loop: run until done, -EDEADLK on a join cycle, stop from another thread or a task,
 * the dump of parked tasks, free with live tasks, threads, uco_run. */
#include "test_util.h"
#include "core_util.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- deadlock ----------------------------------------------------------------------------- */

struct cycle {
    uco_task *a, *b;
    intptr_t ra, rb;
};

static intptr_t join_b(void *arg)
{
    struct cycle *c = arg;
    return uco_task_join(c->b, &c->rb);
}

static intptr_t join_a(void *arg)
{
    struct cycle *c = arg;
    return uco_task_join(c->a, &c->ra);
}

static void join_cycle_is_edeadlk(void **state)
{
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    struct cycle c = {0};
    assert_int_equal(uco_loop_spawn(l, &c.a, join_b, &c, NULL), 0);
    assert_int_equal(uco_loop_spawn(l, &c.b, join_a, &c, NULL), 0);
    assert_int_equal(uco_loop_run(l), -EDEADLK);
    assert_int_equal(uco_loop_free(l), -EBUSY);
    /* Cancelling one of them (from outside any task, on the loop's thread) breaks it. */
    assert_int_equal(uco_task_cancel(c.a), 0);
    assert_int_equal(uco_loop_run(l), 0);
    assert_int_equal(c.ra, -ECANCELED); /* b joined a, whose join was interrupted */
    uco_loop_stats st;
    uco_loop_stats_get(l, &st);
    assert_int_equal(st.tasks_alive, 0);
    assert_int_equal(uco_task_join(c.b, NULL), -EPERM); /* outside a task */
    assert_int_equal(uco_task_detach(c.b), 0);
    assert_int_equal(uco_loop_free(l), 0);
}

static intptr_t cycle_main(void *arg)
{
    struct cycle *c = arg;
    T_CHECK_EQ(uco_spawn(&c->a, join_b, c), 0);
    T_CHECK_EQ(uco_spawn(&c->b, join_a, c), 0);
    return 0; /* ends, leaving the two waiting on each other */
}

static void uco_run_reports_a_deadlock_and_unwinds(void **state)
{
    struct cycle c = {0};
    assert_int_equal(t_run(cycle_main, &c, NULL), -EDEADLK);
}

static intptr_t sleepy(void *arg)
{
    return uco_sleep(20 * UCO_MSEC);
}

static intptr_t join_sleepy_via(void *arg)
{
    return uco_task_join(arg, NULL);
}

static intptr_t no_deadlock_body(void *arg)
{
    /* Everyone waits on a join, but the last one waits on a timer: that is no deadlock. */
    uco_task *s, *j;
    T_CHECK_EQ(uco_spawn(&s, sleepy, NULL), 0);
    T_CHECK_EQ(uco_spawn(&j, join_sleepy_via, s), 0);
    return uco_task_join(j, NULL);
}

static void joins_ending_in_a_timer_are_not_a_deadlock(void **state)
{
    assert_int_equal(t_run(no_deadlock_body, NULL, NULL), 0);
}

/* ---- stop --------------------------------------------------------------------------------- */

struct stopper {
    uco_loop *loop;
    int ready[2]; /* the task writes a byte here just before it parks */
    int data[2];
};

static void *stop_thread(void *arg)
{
    struct stopper *s = arg;
    char c;
    if (read(s->ready[0], &c, 1) != 1) return NULL;
    uco_loop_stop(s->loop);
    return NULL;
}

static intptr_t parked_reader(void *arg)
{
    struct stopper *s = arg;
    T_CHECK_EQ(write(s->ready[1], "r", 1), 1);
    char buf[8];
    return uco_read(s->data[0], buf, sizeof buf, -1);
}

static void stop_from_another_thread_wakes_a_sleeping_loop(void **state)
{
    struct stopper s;
    t_pipe(s.ready);
    t_pipe(s.data);
    assert_int_equal(uco_loop_new(&s.loop, NULL), 0);
    uco_task *t;
    assert_int_equal(uco_loop_spawn(s.loop, &t, parked_reader, &s, NULL), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_thread, &s), 0);
    int64_t t0 = uco_now();
    assert_int_equal(uco_loop_run(s.loop), 1); /* stopped with a task left */
    assert_true(uco_now() - t0 < 10 * UCO_SEC);
    assert_int_equal(pthread_join(th, NULL), 0);
    uco_loop_stats st;
    uco_loop_stats_get(s.loop, &st);
    assert_int_equal(st.tasks_alive, 1);
    assert_int_equal(st.ops_inflight, 1);
    /* Running again continues where it was. */
    assert_int_equal(write(s.data[1], "go", 2), 2);
    assert_int_equal(uco_loop_run(s.loop), 0);
    assert_int_equal(uco_task_detach(t), 0);
    assert_int_equal(uco_loop_free(s.loop), 0);
    t_close2(s.ready);
    t_close2(s.data);
}

static int stop_turns;

static intptr_t self_stopper(void *arg)
{
    for (stop_turns = 0; stop_turns < 3; stop_turns++) {
        uco_loop_stop(uco_loop_current());
        T_CHECK_EQ(uco_nop(), 0);
    }
    return 0;
}

static void stop_from_a_task_returns_after_the_turn(void **state)
{
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    assert_int_equal(uco_loop_spawn(l, NULL, self_stopper, NULL, NULL), 0);
    int runs = 0, r;
    while ((r = uco_loop_run(l)) == 1)
        runs++;
    assert_int_equal(r, 0);
    assert_int_equal(runs, 3);
    assert_int_equal(stop_turns, 3);
    uco_loop_stop(NULL); /* no-op */
    assert_int_equal(uco_loop_free(l), 0);
}

/* ---- dump --------------------------------------------------------------------------------- */

static atomic_int gate;

static intptr_t gated(void *arg)
{
    atomic_store((atomic_int *)arg, 1);
    int64_t t0 = uco_now();
    while (!atomic_load(&gate) && uco_now() - t0 < 10 * UCO_SEC)
        usleep(200);
    return 0;
}

static intptr_t d_sleeper(void *arg)
{
    return uco_sleep(60 * UCO_SEC);
}

static intptr_t d_reader(void *arg)
{
    char c;
    return uco_read(*(int *)arg, &c, 1, -1);
}

static intptr_t d_joiner(void *arg)
{
    return uco_task_join(arg, NULL);
}

static intptr_t d_worker(void *arg)
{
    return uco_work(gated, arg);
}

static intptr_t d_any(void *arg)
{
    int fd = *(int *)arg;
    char c;
    uco_op a, b;
    uco_op_read(&a, fd, &c, 1, -1);
    uco_op_timeout(&b, 60 * UCO_SEC);
    uco_op *ops[2] = {&a, &b};
    return uco_op_wait_any(ops, 2);
}

static intptr_t dump_body(void *arg)
{
    int p[2];
    T_CHECK_EQ(pipe(p), 0);
    atomic_store(&gate, 0);
    atomic_int running = 0;
    uco_task *t[5];
    uco_task_opts o = {.name = "sleeper"};
    T_CHECK_EQ(uco_spawn_opts(&t[0], d_sleeper, NULL, &o), 0);
    o.name = "reader";
    T_CHECK_EQ(uco_spawn_opts(&t[1], d_reader, &p[0], &o), 0);
    o.name = "joiner";
    T_CHECK_EQ(uco_spawn_opts(&t[2], d_joiner, t[0], &o), 0);
    o.name = "worker";
    T_CHECK_EQ(uco_spawn_opts(&t[3], d_worker, &running, &o), 0);
    o.name = "any";
    T_CHECK_EQ(uco_spawn_opts(&t[4], d_any, &p[0], &o), 0);
    while (!atomic_load(&running))
        T_CHECK_EQ(uco_yield(), 0);
    uint64_t sleeper_id = uco_task_id(t[0]);
    char *text = NULL, *text2 = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    T_CHECK(f != NULL);
    uco_loop_dump(uco_loop_current(), f);
    fclose(f);
    T_CHECK_EQ(uco_task_cancel(t[2]), 0); /* cancelled tasks say so */
    f = open_memstream(&text2, &len);
    T_CHECK(f != NULL);
    uco_loop_dump(uco_loop_current(), f);
    fclose(f);
    /* Let everything end before checking, so that a failure cannot hang the test. */
    atomic_store(&gate, 1);
    for (int i = 0; i < 5; i++)
        if (i != 3) uco_task_cancel(t[i]);
    for (int i = 0; i < 5; i++)
        uco_task_join(t[i], NULL);
    printf("%s", text);
    char want[7][96];
    snprintf(want[0], sizeof want[0], "'sleeper' waiting sleeping, ");
    snprintf(want[1], sizeof want[1], "'reader' waiting on read(fd %d)", p[0]);
    snprintf(want[2], sizeof want[2], "'joiner' waiting on join(task %llu)",
             (unsigned long long)sleeper_id);
    snprintf(want[3], sizeof want[3], "'worker' waiting on work");
    snprintf(want[4], sizeof want[4], "'any' waiting on any of read(fd %d) timeout", p[0]);
    snprintf(want[5], sizeof want[5], "6 tasks alive");
    snprintf(want[6], sizeof want[6], "' running"); /* this task */
    int bad = -1;
    for (int i = 0; i < 7; i++)
        if (!strstr(text, want[i])) bad = i;
    bool cancelled_shown = strstr(text2, "[cancelled]") != NULL;
    free(text);
    free(text2);
    if (bad >= 0) {
        t_fail(__FILE__, __LINE__, "dump lacks \"%s\"", want[bad]);
        return -1;
    }
    T_CHECK(cancelled_shown);
    uco_loop_dump(NULL, stdout); /* no-op */
    t_close2(p);
    return 0;
}

static void dump_names_parked_tasks_and_what_they_wait_on(void **state)
{
    t_run(dump_body, NULL, NULL);
}

/* ---- free, threads, nesting --------------------------------------------------------------- */

static intptr_t nop_task(void *arg)
{
    return uco_nop();
}

static intptr_t free_inside_body(void *arg)
{
    T_CHECK_EQ(uco_loop_free(uco_loop_current()), -EBUSY); /* running */
    T_CHECK_EQ(uco_loop_run(uco_loop_current()), -EBUSY);
    /* Another loop may not run inside a task of this one. */
    uco_loop *other;
    T_CHECK_EQ(uco_loop_new(&other, NULL), 0);
    T_CHECK_EQ(uco_loop_spawn(other, NULL, nop_task, NULL, NULL), 0);
    T_CHECK_EQ(uco_loop_run(other), -EBUSY);
    return (intptr_t)other;
}

static void free_with_live_tasks_is_ebusy_and_frees_nothing(void **state)
{
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    uco_task *t;
    assert_int_equal(uco_loop_spawn(l, &t, nop_task, NULL, NULL), 0);
    assert_int_equal(uco_loop_free(l), -EBUSY);
    /* Still whole: it runs. */
    assert_int_equal(uco_loop_run(l), 0);
    uco_loop_stats st;
    uco_loop_stats_get(l, &st);
    assert_int_equal(st.tasks_alive, 0);
    assert_int_equal(uco_loop_free(l), 0); /* an ended task's handle goes with the loop */
    assert_int_equal(uco_loop_free(NULL), 0);
    /* Free and run from inside a task: -EBUSY. */
    uco_loop *other = (uco_loop *)t_run(free_inside_body, NULL, NULL);
    assert_int_equal(uco_loop_run(other), 0); /* now it can */
    assert_int_equal(uco_loop_free(other), 0);
}

struct cross {
    uco_loop *loop;
    uco_task *task;
    int run, free_, spawn, cancel, deadline;
};

static void *cross_thread(void *arg)
{
    struct cross *c = arg;
    c->run = uco_loop_run(c->loop);
    c->free_ = uco_loop_free(c->loop);
    c->spawn = uco_loop_spawn(c->loop, NULL, nop_task, NULL, NULL);
    c->cancel = uco_task_cancel(c->task);
    c->deadline = uco_task_set_deadline(c->task, 1);
    return NULL;
}

static void loop_used_from_another_thread_is_refused(void **state)
{
    struct cross c;
    assert_int_equal(uco_loop_new(&c.loop, NULL), 0);
    assert_int_equal(uco_loop_spawn(c.loop, &c.task, nop_task, NULL, NULL), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cross_thread, &c), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.run, -EINVAL);
    assert_int_equal(c.free_, -EINVAL);
    assert_int_equal(c.spawn, -EXDEV);
    assert_int_equal(c.cancel, -EXDEV);
    assert_int_equal(c.deadline, -EXDEV);
    assert_int_equal(uco_loop_run(c.loop), 0);
    assert_int_equal(uco_task_detach(c.task), 0);
    assert_int_equal(uco_loop_free(c.loop), 0);
}

static uco_task *foreign;

static intptr_t join_foreign(void *arg)
{
    T_CHECK_EQ(uco_task_join(foreign, NULL), -EXDEV);
    uco_op op;
    T_CHECK_EQ(uco_op_join(&op, foreign), -EXDEV);
    return 0;
}

static void join_across_loops_is_exdev(void **state)
{
    uco_loop *b;
    assert_int_equal(uco_loop_new(&b, NULL), 0);
    assert_int_equal(uco_loop_spawn(b, &foreign, nop_task, NULL, NULL), 0);
    t_run(join_foreign, NULL, NULL);
    assert_int_equal(uco_loop_run(b), 0);
    assert_int_equal(uco_task_detach(foreign), 0);
    assert_int_equal(uco_loop_free(b), 0);
}

static intptr_t current_body(void *arg)
{
    T_CHECK(uco_loop_current() == arg);
    return 0;
}

static void two_loops_take_turns_on_one_thread(void **state)
{
    uco_loop *a, *b;
    assert_int_equal(uco_loop_new(&a, NULL), 0);
    assert_int_equal(uco_loop_new(&b, NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(uco_loop_spawn(a, NULL, current_body, a, NULL), 0);
        assert_int_equal(uco_loop_spawn(b, NULL, current_body, b, NULL), 0);
        assert_int_equal(uco_loop_run(b), 0);
        assert_int_equal(uco_loop_run(a), 0);
    }
    assert_null(uco_loop_current());
    assert_int_equal(uco_loop_free(a), 0);
    assert_int_equal(uco_loop_free(b), 0);
    t_assert_ok();
}

static intptr_t answer(void *arg)
{
    return 42;
}

static void uco_run_returns_the_first_tasks_result(void **state)
{
    assert_int_equal(uco_run(answer, NULL, NULL), 42);
    assert_int_equal(uco_run(NULL, NULL, NULL), -EINVAL);
    uco_loop_opts bad = {.ring_mode = 9};
    assert_int_equal(uco_run(answer, NULL, &bad), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(join_cycle_is_edeadlk),
        cmocka_unit_test(uco_run_reports_a_deadlock_and_unwinds),
        cmocka_unit_test(joins_ending_in_a_timer_are_not_a_deadlock),
        cmocka_unit_test(stop_from_another_thread_wakes_a_sleeping_loop),
        cmocka_unit_test(stop_from_a_task_returns_after_the_turn),
        cmocka_unit_test(dump_names_parked_tasks_and_what_they_wait_on),
        cmocka_unit_test(free_with_live_tasks_is_ebusy_and_frees_nothing),
        cmocka_unit_test(loop_used_from_another_thread_is_refused),
        cmocka_unit_test(join_across_loops_is_exdev),
        cmocka_unit_test(two_loops_take_turns_on_one_thread),
        cmocka_unit_test(uco_run_returns_the_first_tasks_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
