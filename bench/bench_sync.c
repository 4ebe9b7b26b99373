/* Handing values from a producer to a consumer: a uco channel between two tasks of one loop,
 * against what C programs do without coroutines: a bounded queue under a pthread mutex with
 * two condition variables between two threads, and a pipe between two threads (one write and
 * one read per value); and from a thread into a loop: uco_loop_post of a function per value,
 * each run as a task. The process is pinned to one CPU (bench_init), as a loop's tasks are;
 * --cpu -1 lets the threads use two. Also the price of a lock nobody else wants:
 * uco_mutex_lock + unlock against pthread_mutex_lock + unlock.
 *
 * Every contender moves `iters` 8-byte values, so the times are per value. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uco.h>
#include <uco/sync.h>

#include "bench_util.h"

#define WARM 256

static long cap = 64; /* --cap: the channel's and the queue's capacity */

/* ---- uco channel ----------------------------------------------------------------------- */

struct chan_run {
    uco_chan *ch;
    uint64_t iters;
    size_t cap;
};

static intptr_t chan_producer(void *arg)
{
    struct chan_run *c = arg;
    for (uint64_t i = 0; i < WARM + c->iters; i++) {
        int r = uco_chan_send(c->ch, &i);
        if (r) return r;
    }
    return 0;
}

static intptr_t chan_main(void *arg)
{
    struct chan_run *c = arg;
    int r = uco_chan_new(&c->ch, sizeof(uint64_t), c->cap);
    if (r) return r;
    uco_task *p;
    if ((r = uco_spawn(&p, chan_producer, c)) != 0) return r;
    uint64_t v = 0, sum = 0;
    for (uint64_t i = 0; i < WARM + c->iters && !r; i++) {
        if (i == WARM) bench_mark_start();
        r = uco_chan_recv(c->ch, &v);
        sum += v;
    }
    bench_mark_stop();
    intptr_t pr = 0;
    uco_task_join(p, &pr);
    uco_chan_free(c->ch);
    if (!r && sum != (WARM + c->iters) * (WARM + c->iters - 1) / 2) r = -EPROTO;
    return r ? r : pr;
}

static int run_chan(void *arg, uint64_t iters)
{
    struct chan_run c = {.iters = iters, .cap = (size_t)(intptr_t)arg};
    intptr_t r = uco_run(chan_main, &c, NULL);
    return r < 0 ? (int)r : 0;
}

/* ---- pthread queue --------------------------------------------------------------------- */

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    uint64_t *slots;
    size_t cap, head, n;
    uint64_t iters;
};

static void *queue_producer(void *arg)
{
    struct queue *q = arg;
    for (uint64_t i = 0; i < WARM + q->iters; i++) {
        pthread_mutex_lock(&q->mu);
        while (q->n == q->cap)
            pthread_cond_wait(&q->not_full, &q->mu);
        q->slots[(q->head + q->n++) % q->cap] = i;
        pthread_cond_signal(&q->not_empty);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

static int run_queue(void *arg, uint64_t iters)
{
    (void)arg;
    struct queue q = {.cap = (size_t)cap, .iters = iters};
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.not_empty, NULL);
    pthread_cond_init(&q.not_full, NULL);
    if (!(q.slots = malloc(q.cap * sizeof *q.slots))) return -ENOMEM;
    pthread_t th;
    int e = pthread_create(&th, NULL, queue_producer, &q);
    if (e) return -e;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < WARM + iters; i++) {
        if (i == WARM) bench_mark_start();
        pthread_mutex_lock(&q.mu);
        while (q.n == 0)
            pthread_cond_wait(&q.not_empty, &q.mu);
        sum += q.slots[q.head];
        q.head = (q.head + 1) % q.cap;
        q.n--;
        pthread_cond_signal(&q.not_full);
        pthread_mutex_unlock(&q.mu);
    }
    bench_mark_stop();
    pthread_join(th, NULL);
    free(q.slots);
    return sum == (WARM + iters) * (WARM + iters - 1) / 2 ? 0 : -EPROTO;
}

/* ---- pipe between two threads ---------------------------------------------------------- */

struct pipe_run {
    int fd;
    uint64_t iters;
};

static void *pipe_producer(void *arg)
{
    struct pipe_run *p = arg;
    for (uint64_t i = 0; i < WARM + p->iters; i++)
        if (write(p->fd, &i, sizeof i) != (ssize_t)sizeof i) break;
    return NULL;
}

static int run_pipe(void *arg, uint64_t iters)
{
    (void)arg;
    int fds[2];
    if (pipe(fds) < 0) return -errno;
    struct pipe_run p = {.fd = fds[1], .iters = iters};
    pthread_t th;
    int e = pthread_create(&th, NULL, pipe_producer, &p);
    if (e) return -e;
    uint64_t sum = 0, v;
    int r = 0;
    for (uint64_t i = 0; i < WARM + iters; i++) {
        if (i == WARM) bench_mark_start();
        if (read(fds[0], &v, sizeof v) != (ssize_t)sizeof v) { /* 8 bytes: never split */
            r = -EIO;
            break;
        }
        sum += v;
    }
    bench_mark_stop();
    close(fds[0]); /* (a producer still writing then fails and ends) */
    pthread_join(th, NULL);
    close(fds[1]);
    if (!r && sum != (WARM + iters) * (WARM + iters - 1) / 2) r = -EPROTO;
    return r;
}

/* ---- uco_loop_post from a thread ------------------------------------------------------- */

struct post_run {
    uco_loop *loop;
    uint64_t iters, sum;
    int err;
};

static struct post_run *post_cur; /* read by add_value, on the loop's thread */

static intptr_t add_value(void *arg)
{
    post_cur->sum += (uint64_t)(uintptr_t)arg;
    return 0;
}

static void *post_producer(void *arg)
{
    struct post_run *p = arg;
    /* Timed from the first value after the warm-up posted to the last one run: the producer
     * may run ahead of the loop, by as many nodes as it likes. */
    for (uint64_t i = 0; i < WARM + p->iters && !p->err; i++) {
        if (i == WARM) bench_mark_start();
        p->err = uco_loop_post(p->loop, add_value, (void *)(uintptr_t)i);
    }
    uco_loop_release(p->loop);
    return NULL;
}

static int run_post(void *arg, uint64_t iters)
{
    (void)arg;
    struct post_run p = {.iters = iters};
    int r = uco_loop_new(&p.loop, NULL);
    if (r) return r;
    post_cur = &p;
    uco_loop_hold(p.loop);
    pthread_t th;
    int e = pthread_create(&th, NULL, post_producer, &p);
    if (e) return -e;
    r = uco_loop_run(p.loop); /* until the producer released its hold and all ran */
    bench_mark_stop();
    pthread_join(th, NULL);
    uco_loop_free(p.loop);
    if (!r && p.err) r = p.err;
    if (!r && p.sum != (WARM + iters) * (WARM + iters - 1) / 2) r = -EPROTO;
    return r;
}

/* ---- an uncontended lock --------------------------------------------------------------- */

static intptr_t mutex_main(void *arg)
{
    uint64_t iters = *(uint64_t *)arg;
    uco_mutex *m;
    int r = uco_mutex_new(&m);
    if (r) return r;
    for (uint64_t i = 0; i < WARM + iters && !r; i++) {
        if (i == WARM) bench_mark_start();
        r = uco_mutex_lock(m);
        if (!r) r = uco_mutex_unlock(m);
    }
    bench_mark_stop();
    uco_mutex_free(m);
    return r;
}

static int run_uco_mutex(void *arg, uint64_t iters)
{
    (void)arg;
    intptr_t r = uco_run(mutex_main, &iters, NULL);
    return r < 0 ? (int)r : 0;
}

static int run_pthread_mutex(void *arg, uint64_t iters)
{
    (void)arg;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    for (uint64_t i = 0; i < WARM + iters; i++) {
        if (i == WARM) bench_mark_start();
        pthread_mutex_lock(&m);
        pthread_mutex_unlock(&m);
    }
    bench_mark_stop();
    return 0;
}

int main(int argc, char **argv)
{
    static const struct bench_flag flags[] = {
        {"--cap", BENCH_LONG, &cap, "capacity of the channel and of the queue (default 64)"},
        {NULL, 0, NULL, NULL},
    };
    struct bench_opts o;
    bench_init(&o, argc, argv, flags, "values from a producer to a consumer; an idle lock");
    if (cap < 1 || cap > (1 << 24)) {
        fprintf(stderr, "--cap: 1..16777216\n");
        return 2;
    }
    struct bench_contender c[] = {
        {.id = "chan", .label = "uco_chan, 2 tasks", .run = run_chan, .arg = (void *)(intptr_t)cap},
        {.id = "chan0", .label = "uco_chan capacity 0, 2 tasks", .run = run_chan, .arg = NULL},
        {.id = "queue", .label = "mutex + 2 condvars queue, 2 threads", .run = run_queue},
        {.id = "pipe", .label = "pipe, 2 threads", .run = run_pipe},
        {.id = "post", .label = "uco_loop_post from a thread", .run = run_post},
    };
    if (bench_measure(&o, "sync.chan", "one 8-byte value handed over (ns per value)", c, 5) < 0)
        return 1;
    struct bench_contender m[] = {
        {.id = "uco", .label = "uco_mutex lock + unlock", .run = run_uco_mutex},
        {.id = "pthread", .label = "pthread_mutex lock + unlock", .run = run_pthread_mutex},
    };
    if (bench_measure(&o, "sync.mutex", "an uncontended lock (ns per lock + unlock)", m, 2) < 0)
        return 1;
    if (o.count) return 0;
    double q = bench_ratio(&c[2], &c[0]), p = bench_ratio(&c[3], &c[0]);
    bench_target(&o, "sync.chan", "a channel at least as fast as a pthread queue", q >= 1,
                 "%.2fx the queue's speed (%.3g vs %.3g ns per value); %.2fx a pipe's", q,
                 c[0].med_ns, c[2].med_ns, p);
    double l = bench_ratio(&m[1], &m[0]);
    bench_target(&o, "sync.mutex", "an idle uco_mutex no dearer than 2x a pthread mutex", l >= 0.5,
                 "%.2fx the pthread mutex's speed (%.3g vs %.3g ns)", l, m[0].med_ns, m[1].med_ns);
    return 0;
}
