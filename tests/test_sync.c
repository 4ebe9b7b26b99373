/* Mutex, condition variable, semaphore and channel between the tasks of one loop: hand-off in
 * arrival order, interruption by cancel or deadline (nothing taken), close, -EXDEV from another
 * thread's loop, -EBUSY on free with waiters, -EDEADLK when all tasks wait on each other. */
#include "test_util.h"
#include "core_util.h"

#include <uco/sync.h>

#include <limits.h>
#include <pthread.h>

#define MS UCO_MSEC

/* Events in the order they happened (ids of tasks that got what they waited for, ...). */
static int evs[64], nev;

static void note(int e)
{
    if (nev < (int)(sizeof evs / sizeof evs[0])) evs[nev++] = e;
}

#define T_CHECK_EVENTS(...)                                                                        \
    do {                                                                                           \
        static const int want_[] = {__VA_ARGS__};                                                  \
        T_CHECK_EQ(nev, (int)(sizeof want_ / sizeof want_[0]));                                    \
        for (int i_ = 0; i_ < nev; i_++)                                                           \
            T_CHECK_EQ(evs[i_], want_[i_]);                                                        \
    } while (0)

/* Lets the ready tasks run a few turns: spawned tasks reach their wait, woken ones go on. */
static int settle(void)
{
    for (int i = 0; i < 4; i++) {
        int r = uco_yield();
        if (r) return r;
    }
    return 0;
}

/* The objects of the running test, shared by its tasks. */
static uco_mutex *m_;
static uco_cond *c_;
static uco_sem *s_;
static uco_chan *ch_;

/* Runs the test body given as arg with a fresh m_, c_ and s_ (no units), and checks that it
 * leaves them, and ch_, with nobody holding or waiting (their free succeeds). */
static intptr_t with_objects(void *arg)
{
    uco_task_fn *body = (uco_task_fn *)(uintptr_t)arg;
    nev = 0;
    T_CHECK_EQ(uco_mutex_new(&m_), 0);
    T_CHECK_EQ(uco_cond_new(&c_), 0);
    T_CHECK_EQ(uco_sem_new(&s_, 0), 0);
    ch_ = NULL; /* made by the body if it needs one, freed here */
    intptr_t r = body(NULL);
    if (r) return r;
    T_CHECK_EQ(uco_chan_free(ch_), 0);
    T_CHECK_EQ(uco_mutex_free(m_), 0);
    T_CHECK_EQ(uco_cond_free(c_), 0);
    T_CHECK_EQ(uco_sem_free(s_), 0);
    return 0;
}

static void run_in_every_ring_mode(void **state)
{
    t_run_modes(with_objects, *state, 0);
}

static void run_once(void **state)
{
    assert_int_equal(t_run(with_objects, *state, NULL), 0);
}

/* cmocka tests named after their task body, run by with_objects in each ring mode or once. */
/* clang-format off */
#define T_MODES(body) {#body, run_in_every_ring_mode, NULL, NULL, (void *)(uintptr_t)(body)}
#define T_ONCE(body)  {#body, run_once, NULL, NULL, (void *)(uintptr_t)(body)}
/* clang-format on */

/* ints through a channel; recv_int returns the value (>= 0 in these tests) or -errno. */
static int send_int(uco_chan *ch, int v)
{
    return uco_chan_send(ch, &v);
}

static int try_send_int(uco_chan *ch, int v)
{
    return uco_chan_try_send(ch, &v);
}

static int recv_int(uco_chan *ch)
{
    int v = -1, r = uco_chan_recv(ch, &v);
    return r ? r : v;
}

static int try_recv_int(uco_chan *ch)
{
    int v = -1, r = uco_chan_try_recv(ch, &v);
    return r ? r : v;
}

/* One task waiting on one of the primitives. */
struct wait {
    int id;           /* noted when the wait returns 0 */
    int val;          /* the value to send, or the one received (preset: written only on 0);
                         cond_waiter: 1 once its wait returned */
    int64_t deadline; /* of the wait; 0: none */
    int r;            /* what the wait returned */
    int64_t at;       /* when it returned */
    int after;        /* lock and cond_waiter: its unlock (0: it held the lock, -EPERM: not) */
    int next;         /* its next await, where a cancel after the hand-off shows;
                         cond_waiter: its trylock (-EBUSY: the lock is held, by itself) */
};

static int64_t wait_begin(struct wait *w)
{
    return uco_deadline_set(w->deadline ? w->deadline : UCO_FOREVER);
}

static void wait_end(struct wait *w, int r, int64_t old)
{
    w->r = r;
    w->at = uco_now();
    uco_deadline_set(old);
    if (r == 0) note(w->id);
}

static intptr_t lock_waiter(void *arg)
{
    struct wait *w = arg;
    int64_t old = wait_begin(w);
    wait_end(w, uco_mutex_lock(m_), old);
    w->after = uco_mutex_unlock(m_);
    w->next = uco_yield();
    return 0;
}

static intptr_t sem_waiter(void *arg)
{
    struct wait *w = arg;
    int64_t old = wait_begin(w);
    wait_end(w, uco_sem_acquire(s_), old);
    w->next = uco_yield();
    return 0;
}

static intptr_t send_waiter(void *arg)
{
    struct wait *w = arg;
    int64_t old = wait_begin(w);
    wait_end(w, uco_chan_send(ch_, &w->val), old);
    w->next = uco_yield();
    return 0;
}

static intptr_t recv_waiter(void *arg)
{
    struct wait *w = arg;
    int64_t old = wait_begin(w);
    wait_end(w, uco_chan_recv(ch_, &w->val), old);
    w->next = uco_yield();
    return 0;
}

/* Waits on c_ once, then records whether it holds m_ (trylock -EBUSY, unlock 0). */
static intptr_t cond_waiter(void *arg)
{
    struct wait *w = arg;
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    int64_t old = wait_begin(w);
    wait_end(w, uco_cond_wait(c_, m_), old);
    w->val = 1; /* returned */
    w->next = uco_mutex_trylock(m_);
    w->after = uco_mutex_unlock(m_);
    return 0;
}

/* Spawns fn(&w[i]) for i < n, in order, and lets them all reach their wait. */
static int spawn_waiting(uco_task **t, uco_task_fn *fn, struct wait *w, int n)
{
    for (int i = 0; i < n; i++) {
        int r = uco_spawn(&t[i], fn, &w[i]);
        if (r) return r;
    }
    return settle();
}

/* Joins w's task and returns what its wait returned (a failed join: -1000 + its error). */
static int joined(uco_task *t, const struct wait *w)
{
    int r = uco_task_join(t, NULL);
    return r ? -1000 + r : w->r;
}

/* Cancels w's task, joins it and returns what its wait returned. */
static int cancelled(uco_task *t, const struct wait *w)
{
    int r = uco_task_cancel(t);
    return r ? -1000 + r : joined(t, w);
}

/* ---- mutex -------------------------------------------------------------------------------- */

static intptr_t not_holder(void *arg)
{
    T_CHECK_EQ(uco_mutex_trylock(m_), -EBUSY);
    T_CHECK_EQ(uco_mutex_unlock(m_), -EPERM);
    return 7;
}

static intptr_t mutex_refuses_relocking_by_its_holder_and_unlocking_by_others(void *arg)
{
    uco_mutex *m;
    T_CHECK_EQ(uco_mutex_new(NULL), -EINVAL);
    T_CHECK_EQ(uco_mutex_new(&m), 0);
    T_CHECK_EQ(uco_mutex_free(m), 0);
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    T_CHECK_EQ(uco_mutex_trylock(m_), -EBUSY); /* also by its holder */
    T_CHECK_EQ(uco_mutex_lock(m_), -EDEADLK);
    uco_task *t;
    intptr_t r = -1;
    T_CHECK_EQ(uco_spawn(&t, not_holder, NULL), 0);
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, 7);
    T_CHECK_EQ(uco_mutex_free(m_), -EBUSY);   /* held */
    T_CHECK_EQ(uco_mutex_lock(m_), -EDEADLK); /* still this task's */
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    T_CHECK_EQ(uco_mutex_unlock(m_), -EPERM); /* nobody holds it */
    T_CHECK_EQ(uco_mutex_trylock(m_), 0);
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    T_CHECK_EQ(uco_mutex_lock(NULL), -EINVAL);
    T_CHECK_EQ(uco_mutex_trylock(NULL), -EINVAL);
    T_CHECK_EQ(uco_mutex_unlock(NULL), -EINVAL);
    return 0;
}

enum { CS_TASKS = 8, CS_ROUNDS = 5 };
static int inside, peak, rounds;

/* Lock, await inside (a yield, or a timer), unlock: CS_ROUNDS times. */
static intptr_t cs_worker(void *arg)
{
    for (int i = 0; i < CS_ROUNDS; i++) {
        T_CHECK_EQ(uco_mutex_lock(m_), 0);
        if (++inside > peak) peak = inside;
        T_CHECK_EQ(i % 2 ? uco_sleep(100 * UCO_USEC) : uco_yield(), 0);
        T_CHECK_EQ(uco_yield(), 0);
        inside--;
        rounds++;
        T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    }
    return 0;
}

static intptr_t mutex_critical_section_that_awaits_holds_one_task_at_a_time(void *arg)
{
    inside = peak = rounds = 0;
    uco_task *t[CS_TASKS];
    for (int i = 0; i < CS_TASKS; i++)
        T_CHECK_EQ(uco_spawn(&t[i], cs_worker, NULL), 0);
    for (int i = 0; i < CS_TASKS; i++)
        T_CHECK_EQ(uco_task_join(t[i], NULL), 0);
    T_CHECK_EQ(peak, 1);
    T_CHECK_EQ(rounds, CS_TASKS * CS_ROUNDS);
    return 0;
}

static intptr_t mutex_hands_the_lock_to_waiters_in_arrival_order(void *arg)
{
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    struct wait w[6] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}, {.id = 4}, {.id = 5}};
    uco_task *t[6];
    T_CHECK_EQ(spawn_waiting(t, lock_waiter, w, 5), 0);
    T_CHECK_EQ(nev, 0);
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);       /* handed to task 0 ... */
    T_CHECK_EQ(uco_mutex_trylock(m_), -EBUSY); /* ... so the unlocker cannot take it back */
    T_CHECK_EQ(uco_mutex_unlock(m_), -EPERM);
    T_CHECK_EQ(uco_spawn(&t[5], lock_waiter, &w[5]), 0); /* comes last */
    for (int i = 0; i < 6; i++) {
        T_CHECK_EQ(joined(t[i], &w[i]), 0);
        T_CHECK_EQ(w[i].after, 0);
    }
    T_CHECK_EVENTS(0, 1, 2, 3, 4, 5);
    return 0;
}

static intptr_t mutex_waiter_cancelled_or_timed_out_does_not_take_the_lock(void *arg)
{
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    struct wait w[3] = {{.id = 1}, {.id = 2, .deadline = uco_now() + 20 * MS}, {.id = 3}};
    uco_task *t[3];
    T_CHECK_EQ(spawn_waiting(t, lock_waiter, w, 3), 0);
    T_CHECK_EQ(cancelled(t[0], &w[0]), -ECANCELED);
    T_CHECK_EQ(w[0].after, -EPERM); /* it does not hold the lock */
    T_CHECK_EQ(joined(t[1], &w[1]), -ETIMEDOUT);
    T_CHECK(w[1].at >= w[1].deadline);
    T_CHECK_EQ(w[1].after, -EPERM);
    T_CHECK_EQ(nev, 0);
    T_CHECK_EQ(uco_mutex_lock(m_), -EDEADLK); /* still this task's */
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);      /* to the one left waiting */
    T_CHECK_EQ(uco_mutex_trylock(m_), -EBUSY);
    T_CHECK_EQ(joined(t[2], &w[2]), 0);
    T_CHECK_EQ(w[2].after, 0);
    T_CHECK_EVENTS(3);
    return 0;
}

/* ---- what a waiter was handed is its own -------------------------------------------------- */

static intptr_t waiter_handed_what_it_waited_for_keeps_it_when_cancelled_before_running(void *arg)
{
    uco_task *t;
    struct wait w = {.val = -1};
    /* A lock passed on by unlock. */
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    T_CHECK_EQ(spawn_waiting(&t, lock_waiter, &w, 1), 0);
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    T_CHECK_EQ(cancelled(t, &w), 0);
    T_CHECK_EQ(w.after, 0); /* it held the lock */
    T_CHECK_EQ(w.next, -ECANCELED);
    /* A unit passed on by release. */
    T_CHECK_EQ(spawn_waiting(&t, sem_waiter, &w, 1), 0);
    T_CHECK_EQ(uco_sem_release(s_), 0);
    T_CHECK_EQ(cancelled(t, &w), 0);
    T_CHECK_EQ(w.next, -ECANCELED);
    T_CHECK_EQ(uco_sem_units(s_), 0); /* the waiter has it */
    /* A value sent to a waiting receiver. */
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 1), 0);
    T_CHECK_EQ(spawn_waiting(&t, recv_waiter, &w, 1), 0);
    T_CHECK_EQ(send_int(ch_, 77), 0);
    T_CHECK_EQ(cancelled(t, &w), 0);
    T_CHECK_EQ(w.val, 77);
    T_CHECK_EQ(w.next, -ECANCELED);
    T_CHECK_EQ(uco_chan_len(ch_), 0);
    /* Room made by a receive, for a sender waiting on a full channel. */
    T_CHECK_EQ(try_send_int(ch_, 1), 0);
    w.val = 2;
    T_CHECK_EQ(spawn_waiting(&t, send_waiter, &w, 1), 0);
    T_CHECK_EQ(recv_int(ch_), 1);
    T_CHECK_EQ(cancelled(t, &w), 0);
    T_CHECK_EQ(w.next, -ECANCELED);
    T_CHECK_EQ(try_recv_int(ch_), 2);
    return 0;
}

/* ---- condition variable ------------------------------------------------------------------- */

enum { PC_ITEMS = 40, PC_BATCH = 5, PC_CAP = 3, PC_CONSUMERS = 2 };
static int pc_buf[PC_CAP], pc_head, pc_count, pc_done;
static int pc_seen[PC_ITEMS + 1], pc_waits_full, pc_waits_empty;
static uco_cond *not_full; /* and c_: not empty */

static intptr_t pc_producer(void *arg)
{
    /* In batches under one hold of the mutex: more than fit, so it waits for room. */
    for (int i = 1; i <= PC_ITEMS; i++) {
        if (i % PC_BATCH == 1) T_CHECK_EQ(uco_mutex_lock(m_), 0);
        while (pc_count == PC_CAP) {
            pc_waits_full++;
            T_CHECK_EQ(uco_cond_wait(not_full, m_), 0);
        }
        pc_buf[(pc_head + pc_count++) % PC_CAP] = i;
        T_CHECK_EQ(uco_cond_signal(c_), 0);
        if (i % PC_BATCH == 0) T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    }
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    pc_done = 1;
    T_CHECK_EQ(uco_cond_broadcast(c_), 0);
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    return 0;
}

static intptr_t pc_consumer(void *arg)
{
    int last = 0, n = 0;
    for (;;) {
        T_CHECK_EQ(uco_mutex_lock(m_), 0);
        while (pc_count == 0 && !pc_done) {
            pc_waits_empty++;
            T_CHECK_EQ(uco_cond_wait(c_, m_), 0);
        }
        if (pc_count == 0) break;
        int v = pc_buf[pc_head];
        pc_head = (pc_head + 1) % PC_CAP;
        pc_count--;
        T_CHECK_EQ(uco_cond_signal(not_full), 0);
        T_CHECK_EQ(uco_yield(), 0); /* with the mutex held */
        T_CHECK_EQ(uco_mutex_unlock(m_), 0);
        T_CHECK(v > last); /* FIFO buffer, one producer */
        last = v;
        pc_seen[v]++;
        n++;
    }
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    return n;
}

static intptr_t cond_passes_every_item_from_producer_to_consumers_once(void *arg)
{
    pc_head = pc_count = pc_done = pc_waits_full = pc_waits_empty = 0;
    memset(pc_seen, 0, sizeof pc_seen);
    T_CHECK_EQ(uco_cond_new(&not_full), 0);
    uco_task *c[PC_CONSUMERS], *p;
    for (int i = 0; i < PC_CONSUMERS; i++)
        T_CHECK_EQ(uco_spawn(&c[i], pc_consumer, NULL), 0);
    T_CHECK_EQ(uco_spawn(&p, pc_producer, NULL), 0);
    T_CHECK_EQ(uco_task_join(p, NULL), 0);
    intptr_t total = 0, n = 0;
    for (int i = 0; i < PC_CONSUMERS; i++, total += n)
        T_CHECK_EQ(uco_task_join(c[i], &n), 0);
    T_CHECK_EQ(total, PC_ITEMS);
    for (int i = 1; i <= PC_ITEMS; i++)
        T_CHECK_EQ(pc_seen[i], 1);
    T_CHECK(pc_waits_full > 0);
    T_CHECK(pc_waits_empty > 0);
    T_CHECK_EQ(uco_cond_free(not_full), 0);
    return 0;
}

static intptr_t cond_signal_wakes_the_longest_waiter_and_broadcast_wakes_all(void *arg)
{
    T_CHECK_EQ(uco_cond_signal(c_), 0); /* nobody waits: not remembered */
    T_CHECK_EQ(uco_cond_broadcast(c_), 0);
    struct wait w[4] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}};
    uco_task *t[4];
    T_CHECK_EQ(spawn_waiting(t, cond_waiter, w, 4), 0);
    T_CHECK_EQ(nev, 0);
    T_CHECK_EQ(uco_cond_signal(c_), 0);
    T_CHECK_EQ(settle(), 0);
    T_CHECK_EVENTS(0); /* one, the longest waiting */
    T_CHECK_EQ(uco_cond_signal(c_), 0);
    T_CHECK_EQ(settle(), 0);
    T_CHECK_EVENTS(0, 1);
    T_CHECK_EQ(uco_cond_broadcast(c_), 0);
    T_CHECK_EQ(settle(), 0);
    T_CHECK_EVENTS(0, 1, 2, 3);
    for (int i = 0; i < 4; i++)
        T_CHECK_EQ(joined(t[i], &w[i]), 0);
    return 0;
}

static intptr_t hold_a_while(void *arg)
{
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    T_CHECK_EQ(settle(), 0);
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    return 0;
}

static intptr_t cond_wait_without_holding_the_mutex_is_eperm(void *arg)
{
    T_CHECK_EQ(uco_cond_new(NULL), -EINVAL);
    T_CHECK_EQ(uco_cond_wait(c_, m_), -EPERM); /* nobody holds it */
    uco_task *h;
    T_CHECK_EQ(uco_spawn(&h, hold_a_while, NULL), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_mutex_trylock(m_), -EBUSY);
    T_CHECK_EQ(uco_cond_wait(c_, m_), -EPERM); /* another task holds it */
    T_CHECK_EQ(uco_task_join(h, NULL), 0);
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    T_CHECK_EQ(uco_cond_wait(NULL, m_), -EINVAL);
    T_CHECK_EQ(uco_cond_wait(c_, NULL), -EINVAL);
    T_CHECK_EQ(uco_mutex_unlock(m_), 0); /* still held after the refusals */
    T_CHECK_EQ(uco_cond_signal(NULL), -EINVAL);
    T_CHECK_EQ(uco_cond_broadcast(NULL), -EINVAL);
    return 0;
}

static intptr_t cond_waiter_interrupted_holds_the_mutex_again_on_return(void *arg)
{
    uco_task *t;
    /* Cancelled, the mutex free. */
    struct wait a = {0};
    T_CHECK_EQ(spawn_waiting(&t, cond_waiter, &a, 1), 0);
    T_CHECK_EQ(cancelled(t, &a), -ECANCELED);
    T_CHECK_EQ(a.next, -EBUSY); /* trylock: held, */
    T_CHECK_EQ(a.after, 0);     /* by itself */
    /* Cancelled while this task holds the mutex: returns only once it is handed back. */
    struct wait b = {0};
    T_CHECK_EQ(spawn_waiting(&t, cond_waiter, &b, 1), 0);
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    T_CHECK_EQ(uco_task_cancel(t), 0);
    T_CHECK_EQ(settle(), 0);
    T_CHECK_EQ(b.val, 0); /* not returned */
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    T_CHECK_EQ(uco_mutex_trylock(m_), -EBUSY); /* the waiter's now */
    T_CHECK_EQ(joined(t, &b), -ECANCELED);
    T_CHECK_EQ(b.next, -EBUSY);
    T_CHECK_EQ(b.after, 0);
    /* Timed out. */
    struct wait c = {.deadline = uco_now() + 20 * MS};
    T_CHECK_EQ(spawn_waiting(&t, cond_waiter, &c, 1), 0);
    T_CHECK_EQ(joined(t, &c), -ETIMEDOUT);
    T_CHECK(c.at >= c.deadline);
    T_CHECK_EQ(c.next, -EBUSY);
    T_CHECK_EQ(c.after, 0);
    return 0;
}

/* ---- semaphore ---------------------------------------------------------------------------- */

enum { SEM_UNITS = 3, SEM_TASKS = 8, SEM_ROUNDS = 4 };

static intptr_t sem_worker(void *arg)
{
    for (int i = 0; i < SEM_ROUNDS; i++) {
        T_CHECK_EQ(uco_sem_acquire(s_), 0);
        if (++inside > peak) peak = inside;
        T_CHECK_EQ(i % 2 ? uco_sleep(100 * UCO_USEC) : uco_yield(), 0);
        inside--;
        rounds++;
        T_CHECK_EQ(uco_sem_release(s_), 0);
    }
    return 0;
}

static intptr_t sem_lets_at_most_its_units_of_tasks_in_at_once(void *arg)
{
    inside = peak = rounds = 0;
    for (int i = 0; i < SEM_UNITS; i++)
        T_CHECK_EQ(uco_sem_release(s_), 0);
    uco_task *t[SEM_TASKS];
    for (int i = 0; i < SEM_TASKS; i++)
        T_CHECK_EQ(uco_spawn(&t[i], sem_worker, NULL), 0);
    for (int i = 0; i < SEM_TASKS; i++)
        T_CHECK_EQ(uco_task_join(t[i], NULL), 0);
    T_CHECK_EQ(peak, SEM_UNITS);
    T_CHECK_EQ(rounds, SEM_TASKS * SEM_ROUNDS);
    T_CHECK_EQ(uco_sem_units(s_), SEM_UNITS);
    return 0;
}

static intptr_t sem_try_acquire_is_eagain_at_zero_and_overflow_is_refused(void *arg)
{
    uco_sem *s;
    T_CHECK_EQ(uco_sem_new(NULL, 1), -EINVAL);
    T_CHECK_EQ(uco_sem_new(&s, 1), 0);
    T_CHECK_EQ(uco_sem_try_acquire(s), 0);
    T_CHECK_EQ(uco_sem_units(s), 0);
    T_CHECK_EQ(uco_sem_try_acquire(s), -EAGAIN);
    T_CHECK_EQ(uco_sem_units(s), 0);
    T_CHECK_EQ(uco_sem_release(s), 0);
    T_CHECK_EQ(uco_sem_release(s), 0); /* more than it was made with: allowed */
    T_CHECK_EQ(uco_sem_units(s), 2);
    T_CHECK_EQ(uco_sem_acquire(s), 0);
    T_CHECK_EQ(uco_sem_units(s), 1);
    T_CHECK_EQ(uco_sem_free(s), 0);
    T_CHECK_EQ(uco_sem_acquire(NULL), -EINVAL);
    T_CHECK_EQ(uco_sem_try_acquire(NULL), -EINVAL);
    T_CHECK_EQ(uco_sem_release(NULL), -EINVAL);
    T_CHECK_EQ(uco_sem_new(&s, UINT_MAX), 0);
    T_CHECK_EQ(uco_sem_release(s), -EOVERFLOW);
    T_CHECK_EQ(uco_sem_units(s), UINT_MAX);
    T_CHECK_EQ(uco_sem_free(s), 0);
    return 0;
}

static intptr_t sem_release_hands_the_unit_to_the_first_waiter(void *arg)
{
    struct wait w[3] = {{.id = 0}, {.id = 1}, {.id = 2}};
    uco_task *t[3];
    T_CHECK_EQ(spawn_waiting(t, sem_waiter, w, 3), 0);
    T_CHECK_EQ(nev, 0);
    T_CHECK_EQ(uco_sem_release(s_), 0);
    T_CHECK_EQ(uco_sem_units(s_), 0);             /* handed to the first waiter ... */
    T_CHECK_EQ(uco_sem_try_acquire(s_), -EAGAIN); /* ... not left for the taking */
    T_CHECK_EQ(settle(), 0);
    T_CHECK_EVENTS(0);
    T_CHECK_EQ(uco_sem_release(s_), 0);
    T_CHECK_EQ(uco_sem_release(s_), 0);
    T_CHECK_EQ(uco_sem_units(s_), 0);
    for (int i = 0; i < 3; i++)
        T_CHECK_EQ(joined(t[i], &w[i]), 0);
    T_CHECK_EVENTS(0, 1, 2);
    T_CHECK_EQ(uco_sem_release(s_), 0); /* nobody waits: to the count */
    T_CHECK_EQ(uco_sem_units(s_), 1);
    return 0;
}

static intptr_t sem_acquire_cancelled_or_timed_out_takes_no_unit(void *arg)
{
    struct wait w[3] = {{.id = 1}, {.id = 2, .deadline = uco_now() + 20 * MS}, {.id = 3}};
    uco_task *t[3];
    T_CHECK_EQ(spawn_waiting(t, sem_waiter, w, 3), 0);
    T_CHECK_EQ(cancelled(t[0], &w[0]), -ECANCELED);
    T_CHECK_EQ(joined(t[1], &w[1]), -ETIMEDOUT);
    T_CHECK(w[1].at >= w[1].deadline);
    T_CHECK_EQ(uco_sem_units(s_), 0);
    T_CHECK_EQ(uco_sem_release(s_), 0); /* to the one left waiting */
    T_CHECK_EQ(joined(t[2], &w[2]), 0);
    T_CHECK_EVENTS(3);
    T_CHECK_EQ(uco_sem_units(s_), 0);
    T_CHECK_EQ(uco_sem_release(s_), 0);
    T_CHECK_EQ(uco_sem_units(s_), 1);
    return 0;
}

/* ---- channel ------------------------------------------------------------------------------ */

enum { MP_PRODUCERS = 3, MP_CONSUMERS = 3, MP_VALUES = 60 };
static int mp_seen[MP_PRODUCERS][MP_VALUES];

static intptr_t mp_producer(void *arg)
{
    uint32_t p = (uint32_t)(intptr_t)arg;
    for (uint32_t i = 0; i < MP_VALUES; i++) {
        uint32_t v = p << 16 | i;
        T_CHECK_EQ(uco_chan_send(ch_, &v), 0);
        if (i % 7 == p) T_CHECK_EQ(uco_yield(), 0);
    }
    return 0;
}

static intptr_t mp_consumer(void *arg)
{
    int last[MP_PRODUCERS] = {-1, -1, -1}, n = 0, r;
    uint32_t v;
    while ((r = uco_chan_recv(ch_, &v)) == 0) {
        uint32_t p = v >> 16, i = v & 0xffff;
        T_CHECK(p < MP_PRODUCERS && i < MP_VALUES);
        T_CHECK((int)i > last[p]); /* each producer's values in the order sent */
        last[p] = (int)i;
        mp_seen[p][i]++;
        if (++n % 5 == 0) T_CHECK_EQ(uco_yield(), 0);
    }
    T_CHECK_EQ(r, -EPIPE);
    return n;
}

static intptr_t chan_delivers_every_value_once_keeping_each_producers_order(void *arg)
{
    memset(mp_seen, 0, sizeof mp_seen);
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(uint32_t), 4), 0);
    uco_task *c[MP_CONSUMERS], *pr[MP_PRODUCERS];
    for (int i = 0; i < MP_CONSUMERS; i++)
        T_CHECK_EQ(uco_spawn(&c[i], mp_consumer, NULL), 0);
    for (int i = 0; i < MP_PRODUCERS; i++)
        T_CHECK_EQ(uco_spawn(&pr[i], mp_producer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < MP_PRODUCERS; i++)
        T_CHECK_EQ(uco_task_join(pr[i], NULL), 0);
    T_CHECK_EQ(uco_chan_close(ch_), 0);
    intptr_t total = 0, n = 0;
    for (int i = 0; i < MP_CONSUMERS; i++, total += n)
        T_CHECK_EQ(uco_task_join(c[i], &n), 0);
    T_CHECK_EQ(total, MP_PRODUCERS * MP_VALUES);
    for (int p = 0; p < MP_PRODUCERS; p++)
        for (int i = 0; i < MP_VALUES; i++)
            T_CHECK_EQ(mp_seen[p][i], 1);
    return 0;
}

enum { S_BEFORE = 1, S_AFTER, R_BEFORE, R_GOT };

static intptr_t rv_sender(void *arg)
{
    int v = (int)(intptr_t)arg;
    note(S_BEFORE);
    int r = uco_chan_send(ch_, &v);
    v = -1; /* the value was read before the send returned, never after */
    note(S_AFTER);
    return r;
}

static intptr_t rv_receiver(void *arg)
{
    note(R_BEFORE);
    int v = recv_int(ch_);
    note(R_GOT);
    return v;
}

static intptr_t chan_of_capacity_zero_returns_from_send_only_when_a_receiver_took_it(void *arg)
{
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 0), 0);
    T_CHECK_EQ(try_send_int(ch_, 5), -EAGAIN); /* nobody receives */
    T_CHECK_EQ(try_recv_int(ch_), -EAGAIN);    /* nobody sends */
    /* Sender first: it waits for a receiver. */
    uco_task *s, *r;
    intptr_t rs = -1, rr = -1;
    T_CHECK_EQ(uco_spawn(&s, rv_sender, (void *)42), 0);
    T_CHECK_EQ(settle(), 0);
    T_CHECK_EVENTS(S_BEFORE);
    T_CHECK_EQ(uco_chan_len(ch_), 0);
    T_CHECK_EQ(uco_spawn(&r, rv_receiver, NULL), 0);
    T_CHECK_EQ(uco_task_join(r, &rr), 0);
    T_CHECK_EQ(uco_task_join(s, &rs), 0);
    T_CHECK_EQ(rr, 42);
    T_CHECK_EQ(rs, 0);
    T_CHECK_EQ(nev, 4);
    T_CHECK_EQ(evs[1], R_BEFORE); /* the send had not returned before the receiver came */
    T_CHECK((evs[2] == R_GOT && evs[3] == S_AFTER) || (evs[2] == S_AFTER && evs[3] == R_GOT));
    /* Receiver first: a try_send hands it the value. */
    nev = 0;
    T_CHECK_EQ(uco_spawn(&r, rv_receiver, NULL), 0);
    T_CHECK_EQ(settle(), 0);
    T_CHECK_EVENTS(R_BEFORE);
    T_CHECK_EQ(try_recv_int(ch_), -EAGAIN);
    T_CHECK_EQ(try_send_int(ch_, 7), 0);
    T_CHECK_EQ(try_send_int(ch_, 8), -EAGAIN); /* the one receiver is served */
    T_CHECK_EQ(uco_task_join(r, &rr), 0);
    T_CHECK_EQ(rr, 7);
    /* A waiting sender, taken by a try_recv. */
    nev = 0;
    T_CHECK_EQ(uco_spawn(&s, rv_sender, (void *)43), 0);
    T_CHECK_EQ(settle(), 0);
    T_CHECK_EVENTS(S_BEFORE);
    T_CHECK_EQ(try_recv_int(ch_), 43);
    T_CHECK_EQ(uco_task_join(s, &rs), 0);
    T_CHECK_EQ(rs, 0);
    return 0;
}

static intptr_t bp_producer(void *arg)
{
    for (int i = 1; i <= 3; i++) {
        T_CHECK_EQ(send_int(ch_, i), 0);
        note(i);
    }
    return 0;
}

static intptr_t chan_send_waits_while_the_channel_is_full(void *arg)
{
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 2), 0);
    uco_task *p;
    T_CHECK_EQ(uco_spawn(&p, bp_producer, NULL), 0);
    T_CHECK_EQ(settle(), 0);
    T_CHECK_EVENTS(1, 2); /* the third send waits */
    T_CHECK_EQ(uco_chan_len(ch_), 2);
    T_CHECK_EQ(try_send_int(ch_, 99), -EAGAIN);
    T_CHECK_EQ(recv_int(ch_), 1);
    T_CHECK_EQ(try_send_int(ch_, 99), -EAGAIN); /* the room went to the waiting sender */
    T_CHECK_EQ(uco_task_join(p, NULL), 0);
    T_CHECK_EVENTS(1, 2, 3);
    T_CHECK_EQ(uco_chan_len(ch_), 2);
    T_CHECK_EQ(recv_int(ch_), 2);
    T_CHECK_EQ(recv_int(ch_), 3);
    return 0;
}

static intptr_t chan_try_calls_are_eagain_when_full_or_empty_and_len_counts_values(void *arg)
{
    uco_chan *ch;
    T_CHECK_EQ(uco_chan_new(&ch, sizeof(int), 3), 0);
    int v = -1;
    T_CHECK_EQ(uco_chan_try_recv(ch, &v), -EAGAIN);
    T_CHECK_EQ(v, -1); /* not written */
    for (int i = 0; i < 3; i++) {
        T_CHECK_EQ(uco_chan_len(ch), i);
        T_CHECK_EQ(try_send_int(ch, 10 + i), 0);
    }
    T_CHECK_EQ(try_send_int(ch, 13), -EAGAIN);
    for (int i = 0; i < 3; i++) {
        T_CHECK_EQ(uco_chan_len(ch), 3 - i);
        T_CHECK_EQ(try_recv_int(ch), 10 + i);
    }
    T_CHECK_EQ(try_recv_int(ch), -EAGAIN);
    /* Round and round the ring. */
    for (int i = 0; i < 20; i++) {
        T_CHECK_EQ(try_send_int(ch, i), 0);
        for (int j = i - 2; i % 3 == 2 && j <= i; j++)
            T_CHECK_EQ(recv_int(ch), j);
    }
    T_CHECK_EQ(uco_chan_len(ch), 2);
    T_CHECK_EQ(uco_chan_free(ch), 0); /* with values in it */
    return 0;
}

static intptr_t chan_close_drains_values_in_then_refuses_everyone_with_epipe(void *arg)
{
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 4), 0);
    T_CHECK_EQ(send_int(ch_, 1), 0);
    T_CHECK_EQ(send_int(ch_, 2), 0);
    T_CHECK_EQ(uco_chan_close(ch_), 0);
    T_CHECK_EQ(uco_chan_close(ch_), -EPIPE);
    T_CHECK_EQ(send_int(ch_, 3), -EPIPE);
    T_CHECK_EQ(try_send_int(ch_, 3), -EPIPE);
    T_CHECK_EQ(uco_chan_len(ch_), 2);
    T_CHECK_EQ(recv_int(ch_), 1);
    T_CHECK_EQ(recv_int(ch_), 2);
    int v = -1;
    T_CHECK_EQ(uco_chan_recv(ch_, &v), -EPIPE);
    T_CHECK_EQ(uco_chan_try_recv(ch_, &v), -EPIPE);
    T_CHECK_EQ(v, -1);
    T_CHECK_EQ(uco_chan_free(ch_), 0);
    /* Receivers waiting on an empty channel. */
    uco_task *t[2];
    struct wait w[2] = {{.val = -1}, {.val = -1}};
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 1), 0);
    T_CHECK_EQ(spawn_waiting(t, recv_waiter, w, 2), 0);
    T_CHECK_EQ(uco_chan_close(ch_), 0);
    for (int i = 0; i < 2; i++) {
        T_CHECK_EQ(joined(t[i], &w[i]), -EPIPE);
        T_CHECK_EQ(w[i].val, -1);
    }
    T_CHECK_EQ(uco_chan_free(ch_), 0);
    /* Senders waiting on a full channel: their values are not received. */
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 1), 0);
    T_CHECK_EQ(send_int(ch_, 7), 0);
    w[0].val = 8;
    w[1].val = 9;
    T_CHECK_EQ(spawn_waiting(t, send_waiter, w, 2), 0);
    T_CHECK_EQ(uco_chan_close(ch_), 0);
    for (int i = 0; i < 2; i++)
        T_CHECK_EQ(joined(t[i], &w[i]), -EPIPE);
    T_CHECK_EQ(uco_chan_len(ch_), 1);
    T_CHECK_EQ(recv_int(ch_), 7);
    T_CHECK_EQ(recv_int(ch_), -EPIPE);
    T_CHECK_EQ(uco_chan_free(ch_), 0);
    /* A sender waiting on a channel of capacity 0. */
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 0), 0);
    T_CHECK_EQ(spawn_waiting(t, send_waiter, w, 1), 0);
    T_CHECK_EQ(uco_chan_close(ch_), 0);
    T_CHECK_EQ(joined(t[0], &w[0]), -EPIPE);
    T_CHECK_EQ(try_recv_int(ch_), -EPIPE);
    return 0;
}

static intptr_t chan_send_or_recv_interrupted_moves_no_value(void *arg)
{
    uco_task *t[2];
    /* Senders on a full channel, one timed out, one cancelled: neither value goes in. */
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 1), 0);
    T_CHECK_EQ(send_int(ch_, 5), 0);
    struct wait s[2] = {{.val = 6, .deadline = uco_now() + 20 * MS}, {.val = 7}};
    T_CHECK_EQ(spawn_waiting(t, send_waiter, s, 2), 0);
    T_CHECK_EQ(cancelled(t[1], &s[1]), -ECANCELED);
    T_CHECK_EQ(joined(t[0], &s[0]), -ETIMEDOUT);
    T_CHECK(s[0].at >= s[0].deadline);
    T_CHECK_EQ(uco_chan_len(ch_), 1);
    T_CHECK_EQ(recv_int(ch_), 5);
    T_CHECK_EQ(try_recv_int(ch_), -EAGAIN);
    /* Receivers on an empty one: neither takes a value sent afterwards. */
    struct wait r[2] = {{.val = -1, .deadline = uco_now() + 20 * MS}, {.val = -1}};
    T_CHECK_EQ(spawn_waiting(t, recv_waiter, r, 2), 0);
    T_CHECK_EQ(cancelled(t[1], &r[1]), -ECANCELED);
    T_CHECK_EQ(joined(t[0], &r[0]), -ETIMEDOUT);
    T_CHECK(r[0].at >= r[0].deadline);
    T_CHECK_EQ(r[0].val + r[1].val, -2); /* not written */
    T_CHECK_EQ(try_send_int(ch_, 11), 0);
    T_CHECK_EQ(uco_chan_len(ch_), 1);
    T_CHECK_EQ(recv_int(ch_), 11);
    T_CHECK_EQ(uco_chan_free(ch_), 0);
    /* Capacity 0: a cancelled receiver is no longer there to take a try_send. */
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 0), 0);
    T_CHECK_EQ(spawn_waiting(t, recv_waiter, &r[1], 1), 0);
    T_CHECK_EQ(cancelled(t[0], &r[1]), -ECANCELED);
    T_CHECK_EQ(try_send_int(ch_, 12), -EAGAIN);
    return 0;
}

/* ---- channel ops (select) ------------------------------------------------------------- */

static uco_chan *ch2_;

static intptr_t send_7_to_ch2(void *arg)
{
    return send_int(ch2_, 7);
}

/* A receive on each of two channels and a timer, waited for together: the channel that gets
 * a value wins; the others, cancelled, moved nothing (a later send finds no receiver). */
static intptr_t chan_ops_select_the_channel_that_is_ready(void *arg)
{
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 0), 0);
    T_CHECK_EQ(uco_chan_new(&ch2_, sizeof(int), 0), 0);
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, send_7_to_ch2, NULL), 0);
    uco_op a, b, tm;
    int va = -1, vb = -1;
    T_CHECK_EQ(uco_op_chan_recv(&a, ch_, &va), 0);
    T_CHECK_EQ(uco_op_chan_recv(&b, ch2_, &vb), 0);
    T_CHECK_EQ(uco_op_timeout(&tm, 10 * UCO_SEC), 0);
    uco_op *ops[] = {&a, &b, &tm};
    T_CHECK_EQ(uco_op_wait_any(ops, 3), 1);
    T_CHECK_EQ(uco_op_result(&b), 0);
    T_CHECK_EQ(vb, 7);
    T_CHECK_EQ(uco_op_cancel(&a), 0);
    T_CHECK_EQ(uco_op_wait(&a), -ECANCELED);
    T_CHECK_EQ(uco_op_cancel(&tm), 0);
    T_CHECK(uco_op_wait(&tm) < 0);
    T_CHECK_EQ(va, -1);
    T_CHECK_EQ(try_send_int(ch_, 8), -EAGAIN); /* no receiver left */
    T_CHECK_EQ(uco_task_join(t, NULL), 0);
    /* Nothing ready: the timer wins, and the channel ops end cancelled. */
    T_CHECK_EQ(uco_op_chan_recv(&a, ch_, &va), 0);
    T_CHECK_EQ(uco_op_chan_send(&b, ch2_, &vb), 0);
    T_CHECK_EQ(uco_op_timeout(&tm, 20 * MS), 0);
    T_CHECK_EQ(uco_op_wait_any(ops, 3), 2);
    T_CHECK_EQ(uco_op_result(&tm), 0); /* (released: these ops die with this frame) */
    T_CHECK_EQ(uco_op_cancel(&a), 0);
    T_CHECK_EQ(uco_op_cancel(&b), 0);
    T_CHECK_EQ(uco_op_wait(&a), -ECANCELED);
    T_CHECK_EQ(uco_op_wait(&b), -ECANCELED);
    T_CHECK_EQ(try_recv_int(ch2_), -EAGAIN); /* the send op's value never went */
    T_CHECK_EQ(uco_chan_free(ch2_), 0);
    return 0;
}

static intptr_t send_1_and_2(void *arg)
{
    int r = send_int(ch_, 1);
    return r ? r : send_int(ch2_, 2);
}

/* Two receives both handed a value before their task runs again: the one a wait_any did not
 * report is done too, and its cancel changes nothing: the value is in its variable. */
static intptr_t chan_op_done_before_its_cancel_keeps_its_value(void *arg)
{
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 0), 0);
    T_CHECK_EQ(uco_chan_new(&ch2_, sizeof(int), 0), 0);
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, send_1_and_2, NULL), 0);
    uco_op a, b;
    int va = -1, vb = -1;
    T_CHECK_EQ(uco_op_chan_recv(&a, ch_, &va), 0);
    T_CHECK_EQ(uco_op_chan_recv(&b, ch2_, &vb), 0);
    T_CHECK_EQ(uco_task_join(t, NULL), 0); /* the sender ran to its end: both were handed */
    uco_op *ops[] = {&a, &b};
    T_CHECK_EQ(uco_op_wait_any(ops, 2), 0);
    T_CHECK(uco_op_done(&b));
    T_CHECK_EQ(uco_op_cancel(&b), -ENOENT); /* not in flight any more */
    T_CHECK_EQ(uco_op_wait(&a), 0);
    T_CHECK_EQ(uco_op_wait(&b), 0);
    T_CHECK_EQ(va, 1);
    T_CHECK_EQ(vb, 2);
    T_CHECK_EQ(uco_chan_free(ch2_), 0);
    return 0;
}

static intptr_t leave_a_recv_op(void *arg)
{
    static uco_op op;
    static int v = -1;
    return uco_op_chan_recv(&op, ch_, &v); /* returns without waiting for it */
}

/* Ops that need not wait are done at once; close ends those in flight with -EPIPE; a deadline
 * or a task that returns without waiting ends them moving nothing. */
static intptr_t chan_ops_end_on_close_deadline_and_return(void *arg)
{
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 1), 0);
    uco_op a, b;
    int v = 3, got = -1;
    T_CHECK_EQ(uco_op_chan_send(&a, ch_, &v), 0);
    T_CHECK(uco_op_done(&a)); /* room: sent at once */
    T_CHECK_EQ(uco_op_wait(&a), 0);
    T_CHECK_EQ(uco_op_chan_recv(&a, ch_, &got), 0);
    T_CHECK(uco_op_done(&a));
    T_CHECK_EQ(uco_op_wait(&a), 0);
    T_CHECK_EQ(got, 3);
    /* A deadline around the wait: -ETIMEDOUT, nothing taken from a later send. */
    T_CHECK_EQ(uco_op_chan_recv(&a, ch_, &got), 0);
    int64_t old = uco_deadline_set(uco_now() + 20 * MS);
    T_CHECK_EQ(uco_op_wait(&a), -ETIMEDOUT);
    uco_deadline_set(old);
    T_CHECK_EQ(try_send_int(ch_, 4), 0);
    T_CHECK_EQ(uco_chan_len(ch_), 1); /* it stayed in the channel */
    /* Full now: a send op waits; close ends it with -EPIPE and its value is not in. */
    v = 5;
    T_CHECK_EQ(uco_op_chan_send(&b, ch_, &v), 0);
    T_CHECK(!uco_op_done(&b));
    T_CHECK_EQ(uco_chan_close(ch_), 0);
    T_CHECK_EQ(uco_op_wait(&b), -EPIPE);
    T_CHECK_EQ(recv_int(ch_), 4);
    T_CHECK_EQ(recv_int(ch_), -EPIPE);
    T_CHECK_EQ(uco_op_chan_recv(&a, ch_, &got), 0); /* closed and empty: done at once */
    T_CHECK_EQ(uco_op_wait(&a), -EPIPE);
    T_CHECK_EQ(uco_chan_free(ch_), 0);
    /* A task that returns with a receive op in flight: it is cancelled, not left queued. */
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 0), 0);
    uco_task *t;
    T_CHECK_EQ(uco_spawn(&t, leave_a_recv_op, NULL), 0);
    intptr_t r = -1;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, 0);
    T_CHECK_EQ(try_send_int(ch_, 6), -EAGAIN);
    /* Bad arguments start nothing. */
    T_CHECK_EQ(uco_op_chan_recv(NULL, ch_, &got), -EINVAL);
    T_CHECK_EQ(uco_op_chan_recv(&a, NULL, &got), -EINVAL);
    T_CHECK_EQ(uco_op_chan_send(&a, ch_, NULL), -EINVAL);
    return 0;
}

struct rec24 {
    uint64_t a;
    uint32_t b;
    char c[12];
};
_Static_assert(sizeof(struct rec24) == 24, "a 24-byte value");

static intptr_t rec_sender(void *arg)
{
    struct rec24 r = {.a = 0x0123456789abcdefULL, .b = 0xfeedface, .c = "eleven char"};
    return uco_chan_send(ch_, &r);
}

static intptr_t chan_refuses_bad_arguments_and_copies_values_of_odd_sizes_intact(void *arg)
{
    uco_chan *ch;
    int v = 1;
    T_CHECK_EQ(uco_chan_new(NULL, 4, 1), -EINVAL);
    T_CHECK_EQ(uco_chan_new(&ch, 0, 1), -EINVAL);
    T_CHECK_EQ(uco_chan_new(&ch, 65537, 1), -EINVAL);
    T_CHECK_EQ(uco_chan_new(&ch, 4, ((size_t)1 << 24) + 1), -EINVAL);
    T_CHECK_EQ(uco_chan_new(&ch, sizeof v, 1), 0);
    T_CHECK_EQ(uco_chan_send(NULL, &v), -EINVAL);
    T_CHECK_EQ(uco_chan_send(ch, NULL), -EINVAL);
    T_CHECK_EQ(uco_chan_try_send(NULL, &v), -EINVAL);
    T_CHECK_EQ(uco_chan_try_send(ch, NULL), -EINVAL);
    T_CHECK_EQ(uco_chan_len(ch), 0);
    T_CHECK_EQ(uco_chan_try_send(ch, &v), 0);
    T_CHECK_EQ(uco_chan_recv(NULL, &v), -EINVAL);
    T_CHECK_EQ(uco_chan_recv(ch, NULL), -EINVAL);
    T_CHECK_EQ(uco_chan_try_recv(NULL, &v), -EINVAL);
    T_CHECK_EQ(uco_chan_try_recv(ch, NULL), -EINVAL);
    T_CHECK_EQ(uco_chan_close(NULL), -EINVAL);
    T_CHECK_EQ(uco_chan_len(ch), 1); /* nothing taken by the refused calls */
    T_CHECK_EQ(uco_chan_free(ch), 0);
    /* 24 bytes, through the buffer and handed straight to a receiver; no byte more written. */
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(struct rec24), 2), 0);
    for (int round = 0; round < 2; round++) {
        uco_task *t;
        intptr_t r = -1;
        T_CHECK_EQ(uco_spawn(&t, rec_sender, NULL), 0);
        if (round == 0) T_CHECK_EQ(settle(), 0); /* round 1: the receiver waits first */
        unsigned char out[32];
        memset(out, 0xaa, sizeof out);
        T_CHECK_EQ(uco_chan_recv(ch_, out), 0);
        struct rec24 got;
        memcpy(&got, out, sizeof got);
        T_CHECK_EQ(got.a, 0x0123456789abcdefULL);
        T_CHECK_EQ(got.b, 0xfeedface);
        T_CHECK(memcmp(got.c, "eleven char", 12) == 0);
        for (size_t i = sizeof got; i < sizeof out; i++)
            T_CHECK_EQ(out[i], 0xaa);
        T_CHECK_EQ(uco_task_join(t, &r), 0);
        T_CHECK_EQ(r, 0);
    }
    /* 1 byte. */
    T_CHECK_EQ(uco_chan_new(&ch, 1, 3), 0);
    const unsigned char bytes[3] = {0x00, 0xff, 0x7f};
    for (int i = 0; i < 3; i++)
        T_CHECK_EQ(uco_chan_try_send(ch, &bytes[i]), 0);
    for (int i = 0; i < 3; i++) {
        unsigned char out[2] = {0xaa, 0xaa};
        T_CHECK_EQ(uco_chan_recv(ch, out), 0);
        T_CHECK_EQ(out[0], bytes[i]);
        T_CHECK_EQ(out[1], 0xaa);
    }
    T_CHECK_EQ(uco_chan_free(ch), 0);
    T_CHECK_EQ(uco_chan_new(&ch, 65536, 2), 0); /* the largest size */
    T_CHECK_EQ(uco_chan_free(ch), 0);
    return 0;
}

/* ---- all four ----------------------------------------------------------------------------- */

static intptr_t free_with_a_task_waiting_is_ebusy_and_frees_nothing(void *arg)
{
    uco_task *t;
    struct wait w = {.val = -1};
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    T_CHECK_EQ(spawn_waiting(&t, lock_waiter, &w, 1), 0);
    T_CHECK_EQ(uco_mutex_free(m_), -EBUSY);
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    T_CHECK_EQ(joined(t, &w), 0); /* it still worked */
    T_CHECK_EQ(spawn_waiting(&t, cond_waiter, &w, 1), 0);
    T_CHECK_EQ(uco_cond_free(c_), -EBUSY);
    T_CHECK_EQ(uco_cond_signal(c_), 0);
    T_CHECK_EQ(joined(t, &w), 0);
    T_CHECK_EQ(spawn_waiting(&t, sem_waiter, &w, 1), 0);
    T_CHECK_EQ(uco_sem_free(s_), -EBUSY);
    T_CHECK_EQ(uco_sem_release(s_), 0);
    T_CHECK_EQ(joined(t, &w), 0);
    T_CHECK_EQ(uco_chan_new(&ch_, sizeof(int), 1), 0);
    T_CHECK_EQ(spawn_waiting(&t, recv_waiter, &w, 1), 0);
    T_CHECK_EQ(uco_chan_free(ch_), -EBUSY);
    T_CHECK_EQ(try_send_int(ch_, 3), 0);
    T_CHECK_EQ(joined(t, &w), 0);
    T_CHECK_EQ(w.val, 3);
    T_CHECK_EQ(uco_mutex_free(NULL), 0);
    T_CHECK_EQ(uco_cond_free(NULL), 0);
    T_CHECK_EQ(uco_sem_free(NULL), 0);
    T_CHECK_EQ(uco_chan_free(NULL), 0);
    return 0;
}

static intptr_t bind_to_this_thread(void *arg)
{
    T_CHECK_EQ(uco_mutex_lock(m_), 0);
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    T_CHECK_EQ(uco_cond_signal(c_), 0);
    T_CHECK_EQ(uco_sem_release(s_), 0);
    T_CHECK_EQ(uco_sem_acquire(s_), 0);
    T_CHECK_EQ(uco_sem_release(s_), 0);
    T_CHECK_EQ(send_int(ch_, 5), 0);
    return 0;
}

static intptr_t foreign_task(void *arg)
{
    int v = 9;
    T_CHECK_EQ(uco_mutex_lock(m_), -EXDEV);
    T_CHECK_EQ(uco_mutex_trylock(m_), -EXDEV);
    T_CHECK_EQ(uco_mutex_unlock(m_), -EXDEV);
    T_CHECK_EQ(uco_mutex_free(m_), -EXDEV);
    T_CHECK_EQ(uco_cond_wait(c_, m_), -EXDEV);
    T_CHECK_EQ(uco_cond_signal(c_), -EXDEV);
    T_CHECK_EQ(uco_cond_broadcast(c_), -EXDEV);
    T_CHECK_EQ(uco_cond_free(c_), -EXDEV);
    T_CHECK_EQ(uco_sem_acquire(s_), -EXDEV);
    T_CHECK_EQ(uco_sem_try_acquire(s_), -EXDEV);
    T_CHECK_EQ(uco_sem_release(s_), -EXDEV);
    T_CHECK_EQ(uco_sem_free(s_), -EXDEV);
    T_CHECK_EQ(uco_chan_send(ch_, &v), -EXDEV);
    T_CHECK_EQ(uco_chan_try_send(ch_, &v), -EXDEV);
    T_CHECK_EQ(uco_chan_recv(ch_, &v), -EXDEV);
    T_CHECK_EQ(uco_chan_try_recv(ch_, &v), -EXDEV);
    T_CHECK_EQ(v, 9);
    T_CHECK_EQ(uco_chan_close(ch_), -EXDEV);
    T_CHECK_EQ(uco_chan_free(ch_), -EXDEV);
    return 0;
}

/* A loop of its own on another thread; then, outside any task there, calls that do not await. */
static void *foreign_thread(void *arg)
{
    int *outside = arg;
    uco_loop *l;
    if (uco_loop_new(&l, NULL) != 0) return (void *)1;
    if (uco_loop_spawn(l, NULL, foreign_task, NULL, NULL) != 0) return (void *)2;
    intptr_t r = uco_loop_run(l);
    outside[0] = uco_sem_try_acquire(s_);
    outside[1] = uco_sem_release(s_);
    outside[2] = try_send_int(ch_, 9);
    outside[3] = uco_chan_close(ch_);
    outside[4] = uco_cond_broadcast(c_);
    outside[5] = uco_mutex_free(m_);
    if (uco_loop_free(l) != 0) return (void *)3;
    return (void *)r;
}

static intptr_t still_whole(void *arg)
{
    T_CHECK_EQ(uco_mutex_trylock(m_), 0); /* was not locked */
    T_CHECK_EQ(uco_mutex_unlock(m_), 0);
    T_CHECK_EQ(uco_sem_units(s_), 1);
    T_CHECK_EQ(recv_int(ch_), 5);
    T_CHECK_EQ(try_recv_int(ch_), -EAGAIN); /* 9 never went in */
    T_CHECK_EQ(uco_chan_close(ch_), 0);     /* was not closed */
    return 0;
}

static void calls_from_a_task_of_another_thread_are_exdev_and_change_nothing(void **state)
{
    assert_int_equal(uco_mutex_new(&m_), 0);
    assert_int_equal(uco_cond_new(&c_), 0);
    assert_int_equal(uco_sem_new(&s_, 0), 0);
    assert_int_equal(uco_chan_new(&ch_, sizeof(int), 2), 0);
    assert_int_equal(t_run(bind_to_this_thread, NULL, NULL), 0);
    pthread_t th;
    void *r = NULL;
    int outside[6];
    assert_int_equal(pthread_create(&th, NULL, foreign_thread, outside), 0);
    assert_int_equal(pthread_join(th, &r), 0);
    t_assert_ok(); /* what foreign_task checked */
    assert_int_equal((intptr_t)r, 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(outside[i], -EXDEV);
    assert_int_equal(uco_sem_units(s_), 1);
    assert_int_equal(uco_chan_len(ch_), 1);
    assert_int_equal(t_run(still_whole, NULL, NULL), 0); /* another loop of this thread */
    assert_int_equal(uco_chan_free(ch_), 0);
    assert_int_equal(uco_sem_free(s_), 0);
    assert_int_equal(uco_cond_free(c_), 0);
    assert_int_equal(uco_mutex_free(m_), 0);
}

static void awaiting_calls_outside_a_task_are_eperm(void **state)
{
    assert_int_equal(uco_mutex_new(&m_), 0);
    assert_int_equal(uco_cond_new(&c_), 0);
    assert_int_equal(uco_sem_new(&s_, 1), 0);
    assert_int_equal(uco_chan_new(&ch_, sizeof(int), 1), 0);
    assert_int_equal(uco_mutex_lock(m_), -EPERM);
    assert_int_equal(uco_mutex_trylock(m_), -EPERM); /* only a task holds a lock */
    assert_int_equal(uco_mutex_unlock(m_), -EPERM);
    assert_int_equal(uco_cond_wait(c_, m_), -EPERM);
    assert_int_equal(uco_sem_acquire(s_), -EPERM); /* even with a unit there */
    assert_int_equal(send_int(ch_, 1), -EPERM);
    assert_int_equal(recv_int(ch_), -EPERM);
    assert_int_equal(uco_sem_units(s_), 1);
    assert_int_equal(uco_chan_len(ch_), 0);
    assert_int_equal(uco_chan_free(ch_), 0);
    assert_int_equal(uco_sem_free(s_), 0);
    assert_int_equal(uco_cond_free(c_), 0);
    assert_int_equal(uco_mutex_free(m_), 0);
}

/* ---- deadlock ----------------------------------------------------------------------------- */

struct ring2 {
    uco_chan *a, *b;
    int ra, sa, rb, sb;
};

static intptr_t ring_a(void *arg) /* a, +1, to b */
{
    struct ring2 *d = arg;
    d->ra = recv_int(d->a);
    if (d->ra >= 0) d->sa = send_int(d->b, d->ra + 1);
    return 0;
}

static intptr_t ring_b(void *arg) /* b, +1, to a */
{
    struct ring2 *d = arg;
    d->rb = recv_int(d->b);
    if (d->rb >= 0) d->sb = send_int(d->a, d->rb + 1);
    return 0;
}

static void tasks_waiting_on_each_others_channels_are_edeadlk(void **state)
{
    uco_loop *l;
    assert_int_equal(uco_loop_new(&l, NULL), 0);
    struct ring2 d = {.ra = -1000, .sa = 1, .rb = -1000, .sb = 1};
    assert_int_equal(uco_chan_new(&d.a, sizeof(int), 0), 0);
    assert_int_equal(uco_chan_new(&d.b, sizeof(int), 0), 0);
    assert_int_equal(uco_loop_spawn(l, NULL, ring_a, &d, NULL), 0);
    assert_int_equal(uco_loop_spawn(l, NULL, ring_b, &d, NULL), 0);
    assert_int_equal(uco_loop_run(l), -EDEADLK);
    assert_int_equal(d.ra, -1000); /* both still wait */
    assert_int_equal(d.rb, -1000);
    assert_int_equal(uco_chan_free(d.a), -EBUSY);
    /* From the loop's thread outside any task: a try_send hands a value to a's receiver. */
    assert_int_equal(try_send_int(d.a, 5), 0);
    assert_int_equal(uco_loop_run(l), -EDEADLK); /* b's task now waits to send on a */
    assert_int_equal(d.ra, 5);
    assert_int_equal(d.sa, 0);
    assert_int_equal(d.rb, 6);
    assert_int_equal(d.sb, 1);
    assert_int_equal(try_recv_int(d.a), 7);
    assert_int_equal(uco_loop_run(l), 0);
    assert_int_equal(d.sb, 0);
    assert_int_equal(uco_chan_free(d.a), 0);
    assert_int_equal(uco_chan_free(d.b), 0);
    assert_int_equal(uco_loop_free(l), 0);
}

struct cross_lock {
    uco_mutex *first, *second;
    int r;
};

static intptr_t lock_two(void *arg)
{
    struct cross_lock *x = arg;
    T_CHECK_EQ(uco_mutex_lock(x->first), 0);
    T_CHECK_EQ(uco_yield(), 0);
    x->r = uco_mutex_lock(x->second);
    if (x->r == 0) T_CHECK_EQ(uco_mutex_unlock(x->second), 0);
    T_CHECK_EQ(uco_mutex_unlock(x->first), 0);
    return 0;
}

static int stuck_r[2];

static intptr_t stuck_receiver(void *arg)
{
    stuck_r[(intptr_t)arg] = recv_int(ch_);
    return 0;
}

static intptr_t leave_tasks_waiting_on_each_other(void *arg)
{
    struct cross_lock *x = arg;
    stuck_r[0] = stuck_r[1] = 1;
    T_CHECK_EQ(uco_spawn(NULL, stuck_receiver, (void *)0), 0);
    T_CHECK_EQ(uco_spawn(NULL, stuck_receiver, (void *)1), 0);
    T_CHECK_EQ(uco_spawn(NULL, lock_two, &x[0]), 0); /* m_, then m2 */
    T_CHECK_EQ(uco_spawn(NULL, lock_two, &x[1]), 0); /* the other way round */
    return 0; /* ends, leaving them waiting for each other and for values nobody sends */
}

static void uco_run_cancels_tasks_left_waiting_on_locks_and_channels(void **state)
{
    uco_mutex *m2;
    assert_int_equal(uco_mutex_new(&m_), 0);
    assert_int_equal(uco_mutex_new(&m2), 0);
    assert_int_equal(uco_chan_new(&ch_, sizeof(int), 1), 0);
    struct cross_lock x[2] = {{m_, m2, 1}, {m2, m_, 1}};
    assert_int_equal(t_run(leave_tasks_waiting_on_each_other, x, NULL), -EDEADLK);
    assert_int_equal(stuck_r[0], -ECANCELED);
    assert_int_equal(stuck_r[1], -ECANCELED);
    /* Cancelled in some order: the first may still have handed its lock to the second. */
    assert_true(x[0].r == -ECANCELED || x[1].r == -ECANCELED);
    assert_true(x[0].r == 0 || x[0].r == -ECANCELED);
    assert_true(x[1].r == 0 || x[1].r == -ECANCELED);
    assert_int_equal(uco_chan_free(ch_), 0); /* nobody waits or holds any more */
    assert_int_equal(uco_mutex_free(m_), 0);
    assert_int_equal(uco_mutex_free(m2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T_MODES(mutex_refuses_relocking_by_its_holder_and_unlocking_by_others),
        T_MODES(mutex_critical_section_that_awaits_holds_one_task_at_a_time),
        T_MODES(mutex_hands_the_lock_to_waiters_in_arrival_order),
        T_MODES(mutex_waiter_cancelled_or_timed_out_does_not_take_the_lock),
        T_ONCE(waiter_handed_what_it_waited_for_keeps_it_when_cancelled_before_running),
        T_MODES(cond_passes_every_item_from_producer_to_consumers_once),
        T_MODES(cond_signal_wakes_the_longest_waiter_and_broadcast_wakes_all),
        T_ONCE(cond_wait_without_holding_the_mutex_is_eperm),
        T_MODES(cond_waiter_interrupted_holds_the_mutex_again_on_return),
        T_MODES(sem_lets_at_most_its_units_of_tasks_in_at_once),
        T_ONCE(sem_try_acquire_is_eagain_at_zero_and_overflow_is_refused),
        T_MODES(sem_release_hands_the_unit_to_the_first_waiter),
        T_MODES(sem_acquire_cancelled_or_timed_out_takes_no_unit),
        T_MODES(chan_delivers_every_value_once_keeping_each_producers_order),
        T_MODES(chan_of_capacity_zero_returns_from_send_only_when_a_receiver_took_it),
        T_MODES(chan_send_waits_while_the_channel_is_full),
        T_ONCE(chan_try_calls_are_eagain_when_full_or_empty_and_len_counts_values),
        T_MODES(chan_close_drains_values_in_then_refuses_everyone_with_epipe),
        T_MODES(chan_send_or_recv_interrupted_moves_no_value),
        T_ONCE(chan_refuses_bad_arguments_and_copies_values_of_odd_sizes_intact),
        T_MODES(chan_ops_select_the_channel_that_is_ready),
        T_MODES(chan_op_done_before_its_cancel_keeps_its_value),
        T_MODES(chan_ops_end_on_close_deadline_and_return),
        T_ONCE(free_with_a_task_waiting_is_ebusy_and_frees_nothing),
        cmocka_unit_test(calls_from_a_task_of_another_thread_are_exdev_and_change_nothing),
        cmocka_unit_test(awaiting_calls_outside_a_task_are_eperm),
        cmocka_unit_test(tasks_waiting_on_each_others_channels_are_edeadlk),
        cmocka_unit_test(uco_run_cancels_tasks_left_waiting_on_locks_and_channels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
