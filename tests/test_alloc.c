/* Heap use: no allocation per await in steady state, and at most 1 KiB of heap per idle task
 * beyond its stack. malloc, calloc, realloc and free of the whole process are interposed
 * here and counted while `counting` is set. Sanitizers bring their own allocator, which
 * this cannot wrap: under them the tests skip. */
#include "test_util.h"
#include "core_util.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>

#if defined(T_ASAN) || defined(T_TSAN)
#define T_NO_INTERPOSE "the sanitizer's allocator replaces malloc; counting needs glibc's"
#else

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static atomic_int counting;
static atomic_long n_allocs;  /* malloc, calloc and realloc calls while counting */
static atomic_long net_bytes; /* usable bytes allocated minus freed while counting */

static void count(long allocs, long bytes)
{
    atomic_fetch_add_explicit(&n_allocs, allocs, memory_order_relaxed);
    atomic_fetch_add_explicit(&net_bytes, bytes, memory_order_relaxed);
}

static bool is_counting(void)
{
    return atomic_load_explicit(&counting, memory_order_relaxed) != 0;
}

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    if (p && is_counting()) count(1, (long)malloc_usable_size(p));
    return p;
}

void *calloc(size_t n, size_t size)
{
    void *p = __libc_calloc(n, size);
    if (p && is_counting()) count(1, (long)malloc_usable_size(p));
    return p;
}

void *realloc(void *old, size_t n)
{
    long before = old && is_counting() ? (long)malloc_usable_size(old) : 0;
    void *p = __libc_realloc(old, n);
    if (p && is_counting()) count(1, (long)malloc_usable_size(p) - before);
    return p;
}

void free(void *p)
{
    if (p && is_counting()) count(0, -(long)malloc_usable_size(p));
    __libc_free(p);
}
#endif

static void counting_start(void)
{
#ifndef T_NO_INTERPOSE
    atomic_store(&n_allocs, 0);
    atomic_store(&net_bytes, 0);
    atomic_store(&counting, 1);
#endif
}

static long counting_stop(long *bytes)
{
#ifndef T_NO_INTERPOSE
    atomic_store(&counting, 0);
    if (bytes) *bytes = atomic_load(&net_bytes);
    return atomic_load(&n_allocs);
#else
    (void)bytes;
    return -1;
#endif
}

/* ---- zero allocations per await ----------------------------------------------------------- */

enum kind { K_NOP, K_READ, K_SLEEP, K_YIELD, K_WAIT_ANY, K_WORK, K_TIMEOUT, K_SPAWN_JOIN, K_N };
static const char *const kind_names[K_N] = {"nop",      "read", "sleep",   "yield",
                                            "wait_any", "work", "timeout", "spawn+join"};

static intptr_t inc(void *arg)
{
    return (intptr_t)arg + 1;
}

struct rig {
    int p[2];
};

/* One await of the given kind; 0 when it gave the expected result. */
static int one_await(struct rig *r, enum kind k, int i)
{
    char c;
    switch (k) {
    case K_NOP:
        return uco_nop();
    case K_READ:
        if (write(r->p[1], "x", 1) != 1) return -1;
        return uco_read(r->p[0], &c, 1, -1) == 1 ? 0 : -1;
    case K_SLEEP:
        return uco_sleep(1);
    case K_YIELD:
        return uco_yield();
    case K_WAIT_ANY: {
        uco_op a, b;
        if (uco_op_timeout(&a, 60 * UCO_SEC) || uco_op_nop(&b)) return -1;
        uco_op *ops[2] = {&a, &b};
        if (uco_op_wait_any(ops, 2) != 1 || uco_op_result(&b) != 0) return -1;
        if (uco_op_cancel(&a) != 0) return -1;
        return uco_op_wait(&a) == -ECANCELED ? 0 : -1;
    }
    case K_WORK:
        return uco_work(inc, (void *)(intptr_t)i) == i + 1 ? 0 : -1;
    case K_TIMEOUT:
        return uco_timeout(1);
    case K_SPAWN_JOIN: {
        uco_task *t;
        intptr_t res = 0;
        if (uco_spawn(&t, inc, (void *)(intptr_t)i)) return -1;
        return uco_task_join(t, &res) == 0 && res == i + 1 ? 0 : -1;
    }
    default:
        return -1;
    }
}

static intptr_t worker_load(void *arg)
{
    for (int i = 0; i < 50; i++)
        if (uco_work(inc, (void *)(intptr_t)i) != i + 1) return -1;
    return 0;
}

static intptr_t awaits_body(void *arg)
{
    /* The counter works (a zero below is not for want of counting): */
    counting_start();
    void *volatile probe = malloc(24);
    free(probe);
    T_CHECK_EQ(counting_stop(NULL), 1);
    struct rig r;
    T_CHECK_EQ(pipe(r.p), 0);
    /* Warm up: every kind a few hundred times, and the pool at its full size (threads are
     * started on demand, which allocates). */
    uco_task *w[4];
    for (int i = 0; i < 4; i++)
        T_CHECK_EQ(uco_spawn(&w[i], worker_load, NULL), 0);
    for (int i = 0; i < 4; i++)
        T_CHECK_EQ(uco_task_join(w[i], NULL), 0);
    for (int k = 0; k < K_N; k++)
        for (int i = 0; i < 300; i++)
            T_CHECK_EQ(one_await(&r, (enum kind)k, i), 0);
    long found[K_N];
    for (int k = 0; k < K_N; k++) {
        counting_start();
        int bad = 0;
        for (int i = 0; i < 2000; i++)
            bad += one_await(&r, (enum kind)k, i) != 0;
        found[k] = counting_stop(NULL);
        T_CHECK_EQ(bad, 0);
    }
    for (int k = 0; k < K_N; k++)
        printf("  2000 x %-10s: %ld allocations\n", kind_names[k], found[k]);
    for (int k = 0; k < K_N; k++)
        if (found[k] != 0) {
            t_fail(__FILE__, __LINE__, "%ld allocations in 2000 awaits of %s", found[k],
                   kind_names[k]);
            return -1;
        }
    t_close2(r.p);
    return 0;
}

static void no_heap_allocation_per_await_in_steady_state(void **state)
{
    assert_int_equal(uco_pool_set_max(2), 0);
    t_run(awaits_body, NULL, NULL);
}

/* ---- heap per idle task ------------------------------------------------------------------- */

#define IDLE_TASKS 4096

static intptr_t idle(void *arg)
{
    return uco_sleep(3600 * UCO_SEC);
}

static intptr_t idle_body(void *arg)
{
    long *per_task = arg;
    static uco_task *t[IDLE_TASKS];
    /* Warm up the loop itself (first slot chunk, timers), not the per-task costs. */
    T_CHECK_EQ(uco_sleep(1), 0);
    long bytes = 0;
    counting_start();
    for (int i = 0; i < IDLE_TASKS; i++)
        T_CHECK_EQ(uco_spawn(&t[i], idle, NULL), 0);
    T_CHECK_EQ(uco_yield(), 0); /* all of them parked in their sleep */
    counting_stop(&bytes);
    *per_task = bytes / IDLE_TASKS;
    for (int i = 0; i < IDLE_TASKS; i++)
        uco_task_cancel(t[i]);
    for (int i = 0; i < IDLE_TASKS; i++)
        uco_task_join(t[i], NULL);
    return 0;
}

static void idle_task_costs_at_most_1_kib_of_heap(void **state)
{
    long per_task = -1;
    t_run(idle_body, &per_task, NULL);
    printf("  heap per idle task: %ld bytes (beyond its stack)\n", per_task);
    assert_true(per_task >= 0);
    assert_true(per_task <= 1024);
}

int main(void)
{
#ifdef T_NO_INTERPOSE
    t_skip_all(T_NO_INTERPOSE);
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_heap_allocation_per_await_in_steady_state),
        cmocka_unit_test(idle_task_costs_at_most_1_kib_of_heap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
