/* Task stacks: deep recursion, a stack size per task, an overflow into the guard page
 * (SIGSEGV, neighbour intact) and an overflow of an unguarded stack (caught by its canary,
 * the process aborts naming the task). The overflows run in child processes. */
#include "test_util.h"
#include "core_util.h"

#include <poll.h>
#include <sys/mman.h>

#include "async/internal.h" /* the task's stack bounds, to aim the overflows */

static size_t page(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Recurses with 1 KiB frames until `left` bytes of the stack remain above its base; returns
 * a checksum that depends on every frame, so none can be optimised away. */
static __attribute__((noinline)) uint64_t recurse(const char *base, size_t left, unsigned depth,
                                                  unsigned *max_depth)
{
    volatile char frame[1024];
    for (size_t i = 0; i < sizeof frame; i += 64)
        frame[i] = (char)(depth + i);
    uint64_t sum = (uint64_t)frame[64];
    if ((const char *)frame > base + left) {
        sum += recurse(base, left, depth + 1, max_depth);
    } else {
        *max_depth = depth;
    }
    return sum + (uint64_t)frame[0];
}

struct deep {
    size_t size;     /* stack size asked for */
    size_t got;      /* usable bytes the task had */
    size_t used;     /* how deep it went */
    unsigned frames; /* recursion depth reached */
};

static intptr_t deep_task(void *arg)
{
    struct deep *d = arg;
    struct uco__stack *st = uco_task_self()->stack;
    const char *base = uco__stack_base(st);
    d->got = uco__stack_usable(st);
    char here;
    /* Leave 4 KiB above the base: most of the stack is used. */
    recurse(base, 4096, 0, &d->frames);
    d->used = (size_t)(&here - base) - 4096;
    T_CHECK_EQ(uco_yield(), 0); /* a switch with a nearly full stack */
    T_CHECK(uco__stack_intact(&uco_loop_current()->stacks, st));
    return 0;
}

static intptr_t deep_body(void *arg)
{
    size_t sizes[] = {UCO_STACK_MIN, UCO_STACK_DEFAULT, 256 * 1024, 4 * 1024 * 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct deep d = {.size = sizes[i]};
        uco_task_opts o = {.stack_size = sizes[i], .name = "deep"};
        uco_task *t;
        T_CHECK_EQ(uco_spawn_opts(&t, deep_task, &d, &o), 0);
        T_CHECK_EQ(uco_task_join(t, NULL), 0);
        T_CHECK(d.got + page() >= sizes[i] - 16 * 1024); /* near all of it is usable */
        T_CHECK(d.got <= sizes[i]);
        if (sizes[i] >= 256 * 1024) T_CHECK(d.used >= sizes[i] * 3 / 4);
        T_CHECK(d.frames > 0 || sizes[i] == UCO_STACK_MIN); /* ASan frames are large */
    }
    return 0;
}

static void deep_recursion_uses_most_of_a_large_stack(void **state)
{
    t_run(deep_body, NULL, NULL);
}

static intptr_t size_task(void *arg)
{
    return (intptr_t)uco_task_self()->stack->size;
}

static intptr_t sizes_body(void *arg)
{
    uco_task *t;
    intptr_t r;
    /* The loop's default (set in its options) ... */
    T_CHECK_EQ(uco_spawn(&t, size_task, NULL), 0);
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    T_CHECK_EQ(r, 128 * 1024);
    /* ... a size per task, rounded up to pages, at least UCO_STACK_MIN. */
    size_t asks[][2] = {{1, UCO_STACK_MIN},
                        {UCO_STACK_MIN + 1, UCO_STACK_MIN + page()},
                        {300 * 1000, (300 * 1000 + page() - 1) / page() * page()}};
    for (int i = 0; i < 3; i++) {
        uco_task_opts o = {.stack_size = asks[i][0]};
        T_CHECK_EQ(uco_spawn_opts(&t, size_task, NULL, &o), 0);
        T_CHECK_EQ(uco_task_join(t, &r), 0);
        T_CHECK_EQ(r, asks[i][1]);
    }
    return 0;
}

static void stack_size_per_loop_and_per_task(void **state)
{
    uco_loop_opts o = {.stack_size = 128 * 1024};
    t_run(sizes_body, NULL, &o);
}

/* ---- overflow into the guard page ------------------------------------------------------- */

static int report_fd = -1;
static volatile char *neighbour_mem;
static const char *guard_lo, *guard_hi;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    char verdict[2] = {'k', 'g'};
    for (int i = 0; i < 512; i++)
        if (neighbour_mem[i] != (char)(i * 7)) verdict[0] = 'X';
    const char *a = si->si_addr;
    if (!(a >= guard_lo && a < guard_hi)) verdict[1] = 'X';
    if (write(report_fd, verdict, 2) < 0) { /* the parent sees nothing: fails */
    }
    signal(SIGSEGV, SIG_DFL); /* returning re-runs the fault, which now kills */
}

static intptr_t neighbour(void *arg)
{
    char mem[512];
    for (int i = 0; i < 512; i++)
        mem[i] = (char)(i * 7);
    neighbour_mem = mem;
    T_CHECK_EQ(uco_sleep(60 * UCO_SEC), 0); /* never ends: the process dies first */
    return mem[3];
}

static intptr_t overflower(void *arg)
{
    struct uco__stack *st = uco_task_self()->stack;
    if (!st->guarded) return 99;
    guard_lo = st->lo - page();
    guard_hi = st->lo;
    unsigned depth;
    /* Aim below the base: the guard page stops it. */
    return (intptr_t)recurse(uco__stack_base(st) - 4 * page(), 0, 0, &depth);
}

static intptr_t guard_body(void *arg)
{
    uco_task *n, *o;
    T_CHECK_EQ(uco_spawn(&n, neighbour, NULL), 0);
    T_CHECK_EQ(uco_yield(), 0);
    T_CHECK_EQ(uco_spawn(&o, overflower, NULL), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(o, &r), 0);
    return r; /* only reached when the stack had no guard page */
}

static int guard_child(void *arg)
{
    int *fds = arg;
    close(fds[0]);
    report_fd = fds[1];
    static char alt[64 * 1024];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    if (sigaltstack(&ss, NULL) != 0) return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    if (sigaction(SIGSEGV, &sa, NULL) != 0) return 3;
    uco_loop_opts o = {.guarded_stacks = SIZE_MAX};
    intptr_t r = uco_run(guard_body, NULL, &o);
    printf("  overflow did not fault: %ld\n", (long)r);
    return 1;
}

static void overflow_hits_the_guard_page_and_spares_the_neighbour(void **state)
{
    int fds[2];
    t_pipe(fds);
    int status = t_in_child(guard_child, fds);
    close(fds[1]);
    char verdict[2] = {0, 0};
    ssize_t n = read(fds[0], verdict, 2);
    close(fds[0]);
    if (!WIFSIGNALED(status))
        fail_msg("child exited with %d instead of dying of SIGSEGV", WEXITSTATUS(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    assert_int_equal(n, 2);
    assert_int_equal(verdict[0], 'k'); /* the neighbour's stack is intact */
    assert_int_equal(verdict[1], 'g'); /* the fault was in the guard page */
}

/* ---- overflow of an unguarded stack ------------------------------------------------------- */

/* Recurses down to the base of the stack, then lets one frame reach over it onto the canary
 * (not further: below lies another task's stack, which must not be what stops us). */
static __attribute__((noinline)) void reach_over(const char *lo, const char *base)
{
    volatile char frame[512];
    if ((const char *)frame > base + 2048) {
        reach_over(lo, base);
        frame[0] = 1;
        return;
    }
    /* frame is the lowest one, about 2 KiB above the base: a deeper call would overwrite the
     * bottom of the stack, canary included; do that (not more, our own locals are above). */
    for (volatile char *p = (volatile char *)lo; p < lo + 64; p++)
        *p = 0x5a;
}

static intptr_t unguarded_overflower(void *arg)
{
    struct uco__stack *st = uco_task_self()->stack;
    if (st->guarded) return 98;
    reach_over(st->lo, uco__stack_base(st));
    uco_yield(); /* the canary is checked when it parks */
    return 97;   /* not reached */
}

static intptr_t canary_body(void *arg)
{
    uco_task_opts o = {.name = "overflower"};
    uco_task *t;
    T_CHECK_EQ(uco_spawn_opts(&t, unguarded_overflower, NULL, &o), 0);
    intptr_t r = 0;
    T_CHECK_EQ(uco_task_join(t, &r), 0);
    return r;
}

static int canary_child(void *arg)
{
    /* A budget of one guarded stack: this task may get it, the next cannot. */
    uco_loop_opts o = {.guarded_stacks = 1};
    intptr_t r = uco_run(canary_body, NULL, &o);
    printf("  canary overflow not caught: %ld\n", (long)r);
    return 1;
}

static void unguarded_overflow_is_caught_by_the_canary(void **state)
{
    char msg[1024];
    int status = t_in_child_capture(canary_child, NULL, 2, msg, sizeof msg);
    printf("  child said: %s", msg);
    if (!WIFSIGNALED(status))
        fail_msg("child exited with %d instead of aborting", WEXITSTATUS(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(msg, "stack overflow"));
    assert_non_null(strstr(msg, "'overflower'"));
}

/* ---- memory of an idle task ------------------------------------------------------------- */

static intptr_t idle_task(void *arg)
{
    struct uco__stack **out = arg;
    *out = uco_task_self()->stack;
    return uco_sleep(60 * UCO_SEC);
}

/* Resident pages of a stack (header included). */
static size_t resident_pages(const struct uco__stack *st)
{
    size_t n = st->size / page();
    unsigned char vec[256];
    if (n > sizeof vec || mincore(st->lo, st->size, vec) != 0) return 0;
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r;
}

static intptr_t resident_body(void *arg)
{
    struct uco__stack *st[2];
    uco_task *t[2];
    for (int i = 0; i < 2; i++)
        T_CHECK_EQ(uco_spawn(&t[i], idle_task, &st[i]), 0);
    T_CHECK_EQ(uco_yield(), 0);
    size_t pages[2] = {resident_pages(st[0]), resident_pages(st[1])};
    bool guarded[2] = {st[0]->guarded, st[1]->guarded};
    for (int i = 0; i < 2; i++) {
        uco_task_cancel(t[i]);
        uco_task_join(t[i], NULL);
    }
    for (int i = 0; i < 2; i++)
        printf("  idle task, %s stack of %zu KiB: %zu page(s) resident\n",
               guarded[i] ? "guarded" : "unguarded", st[i]->size / 1024, pages[i]);
    T_CHECK(pages[0] >= 1 && pages[1] >= 1);
#if defined(__OPTIMIZE__) && !defined(T_ASAN) && !defined(T_TSAN) /* else larger frames */
    /* Its frames fit in the top page with the header; an unguarded stack adds its canary's. */
    for (int i = 0; i < 2; i++)
        T_CHECK_EQ(pages[i], guarded[i] ? 1 : 2);
#endif
    return 0;
}

/* Regression: guarded stacks also had a canary written in their lowest page (4 KiB resident
 * per task for nothing), and the exit reserve pushed every task's frames into a second page. */
static void idle_task_keeps_only_its_top_page_resident(void **state)
{
    uco_loop_opts o = {.guarded_stacks = SIZE_MAX};
    t_run(resident_body, NULL, &o);
    o.guarded_stacks = 1; /* the first task's stack at most: these two have none */
    t_run(resident_body, NULL, &o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deep_recursion_uses_most_of_a_large_stack),
        cmocka_unit_test(stack_size_per_loop_and_per_task),
        cmocka_unit_test(idle_task_keeps_only_its_top_page_resident),
        cmocka_unit_test(overflow_hits_the_guard_page_and_spares_the_neighbour),
        cmocka_unit_test(unguarded_overflow_is_caught_by_the_canary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
