/* Task stacks.
 *
 * Every stack has a guard page below it, so an overflow faults at once (SIGSEGV) instead of
 * corrupting a neighbour. How the guard is made decides how many stacks a process can have:
 *   - Linux 6.13+ (MADV_GUARD_INSTALL): stacks are carved from slab mappings (one mmap per
 *     ~2 MiB) and each guard page is a page-table marker. Markers cost no memory map (VMA), so
 *     every one of hundreds of thousands of stacks is guarded within the default
 *     vm.max_map_count of 65530.
 *   - older kernels: a guard is an mprotect(PROT_NONE) page, which splits the mapping: two VMAs
 *     per stack. Stacks get one while a budget lasts (a quarter of vm.max_map_count, shared by
 *     the process: ~16,000 stacks using half of the maps); later stacks come from slabs with no
 *     guard page.
 * A stack without a guard page has a canary in its lowest 8 bytes, checked at every switch away
 * from its task and when it is released: an overflow is reported naming the task and the
 * process aborts, memory having been overwritten. Every stack keeps its header at the top of its
 * own memory (no heap per stack), is registered with Valgrind, is never backed by transparent
 * huge pages, and is pooled: a finished task's stack goes to the next task of the same size
 * without a system call. Free stacks beyond the cache give their memory back (MADV_DONTNEED
 * keeps guard markers; an mprotect-guarded stack is unmapped). */
#include "async/stack.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "async/sanitizer.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif

/* mprotect-guarded stacks of all loops of the process, against one shared map budget. */
static _Atomic size_t guarded_in_process;
/* 1: MADV_GUARD_INSTALL works, -1: it does not, 0: not probed yet. */
static _Atomic int guard_markers;

size_t uco__page_size(void)
{
    static size_t page;
    if (!page) page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

static size_t max_map_count(void)
{
    size_t v = 65530; /* the kernel's default */
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        unsigned long x;
        if (fscanf(f, "%lu", &x) == 1 && x > 0) v = x;
        fclose(f);
    }
    return v;
}

static bool markers_available(void)
{
    int m = atomic_load(&guard_markers);
    if (m) return m > 0;
    size_t page = uco__page_size();
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bool ok = p != MAP_FAILED && madvise(p, page, MADV_GUARD_INSTALL) == 0;
    if (p != MAP_FAILED) munmap(p, page);
    atomic_store(&guard_markers, ok ? 1 : -1);
    return ok;
}

int uco__stacks_init(struct uco__stacks *s, size_t cache, size_t guarded_opt)
{
    memset(s, 0, sizeof *s);
    s->cache = cache;
    s->markers = markers_available();
    if (guarded_opt == SIZE_MAX) {
        s->guard_limit = SIZE_MAX;
        s->guard_always = true;
    } else {
        s->guard_limit = guarded_opt ? guarded_opt : max_map_count() / 4;
        /* An explicit budget asks for the budgeted (mprotect) scheme, e.g. in tests. */
        if (guarded_opt) s->markers = false;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s->canary_key = 0x9e3779b97f4a7c15ull ^ ((uint64_t)ts.tv_nsec << 20) ^ (uintptr_t)s;
    return 0;
}

static struct uco__stack *stack_setup(struct uco__stacks *s, char *lo, size_t size, bool guarded,
                                      bool own_map)
{
    uintptr_t top = ((uintptr_t)lo + size - sizeof(struct uco__stack)) & ~(uintptr_t)15;
    struct uco__stack *st = (struct uco__stack *)top;
    st->next = NULL;
    st->lo = lo;
    st->size = size;
    st->guarded = guarded;
    st->own_map = own_map;
    st->resident = true;
    st->vg_id = UCO_VG_STACK_REGISTER(lo, lo + size);
    if (guarded) {
        /* The guard page catches its overflows: a canary would only make its lowest page
         * resident, 4 KiB per task for nothing. */
        s->guarded++;
    } else {
        *(uint64_t *)lo = s->canary_key ^ (uintptr_t)lo;
        s->unguarded++;
    }
    return st;
}

/* One stack in a mapping of its own, its lowest page PROT_NONE (kernels before 6.13). */
static struct uco__stack *new_own_map(struct uco__stacks *s, size_t size)
{
    size_t page = uco__page_size();
    char *map = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) return NULL;
    if (mprotect(map, page, PROT_NONE) != 0) { /* ENOMEM: out of memory maps */
        munmap(map, size + page);
        return NULL;
    }
    madvise(map, size + page, MADV_NOHUGEPAGE);
    return stack_setup(s, map + page, size, true, true);
}

static void free_own_map(struct uco__stacks *s, struct uco__stack *st)
{
    size_t page = uco__page_size();
    UCO_VG_STACK_DEREGISTER(st->vg_id);
    s->guarded--;
    munmap(st->lo - page, st->size + page);
    atomic_fetch_sub(&guarded_in_process, 1);
}

/* Maps a slab of stacks of one size (each slot: a guard page, then the stack) and puts all
 * but the first in the pool. guard: install guard markers. */
static struct uco__stack *new_slab(struct uco__stacks *s, unsigned p, size_t size, bool guard)
{
    size_t page = uco__page_size(), slot = size + page;
    size_t n = (2u << 20) / slot;
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    if (s->nslabs == s->slabs_cap) {
        size_t cap = s->slabs_cap ? s->slabs_cap * 2 : 16;
        struct uco__slab *v = realloc(s->slabs, cap * sizeof *v);
        if (!v) return NULL;
        s->slabs = v;
        s->slabs_cap = cap;
    }
    char *map = mmap(NULL, n * slot, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) return NULL;
    madvise(map, n * slot, MADV_NOHUGEPAGE);
    if (guard) {
        for (size_t i = 0; i < n; i++) {
            if (madvise(map + i * slot, page, MADV_GUARD_INSTALL) != 0) {
                munmap(map, n * slot);
                return NULL;
            }
        }
    }
    s->slabs[s->nslabs].base = map;
    s->slabs[s->nslabs].len = n * slot;
    s->nslabs++;
    struct uco__stack *first = NULL;
    for (size_t i = 0; i < n; i++) {
        struct uco__stack *st = stack_setup(s, map + i * slot + page, size, guard, false);
        if (!first) {
            first = st;
        } else {
            st->next = s->pool[p].free;
            s->pool[p].free = st;
            s->pool[p].nfree++;
        }
    }
    return first;
}

static int pool_index(struct uco__stacks *s, size_t size)
{
    for (unsigned i = 0; i < s->npools; i++)
        if (s->pool[i].size == size) return (int)i;
    if (s->npools == UCO__STACK_POOLS) return -1;
    s->pool[s->npools].size = size;
    return (int)s->npools++;
}

struct uco__stack *uco__stack_get(struct uco__stacks *s, size_t size)
{
    size_t page = uco__page_size();
    size = (size + page - 1) & ~(page - 1);
    int p = pool_index(s, size);
    if (p >= 0 && s->pool[p].free) {
        struct uco__stack *st = s->pool[p].free;
        s->pool[p].free = st->next;
        s->pool[p].nfree--;
        st->next = NULL;
        st->resident = true;
        return st;
    }
    if (s->markers && p >= 0) {
        struct uco__stack *st = new_slab(s, (unsigned)p, size, true);
        if (st || s->guard_always) return st;
    }
    if (atomic_fetch_add(&guarded_in_process, 1) < s->guard_limit) {
        struct uco__stack *st = new_own_map(s, size);
        if (st) return st;
    }
    atomic_fetch_sub(&guarded_in_process, 1);
    if (s->guard_always || p < 0) return NULL;
    return new_slab(s, (unsigned)p, size, false);
}

void uco__stack_put(struct uco__stacks *s, struct uco__stack *st)
{
    int p = pool_index(s, st->size);
    if (p < 0 || s->pool[p].nfree >= s->cache) {
        if (st->own_map) {
            free_own_map(s, st);
            return;
        }
        /* A slab stack stays in its slab: give its memory back, keep the range (and its
         * guard marker). The page holding the header (the top one) stays. */
        size_t page = uco__page_size();
        char *top_page = (char *)((uintptr_t)st & ~(page - 1));
        if (st->resident && top_page > st->lo)
            madvise(st->lo, (size_t)(top_page - st->lo), MADV_DONTNEED);
        st->resident = false;
        if (!st->guarded) *(uint64_t *)st->lo = s->canary_key ^ (uintptr_t)st->lo; /* zeroed */
        if (p < 0) return; /* only with more than UCO__STACK_POOLS sizes: the slab keeps it */
    }
    st->next = s->pool[p].free;
    s->pool[p].free = st;
    s->pool[p].nfree++;
}

void uco__stacks_fini(struct uco__stacks *s)
{
    for (unsigned p = 0; p < s->npools; p++) {
        for (struct uco__stack *st = s->pool[p].free, *next; st; st = next) {
            next = st->next;
            if (st->own_map)
                free_own_map(s, st);
            else
                UCO_VG_STACK_DEREGISTER(st->vg_id);
        }
        s->pool[p].free = NULL;
        s->pool[p].nfree = 0;
    }
    for (size_t i = 0; i < s->nslabs; i++)
        munmap(s->slabs[i].base, s->slabs[i].len);
    free(s->slabs);
    s->slabs = NULL;
    s->nslabs = 0;
}
