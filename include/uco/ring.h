/* uco — the loop: one io_uring and the tasks it runs, on one thread.
 *
 * A loop owns one io_uring, a run queue of tasks, a timer heap and a pool of stacks. It runs on
 * the thread that created it (the ring is set up SINGLE_ISSUER where the kernel has it) and is
 * never touched from another thread, except through uco_loop_stop(), uco_loop_post() and
 * uco_loop_hold() / uco_loop_release(). Any number of loops may exist in a process, one per
 * thread.
 */
#ifndef UCO_RING_H
#define UCO_RING_H

#include <stdio.h>
#include <sys/uio.h>
#include <uco/common.h>

UCO_BEGIN_DECLS

typedef struct uco_loop uco_loop;

/* How the ring is set up. AUTO tries the best the kernel has, in this order. */
enum uco_ring_mode {
    UCO_RING_AUTO = 0,
    UCO_RING_DEFER_TASKRUN = 1, /* SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1+) */
    UCO_RING_COOP_TASKRUN = 2,  /* COOP_TASKRUN | TASKRUN_FLAG (Linux 5.19+) */
    UCO_RING_PLAIN = 3,         /* no task-run flag */
};

/* A task that ran too long without awaiting, as the stall detector saw it. */
typedef struct uco_stall_report {
    uint64_t task_id;
    const char *task_name; /* "" when the task has no name; valid during the callback only */
    int64_t ran_ns;        /* how long it has run (or had run) without awaiting */
    bool finished;         /* false: still running when reported; true: it has now awaited */
} uco_stall_report;

typedef void uco_stall_fn(const uco_stall_report *report, void *arg);

/* Options for uco_loop_new(). Zero-initialise and set what you need: every zero field means
 * "the default" given beside it. */
typedef struct uco_loop_opts {
    unsigned sq_entries;    /* submission queue size; 0 = 256 */
    unsigned cq_entries;    /* completion queue size; 0 = 16 x sq_entries */
    unsigned ring_mode;     /* enum uco_ring_mode; 0 = AUTO */
    size_t stack_size;      /* default task stack, rounded up to pages; 0 = UCO_STACK_DEFAULT */
    size_t stack_cache;     /* free stacks kept with their memory; 0 = 256 */
    size_t guarded_stacks;  /* stacks that get a guard page: 0 = automatic (from
                               vm.max_map_count, see docs/DESIGN.md "Stacks"); SIZE_MAX = all */
    int64_t stall_ns;       /* stall detector threshold; 0 = off */
    uco_stall_fn *stall_fn; /* NULL = one line on stderr. A "still running" report comes from
                               the detector's own thread, a "finished" one from the loop's
                               thread as the task awaits: it must be thread-safe */
    void *stall_arg;
    uint64_t reserved[8]; /* must be zero */
} uco_loop_opts;

/* 64 KiB: enough for printf, getaddrinfo-free code and a few KiB of locals; see docs. */
#define UCO_STACK_DEFAULT ((size_t)64 * 1024)
#define UCO_STACK_MIN     ((size_t)16 * 1024)

/* Counters of one loop, for tuning and for tests. */
typedef struct uco_loop_stats {
    unsigned ring_mode;   /* enum uco_ring_mode actually chosen */
    unsigned setup_flags; /* IORING_SETUP_* flags the ring was created with */
    unsigned sq_entries, cq_entries;
    uint64_t turns;        /* loop iterations */
    uint64_t enters;       /* io_uring_enter calls */
    uint64_t sqes;         /* SQEs prepared */
    uint64_t cqes;         /* CQEs reaped */
    uint64_t cq_overflows; /* times the CQ overflowed (completions were kept, not lost) */
    uint64_t switches;     /* stack switches into tasks */
    uint64_t tasks_spawned;
    uint64_t tasks_alive;
    uint64_t timers_fired;
    uint64_t ops_inflight;     /* awaited operations the kernel has not completed */
    uint64_t stacks_guarded;   /* stacks in use or cached that have a guard page */
    uint64_t stacks_unguarded; /* stacks in use or cached without one (canary only) */
    uint64_t stall_reports;
} uco_loop_stats;

/* Creates a loop on the calling thread; *out receives it. opts may be NULL.
 * Returns 0, or -errno: -EINVAL (bad options), -ENOMEM, and whatever io_uring_setup says when
 * io_uring is unavailable (-ENOSYS, -EPERM, ...): call uco_diagnose() for the cause. */
UCO_API int uco_loop_new(uco_loop **out, const uco_loop_opts *opts);

/* Releases a loop that has no live task: cancels the loop's own internal operations, waits for
 * their completions and frees everything. Returns 0; -EBUSY (nothing freed) while tasks are
 * alive or the loop is running; -EINVAL on another thread. NULL is a no-op returning 0. */
UCO_API int uco_loop_free(uco_loop *loop);

/* Runs tasks and completions until no task is left (and the loop is not held for posts, see
 * uco_loop_hold) or uco_loop_stop() is called. Starts the functions posted to it meanwhile.
 * Returns 0 when no task is left; 1 when stopped with tasks left (run again to continue);
 * -EDEADLK when tasks are left but nothing can ever wake them (every one waits on a join or
 * on another task, with no operation, timer, worker job or post pending and no hold); -EBUSY
 * if the loop is already running; -EINVAL for NULL or for a loop of another thread. */
UCO_API int uco_loop_run(uco_loop *loop);

/* Asks uco_loop_run() to return after the current turn. Safe from any thread and from a signal
 * handler. NULL is a no-op. */
UCO_API void uco_loop_stop(uco_loop *loop);

/* From any thread (another loop's task, a worker job, a plain thread): runs fn(arg) on loop as
 * a new detached task, started at the loop's next turn; functions posted by one thread start
 * in the order posted. The way to hand work or results to a loop from outside it: the task
 * may then use the loop's channels, mutexes and I/O. Never blocks; allocates one small node
 * per post, freed when the task starts. A loop that is not running starts them when it next
 * runs; uco_loop_free drops those never started (their functions do not run). The loop must
 * outlive the call (as for uco_loop_stop). Returns 0, -EINVAL (loop or fn NULL), -ENOMEM.
 * The typedef uco_task_fn is in uco/async.h. */
UCO_API int uco_loop_post(uco_loop *loop, intptr_t (*fn)(void *arg), void *arg);

/* A loop ends its run when no task is left, and reports -EDEADLK when every task waits on
 * another with nothing pending. While it expects posts from other threads, hold it: a held
 * loop keeps running (asleep when idle) without tasks and is never deadlocked. Holds count;
 * each uco_loop_hold needs one uco_loop_release, from any thread. Returns 0, -EINVAL (NULL;
 * release without a hold). */
UCO_API int uco_loop_hold(uco_loop *loop);
UCO_API int uco_loop_release(uco_loop *loop);

/* The loop of the calling thread's running uco_loop_run(), or NULL. */
UCO_API uco_loop *uco_loop_current(void);

/* Copies the loop's counters. NULL loop or out: returns -EINVAL. */
UCO_API int uco_loop_stats_get(uco_loop *loop, uco_loop_stats *out);

/* Writes one line per live task: id, name, state and what it waits on (operation kind and
 * file descriptor, timer, join, worker job). For debugging hung programs. */
UCO_API void uco_loop_dump(uco_loop *loop, FILE *out);

/* Name of a ring mode: "defer_taskrun", "coop_taskrun", "plain". */
UCO_API const char *uco_ring_mode_name(unsigned mode);

/* Whether the running kernel supports an io_uring opcode (IORING_OP_*), as probed when the
 * loop was created. Opcodes beyond the probe's range report false. */
UCO_API bool uco_loop_has_op(uco_loop *loop, unsigned opcode);

/* Explains why io_uring cannot be used here, after uco_loop_new() failed with err: names the
 * cause (kernel.io_uring_disabled, a seccomp filter, RLIMIT_MEMLOCK, a kernel without
 * io_uring) and the fix. Writes a NUL-terminated message into buf (truncated to len) and
 * returns buf. */
UCO_API char *uco_diagnose(int err, char *buf, size_t len);

/* --- Registered (fixed) buffers ----------------------------------------------------------
 * Registered buffers are pinned once so reads and writes into them skip the per-operation
 * page mapping. Register from the loop's thread, while no fixed operation is in flight.
 * The memory must stay valid until unregistered or the loop is freed. */

/* Registers n buffers (1..16384); replaces nothing: returns -EBUSY if some are registered.
 * Returns 0, -EINVAL, -ENOMEM, -EFAULT, -EBUSY or another -errno from io_uring_register. */
UCO_API int uco_buf_register(uco_loop *loop, const struct iovec *iovs, unsigned n);
/* Drops the registration. Returns 0, or -ENXIO when none is registered, -EINVAL for NULL. */
UCO_API int uco_buf_unregister(uco_loop *loop);

/* --- Fault injection ----------------------------------------------------------------------
 * For tests of error paths: make chosen operations of this loop fail with a chosen errno
 * without running, or run with their length clamped so they come back short. Rules are
 * checked in order when an operation is submitted; the first that matches applies. */
typedef struct uco_fault {
    unsigned op;    /* enum uco_op_kind to match; UCO_OP_ANY (0) matches every kind. Kernel
                       operations only: UCO_OP_WORK, _JOIN and _SLEEP are refused */
    int fd;         /* file descriptor to match (a uco_conn accepted into the fixed-file
                       table: its slot); -1 = any */
    unsigned skip;  /* let this many matching operations through before acting */
    unsigned count; /* act on this many, then the rule is spent; 0 = on every one */
    int error;      /* > 0: complete with -error without running the operation */
    size_t max_len; /* error == 0: run the operation with at most max_len bytes */
} uco_fault;

/* Adds a rule. Returns its index (>= 0), or -EINVAL (NULL loop, bad rule) or -ENOSPC
 * (16 rules). */
UCO_API int uco_fault_add(uco_loop *loop, const uco_fault *rule);
/* Removes every rule. */
UCO_API void uco_fault_clear(uco_loop *loop);

UCO_END_DECLS

#endif
