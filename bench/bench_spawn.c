/* Spawn + join: a task that spawns a task running an empty function and joins it, again and
 * again, against pthread_create + pthread_join of an empty thread (glibc caches thread stacks,
 * so this is the cheapest a thread gets). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include <uco.h>

#include "bench_util.h"

#define WARM 64

static intptr_t empty_task(void *arg)
{
    return (intptr_t)arg;
}

static intptr_t spawn_main(void *arg)
{
    uint64_t iters = *(uint64_t *)arg;
    for (uint64_t i = 0; i < WARM + iters; i++) {
        if (i == WARM) bench_mark_start();
        uco_task *t;
        int r = uco_spawn(&t, empty_task, NULL);
        if (r < 0) return r;
        intptr_t res;
        r = uco_task_join(t, &res);
        if (r < 0) return r;
    }
    bench_mark_stop();
    return 0;
}

static int run_uco(void *arg, uint64_t iters)
{
    (void)arg;
    intptr_t r = uco_run(spawn_main, &iters, NULL);
    return r < 0 ? (int)r : 0;
}

static void *empty_thread(void *arg)
{
    return arg;
}

static int run_pthread(void *arg, uint64_t iters)
{
    (void)arg;
    for (uint64_t i = 0; i < WARM + iters; i++) {
        if (i == WARM) bench_mark_start();
        pthread_t th;
        int r = pthread_create(&th, NULL, empty_thread, NULL);
        if (r) return -r;
        r = pthread_join(th, NULL);
        if (r) return -r;
    }
    bench_mark_stop();
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_init(&o, argc, argv, NULL, "spawn + join: uco tasks vs pthreads");
    struct bench_contender c[] = {
        {.id = "uco", .label = "uco_spawn + uco_task_join", .run = run_uco},
        {.id = "pthread", .label = "pthread_create + pthread_join", .run = run_pthread},
    };
    if (bench_measure(&o, "spawn", "spawn + join of an empty function (ns per pair)", c, 2) < 0)
        return 1;
    if (o.count) return 0;
    double x = bench_ratio(&c[1], &c[0]);
    bench_target(&o, "spawn", "spawn+join at least 50x cheaper than a thread", x >= 50,
                 "%.0fx cheaper (%.3g vs %.3g ns)", x, c[1].med_ns, c[0].med_ns);
    return 0;
}
