/* The stack switch alone (async/ctx.h), without a loop: register preservation across switches,
 * stack alignment at entry, many contexts. The same source is built three ways: natively with
 * the assembly switch, natively with the ucontext fallback, and for aarch64 (run under
 * qemu-aarch64 by tests/ctx_cross.sh) with UCO_CTX_STANDALONE, where a tiny harness replaces
 * cmocka. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async/ctx.h"

#ifdef UCO_CTX_STANDALONE
static int failures;
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)
#else
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#define CHECK(c) assert_true(c)
#endif

#define STACK 65536

static uco__ctx main_ctx, ctx_a, ctx_b;
static volatile long pings;
static int misaligned;

/* Frame address of a non-inlined function: 16-byte aligned when the entry was ABI-correct
 * (built with -fno-omit-frame-pointer). */
__attribute__((noinline)) static uintptr_t frame(void)
{
    return (uintptr_t)__builtin_frame_address(0);
}

/* Keeps many values live across switches, in integer and floating-point callee-saved
 * registers, and checks them after every switch. */
__attribute__((noinline)) static int work(uco__ctx *self, uco__ctx *other, long rounds, double seed)
{
    long a = rounds * 3, b = rounds * 5, c = rounds * 7, d = rounds * 11, e = rounds * 13;
    double x = seed, y = seed * 2, z = seed * 3, w = seed * 4;
    int bad = 0;
    for (long i = 0; i < rounds; i++) {
        pings++;
        uco__ctx_switch(self, other);
        bad |= a != rounds * 3 || b != rounds * 5 || c != rounds * 7 || d != rounds * 11 ||
               e != rounds * 13;
        bad |= x != seed || y != seed * 2 || z != seed * 3 || w != seed * 4;
    }
    return bad;
}

static int bad_a, bad_b;

static void entry_a(void *arg)
{
    misaligned |= frame() & 15;
    bad_a = work(&ctx_a, &ctx_b, (long)(intptr_t)arg, 1.5);
    uco__ctx_switch(&ctx_a, &main_ctx);
    abort(); /* never resumed */
}

static void entry_b(void *arg)
{
    misaligned |= frame() & 15;
    bad_b = work(&ctx_b, &ctx_a, (long)(intptr_t)arg, 2.5);
    uco__ctx_switch(&ctx_b, &main_ctx);
    abort();
}

static void ping_pong_preserves_registers(void **state)
{
    (void)state;
    char *sa = malloc(STACK), *sb = malloc(STACK);
    long rounds = 100000;
    pings = 0;
    uco__ctx_init(&ctx_a, sa, STACK, entry_a, (void *)(intptr_t)rounds);
    uco__ctx_init(&ctx_b, sb, STACK, entry_b, (void *)(intptr_t)rounds);
    volatile long keep = 12345;
    uco__ctx_switch(&main_ctx, &ctx_a);
    CHECK(keep == 12345);
    CHECK(bad_a == 0);
    CHECK(pings >= 2 * rounds - 1);
    CHECK(misaligned == 0);
    free(sa);
    free(sb);
}

/* Many contexts, each resumed in turn, each with its own counter on its own stack. */
#define NCTX 64
static uco__ctx ring_ctx[NCTX];
static long counts[NCTX];

static void ring_entry(void *arg)
{
    int i = (int)(intptr_t)arg;
    long local = 0;
    for (;;) {
        local++;
        counts[i] = local;
        uco__ctx_switch(&ring_ctx[i], &main_ctx);
    }
}

static void many_contexts_keep_their_own_stacks(void **state)
{
    (void)state;
    char *stacks = malloc((size_t)NCTX * STACK);
    for (int i = 0; i < NCTX; i++)
        uco__ctx_init(&ring_ctx[i], stacks + (size_t)i * STACK, STACK, ring_entry,
                      (void *)(intptr_t)i);
    for (int round = 0; round < 100; round++)
        for (int i = 0; i < NCTX; i++)
            uco__ctx_switch(&main_ctx, &ring_ctx[i]);
    for (int i = 0; i < NCTX; i++)
        CHECK(counts[i] == 100);
    free(stacks);
}

#ifdef UCO_CTX_STANDALONE
int main(void)
{
    ping_pong_preserves_registers(NULL);
    many_contexts_keep_their_own_stacks(NULL);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
#else
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ping_pong_preserves_registers),
        cmocka_unit_test(many_contexts_keep_their_own_stacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
