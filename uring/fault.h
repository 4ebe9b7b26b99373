/* Fault injection: make chosen operations fail or come back short (tests only). */
#ifndef UCO_URING_FAULT_H
#define UCO_URING_FAULT_H

#include <liburing.h>
#include <stdbool.h>
#include <uco/ring.h>

#define UCO__FAULT_MAX 16

struct uco__faults {
    struct {
        uco_fault rule;
        unsigned seen; /* matching operations so far */
        unsigned hits; /* operations acted on */
    } r[UCO__FAULT_MAX];
    unsigned n;
};

enum { UCO__FAULT_NONE = 0, UCO__FAULT_FAIL = 1, UCO__FAULT_SHORT = 2 };

/* Applies the first rule matching (kind, fd) to a prepared SQE. FAIL: the SQE became a NOP and
 * *forced holds the -errno to report. SHORT: the SQE's length was clamped; *mem may hold memory
 * (a truncated iovec or msghdr copy) to free() once the operation has completed. */
int uco__fault_apply(struct uco__faults *f, unsigned kind, int fd, struct io_uring_sqe *sqe,
                     int32_t *forced, void **mem);

/* The same for an operation made as a plain system call of len bytes (kind: what the ring's
 * operation would be): FAIL sets *forced; SHORT clamps *len. */
int uco__fault_sync(struct uco__faults *f, unsigned kind, int fd, size_t *len, int32_t *forced);

int uco__fault_add(struct uco__faults *f, const uco_fault *rule);

#endif
