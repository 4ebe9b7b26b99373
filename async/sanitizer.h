/* Announcing stack switches to AddressSanitizer, ThreadSanitizer and Valgrind, so that each of
 * them works unchanged on coroutine code. All of it compiles to nothing in a plain build. */
#ifndef UCO_ASYNC_SANITIZER_H
#define UCO_ASYNC_SANITIZER_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define UCO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UCO_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define UCO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UCO_TSAN 1
#endif
#endif

#ifdef UCO_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
#endif

#ifdef UCO_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#ifdef UCO_HAVE_VALGRIND_H
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define UCO_VG_STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER(lo, hi)
#define UCO_VG_STACK_DEREGISTER(id)   VALGRIND_STACK_DEREGISTER(id)
#define UCO_VG_MAKE_DEFINED(p, n)     VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define UCO_VG_STACK_REGISTER(lo, hi) 0u
#define UCO_VG_STACK_DEREGISTER(id)   ((void)(id))
#define UCO_VG_MAKE_DEFINED(p, n)     ((void)(p), (void)(n))
#endif

#endif
