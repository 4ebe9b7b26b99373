/* Portable stack switch on ucontext, for architectures without the assembly one. It is
 * correct but slow: swapcontext saves and restores the signal mask with a system call. */
#include "async/ctx.h"

#ifdef UCO_CONTEXT_UCONTEXT

/* makecontext passes int arguments only: the entry and its argument travel as halves. */
static void trampoline(unsigned e_hi, unsigned e_lo, unsigned a_hi, unsigned a_lo)
{
    uco__entry_fn *entry = (uco__entry_fn *)(uintptr_t)(((uint64_t)e_hi << 32) | e_lo);
    void *arg = (void *)(uintptr_t)(((uint64_t)a_hi << 32) | a_lo);
    entry(arg);
    __builtin_trap(); /* entry never returns */
}

void uco__ctx_init(uco__ctx *c, void *lo, size_t size, uco__entry_fn *entry, void *arg)
{
    uint64_t e = (uintptr_t)entry, a = (uintptr_t)arg;
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = lo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    makecontext(&c->uc, (void (*)(void))trampoline, 4, (unsigned)(e >> 32), (unsigned)e,
                (unsigned)(a >> 32), (unsigned)a);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int uco__ctx_ucontext_unused;
#endif
