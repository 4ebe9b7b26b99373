/* Stack switching: an execution context is a saved stack pointer (assembly, x86-64 and
 * aarch64) or a ucontext_t (portable fallback, -DUCO_CONTEXT=ucontext). */
#ifndef UCO_ASYNC_CTX_H
#define UCO_ASYNC_CTX_H

#include <stddef.h>
#include <stdint.h>

typedef void uco__entry_fn(void *arg);

#ifndef UCO_CONTEXT_UCONTEXT

typedef struct uco__ctx {
    void *sp;
} uco__ctx;

void uco__ctx_jump(void **from, void *to);
void uco__ctx_start(void);

/* Prepares c so that the first switch to it calls entry(arg) on the stack [lo, lo + size). */
static inline void uco__ctx_init(uco__ctx *c, void *lo, size_t size, uco__entry_fn *entry,
                                 void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* Frame popped by uco__ctx_jump: r15 r14 r13 r12 rbx rbp, then the return address.
     * top - 72 leaves rsp 16-byte aligned after the ret, as the ABI wants before a call. */
    void **sp = (void **)(top - 72);
    for (int i = 0; i < 9; i++)
        sp[i] = NULL;
    sp[2] = arg;                      /* r13 */
    sp[3] = (void *)(uintptr_t)entry; /* r12 */
    sp[6] = (void *)(uintptr_t)uco__ctx_start;
#elif defined(__aarch64__)
    void **sp = (void **)(top - 160);
    for (int i = 0; i < 20; i++)
        sp[i] = NULL;
    sp[0] = (void *)(uintptr_t)entry;           /* x19 */
    sp[1] = arg;                                /* x20 */
    sp[11] = (void *)(uintptr_t)uco__ctx_start; /* x30 (lr) */
#else
#error "no assembly stack switch for this architecture: configure with -DUCO_CONTEXT=ucontext"
#endif
    c->sp = sp;
}

/* Saves the running context into from and resumes to. Returns when something switches back. */
static inline void uco__ctx_switch(uco__ctx *from, uco__ctx *to)
{
    uco__ctx_jump(&from->sp, to->sp);
}

/* The saved stack pointer of a context that is not running. */
static inline void *uco__ctx_sp(const uco__ctx *c)
{
    return c->sp;
}

#else /* UCO_CONTEXT_UCONTEXT */

#include <ucontext.h>

typedef struct uco__ctx {
    ucontext_t uc;
} uco__ctx;

void uco__ctx_init(uco__ctx *c, void *lo, size_t size, uco__entry_fn *entry, void *arg);

static inline void uco__ctx_switch(uco__ctx *from, uco__ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}

static inline void *uco__ctx_sp(const uco__ctx *c)
{
    (void)c;
    return NULL; /* opaque in a ucontext_t: nothing to prefetch */
}

#endif

/* Brings the top of a parked context's stack (the 512 bytes from its saved stack pointer up:
 * the frames it returns through when resumed) into the cache ahead of the switch to it. Always
 * inlined: GCC 12 finds a function that only prefetches "pure", and drops a call whose result
 * is unused before inlining it. */
static inline __attribute__((always_inline)) void uco__stack_prefetch(const void *sp)
{
    const char *p = (const char *)sp;
    if (!p) return;
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
    __builtin_prefetch(p + 192);
    __builtin_prefetch(p + 256);
    __builtin_prefetch(p + 320);
    __builtin_prefetch(p + 384);
    __builtin_prefetch(p + 448);
}

#endif
