/* idle-conns: how much memory a server needs to hold many idle connections.
 *
 *   idle-conns [-n CONNS] [--sources K] [--echo | --http] [--limit-mib M] -- SERVER-CMD... {port}
 * ...
 *
 * Raises RLIMIT_NOFILE (hard and soft; needs root beyond the hard limit) for itself and the
 * server it starts (which inherits it), starts the server on a free port on CPU 0, opens CONNS
 * connections from this process over K loopback source addresses 127.0.0.2.. (each has its
 * own ephemeral ports, so 100,000 connections fit), optionally checks that each one echoes a
 * byte (--echo) or answers GET /plaintext (--http: an HTTP server's idle keep-alive
 * connections, each having served one request), then reads the server's resident memory (VmRSS) and
 * prints it in total and per connection, with the RSS before the connections for reference. Exits 1
 * if the RSS is above --limit-mib (default 1024) or any connection failed. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uco/net.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1) break;
    fclose(f);
    return v;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int port_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
    close(fd);
    return ok;
}

int main(int argc, char **argv)
{
    long n = 100000, sources = 8, limit_mib = 1024;
    int echo = 0, http = 0, i;
    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--sources") && i + 1 < argc)
            sources = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--limit-mib") && i + 1 < argc)
            limit_mib = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--echo"))
            echo = 1;
        else if (!strcmp(argv[i], "--http"))
            echo = http = 1;
        else {
            fprintf(stderr, "usage: idle-conns [-n CONNS] [--sources K] [--echo] "
                            "[--http] [--limit-mib M] -- SERVER-CMD... {port} ...\n");
            return 2;
        }
    }
    if (i + 1 >= argc || n < 1 || sources < 1 || sources > 250) {
        fprintf(stderr, "idle-conns: give the server command after --\n");
        return 2;
    }
    char **cmd = &argv[i + 1];

    long target = n;
    rlim_t want = (rlim_t)n + 4096;
    struct rlimit rl = {.rlim_cur = want, .rlim_max = want};
    struct rlimit cur;
    getrlimit(RLIMIT_NOFILE, &cur);
    if (cur.rlim_max > want) rl.rlim_max = cur.rlim_max;
    if (cur.rlim_cur < want && setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        /* Without CAP_SYS_RESOURCE (some containers, even as root) the hard limit stays: measure
         * as many as it allows and scale the per-connection figure. */
        rl.rlim_cur = rl.rlim_max = cur.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        n = (long)cur.rlim_max - 500;
        if (n > target) n = target;
        fprintf(stderr,
                "idle-conns: RLIMIT_NOFILE cannot go above %llu here (%s; needs root with "
                "CAP_SYS_RESOURCE): measuring %ld connections and scaling to %ld\n",
                (unsigned long long)cur.rlim_max, strerror(errno), n, target);
    }

    /* The server, on CPU 0, with {port} filled in. */
    srand((unsigned)getpid());
    uint16_t port = (uint16_t)(20000 + rand() % 12000); /* below the ephemeral ports */
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", port);
    int argc2 = 0;
    while (cmd[argc2])
        argc2++;
    char **args = calloc((size_t)argc2 + 4, sizeof *args);
    args[0] = "taskset";
    args[1] = "-c";
    args[2] = "0";
    for (int k = 0; k < argc2; k++)
        args[3 + k] = strcmp(cmd[k], "{port}") == 0 ? portstr : cmd[k];
    pid_t pid = fork();
    if (pid == 0) {
        execvp("taskset", args);
        _exit(127);
    }
    for (int k = 0; k < 200 && !port_open(port); k++)
        usleep(50000); /* waiting for a process to start listening */
    if (!port_open(port)) {
        fprintf(stderr, "idle-conns: the server did not start listening on port %u\n", port);
        kill(pid, SIGKILL);
        return 1;
    }
    long rss0 = rss_kib(pid);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    int *fds = malloc((size_t)n * sizeof *fds);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    double t0 = now_s();
    long done = 0, started = 0, failed = 0, inflight = 0;
    struct epoll_event evs[512];
    while (done + failed < n) {
        /* Keep at most 1000 handshakes going: the accept queue holds 4096. */
        while (started < n && inflight < 1000) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                fprintf(stderr, "idle-conns: socket: %s\n", strerror(errno));
                return 1;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            struct sockaddr_in src = {.sin_family = AF_INET};
            src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(started % sources));
            if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
                fprintf(stderr, "idle-conns: bind 127.0.0.%ld: %s\n", 2 + started % sources,
                        strerror(errno));
                return 1;
            }
            int r = connect(fd, (struct sockaddr *)&dst, sizeof dst);
            if (r < 0 && errno != EINPROGRESS) {
                fprintf(stderr, "idle-conns: connect #%ld: %s\n", started, strerror(errno));
                return 1;
            }
            fds[started] = fd;
            struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)started};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            started++;
            inflight++;
        }
        int k = epoll_wait(ep, evs, 512, 5000);
        if (k == 0) {
            fprintf(stderr, "idle-conns: no progress for 5 s (%ld connected)\n", done);
            break;
        }
        for (int j = 0; j < k; j++) {
            long idx = (long)evs[j].data.u64;
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(fds[idx], SOL_SOCKET, SO_ERROR, &err, &len);
            epoll_ctl(ep, EPOLL_CTL_DEL, fds[idx], NULL);
            inflight--;
            if (err) {
                if (failed++ < 3) fprintf(stderr, "idle-conns: connect: %s\n", strerror(err));
            } else {
                done++;
            }
        }
    }
    double t_conn = now_s() - t0;
    long bad_echo = 0;
    if (echo) {
        /* Every connection is really served: one byte there and back (or one HTTP request and
         * its answer), 1000 at a time. */
        const char *msg = http ? "GET /plaintext HTTP/1.1\r\nHost: idle\r\n\r\n" : "x";
        size_t msg_len = strlen(msg);
        for (long a = 0; a < done; a += 1000) {
            long b = a + 1000 < done ? a + 1000 : done;
            for (long j = a; j < b; j++)
                if (send(fds[j], msg, msg_len, MSG_NOSIGNAL) != (ssize_t)msg_len) bad_echo++;
            for (long j = a; j < b; j++) {
                struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)j};
                epoll_ctl(ep, EPOLL_CTL_ADD, fds[j], &ev);
            }
            long got = 0;
            while (got < b - a) {
                int k = epoll_wait(ep, evs, 512, 5000);
                if (k <= 0) break;
                for (int j = 0; j < k; j++) {
                    char c[1024];
                    int fd = fds[evs[j].data.u64];
                    ssize_t r = recv(fd, c, http ? sizeof c - 1 : 1, 0);
                    if (r <= 0) {
                        bad_echo++;
                    } else if (http) { /* a small answer comes in one piece on loopback */
                        c[r] = 0;
                        if (strncmp(c, "HTTP/1.1 200 ", 13) || !strstr(c, "\r\n\r\nHello, World!"))
                            bad_echo++;
                    } else if (c[0] != 'x') {
                        bad_echo++;
                    }
                    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                    got++;
                }
            }
            bad_echo += (b - a) - got;
        }
    }
    long rss1 = rss_kib(pid);
    double per = done ? (double)(rss1 - rss0) / (double)done : 0.0;  /* KiB */
    double at_target = ((double)rss0 + per * (double)target) / 1024; /* MiB */
    printf("idle-conns: %ld connections (%ld failed) in %.1f s%s; server RSS %.1f MiB before, "
           "%.1f MiB with them: %.2f KiB per connection\n",
           done, failed, t_conn,
           echo ? (bad_echo ? (http ? ", HTTP FAILED" : ", ECHO FAILED")
                            : (http ? ", all answer HTTP" : ", all echo"))
                : "",
           (double)rss0 / 1024, (double)rss1 / 1024, per);
    if (n != target)
        printf("idle-conns: scaled to %ld connections: %.1f MiB (measured %ld)\n", target,
               at_target, n);
    for (long j = 0; j < started; j++)
        close(fds[j]);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    int ok =
        failed == 0 && bad_echo == 0 && done == n && rss1 >= 0 && at_target <= (double)limit_mib;
    printf("idle-conns: %s (limit %ld MiB)\n", ok ? "PASS" : "FAIL", limit_mib);
    return ok ? 0 : 1;
}
