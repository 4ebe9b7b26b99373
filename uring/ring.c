/* One io_uring: setup with feature detection, SQE acquisition, batched CQE dispatch. */
#include "uring/ring.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <uco/ring.h>

/* Flags tried for each mode. SUBMIT_ALL keeps one bad SQE from stalling the rest of a batch;
 * CLAMP turns oversized queue sizes into the kernel's maximum instead of an error. */
static const unsigned mode_flags[] = {
    [UCO_RING_DEFER_TASKRUN] = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
    [UCO_RING_COOP_TASKRUN] = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    [UCO_RING_PLAIN] = 0,
};

static int try_setup(struct uco__ring *r, unsigned sq, unsigned cq, unsigned flags)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    p.cq_entries = cq;
    int ret = io_uring_queue_init_params(sq, &r->ring, &p);
    if (ret == -EINVAL && (flags & IORING_SETUP_SUBMIT_ALL)) {
        /* Kernels before 5.18 lack SUBMIT_ALL; everything else may still work. */
        memset(&p, 0, sizeof p);
        p.flags = (flags & ~IORING_SETUP_SUBMIT_ALL) | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.cq_entries = cq;
        ret = io_uring_queue_init_params(sq, &r->ring, &p);
    }
    if (ret < 0) return ret;
    r->setup_flags = p.flags;
    r->features = p.features;
    r->sq_entries = p.sq_entries;
    r->cq_entries = p.cq_entries;
    return 0;
}

/* Whether a multishot recv takes a byte limit (sqe->optlen, which shares its field with
 * file_index). Kernels without it refuse a non-zero field when they prepare the SQE (-EINVAL),
 * before they look at the descriptor; kernels with it get as far as the descriptor, -1 here
 * (-EBADF). Asked once, on the fresh ring with nothing else in flight, so that the answer is
 * the kernel's alone: a receive's own -EINVAL later is never taken for it. */
static bool probe_recv_limit(struct io_uring *ring)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) return false;
    io_uring_prep_recv_multishot(sqe, -1, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->file_index = 1; /* optlen: a limit of one byte */
    io_uring_sqe_set_data64(sqe, UCO__UDATA_IGNORE);
    int ret;
    do
        ret = io_uring_submit_and_wait(ring, 1);
    while (ret == -EINTR);
    struct io_uring_cqe *cqe;
    if (ret < 0 || io_uring_peek_cqe(ring, &cqe) != 0) return false;
    bool yes = cqe->res != -EINVAL;
    io_uring_cqe_seen(ring, cqe);
    return yes;
}

int uco__ring_init(struct uco__ring *r, unsigned sq_entries, unsigned cq_entries, unsigned mode)
{
    memset(r, 0, sizeof *r);
    if (mode > UCO_RING_PLAIN) return -EINVAL;
    int ret = -EINVAL;
    unsigned first = mode == UCO_RING_AUTO ? UCO_RING_DEFER_TASKRUN : mode;
    unsigned last = mode == UCO_RING_AUTO ? UCO_RING_PLAIN : mode;
    for (unsigned m = first; m <= last; m++) {
        ret = try_setup(r, sq_entries, cq_entries, mode_flags[m] | IORING_SETUP_SUBMIT_ALL);
        if (ret == 0) {
            r->mode = m;
            break;
        }
        /* Only "this kernel does not know that flag" moves on to the next mode; EPERM,
         * ENOSYS, ENOMEM mean io_uring itself is unavailable and are reported as they are. */
        if (ret != -EINVAL) return ret;
    }
    if (ret < 0) return ret;
    if (!(r->features & IORING_FEAT_NODROP)) {
        /* Without NODROP a CQ overflow loses completions, and with them the wake-up of the
         * task that waits; uco does not run on such kernels (before 5.5). */
        io_uring_queue_exit(&r->ring);
        return -EOPNOTSUPP;
    }
    r->probe = io_uring_get_probe_ring(&r->ring);
    r->recv_limit = probe_recv_limit(&r->ring);
    /* A registered ring fd saves an fdget/fdput per io_uring_enter. */
    r->registered_fd = io_uring_register_ring_fd(&r->ring) == 1;
    return 0;
}

void uco__ring_exit(struct uco__ring *r)
{
    if (r->probe) io_uring_free_probe(r->probe);
    r->probe = NULL;
    io_uring_queue_exit(&r->ring);
}

bool uco__ring_has_op(const struct uco__ring *r, unsigned opcode)
{
    if (!r->probe || opcode > r->probe->last_op) return false;
    return (r->probe->ops[opcode].flags & IO_URING_OP_SUPPORTED) != 0;
}

int uco__ring_submit(struct uco__ring *r)
{
    int ret;
    do {
        r->enters++;
        ret = io_uring_submit(&r->ring);
    } while (ret == -EINTR);
    return ret;
}

struct io_uring_sqe *uco__ring_sqe_full(struct uco__ring *r)
{
    for (int refused = 0;;) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
        if (sqe) {
            r->sqes++;
            return sqe;
        }
        /* SQ full: hand what is queued to the kernel and take a fresh slot. */
        int ret = uco__ring_submit(r);
        if (ret == -EBUSY || ret == -EAGAIN) {
            /* Old kernels refuse submissions while a CQ overflow is pending; EAGAIN is a
             * transient allocation failure. Completions are NOT dispatched from here: this
             * runs inside whatever took the SQE, and a completion function could free an
             * object that caller is using. Let the kernel flush what it holds into the CQ and
             * try again; if it keeps refusing, the caller gets -EBUSY and the loop's next turn
             * reaps. */
            r->enters++;
            io_uring_get_events(&r->ring);
            if (++refused == 4) return NULL;
        } else if (ret < 0) {
            return NULL;
        }
    }
}

int uco__ring_enter(struct uco__ring *r, bool wait, int64_t timeout_ns)
{
    int ret;
    r->enters++;
    if (!wait) {
        ret = io_uring_submit_and_get_events(&r->ring);
    } else if (timeout_ns < 0) {
        ret = io_uring_submit_and_wait(&r->ring, 1);
    } else {
        struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                       .tv_nsec = timeout_ns % 1000000000};
        struct io_uring_cqe *cqe;
        /* With IORING_FEAT_EXT_ARG (5.11+) the timeout rides on the same io_uring_enter. */
        ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
        if (ret == -ETIME) ret = 0;
    }
    if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY) ret = 0;
    return ret;
}

unsigned uco__ring_reap(struct uco__ring *r)
{
    /* The CQ's head and tail addresses, in locals: a completion function may write any memory,
     * so the compiler would load them again from r after every call. They never change. (The
     * CQE array and mask too, but two more callee-saved registers cost a one-CQE reap more
     * than they save.) */
    unsigned *khead = r->ring.cq.khead;
    const unsigned *ktail = r->ring.cq.ktail;
    unsigned n = 0;
    for (;;) {
        /* Read the ring directly: liburing's peek may enter the kernel to run task work,
         * and the loop wants exactly one io_uring_enter per turn. */
        unsigned head = *khead;
        while (head != io_uring_smp_load_acquire(ktail)) {
            struct io_uring_cqe *cqe = &r->ring.cq.cqes[head & r->ring.cq.ring_mask];
            uint64_t ud = cqe->user_data;
            int32_t res = cqe->res;
            uint32_t flags = cqe->flags;
            /* The kernel's restart codes (ERESTARTSYS 512 .. ERESTART_RESTARTBLOCK 516) are not
             * errnos, but io_uring passes them on for some ops interrupted in io-wq (a splice
             * into a full socket, cancelled): to a caller they mean EINTR. */
            if (__builtin_expect((uint32_t)res + 516u <= 4u, 0)) res = -EINTR;
            /* Consume the CQE before dispatching it, so that a completion function may itself
             * take SQEs, submit or reap (reentrancy) and the ring never yields a CQE twice. */
            io_uring_smp_store_release(khead, ++head);
            n++;
            if (ud != UCO__UDATA_IGNORE && ud != LIBURING_UDATA_TIMEOUT) {
                struct uco__comp *c = (struct uco__comp *)(uintptr_t)ud;
                c->fn(c, res, flags);
            }
            head = *khead; /* a nested reap may have moved it */
        }
        /* With IORING_FEAT_NODROP the kernel keeps CQEs that did not fit; the next
         * io_uring_enter with GETEVENTS moves them into the CQ. Nothing is lost. */
        if (!io_uring_cq_has_overflow(&r->ring)) break;
        r->overflows++;
        r->enters++;
        io_uring_get_events(&r->ring);
    }
    r->cqes += n;
    return n;
}

int uco__bufring_init(struct uco__ring *r, struct uco__bufring *b, unsigned entries)
{
    memset(b, 0, sizeof *b);
    if (entries == 0 || entries > 32768 || (entries & (entries - 1))) return -EINVAL;
    size_t len = (size_t)entries * sizeof(struct io_uring_buf);
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) return -ENOMEM;
    b->br = map;
    b->map_len = len;
    b->entries = entries;
    b->mask = entries - 1;
    b->bgid = r->next_bgid++;
    io_uring_buf_ring_init(b->br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)map;
    reg.ring_entries = entries;
    reg.bgid = b->bgid;
    int ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
    if (ret < 0) {
        munmap(map, len);
        b->br = NULL;
        return ret;
    }
    return 0;
}

void uco__bufring_fini(struct uco__ring *r, struct uco__bufring *b)
{
    if (!b->br) return;
    io_uring_unregister_buf_ring(&r->ring, b->bgid);
    munmap(b->br, b->map_len);
    b->br = NULL;
}

int uco__ring_files_init(struct uco__ring *r, unsigned n)
{
    if (r->files_registered) return 0;
    if (n == 0) return -EINVAL;
    int ret = io_uring_register_files_sparse(&r->ring, n);
    if (ret < 0) return ret;
    r->files_registered = n;
    return 0;
}
