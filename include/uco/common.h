/* uco — definitions shared by every public header. */
#ifndef UCO_COMMON_H
#define UCO_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
#define UCO_BEGIN_DECLS extern "C" {
#define UCO_END_DECLS   }
#else
#define UCO_BEGIN_DECLS
#define UCO_END_DECLS
#endif

#if defined(UCO_BUILDING)
#define UCO_API __attribute__((visibility("default")))
#else
#define UCO_API
#endif

/* Times are int64_t nanoseconds. Deadlines are absolute CLOCK_MONOTONIC times (see uco_now()). */
#define UCO_NSEC    ((int64_t)1)
#define UCO_USEC    ((int64_t)1000)
#define UCO_MSEC    ((int64_t)1000000)
#define UCO_SEC     ((int64_t)1000000000)
/* "No deadline": the largest time. */
#define UCO_FOREVER INT64_MAX

#endif
