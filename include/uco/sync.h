/* uco — waiting for each other: a mutex, a condition variable, a counting semaphore and a
 * channel, for the tasks of one thread's loop.
 *
 * Tasks of one loop never run at the same time, so state that is read and changed with no
 * await in between needs no lock. These are for the rest: a critical section that awaits
 * (a read, modify and write of a record through I/O), tasks that wait for a state another
 * task makes (a condition), a limit on how many do something at once (a semaphore), and
 * values handed from producers to consumers with back-pressure (a channel).
 *
 * Common rules:
 * - An object belongs to the thread of the first task that uses it (the thread of that
 *   task's loop; loops of one thread may share it, since a thread runs one loop at a time).
 *   From another thread every call returns -EXDEV and changes nothing: these are not a way
 *   between threads (uco_loop_post is: post a function that uses them to the loop's
 *   thread). An object may outlive the loop that used it (made before uco_run, freed after).
 * - Calls marked "awaits" may suspend the task (the loop runs others meanwhile); they are for
 *   tasks only (-EPERM elsewhere). Like every awaitable they end early with -ECANCELED
 *   (uco_task_cancel) or -ETIMEDOUT (a deadline: uco_deadline_set, uco_task_set_deadline),
 *   having taken nothing: no lock, no unit, no value. What a task was handed before it was
 *   interrupted (a lock passed on by unlock, a value sent to it) is its own: the call
 *   returns 0, and the interruption shows at its next await.
 * - Waiters are served first come, first served; a waking task is handed what it waited for
 *   (the lock, the unit, the value) before it runs, so a task that did not wait cannot take it
 *   first.
 * - Calls that do not await may also come from the loop's thread outside any task.
 * - Tasks that all wait for each other, with nothing else that could wake them, are a
 *   deadlock: uco_loop_run() returns -EDEADLK (uco_run() then cancels them).
 * - _free with tasks waiting returns -EBUSY and frees nothing; NULL is a no-op (0).
 */
#ifndef UCO_SYNC_H
#define UCO_SYNC_H

#include <uco/async.h>
#include <uco/common.h>

UCO_BEGIN_DECLS

/* ---- mutex ----------------------------------------------------------------------------- */

/* A lock held by one task at a time. Not recursive; only its holder may unlock it. A task
 * that ends while holding it leaves it locked (the waiters then wait for ever: a deadlock). */
typedef struct uco_mutex uco_mutex;

/* Makes an unlocked mutex. 0 or -EINVAL (out NULL), -ENOMEM. Does not await. */
UCO_API int uco_mutex_new(uco_mutex **out);
/* 0; -EBUSY (held, or tasks wait: nothing freed); -EXDEV. Does not await. */
UCO_API int uco_mutex_free(uco_mutex *m);

/* Awaits the lock. 0: the caller holds it. -EDEADLK (the caller holds it already), -EINVAL
 * (m NULL), -EXDEV, -ECANCELED / -ETIMEDOUT (not taken). */
UCO_API int uco_mutex_lock(uco_mutex *m);
/* Takes the lock if it is free now: 0, or -EBUSY (held: also by the caller), -EINVAL, -EXDEV,
 * -EPERM (not in a task: only a task holds a lock). Does not await. */
UCO_API int uco_mutex_trylock(uco_mutex *m);
/* Releases the lock; the first waiting task, if any, holds it from now on. 0, or -EPERM (the
 * caller does not hold it), -EINVAL, -EXDEV. Does not await. */
UCO_API int uco_mutex_unlock(uco_mutex *m);

/* ---- condition variable ---------------------------------------------------------------- */

/* Tasks waiting, with a mutex, for a state other tasks make. As with pthreads: hold the mutex,
 * test the state, wait while it is not there. */
typedef struct uco_cond uco_cond;

/* 0 or -EINVAL (out NULL), -ENOMEM. Does not await. */
UCO_API int uco_cond_new(uco_cond **out);
/* 0; -EBUSY (tasks wait: nothing freed); -EXDEV. Does not await. */
UCO_API int uco_cond_free(uco_cond *c);

/* Releases m, which the caller must hold, awaits a signal or broadcast on c, and takes m
 * again before returning, whatever the result (the mutex is held on return, also after
 * -ECANCELED or -ETIMEDOUT: taking it back is not interruptible). 0: signalled (the state may
 * have changed again before the caller got m back: test it in a loop). -EPERM (the caller
 * does not hold m; nothing done), -EINVAL, -EXDEV, -ECANCELED, -ETIMEDOUT. */
UCO_API int uco_cond_wait(uco_cond *c, uco_mutex *m);
/* Wakes the task that has waited longest on c, if any. 0, -EINVAL, -EXDEV. Does not await. */
UCO_API int uco_cond_signal(uco_cond *c);
/* Wakes every task waiting on c. 0, -EINVAL, -EXDEV. Does not await. */
UCO_API int uco_cond_broadcast(uco_cond *c);

/* ---- semaphore ------------------------------------------------------------------------- */

/* A count of units: acquire takes one (awaiting while there is none), release gives one back.
 * A semaphore made with n units lets at most n tasks through at once. */
typedef struct uco_sem uco_sem;

/* 0 or -EINVAL (out NULL), -ENOMEM. Does not await. */
UCO_API int uco_sem_new(uco_sem **out, unsigned units);
/* 0; -EBUSY (tasks wait: nothing freed); -EXDEV. Does not await. */
UCO_API int uco_sem_free(uco_sem *s);

/* Awaits a unit and takes it. 0, -EINVAL, -EXDEV, -ECANCELED / -ETIMEDOUT (none taken). */
UCO_API int uco_sem_acquire(uco_sem *s);
/* Takes a unit if one is there now and nobody waits: 0, or -EAGAIN, -EINVAL, -EXDEV. Does
 * not await. */
UCO_API int uco_sem_try_acquire(uco_sem *s);
/* Gives a unit back: to the task that has waited longest, or to the count. 0, or -EOVERFLOW
 * (the count is at UINT_MAX), -EINVAL, -EXDEV. Does not await. */
UCO_API int uco_sem_release(uco_sem *s);
/* The units there now (0 while tasks wait). */
UCO_API unsigned uco_sem_units(const uco_sem *s);

/* ---- channel --------------------------------------------------------------------------- */

/* A FIFO of values of one size, copied in and out (as Go's channels). With capacity 0 a send
 * waits until a receiver takes the value; with capacity n up to n values wait in the channel
 * and a send waits only when it is full (back-pressure on the producer). Closing it refuses
 * new values; those already in it are still received, then receives return -EPIPE. */
typedef struct uco_chan uco_chan;

/* Makes a channel of values of elem_size bytes (1..65536), holding up to capacity of them
 * (0..2^24). 0 or -EINVAL, -ENOMEM. Does not await. */
UCO_API int uco_chan_new(uco_chan **out, size_t elem_size, size_t capacity);
/* Frees the channel and any values still in it. 0; -EBUSY (tasks wait: nothing freed);
 * -EXDEV. Does not await. */
UCO_API int uco_chan_free(uco_chan *ch);

/* Awaits room (or a receiver, with capacity 0) and copies elem_size bytes from elem into the
 * channel. elem is read before the call returns, never after. 0: sent. -EPIPE (closed, also
 * while waiting: not sent), -EINVAL (ch or elem NULL), -EXDEV, -ECANCELED / -ETIMEDOUT (not
 * sent). */
UCO_API int uco_chan_send(uco_chan *ch, const void *elem);
/* Awaits a value and copies it into out (elem_size bytes); out is written only by a call
 * that returns 0. -EPIPE (closed and empty), -EINVAL, -EXDEV, -ECANCELED / -ETIMEDOUT (none
 * taken). */
UCO_API int uco_chan_recv(uco_chan *ch, void *out);
/* As send and recv, without awaiting: -EAGAIN where they would wait. */
UCO_API int uco_chan_try_send(uco_chan *ch, const void *elem);
UCO_API int uco_chan_try_recv(uco_chan *ch, void *out);
/* Closes the channel: waiting senders return -EPIPE (their values not sent), waiting
 * receivers -EPIPE (it was empty). 0, -EPIPE (closed already), -EINVAL, -EXDEV. Does not
 * await. */
UCO_API int uco_chan_close(uco_chan *ch);
/* Values in the channel now (not counting senders waiting on a full one). */
UCO_API size_t uco_chan_len(const uco_chan *ch);

/* A send or receive as an op (uco/async.h): started now, waited for later, so that it combines
 * with other channels, I/O and timers in uco_op_wait_any (Go's select). The op completes with
 * 0 when the value was sent (elem read) or received (out written), -EPIPE as the calls above,
 * -ECANCELED when uco_op_cancel (or an interrupted wait) ended it first, having moved nothing.
 * elem / out must stay valid until the op is done. Started ops may complete together: after a
 * wait_any, cancel the others and take each one's result, since one that completed before its
 * cancel has moved its value (a receive: out holds it). Returns 0 (started; maybe done
 * already), -EINVAL, -EXDEV, -EPERM (not in a task), -ECANCELED / -ETIMEDOUT (the task's own
 * state: nothing started). Does not await. */
UCO_API int uco_op_chan_send(uco_op *op, uco_chan *ch, const void *elem);
UCO_API int uco_op_chan_recv(uco_op *op, uco_chan *ch, void *out);

UCO_END_DECLS

#endif
