/* Counts the process's heap allocations, for "no heap allocation per operation" checks.
 * Linked into the benchmark programs that report allocations per operation: it defines
 * malloc and friends in the executable, which take precedence over libc's for every caller
 * (the library, liburing, libc itself) and forward to glibc's allocator. Compiled to nothing
 * under sanitizers, which bring their own allocator: allocations are then reported unknown. */
#include "bench_util.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BENCH_NO_MALLOC_COUNT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define BENCH_NO_MALLOC_COUNT 1
#endif
#endif

#ifndef BENCH_NO_MALLOC_COUNT

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);

static _Atomic uint64_t allocations;

static inline void counted(void)
{
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

uint64_t bench_mallocs(void)
{
    return atomic_load_explicit(&allocations, memory_order_relaxed);
}

void *malloc(size_t size)
{
    counted();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    counted();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    counted();
    return __libc_realloc(p, size);
}

void *memalign(size_t align, size_t size)
{
    counted();
    return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
    counted();
    return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1))) return EINVAL;
    counted();
    void *p = __libc_memalign(align, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

#endif
