/* Helpers for uco's cmocka tests.
 *
 * cmocka's assert_*() must not be used inside a task: on failure they longjmp off the task's
 * stack, leaving the loop half-way through a turn. Inside tasks use T_CHECK / T_CHECK_EQ, which
 * record the first failure and make the task return; the test function then calls
 * t_run() / t_assert_ok(), which fail the cmocka test with the recorded message. */
#ifndef UCO_TEST_UTIL_H
#define UCO_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <uco.h>

/* T_ASAN / T_TSAN: built with AddressSanitizer / ThreadSanitizer. */
#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif

static char t_failure[512];

static inline void t_fail(const char *file, int line, const char *fmt, ...)
{
    if (t_failure[0]) return; /* keep the first */
    int n = snprintf(t_failure, sizeof t_failure, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_failure + n, sizeof t_failure - (size_t)n, fmt, ap);
    va_end(ap);
}

#define T_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            t_fail(__FILE__, __LINE__, "check failed: %s", #cond);                                 \
            return -1000;                                                                          \
        }                                                                                          \
    } while (0)

#define T_CHECK_EQ(a, b)                                                                           \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            t_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_);         \
            return -1000;                                                                          \
        }                                                                                          \
    } while (0)

/* Fails the cmocka test if a task recorded a failure. */
static inline void t_assert_ok(void)
{
    if (t_failure[0]) {
        char copy[sizeof t_failure];
        memcpy(copy, t_failure, sizeof copy);
        t_failure[0] = 0;
        fail_msg("%s", copy);
    }
}

/* Runs fn(arg) as the first task of a new loop (opts may be NULL) until every task ended,
 * checks that nothing failed and returns fn's result. */
static inline intptr_t t_run(uco_task_fn *fn, void *arg, const uco_loop_opts *opts)
{
    t_failure[0] = 0;
    intptr_t r = uco_run(fn, arg, opts);
    t_assert_ok();
    return r;
}

/* Skips the whole executable (ctest shows it as skipped) with a reason. */
static inline void t_skip_all(const char *why)
{
    printf("SKIP: %s\n", why);
    fflush(stdout);
    exit(77);
}

#endif
