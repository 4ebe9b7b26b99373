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
    bool recv_limit; /* a multishot recv takes a byte limit (sqe->optlen; 6.18) */
    bool buffers_registered;
    unsigned files_registered; /* slots of the sparse fixed-file table (0: none) */
    uint16_t next_bgid;        /* next provided-buffer group id to hand out */
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
/* A ring of provided buffers (IORING_REGISTER_PBUF_RING, 5.19+): the kernel takes a buffer from
 * it for each receive that selects group bgid; the owner gives buffers back with
 * uco__bufring_put. entries is a power of two. */
struct uco__bufring {
    struct io_uring_buf_ring *br;
    size_t map_len;
    unsigned entries, mask;
    uint16_t bgid;
};

/* Maps and registers a buffer ring of entries (power of two, <= 32768) slots under a fresh
 * group id. Returns 0 or -errno (-EINVAL on kernels without buffer rings). */
int uco__bufring_init(struct uco__ring *r, struct uco__bufring *b, unsigned entries);
/* Unregisters and unmaps it (no receive may be using it any more). */
void uco__bufring_fini(struct uco__ring *r, struct uco__bufring *b);

/* Hands buffer bid (addr, len) to the kernel. No system call: two stores. */
static inline void uco__bufring_put(struct uco__bufring *b, void *addr, unsigned len, uint16_t bid)
{
    io_uring_buf_ring_add(b->br, addr, len, bid, (int)b->mask, 0);
    io_uring_buf_ring_advance(b->br, 1);
}

/* Registers a sparse fixed-file table of n slots, for operations that create direct
 * descriptors (IORING_FILE_INDEX_ALLOC). Once per ring; later calls return 0 if a table
 * exists. Returns 0 or -errno (-EMFILE: n above RLIMIT_NOFILE). */
int uco__ring_files_init(struct uco__ring *r, unsigned n);

/* user_data of SQEs whose completion nobody wants (their CQE is dropped). */
#define UCO__UDATA_IGNORE ((uint64_t)0)

#endif
