/* The stall detector (opts.stall_ns, stall_fn): a task computing without awaiting is reported
 * by name while it runs and again when it awaits; well-behaved tasks are never reported. */
#include "test_util.h"
#include "core_util.h"

#include <pthread.h>
#include <stdatomic.h>

#define THRESHOLD       (100 * UCO_MSEC)
/* For tasks that await every 0.1 ms: the detector measures wall time (a blocking call is a
 * stall too), and on a loaded 2-core machine the loop's thread may wait its turn for a CPU
 * longer than 100 ms; not for 1 s. */
#define QUIET_THRESHOLD (1000 * UCO_MSEC)

struct seen {
    pthread_mutex_t mu;
    int n;
    struct {
        uint64_t id;
        char name[32];
        int64_t ran_ns;
        bool finished;
        bool on_loop_thread;
    } r[16];
    pthread_t loop_thread;
    atomic_int running_reported; /* a "still running" report arrived */
};

static void on_stall(const uco_stall_report *rep, void *arg)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->n < 16) {
        s->r[s->n].id = rep->task_id;
        snprintf(s->r[s->n].name, sizeof s->r[s->n].name, "%s", rep->task_name);
        s->r[s->n].ran_ns = rep->ran_ns;
        s->r[s->n].finished = rep->finished;
        s->r[s->n].on_loop_thread = pthread_equal(pthread_self(), s->loop_thread);
        s->n++;
    }
    pthread_mutex_unlock(&s->mu);
    if (!rep->finished) atomic_store(&s->running_reported, 1);
}

static intptr_t hog(void *arg)
{
    struct seen *s = arg;
    int64_t t0 = uco_now();
    /* Compute without awaiting for at least 250 ms and until the detector has spoken
     * (bounded: a detector that never reports fails the test below, it does not hang). */
    volatile uint64_t x = 0;
    while ((uco_now() - t0 < 250 * UCO_MSEC || !atomic_load(&s->running_reported)) &&
           uco_now() - t0 < 10 * UCO_SEC)
        x++;
    T_CHECK_EQ(uco_yield(), 0);
    return 0;
}

static intptr_t nice_task(void *arg)
{
    for (int i = 0; i < 200; i++) {
        int64_t t0 = uco_now();
        while (uco_now() - t0 < 100 * UCO_USEC) { /* 0.1 ms of work between awaits */
        }
        T_CHECK_EQ(i % 2 ? uco_yield() : uco_nop(), 0);
    }
    return 0;
}

static intptr_t stall_body(void *arg)
{
    uco_task *n[3], *h;
    uco_task_opts o = {.name = "nice"};
    for (int i = 0; i < 3; i++)
        T_CHECK_EQ(uco_spawn_opts(&n[i], nice_task, NULL, &o), 0);
    for (int i = 0; i < 3; i++)
        T_CHECK_EQ(uco_task_join(n[i], NULL), 0);
    o.name = "hog";
    T_CHECK_EQ(uco_spawn_opts(&h, hog, arg, &o), 0);
    uint64_t hog_id = uco_task_id(h);
    T_CHECK_EQ(uco_task_join(h, NULL), 0);
    struct seen *s = arg;
    T_CHECK_EQ(t_stats().stall_reports, (uint64_t)s->n); /* counted as reported */
    return (intptr_t)hog_id;
}

static void long_computation_is_reported_while_running_and_when_done(void **state)
{
    struct seen s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    s.loop_thread = pthread_self();
    uco_loop_opts o = {.stall_ns = THRESHOLD, .stall_fn = on_stall, .stall_arg = &s};
    uint64_t hog_id = (uint64_t)t_run(stall_body, &s, &o);
    for (int i = 0; i < s.n; i++)
        printf("  report: task %llu '%s' %s %lld ms\n", (unsigned long long)s.r[i].id, s.r[i].name,
               s.r[i].finished ? "ran" : "running", (long long)(s.r[i].ran_ns / UCO_MSEC));
    /* The hog twice. (The nice tasks await every 0.1 ms, 1/1000 of the threshold: the quiet
     * test below says they are not reported; here a loop thread that waited 100 ms for a CPU
     * of a loaded machine while one of them ran would be, rightly: that is wall time.) */
    int hog_reports = 0;
    for (int i = 0; i < s.n; i++)
        if (s.r[i].id == hog_id && hog_reports++ != i) s.r[hog_reports - 1] = s.r[i];
    assert_int_equal(hog_reports, 2);
    /* While running, from the detector's thread. */
    assert_false(s.r[0].finished);
    assert_false(s.r[0].on_loop_thread);
    assert_int_equal(s.r[0].id, hog_id);
    assert_string_equal(s.r[0].name, "hog");
    assert_true(s.r[0].ran_ns > THRESHOLD);
    /* When it awaited, with the total. */
    assert_true(s.r[1].finished);
    assert_int_equal(s.r[1].id, hog_id);
    assert_string_equal(s.r[1].name, "hog");
    assert_true(s.r[1].ran_ns >= 250 * UCO_MSEC);
    assert_true(s.r[1].ran_ns >= s.r[0].ran_ns);
    assert_true(s.r[1].on_loop_thread);
    pthread_mutex_destroy(&s.mu);
}

static intptr_t quiet_body(void *arg)
{
    uco_task *n[4];
    for (int i = 0; i < 4; i++)
        T_CHECK_EQ(uco_spawn(&n[i], nice_task, NULL), 0);
    for (int i = 0; i < 4; i++)
        T_CHECK_EQ(uco_task_join(n[i], NULL), 0);
    T_CHECK_EQ(uco_sleep(QUIET_THRESHOLD + 100 * UCO_MSEC), 0); /* an idle loop is no stall */
    T_CHECK_EQ(t_stats().stall_reports, 0);
    return 0;
}

static void well_behaved_tasks_are_never_reported(void **state)
{
    struct seen s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    uco_loop_opts o = {.stall_ns = QUIET_THRESHOLD, .stall_fn = on_stall, .stall_arg = &s};
    t_run(quiet_body, NULL, &o);
    assert_int_equal(s.n, 0);
    pthread_mutex_destroy(&s.mu);
}

/* Without a callback, one line on stderr names the task. */

static intptr_t stderr_hog(void *arg)
{
    int64_t t0 = uco_now();
    volatile uint64_t x = 0;
    while (uco_now() - t0 < 300 * UCO_MSEC)
        x++;
    return uco_yield();
}

static int stderr_child(void *arg)
{
    uco_loop *l;
    uco_loop_opts o = {.stall_ns = THRESHOLD};
    if (uco_loop_new(&l, &o) != 0) return 2;
    uco_task_opts to = {.name = "busy-bee"};
    if (uco_loop_spawn(l, NULL, stderr_hog, NULL, &to) != 0) return 3;
    if (uco_loop_run(l) != 0) return 4;
    return uco_loop_free(l) == 0 ? 0 : 5;
}

static void default_report_is_a_line_on_stderr(void **state)
{
    char buf[2048];
    assert_int_equal(t_exit_code(t_in_child_capture(stderr_child, NULL, 2, buf, sizeof buf)), 0);
    printf("%s", buf);
    assert_non_null(strstr(buf, "'busy-bee' ran"));
    assert_non_null(strstr(buf, "stall"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(long_computation_is_reported_while_running_and_when_done),
        cmocka_unit_test(well_behaved_tasks_are_never_reported),
        cmocka_unit_test(default_report_is_a_line_on_stderr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
