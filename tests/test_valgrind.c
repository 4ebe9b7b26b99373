/* Valgrind works on coroutine code: two coroutine-heavy test executables (spawn, switch,
 * park, cancel, the end-of-task drain at the bottom of a stack) run under memcheck with
 * --error-exitcode, which must find nothing.
 *
 * Limits of Valgrind 3.19 with io_uring, hence the choice of executables: memcheck does not
 * see the kernel fill a buffer through io_uring (a read's data looks uninitialised), and a
 * thread blocked in io_uring_enter keeps Valgrind's lock, so worker-pool jobs never run. */
#include "test_util.h"
#include "core_util.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef UCO_TEST_BINARIES
#error "core.cmake passes the paths of the executables to run"
#endif

static const char *const binaries[] = {UCO_TEST_BINARIES};

static const char *find_valgrind(void)
{
    static const char *const where[] = {"/usr/bin/valgrind", "/usr/local/bin/valgrind"};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++)
        if (access(where[i], X_OK) == 0) return where[i];
    return NULL;
}

/* Runs argv with its stdout and stderr in the file `out`, waits at most `seconds` (then kills
 * it) and returns its wait status. */
static int run_bounded(char *const argv[], int seconds, int out)
{
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out, 1);
        dup2(out, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    assert_true(pfd >= 0);
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    int r = poll(&p, 1, seconds * 1000);
    if (r == 0) {
        printf("  %s: no end after %d s, killed\n", argv[3], seconds);
        kill(pid, SIGKILL);
    }
    close(pfd);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void coroutine_tests_are_clean_under_memcheck(void **state)
{
    const char *vg = find_valgrind();
    for (size_t i = 0; i < sizeof binaries / sizeof binaries[0]; i++) {
        char *argv[] = {(char *)vg, "-q", "--error-exitcode=99", (char *)binaries[i], NULL};
        int out = memfd_create("valgrind-output", MFD_CLOEXEC);
        assert_true(out >= 0);
        int64_t t0 = uco_now();
        int status = run_bounded(argv, 60, out);
        printf("  valgrind %s: %s %d (%.1f s)\n", binaries[i],
               WIFEXITED(status) ? "exit" : "signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
               (double)(uco_now() - t0) / UCO_SEC);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { /* show what it said */
            char buf[4096];
            ssize_t n;
            lseek(out, 0, SEEK_SET);
            while ((n = read(out, buf, sizeof buf)) > 0)
                fwrite(buf, 1, (size_t)n, stdout);
        }
        close(out);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

int main(void)
{
#if defined(T_ASAN) || defined(T_TSAN)
    t_skip_all("valgrind cannot run sanitizer builds");
#endif
    if (!find_valgrind()) t_skip_all("valgrind is not installed (apt-get install valgrind)");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(coroutine_tests_are_clean_under_memcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
