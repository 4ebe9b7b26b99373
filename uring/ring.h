/* uring/ — one io_uring per loop: setup with feature detection, SQE acquisition, batched CQE
 * dispatch. This layer knows nothing of coroutines: each SQE's user_data is the address of a
 * struct uco__comp, whose function receives the CQE. */
#ifndef UCO_URING_RING_H
#define UCO_URING_RING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "uring/abi.h"

struct uco__comp;
typedef void uco__comp_fn(struct uco__comp *c, int32_t res, uint32_t flags);

/* What an SQE's user_data points to. Embedded in ops, listeners, connections... */
struct uco__comp {
    uco__comp_fn *fn;
};

struct uco__ring {
    struct io_uring ring;
    struct io_uring_probe *probe;
    unsigned mode;        /* enum uco_ring_mode actually used */
    unsigned setup_flags; /* IORING_SETUP_* */
    unsigned features;    /* IORING_FEAT_* */
    unsigned sq_entries, cq_entries;
    bool registered_fd;
    bool buffers_registered;
    uint64_t enters, sqes, cqes, overflows;
};

/* Sets up a ring: mode is enum uco_ring_mode (AUTO tries DEFER_TASKRUN, then COOP_TASKRUN,
 * then plain). Returns 0 or the -errno of io_uring_setup (see uco_diagnose). */
int uco__ring_init(struct uco__ring *r, unsigned sq_entries, unsigned cq_entries, unsigned mode);
void uco__ring_exit(struct uco__ring *r);

/* A free SQE, flushing queued ones to the kernel when the SQ is full. NULL only when the kernel
 * refuses submissions for good (the caller returns -EBUSY). The SQE is zeroed by liburing's
 * prep helpers, not here. */
static inline struct io_uring_sqe *uco__ring_sqe(struct uco__ring *r);
/* The slow path of uco__ring_sqe: the SQ is full. */
struct io_uring_sqe *uco__ring_sqe_full(struct uco__ring *r);

/* Submits queued SQEs and processes completions; waits for at least one CQE when wait is true,
 * for at most timeout_ns (< 0: no limit). One io_uring_enter. Returns >= 0 or -errno. */
int uco__ring_enter(struct uco__ring *r, bool wait, int64_t timeout_ns);

/* Submits queued SQEs without waiting. */
int uco__ring_submit(struct uco__ring *r);

/* Hands every available CQE to its completion, flushing a CQ overflow if the kernel kept one.
 * Reentrant: a completion function may take SQEs. Returns the number of CQEs. */
unsigned uco__ring_reap(struct uco__ring *r);

bool uco__ring_has_op(const struct uco__ring *r, unsigned opcode);

/* Inline: every awaitable takes an SQE. */
static inline struct io_uring_sqe *uco__ring_sqe(struct uco__ring *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (__builtin_expect(sqe == NULL, 0)) return uco__ring_sqe_full(r);
    r->sqes++;
    return sqe;
}

/* SQEs taken and not yet submitted. */
static inline unsigned uco__ring_sq_pending(const struct uco__ring *r)
{
    return io_uring_sq_ready(&r->ring);
}

/* user_data of SQEs whose completion nobody wants (their CQE is dropped). */
#define UCO__UDATA_IGNORE ((uint64_t)0)

#endif
