/* Memory per idle task: N tasks (default 100,000) parked in uco_sleep, and what they cost the
 * process: resident memory (stack pages touched, task slots, the timer heap) and heap (the
 * allocator's bytes in use, mallinfo2), per task. Measured from inside the loop, before and
 * after the tasks have all started and parked; the array of handles is allocated first so it
 * is not counted. The stack's own pages are mmap'd, never heap. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uco.h>

#include "bench_util.h"

struct idle_ctx {
    long n;
    uco_task **tasks;
    long parked;
    double rss_per_task, heap_per_task; /* results */
};

struct mem {
    double rss, heap, allocs;
};

static struct mem mem_now(void)
{
    struct mem m = {0, 0, 0};
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        unsigned long size, resident;
        if (fscanf(f, "%lu %lu", &size, &resident) == 2)
            m.rss = (double)resident * (double)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
    struct mallinfo2 mi = mallinfo2();
    m.heap = (double)mi.uordblks + (double)mi.hblkhd;
    m.allocs = bench_mallocs ? (double)bench_mallocs() : -1;
    return m;
}

static intptr_t idle_task(void *arg)
{
    struct idle_ctx *c = arg;
    c->parked++;
    int r = uco_sleep(3600 * UCO_SEC); /* until cancelled */
    return r == -ECANCELED ? 0 : -EIO;
}

static intptr_t idle_main(void *arg)
{
    struct idle_ctx *c = arg;
    struct mem before = mem_now();
    for (long i = 0; i < c->n; i++) {
        int r = uco_spawn(&c->tasks[i], idle_task, c);
        if (r < 0) {
            fprintf(stderr, "bench_idle: spawning task %ld: %s\n", i, strerror(-r));
            return r;
        }
    }
    uco_yield(); /* every task runs once and parks */
    struct mem after = mem_now();
    if (c->parked != c->n) return -EIO;
    uco_loop_stats st;
    uco_loop_stats_get(uco_loop_current(), &st);

    double n = (double)c->n;
    double rss = (after.rss - before.rss) / n, heap = (after.heap - before.heap) / n;
    printf("\n== memory per parked task (%ld tasks in uco_sleep, 64 KiB stacks: %llu guarded, "
           "%llu unguarded)\n",
           c->n, (unsigned long long)st.stacks_guarded, (unsigned long long)st.stacks_unguarded);
    printf("  resident memory per task: %8.0f bytes (stack pages touched + heap)\n", rss);
    printf("  heap per task:            %8.0f bytes (allocator bytes in use, mallinfo2)\n", heap);
    if (after.allocs >= 0)
        printf("  heap allocations per task: %.4f\n", (after.allocs - before.allocs) / n);
    printf("  resident beyond the heap: %8.0f bytes (%.2f pages of stack)\n", rss - heap,
           (rss - heap) / (double)sysconf(_SC_PAGESIZE));

    for (long i = 0; i < c->n; i++)
        uco_task_cancel(c->tasks[i]);
    long bad = 0;
    for (long i = 0; i < c->n; i++) {
        intptr_t res;
        if (uco_task_join(c->tasks[i], &res) < 0 || res != 0) bad++;
    }
    if (bad) return -EIO;
    c->rss_per_task = rss;
    c->heap_per_task = heap;
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    long n = 0;
    const struct bench_flag flags[] = {
        {"--tasks", BENCH_LONG, &n, "parked tasks (default 100000; quick 10000)"},
        {0},
    };
    bench_init(&o, argc, argv, flags, "memory per idle (parked) task");
    if (o.count) return 0; /* nothing to count instructions of */
    if (n <= 0) n = o.quick ? 10000 : 100000;
    struct idle_ctx c = {.n = n, .tasks = calloc((size_t)n, sizeof(uco_task *))};
    if (!c.tasks) return 1;
    memset(c.tasks, 0, (size_t)n * sizeof(uco_task *)); /* resident before measuring */
    intptr_t r = uco_run(idle_main, &c, NULL);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", o.prog, strerror((int)-r));
        return 1;
    }
    double rss = c.rss_per_task, heap = c.heap_per_task;
    bench_record(&o, "idle.rss_per_task", rss, "bytes");
    bench_record(&o, "idle.heap_per_task", heap, "bytes");
    bench_target(&o, "idle_heap", "at most 1 KiB of heap per idle task beyond its stack pages",
                 heap <= 1024, "%.0f bytes of heap per parked task (%ld tasks)", heap, n);
    free(c.tasks);
    return 0;
}
