/* The loop's timers: a binary min-heap of deadlines, in user space. Sleeps and deadlines cost
 * no kernel operation; the loop's single io_uring_enter waits at most until the earliest. */
#ifndef UCO_ASYNC_TIMER_H
#define UCO_ASYNC_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct uco__timer;
typedef void uco__timer_fn(struct uco__timer *t);

struct uco__timer {
    int64_t when;      /* absolute CLOCK_MONOTONIC ns */
    uint32_t idx;      /* position in the heap; UINT32_MAX when not armed */
    uco__timer_fn *fn; /* called by uco__timers_fire once when is reached */
};

struct uco__timers {
    struct uco__timer **heap;
    uint32_t n, cap;
};

#define UCO__TIMER_IDLE UINT32_MAX

static inline void uco__timer_init(struct uco__timer *t, uco__timer_fn *fn)
{
    t->when = 0;
    t->idx = UCO__TIMER_IDLE;
    t->fn = fn;
}
static inline bool uco__timer_armed(const struct uco__timer *t)
{
    return t->idx != UCO__TIMER_IDLE;
}

/* Arms (or re-arms) t for when. Returns 0 or -ENOMEM (only when the heap must grow). */
int uco__timer_arm(struct uco__timers *h, struct uco__timer *t, int64_t when);
void uco__timer_disarm(struct uco__timers *h, struct uco__timer *t);
/* Earliest deadline, or INT64_MAX when none is armed. */
static inline int64_t uco__timers_next(const struct uco__timers *h)
{
    return h->n ? h->heap[0]->when : INT64_MAX;
}
/* Disarms and calls every timer whose deadline is <= now; returns how many fired. */
unsigned uco__timers_fire(struct uco__timers *h, int64_t now);
void uco__timers_free(struct uco__timers *h);

#endif
