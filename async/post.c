/* Functions posted to a loop from other threads (uco_loop_post), and the holds that keep a loop
 * running while it expects them.
 *
 * A post is a small node pushed onto the loop's lock-free list (many producers, one consumer:
 * the loop) and, when the list was empty, a write to the loop's inbox eventfd, which the loop
 * reads through its ring: the same wake-up as a worker job's completion. The loop takes the
 * whole list at once and starts the functions as detached tasks, in the order posted, up to
 * POSTS_PER_TURN a turn. */
#include <errno.h>
#include <stdlib.h>

#include "async/internal.h"

struct uco__post {
    struct uco__post *next;
    uco_task_fn *fn;
    void *arg;
};

int uco_loop_post(uco_loop *l, uco_task_fn *fn, void *arg)
{
    if (!l || !fn) return -EINVAL;
    struct uco__post *p = malloc(sizeof *p);
    if (!p) return -ENOMEM;
    p->fn = fn;
    p->arg = arg;
    /* As uco__inbox_post: uco_loop_free waits until no poster is between the push and the
     * wake-up, which touch the loop. */
    atomic_fetch_add_explicit(&l->inbox_posting, 1, memory_order_relaxed);
    struct uco__post *old = atomic_load_explicit(&l->posts, memory_order_relaxed);
    do {
        p->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&l->posts, &old, p, memory_order_release,
                                                    memory_order_relaxed));
    if (!old) uco__inbox_wake(l);
    atomic_fetch_sub_explicit(&l->inbox_posting, 1, memory_order_release);
    return 0;
}

int uco_loop_hold(uco_loop *l)
{
    if (!l) return -EINVAL;
    atomic_fetch_add_explicit(&l->holds, 1, memory_order_relaxed);
    return 0;
}

int uco_loop_release(uco_loop *l)
{
    if (!l) return -EINVAL;
    uint64_t h = atomic_load_explicit(&l->holds, memory_order_relaxed);
    do {
        if (h == 0) return -EINVAL;
    } while (!atomic_compare_exchange_weak_explicit(&l->holds, &h, h - 1, memory_order_release,
                                                    memory_order_relaxed));
    /* The last one: a loop with no task left may end now; it may be asleep waiting for posts.
     * (Posted before the release: already on the list, and pushed with its own wake-up.) */
    if (h == 1) {
        atomic_fetch_add_explicit(&l->inbox_posting, 1, memory_order_relaxed);
        uco__inbox_wake(l);
        atomic_fetch_sub_explicit(&l->inbox_posting, 1, memory_order_release);
    }
    return 0;
}

/* At most this many posted functions become tasks a turn: a thread that posts faster than
 * the loop runs them would otherwise make thousands of tasks at once, each with a stack of its
 * own (measured: page faults, zeroing and unmapping took most of a post's time); a turn's
 * worth ends and hands its stacks to the next. */
#define POSTS_PER_TURN 64

void uco__posts_spawn(struct uco_loop *l)
{
    static const uco_task_opts detached = {.detached = true};
    for (int i = 0; i < POSTS_PER_TURN && l->posts_left; i++) {
        struct uco__post *p = l->posts_left;
        if (uco_loop_spawn(l, NULL, p->fn, p->arg, &detached) < 0)
            return; /* out of memory: the next turn tries again (the loop does not sleep) */
        l->posts_left = p->next;
        if (!l->posts_left) l->posts_tail = NULL;
        free(p);
    }
}

void uco__posts_drain(struct uco_loop *l)
{
    struct uco__post *list = atomic_exchange_explicit(&l->posts, NULL, memory_order_acquire);
    if (!list) return;
    /* Newest first: reverse, and queue behind the ones not started yet. */
    struct uco__post *fifo = NULL, *last = list;
    while (list) {
        struct uco__post *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    if (l->posts_tail)
        l->posts_tail->next = fifo;
    else
        l->posts_left = fifo;
    l->posts_tail = last;
    uco__posts_spawn(l);
}

static void free_list(struct uco__post *p)
{
    while (p) {
        struct uco__post *next = p->next;
        free(p);
        p = next;
    }
}

void uco__posts_free(struct uco_loop *l)
{
    free_list(atomic_exchange_explicit(&l->posts, NULL, memory_order_acquire));
    free_list(l->posts_left);
    l->posts_left = l->posts_tail = NULL;
}
