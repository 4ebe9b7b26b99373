/* One coroutine switch: uco's stack switch (uco__ctx_switch between two contexts on stacks
 * from async/stack.h) against boost.context's jump_fcontext and glibc's swapcontext, each as
 * a ping-pong between the main context and one coroutine (two switches per iteration). Also
 * the switch as tasks see it: two uco tasks ping-ponging with uco_yield, where each yield is
 * a trip through the scheduler (run queue, park, the loop's turn). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <uco.h>

#include "async/ctx.h"
#include "async/stack.h"
#include "bench_util.h"

#define STACK_SIZE ((size_t)64 * 1024)

/* ---- uco__ctx_switch ------------------------------------------------------------------
 * Two ways to ping-pong. "Same call site": both contexts run pingpong(), as tasks that park
 * through the same code do in uco (the scheduler switches from one place, see switch_ctx in
 * async/task.c): the switch's return lands where the CPU's return-stack predictor expects.
 * "Two call sites": main and the coroutine switch from different loops, so every return of
 * the switch goes to an address the predictor did not expect. */

static uco__ctx raw_main, raw_co;

static __attribute__((noinline)) void pingpong(uco__ctx *self, uco__ctx *other, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        uco__ctx_switch(self, other);
}

static void raw_entry(void *arg)
{
    (void)arg;
    for (;;)
        pingpong(&raw_co, &raw_main, UINT64_MAX);
}

static uco__ctx asym_main, asym_co;

static void asym_entry(void *arg)
{
    (void)arg;
    for (;;)
        uco__ctx_switch(&asym_co, &asym_main);
}

static int raw_setup(void)
{
    static struct uco__stacks stacks;
    uco__stacks_init(&stacks, 4, 0);
    struct uco__stack *st = uco__stack_get(&stacks, STACK_SIZE);
    struct uco__stack *st2 = uco__stack_get(&stacks, STACK_SIZE);
    if (!st || !st2) return -ENOMEM;
    uco__ctx_init(&raw_co, uco__stack_base(st), uco__stack_usable(st), raw_entry, NULL);
    uco__ctx_init(&asym_co, uco__stack_base(st2), uco__stack_usable(st2), asym_entry, NULL);
    return 0;
}

static int run_raw(void *arg, uint64_t iters)
{
    (void)arg;
    pingpong(&raw_main, &raw_co, iters);
    return 0;
}

static int run_asym(void *arg, uint64_t iters)
{
    (void)arg;
    for (uint64_t i = 0; i < iters; i++)
        uco__ctx_switch(&asym_main, &asym_co);
    return 0;
}

/* ---- boost.context -------------------------------------------------------------------- */

#ifdef BENCH_HAVE_BOOST_CONTEXT
/* libboost_context's C ABI (boost/context/detail/fcontext.hpp): a context is an opaque
 * pointer; a jump returns the context that jumped to us and the value it passed. */
typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
extern transfer_t jump_fcontext(fcontext_t const to, void *vp);
extern fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

static fcontext_t boost_co;

static void boost_entry(transfer_t t)
{
    for (;;)
        t = jump_fcontext(t.fctx, NULL);
}

static int boost_setup(void)
{
    char *stack =
        mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) return -errno;
    boost_co = make_fcontext(stack + STACK_SIZE, STACK_SIZE, boost_entry);
    return 0;
}

static int run_boost(void *arg, uint64_t iters)
{
    (void)arg;
    for (uint64_t i = 0; i < iters; i++)
        boost_co = jump_fcontext(boost_co, NULL).fctx;
    return 0;
}
#endif

/* ---- swapcontext ---------------------------------------------------------------------- */

static ucontext_t uc_main, uc_co;

static void uc_entry(void)
{
    for (;;)
        swapcontext(&uc_co, &uc_main);
}

static int uc_setup(void)
{
    char *stack =
        mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) return -errno;
    if (getcontext(&uc_co) != 0) return -errno;
    uc_co.uc_stack.ss_sp = stack;
    uc_co.uc_stack.ss_size = STACK_SIZE;
    uc_co.uc_link = NULL;
    makecontext(&uc_co, uc_entry, 0);
    return 0;
}

static int run_uc(void *arg, uint64_t iters)
{
    (void)arg;
    for (uint64_t i = 0; i < iters; i++)
        swapcontext(&uc_main, &uc_co);
    return 0;
}

/* ---- two uco tasks yielding to each other --------------------------------------------- */

struct yield_ctx {
    uint64_t warm, end, done;
    uint64_t enters0, enters1;
};

static uint64_t loop_enters(void)
{
    uco_loop_stats st;
    return uco_loop_stats_get(uco_loop_current(), &st) == 0 ? st.enters : 0;
}

static intptr_t yielder(void *arg)
{
    struct yield_ctx *y = arg;
    while (y->done < y->end) {
        if (y->done == y->warm) {
            y->enters0 = loop_enters();
            bench_mark_start();
        }
        y->done++;
        int r = uco_yield();
        if (r < 0) return r;
    }
    if (y->enters1 == 0) {
        bench_mark_stop();
        y->enters1 = loop_enters();
    }
    return 0;
}

static intptr_t yield_main(void *arg)
{
    uco_task *a, *b;
    int r = uco_spawn(&a, yielder, arg);
    if (r < 0) return r;
    r = uco_spawn(&b, yielder, arg);
    if (r < 0) return r;
    intptr_t ra = 0, rb = 0;
    uco_task_join(a, &ra);
    uco_task_join(b, &rb);
    return ra < 0 ? ra : rb;
}

static struct yield_ctx last_yield;

/* iters = yields of each task: two yields per iteration. */
static int run_yield(void *arg, uint64_t iters)
{
    (void)arg;
    struct yield_ctx y = {.warm = 200, .end = 200 + 2 * iters};
    intptr_t r = uco_run(yield_main, &y, NULL);
    last_yield = y;
    return r < 0 ? (int)r : 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    bench_init(&o, argc, argv, NULL, "one coroutine switch: uco vs boost.context vs swapcontext");
    int r = raw_setup();
    if (r == 0) r = uc_setup();
#ifdef BENCH_HAVE_BOOST_CONTEXT
    if (r == 0) r = boost_setup();
#endif
    if (r < 0) {
        fprintf(stderr, "%s: setting up stacks: %s\n", o.prog, strerror(-r));
        return 1;
    }

    struct bench_contender c[] = {
        {.id = "uco_ctx",
         .label = "uco__ctx_switch, same call site",
         .run = run_raw,
         .ops_per_iter = 2},
#ifdef BENCH_HAVE_BOOST_CONTEXT
        {.id = "boost",
         .label = "boost.context jump_fcontext",
         .run = run_boost,
         .ops_per_iter = 2},
#else
        {.id = "boost",
         .label = "boost.context jump_fcontext",
         .missing = "libboost-context-dev was not found when this was built"},
#endif
        {.id = "swapcontext", .label = "glibc swapcontext", .run = run_uc, .ops_per_iter = 2},
        {.id = "uco_ctx_2sites",
         .label = "uco__ctx_switch, two call sites",
         .run = run_asym,
         .ops_per_iter = 2},
        {.id = "uco_yield",
         .label = "uco_yield, 2 tasks (through scheduler)",
         .run = run_yield,
         .ops_per_iter = 2},
    };
    r = bench_measure(&o, "switch", "one switch (ns per switch; a ping-pong is two switches)", c,
                      sizeof c / sizeof c[0]);
    if (r < 0) return 1;
    if (o.count) return 0;

    const struct bench_contender *raw = &c[0], *boost = &c[1], *uc = &c[2], *yield = &c[4];
    double yields = (double)(last_yield.end - last_yield.warm);
    printf("  uco_yield: %.3g io_uring_enter per yield; %.3gx the raw switch\n",
           yields > 0 ? (double)(last_yield.enters1 - last_yield.enters0) / yields : 0,
           bench_ratio(yield, raw));
    bench_record(&o, "switch.uco_yield.enters",
                 (double)(last_yield.enters1 - last_yield.enters0) / yields, "enters/yield");

    if (boost->missing) {
        bench_target_na(&o, "switch_vs_boost", "switch at least as cheap as jump_fcontext",
                        boost->missing);
    } else {
        printf("  uco__ctx_switch between two call sites takes %.2fx jump_fcontext's time (see "
               "switch_ctx in async/task.c)\n",
               bench_ratio(&c[3], boost));
        double x = bench_ratio(boost, raw);
        bench_target(&o, "switch_vs_boost", "switch at least as cheap as jump_fcontext", x >= 1.0,
                     "jump_fcontext takes %.2fx the time of uco__ctx_switch from one call site, as "
                     "uco's scheduler switches (%.3g vs %.3g ns)",
                     x, boost->med_ns, raw->med_ns);
    }
    double s = bench_ratio(uc, raw);
    bench_target(&o, "switch_vs_swapcontext", "switch at least 20x cheaper than swapcontext",
                 s >= 20.0, "%.1fx cheaper (%.3g vs %.3g ns)", s, uc->med_ns, raw->med_ns);
    return 0;
}
