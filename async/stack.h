/* Task stacks: pooled, carved from slabs, each with a guard page (MADV_GUARD_INSTALL, Linux
 * 6.13+; on older kernels an mprotect'ed page while the memory-map budget allows) and a
 * canary checked at every switch when it has none (see docs/DESIGN.md "Stacks"). */
#ifndef UCO_ASYNC_STACK_H
#define UCO_ASYNC_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lives at the top of the stack's own memory: no heap per stack. */
struct uco__stack {
    struct uco__stack *next; /* pool free list */
    char *lo;                /* lowest usable byte (just above the guard page, if any) */
    size_t size;             /* usable bytes, this header included */
    unsigned vg_id;          /* Valgrind stack id */
    bool guarded;            /* a page below lo faults (guard marker or PROT_NONE) */
    bool own_map;            /* its own mapping (mprotect guard), else part of a slab */
    bool resident;           /* its pages may hold memory (not MADV_DONTNEED'ed since use) */
};

#define UCO__STACK_POOLS 8

struct uco__stacks {
    struct {
        size_t size;
        struct uco__stack *free;
        size_t nfree;
    } pool[UCO__STACK_POOLS];
    unsigned npools;
    size_t cache;       /* free stacks kept with memory, per size */
    size_t guard_limit; /* mprotect-guarded stacks allowed process-wide */
    bool guard_always;  /* fail rather than hand out a stack without a guard page */
    bool markers;       /* guard pages are MADV_GUARD_INSTALL markers (no VMA each) */
    uint64_t canary_key;
    struct uco__slab {
        char *base;
        size_t len;
    } * slabs; /* slab mappings, unmapped when the loop is freed */
    size_t nslabs, slabs_cap;
    uint64_t guarded, unguarded; /* stacks of this loop, in use or cached */
};

int uco__stacks_init(struct uco__stacks *s, size_t cache, size_t guarded_opt);
void uco__stacks_fini(struct uco__stacks *s);

/* A stack of at least size usable bytes (page-rounded), or NULL (out of memory). */
struct uco__stack *uco__stack_get(struct uco__stacks *s, size_t size);
void uco__stack_put(struct uco__stacks *s, struct uco__stack *st);

/* The range a context may use: from the canary up to the header. */
static inline char *uco__stack_base(const struct uco__stack *st)
{
    return st->lo + 16;
}
static inline size_t uco__stack_usable(const struct uco__stack *st)
{
    return (size_t)((const char *)st - uco__stack_base(st));
}

/* False when the canary at the bottom of an unguarded stack was overwritten (an overflow).
 * Guarded stacks have no canary: an overflow faults in the guard page instead. */
static inline bool uco__stack_intact(const struct uco__stacks *s, const struct uco__stack *st)
{
    return st->guarded || *(const uint64_t *)st->lo == (s->canary_key ^ (uintptr_t)st->lo);
}

size_t uco__page_size(void);

#endif
