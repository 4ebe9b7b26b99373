/* Task stacks. A stack is one of:
 *   guarded   - its own mapping, the lowest page PROT_NONE: an overflow faults at once
 *               (SIGSEGV) instead of corrupting a neighbour. Costs two kernel memory maps
 *               (VMAs), and the process may only have vm.max_map_count of them (65530 by
 *               default), so at most a budget of stacks is guarded (a quarter of the limit:
 *               ~16,000 stacks, using half of the maps);
 *   unguarded - carved from a shared slab mapping once the budget is used, for the next
 *               hundreds of thousands of tasks. Its lowest 8 bytes hold a canary checked at
 *               every switch away from the task and when the stack is released: an overflow
 *               is reported, naming the task, and the process aborts, since memory has been
 *               overwritten.
 * Every stack also keeps its header at the top of its own memory (no heap per stack), is
 * registered with Valgrind, is never backed by transparent huge pages, and is pooled: a
 * finished task's stack goes to the next task of the same size without a system call. Free
 * stacks above the cache size give their memory back (munmap for guarded ones, MADV_DONTNEED
 * for slab ones). */
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

/* Guarded stacks of all loops in the process, against one shared map budget. */
static _Atomic size_t guarded_in_process;

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

int uco__stacks_init(struct uco__stacks *s, size_t cache, size_t guarded_opt)
{
    memset(s, 0, sizeof *s);
    s->cache = cache;
    if (guarded_opt == SIZE_MAX) {
        s->guard_limit = SIZE_MAX;
        s->guard_always = true;
    } else {
        s->guard_limit = guarded_opt ? guarded_opt : max_map_count() / 4;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s->canary_key = 0x9e3779b97f4a7c15ull ^ ((uint64_t)ts.tv_nsec << 20) ^ (uintptr_t)s;
    return 0;
}

static void stack_setup(struct uco__stacks *s, struct uco__stack *st, char *lo, size_t size,
                        bool guarded)
{
    st->next = NULL;
    st->lo = lo;
    st->size = size;
    st->guarded = guarded;
    st->resident = true;
    st->vg_id = UCO_VG_STACK_REGISTER(lo, lo + size);
    /* The guard page catches overflows of guarded stacks: writing their canary would only make
     * their lowest page resident, 4 KiB per task for nothing. */
    if (!guarded) *(uint64_t *)lo = s->canary_key ^ (uintptr_t)lo;
}

static struct uco__stack *header_of(char *lo, size_t size)
{
    uintptr_t top = (uintptr_t)lo + size - sizeof(struct uco__stack);
    return (struct uco__stack *)(top & ~(uintptr_t)15);
}

static struct uco__stack *new_guarded(struct uco__stacks *s, size_t size)
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
    struct uco__stack *st = header_of(map + page, size);
    stack_setup(s, st, map + page, size, true);
    return st;
}

static void free_guarded(struct uco__stacks *s, struct uco__stack *st)
{
    size_t page = uco__page_size();
    UCO_VG_STACK_DEREGISTER(st->vg_id);
    munmap(st->lo - page, st->size + page);
    atomic_fetch_sub(&guarded_in_process, 1);
    s->guarded--;
}

/* Maps a slab of unguarded stacks of one size and puts all but one in the pool. */
static struct uco__stack *new_slab(struct uco__stacks *s, unsigned p, size_t size)
{
    size_t n = (2u << 20) / size;
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    if (s->nslabs == s->slabs_cap) {
        size_t cap = s->slabs_cap ? s->slabs_cap * 2 : 16;
        void **v = realloc(s->slabs, cap * 2 * sizeof *v);
        if (!v) return NULL;
        s->slabs = v;
        s->slabs_cap = cap;
    }
    char *map = mmap(NULL, n * size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) return NULL;
    madvise(map, n * size, MADV_NOHUGEPAGE);
    s->slabs[2 * s->nslabs] = map;
    s->slabs[2 * s->nslabs + 1] = (void *)(uintptr_t)(n * size);
    s->nslabs++;
    struct uco__stack *first = NULL;
    for (size_t i = 0; i < n; i++) {
        struct uco__stack *st = header_of(map + i * size, size);
        stack_setup(s, st, map + i * size, size, false);
        s->unguarded++;
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
    if (atomic_fetch_add(&guarded_in_process, 1) < s->guard_limit) {
        struct uco__stack *st = new_guarded(s, size);
        if (st) {
            s->guarded++;
            return st;
        }
        atomic_fetch_sub(&guarded_in_process, 1);
        if (s->guard_always) return NULL;
    } else {
        atomic_fetch_sub(&guarded_in_process, 1);
        if (s->guard_always) return NULL;
    }
    if (p < 0) return NULL; /* too many distinct sizes to pool unguarded stacks */
    return new_slab(s, (unsigned)p, size);
}

void uco__stack_put(struct uco__stacks *s, struct uco__stack *st)
{
    int p = pool_index(s, st->size);
    if (p < 0 || s->pool[p].nfree >= s->cache) {
        if (st->guarded) {
            free_guarded(s, st);
            return;
        }
        /* A slab stack cannot leave its slab: give its memory back, keep the address range.
         * The page holding the header (the top one) stays. */
        size_t page = uco__page_size();
        char *top_page = (char *)((uintptr_t)st & ~(page - 1));
        if (st->resident && top_page > st->lo)
            madvise(st->lo, (size_t)(top_page - st->lo), MADV_DONTNEED);
        st->resident = false;
        *(uint64_t *)st->lo = s->canary_key ^ (uintptr_t)st->lo; /* DONTNEED zeroed it */
        if (p < 0) return; /* leaks the range until the loop ends; only with > 8 sizes */
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
            if (st->guarded)
                free_guarded(s, st);
            else
                UCO_VG_STACK_DEREGISTER(st->vg_id);
        }
        s->pool[p].free = NULL;
        s->pool[p].nfree = 0;
    }
    for (size_t i = 0; i < s->nslabs; i++)
        munmap(s->slabs[2 * i], (size_t)(uintptr_t)s->slabs[2 * i + 1]);
    free(s->slabs);
    s->slabs = NULL;
    s->nslabs = 0;
}
