/* Operations: arming an SQE, completion, waiting for one or several ops (WhenAll/WhenAny),
 * cancellation that always waits for the op's own completion. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async/internal.h"

/* uco_op arrays are read as arrays of the private type they hold. */
typedef struct uco__op *uco__op_ptr __attribute__((may_alias));

/* The rare cases of a completion: fault injection and kernel timeouts. */
static __attribute__((noinline)) int32_t complete_special(struct uco__op *op, int32_t res)
{
    if (op->flags & UCO__OF_FORCED) res = (int32_t)op->result;
    if (op->flags & UCO__OF_FAULT_MEM) {
        free(op->fault_mem);
        op->fault_mem = NULL;
        op->flags &= (uint8_t)~UCO__OF_FAULT_MEM;
    }
    if ((op->flags & UCO__OF_ETIME) && res == -ETIME) res = 0; /* expiry is its success */
    return res;
}

void uco__op_complete(struct uco__comp *c, int32_t res, uint32_t flags)
{
    struct uco__op *op = UCO__CONTAINER_OF(c, struct uco__op, comp);
    op->task->loop->inflight--;
    if (UCO__UNLIKELY(op->flags & (UCO__OF_FORCED | UCO__OF_FAULT_MEM | UCO__OF_ETIME)))
        res = complete_special(op, res);
    op->cqe_flags = flags;
    uco__op_finish(op, res);
}

void uco__op_finish(struct uco__op *op, int64_t res)
{
    op->result = res;
    op->state = UCO__OS_DONE;
    struct uco__waitset *ws = op->ws;
    op->ws = NULL;
    if (ws == UCO__WAITED_ALONE) uco__ready(op->task);
    /* remaining == 0: a wait_any already woke its task; later completions just record. */
    else if (ws && ws->remaining && --ws->remaining == 0)
        uco__ready(ws->task);
}

void uco__op_arm(struct uco_loop *l, struct uco__op *op, struct io_uring_sqe *sqe, unsigned kind,
                 int fd)
{
    op->comp.fn = uco__op_complete;
    op->kind = (uint8_t)kind;
    op->fd = fd;
    op->state = UCO__OS_INFLIGHT;
    op->ws = NULL;
    op->fault_mem = NULL;
    op->cqe_flags = 0;
    io_uring_sqe_set_data(sqe, &op->comp);
    l->inflight++;
    if (kind == UCO_OP_TIMEOUT) op->flags |= UCO__OF_ETIME;
    if (UCO__UNLIKELY(l->faults.n)) {
        int32_t forced = 0;
        if (uco__fault_apply(&l->faults, kind, fd, sqe, &forced, &op->fault_mem) ==
            UCO__FAULT_FAIL) {
            op->flags |= UCO__OF_FORCED;
            op->result = forced;
        }
        if (op->fault_mem) op->flags |= UCO__OF_FAULT_MEM;
    }
}

static void ignore_complete(struct uco__comp *c, int32_t res, uint32_t flags)
{
    (void)res;
    (void)flags;
    UCO__CONTAINER_OF(c, struct uco_loop, ignore_comp)->internal--;
}

void uco__loop_init_ignore(struct uco_loop *l)
{
    l->ignore_comp.fn = ignore_complete;
}

void uco__op_cancel_issue(struct uco__op *op)
{
    if (op->state != UCO__OS_INFLIGHT || (op->flags & (UCO__OF_CANCEL_SENT | UCO__OF_NOCANCEL)))
        return;
    op->flags |= UCO__OF_CANCEL_SENT;
    struct uco_loop *l = op->task->loop;
    switch (op->kind) {
    case UCO_OP_WORK:
        if (uco__pool_cancel(op)) {
            l->jobs_pending--;
            uco__op_finish(op, -ECANCELED);
        }
        return; /* already running: it will finish on its own */
    case UCO_OP_JOIN:
        uco__join_cancel(op);
        return;
    case UCO_OP_CHAN_SEND:
    case UCO_OP_CHAN_RECV:
        uco__chan_op_cancel(op);
        return;
    default: {
        struct io_uring_sqe *sqe = uco__sqe(l);
        if (!sqe) return; /* the op will still complete; we just wait longer */
        io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&op->comp, 0);
        io_uring_sqe_set_data(sqe, &l->ignore_comp);
        l->internal++;
        return;
    }
    }
}

/* Interrupting a task parked on ops: cancel each pending op, then wait for all of them. */
static void ops_interrupt(struct uco_task *t)
{
    struct uco__waitset *ws = t->park_obj;
    size_t pending = 0;
    for (size_t i = 0; i < ws->n; i++)
        if (ws->ops[i]->state == UCO__OS_INFLIGHT && ws->ops[i]->ws == ws) pending++;
    ws->any = false;
    ws->remaining = pending;
    if (!pending) {
        uco__ready(t);
        return;
    }
    for (size_t i = 0; i < ws->n; i++)
        if (ws->ops[i]->state == UCO__OS_INFLIGHT && ws->ops[i]->ws == ws)
            uco__op_cancel_issue(ws->ops[i]); /* may finish it at once (queued job) */
}

/* Interrupting a task parked on one op it waits for alone: cancel it, then wait for it. */
static void op_interrupt(struct uco_task *t)
{
    struct uco__op *op = t->park_obj;
    if (op->state == UCO__OS_INFLIGHT && op->ws == UCO__WAITED_ALONE)
        uco__op_cancel_issue(op); /* may finish it at once (queued job) */
    else
        uco__ready(t);
}

/* Parks t on obj (park: PK_OPS, obj a waitset whose pending ops already point to it; or
 * PK_OP, obj the op waited for alone) until the ops wake it; interruptible. Returns 0, or the
 * -errno of the interrupt. */
static inline __attribute__((always_inline)) int park_ops(struct uco_task *t, uint8_t park,
                                                          void *obj)
{
    void (*interrupt_fn)(struct uco_task *) = park == UCO__PK_OP ? op_interrupt : ops_interrupt;
    t->park = park;
    t->park_obj = obj;
    t->interrupt_fn = interrupt_fn;
    t->state = UCO__TS_PARKED;
    if (UCO__UNLIKELY(t->cancel_res || t->scope_expired)) {
        /* Interrupted before it began to wait (e.g. cancelled while running): cancel now. */
        t->flags |= UCO__TF_INTERRUPTED;
        t->intr_res = t->cancel_res ? t->cancel_res : -ETIMEDOUT;
        interrupt_fn(t);
    }
    uco__park(t);
    if (t->flags & UCO__TF_INTERRUPTED) {
        t->flags &= (uint8_t)~UCO__TF_INTERRUPTED;
        return t->intr_res;
    }
    return 0;
}

int uco__wait(struct uco_task *t, struct uco__op **ops, size_t n, bool any)
{
    if (n == 1) {
        /* One op: no waitset, its completion wakes its owner (the waiting task). */
        if (ops[0]->state != UCO__OS_INFLIGHT) return 0;
        assert(ops[0]->task == t); /* only an op's owner waits for it */
        ops[0]->ws = UCO__WAITED_ALONE;
        int r = park_ops(t, UCO__PK_OP, ops[0]);
        if (ops[0]->ws == UCO__WAITED_ALONE) ops[0]->ws = NULL;
        return r;
    }
    struct uco__waitset ws = {.task = t, .ops = ops, .n = n, .any = any};
    size_t pending = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i]->state == UCO__OS_INFLIGHT) pending++;
    if (pending == 0 || (any && pending < n)) return 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i]->state == UCO__OS_INFLIGHT) ops[i]->ws = &ws;
    ws.remaining = any ? 1 : pending;
    int r = park_ops(t, UCO__PK_OPS, &ws);
    for (size_t i = 0; i < n; i++)
        if (ops[i]->ws == &ws) ops[i]->ws = NULL;
    return r;
}

int64_t uco__await_sqe(struct uco_task *t, struct io_uring_sqe *sqe, unsigned kind, int fd,
                       uint32_t *cqe_flags)
{
    struct uco__op op;
    op.flags = 0;
    op.task = t;
    uco__op_arm(t->loop, &op, sqe, kind, fd);
    /* uco__wait for one op, inlined: this is every plain await. */
    op.ws = UCO__WAITED_ALONE;
    int r = park_ops(t, UCO__PK_OP, &op);
    int64_t res = op.result;
    /* Interrupted: report why, unless the op got to finish with a result of its own. */
    if (UCO__UNLIKELY(r < 0) && uco__res_interrupted(res)) res = r;
    if (cqe_flags) *cqe_flags = op.cqe_flags;
    return res;
}

int64_t uco__await_sqe_nocancel(struct uco_task *t, struct io_uring_sqe *sqe, unsigned kind, int fd)
{
    struct uco__op op;
    op.flags = UCO__OF_NOCANCEL;
    op.task = t;
    uco__op_arm(t->loop, &op, sqe, kind, fd);
    struct uco__op *p = &op;
    uco__wait(t, &p, 1, false);
    return op.result;
}

/* ---- started ops ---------------------------------------------------------------------- */

static void started_link(struct uco_task *t, struct uco__op *op)
{
    op->tprev = NULL;
    op->tnext = t->started;
    if (t->started) t->started->tprev = op;
    t->started = op;
}

static void started_unlink(struct uco_task *t, struct uco__op *op)
{
    if (op->tprev)
        op->tprev->tnext = op->tnext;
    else
        t->started = op->tnext;
    if (op->tnext) op->tnext->tprev = op->tprev;
    op->tnext = op->tprev = NULL;
}

void uco__op_start_sqe(struct uco_task *t, struct uco__op *op, struct io_uring_sqe *sqe,
                       unsigned kind, int fd)
{
    op->flags = UCO__OF_STARTED;
    op->task = t;
    started_link(t, op);
    uco__op_arm(t->loop, op, sqe, kind, fd);
}

/* Puts an op the caller prepared itself (join, work) on the started list. */
void uco__op_start_other(struct uco_task *t, struct uco__op *op)
{
    op->flags |= UCO__OF_STARTED;
    started_link(t, op);
}

void uco__drain_started(struct uco_task *t)
{
    while (t->started) {
        struct uco__op *op = t->started;
        if (op->state == UCO__OS_INFLIGHT) {
            uco__op_cancel_issue(op);
            struct uco__op *p = op;
            uco__wait(t, &p, 1, false);
        }
        started_unlink(t, op);
        op->state = UCO__OS_CONSUMED;
    }
}

/* 0 for an op the calling task may wait for; -EINVAL if it is not a started op still to be
 * waited for, -EPERM if it is another task's. */
static int mine(struct uco_task *t, struct uco__op *op)
{
    if (!op || !(op->flags & UCO__OF_STARTED) ||
        (op->state != UCO__OS_INFLIGHT && op->state != UCO__OS_DONE))
        return -EINVAL;
    return op->task == t ? 0 : -EPERM;
}

static int64_t consume(struct uco_task *t, struct uco__op *op)
{
    started_unlink(t, op);
    op->state = UCO__OS_CONSUMED;
    return op->result;
}

int64_t uco_op_wait(uco_op *uop)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_op_wait");
    struct uco__op *op = uop ? uco__op_of(uop) : NULL;
    int r = mine(t, op);
    if (r) return r;
    if (op->state == UCO__OS_INFLIGHT) r = uco__wait(t, &op, 1, false);
    int64_t res = consume(t, op);
    if (r < 0 && uco__res_interrupted(res)) res = r;
    if (op->kind == UCO_OP_JOIN && op->cqe_flags != 1) {
        /* An interrupted join: the task was not released. */
        return r < 0 ? r : -ECANCELED;
    }
    return res;
}

static int check_array(struct uco_task *t, uco_op *const ops[], size_t n)
{
    if (!ops || n == 0) return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int r = mine(t, ops[i] ? uco__op_of(ops[i]) : NULL);
        if (r) return r;
    }
    return 0;
}

int uco_op_wait_all(uco_op *const ops[], size_t n)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_op_wait_all");
    int r = check_array(t, ops, n);
    if (r) return r;
    return uco__wait(t, (struct uco__op **)(uco__op_ptr *)ops, n, false);
}

int64_t uco_op_wait_any(uco_op *const ops[], size_t n)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_op_wait_any");
    int r = check_array(t, ops, n);
    if (r) return r;
    r = uco__wait(t, (struct uco__op **)(uco__op_ptr *)ops, n, true);
    if (r < 0) return r;
    for (size_t i = 0; i < n; i++)
        if (uco__op_of(ops[i])->state == UCO__OS_DONE) return (int64_t)i;
    return -EIO; /* unreachable: woken with nothing done */
}

int64_t uco_op_result(uco_op *uop)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_op_result");
    struct uco__op *op = uop ? uco__op_of(uop) : NULL;
    int r = mine(t, op);
    if (r) return r;
    if (op->state != UCO__OS_DONE) return -EINVAL;
    if (op->kind == UCO_OP_JOIN && op->cqe_flags != 1) {
        consume(t, op);
        return -ECANCELED;
    }
    return consume(t, op);
}

bool uco_op_done(const uco_op *uop)
{
    return uop && ((const struct uco__op *)(const void *)uop)->state == UCO__OS_DONE;
}

int uco_op_cancel(uco_op *uop)
{
    struct uco_task *t = uco__self();
    if (!t) return uco__not_in_task("uco_op_cancel");
    struct uco__op *op = uop ? uco__op_of(uop) : NULL;
    int r = mine(t, op);
    if (r) return r;
    if (op->state != UCO__OS_INFLIGHT) return -ENOENT;
    if (op->kind == UCO_OP_WORK) {
        if (!uco__pool_cancel(op)) return -EALREADY;
        op->flags |= UCO__OF_CANCEL_SENT;
        t->loop->jobs_pending--;
        uco__op_finish(op, -ECANCELED);
        return 0;
    }
    if (op->kind == UCO_OP_JOIN) {
        uco__join_cancel(op);
        return 0;
    }
    if (op->kind == UCO_OP_CHAN_SEND || op->kind == UCO_OP_CHAN_RECV) {
        uco__chan_op_cancel(op);
        return 0;
    }
    r = uco__await_check(t);
    if (r) return r;
    struct io_uring_sqe *sqe = uco__sqe(t->loop);
    if (!sqe) return -EBUSY;
    io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&op->comp, 0);
    return (int)uco__await_sqe(t, sqe, UCO_OP_CANCEL, -1, NULL);
}

/* ---- starters with no file descriptor ------------------------------------------------- */

/* Common start of a uco_op_* starter: the task, checks, an SQE. */
struct io_uring_sqe *uco__start_begin(const char *fn, uco_op *op, struct uco_task **tp, int *err)
{
    struct uco_task *t = uco__self();
    if (!t) {
        *err = uco__not_in_task(fn);
        return NULL;
    }
    if (!op) {
        *err = -EINVAL;
        return NULL;
    }
    int r = uco__await_check(t);
    if (r) {
        *err = r;
        return NULL;
    }
    struct io_uring_sqe *sqe = uco__sqe(t->loop);
    if (!sqe) {
        *err = -EBUSY;
        return NULL;
    }
    *tp = t;
    return sqe;
}

int uco_op_nop(uco_op *op)
{
    struct uco_task *t;
    int err;
    struct io_uring_sqe *sqe = uco__start_begin("uco_op_nop", op, &t, &err);
    if (!sqe) return err;
    io_uring_prep_nop(sqe);
    uco__op_start_sqe(t, uco__op_of(op), sqe, UCO_OP_NOP, -1);
    return 0;
}

int uco_op_timeout(uco_op *op, int64_t ns)
{
    if (ns < 0) ns = 0;
    struct uco_task *t;
    int err;
    struct io_uring_sqe *sqe = uco__start_begin("uco_op_timeout", op, &t, &err);
    if (!sqe) return err;
    struct uco__op *o = uco__op_of(op);
    o->u.ts.tv_sec = ns / UCO_SEC;
    o->u.ts.tv_nsec = ns % UCO_SEC;
    io_uring_prep_timeout(sqe, &o->u.ts, 0, 0);
    uco__op_start_sqe(t, o, sqe, UCO_OP_TIMEOUT, -1);
    return 0;
}

static const char *const kind_names[UCO_OP__COUNT] = {
    [UCO_OP_ANY] = "any",
    [UCO_OP_NOP] = "nop",
    [UCO_OP_READ] = "read",
    [UCO_OP_WRITE] = "write",
    [UCO_OP_READV] = "readv",
    [UCO_OP_WRITEV] = "writev",
    [UCO_OP_READ_FIXED] = "read_fixed",
    [UCO_OP_WRITE_FIXED] = "write_fixed",
    [UCO_OP_FSYNC] = "fsync",
    [UCO_OP_POLL] = "poll",
    [UCO_OP_CLOSE] = "close",
    [UCO_OP_TIMEOUT] = "timeout",
    [UCO_OP_CANCEL] = "cancel",
    [UCO_OP_WORK] = "work",
    [UCO_OP_JOIN] = "join",
    [UCO_OP_SLEEP] = "sleep",
    [UCO_OP_CHAN_SEND] = "channel send",
    [UCO_OP_CHAN_RECV] = "channel receive",
    [UCO_OP_OPENAT] = "openat",
    [UCO_OP_STATX] = "statx",
    [UCO_OP_FALLOCATE] = "fallocate",
    [UCO_OP_FTRUNCATE] = "ftruncate",
    [UCO_OP_UNLINKAT] = "unlinkat",
    [UCO_OP_RENAMEAT] = "renameat",
    [UCO_OP_MKDIRAT] = "mkdirat",
    [UCO_OP_SYMLINKAT] = "symlinkat",
    [UCO_OP_LINKAT] = "linkat",
    [UCO_OP_SPLICE] = "splice",
    [UCO_OP_FADVISE] = "fadvise",
    [UCO_OP_XATTR] = "xattr",
    [UCO_OP_SYNC_FILE_RANGE] = "sync_file_range",
    [UCO_OP_SOCKET] = "socket",
    [UCO_OP_CONNECT] = "connect",
    [UCO_OP_ACCEPT] = "accept",
    [UCO_OP_RECV] = "recv",
    [UCO_OP_SEND] = "send",
    [UCO_OP_RECVMSG] = "recvmsg",
    [UCO_OP_SENDMSG] = "sendmsg",
    [UCO_OP_SEND_ZC] = "send_zc",
    [UCO_OP_SHUTDOWN] = "shutdown",
    [UCO_OP_OTHER] = "other",
};

const char *uco_op_kind_name(unsigned kind)
{
    return kind < UCO_OP__COUNT && kind_names[kind] ? kind_names[kind] : "?";
}
