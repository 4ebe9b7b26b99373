/* Functions posted to a loop from other threads (uco_loop_post), and holds: every posted
 * function runs once, as a task of the loop, in the order each thread posted; a held loop
 * waits for posts instead of ending or reporting a deadlock; a loop not running starts them
 * at its next run, and one freed first drops them. */
#include "test_util.h"

#include <uco/sync.h>

#include <errno.h>
#include <pthread.h>

#define THREADS    2
#define PER_THREAD 3000

/* ---- posts from two threads ------------------------------------------------------------- */

static long ran, next_seq[THREADS];
static pthread_t loop_thread;

static intptr_t note_post(void *arg)
{
    intptr_t v = (intptr_t)arg;
    int th = (int)(v / PER_THREAD), seq = (int)(v % PER_THREAD);
    T_CHECK(pthread_equal(pthread_self(), loop_thread)); /* on the loop, as a task */
    T_CHECK(uco_task_self() != NULL);
    T_CHECK_EQ(seq, next_seq[th]); /* in the order that thread posted */
    next_seq[th]++;
    ran++;
    return uco_yield(); /* a task: it may await */
}

struct poster {
    uco_loop *loop;
    int id, err;
};

static void *post_many(void *arg)
{
    struct poster *p = arg;
    for (int i = 0; i < PER_THREAD && !p->err; i++)
        p->err = uco_loop_post(p->loop, note_post, (void *)(intptr_t)(p->id * PER_THREAD + i));
    if (!p->err) p->err = uco_loop_release(p->loop); /* this thread posts no more */
    return NULL;
}

static void functions_posted_from_two_threads_all_run_once_in_order(void **state)
{
    (void)state;
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    loop_thread = pthread_self();
    ran = 0;
    memset(next_seq, 0, sizeof next_seq);
    t_failure[0] = 0;
    struct poster p[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        p[i] = (struct poster){.loop = l, .id = i};
        assert_int_equal(uco_loop_hold(l), 0); /* one hold per poster, released by it */
        assert_int_equal(pthread_create(&th[i], NULL, post_many, &p[i]), 0);
    }
    /* No task at all: only the holds keep it running until both posters are done. */
    assert_int_equal(uco_loop_run(l), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].err, 0);
    }
    t_assert_ok();
    assert_int_equal(ran, THREADS * PER_THREAD);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(next_seq[i], PER_THREAD);
    assert_int_equal(uco_loop_free(l), 0);
}

/* ---- a held loop waiting on a channel that a post feeds ---------------------------------- */

static uco_chan *ch;
static int got;

static intptr_t send_42(void *arg)
{
    int v = 42;
    return uco_chan_send(ch, &v);
}

static void *post_send_42(void *arg)
{
    uco_loop *l = arg;
    if (uco_loop_post(l, send_42, NULL) == 0) uco_loop_release(l);
    return NULL;
}

static intptr_t wait_for_42(void *arg)
{
    T_CHECK_EQ(uco_chan_recv(ch, &got), 0); /* only a post can send: held, no deadlock */
    return 0;
}

static void a_held_loop_waits_for_a_post_instead_of_reporting_a_deadlock(void **state)
{
    (void)state;
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    assert_int_equal(uco_chan_new(&ch, sizeof(int), 0), 0);
    t_failure[0] = 0;
    got = 0;
    assert_int_equal(uco_loop_spawn(l, NULL, wait_for_42, NULL, NULL), 0);
    assert_int_equal(uco_loop_hold(l), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, post_send_42, l), 0);
    assert_int_equal(uco_loop_run(l), 0);
    pthread_join(th, NULL);
    t_assert_ok();
    assert_int_equal(got, 42);
    assert_int_equal(uco_chan_free(ch), 0);
    /* Not held, the same wait is a deadlock. */
    got = 0;
    assert_int_equal(uco_chan_new(&ch, sizeof(int), 0), 0);
    assert_int_equal(uco_loop_spawn(l, NULL, wait_for_42, NULL, NULL), 0);
    assert_int_equal(uco_loop_run(l), -EDEADLK);
    /* A post from this thread between runs gets it going: it starts at the next run. */
    assert_int_equal(uco_loop_post(l, send_42, NULL), 0);
    assert_int_equal(uco_loop_run(l), 0);
    t_assert_ok();
    assert_int_equal(got, 42);
    assert_int_equal(uco_chan_free(ch), 0);
    assert_int_equal(uco_loop_free(l), 0);
}

/* ---- not running, freed, stopped, bad arguments ------------------------------------------ */

static long counted;

static intptr_t count_one(void *arg)
{
    counted++;
    return 0;
}

static void *stop_it(void *arg)
{
    uco_loop_stop(arg);
    return NULL;
}

static void posts_wait_for_a_run_and_a_freed_loop_drops_them(void **state)
{
    (void)state;
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    counted = 0;
    assert_int_equal(uco_loop_post(l, count_one, NULL), 0);
    assert_int_equal(counted, 0); /* not before the loop runs */
    assert_int_equal(uco_loop_run(l), 0);
    assert_int_equal(counted, 1);
    /* A held loop with nothing to do sleeps until stopped (from another thread). */
    assert_int_equal(uco_loop_hold(l), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_it, l), 0);
    assert_int_equal(uco_loop_run(l), 0);
    pthread_join(th, NULL);
    assert_int_equal(uco_loop_release(l), 0);
    assert_int_equal(uco_loop_release(l), -EINVAL); /* no hold left */
    /* Posted and never run: freed with the loop (the leak checker would say otherwise). */
    assert_int_equal(uco_loop_post(l, count_one, NULL), 0);
    assert_int_equal(uco_loop_post(l, count_one, NULL), 0);
    assert_int_equal(uco_loop_free(l), 0);
    assert_int_equal(counted, 1);
    assert_int_equal(uco_loop_post(NULL, count_one, NULL), -EINVAL);
    assert_int_equal(uco_loop_hold(NULL), -EINVAL);
    assert_int_equal(uco_loop_release(NULL), -EINVAL);
}

static void posting_no_function_is_einval(void **state)
{
    (void)state;
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    assert_int_equal(uco_loop_post(l, NULL, NULL), -EINVAL);
    assert_int_equal(uco_loop_run(l), 0); /* nothing was posted */
    assert_int_equal(uco_loop_free(l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(functions_posted_from_two_threads_all_run_once_in_order),
        cmocka_unit_test(a_held_loop_waits_for_a_post_instead_of_reporting_a_deadlock),
        cmocka_unit_test(posts_wait_for_a_run_and_a_freed_loop_drops_them),
        cmocka_unit_test(posting_no_function_is_einval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
