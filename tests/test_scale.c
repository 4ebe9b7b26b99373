/* Scale: 10,000 tasks doing 100 awaits each; 100,000 tasks alive at once within the default
 * vm.max_map_count (guarded stacks up to the budget, unguarded ones after it). */
#include "test_util.h"
#include "core_util.h"

#include <stdio.h>
#include <sys/utsname.h>

/* A line's number from /proc/self/status (kB), or -1. */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') v = strtol(line + kl + 1, NULL, 10);
    fclose(f);
    return v;
}

static long map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f) return -1;
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static long read_long(const char *path)
{
    FILE *f = fopen(path, "re");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

/* Whether the running kernel is at least major.minor. */
static bool kernel_at_least(int major, int minor)
{
    struct utsname u;
    int ma = 0, mi = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
    return ma > major || (ma == major && mi >= minor);
}

/* ---- many awaits ------------------------------------------------------------------------ */

#ifdef T_TSAN
#define AWAIT_TASKS 1000 /* TSan keeps a large thread state per fiber */
#else
#define AWAIT_TASKS 10000
#endif
#define AWAITS 100

static intptr_t awaiter(void *arg)
{
    intptr_t sum = 0;
    for (int i = 0; i < AWAITS; i++) {
        int r = i % 4 == 3 ? uco_yield() : uco_nop();
        if (r != 0) return -1;
        sum++;
    }
    return sum;
}

static intptr_t awaits_body(void *arg)
{
    static uco_task *t[AWAIT_TASKS];
    uco_loop_stats s0 = t_stats();
    int64_t t0 = uco_now();
    for (int i = 0; i < AWAIT_TASKS; i++)
        T_CHECK_EQ(uco_spawn(&t[i], awaiter, NULL), 0);
    intptr_t total = 0;
    for (int i = 0; i < AWAIT_TASKS; i++) {
        intptr_t r = 0;
        T_CHECK_EQ(uco_task_join(t[i], &r), 0);
        total += r;
    }
    int64_t took = uco_now() - t0;
    uco_loop_stats s1 = t_stats();
    printf("  %d tasks x %d awaits: %.3f s, %llu switches, %llu turns, %llu enters, %llu cqes\n",
           AWAIT_TASKS, AWAITS, (double)took / UCO_SEC,
           (unsigned long long)(s1.switches - s0.switches),
           (unsigned long long)(s1.turns - s0.turns), (unsigned long long)(s1.enters - s0.enters),
           (unsigned long long)(s1.cqes - s0.cqes));
    T_CHECK_EQ(total, (intptr_t)AWAIT_TASKS * AWAITS);
    T_CHECK(s1.cqes - s0.cqes >= (uint64_t)AWAIT_TASKS * AWAITS * 3 / 4);
    T_CHECK(s1.switches - s0.switches >= (uint64_t)AWAIT_TASKS * AWAITS);
    T_CHECK_EQ(s1.ops_inflight, 0);
    return 0;
}

static void ten_thousand_tasks_each_await_a_hundred_times(void **state)
{
    t_run(awaits_body, NULL, NULL);
}

/* ---- many tasks alive ------------------------------------------------------------------- */

#define ALIVE 100000

static intptr_t parked(void *arg)
{
    int r = uco_sleep(3600 * UCO_SEC);
    return r == -ECANCELED ? 1 : r;
}

static intptr_t alive_body(void *arg)
{
    static uco_task *t[ALIVE];
    long rss0 = status_kb("VmRSS");
    int64_t t0 = uco_now();
    for (int i = 0; i < ALIVE; i++) {
        int r = uco_spawn(&t[i], parked, NULL);
        if (r != 0) {
            t_fail(__FILE__, __LINE__, "spawn %d of %d: %s", i, ALIVE, strerror(-r));
            for (int j = 0; j < i; j++)
                uco_task_cancel(t[j]);
            for (int j = 0; j < i; j++)
                uco_task_join(t[j], NULL);
            return -1;
        }
    }
    T_CHECK_EQ(uco_yield(), 0); /* every one starts and parks */
    int64_t spawned = uco_now() - t0;
    uco_loop_stats st = t_stats();
    long maps = map_count();
    long rss = status_kb("VmRSS");
    /* Let them all end before checking, so that a failed check cannot leave 100,000 tasks
     * asleep for an hour. */
    intptr_t woke = 0;
    for (int i = 0; i < ALIVE; i++)
        T_CHECK_EQ(uco_task_cancel(t[i]), 0);
    for (int i = 0; i < ALIVE; i++) {
        intptr_t r = 0;
        T_CHECK_EQ(uco_task_join(t[i], &r), 0);
        woke += r;
    }
    T_CHECK_EQ(woke, ALIVE);
    T_CHECK_EQ(t_stats().tasks_alive, 1);

    long max_maps = read_long("/proc/sys/vm/max_map_count");
    printf("  %d tasks alive in %.3f s: %llu stacks guarded, %llu unguarded, %ld maps (max "
           "%ld), RSS +%ld MiB (%.1f KiB per task)\n",
           ALIVE, (double)spawned / UCO_SEC, (unsigned long long)st.stacks_guarded,
           (unsigned long long)st.stacks_unguarded, maps, max_maps, (rss - rss0) / 1024,
           (double)(rss - rss0) / ALIVE);
    T_CHECK_EQ(st.tasks_alive, ALIVE + 1);
    T_CHECK(st.stacks_guarded + st.stacks_unguarded >= ALIVE + 1);
    T_CHECK(maps < max_maps * 3 / 4); /* the rest of the map budget is the program's */
    bool budget = arg != NULL;        /* an explicit budget of mprotect'ed guard pages */
    if (!budget && kernel_at_least(6, 13)) {
        /* Guard pages are page-table markers (MADV_GUARD_INSTALL): every stack has one. */
        T_CHECK_EQ(st.stacks_unguarded, 0);
    } else {
        /* mprotect'ed guard pages (two maps each) within a quarter of the map budget, the
         * other stacks unguarded (canary only). */
        T_CHECK(st.stacks_guarded > 0);
        T_CHECK(st.stacks_guarded <= (uint64_t)max_maps / 4);
        T_CHECK(st.stacks_unguarded >= ALIVE + 1 - (uint64_t)max_maps / 4);
    }
    /* Stacks are mostly untouched memory: each task costs a page or two, not 64 KiB. */
#ifdef T_ASAN
    T_CHECK((rss - rss0) / ALIVE <= 24); /* larger frames, shadow memory */
#else
    T_CHECK((rss - rss0) / ALIVE <= 10);
#endif
    return 0;
}

static void hundred_thousand_tasks_alive_within_the_map_limit(void **state)
{
#ifdef T_TSAN
    printf("SKIP: ThreadSanitizer cannot hold 100,000 fibers (a thread state each)\n");
    skip();
#endif
    long max_maps = read_long("/proc/sys/vm/max_map_count");
    if (max_maps != 65530) printf("  note: vm.max_map_count is %ld, not the default\n", max_maps);
    t_run(alive_body, NULL, NULL);
}

/* The scheme of kernels before 6.13, forced by an explicit budget: a quarter of the maps. */
static void hundred_thousand_tasks_alive_with_a_guard_page_budget(void **state)
{
#ifdef T_TSAN
    printf("SKIP: ThreadSanitizer cannot hold 100,000 fibers (a thread state each)\n");
    skip();
#endif
    long max_maps = read_long("/proc/sys/vm/max_map_count");
    uco_loop_opts o = {.guarded_stacks = (size_t)max_maps / 4};
    t_run(alive_body, (void *)1, &o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ten_thousand_tasks_each_await_a_hundred_times),
        cmocka_unit_test(hundred_thousand_tasks_alive_within_the_map_limit),
        cmocka_unit_test(hundred_thousand_tasks_alive_with_a_guard_page_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
