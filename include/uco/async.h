/* uco — tasks, time, cancellation, operations started now and awaited later, worker pool.
 *
 * A task is a function running as a coroutine on a loop's thread. Every call marked "awaits"
 * below may suspend the calling task until its result is ready; the loop runs other tasks
 * meanwhile. Awaiting is only possible inside a task: called elsewhere, an awaitable returns
 * -EPERM (and, in debug builds, says so on stderr).
 *
 * Every awaitable returns a result >= 0 or a negative errno. Two of them have a meaning of
 * their own everywhere:
 *   -ECANCELED  the task was cancelled (uco_task_cancel). Once cancelled, every further await
 *               of the task returns -ECANCELED at once, so the task unwinds quickly.
 *   -ETIMEDOUT  a deadline passed (uco_deadline_set or uco_task_set_deadline).
 * An operation interrupted this way is cancelled in the kernel and its completion is still
 * awaited before the call returns: a buffer handed to an awaitable is never written after the
 * call has returned, whatever happened.
 */
#ifndef UCO_ASYNC_H
#define UCO_ASYNC_H

#include <uco/common.h>
#include <uco/ring.h>

UCO_BEGIN_DECLS

typedef struct uco_task uco_task;

/* A task's function. Its return value (by convention >= 0 or -errno) is what uco_task_join()
 * reports. The function always runs, even if the task is cancelled before it starts. */
typedef intptr_t uco_task_fn(void *arg);

typedef struct uco_task_opts {
    size_t stack_size;    /* 0 = the loop's default (UCO_STACK_DEFAULT unless set) */
    const char *name;     /* shown by the stall detector and uco_loop_dump; copied (31 bytes) */
    int64_t deadline;     /* absolute deadline for the whole task; 0 = none (see below) */
    bool detached;        /* true: nobody joins; out may then be NULL */
    uint64_t reserved[4]; /* must be zero */
} uco_task_opts;

/* Starts fn(arg) as a new task on the current loop. It runs when the caller next awaits.
 * *out receives a joinable handle, to be released by exactly one uco_task_join() or
 * uco_task_detach(); with out == NULL the task is detached.
 * Returns 0, -EPERM outside a task (use uco_loop_spawn), -EINVAL (fn NULL, a stack_size over
 * 1 GiB, a nonzero reserved field), -ENOMEM. */
UCO_API int uco_spawn(uco_task **out, uco_task_fn *fn, void *arg);
/* As uco_spawn, with options (opts may be NULL). */
UCO_API int uco_spawn_opts(uco_task **out, uco_task_fn *fn, void *arg, const uco_task_opts *opts);
/* As uco_spawn_opts, on a given loop: the way to start the first tasks before uco_loop_run().
 * Must be called on the loop's thread (-EXDEV otherwise). */
UCO_API int uco_loop_spawn(uco_loop *loop, uco_task **out, uco_task_fn *fn, void *arg,
                           const uco_task_opts *opts);

/* Awaits the end of task t and releases the handle; *result (if not NULL) receives its
 * function's return value. Returns 0, or: -EINVAL (NULL, detached, already joined or
 * released), -EDEADLK (t is the caller), -EBUSY (another task is already joining t),
 * -EXDEV (t belongs to another loop), -ECANCELED / -ETIMEDOUT (the *joiner* was
 * interrupted: t keeps running and stays joinable), -EPERM outside a task. */
UCO_API int uco_task_join(uco_task *t, intptr_t *result);

/* Releases the handle without waiting: the task's memory goes back when it ends.
 * Returns 0, or -EINVAL (NULL, already detached or joined). */
UCO_API int uco_task_detach(uco_task *t);

/* Requests cancellation of t: its current await (if any) is interrupted and returns
 * -ECANCELED, as does every later await of t. Does not wait; join to wait for the end.
 * Returns 0; -ESRCH if t has already finished (harmless: there was nothing to cancel);
 * -EINVAL for NULL or the handle of a task that has ended and been released (joined, or
 * detached); -EXDEV from a thread other than the loop's. A task still running may be
 * cancelled through a handle given to uco_task_detach or uco_op_join. Works outside a task
 * too (on the loop's thread). */
UCO_API int uco_task_cancel(uco_task *t);

/* Sets an absolute deadline for the whole of task t (UCO_FOREVER or 0 clears it): when it
 * passes, t's current await is interrupted and every await from then on returns -ETIMEDOUT,
 * as if the task had been cancelled for being late. Returns 0, -ESRCH (finished), -EINVAL
 * (NULL or a released handle), -EXDEV (called from a thread other than the loop's). */
UCO_API int uco_task_set_deadline(uco_task *t, int64_t deadline);

/* The calling task, or NULL outside a task. */
UCO_API uco_task *uco_task_self(void);
/* A task's id (unique in the process, never 0) and name (never NULL). NULL t: the caller. */
UCO_API uint64_t uco_task_id(const uco_task *t);
UCO_API const char *uco_task_name(const uco_task *t);

/* Lets the other ready tasks run, then continues. Awaits. Returns 0, -ECANCELED/-ETIMEDOUT
 * when the task is interrupted (a cheap cancellation point), -EPERM outside a task. */
UCO_API int uco_yield(void);

/* Current CLOCK_MONOTONIC time in nanoseconds: the clock of every deadline. */
UCO_API int64_t uco_now(void);

/* Suspends the task for ns nanoseconds (<= 0: just yields) or until an absolute time.
 * Awaits. Returns 0, -ECANCELED, -ETIMEDOUT (a deadline came first), -EPERM. */
UCO_API int uco_sleep(int64_t ns);
UCO_API int uco_sleep_until(int64_t deadline);

/* Sets the calling task's deadline for its following awaits (absolute; UCO_FOREVER clears)
 * and returns the previous one, so scopes nest:
 *     int64_t old = uco_deadline_set(uco_now() + 2 * UCO_SEC);
 *     n = uco_read(fd, buf, len, -1);     // -ETIMEDOUT if not done in 2 s
 *     uco_deadline_set(old);
 * Unlike uco_task_set_deadline this is not sticky: once the previous deadline is restored,
 * awaits work again. The effective deadline is the earlier of this one and the task's.
 * Outside a task: returns UCO_FOREVER and does nothing. */
UCO_API int64_t uco_deadline_set(int64_t deadline);

/* 0 if the calling task may go on; -ECANCELED or -ETIMEDOUT if it has been interrupted (for
 * loops that do CPU work between awaits). Outside a task: 0. */
UCO_API int uco_interrupted(void);

/* --- Operations started now, awaited later (Task / ValueTask / WhenAll / WhenAny) ----------
 *
 * A uco_op is the caller's memory for one operation in flight; it typically lives on the
 * task's stack. uco_op_*() starters begin the operation and return at once; uco_op_wait()
 * (or wait_all / wait_any) awaits it and returns its result. Rules:
 *   - a started op belongs to the task that started it; only that task may wait for it;
 *   - the op and the buffers it uses must stay valid until a wait has reported it done;
 *   - a starter that fails returns -errno and leaves nothing in flight (no wait needed);
 *   - a task that ends with started ops not yet waited for cancels them and waits for their
 *     completions before its stack is released, so forgetting one is safe, not a leak: ops
 *     and buffers in the task function's own frame stay untouched until then (the end of a
 *     task runs in stack its function never used). An op in the frame of another function
 *     must be waited for before that function returns, like any buffer lent to the kernel.
 */
typedef struct uco_op {
    union {
        uint64_t u64[16];
        void *ptr[16];
    } priv;
} uco_op;

/* Kinds of operation, for fault rules and for dumps. */
enum uco_op_kind {
    UCO_OP_ANY = 0,
    UCO_OP_NOP,
    UCO_OP_READ,
    UCO_OP_WRITE,
    UCO_OP_READV,
    UCO_OP_WRITEV,
    UCO_OP_READ_FIXED,
    UCO_OP_WRITE_FIXED,
    UCO_OP_FSYNC,
    UCO_OP_POLL,
    UCO_OP_CLOSE,
    UCO_OP_TIMEOUT,
    UCO_OP_CANCEL,
    UCO_OP_WORK, /* a function on the worker pool */
    UCO_OP_JOIN, /* the end of a task */
    UCO_OP_SLEEP,
    /* files */
    UCO_OP_OPENAT,
    UCO_OP_STATX,
    UCO_OP_FALLOCATE,
    UCO_OP_FTRUNCATE,
    UCO_OP_UNLINKAT,
    UCO_OP_RENAMEAT,
    UCO_OP_MKDIRAT,
    UCO_OP_SYMLINKAT,
    UCO_OP_LINKAT,
    UCO_OP_SPLICE,
    UCO_OP_FADVISE,
    UCO_OP_XATTR,
    UCO_OP_SYNC_FILE_RANGE,
    /* sockets */
    UCO_OP_SOCKET,
    UCO_OP_CONNECT,
    UCO_OP_ACCEPT,
    UCO_OP_RECV,
    UCO_OP_SEND,
    UCO_OP_RECVMSG,
    UCO_OP_SENDMSG,
    UCO_OP_SEND_ZC,
    UCO_OP_SHUTDOWN,
    UCO_OP_OTHER,
    /* channels (uco/sync.h) */
    UCO_OP_CHAN_SEND,
    UCO_OP_CHAN_RECV,
    UCO_OP__COUNT
};

/* Name of an op kind ("read", "accept", ...), "?" when out of range. */
UCO_API const char *uco_op_kind_name(unsigned kind);

/* Awaits a started op and returns its result (>= 0 or -errno, -ECANCELED if it was
 * cancelled). If the caller is interrupted while waiting, the op is cancelled, its completion
 * still awaited, and -ECANCELED / -ETIMEDOUT returned unless it had already succeeded.
 * Returns -EINVAL for an op never started or already waited for, -EPERM from another task. */
UCO_API int64_t uco_op_wait(uco_op *op);

/* Awaits every op of ops[0..n-1]; each op's own result is then read with uco_op_result().
 * Returns 0, or -ECANCELED / -ETIMEDOUT when the caller was interrupted: the ops still
 * pending were cancelled and all of them have completed. -EINVAL for a bad array (an op
 * never started or already taken), -EPERM if one of them is another task's. */
UCO_API int uco_op_wait_all(uco_op *const ops[], size_t n);

/* Awaits the first of ops[0..n-1] to complete and returns its index; the others keep
 * running (wait for them, cancel them or let the task's end drain them). On interruption:
 * cancels and drains all of them and returns -ECANCELED / -ETIMEDOUT. -EINVAL / -EPERM as
 * uco_op_wait_all. */
UCO_API int64_t uco_op_wait_any(uco_op *const ops[], size_t n);

/* The result of an op that a wait_all / wait_any reported done, and releases it like
 * uco_op_wait. -EINVAL if it is not done, -EPERM if it is another task's. */
UCO_API int64_t uco_op_result(uco_op *op);

/* Whether a started op has completed (its result can be taken without suspending). */
UCO_API bool uco_op_done(const uco_op *op);

/* Asks the kernel to cancel a started op (IORING_OP_ASYNC_CANCEL) and awaits the answer:
 * 0 cancelled, -ENOENT not found (already done), -EALREADY (running; it will end soon).
 * The op itself must still be waited for. Works for worker jobs not yet started, too.
 * -EINVAL for an op never started or already taken, -EPERM for another task's. */
UCO_API int uco_op_cancel(uco_op *op);

/* Starters of ops with no file descriptor: */
UCO_API int uco_op_nop(uco_op *op);
/* Completes after ns (kernel timer, IORING_OP_TIMEOUT) with result 0. */
UCO_API int uco_op_timeout(uco_op *op, int64_t ns);
/* Completes when task t ends, with its function's result; releases t like uco_task_join. */
UCO_API int uco_op_join(uco_op *op, uco_task *t);
/* Runs fn(arg) on the worker pool; the op's result is fn's return value. */
typedef intptr_t uco_work_fn(void *arg);
UCO_API int uco_op_work(uco_op *op, uco_work_fn *fn, void *arg);

/* --- Worker pool (Task.Run) -----------------------------------------------------------------
 * For blocking or CPU-heavy functions: they run on a pool of threads shared by every loop of
 * the process, while the calling task is suspended and its loop keeps running. */

/* Runs fn(arg) on a worker thread and awaits its return value. If the task is cancelled
 * before a worker picks the job up, the job is dropped and -ECANCELED returned; once it
 * runs, it runs to the end (threads are not interrupted) and its result is returned.
 * Returns -EPERM outside a task, -EINVAL for NULL fn. */
UCO_API intptr_t uco_work(uco_work_fn *fn, void *arg);

/* Sets the maximum number of worker threads (1..1024; default 8, or $UCO_WORKERS). Threads
 * start on demand and stay. Returns 0 or -EINVAL. */
UCO_API int uco_pool_set_max(unsigned threads);

/* --- Convenience ------------------------------------------------------------------------- */

/* Creates a loop (opts may be NULL), runs fn(arg) as its first task until every task has
 * ended, frees the loop. Returns fn's return value, or the -errno of the loop's creation or
 * run (uco_loop_run). */
UCO_API intptr_t uco_run(uco_task_fn *fn, void *arg, const uco_loop_opts *opts);

UCO_END_DECLS

#endif
