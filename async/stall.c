/* The stall detector: a watchdog thread per loop (when opts.stall_ns > 0) that reports a
 * task running longer than the threshold without awaiting, while it is still running (so an
 * endless loop is named), and again, with the total, when it finally awaits. The loop
 * thread's cost is two clock reads and a few atomic stores per switch, only when enabled. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "async/internal.h"

struct uco__stall {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;
    int64_t threshold;
    uco_stall_fn *fn;
    void *arg;
    _Atomic uint64_t seq;            /* bumped at every switch in and out */
    _Atomic(struct uco_task *) task; /* running task, NULL in the scheduler */
    _Atomic int64_t since;           /* when it was switched in */
    _Atomic uint64_t reported_seq;   /* the run already reported as still running */
    _Atomic uint64_t *reports;       /* counter in the loop's stats */
};

static void report(struct uco__stall *s, uint64_t id, const char *name, int64_t ran, bool finished)
{
    uco_stall_report r = {.task_id = id, .task_name = name, .ran_ns = ran, .finished = finished};
    atomic_fetch_add(s->reports, 1);
    if (s->fn) {
        s->fn(&r, s->arg);
        return;
    }
    char line[256];
    int n = snprintf(line, sizeof line,
                     finished ? "uco: stall: task %llu '%s' ran %lld ms without awaiting "
                                "(threshold %lld ms)\n"
                              : "uco: stall: task %llu '%s' has been running %lld ms without "
                                "awaiting (threshold %lld ms)\n",
                     (unsigned long long)id, name, (long long)(ran / UCO_MSEC),
                     (long long)(s->threshold / UCO_MSEC));
    if (n > 0 && write(2, line, (size_t)n) < 0) { /* stderr gone: nothing to do */
    }
}

static void *watchdog(void *arg)
{
    struct uco__stall *s = arg;
    int64_t period = s->threshold / 4;
    if (period < UCO_MSEC) period = UCO_MSEC;
    pthread_mutex_lock(&s->mu);
    while (!s->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wake = (int64_t)ts.tv_sec * UCO_SEC + ts.tv_nsec + period;
        ts.tv_sec = wake / UCO_SEC;
        ts.tv_nsec = wake % UCO_SEC;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->quit) break;
        uint64_t seq = atomic_load(&s->seq);
        struct uco_task *t = atomic_load(&s->task);
        int64_t since = atomic_load(&s->since);
        if (!t || atomic_load(&s->reported_seq) == seq) continue;
        int64_t ran = uco__clock() - since;
        if (ran <= s->threshold) continue;
        /* The task struct lives in a slab that is never unmapped while the loop lives, so
         * reading it is safe; the sequence check below discards a torn read. */
        char name[sizeof t->name];
        uint64_t id = t->id;
        memcpy(name, t->name, sizeof name);
        name[sizeof name - 1] = 0;
        if (atomic_load(&s->seq) != seq) continue;
        atomic_store(&s->reported_seq, seq);
        report(s, id, name, ran, false);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int uco__stall_start(struct uco_loop *l)
{
    struct uco__stall *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->threshold = l->opts.stall_ns;
    s->fn = l->opts.stall_fn;
    s->arg = l->opts.stall_arg;
    s->reports = &l->stall_reports;
    int r = pthread_create(&s->thread, NULL, watchdog, s);
    if (r) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return -r;
    }
    pthread_setname_np(s->thread, "uco-stall");
    l->stall = s;
    return 0;
}

void uco__stall_stop(struct uco_loop *l)
{
    struct uco__stall *s = l->stall;
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->quit = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    l->stall = NULL;
}

void uco__stall_enter(struct uco_loop *l, struct uco_task *t)
{
    struct uco__stall *s = l->stall;
    atomic_store_explicit(&s->since, uco__clock(), memory_order_relaxed);
    atomic_store_explicit(&s->task, t, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
}

void uco__stall_leave(struct uco_loop *l, struct uco_task *t)
{
    struct uco__stall *s = l->stall;
    int64_t ran = uco__clock() - atomic_load_explicit(&s->since, memory_order_relaxed);
    atomic_store_explicit(&s->task, NULL, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
    if (ran > s->threshold) report(s, t->id, t->name, ran, true);
}
