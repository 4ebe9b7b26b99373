/* Helpers shared by the core runtime's tests (uring/, async/): loop counters, child processes,
 * the three ring modes, pipes. Include after test_util.h. */
#ifndef UCO_TESTS_CORE_UTIL_H
#define UCO_TESTS_CORE_UTIL_H

#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

/* Counters of the loop running the calling task (zeroes outside a loop). */
static inline uco_loop_stats t_stats(void)
{
    uco_loop_stats st;
    memset(&st, 0, sizeof st);
    uco_loop_stats_get(uco_loop_current(), &st);
    return st;
}

/* Loop options with only the ring mode set. */
static inline uco_loop_opts t_mode_opts(unsigned mode)
{
    uco_loop_opts o;
    memset(&o, 0, sizeof o);
    o.ring_mode = mode;
    return o;
}

/* The explicit ring modes, for running one test over each (as liburing's tests do). */
static const unsigned t_modes[] = {UCO_RING_DEFER_TASKRUN, UCO_RING_COOP_TASKRUN, UCO_RING_PLAIN};
#define T_NMODES (sizeof t_modes / sizeof t_modes[0])

/* Runs fn(arg) as the first task of a loop in each ring mode; fails the test on the first mode
 * whose run recorded a failure or returned something else than want. */
static inline void t_run_modes(uco_task_fn *fn, void *arg, intptr_t want)
{
    for (size_t i = 0; i < T_NMODES; i++) {
        uco_loop_opts o = t_mode_opts(t_modes[i]);
        intptr_t r = t_run(fn, arg, &o);
        if (r != want)
            fail_msg("ring mode %s: task returned %ld, expected %ld",
                     uco_ring_mode_name(t_modes[i]), (long)r, (long)want);
    }
}

/* A pipe with both ends close-on-exec; fails the test when none can be made. */
static inline void t_pipe(int fds[2])
{
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
}

static inline void t_close2(int fds[2])
{
    close(fds[0]);
    close(fds[1]);
}

/* Runs fn() in a forked child (which _exits with fn's return value) and returns the child's
 * wait status. stdout is flushed first so nothing is printed twice. */
static inline int t_in_child(int (*fn)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int code = fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(code);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* Runs fn(arg) in a forked child whose file descriptor `fd` (1 or 2) goes to a pipe; reads
 * what the child wrote there (at most len - 1 bytes, NUL-terminated) into out and returns
 * its wait status. */
static inline int t_in_child_capture(int (*fn)(void *), void *arg, int fd, char *out, size_t len)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], fd);
        int code = fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(code);
    }
    close(p[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < len && (n = read(p[0], out + got, len - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = 0;
    close(p[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* A child's exit code, failing the test if it was killed instead. */
static inline int t_exit_code(int status)
{
    if (!WIFEXITED(status))
        fail_msg("child did not exit normally (signal %d)",
                 WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    return WEXITSTATUS(status);
}

#endif
