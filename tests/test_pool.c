/* The worker pool (uco_work, uco_op_work, uco_pool_set_max): jobs under load from many tasks
 * and several loops, cancellation of queued and running jobs, the thread limit.
 *
 * Worker threads are process-wide and stay once started, so the tests run in order: those
 * that need exactly one worker first (the pool starts with uco_pool_set_max(1)), then the
 * ones that raise the limit. */
#include "test_util.h"
#include "core_util.h"

#include "async/internal.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_int gate;    /* 0: blocking jobs wait; 1: they may end */
static atomic_int started; /* jobs that began running */

static intptr_t blocking_job(void *arg)
{
    atomic_fetch_add(&started, 1);
    int64_t t0 = uco_now();
    /* A worker blocking in a system call; bounded so a failing test cannot hang. */
    while (!atomic_load(&gate) && uco_now() - t0 < 10 * UCO_SEC)
        usleep(200);
    return (intptr_t)arg;
}

static atomic_int never_ran;

static intptr_t must_not_run(void *arg)
{
    atomic_store(&never_ran, 1);
    return -1;
}

static intptr_t work_waiter(void *arg)
{
    return uco_work(must_not_run, arg);
}

/* Waits, awaiting meanwhile, until n jobs have started. */
static int await_started(int n)
{
    int64_t t0 = uco_now();
    while (atomic_load(&started) < n) {
        if (uco_now() - t0 > 10 * UCO_SEC) return -ETIMEDOUT;
        int r = uco_yield();
        if (r) return r;
    }
    return 0;
}

static intptr_t queued_body(void *arg)
{
    atomic_store(&gate, 0);
    atomic_store(&started, 0);
    atomic_store(&never_ran, 0);
    /* The one worker is busy with a blocking job ... */
    uco_op busy;
    T_CHECK_EQ(uco_op_work(&busy, blocking_job, (void *)5), 0);
    T_CHECK_EQ(await_started(1), 0);
    /* ... so these jobs wait in the queue. */
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, work_waiter, NULL), 0);
    uco_op queued;
    T_CHECK_EQ(uco_op_work(&queued, must_not_run, NULL), 0);
    T_CHECK_EQ(uco_yield(), 0);
    /* Cancelling a task waiting for a queued job: -ECANCELED, the job is dropped. */
    T_CHECK_EQ(uco_task_cancel(t), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, -ECANCELED);
    /* Cancelling a queued op: 0, and it completes with -ECANCELED at once. */
    T_CHECK_EQ(uco_op_cancel(&queued), 0);
    T_CHECK(uco_op_done(&queued));
    T_CHECK_EQ(uco_op_wait(&queued), -ECANCELED);
    atomic_store(&gate, 1);
    T_CHECK_EQ(uco_op_wait(&busy), 5);
    /* One more job through the same worker: the dropped ones never ran. */
    T_CHECK_EQ(uco_work(blocking_job, (void *)6), 6);
    T_CHECK_EQ(atomic_load(&never_ran), 0);
    return 0;
}

static void cancelled_queued_job_never_runs(void **state)
{
    assert_int_equal(uco_pool_set_max(1), 0);
    t_run(queued_body, NULL, NULL);
    assert_int_equal(atomic_load(&never_ran), 0);
}

static intptr_t running_waiter(void *arg)
{
    intptr_t r = uco_work(blocking_job, (void *)77);
    /* The task is cancelled now: every later await says so. */
    if (uco_nop() != -ECANCELED) return -1;
    return r;
}

static intptr_t running_body(void *arg)
{
    atomic_store(&gate, 0);
    atomic_store(&started, 0);
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, running_waiter, NULL), 0);
    T_CHECK_EQ(await_started(1), 0);
    T_CHECK_EQ(uco_task_cancel(t), 0);
    /* The job is not interrupted: the task waits for it and gets its result. */
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(t_stats().tasks_alive, 2);
    atomic_store(&gate, 1);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, 77);
    return 0;
}

static void cancelled_running_job_runs_to_its_end(void **state)
{
    t_run(running_body, NULL, NULL);
}

/* The loop keeps running tasks while a worker blocks. */
static intptr_t loop_free_body(void *arg)
{
    atomic_store(&gate, 0);
    atomic_store(&started, 0);
    uco_op job;
    T_CHECK_EQ(uco_op_work(&job, blocking_job, (void *)1), 0);
    T_CHECK_EQ(await_started(1), 0);
    for (int i = 0; i < 100; i++)
        T_CHECK_EQ(uco_nop(), 0);
    T_CHECK(!uco_op_done(&job));
    atomic_store(&gate, 1);
    T_CHECK_EQ(uco_op_wait(&job), 1);
    return 0;
}

static void blocking_job_does_not_block_the_loop(void **state)
{
    t_run(loop_free_body, NULL, NULL);
}

/* ---- the thread limit ------------------------------------------------------------------- */

static atomic_int concurrent, peak;

static intptr_t counted_job(void *arg)
{
    int n = atomic_fetch_add(&concurrent, 1) + 1;
    int p = atomic_load(&peak);
    while (n > p && !atomic_compare_exchange_weak(&peak, &p, n)) {
    }
    int want = (int)(intptr_t)arg;
    /* Rendezvous: wait (bounded) until `want` jobs run at the same time. */
    int64_t t0 = uco_now();
    while (atomic_load(&concurrent) < want && atomic_load(&peak) < want &&
           uco_now() - t0 < 10 * UCO_SEC)
        usleep(100);
    int64_t t1 = uco_now();
    while (uco_now() - t1 < UCO_MSEC) { /* overlap with the others a little */
    }
    atomic_fetch_sub(&concurrent, 1);
    return atomic_load(&peak) >= want;
}

static intptr_t limit_body(void *arg)
{
    int max = (int)(intptr_t)arg;
    atomic_store(&concurrent, 0);
    atomic_store(&peak, 0);
    uco_op ops[16];
    uco_op *p[16];
    for (int i = 0; i < 16; i++) {
        T_CHECK_EQ(uco_op_work(&ops[i], counted_job, (void *)(intptr_t)max), 0);
        p[i] = &ops[i];
    }
    T_CHECK_EQ(uco_op_wait_all(p, 16), 0);
    for (int i = 0; i < 16; i++)
        T_CHECK_EQ(uco_op_result(&ops[i]), 1); /* max jobs did run at once */
    T_CHECK_EQ(atomic_load(&peak), max);       /* and never more */
    return 0;
}

static void burst_of_jobs_starts_workers_up_to_max(void **state)
{
    assert_int_equal(uco_pool_set_max(0), -EINVAL);
    assert_int_equal(uco_pool_set_max(1025), -EINVAL);
    assert_int_equal(uco_pool_set_max(3), 0);
    t_run(limit_body, (void *)3, NULL);
    assert_int_equal(uco_pool_set_max(4), 0);
    t_run(limit_body, (void *)4, NULL);
}

/* ---- load ------------------------------------------------------------------------------ */

#define LOAD_TASKS 40
#define LOAD_JOBS  100

static intptr_t square(void *arg)
{
    intptr_t x = (intptr_t)arg;
    return x * x + 1;
}

static intptr_t load_task(void *arg)
{
    intptr_t base = (intptr_t)arg * LOAD_JOBS;
    for (intptr_t i = 0; i < LOAD_JOBS; i += 2) {
        /* One awaited directly, one started and awaited with a nop in between. */
        T_CHECK_EQ(uco_work(square, (void *)(base + i)), (base + i) * (base + i) + 1);
        uco_op op;
        T_CHECK_EQ(uco_op_work(&op, square, (void *)(base + i + 1)), 0);
        T_CHECK_EQ(uco_nop(), 0);
        T_CHECK_EQ(uco_op_wait(&op), (base + i + 1) * (base + i + 1) + 1);
    }
    return LOAD_JOBS;
}

static intptr_t load_body(void *arg)
{
    uco_task *t[LOAD_TASKS];
    for (intptr_t i = 0; i < LOAD_TASKS; i++)
        T_CHECK_EQ(uco_spawn(&t[i], load_task, (void *)i), 0);
    intptr_t total = 0;
    for (int i = 0; i < LOAD_TASKS; i++) {
        intptr_t r = 0;
        T_CHECK_EQ(uco_task_join(t[i], &r), 0);
        total += r;
    }
    T_CHECK_EQ(total, LOAD_TASKS * LOAD_JOBS);
    T_CHECK_EQ(t_stats().ops_inflight, 0);
    return total;
}

static void thousands_of_jobs_from_many_tasks_all_right(void **state)
{
    assert_int_equal(uco_pool_set_max(8), 0);
    assert_int_equal(t_run(load_body, NULL, NULL), LOAD_TASKS * LOAD_JOBS);
}

/* ---- groups (uco__work_group: the copy engine's batches) ------------------------------ */

#define GROUP_MAX  2
#define GROUP_JOBS 8

static struct uco__pool_group group;
static atomic_int group_running, group_peak;

static intptr_t group_job(void *arg)
{
    int now = atomic_fetch_add(&group_running, 1) + 1;
    for (int seen = atomic_load(&group_peak); now > seen;)
        if (atomic_compare_exchange_weak(&group_peak, &seen, now)) break;
    intptr_t r = blocking_job(arg);
    atomic_fetch_sub(&group_running, 1);
    return r;
}

static intptr_t group_task(void *arg)
{
    return uco__work_group(group_job, arg, &group);
}

static intptr_t group_waiter(void *arg)
{
    return uco__work_group(must_not_run, arg, &group);
}

static intptr_t group_body(void *arg)
{
    atomic_store(&gate, 0);
    atomic_store(&started, 0);
    atomic_store(&never_ran, 0);
    atomic_store(&group_peak, 0);
    group = (struct uco__pool_group){.max = GROUP_MAX};
    uco_task *t[GROUP_JOBS], *w;
    for (intptr_t i = 0; i < GROUP_JOBS; i++)
        T_CHECK_EQ(uco_spawn(&t[i], group_task, (void *)(i + 100)), 0);
    T_CHECK_EQ(uco_spawn(&w, group_waiter, NULL), 0);
    /* Two run (the pool has 8 threads); the rest wait in the group, not in the pool. */
    T_CHECK_EQ(await_started(GROUP_MAX), 0);
    for (int i = 0; i < 1000; i++)
        T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(atomic_load(&started), GROUP_MAX);
    /* A job taken back from the group's queue never runs. */
    T_CHECK_EQ(uco_task_cancel(w), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(w, &r), 0);
    T_CHECK_EQ(r, -ECANCELED);
    atomic_store(&gate, 1);
    for (intptr_t i = 0; i < GROUP_JOBS; i++) {
        T_CHECK_EQ(uco_task_join(t[i], &r), 0);
        T_CHECK_EQ(r, i + 100);
    }
    T_CHECK_EQ(atomic_load(&started), GROUP_JOBS);
    T_CHECK_EQ(atomic_load(&group_peak), GROUP_MAX);
    T_CHECK_EQ(group.running, 0);
    T_CHECK(group.head == NULL);
    return 0;
}

/* A group's jobs run at most max at once; the others wait in order, and one cancelled while
 * waiting is dropped without running. */
static void a_group_runs_at_most_its_max_jobs_at_once(void **state)
{
    assert_int_equal(uco_pool_set_max(8), 0);
    assert_int_equal(t_run(group_body, NULL, NULL), 0);
    assert_int_equal(atomic_load(&never_ran), 0);
}

static void *loop_thread(void *arg)
{
    intptr_t r = uco_run(load_body, NULL, NULL);
    return (void *)r;
}

static void jobs_from_several_loops_go_back_to_their_own_loop(void **state)
{
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, loop_thread, NULL), 0);
    for (int i = 0; i < 3; i++) {
        void *r;
        assert_int_equal(pthread_join(th[i], &r), 0);
        assert_int_equal((intptr_t)r, LOAD_TASKS * LOAD_JOBS);
    }
    t_assert_ok();
}

/* ---- a loop freed right after its last job ------------------------------------------------ */

struct stop_storm {
    _Atomic(uco_loop *) loop; /* the loop to stop, NULL when none */
    atomic_int quit;
    atomic_int busy; /* the stopper is inside uco_loop_stop */
};

static void *stop_storm_thread(void *arg)
{
    struct stop_storm *s = arg;
    while (!atomic_load(&s->quit)) {
        atomic_store(&s->busy, 1);
        uco_loop *l = atomic_load(&s->loop);
        if (l) uco_loop_stop(l);
        atomic_store(&s->busy, 0);
    }
    return NULL;
}

static intptr_t few_jobs(void *arg)
{
    uco_op ops[4];
    uco_op *p[4];
    for (intptr_t i = 0; i < 4; i++) {
        T_CHECK_EQ(uco_op_work(&ops[i], square, (void *)i), 0);
        p[i] = &ops[i];
    }
    T_CHECK_EQ(uco_op_wait_all(p, 4), 0);
    for (intptr_t i = 0; i < 4; i++)
        T_CHECK_EQ(uco_op_result(&ops[i]), i * i + 1);
    return 0;
}

/* Regression: a stop (an extra eventfd write) let the loop take a finished job from its
 * inbox before the worker had written its own wake-up; the loop could then end and be freed
 * while the worker still wrote to its eventfd (use after free, and a write into whatever
 * file reused that descriptor). Probabilistic: many short loops while another thread keeps
 * stopping them. */
static void loop_freed_while_a_worker_still_posts(void **state)
{
    struct stop_storm s;
    atomic_store(&s.loop, NULL);
    atomic_store(&s.quit, 0);
    atomic_store(&s.busy, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_storm_thread, &s), 0);
    int64_t t0 = uco_now();
    int loops = 0;
    while (uco_now() - t0 < 300 * UCO_MSEC && loops < 3000) {
        uco_loop *l;
        assert_int_equal(uco_loop_new(&l, NULL), 0);
        assert_int_equal(uco_loop_spawn(l, NULL, few_jobs, NULL, NULL), 0);
        atomic_store(&s.loop, l);
        int r;
        while ((r = uco_loop_run(l)) == 1) {
        }
        assert_int_equal(r, 0);
        atomic_store(&s.loop, NULL);
        while (atomic_load(&s.busy)) { /* the stopper may still hold l */
        }
        assert_int_equal(uco_loop_free(l), 0);
        loops++;
    }
    atomic_store(&s.quit, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    t_assert_ok();
    printf("  %d loops\n", loops);
}

static intptr_t one_job(void *arg)
{
    return uco_work(square, (void *)9);
}

static int child_uses_pool(void *arg)
{
    return uco_run(one_job, NULL, NULL) == 82 ? 0 : 1;
}

static void pool_works_in_a_forked_child(void **state)
{
#ifdef T_TSAN
    printf("SKIP: ThreadSanitizer cannot start threads after a multi-threaded fork\n");
    skip();
#endif
    assert_int_equal(t_run(one_job, NULL, NULL), 82); /* workers exist in the parent */
    assert_int_equal(t_exit_code(t_in_child(child_uses_pool, NULL)), 0);
}

static intptr_t bad_work_body(void *arg)
{
    T_CHECK_EQ(uco_work(NULL, NULL), -EINVAL);
    uco_op op;
    T_CHECK_EQ(uco_op_work(&op, NULL, NULL), -EINVAL);
    T_CHECK_EQ(uco_op_work(NULL, square, NULL), -EINVAL);
    return 0;
}

static void work_with_bad_arguments(void **state)
{
    t_run(bad_work_body, NULL, NULL);
    assert_int_equal(uco_work(square, NULL), -EPERM);
    uco_op op;
    assert_int_equal(uco_op_work(&op, square, NULL), -EPERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* with one worker */
        cmocka_unit_test(cancelled_queued_job_never_runs),
        cmocka_unit_test(cancelled_running_job_runs_to_its_end),
        cmocka_unit_test(blocking_job_does_not_block_the_loop),
        /* raising the limit */
        cmocka_unit_test(burst_of_jobs_starts_workers_up_to_max),
        cmocka_unit_test(thousands_of_jobs_from_many_tasks_all_right),
        cmocka_unit_test(a_group_runs_at_most_its_max_jobs_at_once),
        cmocka_unit_test(jobs_from_several_loops_go_back_to_their_own_loop),
        cmocka_unit_test(loop_freed_while_a_worker_still_posts),
        cmocka_unit_test(pool_works_in_a_forked_child),
        cmocka_unit_test(work_with_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
