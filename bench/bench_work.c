/* Worker-pool round trip: a task awaits uco_work() of an empty function (hand the job to a
 * pool thread, park, get woken through the loop's inbox), against the same round trip done by
 * hand (one worker thread, a mutex and two condition variables: the least a thread handoff
 * costs) and, when libuv was found at build time, uv_queue_work chained from its callback. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include <uco.h>

#ifdef BENCH_HAVE_LIBUV
#include <uv.h>
#endif

#include "bench_util.h"

#define WARM 64

static intptr_t empty_work(void *arg)
{
    return (intptr_t)arg;
}

/* ---- uco_work ------------------------------------------------------------------------- */

static intptr_t work_main(void *arg)
{
    uint64_t iters = *(uint64_t *)arg;
    for (uint64_t i = 0; i < WARM + iters; i++) {
        if (i == WARM) bench_mark_start();
        intptr_t r = uco_work(empty_work, (void *)(intptr_t)1);
        if (r != 1) return r < 0 ? r : -EIO;
    }
    bench_mark_stop();
    return 0;
}

static int run_uco(void *arg, uint64_t iters)
{
    (void)arg;
    intptr_t r = uco_run(work_main, &iters, NULL);
    return r < 0 ? (int)r : 0;
}

/* ---- hand-written handoff to one thread ----------------------------------------------- */

struct handoff {
    pthread_mutex_t mu;
    pthread_cond_t to_worker, to_caller;
    uco_work_fn *fn;
    void *arg;
    intptr_t result;
    bool job, done, quit;
};

static void *handoff_worker(void *arg)
{
    struct handoff *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->job && !h->quit)
            pthread_cond_wait(&h->to_worker, &h->mu);
        if (h->quit) break;
        h->job = false;
        pthread_mutex_unlock(&h->mu);
        intptr_t r = h->fn(h->arg);
        pthread_mutex_lock(&h->mu);
        h->result = r;
        h->done = true;
        pthread_cond_signal(&h->to_caller);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static intptr_t handoff_call(struct handoff *h, uco_work_fn *fn, void *arg)
{
    pthread_mutex_lock(&h->mu);
    h->fn = fn;
    h->arg = arg;
    h->job = true;
    pthread_cond_signal(&h->to_worker);
    while (!h->done)
        pthread_cond_wait(&h->to_caller, &h->mu);
    h->done = false;
    intptr_t r = h->result;
    pthread_mutex_unlock(&h->mu);
    return r;
}

static int run_handoff(void *arg, uint64_t iters)
{
    (void)arg;
    struct handoff h = {.mu = PTHREAD_MUTEX_INITIALIZER,
                        .to_worker = PTHREAD_COND_INITIALIZER,
                        .to_caller = PTHREAD_COND_INITIALIZER};
    pthread_t th;
    int r = pthread_create(&th, NULL, handoff_worker, &h);
    if (r) return -r;
    for (uint64_t i = 0; i < WARM + iters; i++) {
        if (i == WARM) bench_mark_start();
        if (handoff_call(&h, empty_work, (void *)(intptr_t)1) != 1) {
            r = -EIO;
            break;
        }
    }
    bench_mark_stop();
    pthread_mutex_lock(&h.mu);
    h.quit = true;
    pthread_cond_signal(&h.to_worker);
    pthread_mutex_unlock(&h.mu);
    pthread_join(th, NULL);
    return r;
}

/* ---- libuv ---------------------------------------------------------------------------- */

#ifdef BENCH_HAVE_LIBUV
struct uv_chain {
    uv_work_t req;
    uint64_t done, end;
    int err;
};

static void uv_empty(uv_work_t *req)
{
    (void)req;
}

static void uv_after(uv_work_t *req, int status)
{
    struct uv_chain *c = req->data;
    if (status < 0) {
        c->err = status;
        return;
    }
    if (++c->done == WARM) bench_mark_start();
    if (c->done == c->end) {
        bench_mark_stop();
        return;
    }
    int r = uv_queue_work(req->loop, &c->req, uv_empty, uv_after);
    if (r < 0) c->err = r;
}

static int run_uv(void *arg, uint64_t iters)
{
    (void)arg;
    uv_loop_t loop;
    int r = uv_loop_init(&loop);
    if (r < 0) return r;
    struct uv_chain c = {.end = WARM + iters};
    c.req.data = &c;
    r = uv_queue_work(&loop, &c.req, uv_empty, uv_after);
    if (r == 0) r = uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (c.err) return c.err;
    return r < 0 ? r : 0;
}
#endif

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_init(&o, argc, argv, NULL, "worker-pool round trip: uco_work vs thread handoffs");
    struct bench_contender c[] = {
        {.id = "uco", .label = "uco_work(empty)", .run = run_uco},
        {.id = "handoff", .label = "mutex+condvar handoff to 1 thread", .run = run_handoff},
#ifdef BENCH_HAVE_LIBUV
        {.id = "libuv", .label = "libuv uv_queue_work", .run = run_uv},
#else
        {.id = "libuv",
         .label = "libuv uv_queue_work",
         .missing = "libuv1-dev was not found when this was built"},
#endif
    };
    if (bench_measure(&o, "work", "worker-pool round trip of an empty function (ns per call)", c,
                      3) < 0)
        return 1;
    if (o.count) return 0;
    printf("  no target: uco_work costs %.2fx the hand-written handoff", bench_ratio(&c[0], &c[1]));
    if (!c[2].missing) printf(" and %.2fx uv_queue_work", bench_ratio(&c[0], &c[2]));
    printf("\n");
    return 0;
}
