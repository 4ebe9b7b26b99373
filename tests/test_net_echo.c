/* uco-echo as a real process on loopback: 10,000 concurrent connections, a peer that resets
 * mid-request, a client that never reads, half-close, IPv6, and its command line. */
#include "net_util.h"

#include <netinet/tcp.h>
#include <poll.h>

#ifndef UCO_ECHO_PATH
#define UCO_ECHO_PATH ""
#endif

struct server {
    pid_t pid;
    uco_addr addr;
    char errpath[64];
};

/* Starts uco-echo on bind (port 0) and reads the address it prints. 0, or -1. */
static int server_start_args(struct server *s, const char *bind, const char *extra)
{
    const char *argv[] = {"uco-echo", "--bind", bind, "--port", "0", extra, NULL};
    s->pid = server_spawn(UCO_ECHO_PATH, argv, 0, s->errpath, &s->addr);
    return s->pid > 0 ? 0 : -1;
}

static int server_start(struct server *s, const char *bind)
{
    return server_start_args(s, bind, NULL);
}

/* Stops it with SIGTERM: it must shut down cleanly. Returns its exit status. */
static int server_stop(struct server *s)
{
    kill(s->pid, SIGTERM);
    int st = wait_child(s->pid, 20);
    return st;
}

static char *server_log(struct server *s)
{
    static char buf[8192];
    int fd = open(s->errpath, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
    buf[n > 0 ? n : 0] = 0;
    if (fd >= 0) close(fd);
    return buf;
}

static int count_lines(const char *log, const char *needle)
{
    int n = 0;
    for (const char *p = log; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static int connect_to(const uco_addr *a)
{
    return dial_timeout(a, 20);
}

static int echo_once(int fd, const void *msg, size_t len)
{
    char buf[4096];
    if (len > sizeof buf || write_full(fd, msg, len) < 0 || read_full(fd, buf, len) < 0) return -1;
    return memcmp(buf, msg, len) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    if (!UCO_ECHO_PATH[0] || access(UCO_ECHO_PATH, X_OK) != 0)
        t_skip_all("uco-echo is not built (UCO_BUILD_EXAMPLES=OFF)");
    return 0;
}

/* ---- many connections ------------------------------------------------------------------- */

/* uco-echo runs a task per connection; ThreadSanitizer counts every task's fiber as a thread
 * and dies past 8128 of them, so its build holds fewer at once. */
#ifdef T_TSAN
#define MANY 4000
#else
#define MANY 10000
#endif

static void ten_thousand_concurrent_connections_all_echo(void **state)
{
    if (nofile_at_least(MANY + 200) < MANY + 100) {
        printf("SKIP: RLIMIT_NOFILE cannot reach %d here\n", MANY + 100);
        skip();
    }
    struct server s;
    assert_int_equal(server_start(&s, "127.0.0.1"), 0);
    int *fds = malloc(MANY * sizeof *fds);
    for (int i = 0; i < MANY; i++) {
        fds[i] = connect_to(&s.addr);
        if (fds[i] < 0) fail_msg("connect %d: %s", i, strerror(errno));
    }
    /* Every connection has a request in flight at once, then all answers are read. */
    for (int i = 0; i < MANY; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "conn %09d", i);
        assert_int_equal(write_full(fds[i], msg, 15), 0);
    }
    for (int i = 0; i < MANY; i++) {
        char want[16], got[16];
        snprintf(want, sizeof want, "conn %09d", i);
        if (read_full(fds[i], got, 15) < 0) fail_msg("read %d: %s", i, strerror(errno));
        assert_memory_equal(got, want, 15);
    }
    for (int i = 0; i < MANY; i++)
        close(fds[i]);
    free(fds);
    /* Still serving. */
    int fd = connect_to(&s.addr);
    assert_int_equal(echo_once(fd, "after", 5), 0);
    close(fd);
    assert_int_equal(server_stop(&s), 0);
    unlink(s.errpath);
}

/* ---- bad clients -------------------------------------------------------------------------- */

static void resets_and_stalled_clients_hurt_nobody_else(void **state)
{
    struct server s;
    assert_int_equal(server_start(&s, "127.0.0.1"), 0);
    /* A: half a request, then a reset. */
    int a = connect_to(&s.addr);
    assert_int_equal(write_full(a, "half-", 5), 0);
    char tmp[5];
    assert_int_equal(read_full(a, tmp, 5), 0); /* it was served so far */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    assert_int_equal(write_full(a, "req", 3), 0);
    close(a);
    /* B: sends and never reads, until its own socket is full both ways. */
    int b = connect_to(&s.addr);
    fcntl(b, F_SETFL, O_NONBLOCK);
    char *junk = calloc(1, 1 << 20);
    size_t sent = 0;
    struct pollfd p = {.fd = b, .events = POLLOUT};
    while (sent < (256u << 20)) {
        ssize_t n = send(b, junk, 1 << 20, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        assert_true(n < 0 && errno == EAGAIN);
        if (poll(&p, 1, 500) == 0) break; /* no room for half a second: B is stuck */
    }
    free(junk);
    assert_true(sent > 0 && sent < (256u << 20));
    /* C: served normally meanwhile. */
    int c = connect_to(&s.addr);
    for (int i = 0; i < 200; i++) {
        char msg[100];
        fill_pattern(msg, sizeof msg, (uint64_t)i);
        assert_int_equal(echo_once(c, msg, sizeof msg), 0);
    }
    /* A's reset was logged in one line (seen by its receive or its send, as the timing
     * goes); nothing else went wrong. */
    const char *log = server_log(&s);
    assert_int_equal(count_lines(log, "\n"), 1);
    assert_int_equal(count_lines(log, "uco-echo: connection 1: "), 1);
    assert_true(strstr(log, "Connection reset by peer") || strstr(log, "Broken pipe"));
    close(b);
    close(c);
    assert_int_equal(server_stop(&s), 0); /* B's task, stuck in a send, is cancelled */
    unlink(s.errpath);
}

static void half_close_gets_every_byte_back_then_the_end(void **state)
{
    struct server s;
    assert_int_equal(server_start(&s, "127.0.0.1"), 0);
    int fd = connect_to(&s.addr);
    char msg[3000];
    fill_pattern(msg, sizeof msg, 99);
    assert_int_equal(write_full(fd, msg, sizeof msg), 0);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    char got[3000];
    assert_int_equal(read_full(fd, got, sizeof got), 0);
    assert_memory_equal(got, msg, sizeof msg);
    assert_int_equal(read(fd, got, 1), 0); /* the server closed after our end */
    close(fd);
    assert_int_equal(server_stop(&s), 0);
    unlink(s.errpath);
}

static void ipv6_loopback_is_served(void **state)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int ok = probe >= 0 && bind(probe, (struct sockaddr *)&sin6, sizeof sin6) == 0;
    if (probe >= 0) close(probe);
    if (!ok) {
        printf("SKIP: no IPv6 loopback (::1) here\n");
        skip();
    }
    struct server s;
    assert_int_equal(server_start(&s, "::1"), 0);
    assert_int_equal(uco_addr_family(&s.addr), AF_INET6);
    int fd = connect_to(&s.addr);
    assert_true(fd >= 0);
    assert_int_equal(echo_once(fd, "over six", 8), 0);
    close(fd);
    assert_int_equal(server_stop(&s), 0);
    unlink(s.errpath);
}

static void lean_mode_serves_many_and_survives_resets(void **state)
{
    struct server s;
    assert_int_equal(server_start_args(&s, "127.0.0.1", "--lean"), 0);
    enum { N = 1000 };
    int fds[N];
    for (int i = 0; i < N; i++)
        assert_true((fds[i] = connect_to(&s.addr)) >= 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            char msg[16];
            snprintf(msg, sizeof msg, "r%d c%06d", round, i);
            assert_int_equal(write_full(fds[i], msg, 10), 0);
        }
        for (int i = 0; i < N; i++) {
            char want[16], got[16];
            snprintf(want, sizeof want, "r%d c%06d", round, i);
            assert_int_equal(read_full(fds[i], got, 10), 0);
            assert_memory_equal(got, want, 10);
        }
    }
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fds[0], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fds[0]); /* a reset of an idle connection */
    assert_int_equal(echo_once(fds[1], "still", 5), 0);
    for (int i = 1; i < N; i++)
        close(fds[i]);
    assert_int_equal(server_stop(&s), 0); /* idle connections are closed, nothing leaks */
    unlink(s.errpath);
}

/* Regression: SIGTERM freed lean sessions whose task start was already queued (input had
 * just arrived), and ended them from the cancelled server task, where awaits cannot wait. */
static void lean_sigterm_with_open_connections_closes_every_one(void **state)
{
    struct server s;
    assert_int_equal(server_start_args(&s, "127.0.0.1", "--lean"), 0);
    enum { N = 200 };
    int fds[N];
    for (int i = 0; i < N; i++)
        assert_true((fds[i] = connect_to(&s.addr)) >= 0);
    assert_int_equal(echo_once(fds[0], "ready", 5), 0); /* every connection is accepted */
    for (int i = 0; i < N; i += 2) /* input in flight for half of them as the signal comes */
        assert_int_equal(write_full(fds[i], "late", 4), 0);
    assert_int_equal(server_stop(&s), 0);
    for (int i = 0; i < N; i++) {
        char buf[16];
        ssize_t n, total = 0;
        while ((n = read(fds[i], buf, sizeof buf)) > 0)
            total += n;
        assert_int_equal(n, 0); /* closed by the server, not timed out */
        assert_true(total == 0 || total == 4);
        close(fds[i]);
    }
    assert_null(strstr(server_log(&s), "Sanitizer"));
    unlink(s.errpath);
}

/* ---- the command line --------------------------------------------------------------------- */

static int run_status(const char *const argv[], char *out, size_t outlen)
{
    return run_capture(UCO_ECHO_PATH, argv, out, outlen);
}

static void command_line_help_and_errors(void **state)
{
    char out[2048];
    const char *help[] = {"uco-echo", "--help", NULL};
    assert_int_equal(run_status(help, out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: uco-echo [--bind ADDR] [--port N]"));
    const char *bad_port[] = {"uco-echo", "--port", "70000", NULL};
    assert_int_equal(run_status(bad_port, out, sizeof out), 2);
    assert_non_null(strstr(out, "bad port '70000'"));
    const char *bad_addr[] = {"uco-echo", "--bind", "nowhere", NULL};
    assert_int_equal(run_status(bad_addr, out, sizeof out), 2);
    assert_non_null(strstr(out, "bad address 'nowhere'"));
    /* An address already in use: says which and fails. */
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(l, 1), 0);
    socklen_t len = sizeof sin;
    getsockname(l, (struct sockaddr *)&sin, &len);
    char port[8];
    snprintf(port, sizeof port, "%u", ntohs(sin.sin_port));
    const char *busy[] = {"uco-echo", "--port", port, NULL};
    assert_int_equal(run_status(busy, out, sizeof out), 1);
    assert_non_null(strstr(out, "Address already in use"));
    close(l);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ten_thousand_concurrent_connections_all_echo),
        cmocka_unit_test(resets_and_stalled_clients_hurt_nobody_else),
        cmocka_unit_test(half_close_gets_every_byte_back_then_the_end),
        cmocka_unit_test(ipv6_loopback_is_served),
        cmocka_unit_test(lean_mode_serves_many_and_survives_resets),
        cmocka_unit_test(lean_sigterm_with_open_connections_closes_every_one),
        cmocka_unit_test(command_line_help_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
