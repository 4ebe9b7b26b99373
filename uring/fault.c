/* Fault injection for tests: forced failures and short transfers, applied to SQEs. */
#include "uring/fault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <uco/async.h>

int uco__fault_add(struct uco__faults *f, const uco_fault *rule)
{
    if (!rule || rule->op >= UCO_OP__COUNT || rule->error < 0 || rule->fd < -1) return -EINVAL;
    /* Worker jobs, joins, sleeps and channel ops have no SQE: a rule for them could never act. */
    if (rule->op == UCO_OP_WORK || rule->op == UCO_OP_JOIN || rule->op == UCO_OP_SLEEP ||
        rule->op == UCO_OP_CHAN_SEND || rule->op == UCO_OP_CHAN_RECV)
        return -EINVAL;
    if (rule->error == 0 && rule->max_len == 0) return -EINVAL; /* would do nothing */
    if (f->n == UCO__FAULT_MAX) return -ENOSPC;
    memset(&f->r[f->n], 0, sizeof f->r[f->n]);
    f->r[f->n].rule = *rule;
    return (int)f->n++;
}

/* Copies iov[0..cnt) keeping at most max bytes; returns the new count (>= 1). */
static unsigned clamp_iov(struct iovec *dst, const struct iovec *src, unsigned cnt, size_t max)
{
    unsigned i = 0;
    size_t total = 0;
    for (; i < cnt && total < max; i++) {
        dst[i] = src[i];
        if (total + dst[i].iov_len > max) dst[i].iov_len = max - total;
        total += dst[i].iov_len;
    }
    return i ? i : 1;
}

static bool clamp(struct io_uring_sqe *sqe, size_t max, void **mem)
{
    switch (sqe->opcode) {
    case IORING_OP_READ:
    case IORING_OP_WRITE:
    case IORING_OP_READ_FIXED:
    case IORING_OP_WRITE_FIXED:
    case IORING_OP_SEND:
    case IORING_OP_RECV:
    case IORING_OP_SEND_ZC:
    case IORING_OP_SPLICE:
    case IORING_OP_TEE:
        if (sqe->len > max) sqe->len = (unsigned)max;
        return true;
    case IORING_OP_READV:
    case IORING_OP_WRITEV: {
        const struct iovec *src = (const struct iovec *)(uintptr_t)sqe->addr;
        struct iovec *dst = malloc(sizeof *dst * (sqe->len ? sqe->len : 1));
        if (!dst) return false;
        sqe->len = clamp_iov(dst, src, sqe->len, max);
        sqe->addr = (uintptr_t)dst;
        *mem = dst;
        return true;
    }
    case IORING_OP_SENDMSG:
    case IORING_OP_RECVMSG: {
        const struct msghdr *src = (const struct msghdr *)(uintptr_t)sqe->addr;
        size_t cnt = src->msg_iovlen ? src->msg_iovlen : 1;
        struct msghdr *dst = malloc(sizeof *dst + sizeof(struct iovec) * cnt);
        if (!dst) return false;
        *dst = *src;
        struct iovec *iov = (struct iovec *)(dst + 1);
        dst->msg_iovlen = clamp_iov(iov, src->msg_iov, (unsigned)src->msg_iovlen, max);
        dst->msg_iov = iov;
        sqe->addr = (uintptr_t)dst;
        *mem = dst;
        return true;
    }
    default:
        return false; /* no length to clamp */
    }
}

/* The rule that acts on an operation (kind, fd), which counts as seen by it; -1: none does
 * (no rule matches, or the first that matches lets this one through). The caller counts a hit
 * when the rule acts. */
static int rule_for(struct uco__faults *f, unsigned kind, int fd)
{
    for (unsigned i = 0; i < f->n; i++) {
        const uco_fault *rule = &f->r[i].rule;
        if (rule->op != UCO_OP_ANY && rule->op != kind) continue;
        if (rule->fd != -1 && rule->fd != fd) continue;
        if (rule->count && f->r[i].hits >= rule->count) continue; /* spent */
        if (f->r[i].seen++ < rule->skip) return -1;
        return (int)i;
    }
    return -1;
}

int uco__fault_apply(struct uco__faults *f, unsigned kind, int fd, struct io_uring_sqe *sqe,
                     int32_t *forced, void **mem)
{
    int i = rule_for(f, kind, fd);
    if (i < 0) return UCO__FAULT_NONE;
    const uco_fault *rule = &f->r[i].rule;
    if (rule->error) {
        uint64_t ud = sqe->user_data;
        io_uring_prep_nop(sqe);
        sqe->user_data = ud;
        *forced = -rule->error;
        f->r[i].hits++;
        return UCO__FAULT_FAIL;
    }
    if (!clamp(sqe, rule->max_len, mem)) return UCO__FAULT_NONE;
    f->r[i].hits++;
    return UCO__FAULT_SHORT;
}

int uco__fault_sync(struct uco__faults *f, unsigned kind, int fd, size_t *len, int32_t *forced)
{
    int i = rule_for(f, kind, fd);
    if (i < 0) return UCO__FAULT_NONE;
    const uco_fault *rule = &f->r[i].rule;
    f->r[i].hits++;
    if (rule->error) {
        *forced = -rule->error;
        return UCO__FAULT_FAIL;
    }
    if (*len > rule->max_len) *len = rule->max_len;
    return UCO__FAULT_SHORT;
}
