/* Binary min-heap of timers. */
#include "async/timer.h"

#include <errno.h>
#include <stdlib.h>

static inline void place(struct uco__timers *h, uint32_t i, struct uco__timer *t)
{
    h->heap[i] = t;
    t->idx = i;
}

static void sift_up(struct uco__timers *h, uint32_t i)
{
    struct uco__timer *t = h->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->heap[parent]->when <= t->when) break;
        place(h, i, h->heap[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct uco__timers *h, uint32_t i)
{
    struct uco__timer *t = h->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->heap[c + 1]->when < h->heap[c]->when) c++;
        if (t->when <= h->heap[c]->when) break;
        place(h, i, h->heap[c]);
        i = c;
    }
    place(h, i, t);
}

int uco__timer_arm(struct uco__timers *h, struct uco__timer *t, int64_t when)
{
    if (uco__timer_armed(t)) {
        int64_t old = t->when;
        t->when = when;
        if (when < old)
            sift_up(h, t->idx);
        else
            sift_down(h, t->idx);
        return 0;
    }
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        struct uco__timer **v = realloc(h->heap, cap * sizeof *v);
        if (!v) return -ENOMEM;
        h->heap = v;
        h->cap = cap;
    }
    t->when = when;
    place(h, h->n++, t);
    sift_up(h, t->idx);
    return 0;
}

void uco__timer_disarm(struct uco__timers *h, struct uco__timer *t)
{
    if (!uco__timer_armed(t)) return;
    uint32_t i = t->idx;
    t->idx = UCO__TIMER_IDLE;
    if (--h->n == i) return;
    struct uco__timer *last = h->heap[h->n];
    place(h, i, last);
    if (i > 0 && h->heap[(i - 1) / 2]->when > last->when)
        sift_up(h, i);
    else
        sift_down(h, i);
}

unsigned uco__timers_fire(struct uco__timers *h, int64_t now)
{
    unsigned n = 0;
    while (h->n && h->heap[0]->when <= now) {
        struct uco__timer *t = h->heap[0];
        uco__timer_disarm(h, t);
        t->fn(t);
        n++;
    }
    return n;
}

void uco__timers_free(struct uco__timers *h)
{
    free(h->heap);
    h->heap = NULL;
    h->n = h->cap = 0;
}
