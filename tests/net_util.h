/* Helpers for the net tests: a checksum that does not care how a stream is cut, child
 * processes, a pipe to pass a small value between processes. */
#ifndef UCO_TEST_NET_UTIL_H
#define UCO_TEST_NET_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

/* Inside a task: waits (yielding, bounded) until cond holds. */
#define YIELD_UNTIL(cond)                                                                          \
    do {                                                                                           \
        for (int i_ = 0; i_ < 200000 && !(cond); i_++)                                             \
            uco_yield();                                                                           \
        T_CHECK(cond);                                                                             \
    } while (0)

/* Pages of fd in the page cache (cachestat(2), Linux 6.5: glibc 2.36 lacks it), or -1 with
 * errno. */
static inline long cached_pages(int fd)
{
    struct {
        uint64_t off, len;
    } range = {0, 0}; /* 0: to the end of the file */
    struct {
        uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
    } cs;
    if (syscall(451 /* __NR_cachestat */, fd, &range, &cs, 0) < 0) return -1;
    return (long)cs.nr_cache;
}

/* Drops fd's pages (a file just written) from the page cache: written back first, or they
 * stay. Returns whether it had pages and has none left: false on tmpfs, where the cache is the
 * file, and where cachestat(2) is missing or sees none (overlayfs: the pages are the file's
 * underneath), so a caller cannot tell. */
static inline bool evict_pages(int fd)
{
    if (cached_pages(fd) <= 0) return false;
    if (fdatasync(fd) < 0 || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0) return false;
    return cached_pages(fd) == 0;
}

/* Order-sensitive 64-bit checksum over a byte stream, independent of how it is split. */
struct ck {
    uint64_t h, n;
};

static inline void ck_update(struct ck *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = c->h;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    c->h = h;
    c->n += len;
}

/* Deterministic pseudo-random bytes. */
static inline void fill_pattern(void *buf, size_t len, uint64_t seed)
{
    unsigned char *p = buf;
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 24);
    }
}

/* Blocking helpers for the plain (non-uco) side of a test. */
static inline int write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static inline int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Waits for child pid for at most secs seconds (then kills it); returns its exit status, or
 * -1 if it had to be killed or died of a signal. */
static inline int wait_child(pid_t pid, int secs)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        int r = poll(&p, 1, secs * 1000);
        close(pfd);
        if (r == 0) kill(pid, SIGKILL); /* hung: fail instead of hanging the suite */
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Raises RLIMIT_NOFILE to n if the hard limit (or root) allows. Returns the soft limit. */
static inline long nofile_at_least(rlim_t n)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < n) {
        struct rlimit want = {.rlim_cur = n, .rlim_max = rl.rlim_max > n ? rl.rlim_max : n};
        if (setrlimit(RLIMIT_NOFILE, &want) < 0) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}

/* Starts the server program `path` (argv as for execv) as a child with its stdout on a pipe and
 * its stderr in a new file (its name written to errpath), under RLIMIT_NOFILE nofile if not 0,
 * and waits (20 s at most) for the line "...listening on ADDR" it prints once it accepts
 * connections. Returns the child's pid with *addr parsed from ADDR, or -1. */
static inline pid_t server_spawn(const char *path, const char *const argv[], rlim_t nofile,
                                 char errpath[64], uco_addr *addr)
{
    int out[2];
    if (pipe(out) < 0) return -1;
    snprintf(errpath, 64, "/tmp/uco-server-err-XXXXXX");
    int errfd = mkstemp(errpath);
    if (errfd < 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(errfd, 2);
        if (nofile) {
            struct rlimit rl = {.rlim_cur = nofile, .rlim_max = nofile};
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    close(errfd);
    char line[256];
    size_t n = 0;
    struct pollfd p = {.fd = out[0], .events = POLLIN};
    while (n < sizeof line - 1 && (n == 0 || line[n - 1] != '\n')) {
        if (poll(&p, 1, 20000) != 1) break;
        ssize_t r = read(out[0], line + n, sizeof line - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(out[0]);
    line[n] = 0;
    const char *at = strstr(line, "listening on ");
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    if (!at || uco_addr_parse(addr, at + strlen("listening on "), 0) < 0) {
        wait_child(pid, 5);
        return -1;
    }
    return pid;
}

/* Runs program `path` (argv as for execv) to its end with stdout and stderr into out (NUL
 * terminated, at most outlen - 1 bytes kept). Returns its exit status (-1: killed after 10 s,
 * or died of a signal). */
static inline int run_capture(const char *path, const char *const argv[], char *out, size_t outlen)
{
    int pp[2];
    if (pipe(pp) < 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pp[1], 1);
        dup2(pp[1], 2);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(pp[1]);
    size_t n = 0;
    ssize_t r;
    while (n < outlen - 1 && (r = read(pp[0], out + n, outlen - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(pp[0]);
    return wait_child(pid, 10);
}

/* A blocking TCP (or Unix) connection to a, with receive and send timeouts of secs seconds so
 * that a test never hangs on a silent server. The descriptor, or -1. */
static inline int dial_timeout(const uco_addr *a, int secs)
{
    int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = secs};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, &a->u.sa, a->len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

#endif
