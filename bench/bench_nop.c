/* Awaited NOPs: K uco tasks each looping `uco_nop()` (submit an SQE, park, resume on its CQE)
 * against a raw liburing loop keeping the same K NOPs in flight. The raw loop is the tuned
 * baseline a C programmer would write: the ring set up with the same flags as uco's loop
 * (SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL | CLAMP, else the same fallbacks), the same
 * queue sizes and a registered ring fd; one io_uring_submit_and_wait per batch,
 * io_uring_for_each_cqe with an SQE refilled per completion, and one io_uring_cq_advance.
 * Throughput is operations per second in each; uco's heap allocations per await are counted
 * in the same runs. */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uco.h>

#include "bench_util.h"

#define SQ_ENTRIES 256 /* uco's defaults (uco_loop_opts) */
#define CQ_ENTRIES (SQ_ENTRIES * 16)

struct nop_ctx {
    long k;        /* NOPs in flight (tasks for uco) */
    uint64_t warm; /* operations before the marked part */
    uint64_t end;  /* warm + measured operations */
    uint64_t issued, completed;
    uint64_t enters0, enters1;
    unsigned ring_flags; /* IORING_SETUP_* used */
    int err;
};

/* ---- uco ------------------------------------------------------------------------------ */

static uint64_t loop_enters(void)
{
    uco_loop_stats st;
    return uco_loop_stats_get(uco_loop_current(), &st) == 0 ? st.enters : 0;
}

static intptr_t nop_task(void *arg)
{
    struct nop_ctx *c = arg;
    while (c->issued < c->end) {
        if (c->issued == c->warm) {
            c->enters0 = loop_enters();
            bench_mark_start();
        }
        c->issued++;
        int r = uco_nop();
        if (r < 0) {
            c->err = r;
            return r;
        }
        if (++c->completed == c->end) {
            bench_mark_stop();
            c->enters1 = loop_enters();
        }
    }
    return 0;
}

static intptr_t nop_main(void *arg)
{
    struct nop_ctx *c = arg;
    uco_loop_stats st;
    if (uco_loop_stats_get(uco_loop_current(), &st) == 0) c->ring_flags = st.setup_flags;
    for (long i = 0; i < c->k; i++) {
        int r = uco_spawn(NULL, nop_task, c);
        if (r < 0) return r;
    }
    return 0;
}

static struct nop_ctx last_uco, last_raw;

static int run_uco(void *arg, uint64_t iters)
{
    struct nop_ctx c = {.k = *(long *)arg};
    c.warm = 64 * (uint64_t)c.k;
    c.end = c.warm + iters;
    intptr_t r = uco_run(nop_main, &c, NULL);
    last_uco = c;
    if (c.err) return c.err;
    return r < 0 ? (int)r : 0;
}

/* ---- raw liburing --------------------------------------------------------------------- */

static int raw_ring(struct io_uring *ring, unsigned *flags_used)
{
    static const unsigned modes[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        0,
    };
    int r = -EINVAL;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = modes[i] | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.cq_entries = CQ_ENTRIES;
        r = io_uring_queue_init_params(SQ_ENTRIES, ring, &p);
        if (r == 0) {
            *flags_used = p.flags;
            io_uring_register_ring_fd(ring);
            return 0;
        }
        if (r != -EINVAL) return r;
    }
    return r;
}

static inline int raw_issue(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) {
        io_uring_submit(ring); /* only when K exceeds the SQ */
        sqe = io_uring_get_sqe(ring);
        if (!sqe) return -EBUSY;
    }
    io_uring_prep_nop(sqe);
    return 0;
}

static int run_raw(void *arg, uint64_t iters)
{
    struct nop_ctx c = {.k = *(long *)arg};
    c.warm = 64 * (uint64_t)c.k;
    c.end = c.warm + iters;
    struct io_uring ring;
    int r = raw_ring(&ring, &c.ring_flags);
    if (r < 0) return r;
    uint64_t enters = 0;
    for (long i = 0; i < c.k && c.issued < c.end; i++, c.issued++)
        if ((r = raw_issue(&ring)) < 0) goto out;
    while (c.completed < c.end) {
        enters++;
        r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR) goto out;
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            seen++;
            if (cqe->res < 0) {
                r = cqe->res;
                goto out;
            }
            if (++c.completed == c.warm) {
                c.enters0 = enters;
                bench_mark_start();
            } else if (c.completed == c.end) {
                bench_mark_stop();
                c.enters1 = enters;
            }
            if (c.issued < c.end) {
                if ((r = raw_issue(&ring)) < 0) goto out;
                c.issued++;
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    r = 0;
out:
    io_uring_queue_exit(&ring);
    last_raw = c;
    return r;
}

/* ---- main ----------------------------------------------------------------------------- */

static double enters_per_op(const struct nop_ctx *c)
{
    uint64_t ops = c->end - c->warm;
    return ops ? (double)(c->enters1 - c->enters0) / (double)ops : 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    const char *list = NULL;
    const struct bench_flag flags[] = {
        {"--inflight", BENCH_STR, &list,
         "comma-separated NOPs in flight (uco tasks) to measure (default 1,64; full: "
         "1,4,16,64,256)"},
        {0},
    };
    bench_init(&o, argc, argv, flags, "awaited NOPs: uco tasks vs a raw liburing loop");
    if (!list) list = "1,64";

    bool allocs_known = true, allocs_zero = true;
    char *copy = strdup(list);
    if (!copy) return 1;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        long k = strtol(tok, NULL, 10);
        if (k < 1 || k > 100000) {
            fprintf(stderr, "%s: --inflight: %s is not 1..100000\n", o.prog, tok);
            return 2;
        }
        char title[128], key[32];
        snprintf(title, sizeof title, "awaited NOPs, %ld in flight (ns per NOP)", k);
        snprintf(key, sizeof key, "nop%ld", k);
        struct bench_contender c[] = {
            {.id = "uco", .label = "uco: tasks awaiting uco_nop()", .run = run_uco, .arg = &k},
            {.id = "raw", .label = "raw liburing loop", .run = run_raw, .arg = &k},
        };
        if (bench_measure(&o, key, title, c, 2) < 0) return 1;
        if (o.count) continue;
        printf("  ring flags 0x%x (uco) / 0x%x (raw); io_uring_enter per NOP: %.3g (uco) / %.3g "
               "(raw)\n",
               last_uco.ring_flags, last_raw.ring_flags, enters_per_op(&last_uco),
               enters_per_op(&last_raw));
        char k2[64];
        snprintf(k2, sizeof k2, "%s.uco.enters", key);
        bench_record(&o, k2, enters_per_op(&last_uco), "enters/op");
        snprintf(k2, sizeof k2, "%s.raw.enters", key);
        bench_record(&o, k2, enters_per_op(&last_raw), "enters/op");
        double thr = 1.0 / bench_ratio(&c[0], &c[1]); /* uco ops/s over raw ops/s */
        printf("  throughput uco / raw liburing: %.2f\n", thr);
        snprintf(k2, sizeof k2, "%s.throughput_ratio", key);
        bench_record(&o, k2, thr, "x");
        if (k == 64)
            bench_target(&o, "nop64", "64-task awaited NOP throughput >= 70% of raw liburing",
                         thr >= 0.70, "%.1f%% (%.3g vs %.3g M NOPs/s)", thr * 100,
                         1e3 / c[0].med_ns, 1e3 / c[1].med_ns);
        if (c[0].allocs_per_op < 0)
            allocs_known = false;
        else if (c[0].allocs_per_op > 0)
            allocs_zero = false;
    }
    free(copy);
    if (o.count) return 0;
    if (!allocs_known)
        bench_target_na(&o, "no_alloc_per_await", "no heap allocation per await",
                        "allocations are not counted in this build (sanitizer)");
    else
        bench_target(&o, "no_alloc_per_await", "no heap allocation per await", allocs_zero,
                     "%s heap allocations in the measured awaits", allocs_zero ? "no" : "some");
    return 0;
}
